// Package bgp is vtepd's embedded BGP speaker (GoBGP): it announces the
// VXLAN networks with EVPN on, as RFC 7432 / RFC 8365 routes, and reports
// the peers' such routes to the node:
//
//   - type 3 (inclusive multicast Ethernet tag): "send this VNI's
//     broadcast and unknown unicast to me", which fills flood lists;
//   - type 2 (MAC/IP advertisement): "this MAC, and this address, is
//     behind me", which fills the FDB and answers ARP.
//
// The routes carry what an FRR peer with advertise-all-vni imports without
// configuration: RD router-id:index, route target AS:VNI, the VXLAN
// encapsulation community, the VNI as label, and for type 3 a PMSI tunnel
// attribute of ingress replication. A MAC that moves carries a MAC
// mobility sequence number (RFC 7432 section 15).
//
// The same speaker carries the IPv4 unicast family for IPIP networks, as
// Calico's BIRD does: each node announces its blocks of pod addresses with
// itself as next hop, and the peers' blocks become IPIP routes.
//
// It touches no packet; the node turns what it reports into FDB entries
// and routes.
package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/fdb"
)

// RouteType is an EVPN route type (RFC 7432 section 7).
type RouteType uint8

const (
	// Block is not EVPN: an IPv4 unicast route, a node's block of pod
	// addresses (Route.Prefix) behind its IPIP endpoint.
	Block RouteType = 0
	// MACIP is a MAC/IP advertisement route (type 2).
	MACIP RouteType = bgp.EVPN_ROUTE_TYPE_MAC_IP_ADVERTISEMENT
	// IMET is an inclusive multicast Ethernet tag route (type 3).
	IMET RouteType = bgp.EVPN_INCLUSIVE_MULTICAST_ETHERNET_TAG
)

// Route is a peer's EVPN route as the node uses it, or, Withdrawn, its
// withdrawal.
type Route struct {
	Type RouteType
	VNI  uint32
	// Endpoint is the VXLAN endpoint the route names: type 3's tunnel,
	// type 2's next hop.
	Endpoint netip.Addr
	// MAC, IP (when the route has one) and Seq (its MAC mobility
	// sequence number) are type 2's.
	MAC fdb.MAC
	IP  netip.Addr
	Seq uint32
	// Prefix is a Block's.
	Prefix netip.Prefix
	// Key is the route's NLRI (RD included): what a withdrawal names.
	Key       string
	Peer      netip.Addr
	Withdrawn bool
}

// Reasons a peer's route is ignored, as Ignored counts them.
const (
	IgnoredOwn         = "own"          // our own endpoint or router id
	IgnoredMalformed   = "malformed"    // no usable VNI, MAC or endpoint
	IgnoredRouteType   = "route_type"   // a type or family vtepd does not use
	IgnoredMaxPrefixes = "max_prefixes" // past the peer's max_prefixes
)

// Speaker is one running BGP speaker.
type Speaker struct {
	s     *server.BgpServer
	log   *zap.Logger
	local netip.Addr // our VXLAN endpoint, the routes' next hop and tunnel
	id    netip.Addr
	asn   uint32

	mu     sync.Mutex
	rds    map[uint32]bgp.RouteDistinguisherInterface // VNI -> its RD
	routes map[uint32]uuid.UUID                       // VNI -> our type 3
	macs   map[macKey]uuid.UUID                       // our type 2s
	blocks map[netip.Prefix]uuid.UUID                 // our IPv4 blocks
	cancel context.CancelFunc
	// heard are the peers' routes in force, by NLRI: a withdrawal may
	// come without the attributes that said what it was.
	heard map[string]Route
	// perPeer counts heard by peer, for max_prefixes; limits holds them.
	perPeer map[netip.Addr]int
	limits  map[netip.Addr]int
	ignored map[string]uint64
}

