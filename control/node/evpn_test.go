package node

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/bgp"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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
	n, _ := evpnNodeHost(t, local, port, peerPort, passive, also43)
	return n
}

// evpnNodeHost is evpnNode with its fake host, whose devices it has.
func evpnNodeHost(t *testing.T, local string, port, peerPort uint16, passive, also43 bool) (*Node, *fakeHost) {
	t.Helper()
	vx42 := vxlanNet("vx42", 42)
	vx42.EVPN = true
	vx43 := vxlanNet("vx43", 43)
	vx43.EVPN = also43
	cfg := testConfig(vx42, vx43)
	cfg.Underlay.Local = netip.MustParseAddr(local)
	cfg.BGP = &control.BGP{ASN: 65000, ListenPort: int(port), Neighbors: []control.Neighbor{
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000, Port: peerPort, Passive: passive}}}
	n, f, _ := startNode(t, cfg)
	return n, f
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

// fdbEntry is the entry for mac in the network of vni on n.
func fdbEntry(n *Node, vni uint32, mac fdb.MAC) (fdb.Entry, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, nw := range n.vxlanNets {
		if nw.VNI() == vni {
			for _, e := range nw.Table().Entries() {
				if e.MAC == mac {
					return e, true
				}
			}
		}
	}
	return fdb.Entry{}, false
}

