package encap

import (
	"bytes"
	"net/netip"
	"testing"
)

// An IPv6 header (traffic class 0xb8, flow label 0x12345, UDP, hop limit 64,
// 2001:db8::1 -> 2001:db8::2) and 8 bytes of payload.
const ipv6Fixture = "6b812345 0008 11 40" +
	" 20010db8000000000000000000000001" +
	" 20010db8000000000000000000000002" +
	" 1234567800080000"

func TestIPv6IsValid(t *testing.T) {
	base := unhex(t, ipv6Fixture)
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"valid", base, true},
		{"valid with trailing padding", append(clone(base), 0, 0, 0, 0), true},
		{"valid header only, payload length 0", with(base[:40], 5, 0), true},
		{"39 bytes", base[:39], false},
		{"empty", nil, false},
		{"version 4", with(base, 0, 0x4b), false},
		{"version 7", with(base, 0, 0x7b), false},
		{"payload length beyond buffer", with(base, 5, 9), false},
		{"payload length 0xffff", with(with(base, 4, 0xff), 5, 0xff), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IPv6(tc.pkt).IsValid(); got != tc.want {
				t.Errorf("IsValid: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIPv6Accessors(t *testing.T) {
	b := IPv6(append(unhex(t, ipv6Fixture), 0xee, 0xee)) // with padding
	tests := []struct {
		name      string
		got, want any
	}{
		{"Version", b.Version(), uint8(6)},
		{"TrafficClass", b.TrafficClass(), uint8(0xb8)},
		{"FlowLabel", b.FlowLabel(), uint32(0x12345)},
		{"PayloadLength", b.PayloadLength(), uint16(8)},
		{"NextHeader", b.NextHeader(), uint8(ProtocolUDP)},
		{"HopLimit", b.HopLimit(), uint8(64)},
		{"Src", b.Src(), netip.MustParseAddr("2001:db8::1")},
		{"Dst", b.Dst(), netip.MustParseAddr("2001:db8::2")},
		{"Payload excludes padding", string(b.Payload()), string(unhex(t, "1234567800080000"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestIPv6Setters(t *testing.T) {
	const addrs = " 20010db8000000000000000000000001 20010db8000000000000000000000002 1234567800080000"
	tests := []struct {
		name string
		from string // defaults to ipv6Fixture
		set  func(IPv6)
		want string
	}{
		{"SetVersion keeps traffic class", "0b812345 0008 11 40" + addrs,
			func(b IPv6) { b.SetVersion() }, ipv6Fixture},
		{"SetTrafficClass keeps version and flow label", "", func(b IPv6) { b.SetTrafficClass(0x2e) },
			"62e12345 0008 11 40" + addrs},
		{"SetTrafficClass 0xff", "", func(b IPv6) { b.SetTrafficClass(0xff) },
			"6ff12345 0008 11 40" + addrs},
		{"SetFlowLabel keeps version and traffic class", "", func(b IPv6) { b.SetFlowLabel(0xabcde) },
			"6b8abcde 0008 11 40" + addrs},
		{"SetFlowLabel uses 20 bits", "", func(b IPv6) { b.SetFlowLabel(0xfff00001) },
			"6b800001 0008 11 40" + addrs},
		{"SetPayloadLength", "", func(b IPv6) { b.SetPayloadLength(0x0102) },
			"6b812345 0102 11 40" + addrs},
		{"SetNextHeader", "", func(b IPv6) { b.SetNextHeader(ProtocolTCP) },
			"6b812345 0008 06 40" + addrs},
		{"SetHopLimit", "", func(b IPv6) { b.SetHopLimit(255) },
			"6b812345 0008 11 ff" + addrs},
		{"SetSrc", "", func(b IPv6) { b.SetSrc(netip.MustParseAddr("2001:db8::a")) },
			"6b812345 0008 11 40 20010db800000000000000000000000a 20010db8000000000000000000000002 1234567800080000"},
		{"SetDst", "", func(b IPv6) { b.SetDst(netip.MustParseAddr("2001:db8:1::b")) },
			"6b812345 0008 11 40 20010db8000000000000000000000001 20010db800010000000000000000000b 1234567800080000"},
		{"SetDst IPv4 becomes mapped", "", func(b IPv6) { b.SetDst(netip.MustParseAddr("10.0.0.2")) },
			"6b812345 0008 11 40 20010db8000000000000000000000001 00000000000000000000ffff0a000002 1234567800080000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := tc.from
			if from == "" {
				from = ipv6Fixture
			}
			b := IPv6(unhex(t, from))
			tc.set(b)
			if want := unhex(t, tc.want); !bytes.Equal(b, want) {
				t.Errorf("got  % x\nwant % x", []byte(b), want)
			}
		})
	}
}
