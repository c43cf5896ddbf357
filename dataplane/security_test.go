package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// sendVXLAN puts one VXLAN packet carrying inner for vni on the wire, from
// src to dst, as any host that can reach dst could: the sender needs no
// underlay of its own, only an address.
func sendVXLAN(t *testing.T, w *linktest.Wire, src, dst netip.AddrPort, vni uint32, inner []byte) {
	t.Helper()
	c := w.Conn(src)
	defer c.Close()
	pkt := make([]byte, encap.VXLANIPv4HeadersLen+len(inner))
	o := encap.OuterIPv4{Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(), VNI: vni, TTL: 64}
	copy(pkt[encap.VXLANIPv4HeadersLen:], inner)
	if err := encap.EncapVXLANIPv4(pkt, &o); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteBatch([][]byte{pkt}); err != nil {
		t.Fatal(err)
	}
}

// peersHost is a VTEP whose underlay accepts only peers, with the allow
// prefixes given.
func peersHost(t *testing.T, w *linktest.Wire, addr string, allow ...string) *host {
	t.Helper()
	cfg := dataplane.UnderlayConfig{Local: netip.MustParseAddr(addr), Port: 4789, AcceptPeers: true}
	for _, p := range allow {
		cfg.Allow = append(cfg.Allow, netip.MustParsePrefix(p))
	}
	return newHostWith(t, w, cfg)
}

