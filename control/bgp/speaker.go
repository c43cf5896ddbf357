// Package bgp is vtepd's embedded BGP speaker (GoBGP): it announces the
// VXLAN networks with EVPN on as RFC 7432 / RFC 8365 type 3 routes
// (inclusive multicast Ethernet tag: "send this VNI's broadcast and
// unknown unicast to me") and reports the peers' such routes, so that a
// network's flood list follows the fabric instead of being typed in. The
// routes carry what an FRR peer with advertise-all-vni imports without
// configuration: RD router-id:index, route target AS:VNI, the VXLAN
// encapsulation community and a PMSI tunnel attribute of ingress
// replication with the VNI as label.
//
// It touches no packet; the node turns what it reports into flood lists.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
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
)

// IMET is a peer's type 3 route for a VNI: its VXLAN endpoint wants the
// VNI's flooded frames, or, Withdrawn, no longer does.
type IMET struct {
	VNI       uint32
	Endpoint  netip.Addr
	Withdrawn bool
}

// Speaker is one running BGP speaker.
type Speaker struct {
	s     *server.BgpServer
	log   *zap.Logger
	local netip.Addr // our VXLAN endpoint, the routes' next hop and tunnel
	id    netip.Addr
	asn   uint32

	mu     sync.Mutex
	routes map[uint32]uuid.UUID // VNI -> the path we announce for it
	cancel context.CancelFunc
	// heard are the peers' type 3 routes in force, by NLRI: a withdrawal
	// may come without the attributes that said its VNI and endpoint.
	heard map[string]IMET
}

// Start runs a speaker of cfg whose VXLAN endpoint is local, and hands
// every peer's type 3 route, and its withdrawal, to report. report runs on
// the speaker's goroutine and must not block on anything that waits for
// the speaker.
func Start(cfg *control.BGP, local netip.Addr, log *zap.Logger, report func(IMET)) (*Speaker, error) {
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
		heard: map[string]IMET{}}
	port := int32(cfg.ListenPort)
	if port == 0 {
		port = control.DefaultBGPPort
	}
	if err := s.StartBgp(context.Background(), &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: id.String(), ListenPort: port,
	}}); err != nil {
		s.Stop()
		return nil, control.Refused("bgp", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp.cancel = cancel
	err := s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnBestPath: func(paths []*apiutil.Path, _ time.Time) {
			for _, p := range paths {
				for _, r := range sp.imets(p) {
					report(r)
				}
			}
		},
		OnPeerUpdate: func(e *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if e.Type == apiutil.PEER_EVENT_STATE {
				log.Info("bgp neighbor", zap.Stringer("address", e.Peer.State.NeighborAddress),
					zap.String("state", e.Peer.State.SessionState.String()))
			}
		},
	}, server.WatchBestPath(true), server.WatchPeer())
	if err != nil {
		sp.Close()
		return nil, control.Refused("bgp", err)
	}
	for i, n := range cfg.Neighbors {
		if err := sp.addPeer(n); err != nil {
			sp.Close()
			return nil, control.Refused(fmt.Sprintf("bgp.neighbors[%d]", i), err)
		}
	}
	log.Info("bgp speaker running", zap.Uint32("asn", cfg.ASN), zap.Stringer("router_id", id), zap.Int32("port", port))
	return sp, nil
}

func (sp *Speaker) addPeer(n control.Neighbor) error {
	evpn := &api.AfiSafi{Config: &api.AfiSafiConfig{
		Family: &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}, Enabled: true}}
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN, AuthPassword: n.Password},
		Transport: &api.Transport{RemotePort: uint32(n.Port), PassiveMode: n.Passive},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 5}},
		AfiSafis:  []*api.AfiSafi{evpn},
	}
	return sp.s.AddPeer(context.Background(), &api.AddPeerRequest{Peer: p})
}

