package control

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Usage is vtepd's help text.
func Usage() string {
	var b strings.Builder
	b.WriteString(usageHead)
	for _, d := range flagDocs {
		b.WriteString(d.text)
	}
	b.WriteString(usageTail)
	return b.String()
}

// NetworkFlagsUsage is the help of the flags that describe one network,
// for a network added to a running vtepd (vtepctl network add): the same
// lines as vtepd's, but for --ttl, which is the daemon's for vxlan.
func NetworkFlagsUsage() string {
	var b strings.Builder
	for _, d := range flagDocs {
		switch {
		case d.flag == "ttl":
			b.WriteString(ipipTTLDoc)
		case slices.Contains(networkFlags, d.flag) && !slices.Contains(daemonFlags, d.flag):
			b.WriteString(d.text)
		}
	}
	return b.String()
}

const usageHead = `Usage:
  vtepd --config FILE [--control PATH] [--metrics ADDR] [--log-level LEVEL]
  vtepd --local IP --vni N [--remote IP]... [options]         one VXLAN network
  vtepd --mode ipip --local IP --name NAME [--remote IP] [--route PREFIX=VIA]... [options]

The flags describe one network, named after ip-link's words; a config file
describes any number of them and cannot be combined with the network flags.
--control, --metrics, --log-level and --on-device-loss go with either and
override the file, on a reload (SIGHUP) too.

Options:
  --version              print the version and exit
`

const usageTail = `
Examples:
  vtepd --local 10.0.0.1 --vni 42 --remote 10.0.0.2 --remote 10.0.0.3 \
        --addr 192.168.42.1/24
  vtepd --local 10.0.0.1 --vni 42 --group 239.1.1.1 --dev eth0
  vtepd --mode ipip --local 10.0.0.1 --name ipip0 --addr 10.244.0.1/24 \
        --route 10.244.1.0/24=10.0.0.2
  vtepd --config /etc/vtepd/vtepd.yaml --log-level debug
`

// ipipTTLDoc is --ttl for a network added at run time.
const ipipTTLDoc = "  --ttl N|inherit        ipip: outer TTL (default 64)\n"

