package control

import (
	"fmt"
	"net/netip"
	"strconv"
)

// networkValues is one network as any front end gives it, field by field
// under the config file's names: a YAML mapping (rawNetwork), vtepd's
// command line (flagValues) or a JSON request (NetworkSpec). network turns
// it into a Network, with the defaults and the per-kind rules, the same
// way for all three.
type networkValues struct {
	name, kind, vni, address, mtu                                     value
	remotes, group, dev, learning, ageing, limit, macMoves, floodRate value
	remote, ttl, df                                                   value
	routes                                                            []routeValues
	routesPath                                                        string
	routesGiven                                                       bool
	evpn                                                              value
	bgp, blocks, acceptDefault                                        value
}

type routeValues struct{ prefix, via value }

// DefaultName is the name of a VXLAN network that was given none, as
// the kernel's examples name their devices: vx42 for VNI 42.
func DefaultName(vni uint32) string { return "vx" + strconv.FormatUint(uint64(vni), 10) }

// network decodes v and applies the defaults. What it checks is what a
// value means on its own (an integer in range, an address that parses, a
// field of the other kind); how the fields fit together is Validate's.
func (v *networkValues) network() (Network, error) {
	var n Network
	var err error
	if n.Kind, err = v.kind.str(KindVXLAN); err != nil {
		return n, err
	}
	if n.Kind != KindVXLAN && n.Kind != KindIPIP {
		return n, v.kind.errorf("want %q or %q, got %s", KindVXLAN, KindIPIP, v.kind.got())
	}

	// A field of the other kind is a mistake worth stopping for: it would
	// otherwise be silently ignored. The first one given is named.
	foreign, other := []value{v.remote, v.ttl, v.bgp, v.blocks, v.acceptDefault}, KindIPIP
	if n.Kind == KindIPIP {
		foreign = []value{v.vni, v.remotes, v.group, v.dev, v.learning, v.ageing, v.limit, v.macMoves, v.floodRate, v.evpn}
		other = KindVXLAN
	}
	for _, s := range foreign {
		if s.present() {
			return n, s.errorf("only for %s networks, this one is %s", other, n.Kind)
		}
	}
	if n.Kind == KindVXLAN && v.routesGiven {
		return n, (value{path: v.routesPath}).errorf("only for %s networks, this one is %s", KindIPIP, n.Kind)
	}

	if n.Name, err = v.name.str(""); err != nil {
		return n, err
	}
	if v.address.present() {
		if n.Address, err = v.address.prefix(false); err != nil {
			return n, err
		}
	}
	if v.mtu.present() && v.mtu.isZeroInt() {
		n.MTU = 0 // explicitly left to the daemon
	} else if n.MTU, err = asInt(v.mtu.integerOr(minMTU, maxMTU, 0, "(0 = from the underlay)")); err != nil {
		return n, err
	}
	if n.Kind == KindVXLAN {
		return n, v.vxlan(&n)
	}
	return n, v.ipip(&n)
}

func (v *networkValues) vxlan(n *Network) error {
	if !v.vni.present() {
		return v.vni.errorf("required for a %s network (0..%d)", KindVXLAN, MaxVNI)
	}
	vni, err := v.vni.integer(0, MaxVNI, 0)
	if err != nil {
		return err
	}
	n.VNI = uint32(vni)
	if n.Name == "" {
		n.Name = DefaultName(n.VNI)
	}
	if n.Remotes, err = v.remotes.addrList(); err != nil {
		return err
	}
	if v.group.present() {
		if n.Group, err = v.group.addr(); err != nil {
			return err
		}
	}
	if n.Dev, err = v.dev.str(""); err != nil {
		return err
	}
	// Left out, dev is none; given empty, it is a name Linux refuses.
	if v.dev.present() && n.Dev == "" {
		return v.dev.errorf("%v", ifNameError(n.Dev))
	}
	if n.EVPN, err = v.evpn.boolean(false); err != nil {
		return err
	}
	// EVPN's peers say where each MAC is: learning is off unless asked
	// for, as FRR's vxlan devices have nolearning.
	if n.Learning, err = v.learning.boolean(!n.EVPN); err != nil {
		return err
	}
	if n.Ageing, err = v.ageing.duration(DefaultAgeing); err != nil {
		return err
	}
	if n.Limit, err = asInt(v.limit.integer(1, maxLimit, DefaultLimit)); err != nil {
		return err
	}
	if n.MACMoves, err = asInt(v.macMoves.integerOr(0, maxLimit, 0, "(0 = no limit)")); err != nil {
		return err
	}
	if n.FloodRate, err = asInt(v.floodRate.integerOr(0, maxLimit, 0, "(0 = no limit)")); err != nil {
		return err
	}
	// Left out (""), unset, as the kernel's vxlan: a packet over the
	// underlay's MTU is fragmented.
	if !v.df.present() {
		return nil
	}
	return v.readDF(n, "")
}

