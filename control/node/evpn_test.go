package node

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
)

// freePort is a TCP port on 127.0.0.1 nobody listens on, for a speaker.
func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// evpnNode starts a node at local with vx42 (evpn) and vx43 (evpn only
// with also43), whose speaker listens on port and peers with 127.0.0.1 at
// peerPort, iBGP in AS 65000; passive waits for the peer to dial.
func evpnNode(t *testing.T, local string, port, peerPort uint16, passive, also43 bool) *Node {
	t.Helper()
	vx42 := vxlanNet("vx42", 42)
	vx42.EVPN = true
	vx43 := vxlanNet("vx43", 43)
	vx43.EVPN = also43
	cfg := testConfig(vx42, vx43)
	cfg.Underlay.Local = netip.MustParseAddr(local)
	cfg.BGP = &control.BGP{ASN: 65000, ListenPort: int(port), Neighbors: []control.Neighbor{
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000, Port: peerPort, Passive: passive}}}
	n, _, _ := startNode(t, cfg)
	return n
}

// flood is the flood list of the network of vni on n.
func flood(n *Node, vni uint32) []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, nw := range n.vxlanNets {
		if nw.VNI() == vni {
			return nw.Table().Flood()
		}
	}
	return nil
}

// TestEVPNFloodLists: two nodes whose speakers peer over loopback learn
// each other's VXLAN endpoint for every VNI both serve with evpn, from
// type 3 routes alone; a VNI one serves without evpn learns nothing; a
// network removed, and a node stopped, take their endpoint out of the
// other's list.
func TestEVPNFloodLists(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a := evpnNode(t, "10.0.0.1", pa, pb, true, true)
	b := evpnNode(t, "10.0.0.2", pb, pa, false, false)
	ea, eb := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	waitForLong(t, "each node's vx42 to flood to the other", func() bool {
		return slices.Equal(flood(a, 42), []netip.Addr{eb}) && slices.Equal(flood(b, 42), []netip.Addr{ea})
	})
	if got := flood(b, 43); len(got) != 0 {
		t.Errorf("vx43 on b, not evpn: flood list %v, want none", got)
	}
	if got := flood(a, 43); len(got) != 0 {
		t.Errorf("vx43 on a: flood list %v, want none (b does not announce 43)", got)
	}

	if err := a.NetworkDel("vx42"); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, "b's vx42 to stop flooding to a", func() bool { return len(flood(b, 42)) == 0 })

	vx42 := vxlanNet("vx42", 42)
	vx42.EVPN = true
	if err := a.NetworkAdd(vx42); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, "b's vx42 to flood to a again", func() bool { return slices.Equal(flood(b, 42), []netip.Addr{ea}) })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, "b's vx42 to forget a, stopped", func() bool { return len(flood(b, 42)) == 0 })
	if got := slices.Clone(b.cfg.Networks[0].Remotes); len(got) != 0 {
		t.Errorf("b's running config's remotes: %v, want none (what BGP learns is not the file's)", got)
	}
}

// waitForLong polls cond for up to 30 seconds: a BGP session takes a few
// to come up.
func waitForLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