// flagDocs are vtepd's flags, each with its lines of help, in the order
// the help lists them.
var flagDocs = []struct{ flag, text string }{
	{"config", "  --config FILE          YAML config file\n"},
	{"mode", "  --mode vxlan|ipip      network kind (default vxlan)\n"},
	{"local", "  --local IP             source address of outer packets (required)\n"},
	{"vni", "  --vni N                VXLAN network identifier 0..16777215 (vxlan, required)\n"},
	{"remote", "  --remote IP            vxlan: add a flood-list peer (repeatable);\n                         ipip: the point-to-point peer (at most once)\n"},
	{"name", "  --name NAME            interface to create (default vx<VNI>; required for ipip)\n"},
	{"addr", "  --addr CIDR            address of the interface, like 192.168.42.1/24\n"},
	{"mtu", "  --mtu N                interface MTU 68..65535 (default: from the underlay)\n"},
	{"dstport", "  --dstport N            VXLAN UDP port (default 4789)\n"},
	{"srcport", "  --srcport MIN-MAX      outer UDP source port range\n                         (default: net.ipv4.ip_local_port_range)\n"},
	{"ttl", "  --ttl N|inherit        outer TTL (default 64; inherit is for ipip)\n"},
	{"udpcsum", "  --udpcsum              compute outer UDP checksums over IPv4\n"},
	{"offload", "  --offload on|off|LIST  offloads, like tso=off,gso=on,gro=on (default on):\n                         tso  TCP super-frames through the TAP/TUN device\n                         gso  a super-frame's datagrams in one UDP GSO send\n                         gro  coalesced datagram trains on receive (UDP_GRO)\n"},
	{"queues", "  --queues N             device queues and receiving sockets, a worker each,\n                         1..64 (default: the CPUs vtepd may use, at most 8;\n                         1 is one reader per device and per socket)\n"},
	{"busy-poll", "  --busy-poll DURATION   keep reading without waiting this long after each\n                         batch, like 50us, before sleeping (default 0): lower\n                         latency for a core per busy worker\n"},
	{"ipip-receive", "  --ipip-receive raw|fanout\n                         ipip: receive on one raw socket behind the kernel's\n                         IP layer (default), or on a fanout group of --queues\n                         packet sockets, a worker each, which see packets\n                         before netfilter, rp_filter and IPsec policy\n"},
	{"learning", "  --learning=true|false  learn source MACs (default true;\n                         false with --evpn)\n"},
	{"ageing", "  --ageing DURATION      forget learnt MACs after this long, 0 = never (default 300s)\n"},
	{"limit", "  --limit N              most learnt MACs (default 16384)\n"},
	{"group", "  --group IP             multicast group for flooding (vxlan; needs --dev)\n"},
	{"dev", "  --dev IFNAME           underlay device for --group\n"},
	{"mcast-ttl", "  --mcast-ttl N          outer TTL of packets to the group (default 1)\n"},
	{"accept", "  --accept any|peers     vxlan: take packets from any source, as the kernel\n                         does (default), or only from each network's peers:\n                         its --remote list and peers added at run time, its\n                         static fdb entries' dst, --allow, and with --group\n                         the subnets of --dev; others are dropped unlearnt\n"},
	{"allow", "  --allow PREFIX         with --accept peers: accept PREFIX too (repeatable)\n"},
	{"mac-moves", "  --mac-moves N          vxlan: moves a second allowed per learnt MAC, beyond\n                         which its frames are dropped (default 0: no limit)\n"},
	{"flood-rate", "  --flood-rate N         vxlan: broadcast, multicast and unknown-unicast frames\n                         flooded a second, burst N (default 0: no limit)\n"},
	{"evpn", "  --evpn                 vxlan: announce the network over BGP EVPN and take\n                         the flood list from the peers' announcements\n"},
	{"bgp-asn", "  --bgp-asn N            run a BGP speaker of AS N (for --evpn, or ipip blocks)\n"},
	{"bgp-neighbor", "  --bgp-neighbor IP      a BGP peer of the same AS, port 179 (repeatable)\n"},
	{"route", "  --route PREFIX=VIA     ipip: send PREFIX to the endpoint VIA (repeatable)\n"},
	{"bgp-block", "  --bgp-block PREFIX     ipip: announce PREFIX over BGP (repeatable; default:\n                         --addr's prefix) and route the peers' blocks in;\n                         with --mode ipip, --bgp-asn alone does this too\n"},
	{"df", "  --df set|unset|inherit outer DF bit: vxlan default unset (a packet over\n                         the underlay's MTU is fragmented), ipip default\n                         inherit (the inner packet's)\n"},
	{"control", "  --control PATH         control socket (default /run/vtepd/vtepd.sock)\n"},
	{"metrics", "  --metrics ADDR         serve metrics on host:port, like 127.0.0.1:9470\n"},
	{"log-level", "  --log-level LEVEL      debug, info, warn or error (default info)\n"},
	{"on-device-loss", "  --on-device-loss recreate|exit\n                         when a network's device is deleted under vtepd:\n                         make it again with its address and MTU (default),\n                         or exit with status 1\n"},
}

// networkFlags are the flags that describe the network; a config file
// replaces all of them.
var networkFlags = []string{"mode", "vni", "local", "remote", "dstport", "srcport", "name",
	"addr", "mtu", "learning", "ageing", "limit", "ttl", "df", "mcast-ttl", "udpcsum", "route", "group", "dev",
	"accept", "allow", "mac-moves", "flood-rate", "evpn", "bgp-asn", "bgp-neighbor", "bgp-block"}

