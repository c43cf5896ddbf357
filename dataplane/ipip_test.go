package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

type ipipHost struct {
	addr netip.Addr
	u    *dataplane.IPIPUnderlay
	net  *dataplane.IPIPNetwork
	link *linktest.Link
}

func newIPIPHost(t *testing.T, w *linktest.Wire, addr string, cfg dataplane.IPIPConfig, routes ...string) *ipipHost {
	t.Helper()
	a := netip.MustParseAddr(addr)
	u, err := dataplane.NewIPIPUnderlay(a, w.IPConn(a), nil)
	if err != nil {
		t.Fatal(err)
	}
	u.Start()
	t.Cleanup(func() { u.Close() })
	for i := 0; i+1 < len(routes); i += 2 {
		cfg.Routes = append(cfg.Routes, fdb.Route{Prefix: netip.MustParsePrefix(routes[i]), Via: netip.MustParseAddr(routes[i+1])})
	}
	if cfg.Name == "" {
		cfg.Name = "ipip0"
	}
	if cfg.MTU == 0 {
		cfg.MTU, cfg.PathMTU = 1480, 1480
	}
	cfg.DF = encap.IPIPDFCopy
	l := linktest.NewLink(cfg.Name)
	n, err := u.AddNetwork(cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	return &ipipHost{addr: a, u: u, net: n, link: l}
}

// ipPacket builds an IPv4/UDP packet of total length size from src to dst.
func ipPacket(src, dst string, size int, df bool, ttl uint8) []byte {
	p := make([]byte, size)
	ip := encap.IPv4(p)
	p[0] = 0x45
	ip.SetTotalLength(uint16(size))
	ip.SetTTL(ttl)
	ip.SetDF(df)
	ip.SetProtocol(encap.ProtocolUDP)
	ip.SetSrc(netip.MustParseAddr(src))
	ip.SetDst(netip.MustParseAddr(dst))
	ip.SetChecksum()
	for i := 20; i < size; i++ {
		p[i] = byte(i)
	}
	return p
}

func TestIPIPRoutesBetweenBlocks(t *testing.T) {
	w := linktest.NewWire()
	a := newIPIPHost(t, w, "10.0.0.1", dataplane.IPIPConfig{}, "10.244.1.0/24", "10.0.0.2", "10.244.2.0/24", "10.0.0.3")
	b := newIPIPHost(t, w, "10.0.0.2", dataplane.IPIPConfig{}, "10.244.0.0/24", "10.0.0.1", "10.244.2.0/24", "10.0.0.3")
	c := newIPIPHost(t, w, "10.0.0.3", dataplane.IPIPConfig{}, "10.244.0.0/24", "10.0.0.1", "10.244.1.0/24", "10.0.0.2")

	p := ipPacket("10.244.0.5", "10.244.1.7", 200, true, 61)
	a.link.Inject(p)
	if got := recv(t, b.link); !bytes.Equal(got, p) {
		t.Fatalf("B got % x, want % x", got[:20], p[:20])
	}
	none(t, c.link, "C for a packet routed to B")

	outer := encap.IPv4(w.Sent()[0])
	if !outer.IsValid() || !outer.IsChecksumValid() {
		t.Fatalf("outer header invalid: % x", w.Sent()[0][:20])
	}
	if outer.Protocol() != encap.ProtocolIPIP || outer.Src() != a.addr || outer.Dst() != b.addr {
		t.Errorf("outer proto %d %v -> %v, want 4 %v -> %v", outer.Protocol(), outer.Src(), outer.Dst(), a.addr, b.addr)
	}
	if outer.TTL() != 61 || !outer.DF() {
		t.Errorf("outer TTL %d DF %v, want the inner's 61 and true (inherit, copy)", outer.TTL(), outer.DF())
	}
	if int(outer.TotalLength()) != 20+len(p) {
		t.Errorf("outer total length %d, want %d", outer.TotalLength(), 20+len(p))
	}

	q := ipPacket("10.244.1.7", "10.244.2.9", 100, false, 64)
	b.link.Inject(q)
	if got := recv(t, c.link); !bytes.Equal(got, q) {
		t.Fatalf("C got % x, want % x", got[:20], q[:20])
	}
	waitFor(t, "tx and rx counters", func() bool {
		return a.net.Counters.Load().TxPackets >= 1 && c.net.Counters.Load().RxPackets >= 1
	})
	if a.net.Counters.Load().TxPackets != 1 || c.net.Counters.Load().RxPackets != 1 {
		t.Errorf("counters: A tx %d, C rx %d, want 1 and 1", a.net.Counters.Load().TxPackets, c.net.Counters.Load().RxPackets)
	}
}

func TestIPIPFixedTTLAndDF(t *testing.T) {
	w := linktest.NewWire()
	a := newIPIPHost(t, w, "10.0.0.1", dataplane.IPIPConfig{TTL: 7}, "0.0.0.0/0", "10.0.0.2")
	newIPIPHost(t, w, "10.0.0.2", dataplane.IPIPConfig{}, "0.0.0.0/0", "10.0.0.1")
	a.link.Inject(ipPacket("10.244.0.5", "172.16.3.3", 60, false, 64))
	waitFor(t, "a packet on the wire", func() bool { return len(w.Sent()) == 1 })
	if o := encap.IPv4(w.Sent()[0]); o.TTL() != 7 || o.DF() {
		t.Errorf("outer TTL %d DF %v, want 7 and false (copied from the inner)", o.TTL(), o.DF())
	}
}

func TestIPIPDrops(t *testing.T) {
	w := linktest.NewWire()
	a := newIPIPHost(t, w, "10.0.0.1", dataplane.IPIPConfig{MTU: 1500, PathMTU: 1480}, "10.244.1.0/24", "10.0.0.2")
	b := newIPIPHost(t, w, "10.0.0.2", dataplane.IPIPConfig{}, "10.244.0.0/24", "10.0.0.1")

	wellFormed := func(src string) []byte {
		inner := ipPacket("10.244.9.9", "10.244.1.1", 64, false, 64)
		pkt := make([]byte, 20+len(inner))
		copy(pkt[20:], inner)
		o := encap.OuterIPIP{Src: netip.MustParseAddr(src), Dst: b.addr, DF: encap.IPIPDFCopy}
		if err := encap.EncapIPIP(pkt, &o); err != nil {
			t.Fatal(err)
		}
		return pkt
	}
	sendRaw := func(pkt []byte) {
		c := w.IPConn(encap.IPv4(pkt).Src())
		defer c.Close()
		if _, err := c.WriteBatch([][]byte{pkt}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("sender is no known remote", func(t *testing.T) {
		before := b.u.Counters.DropCount(dataplane.DropUnknownSource)
		sendRaw(wellFormed("10.0.0.66"))
		waitFor(t, "unknown_source", func() bool { return b.u.Counters.DropCount(dataplane.DropUnknownSource) == before+1 })
		none(t, b.link, "B's device after a stranger's packet")
		// The same packet from the known remote is delivered.
		sendRaw(wellFormed("10.0.0.1"))
		recv(t, b.link)
	})

	t.Run("route added at run time makes its endpoint known", func(t *testing.T) {
		if err := b.net.AddRoute(fdb.Route{Prefix: netip.MustParsePrefix("10.244.66.0/24"), Via: netip.MustParseAddr("10.0.0.66")}); err != nil {
			t.Fatal(err)
		}
		sendRaw(wellFormed("10.0.0.66"))
		recv(t, b.link)
		if err := b.net.DelRoute(netip.MustParsePrefix("10.244.66.0/24")); err != nil {
			t.Fatal(err)
		}
		before := b.u.Counters.DropCount(dataplane.DropUnknownSource)
		sendRaw(wellFormed("10.0.0.66"))
		waitFor(t, "unknown_source after the route went", func() bool { return b.u.Counters.DropCount(dataplane.DropUnknownSource) == before+1 })
	})

	t.Run("bad outer header", func(t *testing.T) {
		pkt := wellFormed("10.0.0.1")
		pkt[0] = 0x44 // IHL 4: shorter than the minimum header
		before := b.u.Counters.DropCount(dataplane.DropMalformed)
		if !w.Deliver(netip.AddrPortFrom(b.addr, 0), netip.AddrPortFrom(a.addr, 0), pkt) {
			t.Fatal("B's raw socket is not on the wire")
		}
		waitFor(t, "malformed", func() bool { return b.u.Counters.DropCount(dataplane.DropMalformed) == before+1 })
	})

	t.Run("no route", func(t *testing.T) {
		before := a.net.Counters.DropCount(dataplane.DropNoRemote)
		a.link.Inject(ipPacket("10.244.0.5", "192.0.2.1", 60, false, 64))
		waitFor(t, "no_remote", func() bool { return a.net.Counters.DropCount(dataplane.DropNoRemote) == before+1 })
	})

	t.Run("IPv6 inner", func(t *testing.T) {
		before := a.net.Counters.DropCount(dataplane.DropUnsupported)
		p := make([]byte, 48)
		p[0] = 0x60
		a.link.Inject(p)
		waitFor(t, "unsupported", func() bool { return a.net.Counters.DropCount(dataplane.DropUnsupported) == before+1 })
	})

	t.Run("too big with DF gets ICMP fragmentation needed", func(t *testing.T) {
		before := a.net.Counters.DropCount(dataplane.DropTooBig)
		big := ipPacket("10.244.0.5", "10.244.1.7", 1500, true, 64)
		a.link.Inject(big)
		icmp := recv(t, a.link)
		ip := encap.IPv4(icmp)
		if !ip.IsValid() || !ip.IsChecksumValid() || ip.Protocol() != encap.ProtocolICMP {
			t.Fatalf("answer is not a valid ICMP packet: % x", icmp)
		}
		if ip.Dst() != netip.MustParseAddr("10.244.0.5") || ip.Src() != netip.MustParseAddr("10.244.1.7") {
			t.Errorf("ICMP %v -> %v, want from the packet's destination 10.244.1.7 to its sender 10.244.0.5", ip.Src(), ip.Dst())
		}
		m := ip.Payload()
		if m[0] != 3 || m[1] != 4 {
			t.Errorf("ICMP type %d code %d, want 3 4", m[0], m[1])
		}
		if mtu := binary.BigEndian.Uint16(m[6:]); mtu != 1480 {
			t.Errorf("next-hop MTU %d, want 1480", mtu)
		}
		if encap.FoldChecksum(encap.Checksum(m, 0)) != 0 {
			t.Errorf("ICMP checksum does not verify")
		}
		if !bytes.Equal(m[8:], big[:28]) {
			t.Errorf("quoted % x, want the header and 8 bytes % x", m[8:], big[:28])
		}
		if got := a.net.Counters.DropCount(dataplane.DropTooBig); got != before+1 {
			t.Errorf("too_big %d, want %d", got, before+1)
		}
		if n := len(w.Sent()); n != 0 && encap.IPv4(w.Sent()[n-1]).TotalLength() > 1500 {
			t.Errorf("an oversized packet went on the wire")
		}
	})

	t.Run("too big without DF is dropped silently", func(t *testing.T) {
		before := a.net.Counters.DropCount(dataplane.DropTooBig)
		a.link.Inject(ipPacket("10.244.0.5", "10.244.1.7", 1500, false, 64))
		waitFor(t, "too_big", func() bool { return a.net.Counters.DropCount(dataplane.DropTooBig) == before+1 })
		none(t, a.link, "A's device: no ICMP without DF")
	})
}