// gobgpGlobals orders the speakers of one process around GoBGP's package
// variables: up to v4.9.0 StartBgp writes the route selection options
// into variables that every server's best-path runs read (moved into each
// server by osrg/gobgp#3659, not yet released). vtepd runs one speaker,
// but its tests run several in one process: StartBgp takes the lock, and
// the calls that start best-path runs share it, so that one speaker's
// start is never concurrent with another's run on its behalf.
var gobgpGlobals sync.RWMutex

func (sp *Speaker) addPath(r apiutil.AddPathRequest) ([]apiutil.AddPathResponse, error) {
	gobgpGlobals.RLock()
	defer gobgpGlobals.RUnlock()
	return sp.s.AddPath(r)
}

func (sp *Speaker) deletePath(r apiutil.DeletePathRequest) error {
	gobgpGlobals.RLock()
	defer gobgpGlobals.RUnlock()
	return sp.s.DeletePath(r)
}

func (sp *Speaker) addPeer(r *api.AddPeerRequest) error {
	gobgpGlobals.RLock()
	defer gobgpGlobals.RUnlock()
	return sp.s.AddPeer(context.Background(), r)
}

func (sp *Speaker) deletePeer(r *api.DeletePeerRequest) error {
	gobgpGlobals.RLock()
	defer gobgpGlobals.RUnlock()
	return sp.s.DeletePeer(context.Background(), r)
}

type macKey struct {
	vni uint32
	mac fdb.MAC
	ip  netip.Addr
}

// Start runs a speaker of cfg whose VXLAN endpoint is local, and hands
// every peer's route, and its withdrawal, to report. report runs on the
// speaker's goroutine and must not block on anything that waits for the
// speaker.
func Start(cfg *control.BGP, local netip.Addr, log *zap.Logger, report func(Route)) (*Speaker, error) {
	if log == nil {
		log = zap.NewNop()
	}
	id := cfg.RouterID
	if !id.IsValid() {
		id = local
	}
	if !id.Is4() {
		return nil, control.Wanted("bgp.router_id", "an IPv4 address (the underlay's is IPv6: give one)", fmt.Sprintf("%q", id))
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	s := server.NewBgpServer(server.LoggerOption(slog.New(zapslog.NewHandler(log.Core())), level))
	go s.Serve()
	sp := &Speaker{s: s, log: log, local: local, id: id, asn: cfg.ASN, routes: map[uint32]uuid.UUID{},
		rds: map[uint32]bgp.RouteDistinguisherInterface{}, macs: map[macKey]uuid.UUID{}, blocks: map[netip.Prefix]uuid.UUID{},
		heard: map[string]Route{}, perPeer: map[netip.Addr]int{}, limits: map[netip.Addr]int{}, ignored: map[string]uint64{}}
	port := int32(cfg.ListenPort)
	if port == 0 {
		port = control.DefaultBGPPort
	}
	gobgpGlobals.Lock()
	err := s.StartBgp(context.Background(), &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: id.String(), ListenPort: port,
	}})
	gobgpGlobals.Unlock()
	if err != nil {
		s.Stop()
		return nil, control.Refused("bgp", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp.cancel = cancel
	err = s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnBestPath: func(paths []*apiutil.Path, _ time.Time) {
			for _, p := range paths {
				for _, r := range sp.read(p) {
					report(r)
				}
			}
		},
		OnPeerUpdate: func(e *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if e.Type == apiutil.PEER_EVENT_STATE {
				st := e.Peer.State
				f := []zap.Field{zap.Stringer("address", st.NeighborAddress),
					zap.String("state", sessionState(st.SessionState))}
				if m := st.DisconnectMessage; m != "" {
					f = append(f, zap.String("reason", m))
				}
				if st.SessionState == bgp.BGP_FSM_IDLE {
					// Refused or lost: a wrong AS or password ends here.
					log.Warn("bgp neighbor down (check its AS, password and reachability)", f...)
					return
				}
				log.Info("bgp neighbor", f...)
			}
		},
	}, server.WatchBestPath(true), server.WatchPeer())
	if err != nil {
		sp.Close()
		return nil, control.Refused("bgp", err)
	}
	for i, n := range cfg.Neighbors {
		if err := sp.AddNeighbor(n); err != nil {
			sp.Close()
			return nil, control.Refused(fmt.Sprintf("bgp.neighbors[%d]", i), err)
		}
	}
	log.Info("bgp speaker running", zap.Uint32("asn", cfg.ASN), zap.Stringer("router_id", id), zap.Int32("port", port))
	return sp, nil
}

