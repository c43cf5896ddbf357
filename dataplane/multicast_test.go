package dataplane_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// groupHost is a VTEP whose underlay joins groups on the fake wire.
func groupHost(t *testing.T, w *linktest.Wire, addr string, vni uint32, group string) (*dataplane.Underlay, *dataplane.Network, *linktest.Link) {
	t.Helper()
	a := netip.MustParseAddr(addr)
	u, err := dataplane.NewUnderlay(dataplane.UnderlayConfig{
		Local: a, Port: 4789,
		OpenGroup: func(g netip.Addr, dev string, port uint16) (dataplane.Conn, error) {
			return w.JoinGroup(netip.AddrPortFrom(g, port), a), nil
		},
	}, w.Conn(netip.AddrPortFrom(a, 4789)), nil)
	if err != nil {
		t.Fatal(err)
	}
	u.Start()
	t.Cleanup(func() { u.Close() })
	l := linktest.NewLink("vx")
	n, err := u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: vni, MTU: 1450,
		Group: netip.MustParseAddr(group), Dev: "eth0", FDB: fdb.Config{Learning: true}}, l)
	if err != nil {
		t.Fatal(err)
	}
	return u, n, l
}

func TestMulticastGroupFindsPeers(t *testing.T) {
	w := linktest.NewWire()
	_, na, la := groupHost(t, w, "10.0.0.1", 42, "239.1.1.1")
	_, nb, lb := groupHost(t, w, "10.0.0.2", 42, "239.1.1.1")
	uc, _, lc := groupHost(t, w, "10.0.0.3", 43, "239.1.1.1") // same group, other VNI

	arp := frame(bcast, macA, 1, 2, "who-has")
	la.Inject(arp)
	if got := recv(t, lb); !bytes.Equal(got, arp) {
		t.Fatalf("B got % x, want % x", got, arp)
	}
	// C is in the group, so the packet reached its socket, but VNI 42 is
	// not C's: dropped and counted, never on C's device.
	waitFor(t, "unknown_vni on C", func() bool { return uc.Counters.DropCount(dataplane.DropUnknownVNI) == 1 })
	none(t, lc, "C's VNI 43 device")
	none(t, la, "A's own device (own packets are not looped back)")

	sent := w.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d packets on the wire for one broadcast, want 1 (to the group)", len(sent))
	}
	ip := encap.IPv4(sent[0])
	if ip.Dst() != netip.MustParseAddr("239.1.1.1") || ip.TTL() != 1 || ip.Src() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("group packet %v -> %v TTL %d, want 10.0.0.1 -> 239.1.1.1 TTL 1", ip.Src(), ip.Dst(), ip.TTL())
	}
	waitFor(t, "the flood counter", func() bool { return na.Counters.Load().Flooded >= 1 })
	if got := na.Counters.Load().Flooded; got != 1 {
		t.Errorf("flooded %d, want 1 copy to the group", got)
	}

	// B learnt A from the group packet: its answer goes straight to A.
	reply := frame(macA, macB, 2, 1, "is-at")
	lb.Inject(reply)
	if got := recv(t, la); !bytes.Equal(got, reply) {
		t.Fatalf("A got % x, want % x", got, reply)
	}
	last := w.Sent()[len(w.Sent())-1]
	if d := encap.IPv4(last).Dst(); d != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("B's reply went to %v, want unicast to 10.0.0.1", d)
	}
	if r, ok := nb.Table().Lookup(macA); !ok || r != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("B's FDB for A: %v %v, want 10.0.0.1", r, ok)
	}
	none(t, lc, "C's device after unicast")
}

func TestMulticastGroupLeftWithLastNetwork(t *testing.T) {
	w := linktest.NewWire()
	var opened, closed int
	var conns []*linktest.Conn
	a := netip.MustParseAddr("10.0.0.1")
	u, err := dataplane.NewUnderlay(dataplane.UnderlayConfig{
		Local: a,
		OpenGroup: func(g netip.Addr, dev string, port uint16) (dataplane.Conn, error) {
			opened++
			c := w.JoinGroup(netip.AddrPortFrom(g, port), a)
			conns = append(conns, c)
			return c, nil
		},
	}, w.Conn(netip.AddrPortFrom(a, 4789)), nil)
	if err != nil {
		t.Fatal(err)
	}
	u.Start()
	defer u.Close()
	g := netip.MustParseAddr("239.1.1.1")
	for _, vni := range []uint32{42, 43} {
		if _, err := u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: vni, MTU: 1450, Group: g, Dev: "eth0"}, linktest.NewLink("vx")); err != nil {
			t.Fatal(err)
		}
	}
	if opened != 1 {
		t.Fatalf("group joined %d times for two networks, want once", opened)
	}
	if err := u.RemoveNetwork(42); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if _, err := c.WriteBatch(nil); err != nil {
			closed++
		}
	}
	if closed != 0 {
		t.Fatalf("group left while VNI 43 still uses it")
	}
	if err := u.RemoveNetwork(43); err != nil {
		t.Fatal(err)
	}
	if _, err := conns[0].WriteBatch(nil); err == nil {
		t.Errorf("group still joined after its last network went")
	}

	_, err = u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: 44, MTU: 1450, Group: netip.MustParseAddr("10.1.1.1"), Dev: "eth0"}, linktest.NewLink("vx"))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("not a multicast address")) {
		t.Errorf("unicast group: got %v, want an error saying it is not multicast", err)
	}
}

func TestMulticastGroupIPv6(t *testing.T) {
	w := linktest.NewWire()
	_, _, la := groupHost(t, w, "fd00::1", 42, "ff05::4242")
	_, nb, lb := groupHost(t, w, "fd00::2", 42, "ff05::4242")
	f := frame(bcast, macA, 1, 2, "over a v6 group")
	la.Inject(f)
	if got := recv(t, lb); !bytes.Equal(got, f) {
		t.Fatalf("B got % x, want % x", got, f)
	}
	ip := encap.IPv6(w.Sent()[0])
	if ip.Dst() != netip.MustParseAddr("ff05::4242") || ip.HopLimit() != 1 {
		t.Errorf("group packet to %v hop limit %d, want ff05::4242 and 1", ip.Dst(), ip.HopLimit())
	}
	if r, ok := nb.Table().Lookup(macA); !ok || r != netip.MustParseAddr("fd00::1") {
		t.Errorf("B learnt A at %v %v, want fd00::1", r, ok)
	}
}
