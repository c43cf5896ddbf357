package encap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// innerFrame returns an inner Ethernet frame of n bytes (n >= 14).
func innerFrame(n int) []byte {
	f := make([]byte, n)
	copy(f, []byte{0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x00})
	for i := EthernetHeaderLen; i < n; i++ {
		f[i] = byte(i * 7)
	}
	return f
}

func TestEncapVXLANIPv4Fields(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2")
	tests := []struct {
		name  string
		o     OuterIPv4
		check func(t *testing.T, ip IPv4, udp UDP)
	}{
		{"TTL 0 means 64", OuterIPv4{Src: v4a, Dst: v4b, VNI: 1}, func(t *testing.T, ip IPv4, _ UDP) {
			if got := ip.TTL(); got != DefaultTTL {
				t.Errorf("TTL: got %d, want %d", got, DefaultTTL)
			}
		}},
		{"TTL, TOS, ID as given", OuterIPv4{Src: v4a, Dst: v4b, TTL: 3, TOS: 0xb8, ID: 0xbeef}, func(t *testing.T, ip IPv4, _ UDP) {
			if ip.TTL() != 3 || ip.TOS() != 0xb8 || ip.ID() != 0xbeef {
				t.Errorf("TTL, TOS, ID: got %d, %#x, %#x, want 3, 0xb8, 0xbeef", ip.TTL(), ip.TOS(), ip.ID())
			}
		}},
		{"DF set", OuterIPv4{Src: v4a, Dst: v4b, DF: true}, func(t *testing.T, ip IPv4, _ UDP) {
			if got := binary.BigEndian.Uint16(ip[6:]); got != 0x4000 {
				t.Errorf("flags/fragment offset: got %#04x, want 0x4000", got)
			}
		}},
		{"ports", OuterIPv4{Src: v4a, Dst: v4b, SrcPort: 49152, DstPort: 8472}, func(t *testing.T, _ IPv4, udp UDP) {
			if udp.SrcPort() != 49152 || udp.DstPort() != 8472 {
				t.Errorf("ports: got %d -> %d, want 49152 -> 8472", udp.SrcPort(), udp.DstPort())
			}
		}},
		{"no UDP checksum", OuterIPv4{Src: v4a, Dst: v4b}, func(t *testing.T, _ IPv4, udp UDP) {
			if got := udp.Checksum(); got != 0 {
				t.Errorf("UDP checksum: got %#04x, want 0", got)
			}
		}},
		{"UDP checksum", OuterIPv4{Src: v4a, Dst: v4b, UDPChecksum: true}, func(t *testing.T, ip IPv4, udp UDP) {
			if udp.Checksum() == 0 || !udp.IsChecksumValid(ip.Src(), ip.Dst()) {
				t.Errorf("UDP checksum %#04x does not verify", udp.Checksum())
			}
		}},
		{"IPv4-mapped addresses", OuterIPv4{Src: netip.MustParseAddr("::ffff:10.1.0.1"), Dst: netip.MustParseAddr("::ffff:10.1.0.2")},
			func(t *testing.T, ip IPv4, _ UDP) {
				if ip.Src() != v4a || ip.Dst() != v4b {
					t.Errorf("addresses: got %v -> %v, want %v -> %v", ip.Src(), ip.Dst(), v4a, v4b)
				}
			}},
		{"VNI cut to 24 bits", OuterIPv4{Src: v4a, Dst: v4b, VNI: 0x1abcdef}, func(t *testing.T, _ IPv4, udp UDP) {
			if got := VXLAN(udp.Payload()).VNI(); got != 0xabcdef {
				t.Errorf("VNI: got %#x, want 0xabcdef", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := innerFrame(64)
			pkt := append(make([]byte, VXLANIPv4HeadersLen), inner...)
			if err := EncapVXLANIPv4(pkt, &tc.o); err != nil {
				t.Fatalf("EncapVXLANIPv4: got error %v, want nil", err)
			}
			ip := IPv4(pkt)
			if !ip.IsValid() || !ip.IsChecksumValid() {
				t.Fatalf("outer IPv4 invalid: % x", pkt[:IPv4MinHeaderLen])
			}
			if ip.TotalLength() != 100 || ip.Protocol() != ProtocolUDP || ip.HeaderLen() != 20 {
				t.Errorf("total length, protocol, header length: got %d, %d, %d, want 100, 17, 20",
					ip.TotalLength(), ip.Protocol(), ip.HeaderLen())
			}
			udp := UDP(ip.Payload())
			if !udp.IsValid() || udp.Length() != 80 {
				t.Fatalf("UDP length: got %d, want 80", udp.Length())
			}
			_, got, err := DecapVXLAN(udp.Payload())
			if err != nil || !bytes.Equal(got, inner) {
				t.Errorf("DecapVXLAN: got % x, %v, want the inner frame", got, err)
			}
			tc.check(t, ip, udp)
		})
	}
}

func TestEncapVXLANIPv4Errors(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2")
	v6 := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name string
		len  int
		o    OuterIPv4
		want error
	}{
		{"no room for headers", VXLANIPv4HeadersLen - 1, OuterIPv4{Src: v4a, Dst: v4b}, ErrShortPacket},
		{"headers but no frame", VXLANIPv4HeadersLen, OuterIPv4{Src: v4a, Dst: v4b}, ErrShortFrame},
		{"frame 13 bytes", VXLANIPv4HeadersLen + 13, OuterIPv4{Src: v4a, Dst: v4b}, ErrShortFrame},
		{"too long", 65536, OuterIPv4{Src: v4a, Dst: v4b}, ErrTooLong},
		{"IPv6 source", 100, OuterIPv4{Src: v6, Dst: v4b}, ErrAddressFamily},
		{"zero destination", 100, OuterIPv4{Src: v4a}, ErrAddressFamily},
		{"smallest", VXLANIPv4HeadersLen + EthernetHeaderLen, OuterIPv4{Src: v4a, Dst: v4b}, nil},
		{"largest", 65535, OuterIPv4{Src: v4a, Dst: v4b, UDPChecksum: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := EncapVXLANIPv4(make([]byte, tc.len), &tc.o); !errors.Is(err, tc.want) {
				t.Errorf("EncapVXLANIPv4: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEncapVXLANIPv6(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	inner := innerFrame(60)
	pkt := append(bytes.Repeat([]byte{0xa5}, VXLANIPv6HeadersLen), inner...)
	o := OuterIPv6{Src: src, Dst: dst, SrcPort: 50000, DstPort: DefaultVXLANPort, VNI: 42,
		TrafficClass: 0xb8, FlowLabel: 0x12345}
	if err := EncapVXLANIPv6(pkt, &o); err != nil {
		t.Fatalf("EncapVXLANIPv6: got error %v, want nil", err)
	}
	// The expected headers, written out field by field; the UDP checksum is
	// computed here with the naive reference over the RFC 8200 pseudo-header.
	want := unhex(t, "6b812345 004c 11 40"+
		" 20010db8000000000000000000000001 20010db8000000000000000000000002"+
		" c350 12b5 004c 0000"+
		" 08000000 00002a00")
	want = append(want, inner...)
	pseudo := append(append([]byte{}, want[8:40]...), 0, 0, 0, 0x4c, 0, 0, 0, ProtocolUDP)
	csum := ^naiveSum(want[IPv6HeaderLen:], uint32(naiveSum(pseudo, 0)))
	binary.BigEndian.PutUint16(want[IPv6HeaderLen+6:], csum)
	if !bytes.Equal(pkt, want) {
		t.Errorf("headers:\n got % x\nwant % x", pkt[:VXLANIPv6HeadersLen], want[:VXLANIPv6HeadersLen])
	}
	ip := IPv6(pkt)
	if !ip.IsValid() || !UDP(ip.Payload()).IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Errorf("IPv6 header or UDP checksum does not verify")
	}

	t.Run("hop limit 0 means 64", func(t *testing.T) {
		if got := ip.HopLimit(); got != DefaultTTL {
			t.Errorf("HopLimit: got %d, want %d", got, DefaultTTL)
		}
	})
	t.Run("flow label cut to 20 bits", func(t *testing.T) {
		p := append(make([]byte, VXLANIPv6HeadersLen), inner...)
		o := OuterIPv6{Src: src, Dst: dst, FlowLabel: 0xfff12345, HopLimit: 9}
		if err := EncapVXLANIPv6(p, &o); err != nil {
			t.Fatalf("EncapVXLANIPv6: got error %v, want nil", err)
		}
		if v := IPv6(p); v.FlowLabel() != 0x12345 || v.TrafficClass() != 0 || v.Version() != 6 || v.HopLimit() != 9 {
			t.Errorf("version, class, label, hop limit: got %d, %#x, %#x, %d, want 6, 0, 0x12345, 9",
				v.Version(), v.TrafficClass(), v.FlowLabel(), v.HopLimit())
		}
	})
}

func TestEncapVXLANIPv6Errors(t *testing.T) {
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	tests := []struct {
		name string
		len  int
		o    OuterIPv6
		want error
	}{
		{"no room for headers", VXLANIPv6HeadersLen - 1, OuterIPv6{Src: v6a, Dst: v6b}, ErrShortPacket},
		{"frame 13 bytes", VXLANIPv6HeadersLen + 13, OuterIPv6{Src: v6a, Dst: v6b}, ErrShortFrame},
		{"payload too long", IPv6HeaderLen + 65536, OuterIPv6{Src: v6a, Dst: v6b}, ErrTooLong},
		{"IPv4 source", 100, OuterIPv6{Src: netip.MustParseAddr("10.0.0.1"), Dst: v6b}, ErrAddressFamily},
		{"IPv4-mapped destination", 100, OuterIPv6{Src: v6a, Dst: netip.MustParseAddr("::ffff:10.0.0.1")}, ErrAddressFamily},
		{"largest payload", IPv6HeaderLen + 65535, OuterIPv6{Src: v6a, Dst: v6b}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := EncapVXLANIPv6(make([]byte, tc.len), &tc.o); !errors.Is(err, tc.want) {
				t.Errorf("EncapVXLANIPv6: got %v, want %v", err, tc.want)
			}
		})
	}
}
