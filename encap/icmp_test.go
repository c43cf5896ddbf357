package encap

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
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