// vxlanFlags mean nothing to an ipip network; ipipFlags nothing to vxlan.
var (
	vxlanFlags = []string{"vni", "evpn", "dstport", "srcport", "udpcsum", "learning", "ageing", "limit", "group", "dev", "mcast-ttl",
		"accept", "allow", "mac-moves", "flood-rate"}
	ipipFlags = []string{"route", "bgp-block"}
)

// listValue collects a repeatable flag.
type listValue []string

func (l *listValue) String() string     { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error { *l = append(*l, s); return nil }

// boolValue is a boolean flag whose text is checked after parsing, so the
// error reads like every other flag error.
type boolValue string

func (b *boolValue) String() string     { return string(*b) }
func (b *boolValue) Set(s string) error { *b = boolValue(s); return nil }
func (b *boolValue) IsBoolFlag() bool   { return true }

// stringFlags are vtepd's flags that take one value each; --learning and
// --udpcsum are booleans, --remote, --route and --allow repeat.
var stringFlags = []string{"config", "mode", "vni", "local", "dstport", "srcport", "name", "addr",
	"mtu", "ageing", "limit", "ttl", "df", "mcast-ttl", "group", "dev", "control", "metrics", "log-level", "offload",
	"accept", "mac-moves", "flood-rate", "on-device-loss", "queues", "busy-poll", "ipip-receive", "bgp-asn"}

// daemonFlags set what every network shares or the daemon itself, so a
// network added to a running vtepd cannot carry them.
var daemonFlags = []string{"config", "local", "dstport", "srcport", "udpcsum", "mcast-ttl",
	"control", "metrics", "log-level", "offload", "accept", "allow", "on-device-loss", "queues", "busy-poll", "ipip-receive", "version",
	"bgp-asn", "bgp-neighbor"}

// ErrVersion is what ParseFlags returns for --version: print the version
// (Version) and exit.
var ErrVersion = errors.New("version asked for")

// flagValues is a command line as the flag package parsed it, before any
// value is checked: vtepd's and vtepctl network add's share it.
type flagValues struct {
	str               map[string]*string
	learning, udpcsum boolValue
	version           boolValue
	remotes, routes   listValue
	allow             listValue
	bgpNeighbors      listValue
	bgpBlocks         listValue
	evpn              boolValue
	set               map[string]bool // the flags given
}

// parseFlagValues parses args with every flag vtepd knows. Errors name the
// flag; -h/--help returns flag.ErrHelp.
func parseFlagValues(args []string) (*flagValues, error) {
	fs := flag.NewFlagSet("vtepd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fv := &flagValues{str: map[string]*string{}, set: map[string]bool{}}
	for _, n := range stringFlags {
		fv.str[n] = fs.String(n, "", "")
	}
	fs.Var(&fv.learning, "learning", "")
	fs.Var(&fv.udpcsum, "udpcsum", "")
	fs.Var(&fv.version, "version", "")
	fs.Var(&fv.remotes, "remote", "")
	fs.Var(&fv.routes, "route", "")
	fs.Var(&fv.allow, "allow", "")
	fs.Var(&fv.bgpNeighbors, "bgp-neighbor", "")
	fs.Var(&fv.bgpBlocks, "bgp-block", "")
	fs.Var(&fv.evpn, "evpn", "")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		return nil, flagError(fs, args, err)
	}
	if fs.NArg() > 0 {
		// "--learning false" parses as a bare boolean flag and a stray word.
		if i := len(args) - fs.NArg(); i > 0 {
			prev := strings.TrimLeft(args[i-1], "-")
			if _, err := strconv.ParseBool(fs.Arg(0)); err == nil && (prev == "learning" || prev == "udpcsum") {
				return nil, fmt.Errorf("--%s: write --%s=%s (a boolean flag takes its value after '=')", prev, prev, fs.Arg(0))
			}
		}
		return nil, fmt.Errorf("unexpected argument %q (settings are flags, like --vni 42)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { fv.set[f.Name] = true })
	return fv, nil
}

// ParseFlags turns vtepd's command line into a validated Config, either from
// --config FILE or from flags describing one network. Errors name the flag
// and fit on one line; -h/--help returns flag.ErrHelp.
func ParseFlags(args []string) (*Config, error) {
	fv, err := parseFlagValues(args)
	if err != nil {
		return nil, err
	}
	if fv.set["version"] {
		return nil, ErrVersion
	}
	set, str := fv.set, fv.str

	var c *Config
	if set["config"] {
		// The file says everything but what overrides may set over it.
		for _, f := range append(slices.Clone(networkFlags), daemonFlags...) {
			if set[f] && f != "config" && !slices.ContainsFunc(overrides, func(o override) bool { return o.flag == f }) {
				return nil, fmt.Errorf("--config: cannot be combined with --%s (put it in the config file)", f)
			}
		}
		if c, err = Load(*str["config"]); err != nil {
			return nil, err
		}
	} else {
		n, err := fv.network()
		if err != nil {
			return nil, err
		}
		c = &Config{Networks: []Network{n}, Control: DefaultControl, LogLevel: DefaultLogLevel}
		if c.Underlay, err = fv.underlay(n.Kind); err != nil {
			return nil, err
		}
		if c.BGP, err = fv.bgp(); err != nil {
			return nil, err
		}
	}
	for _, o := range overrides {
		if set[o.flag] {
			*o.field(c) = *str[o.flag]
			if set["config"] {
				c.Flags = append(c.Flags, o.flag)
			}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, Rename(err, c.Names())
	}
	return c, nil
}

// Names speaks of the fields of c, as ParseFlags returned it, in the words
// they were given in: a config built from flags by its flags (--local), one
// read from a file by the file's paths, but for the flags given over the
// file (--log-level).
func (c *Config) Names() Names {
	if c.Path == "" {
		return flagPath
	}
	return func(path string) string {
		if f := flagPath(path); slices.Contains(c.Flags, strings.TrimPrefix(f, "--")) {
			return f
		}
		return path
	}
}

// override is a daemon flag that may go with --config: it sets a field of
// the file over what the file says.
type override struct {
	flag  string
	field func(c *Config) *string
}

// overrides are the daemon's flags that may go with --config.
var overrides = []override{
	{"control", func(c *Config) *string { return &c.Control }},
	{"metrics", func(c *Config) *string { return &c.Metrics }},
	{"log-level", func(c *Config) *string { return &c.LogLevel }},
	{"on-device-loss", func(c *Config) *string { return &c.OnDeviceLoss }},
}

// KeepFlags gives next, c's config file read again (a reload), the
// settings that flags gave c over that file: the command line vtepd
// started with still holds.
func (c *Config) KeepFlags(next *Config) {
	for _, o := range overrides {
		if slices.Contains(c.Flags, o.flag) {
			*o.field(next) = *o.field(c)
		}
	}
	next.Flags = slices.Clone(c.Flags)
}

// ParseNetworkFlags turns the network words of vtepd's command line (--mode,
// --vni, --name, --remote, --addr, --mtu, --learning, --ageing, --limit,
// --group, --dev, --ttl for ipip, --route) into one Network, with the
// defaults ParseFlags applies; it is how a network is described to a running
// vtepd. Flags of the underlay or the daemon are refused. What can be checked
// without the daemon is: what needs its underlay (the address family of the
// peers, the local address) or its other networks (names and VNIs in use) is
// the daemon's to check when the network is added. Errors name the flag and
// fit on one line; -h/--help returns flag.ErrHelp.
func ParseNetworkFlags(args []string) (Network, error) {
	fv, err := parseFlagValues(args)
	if err != nil {
		return Network{}, err
	}
	for _, f := range daemonFlags {
		if fv.set[f] {
			return Network{}, fmt.Errorf("--%s: belongs to the daemon, not to one network", f)
		}
	}
	n, err := fv.network()
	if err != nil {
		return Network{}, err
	}
	if n.Kind == KindVXLAN && fv.set["ttl"] {
		return Network{}, fmt.Errorf("--ttl: only with --mode %s (the outer TTL of %s networks belongs to the daemon)", KindIPIP, KindVXLAN)
	}
	if err := checkNetwork(&n, func(path string) string { return flagPath("networks[0]." + path) }); err != nil {
		return Network{}, err
	}
	return n, nil
}

// flagError is the error of a command line fs refused, naming the flag
// first. The flag package's errors are text only, so the flag at fault is
// found by reading args as it does: flags up to the first word that is
// none, or "--".
func flagError(fs *flag.FlagSet, args []string, err error) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			return fmt.Errorf("--%s: unknown flag (see --help)", name)
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); hasValue || ok && b.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			return fmt.Errorf("--%s: needs a value", name)
		}
		i++
	}
	return errors.New(oneLine(err.Error()))
}

