package fdb

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in   string
		want MAC
	}{
		{"aa:bb:cc:dd:ee:ff", MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
		{"AA:BB:CC:DD:EE:0F", MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f}},
		{"02-00-5e-10-00-01", MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}},
		{"00:00:00:00:00:00", MAC{}},
		{"ff:ff:ff:ff:ff:ff", MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMAC(tc.in)
			if err != nil {
				t.Fatalf("ParseMAC(%q): got error %v, want nil", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseMAC(%q): got %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMACErrors(t *testing.T) {
	tests := []struct {
		name, in, wantText string
	}{
		{"empty", "", "want 6 hex octets"},
		{"short", "aa:bb:cc:dd:ee", "want 6 hex octets"},
		{"long", "aa:bb:cc:dd:ee:ff:00", "want 6 hex octets"},
		{"single digits", "a:b:c:d:e:f", "want 6 hex octets"},
		{"no separators", "aabbccddeeff00000", "separated by"},
		{"dot separator", "aa.bb.cc.dd.ee.ff", "separated by"},
		{"mixed separators", "aa:bb-cc:dd:ee:ff", "separated by ':'"},
		{"bad hex", "aa:bb:cc:dd:ee:fg", `"fg" is not a hex octet`},
		{"sign", "aa:bb:+c:dd:ee:ff", `"+c" is not a hex octet`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMAC(tc.in)
			if err == nil {
				t.Fatalf("ParseMAC(%q): got nil error, want one", tc.in)
			}
			if !errors.Is(err, ErrBadMAC) {
				t.Errorf("ParseMAC(%q): got error %v, want it to wrap ErrBadMAC", tc.in, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+tc.in+`"`) {
				t.Errorf("ParseMAC(%q): got error %q, want it to quote the input", tc.in, msg)
			}
			if !strings.Contains(msg, tc.wantText) {
				t.Errorf("ParseMAC(%q): got error %q, want it to contain %q", tc.in, msg, tc.wantText)
			}
		})
	}
}

func TestMACString(t *testing.T) {
	tests := []struct {
		mac  MAC
		want string
	}{
		{MAC{}, "00:00:00:00:00:00"},
		{MAC{0xAA, 0xbb, 0x0c, 0xd0, 0x01, 0xff}, "aa:bb:0c:d0:01:ff"},
		{MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, "02:42:ac:11:00:02"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.mac.String(); got != tc.want {
				t.Errorf("String(): got %q, want %q", got, tc.want)
			}
			back, err := ParseMAC(tc.mac.String())
			if err != nil || back != tc.mac {
				t.Errorf("ParseMAC(String()): got %v, %v, want %v, nil", back, err, tc.mac)
			}
		})
	}
}

func TestMACClass(t *testing.T) {
	tests := []struct {
		mac             string
		zero, multicast bool
	}{
		{"00:00:00:00:00:00", true, false},
		{"02:00:00:00:00:01", false, false},
		{"ff:ff:ff:ff:ff:ff", false, true},
		{"01:00:5e:00:00:fb", false, true}, // IPv4 multicast (RFC 1112 section 6.4)
		{"33:33:00:00:00:01", false, true}, // IPv6 multicast (RFC 2464 section 7)
		{"fe:ff:ff:ff:ff:ff", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.mac, func(t *testing.T) {
			m, err := ParseMAC(tc.mac)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.IsZero(); got != tc.zero {
				t.Errorf("IsZero(): got %v, want %v", got, tc.zero)
			}
			if got := m.IsMulticast(); got != tc.multicast {
				t.Errorf("IsMulticast(): got %v, want %v", got, tc.multicast)
			}
		})
	}
}

func TestMACKeyRoundTrip(t *testing.T) {
	m := MAC{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}
	if got, want := m.key(), uint64(0x123456789abc); got != want {
		t.Errorf("key(): got %#x, want %#x", got, want)
	}
	if got := macFromKey(m.key()); got != m {
		t.Errorf("macFromKey(key()): got %v, want %v", got, m)
	}
}