// stateNames are the session states as FRR and GoBGP's CLI name them, by
// bgp.FSMState (the watcher's) and, one more, api.PeerState_SessionState
// (ListPeer's, which counts from 1).
var stateNames = [...]string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

func sessionState(s bgp.FSMState) string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// gracefulRestartTime is the restart time vtepd, as a helper, gives in its
// capability (RFC 4724 section 3); the peer's own is what counts for its
// routes.
const gracefulRestartTime = 120

// AddNeighbor adds a peer, with the EVPN and IPv4 unicast families (a peer
// takes those it speaks).
func (sp *Speaker) AddNeighbor(n control.Neighbor) error {
	evpn := &api.AfiSafi{Config: &api.AfiSafiConfig{
		Family: &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}, Enabled: true},
		MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}}
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN, AuthPassword: n.Password},
		Transport: &api.Transport{RemotePort: uint32(n.Port), PassiveMode: n.Passive},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 5}},
		// Graceful restart helper (RFC 4724), as FRR's default: a peer
		// that says it can restart keeps its routes, stale, for the
		// restart time it gave when its session drops without a
		// NOTIFICATION (its bgpd restarting), and they go if it does not
		// come back or does not send them again. A session closed with a
		// NOTIFICATION (a peer shut down) takes them at once. vtepd itself
		// keeps nothing across its own restarts, so it does not ask the
		// same of its peers.
		GracefulRestart: &api.GracefulRestart{Enabled: true, HelperOnly: true, RestartTime: gracefulRestartTime},
		AfiSafis:        []*api.AfiSafi{evpn},
	}
	p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{
		Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true},
		MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}})
	if err := sp.addPeer(&api.AddPeerRequest{Peer: p}); err != nil {
		return err
	}
	sp.mu.Lock()
	sp.limits[n.Address] = n.MaxPrefixes
	sp.mu.Unlock()
	return nil
}

// DeleteNeighbor closes a peer's session and forgets it; its routes are
// withdrawn as for a session lost.
func (sp *Speaker) DeleteNeighbor(a netip.Addr) error {
	err := sp.deletePeer(&api.DeletePeerRequest{Address: a.String()})
	sp.mu.Lock()
	delete(sp.limits, a)
	sp.mu.Unlock()
	return err
}

// read reads what a best-path change p says of a peer's routes: nothing
// for our own or for another family; a withdrawal of what the route said
// before. Routes it cannot use are counted in ignored.
func (sp *Speaker) read(p *apiutil.Path) []Route {
	if (p.Family != bgp.RF_EVPN && p.Family != bgp.RF_IPv4_UC) || !p.PeerAddress.IsValid() {
		return nil // another family, or our own
	}
	key := p.Nlri.String()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if p.Withdrawal {
		r, ok := sp.heard[key]
		if !ok {
			return nil
		}
		sp.forgetLocked(key, r)
		r.Withdrawn = true
		return []Route{r}
	}
	r, why := sp.parse(p)
	r.Key, r.Peer = key, p.PeerAddress
	old, had := sp.heard[key]
	if why != "" {
		sp.ignored[why]++
		if had { // it said something usable before: no longer
			sp.forgetLocked(key, old)
			old.Withdrawn = true
			return []Route{old}
		}
		return nil
	}
	if !had {
		if lim := sp.limits[r.Peer]; lim > 0 && sp.perPeer[r.Peer] >= lim {
			sp.ignored[IgnoredMaxPrefixes]++
			return nil
		}
	} else {
		sp.perPeer[old.Peer]--
	}
	sp.heard[key] = r
	sp.perPeer[r.Peer]++
	if had && old != r {
		// The same route now says something else: the old goes.
		old.Withdrawn = true
		return []Route{old, r}
	}
	return []Route{r}
}