func TestAcceptPeers(t *testing.T) {
	var (
		addrA    = netip.MustParseAddr("10.0.0.1")
		stranger = netip.MustParseAddr("10.0.0.66")
		static   = netip.MustParseAddr("10.0.0.4")
		allowed  = netip.MustParseAddr("10.9.1.2")
		late     = netip.MustParseAddr("10.0.0.5")
		macS     = [6]byte{0x02, 0, 0, 0, 0, 0x66}
		pinned   = [6]byte{0x02, 0, 0, 0, 0, 0x44}
	)
	tests := []struct {
		name    string
		accept  bool // AcceptPeers on B
		setup   func(t *testing.T, n *dataplane.Network)
		from    netip.Addr
		src     [6]byte
		deliver bool // the frame reaches B's device and its MAC is learnt
	}{
		{name: "any: a stranger is taken, as the kernel does", from: stranger, src: macS, deliver: true},
		{name: "peers: a flood-list remote is taken", accept: true, from: addrA, src: macA, deliver: true},
		{name: "peers: a stranger is dropped", accept: true, from: stranger, src: macS},
		{name: "peers: a stranger claiming a learnt MAC is dropped", accept: true, from: stranger, src: macA,
			setup: func(t *testing.T, n *dataplane.Network) {
				if r := n.Table().Learn(macA, addrA, fdb.Now()); r != fdb.LearnNew {
					t.Fatalf("learning A's MAC: got %v, want new", r)
				}
			}},
		{name: "peers: a remote added at run time is taken", accept: true, from: late, src: macS, deliver: true,
			setup: func(t *testing.T, n *dataplane.Network) {
				if err := n.Table().AddFlood(late); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "peers: a remote removed at run time is dropped", accept: true, from: addrA, src: macS,
			setup: func(t *testing.T, n *dataplane.Network) {
				if err := n.Table().DelFlood(addrA); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "peers: a static entry's destination is taken, whatever MAC it sends from", accept: true, from: static, src: macS, deliver: true,
			setup: func(t *testing.T, n *dataplane.Network) {
				if err := n.Table().Add(pinned, static, true); err != nil {
					t.Fatal(err)
				}
				if err := n.RefreshAccept(); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "peers: a deleted static entry's destination is dropped", accept: true, from: static, src: macS,
			setup: func(t *testing.T, n *dataplane.Network) {
				if err := n.Table().Add(pinned, static, true); err != nil {
					t.Fatal(err)
				}
				if err := n.RefreshAccept(); err != nil {
					t.Fatal(err)
				}
				if err := n.Table().Del(pinned); err != nil {
					t.Fatal(err)
				}
				if err := n.RefreshAccept(); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "peers: an allow prefix is taken", accept: true, from: allowed, src: macS, deliver: true},
		{name: "peers: next to the allow prefix is dropped", accept: true, from: netip.MustParseAddr("10.10.0.1"), src: macS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := linktest.NewWire()
			a := newHost(t, w, "10.0.0.1")
			var b *host
			if tc.accept {
				b = peersHost(t, w, "10.0.0.2", "10.9.0.0/16")
			} else {
				b = newHost(t, w, "10.0.0.2")
			}
			lb := b.addNet(t, 42, fdb.Config{}, a)
			nb := b.nets[42]
			if tc.setup != nil {
				tc.setup(t, nb)
			}
			before, _ := nb.Table().Lookup(tc.src)

			f := frame(bcast, tc.src, 1, 2, "hello")
			sendVXLAN(t, w, netip.AddrPortFrom(tc.from, 40000), netip.AddrPortFrom(b.addr, 4789), 42, f)

			if tc.deliver {
				if got := recv(t, lb); !bytes.Equal(got, f) {
					t.Fatalf("got % x on B's device, want % x", got, f)
				}
				if r, ok := nb.Table().Lookup(tc.src); !ok || r != tc.from {
					t.Errorf("B's FDB for %x: got %v %v, want %v", tc.src, r, ok, tc.from)
				}
				if got := nb.Counters.DropCount(dataplane.DropUnknownSource); got != 0 {
					t.Errorf("unknown_source: got %d, want 0", got)
				}
				return
			}
			waitFor(t, "unknown_source on B", func() bool { return nb.Counters.DropCount(dataplane.DropUnknownSource) == 1 })
			none(t, lb, "B's device after a packet from outside the accept list")
			if r, _ := nb.Table().Lookup(tc.src); r != before {
				t.Errorf("B's FDB for %x: got %v, want it left at %v (never learnt toward a stranger)", tc.src, r, before)
			}
			if got := nb.Table().Counters().Learnt; got != 0 && before == (netip.Addr{}) {
				t.Errorf("B learnt %d MACs, want 0", got)
			}
			if got := b.u.Counters.DropCount(dataplane.DropUnknownSource); got != 0 {
				t.Errorf("unknown_source on the underlay: got %d, want 0 (counted on the network)", got)
			}
		})
	}
}

// TestAcceptPeersGroupSubnet: in group mode the members of the group are
// whoever is on the group's device's links; their packets come from their
// own unicast addresses, which no flood list names.
func TestAcceptPeersGroupSubnet(t *testing.T) {
	w := linktest.NewWire()
	group := netip.MustParseAddr("239.1.1.1")
	local := netip.MustParseAddr("10.0.0.2")
	var asked []string
	u, err := dataplane.NewUnderlay(dataplane.UnderlayConfig{
		Local: local, Port: 4789, AcceptPeers: true,
		OpenGroup: func(g netip.Addr, dev string, port uint16) (dataplane.Conn, error) {
			return w.JoinGroup(netip.AddrPortFrom(g, port), local), nil
		},
		DevPrefixes: func(dev string) ([]netip.Prefix, error) {
			asked = append(asked, dev)
			// The device's IPv6 subnet must not count for an IPv4 group.
			return []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("::/0")}, nil
		},
	}, w.Conn(netip.AddrPortFrom(local, 4789)), nil)
	if err != nil {
		t.Fatal(err)
	}
	u.Start()
	t.Cleanup(func() { u.Close() })
	l := linktest.NewLink("vx")
	n, err := u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: 42, MTU: 1450, Group: group, Dev: "eth7",
		FDB: fdb.Config{Learning: true}}, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "eth7" {
		t.Fatalf("device prefixes asked for %q, want [eth7]", asked)
	}

	tests := []struct {
		name    string
		from    string
		deliver bool
	}{
		{"a member on the device's subnet", "10.0.0.7", true},
		{"a sender off the subnet", "10.0.1.7", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := netip.MustParseAddr(tc.from)
			src := [6]byte{0x02, 0, 0, 0, 1, byte(i)}
			f := frame(bcast, src, 1, 2, "to the group")
			before := n.Counters.DropCount(dataplane.DropUnknownSource)
			sendVXLAN(t, w, netip.AddrPortFrom(from, 4789), netip.AddrPortFrom(group, 4789), 42, f)
			if tc.deliver {
				if got := recv(t, l); !bytes.Equal(got, f) {
					t.Fatalf("got % x, want % x", got, f)
				}
				if r, ok := n.Table().Lookup(src); !ok || r != from {
					t.Errorf("FDB for the member's MAC: got %v %v, want %v", r, ok, from)
				}
				return
			}
			waitFor(t, "unknown_source", func() bool { return n.Counters.DropCount(dataplane.DropUnknownSource) == before+1 })
			none(t, l, "device after a group packet from off the subnet")
			if _, ok := n.Table().Lookup(src); ok {
				t.Errorf("MAC of a sender off the subnet learnt, want not")
			}
		})
	}
}

