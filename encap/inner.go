package encap

import (
	"encoding/binary"
	"net/netip"
)

// Inner is what the headers of an inner frame (VXLAN: Ethernet) or packet
// (IPIP: IP) say, as the trace's filter, vtepctl trace and captures read
// them. DecodeInner fills it without allocating.
type Inner struct {
	// Len is the length of the whole frame or packet.
	Len int
	// Ethernet says whether an Ethernet header was read (VXLAN).
	Ethernet       bool
	SrcMAC, DstMAC [6]byte
	// VLAN is the ID of the outermost 802.1Q or 802.1ad tag and Tags how
	// many tags were skipped (at most two: QinQ).
	VLAN uint16
	Tags int
	// EtherType is that of the header after the tags: IPv4, IPv6, ARP or
	// another; IPIP packets get IPv4's or IPv6's by their version.
	EtherType uint16
	// L3 says whether an IPv4, IPv6 or ARP header was read whole: Src and
	// Dst are then its addresses (ARP's sender and target).
	L3       bool
	Src, Dst netip.Addr
	// IP fields: protocol (IPv6: next header, extensions not walked),
	// TTL or hop limit, total length, the DF bit.
	Protocol uint8
	TTL      uint8
	IPLen    int
	DF       bool
	// L4 is the transport header and what follows, within the IP length;
	// nil for an IPv4 fragment other than the first.
	L4 []byte
	// Ports says whether SrcPort and DstPort were read (TCP, UDP, SCTP).
	Ports            bool
	SrcPort, DstPort uint16
}

// ARP for IPv4 over Ethernet (RFC 826): the sender's protocol address at
// 14, the target's at 24, in a 28-byte packet.
const (
	arpLen      = 28
	arpSenderPA = 14
	arpTargetPA = 24
)

// SkipVLANs reads the EtherType of an Ethernet frame past up to two VLAN
// tags (802.1Q, 802.1ad), and where the header it names starts. A frame
// too short for its tags stops at the last one read.
func SkipVLANs(frame []byte) (etype uint16, off int, vlan uint16, tags int) {
	etype = binary.BigEndian.Uint16(frame[ethType:])
	off = EthernetHeaderLen
	for tags < 2 && (etype == EtherTypeVLAN || etype == EtherTypeQinQ) && len(frame) >= off+VLANTagLen {
		if tags == 0 {
			vlan = binary.BigEndian.Uint16(frame[off:]) & 0x0fff
		}
		etype = binary.BigEndian.Uint16(frame[off+2:])
		off += VLANTagLen
		tags++
	}
	return etype, off, vlan, tags
}

// DecodeInner reads b, an Ethernet frame or, with ip, an IP packet. What
// it cannot read (a truncated header, an unknown EtherType) is left zero.
func DecodeInner(b []byte, ip bool) Inner {
	in := Inner{Len: len(b)}
	if ip {
		if len(b) == 0 {
			return in
		}
		switch b[0] >> 4 {
		case IPv4Version:
			in.EtherType = EtherTypeIPv4
		case IPv6Version:
			in.EtherType = EtherTypeIPv6
		default:
			return in
		}
	} else {
		eth := Ethernet(b)
		if !eth.IsValid() {
			return in
		}
		in.Ethernet, in.SrcMAC, in.DstMAC = true, eth.Src(), eth.Dst()
		var off int
		in.EtherType, off, in.VLAN, in.Tags = SkipVLANs(b)
		b = b[off:]
	}
	switch in.EtherType {
	case EtherTypeIPv4:
		h := IPv4(b)
		if len(b) < IPv4MinHeaderLen || h.Version() != IPv4Version || h.HeaderLen() < IPv4MinHeaderLen || h.HeaderLen() > len(b) {
			return in
		}
		in.L3, in.Src, in.Dst = true, h.Src(), h.Dst()
		in.Protocol, in.TTL, in.IPLen, in.DF = h.Protocol(), h.TTL(), int(h.TotalLength()), h.DF()
		if h.FragmentOffset() == 0 {
			end := min(max(int(h.TotalLength()), h.HeaderLen()), len(b))
			in.L4 = b[h.HeaderLen():end]
		}
	case EtherTypeIPv6:
		if len(b) < IPv6HeaderLen || b[0]>>4 != IPv6Version {
			return in
		}
		h := IPv6(b)
		in.L3, in.Src, in.Dst = true, h.Src(), h.Dst()
		in.Protocol, in.TTL, in.IPLen = h.NextHeader(), h.HopLimit(), IPv6HeaderLen+int(h.PayloadLength())
		in.L4 = b[IPv6HeaderLen:min(max(in.IPLen, IPv6HeaderLen), len(b))]
	case EtherTypeARP:
		if len(b) >= arpLen {
			in.L3 = true
			in.Src = netip.AddrFrom4([4]byte(b[arpSenderPA : arpSenderPA+4]))
			in.Dst = netip.AddrFrom4([4]byte(b[arpTargetPA : arpTargetPA+4]))
		}
		return in
	default:
		return in
	}
	if hasPorts(in.Protocol) && len(in.L4) >= 4 {
		in.Ports = true
		in.SrcPort = binary.BigEndian.Uint16(in.L4)
		in.DstPort = binary.BigEndian.Uint16(in.L4[2:])
	}
	return in
}

// EtherTypeName names t as tcpdump and Wireshark do, "" when it is none
// vtepd knows.
func EtherTypeName(t uint16) string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeIPv6:
		return "IPv6"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	case EtherTypeQinQ:
		return "802.1ad"
	}
	return ""
}

// ProtocolName names IP protocol p (IANA's keywords), "" when it is none
// vtepd knows.
func ProtocolName(p uint8) string {
	switch p {
	case ProtocolICMP:
		return "ICMP"
	case ProtocolIPIP:
		return "IPIP"
	case ProtocolTCP:
		return "TCP"
	case ProtocolUDP:
		return "UDP"
	case ProtocolIPv6inIPv4:
		return "IPv6"
	case ProtocolSCTP:
		return "SCTP"
	case ProtocolICMPv6:
		return "ICMPv6"
	}
	return ""
}