func (sp *Speaker) forgetLocked(key string, r Route) {
	delete(sp.heard, key)
	if sp.perPeer[r.Peer]--; sp.perPeer[r.Peer] <= 0 {
		delete(sp.perPeer, r.Peer)
	}
}

// parse reads a route's NLRI and attributes, or says why it is of no use.
func (sp *Speaker) parse(p *apiutil.Path) (Route, string) {
	if b, ok := p.Nlri.(*bgp.IPAddrPrefix); ok {
		return sp.parseBlock(p, b.Prefix)
	}
	var r Route
	nlri, ok := p.Nlri.(*bgp.EVPNNLRI)
	if !ok {
		return r, IgnoredRouteType
	}
	vni, haveVNI := uint32(0), false
	switch d := nlri.RouteTypeData.(type) {
	case *bgp.EVPNMulticastEthernetTagRoute:
		r.Type, r.Endpoint = IMET, d.IPAddress
	case *bgp.EVPNMacIPAdvertisementRoute:
		r.Type = MACIP
		if len(d.MacAddress) != 6 {
			return r, IgnoredMalformed
		}
		r.MAC = fdb.MAC(d.MacAddress)
		if d.IPAddressLength > 0 {
			r.IP = d.IPAddress
		}
		if len(d.Labels) > 0 {
			// RFC 8365 section 5.1.3: label 1 carries the VNI.
			vni, haveVNI = d.Labels[0], true
		}
	default:
		return r, IgnoredRouteType
	}
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributePmsiTunnel:
			if id, ok := a.TunnelID.(*bgp.IngressReplTunnelID); ok {
				r.Endpoint = id.Value
			}
			vni, haveVNI = a.Label, true
		case *bgp.PathAttributeMpReachNLRI:
			if r.Type == MACIP {
				r.Endpoint = a.Nexthop
			}
		case *bgp.PathAttributeNextHop:
			if r.Type == MACIP && !r.Endpoint.IsValid() {
				r.Endpoint = a.Value
			}
		case *bgp.PathAttributeExtendedCommunities:
			for _, c := range a.Value {
				switch c := c.(type) {
				case *bgp.TwoOctetAsSpecificExtended:
					if c.SubType == bgp.EC_SUBTYPE_ROUTE_TARGET && !haveVNI {
						vni = c.LocalAdmin
					}
				case *bgp.MacMobilityExtended:
					r.Seq = c.Sequence
				}
			}
		}
	}
	r.VNI = vni
	if p.PeerID == sp.id || r.Endpoint == sp.local {
		return r, IgnoredOwn
	}
	if vni > control.MaxVNI || !r.Endpoint.IsValid() || (r.Type == MACIP && (r.MAC[0]&1 != 0 || r.MAC == fdb.MAC{})) {
		return r, IgnoredMalformed
	}
	r.Endpoint = r.Endpoint.Unmap()
	return r, ""
}

