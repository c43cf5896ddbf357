package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// host is one VTEP on a fake wire: an underlay with one network per VNI.
type host struct {
	conn  *linktest.Conn
	addr  netip.Addr
	u     *dataplane.Underlay
	links map[uint32]*linktest.Link
	nets  map[uint32]*dataplane.Network
}

func newHost(t *testing.T, w *linktest.Wire, addr string) *host {
	return newHostWith(t, w, dataplane.UnderlayConfig{Local: netip.MustParseAddr(addr), Port: 4789})
}

func newHostWith(t *testing.T, w *linktest.Wire, cfg dataplane.UnderlayConfig) *host {
	t.Helper()
	a := cfg.Local
	conn := w.Conn(netip.AddrPortFrom(a, 4789))
	u, err := dataplane.NewUnderlay(cfg, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	u.Start()
	t.Cleanup(func() { u.Close() })
	return &host{addr: a, u: u, links: map[uint32]*linktest.Link{}, nets: map[uint32]*dataplane.Network{}, conn: conn}
}

func (h *host) addNet(t *testing.T, vni uint32, cfg fdb.Config, remotes ...*host) *linktest.Link {
	t.Helper()
	var rs []netip.Addr
	for _, r := range remotes {
		rs = append(rs, r.addr)
	}
	if cfg == (fdb.Config{}) {
		cfg.Learning = true
	}
	l := linktest.NewLink("vx")
	n, err := h.u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: vni, MTU: 1450, Remotes: rs, FDB: cfg}, l)
	if err != nil {
		t.Fatal(err)
	}
	h.links[vni], h.nets[vni] = l, n
	return l
}

var (
	macA  = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB  = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	macC  = [6]byte{0x02, 0, 0, 0, 0, 0x0c}
	bcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// frame builds an Ethernet frame carrying an IPv4/UDP packet between ports,
// so the flow hash sees a real 5-tuple, padded with a recognisable payload.
func frame(dst, src [6]byte, sport, dport uint16, payload string) []byte {
	f := make([]byte, encap.EthernetHeaderLen+20+8+len(payload))
	e := encap.Ethernet(f)
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetEtherType(encap.EtherTypeIPv4)
	ip := encap.IPv4(f[14:])
	ip[0] = 0x45
	ip.SetTotalLength(uint16(20 + 8 + len(payload)))
	ip.SetTTL(64)
	ip.SetProtocol(encap.ProtocolUDP)
	ip.SetSrc(netip.MustParseAddr("192.168.42.1"))
	ip.SetDst(netip.MustParseAddr("192.168.42.2"))
	ip.SetChecksum()
	u := encap.UDP(f[34:])
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(8 + len(payload)))
	copy(f[42:], payload)
	return f
}

// recv waits for one frame written to l.
func recv(t *testing.T, l *linktest.Link) []byte {
	t.Helper()
	select {
	case f := <-l.Written():
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame arrived on the device within 10s")
		return nil
	}
}

// none asserts nothing arrives on l for a short while.
func none(t *testing.T, l *linktest.Link, what string) {
	t.Helper()
	select {
	case f := <-l.Written():
		t.Fatalf("%s: got a frame (% x), want none", what, f[:14])
	case <-time.After(100 * time.Millisecond):
	}
}

