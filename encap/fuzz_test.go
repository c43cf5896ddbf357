package encap

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// Seeds: the golden kernel frames cut at each layer, plus a few hand-made
// edge cases. Every target checks that decoding never panics and that
// re-encoding what was decoded gives the same bytes back.

func seedGolden(f *testing.F, layer func(t testing.TB, g goldenFrame) []byte) {
	for _, g := range goldenFrames {
		f.Add(layer(f, g))
	}
}

func FuzzDecapVXLAN(f *testing.F) {
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte {
		return g.outer(t)[IPv4MinHeaderLen+UDPHeaderLen:]
	})
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		vni, inner, err := DecapVXLAN(data)
		switch {
		case len(data) < VXLANHeaderLen:
			if err != ErrShortPacket {
				t.Fatalf("len %d: got %v, want ErrShortPacket", len(data), err)
			}
			return
		case data[0]&VXLANFlagI == 0:
			if err != ErrVXLANFlags {
				t.Fatalf("flags %#x: got %v, want ErrVXLANFlags", data[0], err)
			}
			return
		case len(data) < VXLANHeaderLen+EthernetHeaderLen:
			if err != ErrShortFrame {
				t.Fatalf("len %d: got %v, want ErrShortFrame", len(data), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("DecapVXLAN: got %v, want nil", err)
		}
		if vni > MaxVNI || len(inner) != len(data)-VXLANHeaderLen || &inner[0] != &data[VXLANHeaderLen] {
			t.Fatalf("vni %d, inner length %d: want <= MaxVNI and data[8:]", vni, len(inner))
		}
		// Re-encode: the same header with the reserved bits cleared.
		hdr := make([]byte, VXLANHeaderLen)
		PutVXLAN(hdr, vni)
		want := []byte{VXLANFlagI, 0, 0, 0, data[4], data[5], data[6], 0}
		if !bytes.Equal(hdr, want) {
			t.Fatalf("PutVXLAN(DecapVXLAN): got % x, want % x", hdr, want)
		}
	})
}

func FuzzIPv4(f *testing.F) {
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte { return g.outer(t) })
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte { return Ethernet(g.inner(t)).Payload() })
	f.Add([]byte(nil))
	f.Add(unhex(f, ipv4OptFixture))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := IPv4(data)
		if !b.IsValid() {
			return
		}
		hl, tl := b.HeaderLen(), int(b.TotalLength())
		if hl < IPv4MinHeaderLen || hl > tl || tl > len(b) || len(b.Payload()) != tl-hl {
			t.Fatalf("IsValid but header length %d, total length %d, buffer %d", hl, tl, len(b))
		}
		// Rebuild the header from its decoded fields.
		r := IPv4(make([]byte, hl))
		copy(r[IPv4MinHeaderLen:], b[IPv4MinHeaderLen:hl]) // options are opaque
		r.SetVersion()
		r.SetHeaderLen(hl)
		r.SetTOS(b.TOS())
		r.SetTotalLength(b.TotalLength())
		r.SetID(b.ID())
		r.SetFlagsFragmentOffset(b.Flags(), b.FragmentOffset())
		r.SetTTL(b.TTL())
		r.SetProtocol(b.Protocol())
		r.SetChecksumField(b.Checksum())
		r.SetSrc(b.Src())
		r.SetDst(b.Dst())
		if !bytes.Equal(r, b[:hl]) {
			t.Fatalf("rebuilt header:\n got % x\nwant % x", []byte(r), b[:hl])
		}
		if got, want := b.DF(), b.Flags()&IPv4FlagDF != 0; got != want {
			t.Fatalf("DF: got %v, want %v (from Flags)", got, want)
		}
		// The checksum verifies exactly when it is the computed one (0xffff
		// and 0 being the two forms of one's complement zero).
		calc := b.CalculateChecksum()
		want := b.Checksum() == calc || (calc == 0 && b.Checksum() == 0xffff)
		if got := b.IsChecksumValid(); got != want {
			t.Fatalf("IsChecksumValid: got %v, want %v (stored %#04x, computed %#04x)", got, want, b.Checksum(), calc)
		}
		c := IPv4(clone(data))
		c.SetChecksum()
		if !c.IsChecksumValid() {
			t.Fatalf("IsChecksumValid after SetChecksum: got false, want true")
		}
	})
}