func TestAddNetworkDevicePrefixesError(t *testing.T) {
	w := linktest.NewWire()
	local := netip.MustParseAddr("10.0.0.2")
	u, err := dataplane.NewUnderlay(dataplane.UnderlayConfig{
		Local: local, Port: 4789, AcceptPeers: true,
		OpenGroup: func(g netip.Addr, dev string, port uint16) (dataplane.Conn, error) {
			return w.JoinGroup(netip.AddrPortFrom(g, port), local), nil
		},
		DevPrefixes: func(dev string) ([]netip.Prefix, error) { return nil, errNoDevice },
	}, w.Conn(netip.AddrPortFrom(local, 4789)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	_, err = u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: 42, MTU: 1450,
		Group: netip.MustParseAddr("239.1.1.1"), Dev: "eth7"}, linktest.NewLink("vx"))
	want := `network "vx": accept peers: addresses of eth7: no such device`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	if u.Network(42) != nil {
		t.Error("network registered although its accept list could not be built")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

const errNoDevice = errString("no such device")

func TestNewUnderlayAllowFamily(t *testing.T) {
	_, err := dataplane.NewUnderlay(dataplane.UnderlayConfig{Local: netip.MustParseAddr("10.0.0.1"), AcceptPeers: true,
		Allow: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}, discardConn{}, nil)
	want := "underlay: allow fd00::/8: want a prefix of the local address's family"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// discardConn is a Conn that never delivers.
type discardConn struct{}

func (discardConn) ReadBatch([][]byte, []int, []netip.AddrPort) (int, error) { select {} }
func (discardConn) WriteBatch(p [][]byte) (int, error)                       { return len(p), nil }
func (discardConn) LocalAddr() netip.AddrPort                                { return netip.AddrPort{} }
func (discardConn) Close() error                                             { return nil }

func TestMACFlapHeld(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	// One move per hour: nothing expires while the test runs.
	lb := b.addNet(t, 42, fdb.Config{Learning: true, MoveLimit: 1, MoveWindow: time.Hour}, a)
	nb := b.nets[42]
	c := netip.MustParseAddr("10.0.0.3")
	send := func(from netip.Addr, payload string) []byte {
		f := frame(bcast, macA, 1, 2, payload)
		sendVXLAN(t, w, netip.AddrPortFrom(from, 40000), netip.AddrPortFrom(b.addr, 4789), 42, f)
		return f
	}

	steps := []struct {
		name    string
		from    netip.Addr
		deliver bool
		want    netip.Addr // where the FDB has macA after the step
	}{
		{"learnt at A", a.addr, true, a.addr},
		{"one move, to C, is allowed", c, true, c},
		{"a second move, back to A, is held", a.addr, false, c},
		{"from C, where it is, still flows", c, true, c},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := nb.Counters.DropCount(dataplane.DropMACFlap)
			f := send(s.from, s.name)
			if s.deliver {
				if got := recv(t, lb); !bytes.Equal(got, f) {
					t.Fatalf("got % x, want % x", got, f)
				}
			} else {
				waitFor(t, "mac_flap", func() bool { return nb.Counters.DropCount(dataplane.DropMACFlap) == before+1 })
				none(t, lb, "device after a held move")
			}
			if r, _ := nb.Table().Lookup(macA); r != s.want {
				t.Errorf("FDB for A's MAC: got %v, want %v", r, s.want)
			}
		})
	}
	if got := nb.Counters.DropCount(dataplane.DropMACFlap); got != 1 {
		t.Errorf("mac_flap: got %d, want 1", got)
	}
	if got := nb.Table().Counters().FlapHeld; got != 1 {
		t.Errorf("fdb flap-held counter: got %d, want 1", got)
	}
}

func TestFloodRateLimit(t *testing.T) {
	const (
		rate   = 100
		frames = 10000
	)
	w := linktest.NewWire()
	a, b, c := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2"), newHost(t, w, "10.0.0.3")
	l := linktest.NewLink("vx")
	na, err := a.u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: 42, MTU: 1450,
		Remotes: []netip.Addr{b.addr, c.addr}, FDB: fdb.Config{Learning: true}, FloodRate: rate}, l)
	if err != nil {
		t.Fatal(err)
	}
	b.addNet(t, 42, fdb.Config{}, a)
	c.addNet(t, 42, fdb.Config{}, a)

	start := time.Now()
	for i := range frames {
		l.Inject(frame(bcast, macA, uint16(i), 2, "flood"))
	}
	waitFor(t, "every frame flooded or dropped", func() bool {
		return na.Counters.Load().Flooded/2+na.Counters.DropCount(dataplane.DropFloodLimit) == frames
	})
	elapsed := time.Since(start)

	perRemote := map[netip.Addr]int{}
	for _, p := range w.Sent() {
		perRemote[encap.IPv4(p).Dst()]++
	}
	// A full bucket (the burst), then rate a second for as long as the
	// frames took to pass.
	most := rate + int(rate*elapsed.Seconds()) + 1
	for _, r := range []netip.Addr{b.addr, c.addr} {
		if got := perRemote[r]; got < rate || got > most {
			t.Errorf("copies sent to %v: got %d, want %d..%d (burst %d, then %d/s for %v)", r, got, rate, most, rate, rate, elapsed)
		}
	}
	if perRemote[b.addr] != perRemote[c.addr] {
		t.Errorf("copies to B %d and to C %d, want equal: the limit counts frames, each flooded whole", perRemote[b.addr], perRemote[c.addr])
	}
	if got, want := na.Counters.DropCount(dataplane.DropFloodLimit), uint64(frames-perRemote[b.addr]); got != want {
		t.Errorf("flood_limit: got %d, want %d (every frame not flooded)", got, want)
	}

	// Known unicast is not flooding: the limit leaves it alone.
	na.Table().Learn(macB, b.addr, fdb.Now())
	before := len(w.Sent())
	for i := range 50 {
		l.Inject(frame(macB, macA, uint16(i), 2, "unicast"))
	}
	waitFor(t, "50 unicast frames sent", func() bool { return len(w.Sent()) == before+50 })
}

