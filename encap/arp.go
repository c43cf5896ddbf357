package encap

import (
	"encoding/binary"
	"net/netip"
)

// ARP for IPv4 over Ethernet (RFC 826):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     hardware type (1)         |    protocol type (0x0800)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  hlen (6)     |  plen (4)     |          operation            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   sender hardware address (6) | sender protocol address (4)   |
//	|   target hardware address (6) | target protocol address (4)   |
//
// arpIPv4Len, arpSenderIP and arpTargetIP are in flowhash.go.
const (
	arpOp        = 6
	arpSenderMAC = 8
	arpTargetMAC = 18

	// ARPRequest and ARPReply are the operations (RFC 826).
	ARPRequest = 1
	ARPReply   = 2
)

// ARP is a view of an ARP packet for IPv4 over Ethernet, without its
// Ethernet header.
type ARP []byte

// IsValid reports whether b is long enough and says Ethernet and IPv4 with
// their lengths; the accessors need it.
func (b ARP) IsValid() bool {
	return len(b) >= arpIPv4Len && binary.BigEndian.Uint64(b)&^0xffff == arpEtherIPv4Hdr
}

// Op is the operation: ARPRequest, ARPReply or another.
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[arpOp:]) }

// SenderMAC is the sender's hardware address.
func (b ARP) SenderMAC() [6]byte { return [6]byte(b[arpSenderMAC:]) }

// SenderIP is the sender's IPv4 address (0.0.0.0 in a probe, RFC 5227).
func (b ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(b[arpSenderIP:])) }

// TargetIP is the address asked for (request) or answered to (reply).
func (b ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(b[arpTargetIP:])) }

// ARPFrameLen is an Ethernet frame holding an IPv4 ARP packet, unpadded.
const ARPFrameLen = EthernetHeaderLen + arpIPv4Len

// PutARPReply writes into b (at least ARPFrameLen bytes) the Ethernet frame
// answering the request req (a valid ARP view) that mac has ip: what the
// owner of ip would send back, to the asker alone. It returns the length.
func PutARPReply(b []byte, req ARP, mac [6]byte, ip netip.Addr) int {
	f := Ethernet(b)
	asker := req.SenderMAC()
	f.SetDst(asker)
	f.SetSrc(mac)
	f.SetEtherType(EtherTypeARP)
	a := b[EthernetHeaderLen:ARPFrameLen]
	binary.BigEndian.PutUint64(a, arpEtherIPv4Hdr|ARPReply)
	copy(a[arpSenderMAC:], mac[:])
	ip4 := ip.As4()
	copy(a[arpSenderIP:], ip4[:])
	copy(a[arpTargetMAC:], asker[:])
	copy(a[arpTargetIP:], req[arpSenderIP:arpSenderIP+4])
	return ARPFrameLen
}

// Neighbour discovery (RFC 4861 section 4.3, 4.4): ICMPv6 types.
const (
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
)

// NeighborSource reads an untagged Ethernet frame for the IPv4 or IPv6
// address its sender shows it has: an ARP packet's sender address (not a
// probe's 0.0.0.0), or the source of an IPv6 neighbour solicitation or
// advertisement (not the unspecified address of duplicate address
// detection). It is what a switch's ARP and ND snooping reads, and costs
// one comparison for any other frame.
func NeighborSource(frame []byte) (netip.Addr, bool) {
	if len(frame) < EthernetHeaderLen {
		return netip.Addr{}, false
	}
	switch Ethernet(frame).EtherType() {
	case EtherTypeARP:
		a := ARP(frame[EthernetHeaderLen:])
		if !a.IsValid() || a.SenderMAC() != Ethernet(frame).Src() {
			return netip.Addr{}, false
		}
		ip := a.SenderIP()
		return ip, !ip.IsUnspecified()
	case EtherTypeIPv6:
		ip := IPv6(frame[EthernetHeaderLen:])
		if !ip.IsValid() || ip.NextHeader() != ProtocolICMPv6 || len(ip) < IPv6HeaderLen+1 {
			return netip.Addr{}, false
		}
		if t := ip[IPv6HeaderLen]; t != ICMPv6NeighborSolicit && t != ICMPv6NeighborAdvert {
			return netip.Addr{}, false
		}
		src := ip.Src()
		return src, !src.IsUnspecified()
	}
	return netip.Addr{}, false
}

// PutARPRequest writes into b (at least ARPFrameLen bytes) the broadcast
// frame mac, which has ip, sends to ask who has target. It returns the
// length.
func PutARPRequest(b []byte, mac [6]byte, ip, target netip.Addr) int {
	f := Ethernet(b)
	f.SetDst([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.SetSrc(mac)
	f.SetEtherType(EtherTypeARP)
	a := b[EthernetHeaderLen:ARPFrameLen]
	binary.BigEndian.PutUint64(a, arpEtherIPv4Hdr|ARPRequest)
	copy(a[arpSenderMAC:], mac[:])
	s, t := ip.As4(), target.As4()
	copy(a[arpSenderIP:], s[:])
	clear(a[arpTargetMAC : arpTargetMAC+6])
	copy(a[arpTargetIP:], t[:])
	return ARPFrameLen
}
