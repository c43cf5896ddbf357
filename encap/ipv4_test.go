package encap

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// An ICMP echo request header (the inner packet of a golden capture, cut to
// an 8-byte payload, its checksum recomputed offline) and that payload.
const (
	ipv4Fixture    = "45 00 001c 0171 4000 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"
	ipv4OptFixture = "46 00 001c 0001 0000 40 11 63cc 0a000001 0a000002 01010101 00000000"
)

func TestIPv4IsValid(t *testing.T) {
	base := unhex(t, ipv4Fixture)
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"valid", base, true},
		{"valid with options", unhex(t, ipv4OptFixture), true},
		{"valid with trailing padding", append(clone(base), make([]byte, 32)...), true},
		{"valid header only", unhex(t, "45 00 0014 0000 0000 40 01 0000 0a000001 0a000002"), true},
		{"19 bytes", base[:19], false},
		{"empty", nil, false},
		{"version 6", with(base, 0, 0x65), false},
		{"version 0", with(base, 0, 0x05), false},
		{"IHL 4", with(base, 0, 0x44), false},
		{"IHL 0", with(base, 0, 0x40), false},
		{"IHL beyond buffer", with(base[:20], 0, 0x46), false},
		{"IHL 15 in 28 bytes", with(base, 0, 0x4f), false},
		{"total length below header length", with(base, 3, 0x13), false},
		{"total length beyond buffer", with(base, 3, 0x1d), false},
		{"total length 0", with(with(base, 2, 0), 3, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IPv4(tc.pkt).IsValid(); got != tc.want {
				t.Errorf("IsValid(% x): got %v, want %v", tc.pkt, got, tc.want)
			}
		})
	}
}

// with returns a copy of b with b[i] = v.
func with(b []byte, i int, v byte) []byte {
	c := clone(b)
	c[i] = v
	return c
}

