package encap

import (
	"bytes"
	"net/netip"
	"testing"
)

// The UDP datagram of the golden "icmp echo request, udpcsum" frame: source
// port 54198, VXLAN port, length 106, the kernel's checksum 0xc508.
func goldenUDP(t *testing.T) (udp UDP, src, dst netip.Addr) {
	t.Helper()
	for _, g := range goldenFrames {
		if g.name == "icmp echo request, udpcsum" {
			ip := IPv4(g.outer(t))
			return UDP(clone(ip.Payload())), ip.Src(), ip.Dst()
		}
	}
	t.Fatal("golden frame missing")
	return nil, netip.Addr{}, netip.Addr{}
}

func TestUDPIsValid(t *testing.T) {
	base := unhex(t, "d3b6 12b5 000c 0000 01020304")
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"valid", base, true},
		{"valid with trailing bytes", append(clone(base), 0xee), true},
		{"header only", unhex(t, "d3b6 12b5 0008 0000"), true},
		{"7 bytes", base[:7], false},
		{"length below header", with(base, 5, 7), false},
		{"length 0", with(base, 5, 0), false},
		{"length beyond buffer", with(base, 5, 13), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := UDP(tc.pkt).IsValid(); got != tc.want {
				t.Errorf("IsValid(% x): got %v, want %v", tc.pkt, got, tc.want)
			}
		})
	}
}

func TestUDPAccessors(t *testing.T) {
	b, src, dst := goldenUDP(t)
	padded := UDP(append(unhex(t, "d3b6 12b5 000c 0000 01020304"), 0xee, 0xee))
	tests := []struct {
		name      string
		got, want any
	}{
		{"SrcPort", b.SrcPort(), uint16(54198)},
		{"DstPort", b.DstPort(), uint16(DefaultVXLANPort)},
		{"Length", b.Length(), uint16(106)},
		{"Checksum", b.Checksum(), uint16(0xc508)},
		{"Payload length", len(b.Payload()), 98},
		{"Payload excludes trailing bytes", string(padded.Payload()), string([]byte{1, 2, 3, 4})},
		{"CalculateChecksum", b.CalculateChecksum(PseudoHeaderSum(ProtocolUDP, src, dst, b.Length())), uint16(0xc508)},
		{"IsChecksumValid", b.IsChecksumValid(src, dst), true},
		{"IsChecksumValid, wrong pseudo-header", b.IsChecksumValid(src, netip.MustParseAddr("10.199.0.3")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestUDPSetters(t *testing.T) {
	const from = "d3b6 12b5 000c c0de 01020304"
	tests := []struct {
		name string
		set  func(UDP)
		want string
	}{
		{"SetSrcPort", func(b UDP) { b.SetSrcPort(0x8000) }, "8000 12b5 000c c0de 01020304"},
		{"SetDstPort", func(b UDP) { b.SetDstPort(8472) }, "d3b6 2118 000c c0de 01020304"},
		{"SetLength", func(b UDP) { b.SetLength(8) }, "d3b6 12b5 0008 c0de 01020304"},
		{"SetChecksum", func(b UDP) { b.SetChecksum(0) }, "d3b6 12b5 000c 0000 01020304"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := UDP(unhex(t, from))
			tc.set(b)
			if want := unhex(t, tc.want); !bytes.Equal(b, want) {
				t.Errorf("got % x, want % x", []byte(b), want)
			}
		})
	}
}

func TestUDPChecksumRules(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	zero := UDP(unhex(t, "d3b6 12b5 000c 0000 01020304"))
	tests := []struct {
		name     string
		src, dst netip.Addr
		want     bool
	}{
		// RFC 768: zero means none; RFC 7348 section 5: accept it.
		{"zero checksum over IPv4 accepted", v4a, v4b, true},
		// RFC 8200 section 8.1: mandatory over IPv6.
		{"zero checksum over IPv6 rejected", v6a, v6b, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := zero.IsChecksumValid(tc.src, tc.dst); got != tc.want {
				t.Errorf("IsChecksumValid: got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("IPv6 checksum computed and verified", func(t *testing.T) {
		b := UDP(clone(zero))
		b.SetChecksum(b.CalculateChecksum(PseudoHeaderSum(ProtocolUDP, v6a, v6b, b.Length())))
		if !b.IsChecksumValid(v6a, v6b) {
			t.Errorf("IsChecksumValid after SetChecksum: got false, want true")
		}
		b[UDPHeaderLen] ^= 1
		if b.IsChecksumValid(v6a, v6b) {
			t.Errorf("IsChecksumValid after damaging payload: got true, want false")
		}
	})
	t.Run("computed zero is sent as 0xffff", func(t *testing.T) {
		// Choose the last payload word so that the sum is all ones.
		b := UDP(unhex(t, "d3b6 12b5 000c 0000 0000 0000"))
		pseudo := PseudoHeaderSum(ProtocolUDP, v4a, v4b, b.Length())
		fill := FoldChecksum(Checksum(b, pseudo)) // the word that completes the sum
		b[10], b[11] = byte(fill>>8), byte(fill)
		if got := b.CalculateChecksum(pseudo); got != 0xffff {
			t.Errorf("CalculateChecksum: got %#04x, want 0xffff", got)
		}
		b.SetChecksum(0xffff)
		if !b.IsChecksumValid(v4a, v4b) {
			t.Errorf("IsChecksumValid with 0xffff: got false, want true")
		}
	})
}
