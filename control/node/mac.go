package node

import (
	"crypto/sha256"
	"net"
	"net/netip"
)

// deviceMAC is the Ethernet address of the TAP of network name on a vtepd
// whose underlay address is local. It is the same each time the device is
// made, so a vtepd restarted, or a device deleted and made again, keeps the
// address its peers hold in their neighbour caches and FDBs: traffic
// resumes at once, not once their entries go stale, up to a minute later
// (the kernel's random address would be new every time). It is a hash of
// the two with the locally administered bit set and the group bit clear
// (RFC 7042 section 2.1), as systemd's MACAddressPolicy=persistent makes
// one for virtual devices; every vtepd of an overlay has its own local
// address, so every device its own MAC.
func deviceMAC(local netip.Addr, name string) net.HardwareAddr {
	h := sha256.New()
	h.Write([]byte("vtepd device\x00"))
	h.Write(local.AsSlice())
	h.Write([]byte(name))
	mac := net.HardwareAddr(h.Sum(nil)[:6])
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}