// readDF reads the outer DF setting, def when left out.
func (v *networkValues) readDF(n *Network, def string) error {
	var err error
	if n.DF, err = v.df.str(def); err != nil {
		return err
	}
	if err := checkDF(n.DF); err != nil {
		return v.df.errorf("%v, got %s", err, v.df.got())
	}
	return nil
}

func (v *networkValues) ipip(n *Network) error {
	var err error
	if v.remote.present() {
		if n.Remote, err = v.remote.addr(); err != nil {
			return err
		}
	}
	if err := v.readDF(n, DFInherit); err != nil {
		return err
	}
	n.TTL = DefaultTTL
	if v.ttl.present() {
		if s, ok := v.ttl.plainString(); ok && s == "inherit" {
			n.TTL = 0
		} else {
			t, ok := v.ttl.int64()
			if !ok || t < 1 || t > 255 {
				return v.ttl.errorf("want %s, got %s", wantIPIPTTL, v.ttl.got())
			}
			n.TTL = uint8(t)
		}
	}
	for _, r := range v.routes {
		var rt Route
		if !r.prefix.present() {
			return r.prefix.errorf("required (the destination prefix, like 10.244.1.0/24)")
		}
		if rt.Prefix, err = r.prefix.prefix(true); err != nil {
			return err
		}
		if !r.via.present() {
			return r.via.errorf("required (the remote endpoint for %s)", rt.Prefix)
		}
		if rt.Via, err = r.via.addr(); err != nil {
			return err
		}
		n.Routes = append(n.Routes, rt)
	}
	if n.BGP, err = v.bgp.boolean(v.blocks.present()); err != nil {
		return err
	}
	if n.Blocks, err = listOf(v.blocks, "a list of prefixes like [10.244.1.0/24]", func(e value) (netip.Prefix, error) {
		return e.prefix(true)
	}); err != nil {
		return err
	}
	if n.AcceptDefault, err = v.acceptDefault.boolean(false); err != nil {
		return err
	}
	if !n.BGP {
		for _, f := range []value{v.blocks, v.acceptDefault} {
			if f.present() {
				return f.errorf("only with bgp: true (the blocks are what BGP announces)")
			}
		}
		return nil
	}
	if len(n.Blocks) == 0 {
		if !n.Address.IsValid() {
			return v.blocks.errorf("required with bgp and no address (the prefixes this node announces)")
		}
		n.Blocks = []netip.Prefix{n.Address.Masked()}
	}
	return nil
}

func asInt(v int64, err error) (int, error) { return int(v), err }

// values is the YAML network at path ("networks[1]").
func (r *rawNetwork) values(path string) *networkValues {
	at := func(name string) string { return path + "." + name }
	v := &networkValues{
		name: field(at("name"), &r.Name), kind: field(at("kind"), &r.Kind), vni: field(at("vni"), &r.VNI),
		address: field(at("address"), &r.Address), mtu: field(at("mtu"), &r.MTU),
		remotes: field(at("remotes"), &r.Remotes), group: field(at("group"), &r.Group), dev: field(at("dev"), &r.Dev),
		learning: field(at("learning"), &r.Learning), ageing: field(at("ageing"), &r.Ageing),
		limit: field(at("limit"), &r.Limit), macMoves: field(at("mac_moves"), &r.MACMoves),
		floodRate: field(at("flood_rate"), &r.Flood), evpn: field(at("evpn"), &r.EVPN),
		remote: field(at("remote"), &r.Remote), ttl: field(at("ttl"), &r.TTL), df: field(at("df"), &r.DF),
		bgp: field(at("bgp"), &r.BGP), blocks: field(at("blocks"), &r.Blocks), acceptDefault: field(at("accept_default"), &r.AcceptDf),
		routesPath: at("routes"), routesGiven: len(r.Routes) > 0,
	}
	for i := range r.Routes {
		rp := fmt.Sprintf("%s[%d]", at("routes"), i)
		v.routes = append(v.routes, routeValues{field(rp+".prefix", &r.Routes[i].Prefix), field(rp+".via", &r.Routes[i].Via)})
	}
	return v
}

