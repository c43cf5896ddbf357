package bgp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"go.uber.org/zap"

	"github.com/vtepd/vtepd/fdb"
)

var (
	local = netip.MustParseAddr("10.0.0.1")
	peerA = netip.MustParseAddr("10.0.0.2")
	hostM = fdb.MAC{0x02, 0, 0, 0, 0, 0x09}
)

func testSpeaker() *Speaker {
	return &Speaker{log: zap.NewNop(), local: local, id: local, asn: 65000,
		heard: map[string]Route{}, perPeer: map[netip.Addr]int{}, limits: map[netip.Addr]int{}, ignored: map[string]uint64{}}
}

func rd(t *testing.T, id string, n uint16) bgp.RouteDistinguisherInterface {
	t.Helper()
	r, err := bgp.NewRouteDistinguisherIPAddressAS(netip.MustParseAddr(id), n)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// imet is a peer's type 3 route as FRR sends it.
func imet(t *testing.T, from string, vni uint32) *apiutil.Path {
	t.Helper()
	ep := netip.MustParseAddr(from)
	nlri, _ := bgp.NewEVPNMulticastEthernetTagRoute(rd(t, from, 1), 0, ep)
	tunnel, _ := bgp.NewIngressReplTunnelID(ep)
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, PeerAddress: ep, PeerID: ep, Attrs: []bgp.PathAttributeInterface{
		bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, vni, tunnel),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{routeTarget(65000, vni)}),
	}}
}

// macip is a peer's type 2 route; seq > 0 adds MAC mobility.
func macip(t *testing.T, from string, vni uint32, mac fdb.MAC, ip string, seq uint32) *apiutil.Path {
	t.Helper()
	ep := netip.MustParseAddr(from)
	var a netip.Addr
	if ip != "" {
		a = netip.MustParseAddr(ip)
	}
	nlri, _ := bgp.NewEVPNMacIPAdvertisementRoute(rd(t, from, 1), bgp.EthernetSegmentIdentifier{}, 0, net.HardwareAddr(mac[:]).String(), a, []uint32{vni})
	ecs := []bgp.ExtendedCommunityInterface{routeTarget(65000, vni), bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN)}
	if seq > 0 {
		ecs = append(ecs, bgp.NewMacMobilityExtended(seq, false))
	}
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, PeerAddress: ep, PeerID: ep, Attrs: []bgp.PathAttributeInterface{
		&bgp.PathAttributeMpReachNLRI{Nexthop: ep},
		bgp.NewPathAttributeExtendedCommunities(ecs),
	}}
}

// block is a peer's IPv4 unicast route for prefix, next hop from.
func block(t *testing.T, from, prefix string) *apiutil.Path {
	t.Helper()
	ep := netip.MustParseAddr(from)
	nlri, err := bgp.NewIPAddrPrefix(netip.MustParsePrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	nh, _ := bgp.NewPathAttributeNextHop(ep)
	return &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, PeerAddress: ep, PeerID: ep,
		Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), nh}}
}