// TestEVPNHosts: a host seen on a's device (its ARP giving its address)
// is announced as type 2 routes; b installs it as an extern FDB entry
// pointing at a, and answers ARP for its address from b's own device
// instead of flooding. The host then shows up on b's device: b announces
// it with the next MAC mobility sequence number, and a withdraws its own
// route and points its entry at b. Withdrawn everywhere when b stops.
func TestEVPNHosts(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a, fa := evpnNodeHost(t, "10.0.0.1", pa, pb, true, false)
	b, fb := evpnNodeHost(t, "10.0.0.2", pb, pa, false, false)
	ea, eb := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	waitForLong(t, "the session", func() bool { return len(flood(a, 42)) == 1 && len(flood(b, 42)) == 1 })

	host := fdb.MAC{0x02, 0, 0, 0, 0, 0x77}
	asker := fdb.MAC{0x02, 0, 0, 0, 0, 0x88}
	hostIP, askerIP := netip.MustParseAddr("192.168.42.7"), netip.MustParseAddr("192.168.42.8")
	bcast := fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	fa.device(t, "vx42").link.Inject(linktest.ARPFrame(bcast, host, encap.ARPRequest, hostIP, askerIP))
	waitForLong(t, "b to install the host at a", func() bool {
		e, ok := fdbEntry(b, 42, host)
		return ok && e.Extern && e.Remote == ea
	})

	// ARP for the host's address, asked on b, is answered on b.
	lb := fb.device(t, "vx42").link
	drain(lb)
	waitForLong(t, "b to answer ARP for the host", func() bool {
		lb.Inject(linktest.ARPFrame(bcast, asker, encap.ARPRequest, askerIP, hostIP))
		select {
		case f := <-lb.Written():
			return encap.Ethernet(f).EtherType() == encap.EtherTypeARP && encap.ARP(f[encap.EthernetHeaderLen:]).Op() == encap.ARPReply &&
				encap.ARP(f[encap.EthernetHeaderLen:]).SenderMAC() == host
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	waitFor(t, "b's arp_suppressed to count it", func() bool { return stats(t, b, "vx42").ARPSuppressed > 0 })

	// The host moves to b.
	lb.Inject(linktest.ARPFrame(bcast, host, encap.ARPRequest, hostIP, askerIP))
	waitForLong(t, "a to point the host at b", func() bool {
		e, ok := fdbEntry(a, 42, host)
		return ok && e.Extern && e.Remote == eb
	})
	if e, ok := fdbEntry(b, 42, host); ok {
		t.Errorf("b still has an entry for its own host: %+v", e)
	}
	waitForLong(t, "a to stop announcing the host", func() bool {
		rs, err := a.evpn.speaker.Routes()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Own && r.Type == bgp.MACIP && r.MAC == host {
				return false
			}
		}
		return true
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, "a to drop b's host", func() bool { _, ok := fdbEntry(a, 42, host); return !ok })
}

// drain empties what the device was given.
func drain(l *linktest.Link) {
	for {
		select {
		case <-l.Written():
		default:
			return
		}
	}
}

// stats are network name's counters on n.
func stats(t *testing.T, n *Node, name string) dataplane.Stats {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, nw := range n.vxlanNets {
		if nw.Name() == name {
			return nw.Counters.Load()
		}
	}
	t.Fatalf("no network %s", name)
	return dataplane.Stats{}
}

// TestEVPNReload: a reload adds and removes BGP neighbors without touching
// the sessions that stay; a flood list the file changes keeps what BGP put
// in it; a network restarted by the reload gets the routes the speaker
// holds at once; and a changed speaker is refused, changing nothing.
func TestEVPNReload(t *testing.T) {
	pa, pb, pc := freePort(t), freePort(t), freePort(t)
	ea := netip.MustParseAddr("10.0.0.1")
	nb := evpnNode(t, "10.0.0.2", pb, pa, true, false)
	nc := evpnNode(t, "10.0.0.3", pc, pa, true, false)
	vx42 := vxlanNet("vx42", 42)
	vx42.EVPN = true
	cfg := testConfig(vx42)
	cfg.Underlay.Local = ea
	toB := control.Neighbor{Address: netip.MustParseAddr("127.0.0.2"), ASN: 65000, Port: pb}
	toC := control.Neighbor{Address: netip.MustParseAddr("127.0.0.3"), ASN: 65000, Port: pc}
	cfg.BGP = &control.BGP{ASN: 65000, ListenPort: int(pa), Neighbors: []control.Neighbor{toB}}
	na, _, _ := startNode(t, cfg)
	eb, ec := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	waitForLong(t, "a and b to flood to each other", func() bool {
		return slices.Equal(flood(na, 42), []netip.Addr{eb}) && slices.Equal(flood(nb, 42), []netip.Addr{ea})
	})
	since := func(addr string) float64 {
		info, err := na.BGP()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range info.Neighbors {
			if n.Address == addr && n.State == "Established" {
				return n.UptimeSeconds
			}
		}
		return -1
	}
	time.Sleep(1100 * time.Millisecond)
	up := since("127.0.0.2")

	// c added, and a flood-list entry from the file: b's session stays.
	next := *cfg
	next.Networks = []control.Network{vx42}
	next.Networks[0].Remotes = []netip.Addr{netip.MustParseAddr("10.0.0.9")}
	bgp := *cfg.BGP
	bgp.Neighbors = []control.Neighbor{toB, toC}
	next.BGP = &bgp
	if err := na.Reload(&next); err != nil {
		t.Fatalf("reload adding c: %v", err)
	}
	waitForLong(t, "c to flood to a", func() bool { return slices.Equal(flood(nc, 42), []netip.Addr{ea}) })
	// c's route reaches a in its own update, which may come after a's
	// reached c: wait for it rather than race it.
	waitForLong(t, "a to flood to b, c and the file's 10.0.0.9", func() bool {
		got := flood(na, 42)
		return slices.Contains(got, eb) && slices.Contains(got, ec) && slices.Contains(got, netip.MustParseAddr("10.0.0.9"))
	})
	if now := since("127.0.0.2"); now < up || up < 1 {
		t.Errorf("b's session up %vs before the reload, %vs after: want it not reset", up, now)
	}

	// A setting that restarts vx42: the held routes come back at once.
	next2 := next
	restarted := next.Networks[0]
	restarted.Limit = 100
	next2.Networks = []control.Network{restarted}
	if err := na.Reload(&next2); err != nil {
		t.Fatalf("reload restarting vx42: %v", err)
	}
	if got := flood(na, 42); !slices.Contains(got, eb) || !slices.Contains(got, ec) {
		t.Errorf("a's flood list right after vx42 restarted: %v, want b and c back from the speaker", got)
	}

	// b removed: b's list forgets a.
	next3 := next2
	bgp3 := bgp
	bgp3.Neighbors = []control.Neighbor{toC}
	next3.BGP = &bgp3
	if err := na.Reload(&next3); err != nil {
		t.Fatalf("reload removing b: %v", err)
	}
	waitForLong(t, "b to forget a", func() bool { return len(flood(nb, 42)) == 0 })

	// Another AS is refused whole.
	next4 := next3
	bgp4 := bgp3
	bgp4.ASN = 65001
	bgp4.Neighbors = nil
	next4.BGP = &bgp4
	if err := na.Reload(&next4); !errors.Is(err, ErrReloadBGP) {
		t.Fatalf("reload with another asn: got %v, want ErrReloadBGP", err)
	}
	if info, _ := na.BGP(); info.ASN != 65000 || len(info.Neighbors) != 1 {
		t.Errorf("after the refused reload: asn %d, %d neighbors; want 65000 and c", info.ASN, len(info.Neighbors))
	}
}

// TestBGPWrongAS: a neighbor configured with the wrong AS never gets a
// session, and the refusal is logged as a warning naming the neighbor.
func TestBGPWrongAS(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	vx := vxlanNet("vx42", 42)
	vx.EVPN = true
	ca := testConfig(vx)
	ca.BGP = &control.BGP{ASN: 65000, ListenPort: int(pa), Neighbors: []control.Neighbor{
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65001, Port: pb}}} // b is in 65000
	cb := testConfig(vx)
	cb.Underlay.Local = netip.MustParseAddr("10.0.0.2")
	cb.BGP = &control.BGP{ASN: 65000, ListenPort: int(pb), Neighbors: []control.Neighbor{
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000, Port: pa, Passive: true}}}
	a, _, la := startNode(t, ca)
	b, _, lb := startNode(t, cb)
	waitForLong(t, "the refusal logged", func() bool {
		for _, logs := range []*observer.ObservedLogs{la, lb} {
			for _, e := range logs.FilterMessageSnippet("bgp neighbor down").All() {
				if e.Level == zap.WarnLevel && e.ContextMap()["address"] == "127.0.0.1" {
					return true
				}
			}
		}
		return false
	})
	for _, n := range []*Node{a, b} {
		info, err := n.BGP()
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Neighbors) != 1 || info.Neighbors[0].State == "Established" {
			t.Errorf("sessions: %+v, want one, not established", info.Neighbors)
		}
	}
}

