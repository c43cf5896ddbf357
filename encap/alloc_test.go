package encap

import (
	"net/netip"
	"testing"
)

// TestNoAllocations: the per-packet paths must not allocate (DESIGN.md, hot
// path rules).
func TestNoAllocations(t *testing.T) {
	g := goldenFrames[2] // ICMP echo request, udpcsum
	outer := g.outer(t)
	vxlanPayload := outer[IPv4MinHeaderLen+UDPHeaderLen:]
	inner := g.inner(t)
	pkt4 := append(make([]byte, VXLANIPv4HeadersLen), inner...)
	pkt6 := append(make([]byte, VXLANIPv6HeadersLen), inner...)
	o4 := OuterIPv4{Src: netip.MustParseAddr("10.199.0.1"), Dst: netip.MustParseAddr("10.199.0.2"),
		SrcPort: 54198, DstPort: DefaultVXLANPort, VNI: 42, ID: 1, UDPChecksum: true}
	o6 := OuterIPv6{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"),
		SrcPort: 54198, DstPort: DefaultVXLANPort, VNI: 42}
	ipipPkt := ipip(innerIPv4(t))
	oIPIP := OuterIPIP{Src: ipipSrc, Dst: ipipDst, DF: IPIPDFCopy}
	if err := EncapIPIP(ipipPkt, &oIPIP); err != nil {
		t.Fatalf("EncapIPIP: %v", err)
	}
	ipipRx := clone(ipipPkt)
	ipipTx := clone(ipipPkt)
	frame6 := frame6("2001:db8::1", "2001:db8::2", ProtocolTCP, 1, 2, nil)
	var sink uint32
	tests := []struct {
		name string
		fn   func()
	}{
		{"DecapVXLAN", func() {
			vni, _, err := DecapVXLAN(vxlanPayload)
			if err != nil || vni != 42 {
				t.Fatalf("DecapVXLAN: %d, %v", vni, err)
			}
		}},
		{"DecapVXLAN error", func() { _, _, _ = DecapVXLAN(vxlanPayload[:7]) }},
		{"EncapVXLANIPv4", func() {
			if err := EncapVXLANIPv4(pkt4, &o4); err != nil {
				t.Fatal(err)
			}
		}},
		{"EncapVXLANIPv6", func() {
			if err := EncapVXLANIPv6(pkt6, &o6); err != nil {
				t.Fatal(err)
			}
		}},
		{"EncapIPIP", func() {
			if err := EncapIPIP(ipipTx, &oIPIP); err != nil {
				t.Fatal(err)
			}
		}},
		{"DecapIPIP", func() {
			if _, _, err := DecapIPIP(ipipRx); err != nil {
				t.Fatal(err)
			}
		}},
		{"FlowHash IPv4", func() { sink += FlowHash(inner) }},
		{"FlowHash IPv6", func() { sink += FlowHash(frame6) }},
		{"Checksum", func() { sink += Checksum(outer, 0) }},
		{"PseudoHeaderSum", func() { sink += PseudoHeaderSum(ProtocolUDP, o6.Src, o6.Dst, 100) }},
		{"IPv4 view", func() {
			ip := IPv4(outer)
			if !ip.IsValid() || !ip.IsChecksumValid() || ip.Src() != o4.Src {
				t.Fatal("IPv4 view")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
				t.Errorf("allocations per run: got %v, want 0", n)
			}
		})
	}
	_ = sink
}