// Held returns the peers' routes in force for vni.
func (sp *Speaker) Held(vni uint32) []Route {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var out []Route
	for _, r := range sp.heard {
		if r.VNI == vni && r.Type != Block {
			out = append(out, r)
		}
	}
	// Type 3 first, then by NLRI: the order they are applied in is the
	// same every time.
	slices.SortFunc(out, func(a, b Route) int {
		if a.Type != b.Type {
			return int(b.Type) - int(a.Type)
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// parseBlock reads an IPv4 unicast route: a block behind its next hop.
func (sp *Speaker) parseBlock(p *apiutil.Path, prefix netip.Prefix) (Route, string) {
	r := Route{Type: Block, Prefix: prefix.Masked()}
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			r.Endpoint = a.Value
		case *bgp.PathAttributeMpReachNLRI:
			if !r.Endpoint.IsValid() {
				r.Endpoint = a.Nexthop
			}
		}
	}
	if p.PeerID == sp.id || r.Endpoint == sp.local {
		return r, IgnoredOwn
	}
	if !r.Prefix.IsValid() || !r.Prefix.Addr().Is4() || !r.Endpoint.IsValid() {
		return r, IgnoredMalformed
	}
	r.Endpoint = r.Endpoint.Unmap()
	return r, ""
}

// AnnounceBlock announces p, a block of this node's pod addresses, with
// the underlay address as next hop.
func (sp *Speaker) AnnounceBlock(p netip.Prefix) error {
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return err
	}
	nh, err := bgp.NewPathAttributeNextHop(sp.local)
	if err != nil {
		return err
	}
	res, err := sp.addPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{Family: bgp.RF_IPv4_UC, Nlri: nlri,
		Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), nh}}}})
	if err == nil && len(res) == 1 && res[0].Error != nil {
		err = res[0].Error
	}
	if err != nil {
		return fmt.Errorf("bgp: announcing %s: %w", p, err)
	}
	sp.mu.Lock()
	sp.blocks[p.Masked()] = res[0].UUID
	sp.mu.Unlock()
	sp.log.Info("bgp: block announced", zap.Stringer("prefix", p))
	return nil
}

// WithdrawBlock withdraws a block AnnounceBlock announced.
func (sp *Speaker) WithdrawBlock(p netip.Prefix) error {
	sp.mu.Lock()
	id, ok := sp.blocks[p.Masked()]
	delete(sp.blocks, p.Masked())
	sp.mu.Unlock()
	if !ok {
		return nil
	}
	return sp.deletePath(apiutil.DeletePathRequest{UUIDs: []uuid.UUID{id}})
}

// HeldBlocks returns the peers' blocks in force, by prefix.
func (sp *Speaker) HeldBlocks() []Route {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var out []Route
	for _, r := range sp.heard {
		if r.Type == Block {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// Ignored returns how many peers' routes were ignored, by reason.
func (sp *Speaker) Ignored() map[string]uint64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	m := make(map[string]uint64, 4)
	for _, k := range []string{IgnoredOwn, IgnoredMalformed, IgnoredRouteType, IgnoredMaxPrefixes} {
		m[k] = sp.ignored[k]
	}
	return m
}

// AnnounceVNI announces our type 3 route for vni; index numbers the
// network for its RD (router-id:index), as FRR numbers its VNIs.
func (sp *Speaker) AnnounceVNI(vni uint32, index uint16) error {
	rd, err := bgp.NewRouteDistinguisherIPAddressAS(sp.id, index)
	if err != nil {
		return err
	}
	nlri, err := bgp.NewEVPNMulticastEthernetTagRoute(rd, 0, sp.local)
	if err != nil {
		return err
	}
	tunnel, err := bgp.NewIngressReplTunnelID(sp.local)
	if err != nil {
		return err
	}
	attrs, err := sp.attrs(vni,
		bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, vni, tunnel))
	if err != nil {
		return err
	}
	id, err := sp.add(nlri, attrs)
	if err != nil {
		return fmt.Errorf("bgp: announcing vni %d: %w", vni, err)
	}
	sp.mu.Lock()
	sp.routes[vni] = id
	sp.rds[vni] = rd
	sp.mu.Unlock()
	sp.log.Info("bgp: vni announced", zap.Uint32("vni", vni), zap.Stringer("rd", rd))
	return nil
}

// attrs are a route's attributes for vni: origin, next hop, the route
// target and VXLAN encapsulation communities, and more.
func (sp *Speaker) attrs(vni uint32, more ...bgp.PathAttributeInterface) ([]bgp.PathAttributeInterface, error) {
	nh, err := bgp.NewPathAttributeNextHop(sp.local)
	if err != nil {
		return nil, err
	}
	ecs := []bgp.ExtendedCommunityInterface{routeTarget(sp.asn, vni), bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN)}
	var rest []bgp.PathAttributeInterface
	for _, a := range more {
		if ec, ok := a.(*bgp.PathAttributeExtendedCommunities); ok {
			ecs = append(ecs, ec.Value...)
			continue
		}
		rest = append(rest, a)
	}
	return append([]bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0), // IGP
		nh,
		bgp.NewPathAttributeExtendedCommunities(ecs),
	}, rest...), nil
}