// waitFor polls cond for up to 2s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFloodLearnThenUnicast(t *testing.T) {
	w := linktest.NewWire()
	a, b, c := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2"), newHost(t, w, "10.0.0.3")
	la := a.addNet(t, 42, fdb.Config{}, b, c)
	lb := b.addNet(t, 42, fdb.Config{}, a, c)
	lc := c.addNet(t, 42, fdb.Config{}, a, b)

	// A broadcasts: head-end replication reaches B and C, byte for byte.
	arp := frame(bcast, macA, 1000, 2000, "who-has")
	la.Inject(arp)
	if got := recv(t, lb); !bytes.Equal(got, arp) {
		t.Fatalf("B got % x, want % x", got, arp)
	}
	if got := recv(t, lc); !bytes.Equal(got, arp) {
		t.Fatalf("C got % x, want % x", got, arp)
	}
	// The counter moves after the send returns.
	waitFor(t, "A's flood counter", func() bool { return a.nets[42].Counters.Load().Flooded >= 2 })
	if got := a.nets[42].Counters.Load().Flooded; got != 2 {
		t.Errorf("A flooded %d copies, want 2", got)
	}
	// B and C learnt A's MAC behind 10.0.0.1.
	for _, h := range []*host{b, c} {
		if r, ok := h.nets[42].Table().Lookup(macA); !ok || r != a.addr {
			t.Fatalf("%s: lookup A's MAC = %v %v, want %v", h.addr, r, ok, a.addr)
		}
	}

	// B answers A by unicast: a hit, sent to A only; C sees nothing.
	before := len(w.Sent())
	reply := frame(macA, macB, 2000, 1000, "is-at")
	lb.Inject(reply)
	if got := recv(t, la); !bytes.Equal(got, reply) {
		t.Fatalf("A got % x, want % x", got, reply)
	}
	none(t, lc, "C after B's unicast to A")
	sent := w.Sent()[before:]
	if len(sent) != 1 || encap.IPv4(sent[0]).Dst() != a.addr {
		t.Fatalf("B sent %d packets for one unicast frame, want 1 to %v", len(sent), a.addr)
	}
	if r, ok := a.nets[42].Table().Lookup(macB); !ok || r != b.addr {
		t.Fatalf("A: lookup B's MAC = %v %v, want %v", r, ok, b.addr)
	}

	// From now on A -> B is unicast too.
	la.Inject(frame(macB, macA, 1000, 2000, "data"))
	recv(t, lb)
	none(t, lc, "C after A's unicast to B")
	if got := a.nets[42].Counters.Load().Flooded; got != 2 {
		t.Errorf("A flooded %d copies in all, want still 2", got)
	}
}

func TestOuterHeaders(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 0xabcdef, fdb.Config{}, b)
	b.addNet(t, 0xabcdef, fdb.Config{}, a)

	f1 := frame(bcast, macA, 1111, 53, "one")
	la.Inject(f1)
	la.Inject(frame(bcast, macA, 1111, 53, "same flow, other bytes"))
	waitFor(t, "two packets on the wire", func() bool { return len(w.Sent()) >= 2 })
	sent := w.Sent()
	ip := encap.IPv4(sent[0])
	if !ip.IsValid() || !ip.IsChecksumValid() {
		t.Fatalf("outer IPv4 header invalid: % x", sent[0][:20])
	}
	if ip.Src() != a.addr || ip.Dst() != b.addr || ip.Protocol() != encap.ProtocolUDP || ip.TTL() != 64 {
		t.Fatalf("outer IPv4 %v -> %v proto %d ttl %d, want %v -> %v proto 17 ttl 64", ip.Src(), ip.Dst(), ip.Protocol(), ip.TTL(), a.addr, b.addr)
	}
	if got, want := int(ip.TotalLength()), 20+8+8+len(f1); got != want {
		t.Errorf("outer total length %d, want %d", got, want)
	}
	u := encap.UDP(ip.Payload())
	if u.DstPort() != 4789 {
		t.Errorf("UDP dst port %d, want 4789", u.DstPort())
	}
	if sp := u.SrcPort(); sp < 32768 || sp > 60999 {
		t.Errorf("UDP src port %d outside 32768-60999", sp)
	}
	if u2 := encap.UDP(encap.IPv4(sent[1]).Payload()); u2.SrcPort() != u.SrcPort() {
		t.Errorf("same inner flow got source ports %d and %d, want equal", u.SrcPort(), u2.SrcPort())
	}
	vx := encap.VXLAN(u.Payload())
	if vx.Flags() != 0x08 || vx.VNI() != 0xabcdef {
		t.Errorf("VXLAN flags %#x VNI %#x, want 0x08 0xabcdef", vx.Flags(), vx.VNI())
	}
	if !bytes.Equal(vx.Payload(), f1) {
		t.Errorf("inner frame changed on the way out")
	}
	// Reserved bits are zero on send (RFC 7348 section 5).
	if r := binary.BigEndian.Uint32(vx[0:4]) & 0x00ffffff; r != 0 || vx[7] != 0 {
		t.Errorf("reserved bits set: % x", vx[:8])
	}
}