// TestReadRoutes: what the speaker makes of each kind of route a peer
// sends, and of each it must ignore.
func TestReadRoutes(t *testing.T) {
	own := imet(t, "10.0.0.1", 42)
	ownID := macip(t, "10.0.0.3", 42, hostM, "", 0)
	ownID.PeerID = local // reflected back to us
	group := macip(t, "10.0.0.2", 42, fdb.MAC{0x01, 0, 0x5e, 0, 0, 1}, "", 0)
	bigVNI := imet(t, "10.0.0.2", 1<<24)
	ad := bgp.NewEVPNEthernetAutoDiscoveryRoute(rd(t, "10.0.0.2", 1), bgp.EthernetSegmentIdentifier{}, 0, 42)
	typ1 := &apiutil.Path{Family: bgp.RF_EVPN, Nlri: ad, PeerAddress: peerA, PeerID: peerA}
	tests := []struct {
		name   string
		path   *apiutil.Path
		want   Route
		reason string
	}{
		{"type 3", imet(t, "10.0.0.2", 42), Route{Type: IMET, VNI: 42, Endpoint: peerA}, ""},
		{"type 2, MAC only", macip(t, "10.0.0.2", 42, hostM, "", 0), Route{Type: MACIP, VNI: 42, Endpoint: peerA, MAC: hostM}, ""},
		{"type 2 with an address and a move", macip(t, "10.0.0.2", 7, hostM, "192.168.42.9", 3),
			Route{Type: MACIP, VNI: 7, Endpoint: peerA, MAC: hostM, IP: netip.MustParseAddr("192.168.42.9"), Seq: 3}, ""},
		{"an IPv4 block", block(t, "10.0.0.2", "10.244.2.0/24"),
			Route{Type: Block, Endpoint: peerA, Prefix: netip.MustParsePrefix("10.244.2.0/24")}, ""},
		{"a block next hop ours", block(t, "10.0.0.1", "10.244.1.0/24"), Route{}, IgnoredOwn},
		{"our own endpoint", own, Route{}, IgnoredOwn},
		{"our router id", ownID, Route{}, IgnoredOwn},
		{"a group MAC", group, Route{}, IgnoredMalformed},
		{"a VNI past 24 bits", bigVNI, Route{}, IgnoredMalformed},
		{"type 1", typ1, Route{}, IgnoredRouteType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := testSpeaker()
			got := sp.read(tc.path)
			if tc.reason != "" {
				if len(got) != 0 || sp.Ignored()[tc.reason] != 1 {
					t.Errorf("got %+v, ignored %v; want nothing and %s counted", got, sp.Ignored(), tc.reason)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %+v, want one route", got)
			}
			r := got[0]
			r.Key, r.Peer = "", netip.Addr{}
			if r != tc.want {
				t.Errorf("got %+v\nwant %+v", r, tc.want)
			}
			// The withdrawal carries no attributes; it still names the route.
			w := *tc.path
			w.Withdrawal, w.Attrs = true, nil
			back := sp.read(&w)
			if len(back) != 1 || !back[0].Withdrawn || back[0].MAC != tc.want.MAC || back[0].VNI != tc.want.VNI ||
				back[0].Endpoint != tc.want.Endpoint || back[0].Prefix != tc.want.Prefix {
				t.Errorf("withdrawal: got %+v", back)
			}
			if len(sp.heard) != 0 || len(sp.perPeer) != 0 {
				t.Errorf("after the withdrawal: heard %v, per peer %v; want both empty", sp.heard, sp.perPeer)
			}
		})
	}
}

// TestMaxPrefixes: past a neighbor's limit, new routes are ignored and
// counted; a route already held may change; a withdrawal makes room.
func TestMaxPrefixes(t *testing.T) {
	sp := testSpeaker()
	sp.limits[peerA] = 2
	m := func(last byte) fdb.MAC { return fdb.MAC{0x02, 0, 0, 0, 0, last} }
	for i := byte(1); i <= 3; i++ {
		sp.read(macip(t, "10.0.0.2", 42, m(i), "", 0))
	}
	if len(sp.heard) != 2 || sp.Ignored()[IgnoredMaxPrefixes] != 1 {
		t.Fatalf("held %d, ignored %v; want 2 and one max_prefixes", len(sp.heard), sp.Ignored())
	}
	if got := sp.read(macip(t, "10.0.0.2", 42, m(1), "", 4)); len(got) != 2 || !got[0].Withdrawn || got[1].Seq != 4 {
		t.Errorf("a held route updated at the limit: got %+v, want the old withdrawn and the new", got)
	}
	w := macip(t, "10.0.0.2", 42, m(2), "", 0)
	w.Withdrawal = true
	sp.read(w)
	if got := sp.read(macip(t, "10.0.0.2", 42, m(3), "", 0)); len(got) != 1 {
		t.Errorf("after a withdrawal: got %+v, want the route taken", got)
	}
}

// TestRouteTarget: the automatic route target as FRR derives it, AS:VNI,
// in the two-octet AS form where the AS fits one (RFC 4360), else the
// four-octet AS form (RFC 5668).
func TestRouteTarget(t *testing.T) {
	for _, tc := range []struct {
		asn, vni uint32
		want     string
	}{
		{65000, 42, "65000:42"},
		{64512, 10100, "64512:10100"},
		{4200000000, 42, "64086.59904:42"}, // asdot: GoBGP prints a four-octet AS so
	} {
		if got := routeTarget(tc.asn, tc.vni).String(); got != tc.want {
			t.Errorf("routeTarget(%d, %d): got %s, want %s", tc.asn, tc.vni, got, tc.want)
		}
	}
	// The RD, router-id:index, as FRR's rd auto shows it.
	if got := rd(t, "10.0.0.1", 2).String(); got != "10.0.0.1:2" {
		t.Errorf("RD: got %s, want 10.0.0.1:2", got)
	}
}