func TestFloodRateUnlimited(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	b.addNet(t, 42, fdb.Config{}, a)
	const frames = 2000
	for i := range frames {
		la.Inject(frame(bcast, macA, uint16(i), 2, "flood"))
	}
	waitFor(t, "every frame flooded", func() bool { return a.nets[42].Counters.Load().Flooded == frames })
	if got := a.nets[42].Counters.DropCount(dataplane.DropFloodLimit); got != 0 {
		t.Errorf("flood_limit without a rate: got %d, want 0", got)
	}
}

// TestFDBMemoryBound floods one network with a million source MACs from
// one remote: the table stops at its limit, the heap with it, and what was
// learnt before still forwards.
func TestFDBMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("a million frames; skipped with -short")
	}
	const (
		frames   = 1_000_000
		earlier  = 100 // MACs learnt before the flood
		limit    = fdb.DefaultLimit
		newMACs  = limit - earlier
		overflow = frames - newMACs
	)
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	lb := b.addNet(t, 42, fdb.Config{Learning: true}, a) // Limit 0: the default
	nb := b.nets[42]
	if got := nb.Table().Config().Limit; got != 0 && got != limit {
		t.Fatalf("limit %d, want the default %d", got, limit)
	}
	from := netip.AddrPortFrom(a.addr, 40000)
	payload := make([]byte, encap.VXLANHeaderLen+len(frame(bcast, macA, 1, 2, "")))
	encap.PutVXLAN(payload, 42)
	inner := payload[encap.VXLANHeaderLen:]
	copy(inner, frame(bcast, macA, 1, 2, ""))
	send := func(src [6]byte) {
		encap.Ethernet(inner).SetSrc(src)
		b.conn.Inject(payload, from)
	}
	earlyMAC := func(i int) [6]byte { return [6]byte{0x06, 0, 0, 0, byte(i >> 8), byte(i)} }
	for i := range earlier {
		send(earlyMAC(i))
	}
	waitFor(t, "the early MACs learnt", func() bool { return nb.Table().Len() == earlier })

	// From here the device refuses writes, so what the fake keeps of
	// delivered frames does not count against the heap.
	lb.FailWrites.Store(true)
	for len(lb.Written()) > 0 {
		<-lb.Written()
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)

	// Distinct, scattered, locally administered unicast MACs: i times an
	// odd constant is a bijection on 40 bits.
	for i := range frames {
		var b8 [8]byte
		binary.BigEndian.PutUint64(b8[:], uint64(i)*0x9e3779b97f&(1<<40-1))
		mac := [6]byte{0x02}
		copy(mac[1:], b8[3:])
		send(mac)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for nb.Counters.DropCount(dataplane.DropFDBFull) < overflow && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	if got := nb.Table().Len(); got != limit {
		t.Errorf("FDB entries: got %d, want exactly the limit %d", got, limit)
	}
	if got := nb.Counters.DropCount(dataplane.DropFDBFull); got != overflow {
		t.Errorf("fdb_full: got %d, want %d (every MAC past the limit)", got, overflow)
	}
	if got := nb.Table().Counters().Full; got != overflow {
		t.Errorf("fdb full counter: got %d, want %d", got, overflow)
	}

	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	// The table at its limit holds 16384 entries of 56 bytes (key 8,
	// remote 24, static and move count 8, move start 8, updated 8), each in
	// a 64-byte allocation: 1 MiB; and 64 shards' slot arrays, kept at most
	// three quarters full, of up to 1024 eight-byte pointers each: 0.5 MiB.
	// Measured: 1.3 MiB. 3 MiB, twice the sum, leaves room for the
	// runtime's own churn; a table that kept every MAC would need a million
	// entries, 61 MiB.
	const bound = 3 << 20
	growth := int64(m1.HeapInuse) - int64(m0.HeapInuse)
	t.Logf("heap in use grew by %d KiB over %d frames", growth>>10, frames)
	if growth > bound {
		t.Errorf("heap in use grew by %d bytes, want at most %d", growth, bound)
	}

	for i := range earlier {
		if r, ok := nb.Table().Lookup(earlyMAC(i)); !ok || r != a.addr {
			t.Fatalf("lookup of early MAC %d after the flood: got %v %v, want %v", i, r, ok, a.addr)
		}
	}
}