// NetworkSpec is a network as POST /v1/networks takes it: the fields and
// words of a network in the YAML config, addresses and durations as strings.
// Fields left out take the config's defaults.
type NetworkSpec struct {
	Name    string  `json:"name,omitempty"`
	Kind    string  `json:"kind,omitempty"` // "vxlan" (the default) or "ipip"
	VNI     *uint32 `json:"vni,omitempty"`
	Address string  `json:"address,omitempty"` // like 192.168.42.1/24
	MTU     int     `json:"mtu,omitempty"`     // 0 = the daemon decides

	// vxlan only.
	Remotes   []string `json:"remotes,omitempty"`
	Group     string   `json:"group,omitempty"`
	Dev       string   `json:"dev,omitempty"`
	Learning  *bool    `json:"learning,omitempty"` // default true, false with evpn
	Ageing    string   `json:"ageing,omitempty"`   // like "300s"; "0" = never
	Limit     *int     `json:"limit,omitempty"`
	MACMoves  *int     `json:"mac_moves,omitempty"`  // moves a second per MAC; 0 = no limit
	FloodRate *int     `json:"flood_rate,omitempty"` // frames flooded a second; 0 = no limit
	EVPN      *bool    `json:"evpn,omitempty"`       // announce and learn peers over BGP

	// ipip only.
	Remote        string      `json:"remote,omitempty"`
	BGP           *bool       `json:"bgp,omitempty"`            // announce blocks and learn the peers' over BGP
	Blocks        []string    `json:"blocks,omitempty"`         // default: the address's prefix
	AcceptDefault *bool       `json:"accept_default,omitempty"` // take a peer's default route
	TTL           string      `json:"ttl,omitempty"`            // "1".."255" or "inherit"; default "64"
	DF            string      `json:"df,omitempty"`             // "set", "unset" or "inherit"; default "inherit" (ipip), "unset" (vxlan)
	Routes        []RouteInfo `json:"routes,omitempty"`
}

// SpecOf describes n as a NetworkSpec; Network gives n back.
func SpecOf(n Network) NetworkSpec {
	s := NetworkSpec{Name: n.Name, Kind: n.Kind, Address: prefixString(n.Address), MTU: n.MTU}
	if n.Kind == KindIPIP {
		s.Remote = addrString(n.Remote)
		s.DF = n.DF
		s.TTL = "inherit"
		if n.TTL != 0 {
			s.TTL = strconv.Itoa(int(n.TTL))
		}
		for _, r := range n.Routes {
			s.Routes = append(s.Routes, RouteInfo{Prefix: prefixString(r.Prefix), Via: addrString(r.Via)})
		}
		if n.BGP {
			on := true
			s.BGP = &on
			for _, b := range n.Blocks {
				s.Blocks = append(s.Blocks, b.String())
			}
			if n.AcceptDefault {
				s.AcceptDefault = &on
			}
		}
		return s
	}
	vni, learning, limit, moves, rate := n.VNI, n.Learning, n.Limit, n.MACMoves, n.FloodRate
	s.VNI, s.Learning, s.Limit = &vni, &learning, &limit
	if moves != 0 {
		s.MACMoves = &moves
	}
	if rate != 0 {
		s.FloodRate = &rate
	}
	for _, r := range n.Remotes {
		s.Remotes = append(s.Remotes, addrString(r))
	}
	s.Group, s.Dev, s.DF = addrString(n.Group), n.Dev, n.DF
	if n.EVPN {
		evpn := true
		s.EVPN = &evpn
	}
	s.Ageing = n.Ageing.String()
	return s
}

// Network decodes s, applies the defaults and checks what can be checked of
// one network on its own (see ParseNetworkFlags). Errors are FieldErrors
// naming the request's field, like `remotes[1]: want an IP address, got
// "peer"`.
func (s NetworkSpec) Network() (Network, error) {
	v := &networkValues{
		name: jsonString("name", s.Name), kind: jsonString("kind", s.Kind), vni: jsonInt("vni", s.VNI),
		address: jsonString("address", s.Address), remotes: jsonStrings("remotes", s.Remotes),
		group: jsonString("group", s.Group), dev: jsonString("dev", s.Dev), learning: jsonBool("learning", s.Learning),
		ageing: jsonString("ageing", s.Ageing), limit: jsonInt("limit", s.Limit),
		macMoves: jsonInt("mac_moves", s.MACMoves), floodRate: jsonInt("flood_rate", s.FloodRate),
		evpn:   jsonBool("evpn", s.EVPN),
		remote: jsonString("remote", s.Remote), df: jsonString("df", s.DF), routesPath: "routes",
		bgp: jsonBool("bgp", s.BGP), blocks: jsonStrings("blocks", s.Blocks), acceptDefault: jsonBool("accept_default", s.AcceptDefault),
	}
	if s.MTU != 0 {
		v.mtu = jsonInt("mtu", &s.MTU)
	}
	if s.TTL != "" {
		// A string that holds a number or "inherit".
		v.ttl = textValue("ttl", true, s.TTL)
	}
	v.routesGiven = s.Routes != nil
	for i, r := range s.Routes {
		rp := fmt.Sprintf("routes[%d]", i)
		v.routes = append(v.routes, routeValues{jsonString(rp+".prefix", r.Prefix), jsonString(rp+".via", r.Via)})
	}
	n, err := v.network()
	if err != nil {
		return Network{}, err
	}
	if err := checkNetwork(&n, ConfigNames); err != nil {
		return Network{}, err
	}
	return n, nil
}