func TestSourcePortFollowsFlow(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	b.addNet(t, 42, fdb.Config{}, a)
	const flows = 64
	for i := 0; i < flows; i++ {
		la.Inject(frame(bcast, macA, uint16(10000+i), 80, "x"))
	}
	waitFor(t, "all flows sent", func() bool { return len(w.Sent()) >= flows })
	ports := map[uint16]bool{}
	for _, p := range w.Sent() {
		ports[encap.UDP(encap.IPv4(p).Payload()).SrcPort()] = true
	}
	// A hash into ~28k ports: 64 flows colliding into fewer than 56 distinct
	// ports would mean the inner ports are not hashed.
	if len(ports) < 56 {
		t.Errorf("%d flows used %d distinct source ports, want >= 56", flows, len(ports))
	}
}

func TestVNIIsolation(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la42 := a.addNet(t, 42, fdb.Config{}, b)
	lb42 := b.addNet(t, 42, fdb.Config{}, a)
	la43 := a.addNet(t, 43, fdb.Config{}, b)
	lb43 := b.addNet(t, 43, fdb.Config{}, a)

	// The same MAC in both VNIs.
	la42.Inject(frame(bcast, macA, 1, 2, "forty-two"))
	if got := recv(t, lb42); !bytes.Contains(got, []byte("forty-two")) {
		t.Fatalf("VNI 42 frame not delivered on VNI 42")
	}
	none(t, lb43, "VNI 43 device after a VNI 42 frame")
	la43.Inject(frame(bcast, macA, 1, 2, "forty-three"))
	if got := recv(t, lb43); !bytes.Contains(got, []byte("forty-three")) {
		t.Fatalf("VNI 43 frame not delivered on VNI 43")
	}
	none(t, lb42, "VNI 42 device after a VNI 43 frame")
	none(t, la42, "sender's own device")
}