func (sp *Speaker) add(nlri bgp.NLRI, attrs []bgp.PathAttributeInterface) (uuid.UUID, error) {
	res, err := sp.addPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: attrs}}})
	if err == nil && len(res) == 1 && res[0].Error != nil {
		err = res[0].Error
	}
	if err != nil {
		return uuid.UUID{}, err
	}
	return res[0].UUID, nil
}

// AnnounceMAC announces, or announces again with another sequence number,
// our type 2 route for mac in vni, with ip when valid; seq is its MAC
// mobility sequence number, 0 for a MAC that never moved (RFC 7432
// section 15: the community is then left out). The VNI must be announced.
func (sp *Speaker) AnnounceMAC(vni uint32, mac fdb.MAC, ip netip.Addr, seq uint32) error {
	sp.mu.Lock()
	rd := sp.rds[vni]
	sp.mu.Unlock()
	if rd == nil {
		return fmt.Errorf("bgp: announcing %s: vni %d is not announced", mac, vni)
	}
	nlri, err := bgp.NewEVPNMacIPAdvertisementRoute(rd, bgp.EthernetSegmentIdentifier{}, 0, mac.String(), ip, []uint32{vni})
	if err != nil {
		return err
	}
	var more []bgp.PathAttributeInterface
	if seq > 0 {
		more = append(more, bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			bgp.NewMacMobilityExtended(seq, false)}))
	}
	attrs, err := sp.attrs(vni, more...)
	if err != nil {
		return err
	}
	id, err := sp.add(nlri, attrs)
	if err != nil {
		return fmt.Errorf("bgp: announcing %s in vni %d: %w", mac, vni, err)
	}
	sp.mu.Lock()
	sp.macs[macKey{vni, mac, ip}] = id
	sp.mu.Unlock()
	return nil
}

// WithdrawMAC withdraws our type 2 route for mac (with ip, if valid) in vni.
func (sp *Speaker) WithdrawMAC(vni uint32, mac fdb.MAC, ip netip.Addr) error {
	k := macKey{vni, mac, ip}
	sp.mu.Lock()
	id, ok := sp.macs[k]
	delete(sp.macs, k)
	sp.mu.Unlock()
	if !ok {
		return nil
	}
	return sp.deletePath(apiutil.DeletePathRequest{UUIDs: []uuid.UUID{id}})
}

// routeTarget is FRR's automatic route target of a VNI: AS:VNI, a
// two-octet AS where the AS fits one.
func routeTarget(asn, vni uint32) bgp.ExtendedCommunityInterface {
	if asn <= 0xffff {
		return bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, uint16(asn), vni, true)
	}
	return bgp.NewFourOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, asn, uint16(vni), true)
}

// WithdrawVNI withdraws our type 3 route for vni and every type 2 of it.
func (sp *Speaker) WithdrawVNI(vni uint32) error {
	sp.mu.Lock()
	id, ok := sp.routes[vni]
	delete(sp.routes, vni)
	delete(sp.rds, vni)
	var ids []uuid.UUID
	if ok {
		ids = append(ids, id)
	}
	for k, id := range sp.macs {
		if k.vni == vni {
			ids = append(ids, id)
			delete(sp.macs, k)
		}
	}
	sp.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	return sp.deletePath(apiutil.DeletePathRequest{UUIDs: ids})
}

// Neighbor is a peer's session as `vtepctl bgp neighbors` shows it.
type Neighbor struct {
	Address  netip.Addr
	ASN      uint32
	State    string
	Since    time.Time // when it came up, or went down; zero if never
	Received uint64    // EVPN routes the peer sent and we hold
	Accepted uint64
	Sent     uint64
	// Reason is the last session's end, when the peer said or we found one.
	Reason string
}