// bad is the error of a flag whose value is not what it should be.
func (fv *flagValues) bad(f, want string) error {
	return fmt.Errorf("--%s: want %s, got %q", f, want, *fv.str[f])
}

// network reads the flags that describe the network itself into the
// network's values and decodes them as the config file's and the API's
// are; a vxlan network's --ttl is the underlay's and is left to underlay.
func (fv *flagValues) network() (Network, error) {
	set, str := fv.set, fv.str
	kind := KindVXLAN
	if set["mode"] {
		kind = *str["mode"]
		if kind != KindVXLAN && kind != KindIPIP {
			return Network{}, fv.bad("mode", KindVXLAN+" or "+KindIPIP)
		}
	}
	wrong, other := vxlanFlags, KindVXLAN
	if kind == KindVXLAN {
		wrong, other = ipipFlags, KindIPIP
	}
	for _, f := range wrong {
		if set[f] {
			return Network{}, fmt.Errorf("--%s: only with --mode %s, this network is %s", f, other, kind)
		}
	}
	if kind == KindIPIP && !set["name"] {
		return Network{}, fmt.Errorf("--name: required with --mode %s (the TUN device to create)", KindIPIP)
	}

	at := func(f string) string { return "networks[0]." + f }
	flag := func(field, name string) value { return textValue(at(field), set[name], *str[name]) }
	v := &networkValues{
		kind: textValue(at("kind"), true, kind), name: flag("name", "name"),
		address: flag("address", "addr"), mtu: flag("mtu", "mtu"),
		group: flag("group", "group"), dev: flag("dev", "dev"),
		learning: textValue(at("learning"), set["learning"], string(fv.learning)),
		ageing:   flag("ageing", "ageing"), limit: flag("limit", "limit"),
		macMoves: flag("mac_moves", "mac-moves"), floodRate: flag("flood_rate", "flood-rate"),
		evpn: textValue(at("evpn"), set["evpn"], string(fv.evpn)),
		df:   flag("df", "df"), routesPath: at("routes"), routesGiven: len(fv.routes) > 0,
	}
	if kind == KindVXLAN {
		if !set["vni"] {
			return Network{}, fmt.Errorf("--vni: required with --mode %s (0..%d)", KindVXLAN, MaxVNI)
		}
		v.vni = flag("vni", "vni")
		if len(fv.remotes) > 0 {
			v.remotes = value{path: at("remotes"), kind: valueList}
			for i, r := range fv.remotes {
				v.remotes.items = append(v.remotes.items, textValue(fmt.Sprintf("%s[%d]", at("remotes"), i), true, r))
			}
		}
	} else {
		v.ttl = flag("ttl", "ttl")
		if set["bgp-asn"] || len(fv.bgpBlocks) > 0 {
			v.bgp = textValue(at("bgp"), true, "true")
		}
		if len(fv.bgpBlocks) > 0 {
			v.blocks = value{path: at("blocks"), kind: valueList}
			for i, b := range fv.bgpBlocks {
				v.blocks.items = append(v.blocks.items, textValue(fmt.Sprintf("%s[%d]", at("blocks"), i), true, b))
			}
		}
		switch len(fv.remotes) {
		case 0:
		case 1:
			v.remote = textValue(at("remote"), true, fv.remotes[0])
		default:
			return Network{}, fmt.Errorf("--remote: want at most one peer with --mode %s, got %d", KindIPIP, len(fv.remotes))
		}
	}
	for i, r := range fv.routes {
		ps, vs, ok := strings.Cut(r, "=")
		if !ok {
			return Network{}, fmt.Errorf("--route: want PREFIX=VIA like 10.244.1.0/24=10.0.0.2, got %q", r)
		}
		rp := fmt.Sprintf("%s[%d]", at("routes"), i)
		v.routes = append(v.routes, routeValues{textValue(rp+".prefix", true, ps), textValue(rp+".via", true, vs)})
	}
	n, err := v.network()
	return n, Rename(err, flagPath)
}