func TestDropsCountedByReason(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	lb := b.addNet(t, 42, fdb.Config{Learning: true, Limit: 1}, a)
	from := netip.AddrPortFrom(a.addr, 40000)
	vx := func(vni uint32, inner []byte) []byte {
		p := make([]byte, 8+len(inner))
		encap.PutVXLAN(p, vni)
		copy(p[8:], inner)
		return p
	}
	inject := func(p []byte) { injectTo(t, w, b, p, from) }

	good := frame(bcast, macA, 1, 2, "ok")
	tests := []struct {
		name    string
		payload []byte
		where   *dataplane.Counters
		reason  dataplane.Drop
	}{
		{"empty", nil, &b.u.Counters, dataplane.DropMalformed},
		{"short header", []byte{0x08, 0, 0}, &b.u.Counters, dataplane.DropMalformed},
		{"I flag off", func() []byte { p := vx(42, good); p[0] = 0; return p }(), &b.u.Counters, dataplane.DropMalformed},
		{"inner shorter than Ethernet", vx(42, good[:10]), &b.u.Counters, dataplane.DropMalformed},
		{"unknown VNI", vx(7, good), &b.u.Counters, dataplane.DropUnknownVNI},
		{"inner over MTU", vx(42, append(frame(bcast, macA, 1, 2, ""), make([]byte, 1500)...)), &b.nets[42].Counters, dataplane.DropTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.where.DropCount(tc.reason)
			inject(tc.payload)
			waitFor(t, tc.reason.String()+" counted", func() bool { return tc.where.DropCount(tc.reason) == before+1 })
			none(t, lb, "device after a bad packet")
		})
	}

	t.Run("reserved bits set are ignored", func(t *testing.T) {
		p := vx(42, good)
		p[1], p[2], p[3], p[7] = 0xff, 0xff, 0xff, 0xff
		p[0] |= 0xf7
		inject(p)
		if got := recv(t, lb); !bytes.Equal(got, good) {
			t.Fatalf("got % x, want % x", got, good)
		}
	})

	t.Run("fdb full still delivers", func(t *testing.T) {
		// macA was learnt by now; the limit is 1, so macC is not.
		before := b.nets[42].Counters.DropCount(dataplane.DropFDBFull)
		f := frame(bcast, macC, 1, 2, "new mac")
		inject(vx(42, f))
		if got := recv(t, lb); !bytes.Equal(got, f) {
			t.Fatalf("frame from an unlearnable MAC not delivered")
		}
		if got := b.nets[42].Counters.DropCount(dataplane.DropFDBFull); got != before+1 {
			t.Errorf("fdb_full = %d, want %d", got, before+1)
		}
		if _, ok := b.nets[42].Table().Lookup(macC); ok {
			t.Errorf("MAC learnt beyond the limit")
		}
	})

	t.Run("static MAC claimed from another remote", func(t *testing.T) {
		pinned := [6]byte{0x02, 0, 0, 0, 0, 0x99}
		b.nets[42].Table().Flush(true) // make room under the limit of 1
		if err := b.nets[42].Table().Add(pinned, netip.MustParseAddr("10.0.0.3"), true); err != nil {
			t.Fatal(err)
		}
		before := b.nets[42].Counters.DropCount(dataplane.DropStaticConflict)
		inject(vx(42, frame(bcast, pinned, 1, 2, "spoof")))
		waitFor(t, "static_conflict on B", func() bool { return b.nets[42].Counters.DropCount(dataplane.DropStaticConflict) == before+1 })
		none(t, lb, "device after a frame from a pinned MAC at another remote")
		if r, _ := b.nets[42].Table().Lookup(pinned); r != netip.MustParseAddr("10.0.0.3") {
			t.Errorf("static entry moved to %v", r)
		}
	})

	t.Run("too big from the device", func(t *testing.T) {
		before := a.nets[42].Counters.DropCount(dataplane.DropTooBig)
		la.Inject(append(frame(macB, macA, 1, 2, ""), make([]byte, 1500)...))
		waitFor(t, "too_big on A", func() bool { return a.nets[42].Counters.DropCount(dataplane.DropTooBig) == before+1 })
	})

	t.Run("short frame from the device", func(t *testing.T) {
		before := a.nets[42].Counters.DropCount(dataplane.DropMalformed)
		la.Inject([]byte{1, 2, 3})
		waitFor(t, "malformed on A", func() bool { return a.nets[42].Counters.DropCount(dataplane.DropMalformed) == before+1 })
	})

	t.Run("device write error", func(t *testing.T) {
		lb.FailWrites.Store(true)
		defer lb.FailWrites.Store(false)
		before := b.nets[42].Counters.DropCount(dataplane.DropLinkWrite)
		inject(vx(42, good))
		waitFor(t, "tap_write on B", func() bool { return b.nets[42].Counters.DropCount(dataplane.DropLinkWrite) == before+1 })
	})

	t.Run("no remote to flood to", func(t *testing.T) {
		if err := a.nets[42].Table().DelFlood(b.addr); err != nil {
			t.Fatal(err)
		}
		before := a.nets[42].Counters.DropCount(dataplane.DropNoRemote)
		la.Inject(frame(bcast, macA, 1, 2, "nobody"))
		waitFor(t, "no_remote on A", func() bool { return a.nets[42].Counters.DropCount(dataplane.DropNoRemote) == before+1 })
	})
}

