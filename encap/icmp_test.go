package encap

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestPutICMPFragNeeded(t *testing.T) {
	tests := []struct {
		name string
		src  string
		orig string
		mtu  uint16
		want string
	}{
		{
			// Link-layer padding after orig's total length is not quoted:
			// the quote is the header and 64 bits of data (RFC 792).
			name: "quotes header and 8 bytes",
			src:  "10.0.0.1", orig: ipv4Fixture + " eeeeeeee", mtu: 1480,
			want: "45 00 0038 0000 0000 40 01 861b 0a000001 c0a82a01" +
				" 03 04 f733 0000 05c8" + ipv4Fixture,
		},
		{
			name: "quotes options, and less when the datagram is shorter",
			src:  "10.0.0.254", orig: ipv4OptFixture, mtu: 1398,
			want: "45 00 0038 0000 0000 40 01 65c7 0a0000fe 0a000001" +
				" 03 04 f785 0000 0576" + ipv4OptFixture,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.want)
			b := bytes.Repeat([]byte{0xa5}, len(want)+10) // junk: every byte must be written
			n, err := PutICMPFragNeeded(b, netip.MustParseAddr(tc.src), unhex(t, tc.orig), tc.mtu)
			if err != nil {
				t.Fatalf("PutICMPFragNeeded: got error %v, want nil", err)
			}
			if n != len(want) {
				t.Fatalf("length: got %d, want %d", n, len(want))
			}
			if !bytes.Equal(b[:n], want) {
				t.Errorf("packet:\n got % x\nwant % x", b[:n], want)
			}
			if got := naiveChecksum(b[:IPv4MinHeaderLen]); got != 0 {
				t.Errorf("IPv4 header checksum: folds to %#04x, want 0", got)
			}
			if got := naiveChecksum(b[IPv4MinHeaderLen:n]); got != 0 {
				t.Errorf("ICMP checksum: folds to %#04x, want 0", got)
			}
		})
	}
}

func TestPutICMPFragNeededErrors(t *testing.T) {
	orig := unhex(t, ipv4Fixture)
	tests := []struct {
		name string
		b    []byte
		orig []byte
		want error
	}{
		{"buffer one byte short", make([]byte, IPv4MinHeaderLen+ICMPv4HeaderLen+len(orig)-1), orig, ErrShortPacket},
		{"orig shorter than an IPv4 header", make([]byte, 100), orig[:IPv4MinHeaderLen-1], ErrBadIPv4Header},
		{"orig IPv6", make([]byte, 100), unhex(t, "60000000 0000 3b 40"+strings.Repeat("00", 32)), ErrBadIPv4Header},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := PutICMPFragNeeded(tc.b, netip.MustParseAddr("10.0.0.1"), tc.orig, 1480)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Errorf("got (%d, %v), want (0, %v)", n, err, tc.want)
			}
		})
	}
}

func TestPutICMPv4Echo(t *testing.T) {
	// ping(8)'s request: 56 bytes of data, here 0x08, 0x09, ... as the
	// ICMP message's own offsets; the reply carries the same data back.
	data := make([]byte, 56)
	for i := range data {
		data[i] = byte(ICMPv4HeaderLen + i)
	}
	src, dst := netip.MustParseAddr("192.168.42.1"), netip.MustParseAddr("192.168.42.2")
	for _, tc := range []struct {
		name     string
		typ      uint8
		src, dst netip.Addr
	}{
		{"request", ICMPv4EchoRequest, src, dst},
		{"reply", ICMPv4EchoReply, dst, src},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xa5}, 100) // junk: every byte must be written
			n, err := PutICMPv4Echo(b, tc.src, tc.dst, 0x1c46, tc.typ, 0x1234, 7, data)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if n != 84 {
				t.Fatalf("length: got %d, want 84 (20 + 8 + 56)", n)
			}
			// gopacket decodes what ping's own reader would check.
			pkt := gopacket.NewPacket(b[:n], layers.LayerTypeIPv4, gopacket.Default)
			ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			icmp, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if ip == nil || icmp == nil {
				t.Fatalf("gopacket: got no IPv4 or ICMPv4 layer: %v", pkt.ErrorLayer())
			}
			if !ip.SrcIP.Equal(tc.src.AsSlice()) || !ip.DstIP.Equal(tc.dst.AsSlice()) || ip.Id != 0x1c46 ||
				ip.Flags != layers.IPv4DontFragment || ip.TTL != DefaultTTL || ip.Length != 84 {
				t.Errorf("IPv4: got %v > %v id %#x flags %v ttl %d len %d, want %v > %v id 0x1c46 DF ttl %d len 84",
					ip.SrcIP, ip.DstIP, ip.Id, ip.Flags, ip.TTL, ip.Length, tc.src, tc.dst, DefaultTTL)
			}
			if icmp.TypeCode != layers.CreateICMPv4TypeCode(tc.typ, 0) || icmp.Id != 0x1234 || icmp.Seq != 7 ||
				!bytes.Equal(icmp.Payload, data) {
				t.Errorf("ICMP: got %v id %#x seq %d data % x, want type %d id 0x1234 seq 7 data % x",
					icmp.TypeCode, icmp.Id, icmp.Seq, icmp.Payload, tc.typ, data)
			}
			if got := FoldChecksum(Checksum(b[:IPv4MinHeaderLen], 0)); got != 0 {
				t.Errorf("IPv4 header checksum does not verify: folded sum %#04x", got)
			}
			if got := FoldChecksum(Checksum(b[IPv4MinHeaderLen:n], 0)); got != 0 {
				t.Errorf("ICMP checksum does not verify: folded sum %#04x", got)
			}
		})
	}
	for _, tc := range []struct {
		name     string
		b        []byte
		src, dst string
		data     []byte
		want     error
	}{
		{"short buffer", make([]byte, 83), "10.0.0.1", "10.0.0.2", data, ErrShortPacket},
		{"IPv6 source", make([]byte, 100), "fd00::1", "10.0.0.2", data, ErrAddressFamily},
		{"too much data", make([]byte, 1<<17), "10.0.0.1", "10.0.0.2", make([]byte, 65535-27), ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PutICMPv4Echo(tc.b, netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst), 1, ICMPv4EchoRequest, 1, 1, tc.data)
			if !errors.Is(err, tc.want) {
				t.Errorf("got error %v, want %v", err, tc.want)
			}
		})
	}
}
