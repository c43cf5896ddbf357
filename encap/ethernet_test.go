package encap

import (
	"bytes"
	"testing"
)

// An ARP request as the kernel flooded it (inner frame of a golden capture).
const ethFixture = "ffffffffffff 02000000000a 0806 0001080006040001"

func TestEthernetIsValid(t *testing.T) {
	tests := []struct {
		name string
		len  int
		want bool
	}{
		{"empty", 0, false},
		{"13 bytes", 13, false},
		{"header only", 14, true},
		{"with payload", 60, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Ethernet(make([]byte, tc.len)).IsValid(); got != tc.want {
				t.Errorf("IsValid(len %d): got %v, want %v", tc.len, got, tc.want)
			}
		})
	}
}

func TestEthernetAccessors(t *testing.T) {
	b := Ethernet(unhex(t, ethFixture))
	tests := []struct {
		name      string
		got, want any
	}{
		{"Dst", b.Dst(), [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"Src", b.Src(), [6]byte{0x02, 0, 0, 0, 0, 0x0a}},
		{"EtherType", b.EtherType(), uint16(EtherTypeARP)},
		{"Payload length", len(b.Payload()), 8},
		{"Payload first byte", b.Payload()[1], byte(0x01)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestEthernetSetters(t *testing.T) {
	tests := []struct {
		name string
		set  func(Ethernet)
		want string
	}{
		{"SetDst", func(b Ethernet) { b.SetDst([6]byte{1, 2, 3, 4, 5, 6}) }, "010203040506 02000000000a 0806 0001080006040001"},
		{"SetSrc", func(b Ethernet) { b.SetSrc([6]byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}) }, "ffffffffffff aabbccddeeff 0806 0001080006040001"},
		{"SetEtherType", func(b Ethernet) { b.SetEtherType(EtherTypeIPv6) }, "ffffffffffff 02000000000a 86dd 0001080006040001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Ethernet(unhex(t, ethFixture))
			tc.set(b)
			if want := unhex(t, tc.want); !bytes.Equal(b, want) {
				t.Errorf("got %x, want %x", []byte(b), want)
			}
		})
	}
}

func TestMACClasses(t *testing.T) {
	tests := []struct {
		name         string
		mac          [6]byte
		bcast, mcast bool
	}{
		{"broadcast", [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true, true},
		{"IPv4 multicast", [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, false, true},
		{"IPv6 multicast", [6]byte{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, false, true},
		{"unicast, locally administered", [6]byte{0x02, 0, 0, 0, 0, 0x0a}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsBroadcast(tc.mac); got != tc.bcast {
				t.Errorf("IsBroadcast: got %v, want %v", got, tc.bcast)
			}
			if got := IsMulticast(tc.mac); got != tc.mcast {
				t.Errorf("IsMulticast: got %v, want %v", got, tc.mcast)
			}
		})
	}
}