func TestIPv4Accessors(t *testing.T) {
	b := IPv4(unhex(t, ipv4Fixture))
	frag := IPv4(unhex(t, "45 00 001c 0171 20b9 40 01 0000 c0a82a01 c0a82a02 0800f7ff00000000"))
	last := IPv4(unhex(t, "45 00 001c 0171 00b9 40 01 0000 c0a82a01 c0a82a02 0800f7ff00000000"))
	opt := IPv4(unhex(t, ipv4OptFixture))
	tests := []struct {
		name      string
		got, want any
	}{
		{"Version", b.Version(), uint8(4)},
		{"HeaderLen", b.HeaderLen(), 20},
		{"HeaderLen with options", opt.HeaderLen(), 24},
		{"TOS", b.TOS(), uint8(0)},
		{"TotalLength", b.TotalLength(), uint16(28)},
		{"ID", b.ID(), uint16(0x0171)},
		{"Flags", b.Flags(), uint8(IPv4FlagDF)},
		{"DF", b.DF(), true},
		{"MF", b.MF(), false},
		{"FragmentOffset", b.FragmentOffset(), uint16(0)},
		{"IsFragment", b.IsFragment(), false},
		{"first fragment Flags", frag.Flags(), uint8(IPv4FlagMF)},
		{"first fragment MF", frag.MF(), true},
		{"first fragment DF", frag.DF(), false},
		{"fragment offset in bytes", frag.FragmentOffset(), uint16(1480)},
		{"fragment IsFragment", frag.IsFragment(), true},
		{"last fragment IsFragment", last.IsFragment(), true},
		{"last fragment MF", last.MF(), false},
		{"TTL", b.TTL(), uint8(64)},
		{"Protocol", b.Protocol(), uint8(ProtocolICMP)},
		{"Checksum", b.Checksum(), uint16(0x641c)},
		{"Src", b.Src(), netip.MustParseAddr("192.168.42.1")},
		{"Dst", b.Dst(), netip.MustParseAddr("192.168.42.2")},
		{"Payload", string(b.Payload()), string(unhex(t, "0800f7ff00000000"))},
		{"Payload with options", len(opt.Payload()), 4},
		{"CalculateChecksum", b.CalculateChecksum(), uint16(0x641c)},
		{"CalculateChecksum with options", opt.CalculateChecksum(), uint16(0x63cc)},
		{"IsChecksumValid", b.IsChecksumValid(), true},
		{"IsChecksumValid with options", opt.IsChecksumValid(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestIPv4PayloadExcludesPadding(t *testing.T) {
	b := IPv4(append(unhex(t, ipv4Fixture), 0xee, 0xee, 0xee, 0xee))
	if got, want := len(b.Payload()), 8; got != want {
		t.Errorf("len(Payload()): got %d, want %d", got, want)
	}
}

func TestIPv4Setters(t *testing.T) {
	tests := []struct {
		name string
		from string // defaults to ipv4Fixture
		set  func(IPv4)
		want string
	}{
		{"SetVersion keeps IHL", "05 00 001c 0171 4000 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000",
			func(b IPv4) { b.SetVersion() }, ipv4Fixture},
		{"SetHeaderLen keeps version", "", func(b IPv4) { b.SetHeaderLen(24) },
			"46 00 001c 0171 4000 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetTOS", "", func(b IPv4) { b.SetTOS(0xb8) },
			"45 b8 001c 0171 4000 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetTotalLength", "", func(b IPv4) { b.SetTotalLength(0x0054) },
			"45 00 0054 0171 4000 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetID", "", func(b IPv4) { b.SetID(0xbeef) },
			"45 00 001c beef 4000 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetFlagsFragmentOffset", "", func(b IPv4) { b.SetFlagsFragmentOffset(IPv4FlagMF, 1480) },
			"45 00 001c 0171 20b9 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetDF false", "", func(b IPv4) { b.SetDF(false) },
			"45 00 001c 0171 0000 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetDF true keeps MF and offset", "45 00 001c 0171 20b9 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000",
			func(b IPv4) { b.SetDF(true) },
			"45 00 001c 0171 60b9 40 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetTTL", "", func(b IPv4) { b.SetTTL(1) },
			"45 00 001c 0171 4000 01 01 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetProtocol", "", func(b IPv4) { b.SetProtocol(ProtocolUDP) },
			"45 00 001c 0171 4000 40 11 641c c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetChecksumField", "", func(b IPv4) { b.SetChecksumField(0xabcd) },
			"45 00 001c 0171 4000 40 01 abcd c0a82a01 c0a82a02 0800f7ff00000000"},
		{"SetChecksum over a zero field", "45 00 001c 0171 4000 40 01 0000 c0a82a01 c0a82a02 0800f7ff00000000",
			func(b IPv4) { b.SetChecksum() }, ipv4Fixture},
		{"SetChecksum over a stale field", "45 00 001c 0171 4000 40 01 ffff c0a82a01 c0a82a02 0800f7ff00000000",
			func(b IPv4) { b.SetChecksum() }, ipv4Fixture},
		{"SetChecksum with options", "46 00 001c 0001 0000 40 11 0000 0a000001 0a000002 01010101 00000000",
			func(b IPv4) { b.SetChecksum() }, ipv4OptFixture},
		{"SetSrc", "", func(b IPv4) { b.SetSrc(netip.MustParseAddr("10.0.0.1")) },
			"45 00 001c 0171 4000 40 01 641c 0a000001 c0a82a02 0800f7ff00000000"},
		{"SetDst IPv4-mapped", "", func(b IPv4) { b.SetDst(netip.MustParseAddr("::ffff:10.0.0.2")) },
			"45 00 001c 0171 4000 40 01 641c c0a82a01 0a000002 0800f7ff00000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := tc.from
			if from == "" {
				from = ipv4Fixture
			}
			b := IPv4(unhex(t, from))
			tc.set(b)
			if want := unhex(t, tc.want); !bytes.Equal(b, want) {
				t.Errorf("got  % x\nwant % x", []byte(b), want)
			}
		})
	}
}

func TestIPv4ChecksumDetectsDamage(t *testing.T) {
	base := unhex(t, ipv4Fixture)
	for i := range IPv4MinHeaderLen {
		b := IPv4(clone(base))
		b[i] ^= 0x10
		if b.IsChecksumValid() {
			t.Errorf("byte %d flipped: IsChecksumValid got true, want false", i)
		}
	}
	// The payload is not covered by the header checksum.
	b := IPv4(clone(base))
	b[IPv4MinHeaderLen] ^= 0xff
	if !b.IsChecksumValid() {
		t.Errorf("payload byte flipped: IsChecksumValid got false, want true")
	}
}

func TestMinHeaderChecksum(t *testing.T) {
	// Against the general sum (and the textbook one) on headers whose
	// words carry in every way: random, all ones, all zeros.
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		h := make(IPv4, IPv4MinHeaderLen)
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		switch i {
		case 0:
			clear(h)
		case 1:
			for j := range h {
				h[j] = 0xff
			}
		}
		h.SetChecksumField(0)
		if got, want := minHeaderChecksum(h), naiveChecksum(h); got != want {
			t.Fatalf("header % x: got %#04x, want %#04x", []byte(h), got, want)
		}
	}
}
