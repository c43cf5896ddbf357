package encap

import "testing"

func TestInnerOffset(t *testing.T) {
	v4 := make([]byte, 100)
	v4[0] = 0x45
	v4opt := make([]byte, 100)
	v4opt[0] = 0x46 // one 4-byte option
	v6 := make([]byte, 100)
	v6[0] = 0x60
	bad := make([]byte, 100)
	bad[0] = 0x55
	for _, tc := range []struct {
		name       string
		b          []byte
		udpPayload bool
		ipip       bool
		want       int
	}{
		{"VXLAN over IPv4", v4, false, false, 20 + 8 + 8},
		{"VXLAN over IPv4 with options", v4opt, false, false, 24 + 8 + 8},
		{"VXLAN over IPv6", v6, false, false, 40 + 8 + 8},
		{"IPIP", v4, false, true, 20},
		{"IPv6 in IPv4", v4opt, false, true, 24},
		{"UDP payload", v4, true, false, 8},
		{"empty", nil, false, false, -1},
		{"IP version 5", bad, false, false, -1},
		{"shorter than the headers", v4[:35], false, false, -1},
		{"UDP payload shorter than VXLAN", v4[:7], true, false, -1},
		{"headers only", v4[:36], false, false, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := InnerOffset(tc.b, tc.udpPayload, tc.ipip); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}