// injectTo delivers a raw UDP payload to host h's socket as if sent from src.
func injectTo(t *testing.T, w *linktest.Wire, h *host, payload []byte, src netip.AddrPort) {
	t.Helper()
	// Build a whole outer packet from a throw-away Conn so it travels the wire.
	c := w.Conn(src)
	defer c.Close()
	pkt := make([]byte, 28+len(payload))
	ip := encap.IPv4(pkt)
	ip[0] = 0x45
	ip.SetTotalLength(uint16(len(pkt)))
	ip.SetTTL(64)
	ip.SetProtocol(encap.ProtocolUDP)
	ip.SetSrc(src.Addr())
	ip.SetDst(h.addr)
	ip.SetChecksum()
	u := encap.UDP(pkt[20:])
	u.SetSrcPort(src.Port())
	u.SetDstPort(4789)
	u.SetLength(uint16(8 + len(payload)))
	copy(pkt[28:], payload)
	if _, err := c.WriteBatch([][]byte{pkt}); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveNetworkClosesLink(t *testing.T) {
	w := linktest.NewWire()
	a := newHost(t, w, "10.0.0.1")
	l := a.addNet(t, 42, fdb.Config{})
	if err := a.u.RemoveNetwork(42); err != nil {
		t.Fatal(err)
	}
	if !l.Closed() {
		t.Error("device still open after its network was removed")
	}
	if a.u.Network(42) != nil {
		t.Error("network still registered after removal")
	}
	if err := a.u.RemoveNetwork(42); err == nil {
		t.Error("second removal: got nil error, want one")
	}
}

func TestAddNetworkErrors(t *testing.T) {
	w := linktest.NewWire()
	a := newHost(t, w, "10.0.0.1")
	a.addNet(t, 42, fdb.Config{})
	tests := []struct {
		name string
		cfg  dataplane.NetworkConfig
		want string
	}{
		{"duplicate VNI", dataplane.NetworkConfig{Name: "x", VNI: 42, MTU: 1450}, "VNI 42"},
		{"VNI over 24 bits", dataplane.NetworkConfig{Name: "x", VNI: 1 << 24, MTU: 1450}, "24 bits"},
		{"remote is local", dataplane.NetworkConfig{Name: "x", VNI: 1, MTU: 1450, Remotes: []netip.Addr{a.addr}}, "local address"},
		{"remote of another family", dataplane.NetworkConfig{Name: "x", VNI: 1, MTU: 1450, Remotes: []netip.Addr{netip.MustParseAddr("fd00::1")}}, "family"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.u.AddNetwork(tc.cfg, linktest.NewLink("x"))
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestIPv6Underlay(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "fd00::1"), newHost(t, w, "fd00::2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	lb := b.addNet(t, 42, fdb.Config{}, a)
	f := frame(bcast, macA, 1, 2, "over v6")
	la.Inject(f)
	if got := recv(t, lb); !bytes.Equal(got, f) {
		t.Fatalf("got % x, want % x", got, f)
	}
	pkt := w.Sent()[0]
	ip := encap.IPv6(pkt)
	if !ip.IsValid() || ip.Src() != a.addr || ip.Dst() != b.addr || ip.NextHeader() != encap.ProtocolUDP {
		t.Fatalf("outer IPv6 header wrong: % x", pkt[:40])
	}
	// Over IPv6 the UDP checksum is mandatory (RFC 8200 section 8.1): the sum
	// over pseudo-header and datagram must verify.
	l4 := pkt[encap.IPv6HeaderLen:]
	sum := encap.Checksum(l4, encap.PseudoHeaderSum(encap.ProtocolUDP, ip.Src(), ip.Dst(), uint16(len(l4))))
	if encap.UDP(l4).Checksum() == 0 || encap.FoldChecksum(sum) != 0 {
		t.Errorf("outer UDP checksum %#04x does not verify", encap.UDP(l4).Checksum())
	}
	if r, ok := b.nets[42].Table().Lookup(macA); !ok || r != a.addr {
		t.Errorf("B learnt A's MAC at %v %v, want %v", r, ok, a.addr)
	}
}

func TestUDPChecksumWhenAsked(t *testing.T) {
	w := linktest.NewWire()
	a := newHostWith(t, w, dataplane.UnderlayConfig{Local: netip.MustParseAddr("10.0.0.1"), Port: 4789, UDPChecksum: true})
	b := newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	lb := b.addNet(t, 42, fdb.Config{}, a)
	la.Inject(frame(bcast, macA, 1, 2, "checksummed"))
	recv(t, lb)
	pkt := w.Sent()[0]
	ip := encap.IPv4(pkt)
	u := encap.UDP(ip.Payload())
	if u.Checksum() == 0 || !u.IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Errorf("UDP checksum %#04x with UDPChecksum set: want a valid, non-zero one", u.Checksum())
	}
	// Without it, zero, as RFC 7348 section 5 allows (TestOuterHeaders' host).
	w2 := linktest.NewWire()
	c, d := newHost(t, w2, "10.0.0.1"), newHost(t, w2, "10.0.0.2")
	lc := c.addNet(t, 42, fdb.Config{}, d)
	d.addNet(t, 42, fdb.Config{}, c)
	lc.Inject(frame(bcast, macA, 1, 2, "plain"))
	waitFor(t, "a packet", func() bool { return len(w2.Sent()) == 1 })
	if got := encap.UDP(encap.IPv4(w2.Sent()[0]).Payload()).Checksum(); got != 0 {
		t.Errorf("UDP checksum %#04x without UDPChecksum, want 0", got)
	}
}

func TestCountersCountInnerBytes(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	lb := b.addNet(t, 42, fdb.Config{}, a)
	f := frame(bcast, macA, 1, 2, "twenty bytes of data")
	la.Inject(f)
	recv(t, lb)
	na, nb := a.nets[42], b.nets[42]
	// The counters move after the write returns, so the frame can be seen
	// on the device a moment before they do; and the packets are added
	// before the bytes.
	waitFor(t, "tx and rx counters, packets and bytes", func() bool {
		tx, rx := na.Counters.Load(), nb.Counters.Load()
		return tx.TxPackets >= 1 && tx.TxBytes >= uint64(len(f)) && rx.RxPackets >= 1 && rx.RxBytes >= uint64(len(f))
	})
	if got := na.Counters.Load().TxBytes; got != uint64(len(f)) {
		t.Errorf("tx bytes %d, want the inner frame's %d", got, len(f))
	}
	if got := nb.Counters.Load().RxBytes; got != uint64(len(f)) {
		t.Errorf("rx bytes %d, want the inner frame's %d", got, len(f))
	}
	if na.Counters.Load().TxPackets != 1 || nb.Counters.Load().RxPackets != 1 {
		t.Errorf("tx %d rx %d packets, want 1 and 1", na.Counters.Load().TxPackets, nb.Counters.Load().RxPackets)
	}
	// The underlays count datagrams and their UDP payload: VXLAN header
	// and frame.
	want := uint64(encap.VXLANHeaderLen + len(f))
	waitFor(t, "the underlays' counters, packets and bytes", func() bool {
		ua, ub := a.u.Counters.Load(), b.u.Counters.Load()
		return ua.TxPackets >= 1 && ua.TxBytes >= want && ub.RxPackets >= 1 && ub.RxBytes >= want
	})
	ua, ub := a.u.Counters.Load(), b.u.Counters.Load()
	if ua.TxPackets != 1 || ua.TxBytes != want || ub.RxPackets != 1 || ub.RxBytes != want {
		t.Errorf("underlays: tx %d packets %d bytes, rx %d packets %d bytes; want 1 and %d both", ua.TxPackets, ua.TxBytes, ub.RxPackets, ub.RxBytes, want)
	}
}

func TestSendErrorCounted(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	a.conn.FailWrites.Store(true)
	la.Inject(frame(bcast, macA, 1, 2, "lost"))
	waitFor(t, "send_error", func() bool { return a.nets[42].Counters.DropCount(dataplane.DropSend) == 1 })
	if got := a.nets[42].Counters.Load().TxPackets; got != 0 {
		t.Errorf("tx packets %d for a refused send, want 0", got)
	}
}

func TestVLANTaggedFrameAtMTU(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := a.addNet(t, 42, fdb.Config{}, b)
	lb := b.addNet(t, 42, fdb.Config{}, a)
	// 802.1Q: an MTU-sized (1450) payload behind a 4-byte tag still passes.
	f := make([]byte, 14+4+1450)
	e := encap.Ethernet(f)
	e.SetDst(bcast)
	e.SetSrc(macA)
	e.SetEtherType(encap.EtherTypeVLAN)
	la.Inject(f)
	if got := recv(t, lb); !bytes.Equal(got, f) {
		t.Fatalf("tagged frame of %d bytes changed or lost", len(f))
	}
	la.Inject(append(f, 0))
	waitFor(t, "too_big for one byte more", func() bool { return a.nets[42].Counters.DropCount(dataplane.DropTooBig) == 1 })
}