// Neighbors lists the peers, by address.
func (sp *Speaker) Neighbors() ([]Neighbor, error) {
	var out []Neighbor
	err := sp.s.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		var n Neighbor
		if p.State != nil {
			n.Address, _ = netip.ParseAddr(p.State.NeighborAddress)
			n.ASN = p.State.PeerAsn
			n.State = sessionState(bgp.FSMState(p.State.SessionState) - 1)
			n.Reason = p.State.DisconnectMessage
		}
		if !n.Address.IsValid() && p.Conf != nil {
			n.Address, _ = netip.ParseAddr(p.Conf.NeighborAddress)
			n.ASN = p.Conf.PeerAsn
		}
		if t := p.Timers.GetState(); t != nil {
			if n.State == "Established" && t.Uptime != nil {
				n.Since = t.Uptime.AsTime()
			} else if t.Downtime != nil && t.Downtime.AsTime().Unix() > 0 {
				n.Since = t.Downtime.AsTime()
			}
		}
		for _, a := range p.AfiSafis {
			if st := a.GetState(); st != nil {
				n.Received += st.Received
				n.Accepted += st.Accepted
				n.Sent += st.Advertised
			}
		}
		out = append(out, n)
	})
	slices.SortFunc(out, func(a, b Neighbor) int { return a.Address.Compare(b.Address) })
	return out, err
}

// RIBRoute is an EVPN route in the speaker's table, ours or a peer's, as
// `vtepctl evpn routes` shows it.
type RIBRoute struct {
	Route
	RD   string
	Best bool
	Own  bool
}

// Routes lists the EVPN table: every path of every route, ours included.
func (sp *Speaker) Routes() ([]RIBRoute, error) {
	var out []RIBRoute
	err := sp.s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_EVPN},
		func(_ bgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				nlri, ok := p.Nlri.(*bgp.EVPNNLRI)
				if !ok {
					continue
				}
				r, _ := sp.parse(p)
				rr := RIBRoute{Route: r, Best: p.Best, Own: !p.PeerAddress.IsValid()}
				rr.Key, rr.Peer = nlri.String(), p.PeerAddress
				if rr.Own {
					rr.Endpoint, rr.Seq = sp.local, seqOf(p)
				}
				rr.RD = rdOf(nlri)
				out = append(out, rr)
			}
		})
	slices.SortFunc(out, func(a, b RIBRoute) int {
		if a.VNI != b.VNI {
			return int(a.VNI) - int(b.VNI)
		}
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		if c := a.Key; c != b.Key {
			if c < b.Key {
				return -1
			}
			return 1
		}
		return a.Endpoint.Compare(b.Endpoint)
	})
	return out, err
}

func rdOf(n *bgp.EVPNNLRI) string {
	switch d := n.RouteTypeData.(type) {
	case *bgp.EVPNMacIPAdvertisementRoute:
		return d.RD.String()
	case *bgp.EVPNMulticastEthernetTagRoute:
		return d.RD.String()
	}
	return ""
}

func seqOf(p *apiutil.Path) uint32 {
	for _, a := range p.Attrs {
		if ec, ok := a.(*bgp.PathAttributeExtendedCommunities); ok {
			for _, c := range ec.Value {
				if m, ok := c.(*bgp.MacMobilityExtended); ok {
					return m.Sequence
				}
			}
		}
	}
	return 0
}

// Close withdraws everything, closes the sessions and stops the speaker.
func (sp *Speaker) Close() error {
	if sp.cancel != nil {
		sp.cancel()
	}
	// Stop stops the sessions (StopBgp, which it logs the failure of)
	// and the rest of the server.
	sp.s.Stop()
	return nil
}

// RouterID is the speaker's router id.
func (sp *Speaker) RouterID() netip.Addr { return sp.id }