func FuzzIPv6(f *testing.F) {
	f.Add(unhex(f, ipv6Fixture))
	f.Add(unhex(f, "60000000 0000 3b 01 00000000000000000000000000000000 ffffffffffffffffffffffffffffffff"))
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte { return g.outer(t) }) // IPv4: invalid as IPv6
	f.Fuzz(func(t *testing.T, data []byte) {
		b := IPv6(data)
		if !b.IsValid() {
			return
		}
		if len(b.Payload()) != int(b.PayloadLength()) {
			t.Fatalf("Payload: got %d bytes, want %d", len(b.Payload()), b.PayloadLength())
		}
		r := IPv6(make([]byte, IPv6HeaderLen))
		r.SetVersion()
		r.SetTrafficClass(b.TrafficClass())
		r.SetFlowLabel(b.FlowLabel())
		r.SetPayloadLength(b.PayloadLength())
		r.SetNextHeader(b.NextHeader())
		r.SetHopLimit(b.HopLimit())
		r.SetSrc(b.Src())
		r.SetDst(b.Dst())
		if !bytes.Equal(r, b[:IPv6HeaderLen]) {
			t.Fatalf("rebuilt header:\n got % x\nwant % x", []byte(r), b[:IPv6HeaderLen])
		}
	})
}

func FuzzEthernet(f *testing.F) {
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte { return g.bytes(t) })
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte { return g.inner(t) })
	f.Add(vlan(frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 1, 2, nil), 5))
	f.Add(frame6("2001:db8::1", "2001:db8::2", ProtocolUDP, 1, 2, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := FlowHash(data) // must not panic on any input
		if h != FlowHash(clone(data)) {
			t.Fatalf("FlowHash differs between two copies of one frame")
		}
		if p := SourcePort(h, DefaultSourcePortMin, DefaultSourcePortMax); p < DefaultSourcePortMin || p > DefaultSourcePortMax {
			t.Fatalf("SourcePort: got %d, outside the range", p)
		}
		b := Ethernet(data)
		if !b.IsValid() {
			return
		}
		r := Ethernet(make([]byte, EthernetHeaderLen))
		r.SetDst(b.Dst())
		r.SetSrc(b.Src())
		r.SetEtherType(b.EtherType())
		if !bytes.Equal(r, b[:EthernetHeaderLen]) || len(b.Payload()) != len(b)-EthernetHeaderLen {
			t.Fatalf("rebuilt header: got % x, want % x", []byte(r), b[:EthernetHeaderLen])
		}
		// Swapping the MACs of a non-IP frame is the reply direction.
		if b.EtherType() != EtherTypeIPv4 && b.EtherType() != EtherTypeIPv6 && b.EtherType() != EtherTypeARP &&
			b.EtherType() != EtherTypeVLAN && b.EtherType() != EtherTypeQinQ {
			s := Ethernet(clone(data))
			s.SetDst(b.Src())
			s.SetSrc(b.Dst())
			if FlowHash(s) != h {
				t.Fatalf("FlowHash of the reverse direction: got %#08x, want %#08x", FlowHash(s), h)
			}
		}
	})
}

