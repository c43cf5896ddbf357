package encap

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// solicit is the frame src (at from) sends to resolve target.
func solicit(t *testing.T, src net.HardwareAddr, from, target netip.Addr, hop uint8) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 9}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hop, SrcIP: from.AsSlice(), DstIP: net.ParseIP("ff02::1:ff00:9")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	_ = icmp.SetNetworkLayerForChecksum(ip)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: src}}}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, ns); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestNeighborAdvert: the advertisement built for a solicitation reads, to
// gopacket, as the owner's answer with a right checksum.
func TestNeighborAdvert(t *testing.T) {
	asker := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	owner := [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	from, target := netip.MustParseAddr("fd42::1"), netip.MustParseAddr("fd42::9")
	got, ns, ok := NeighborSolicitTarget(solicit(t, asker, from, target, 255))
	if !ok || got != target {
		t.Fatalf("NeighborSolicitTarget: %v, %v", got, ok)
	}
	b := make([]byte, NAFrameLen)
	n := PutNeighborAdvert(b, ns, [6]byte(asker), owner, target)
	p := gopacket.NewPacket(b[:n], layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decoding the advertisement: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if na == nil {
		t.Fatalf("no neighbour advertisement in %v", p)
	}
	if eth.DstMAC.String() != asker.String() || eth.SrcMAC.String() != net.HardwareAddr(owner[:]).String() {
		t.Errorf("Ethernet: %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if ip.SrcIP.String() != target.String() || ip.DstIP.String() != from.String() || ip.HopLimit != 255 {
		t.Errorf("IPv6: %v -> %v hop limit %d", ip.SrcIP, ip.DstIP, ip.HopLimit)
	}
	if na.TargetAddress.String() != target.String() || !na.Solicited() || !na.Override() || na.Router() {
		t.Errorf("advertisement: target %v flags %#x", na.TargetAddress, na.Flags)
	}
	if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || net.HardwareAddr(na.Options[0].Data).String() != net.HardwareAddr(owner[:]).String() {
		t.Errorf("options: %v", na.Options)
	}
	// A checksum that verifies sums, with the pseudo-header, to zero.
	m := b[EthernetHeaderLen+IPv6HeaderLen : n]
	if FoldChecksum(Checksum(m, PseudoHeaderSum(ProtocolICMPv6, target, from, uint16(len(m))))) != 0 {
		t.Errorf("ICMPv6 checksum %#04x does not verify", icmp.Checksum)
	}
	// Not resolution: duplicate address detection, a hop limit of 64.
	if _, _, ok := NeighborSolicitTarget(solicit(t, asker, netip.IPv6Unspecified(), target, 255)); ok {
		t.Error("a DAD probe was taken for a solicitation to answer")
	}
	if _, _, ok := NeighborSolicitTarget(solicit(t, asker, from, target, 64)); ok {
		t.Error("a solicitation with hop limit 64 was taken (RFC 4861 section 7.1.1 drops it)")
	}
}