// bgp reads --bgp-asn and --bgp-neighbor: a speaker of that AS whose
// neighbors are iBGP peers on BGP's port.
func (fv *flagValues) bgp() (*BGP, error) {
	if !fv.set["bgp-asn"] {
		if len(fv.bgpNeighbors) > 0 {
			return nil, errors.New("--bgp-neighbor: needs --bgp-asn (the AS both speakers are in)")
		}
		return nil, nil
	}
	v, err := strconv.ParseUint(*fv.str["bgp-asn"], 10, 32)
	if err != nil || v == 0 {
		return nil, fv.bad("bgp-asn", "an integer 1..4294967295")
	}
	b := &BGP{ASN: uint32(v), ListenPort: DefaultBGPPort}
	for _, s := range fv.bgpNeighbors {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--bgp-neighbor: want an IP address, got %q", s)
		}
		b.Neighbors = append(b.Neighbors, Neighbor{Address: a, ASN: b.ASN, Port: DefaultBGPPort})
	}
	return b, nil
}

// underlay reads the flags of the outer side, with their defaults, for a
// network of kind.
func (fv *flagValues) underlay(kind string) (Underlay, error) {
	set, str := fv.set, fv.str
	u := Underlay{Port: DefaultPort, TTL: DefaultTTL, McastTTL: DefaultMcastTTL, Offload: DefaultOffload, Accept: AcceptAny}
	u.SrcPortMin, u.SrcPortMax = defaultSrcPorts()
	if set["offload"] {
		o, err := ParseOffload(*str["offload"])
		if err != nil {
			return u, fmt.Errorf("--offload: %v", err)
		}
		u.Offload = o
	}
	if set["queues"] {
		v, err := strconv.ParseUint(*str["queues"], 10, 8)
		if err != nil || v == 0 || v > MaxQueues {
			return u, fv.bad("queues", fmt.Sprintf("an integer 1..%d", MaxQueues))
		}
		u.Queues = int(v)
	}
	if set["busy-poll"] {
		d, ok := parseDuration(*str["busy-poll"])
		if !ok || d < 0 || d > MaxBusyPoll {
			return u, fv.bad("busy-poll", fmt.Sprintf("a duration 0..%v like 50us", MaxBusyPoll))
		}
		u.BusyPoll = d
	}
	if set["ipip-receive"] {
		v, ok := parseIPIPReceive(*str["ipip-receive"])
		if !ok {
			return u, fv.bad("ipip-receive", wantIPIPReceive)
		}
		u.IPIPFanout = v
	}
	if set["local"] {
		a, err := netip.ParseAddr(*str["local"])
		if err != nil {
			return u, fv.bad("local", "an IP address")
		}
		u.Local = a
	}
	if set["dstport"] {
		v, err := strconv.ParseUint(*str["dstport"], 10, 16)
		if err != nil || v == 0 {
			return u, fv.bad("dstport", "an integer 1..65535")
		}
		u.Port = uint16(v)
	}
	if set["srcport"] {
		var ok bool
		if u.SrcPortMin, u.SrcPortMax, ok = parseSrcPort(*str["srcport"]); !ok {
			return u, fv.bad("srcport", wantSrcPort)
		}
	}
	if set["udpcsum"] {
		v, err := strconv.ParseBool(string(fv.udpcsum))
		if err != nil {
			return u, fmt.Errorf("--udpcsum: want true or false, got %q", string(fv.udpcsum))
		}
		u.UDPCsum = v
	}
	// An ipip network's --ttl is its own (network reads it).
	if kind == KindVXLAN && set["ttl"] {
		v, err := strconv.ParseUint(*str["ttl"], 10, 8)
		if err != nil || v == 0 {
			return u, fv.bad("ttl", `an integer 1..255 ("inherit" is for --mode ipip)`)
		}
		u.TTL = uint8(v)
	}
	if set["mcast-ttl"] {
		v, err := strconv.ParseUint(*str["mcast-ttl"], 10, 8)
		if err != nil || v == 0 {
			return u, fv.bad("mcast-ttl", "an integer 1..255")
		}
		u.McastTTL = uint8(v)
	}
	if set["accept"] {
		u.Accept = *str["accept"]
		if checkAccept(u.Accept) != nil {
			return u, fv.bad("accept", AcceptAny+" or "+AcceptPeers)
		}
	}
	for _, s := range fv.allow {
		p, ok := parseAllow(s)
		if !ok {
			return u, fmt.Errorf("--allow: want %s, got %q", wantAllow, s)
		}
		u.Allow = append(u.Allow, p)
	}
	return u, nil
}