// TestEVPNHostAgesOut: a host behind a's device that falls silent ages out
// after the network's ageing time, and its route is withdrawn at b; the
// device's own MAC, noted every second, stays announced.
func TestEVPNHostAgesOut(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	start := func(local string, port, peer uint16, passive bool) (*Node, *fakeHost) {
		vx := vxlanNet("vx42", 42)
		vx.EVPN, vx.Ageing = true, 2*time.Second
		cfg := testConfig(vx)
		cfg.Underlay.Local = netip.MustParseAddr(local)
		cfg.BGP = &control.BGP{ASN: 65000, ListenPort: int(port), Neighbors: []control.Neighbor{
			{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000, Port: peer, Passive: passive}}}
		n, f, _ := startNode(t, cfg)
		return n, f
	}
	_, fa := start("10.0.0.1", pa, pb, true)
	b, _ := start("10.0.0.2", pb, pa, false)
	host := fdb.MAC{0x02, 0, 0, 0, 0, 0x77}
	own, err := fa.host().DeviceMAC("vx42")
	if err != nil {
		t.Fatal(err)
	}
	fa.device(t, "vx42").link.Inject(linktest.ARPFrame(fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, host, encap.ARPRequest,
		netip.MustParseAddr("192.168.42.7"), netip.MustParseAddr("192.168.42.8")))
	waitForLong(t, "b to install the host and a's own MAC", func() bool {
		_, h := fdbEntry(b, 42, host)
		_, o := fdbEntry(b, 42, own)
		return h && o
	})
	waitForLong(t, "the silent host to age out at a and go from b", func() bool {
		_, h := fdbEntry(b, 42, host)
		return !h
	})
	if _, o := fdbEntry(b, 42, own); !o {
		t.Error("a's own device MAC went from b too; want it kept while it is the device's")
	}
}
