package encap

import (
	"net/netip"
	"testing"
)

func BenchmarkEncapVXLANIPv4(b *testing.B) {
	for _, csum := range []bool{false, true} {
		name := "nocsum"
		if csum {
			name = "udpcsum"
		}
		b.Run(name, func(b *testing.B) {
			pkt := append(make([]byte, VXLANIPv4HeadersLen), innerFrame(1450-VXLANOverheadIPv4+EthernetHeaderLen)...)
			o := OuterIPv4{Src: netip.MustParseAddr("10.199.0.1"), Dst: netip.MustParseAddr("10.199.0.2"),
				SrcPort: 54198, DstPort: DefaultVXLANPort, VNI: 42, UDPChecksum: csum}
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				if err := EncapVXLANIPv4(pkt, &o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncapVXLANIPv6(b *testing.B) {
	pkt := append(make([]byte, VXLANIPv6HeadersLen), innerFrame(1400)...)
	o := OuterIPv6{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"),
		SrcPort: 54198, DstPort: DefaultVXLANPort, VNI: 42}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := EncapVXLANIPv6(pkt, &o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecapVXLAN(b *testing.B) {
	payload := goldenFrames[2].outer(b)[IPv4MinHeaderLen+UDPHeaderLen:]
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, _, err := DecapVXLAN(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFlowHash(b *testing.B) {
	frames := map[string][]byte{
		"ipv4-tcp": frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 443, nil),
		"ipv6-udp": frame6("2001:db8::1", "2001:db8::2", ProtocolUDP, 40000, 53, nil),
		"arp":      goldenFrames[0].inner(b),
	}
	for name, f := range frames {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			var sink uint32
			for b.Loop() {
				sink += FlowHash(f)
			}
			_ = sink
		})
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := innerFrame(1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	var sink uint32
	for b.Loop() {
		sink += Checksum(buf, 0)
	}
	_ = sink
}

func BenchmarkEncapIPIP(b *testing.B) {
	inner := innerIPv4(b)
	pkt := ipip(inner)
	o := OuterIPIP{Src: ipipSrc, Dst: ipipDst, DF: IPIPDFCopy}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := EncapIPIP(pkt, &o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecapIPIP(b *testing.B) {
	pkt := ipip(innerIPv4(b))
	if err := EncapIPIP(pkt, &OuterIPIP{Src: ipipSrc, Dst: ipipDst}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if _, _, err := DecapIPIP(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChecksumCopy1448 copies and sums a full TCP segment's payload
// in one pass, as GSOSplit does; BenchmarkCopyThenChecksum1448 is the same
// work in two passes, for comparison.
func BenchmarkChecksumCopy1448(b *testing.B) {
	src, dst := innerFrame(1448), make([]byte, 1448)
	b.SetBytes(int64(len(src)))
	var sink uint32
	for b.Loop() {
		sink += ChecksumCopy(dst, src, 0)
	}
	_ = sink
}

func BenchmarkCopyThenChecksum1448(b *testing.B) {
	src, dst := innerFrame(1448), make([]byte, 1448)
	b.SetBytes(int64(len(src)))
	var sink uint32
	for b.Loop() {
		copy(dst, src)
		sink += Checksum(dst, 0)
	}
	_ = sink
}