// flagPath names the flag that sets a field path of a config built from
// flags; ParseNetworkFlags's paths are those of networks[0].
func flagPath(path string) string {
	switch path {
	case "underlay.local":
		return "--local"
	case "underlay.port":
		return "--dstport"
	case "underlay.srcport":
		return "--srcport"
	case "underlay.ttl":
		return "--ttl"
	case "underlay.mcast_ttl":
		return "--mcast-ttl"
	case "underlay.udpcsum":
		return "--udpcsum"
	case "underlay.offload":
		return "--offload"
	case "underlay.queues":
		return "--queues"
	case "underlay.busy_poll":
		return "--busy-poll"
	case "underlay.ipip_receive":
		return "--ipip-receive"
	case "underlay.accept":
		return "--accept"
	case "control":
		return "--control"
	case "metrics":
		return "--metrics"
	case "log_level":
		return "--log-level"
	case "on_device_loss":
		return "--on-device-loss"
	}
	if strings.HasPrefix(path, "underlay.allow") {
		return "--allow"
	}
	rest, ok := strings.CutPrefix(path, "networks[0]")
	if !ok {
		return path
	}
	rest = strings.TrimPrefix(rest, ".")
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		rest = rest[:i]
	}
	switch rest {
	case "", "kind":
		return "--mode"
	case "address":
		return "--addr"
	case "remotes", "remote":
		return "--remote"
	case "routes":
		return "--route"
	case "blocks", "bgp":
		return "--bgp-block"
	case "mac_moves":
		return "--mac-moves"
	case "flood_rate":
		return "--flood-rate"
	}
	return "--" + rest
}

// checkNetwork checks what can be told of one network on its own: the
// rules Validate applies to each network, without the daemon's underlay
// (see validator.network). Paths are relative to the network, like
// "remotes[1]", and rendered by name.
func checkNetwork(n *Network, names Names) error {
	v := validator{}
	v.network("", n, netip.Addr{})
	return Rename(v.error(), names)
}
