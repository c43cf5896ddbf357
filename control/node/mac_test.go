package node

import (
	"net/netip"
	"testing"
)

// TestDeviceMAC: a network's TAP address depends on the underlay address
// and the network's name only, so it is the same whenever the device is
// made; it is unicast and locally administered, and differs between
// underlay addresses and between networks.
func TestDeviceMAC(t *testing.T) {
	tests := []struct {
		local, dev string
		// Fixed values: a changed derivation would give a vtepd restarted
		// after an upgrade a MAC its peers do not know.
		want string
	}{
		{"10.0.0.1", "vx42", "3e:49:ae:83:f2:21"},
		{"10.0.0.2", "vx42", "9a:07:15:4b:8a:a5"},
		{"10.0.0.1", "vx43", "f2:f5:c2:04:1d:cd"},
		{"fd00::1", "vx42", "8a:c9:52:ab:51:e8"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		name := tc.dev + " on " + tc.local
		t.Run(name, func(t *testing.T) {
			mac := deviceMAC(netip.MustParseAddr(tc.local), tc.dev)
			if got := deviceMAC(netip.MustParseAddr(tc.local), tc.dev); got.String() != mac.String() {
				t.Errorf("second call: got %s, want %s as the first", got, mac)
			}
			if mac.String() != tc.want {
				t.Errorf("got %s, want %s", mac, tc.want)
			}
			if mac[0]&0x01 != 0 || mac[0]&0x02 == 0 {
				t.Errorf("first byte %#02x: want the group bit clear and the local bit set", mac[0])
			}
			if other, dup := seen[mac.String()]; dup {
				t.Errorf("got %s, the MAC of %s too", mac, other)
			}
			seen[mac.String()] = name
		})
	}
}
