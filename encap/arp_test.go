package encap

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// arpRequest is the frame a host sends asking who has target.
func arpRequest(t *testing.T, src net.HardwareAddr, from, target netip.Addr) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
		ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: src, SourceProtAddress: from.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, arp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestARPReply: the reply built for a request reads, to gopacket, as the
// owner's answer to the asker.
func TestARPReply(t *testing.T) {
	asker := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	owner := [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	from, target := netip.MustParseAddr("192.168.42.1"), netip.MustParseAddr("192.168.42.2")
	req := arpRequest(t, asker, from, target)
	a := ARP(req[EthernetHeaderLen:])
	if !a.IsValid() || a.Op() != ARPRequest || a.TargetIP() != target || a.SenderIP() != from || a.SenderMAC() != [6]byte(asker) {
		t.Fatalf("request view: valid %v op %d sender %v/%x target %v", a.IsValid(), a.Op(), a.SenderIP(), a.SenderMAC(), a.TargetIP())
	}
	b := make([]byte, 64)
	n := PutARPReply(b, a, owner, target)
	p := gopacket.NewPacket(b[:n], layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || arp == nil {
		t.Fatalf("reply does not decode: %v", p)
	}
	if eth.DstMAC.String() != asker.String() || eth.SrcMAC.String() != net.HardwareAddr(owner[:]).String() {
		t.Errorf("reply Ethernet: %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if arp.Operation != layers.ARPReply || net.IP(arp.SourceProtAddress).String() != target.String() ||
		net.HardwareAddr(arp.SourceHwAddress).String() != net.HardwareAddr(owner[:]).String() ||
		net.IP(arp.DstProtAddress).String() != from.String() || net.HardwareAddr(arp.DstHwAddress).String() != asker.String() {
		t.Errorf("reply ARP: %+v", arp)
	}
}

func TestNeighborSource(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	from := netip.MustParseAddr("192.168.42.1")
	req := arpRequest(t, mac, from, netip.MustParseAddr("192.168.42.2"))
	probe := arpRequest(t, mac, netip.IPv4Unspecified(), netip.MustParseAddr("192.168.42.2"))
	spoofed := append([]byte{}, req...)
	spoofed[EthernetHeaderLen+arpSenderMAC] ^= 0x10 // sender MAC not the frame's source

	ns := func(src netip.Addr, typ layers.ICMPv6TypeCode) []byte {
		eth := &layers.Ethernet{SrcMAC: mac, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6}
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: src.AsSlice(),
			DstIP: net.ParseIP("ff02::1:ff00:2")}
		icmp := &layers.ICMPv6{TypeCode: typ}
		_ = icmp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, icmp, gopacket.Payload(make([]byte, 20))); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	v6 := netip.MustParseAddr("fd00::1")
	tests := []struct {
		name  string
		frame []byte
		want  netip.Addr
	}{
		{"ARP request", req, from},
		{"ARP probe", probe, netip.Addr{}},
		{"ARP from another MAC", spoofed, netip.Addr{}},
		{"neighbour solicitation", ns(v6, layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)), v6},
		{"neighbour advertisement", ns(v6, layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)), v6},
		{"duplicate address detection", ns(netip.IPv6Unspecified(), layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)), netip.Addr{}},
		{"echo request", ns(v6, layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)), netip.Addr{}},
		{"short", req[:20], netip.Addr{}},
	}
	for _, tc := range tests {
		got, ok := NeighborSource(tc.frame)
		if ok != tc.want.IsValid() || (ok && got != tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, ok, tc.want)
		}
	}
}