// imets reads what a best-path change p says of the peers' type 3 routes:
// nothing for our own, another route type or family, or one without a
// usable VNI or endpoint; a withdrawal of what the route said before.
func (sp *Speaker) imets(p *apiutil.Path) []IMET {
	if p.Family != bgp.RF_EVPN || !p.PeerAddress.IsValid() {
		return nil // not EVPN, or our own
	}
	nlri, ok := p.Nlri.(*bgp.EVPNNLRI)
	if !ok || nlri.RouteType != bgp.EVPN_INCLUSIVE_MULTICAST_ETHERNET_TAG {
		return nil
	}
	route, ok := nlri.RouteTypeData.(*bgp.EVPNMulticastEthernetTagRoute)
	if !ok {
		return nil
	}
	key := nlri.String()
	if p.Withdrawal {
		sp.mu.Lock()
		r, ok := sp.heard[key]
		delete(sp.heard, key)
		sp.mu.Unlock()
		if !ok {
			return nil
		}
		r.Withdrawn = true
		return []IMET{r}
	}
	r := IMET{Endpoint: route.IPAddress}
	vni, haveVNI := uint32(0), false
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributePmsiTunnel:
			if id, ok := a.TunnelID.(*bgp.IngressReplTunnelID); ok {
				r.Endpoint = id.Value
			}
			// RFC 8365 section 5.1.3: the label carries the VNI.
			vni, haveVNI = a.Label, true
		case *bgp.PathAttributeExtendedCommunities:
			for _, c := range a.Value {
				if rt, ok := c.(*bgp.TwoOctetAsSpecificExtended); ok && rt.SubType == bgp.EC_SUBTYPE_ROUTE_TARGET && !haveVNI {
					vni = rt.LocalAdmin
				}
			}
		}
	}
	if vni > control.MaxVNI || !r.Endpoint.IsValid() || r.Endpoint == sp.local {
		return nil
	}
	r.VNI = vni
	sp.mu.Lock()
	old, had := sp.heard[key]
	sp.heard[key] = r
	sp.mu.Unlock()
	if had && old != r {
		// The same route now says another VNI or endpoint: the old goes.
		old.Withdrawn = true
		return []IMET{old, r}
	}
	return []IMET{r}
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
	nh, err := bgp.NewPathAttributeNextHop(sp.local)
	if err != nil {
		return err
	}
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0), // IGP
		nh,
		bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, vni, tunnel),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			routeTarget(sp.asn, vni),
			bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN),
		}),
	}
	res, err := sp.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: attrs}}})
	if err == nil && len(res) == 1 && res[0].Error != nil {
		err = res[0].Error
	}
	if err != nil {
		return fmt.Errorf("bgp: announcing vni %d: %w", vni, err)
	}
	sp.mu.Lock()
	sp.routes[vni] = res[0].UUID
	sp.mu.Unlock()
	sp.log.Info("bgp: vni announced", zap.Uint32("vni", vni), zap.Stringer("rd", rd))
	return nil
}

// routeTarget is FRR's automatic route target of a VNI: AS:VNI, a
// two-octet AS where the AS fits one.
func routeTarget(asn, vni uint32) bgp.ExtendedCommunityInterface {
	if asn <= 0xffff {
		return bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, uint16(asn), vni, true)
	}
	return bgp.NewFourOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, asn, uint16(vni), true)
}

// WithdrawVNI withdraws our type 3 route for vni.
func (sp *Speaker) WithdrawVNI(vni uint32) error {
	sp.mu.Lock()
	id, ok := sp.routes[vni]
	delete(sp.routes, vni)
	sp.mu.Unlock()
	if !ok {
		return nil
	}
	return sp.s.DeletePath(apiutil.DeletePathRequest{UUIDs: []uuid.UUID{id}})
}

// Close withdraws everything, closes the sessions and stops the speaker.
func (sp *Speaker) Close() error {
	if sp.cancel != nil {
		sp.cancel()
	}
	err := sp.s.StopBgp(context.Background(), &api.StopBgpRequest{})
	sp.s.Stop()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
