package node

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/bgp"
)

// blockNode starts a node at local with ipip0 (10.244.x.1/16) announcing
// blocks, its speaker on port peering with 127.0.0.1 at peerPort in AS
// 64512 (Calico's).
func blockNode(t *testing.T, local string, port, peerPort uint16, passive bool, addr string, blocks ...string) (*Node, *fakeHost) {
	t.Helper()
	n := ipipNet("ipip0")
	n.Address = netip.MustParsePrefix(addr)
	n.BGP = true
	for _, b := range blocks {
		n.Blocks = append(n.Blocks, netip.MustParsePrefix(b))
	}
	cfg := testConfig(n)
	cfg.Underlay.Local = netip.MustParseAddr(local)
	cfg.BGP = &control.BGP{ASN: 64512, ListenPort: int(port), Neighbors: []control.Neighbor{
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64512, Port: peerPort, Passive: passive}}}
	node, f, _ := startNode(t, cfg)
	return node, f
}

func routesOf(t *testing.T, n *Node) []control.RouteInfo {
	t.Helper()
	rs, err := n.RouteShow("ipip0")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestBlocks: a node's blocks become IPIP and kernel routes at its peer,
// via its underlay address, shown as proto bgp; a block overlapping the
// peer's own and a default route are ignored and counted; a static route
// for the same prefix wins, and its removal lets the block in; the node
// stopped, its routes go.
func TestBlocks(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a, fa := blockNode(t, "10.0.0.1", pa, pb, true, "10.244.1.1/16", "10.244.1.0/24")
	b, _ := blockNode(t, "10.0.0.2", pb, pa, false, "10.244.2.1/16", "10.244.2.0/24", "10.244.1.128/25", "0.0.0.0/0")
	want := control.RouteInfo{Prefix: "10.244.2.0/24", Via: "10.0.0.2", Proto: control.ProtoBGP}
	waitForLong(t, "a to route b's block", func() bool { return slices.Contains(routesOf(t, a), want) })
	waitForLong(t, "the bad blocks counted", func() bool {
		info, _ := a.BGP()
		return info.Ignored["own_block"] == 1 && info.Ignored["default"] == 1
	})
	if got := routesOf(t, a); len(got) != 1 {
		t.Errorf("a's routes: %v, want b's block alone", got)
	}
	if got := fa.kernelRoutes("ipip0"); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.244.2.0/24")}) {
		t.Errorf("a's kernel routes into ipip0: %v, want b's block", got)
	}
	if len(a.cfg.Networks[0].Routes) != 0 {
		t.Errorf("a's running config routes: %v, want none (BGP's are not the file's)", a.cfg.Networks[0].Routes)
	}

	// A static route for the prefix wins; removed, BGP's comes back.
	static := control.RouteInfo{Prefix: "10.244.2.0/24", Via: "10.0.0.9", Proto: control.ProtoStatic}
	if err := a.RouteAdd("ipip0", netip.MustParsePrefix("10.244.2.0/24"), netip.MustParseAddr("10.0.0.9")); err != nil {
		t.Fatal(err)
	}
	if got := routesOf(t, a); !slices.Equal(got, []control.RouteInfo{static}) {
		t.Errorf("after a static route: %v, want it alone", got)
	}
	if err := a.RouteDel("ipip0", netip.MustParsePrefix("10.244.2.0/24")); err != nil {
		t.Fatal(err)
	}
	if got := routesOf(t, a); !slices.Equal(got, []control.RouteInfo{want}) {
		t.Errorf("after the static route went: %v, want BGP's back", got)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, "a to drop b's block", func() bool { return len(routesOf(t, a)) == 0 })
	if got := fa.kernelRoutes("ipip0"); len(got) != 0 {
		t.Errorf("a's kernel routes after b stopped: %v, want none", got)
	}
}

// TestBlockProblem: which peer blocks a node refuses, and why.
func TestBlockProblem(t *testing.T) {
	d := &Node{local: netip.MustParseAddr("10.0.0.1")}
	c := control.Network{Blocks: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}}
	route := func(p, via string) bgp.Route {
		return bgp.Route{Type: bgp.Block, Prefix: netip.MustParsePrefix(p), Endpoint: netip.MustParseAddr(via)}
	}
	for _, tc := range []struct {
		r     bgp.Route
		accDf bool
		want  string
	}{
		{route("10.244.2.0/24", "10.0.0.2"), false, ""},
		{route("10.244.1.0/26", "10.0.0.2"), false, ignoredOwnBlock},
		{route("10.244.0.0/16", "10.0.0.2"), false, ignoredOwnBlock},
		{route("0.0.0.0/0", "10.0.0.2"), false, ignoredDefault},
		{route("0.0.0.0/0", "10.0.0.2"), true, ""},
		{route("10.244.2.0/24", "fd00::2"), false, ignoredNextHop},
		{route("10.244.2.0/24", "224.0.0.5"), false, ignoredNextHop},
	} {
		c.AcceptDefault = tc.accDf
		if got := d.blockProblem(c, tc.r); got != tc.want {
			t.Errorf("%s via %s: got %q, want %q", tc.r.Prefix, tc.r.Endpoint, got, tc.want)
		}
	}
}