func FuzzUDP(f *testing.F) {
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte { return g.outer(t)[IPv4MinHeaderLen:] })
	f.Add([]byte{0, 0, 0, 0, 0, 8, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := UDP(data)
		if !b.IsValid() {
			return
		}
		r := UDP(make([]byte, UDPHeaderLen))
		r.SetSrcPort(b.SrcPort())
		r.SetDstPort(b.DstPort())
		r.SetLength(b.Length())
		r.SetChecksum(b.Checksum())
		if !bytes.Equal(r, b[:UDPHeaderLen]) || len(b.Payload()) != int(b.Length())-UDPHeaderLen {
			t.Fatalf("rebuilt header: got % x, want % x", []byte(r), b[:UDPHeaderLen])
		}
		for _, p := range [][2]netip.Addr{
			{netip.MustParseAddr("10.199.0.1"), netip.MustParseAddr("10.199.0.2")},
			{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")},
		} {
			c := UDP(clone(data))
			c.SetChecksum(c.CalculateChecksum(PseudoHeaderSum(ProtocolUDP, p[0], p[1], c.Length())))
			if c.Checksum() == 0 || !c.IsChecksumValid(p[0], p[1]) {
				t.Fatalf("%v: checksum %#04x after CalculateChecksum does not verify", p[0], c.Checksum())
			}
		}
	})
}

func FuzzDecapIPIP(f *testing.F) {
	for _, g := range goldenFrames {
		if g.innerType != EtherTypeIPv4 {
			continue
		}
		pkt := ipip(Ethernet(g.inner(f)).Payload())
		if err := EncapIPIP(pkt, &OuterIPIP{Src: ipipSrc, Dst: ipipDst, DF: IPIPDFCopy, ID: g.id}); err != nil {
			f.Fatalf("EncapIPIP: %v", err)
		}
		f.Add(pkt)
	}
	pkt6 := ipip(innerIPv6(f))
	if err := EncapIPIP(pkt6, &OuterIPIP{Src: ipipSrc, Dst: ipipDst}); err != nil {
		f.Fatalf("EncapIPIP: %v", err)
	}
	f.Add(pkt6)
	seedGolden(f, func(t testing.TB, g goldenFrame) []byte { return g.outer(t) }) // UDP: wrong protocol
	f.Fuzz(func(t *testing.T, data []byte) {
		src, inner, err := DecapIPIP(data)
		if err != nil {
			known := []error{ErrShortPacket, ErrBadIPv4Header, ErrBadIPv6Header, ErrFragment, ErrIPIPProtocol, ErrIPv4Checksum}
			for _, k := range known {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("DecapIPIP: unexpected error %v", err)
		}
		outer := IPv4(data)
		if src != outer.Src() {
			t.Fatalf("src: got %v, want %v", src, outer.Src())
		}
		if len(inner) == 0 || &inner[0] != &data[outer.HeaderLen()] {
			t.Fatalf("inner is not a sub-slice right after the outer header")
		}
		if (outer.Protocol() == ProtocolIPIP && !IPv4(inner).IsValid()) ||
			(outer.Protocol() == ProtocolIPv6inIPv4 && !IPv6(inner).IsValid()) {
			t.Fatalf("inner packet does not match protocol %d", outer.Protocol())
		}
		// Re-encode with the same outer fields: the header comes back when
		// the original one had no options, no reserved flag and no padding
		// after the inner packet, and the inner version matches the protocol.
		if outer.HeaderLen() != IPv4MinHeaderLen || outer.Flags()&0x4 != 0 ||
			int(outer.TotalLength()) != IPv4MinHeaderLen+len(inner) {
			return
		}
		df := int8(IPIPDFClear)
		if outer.DF() {
			df = IPIPDFSet
		}
		o := OuterIPIP{Src: outer.Src(), Dst: outer.Dst(), TTL: outer.TTL(), TOS: outer.TOS(), ID: outer.ID(), DF: df}
		if o.TTL == 0 {
			return // 0 asks EncapIPIP to inherit
		}
		pkt := ipip(inner)
		if err := EncapIPIP(pkt, &o); err != nil {
			t.Fatalf("EncapIPIP(DecapIPIP): got %v, want nil", err)
		}
		want := clone(data[:IPv4MinHeaderLen])
		if IPv4(want).Checksum() == 0xffff && IPv4(pkt).Checksum() == 0 {
			return // the other form of zero, equally valid
		}
		if !bytes.Equal(pkt[:IPv4MinHeaderLen], want) {
			t.Fatalf("EncapIPIP(DecapIPIP) header:\n got % x\nwant % x", pkt[:IPv4MinHeaderLen], want)
		}
	})
}
