//go:build linux

package main

// End-to-end test of --accept peers: a host on the underlay that is no
// peer of a VNI sends it VXLAN packets claiming a peer's MAC. Like the other
// end-to-end tests it runs the real binaries in namespaces of its own,
// needs root and skips without it; select it with -run E2ESecurity.

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// sendSpoofed sends count VXLAN datagrams from inside ns to dst's VXLAN
// port, each a VXLAN header (RFC 7348 section 5) with the I flag and vni
// around a minimum-size Ethernet frame from srcMAC to dstMAC, of IEEE's
// local experimental EtherType, which no stack answers.
func sendSpoofed(t *testing.T, ns *netnstest.NS, dst string, vni uint32, srcMAC, dstMAC net.HardwareAddr, count int) {
	t.Helper()
	pkt := make([]byte, vxlanHeaderLen+minFrameLen)
	pkt[0] = vxlanFlagI
	pkt[4], pkt[5], pkt[6] = byte(vni>>16), byte(vni>>8), byte(vni)
	eth := pkt[vxlanHeaderLen:]
	copy(eth[0:6], dstMAC)
	copy(eth[6:12], srcMAC)
	eth[12], eth[13] = etherTypeExperimental>>8, etherTypeExperimental&0xff
	var conn *net.UDPConn
	err := ns.Do(t, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), vxlanPort)))
		return err
	})
	if err != nil {
		t.Fatalf("UDP socket to %s:%d in %s: %v", dst, vxlanPort, ns.Name, err)
	}
	defer conn.Close()
	for range count {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatalf("send a VXLAN datagram to %s from %s: %v", dst, ns.Name, err)
		}
	}
}

// TestE2ESecurityAcceptPeers puts three hosts on one bridged underlay. A
// and B run vtepd with --accept peers, each the other's only remote. C, a
// stranger on the same segment, sends A VXLAN packets for VNI 42 whose inner
// source is B's MAC, to pull B's traffic towards itself. A must drop every
// one as unknown_source before learning from it: its FDB keeps B's MAC at B
// and A and B go on pinging each other.
func TestE2ESecurityAcceptPeers(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	hub := netnstest.NewNS(t, "sechub")
	ports := netnstest.Bridge(t, hub, "br0", netip.MustParsePrefix("10.0.0.0/24"),
		netnstest.NewNS(t, "seca"), netnstest.NewNS(t, "secb"), netnstest.NewNS(t, "secc"))
	a := newHost(t, ports[0].Host, ports[0].Addr.Addr().String(), "192.168.42.1")
	b := newHost(t, ports[1].Host, ports[1].Addr.Addr().String(), "192.168.42.2")
	stranger := ports[2]
	a.extra = []string{"--accept", "peers"}
	b.extra = []string{"--accept", "peers"}
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)

	pingAll(t, a.ns, b.over, 3)
	pingAll(t, b.ns, a.over, 3)
	macA := showLink(t, a.ns, tapName).Address
	macB := showLink(t, b.ns, tapName).Address
	wantFDB(t, bin, a, macB, b.under)
	if got := a.stats(t, bin).Drops["unknown_source"]; got != 0 {
		t.Fatalf("unknown_source on %s before the stranger sent anything: got %d, want 0", a.under, got)
	}

	src, err := net.ParseMAC(macB)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := net.ParseMAC(macA)
	if err != nil {
		t.Fatal(err)
	}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	const spoofed = 100
	// Half to A's MAC, half broadcast: either, taken, would teach A that
	// B's MAC sits behind the stranger.
	sendSpoofed(t, stranger.Host, a.under, 42, src, dst, spoofed/2)
	sendSpoofed(t, stranger.Host, a.under, 42, src, bcast, spoofed/2)

	netnstest.WaitFor(t, 10*time.Second, fmt.Sprintf("%d unknown_source drops on %s", spoofed, a.under), func() bool {
		return a.stats(t, bin).Drops["unknown_source"] >= spoofed
	})
	st := a.stats(t, bin)
	if got := st.Drops["unknown_source"]; got != spoofed {
		t.Errorf("unknown_source on %s: got %d, want %d (one per packet from %s)", a.under, got, spoofed, stranger.Addr.Addr())
	}
	if got := st.Drops["malformed"]; got != 0 {
		t.Errorf("malformed on %s: got %d, want 0 (the stranger's packets are well formed)", a.under, got)
	}
	wantFDB(t, bin, a, macB, b.under)
	if show := a.ctl(t, bin, "fdb", "show"); fdbLine(show, macB) == "" || containsDst(show, stranger.Addr.Addr().String()) {
		t.Errorf("vtepctl fdb show on %s: got\n%s\nwant B's MAC at %s and nothing toward %s", a.under, show, b.under, stranger.Addr.Addr())
	}

	pingAll(t, a.ns, b.over, 5)
	pingAll(t, b.ns, a.over, 5)
	if got := b.stats(t, bin).Drops["unknown_source"]; got != 0 {
		t.Errorf("unknown_source on %s, which the stranger left alone: got %d, want 0", b.under, got)
	}
}

// containsDst reports whether a line of `vtepctl fdb show` points at dst.
func containsDst(show, dst string) bool {
	for _, line := range strings.Split(show, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "dst" && f[2] == dst {
			return true
		}
	}
	return false
}
