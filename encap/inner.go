package encap

import (
	"encoding/binary"
	"net/netip"
)

// Inner is what the headers of an inner frame (VXLAN: Ethernet) or packet
// (IPIP: IP) say, as the trace's filter, vtepctl trace and captures read
// them. DecodeInner fills it without allocating.
type Inner struct {
	// Src and Dst are the addresses of the IPv4, IPv6 or ARP header (ARP:
	// sender and target) when L3 says one was read whole.
	Src, Dst netip.Addr
	// L4 is the transport header and what follows, within the IP length;
	// nil for an IPv4 fragment other than the first.
	L4 []byte
	// Len is the length of the whole frame or packet; IPLen the IP
	// header's total length.
	Len, IPLen     int
	SrcMAC, DstMAC [6]byte
	// EtherType is that of the header after the VLAN tags: IPv4, IPv6, ARP
	// or another; IPIP packets get IPv4's or IPv6's by their version.
	EtherType uint16
	// VLAN is the ID of the outermost 802.1Q or 802.1ad tag and Tags how
	// many tags were skipped (at most two: QinQ).
	VLAN             uint16
	SrcPort, DstPort uint16
	Tags             int8
	// Protocol (IPv6: the next header, extensions not walked), TTL (hop
	// limit) and the DF bit of the IP header.
	Protocol, TTL uint8
	DF            bool
	// Ethernet says whether an Ethernet header was read (VXLAN), L3
	// whether an IP or ARP header was, Ports whether SrcPort and DstPort
	// were (TCP, UDP, SCTP).
	Ethernet, L3, Ports bool
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
func SkipVLANs(frame []byte) (etype uint16, off int, vlan uint16, tags int8) {
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

// DecodeInner reads b, an Ethernet frame or, with ip, an IP packet, into
// in. What it cannot read (a truncated header, an unknown EtherType) is
// left zero. in is a pointer so that a caller decoding frame after frame
// (the trace's filter) reuses one.
func DecodeInner(in *Inner, b []byte, ip bool) {
	*in = Inner{Len: len(b)}
	if ip {
		if len(b) == 0 {
			return
		}
		switch b[0] >> 4 {
		case IPv4Version:
			in.EtherType = EtherTypeIPv4
		case IPv6Version:
			in.EtherType = EtherTypeIPv6
		default:
			return
		}
	} else {
		if len(b) < EthernetHeaderLen {
			return
		}
		in.Ethernet = true
		copy(in.DstMAC[:], b[ethDst:ethDst+6])
		copy(in.SrcMAC[:], b[ethSrc:ethSrc+6])
		var off int
		in.EtherType, off, in.VLAN, in.Tags = SkipVLANs(b)
		b = b[off:]
	}
	switch in.EtherType {
	case EtherTypeIPv4:
		if len(b) < IPv4MinHeaderLen || b[ipv4VersionIHL]>>4 != IPv4Version {
			return
		}
		hl := int(b[ipv4VersionIHL]&0x0f) * 4
		if hl < IPv4MinHeaderLen || hl > len(b) {
			return
		}
		in.L3 = true
		in.Src = netip.AddrFrom4([4]byte(b[ipv4Src : ipv4Src+4]))
		in.Dst = netip.AddrFrom4([4]byte(b[ipv4Dst : ipv4Dst+4]))
		in.Protocol, in.TTL = b[ipv4Protocol], b[ipv4TTL]
		in.IPLen = int(binary.BigEndian.Uint16(b[ipv4TotalLength:]))
		ff := binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])
		in.DF = ff&ipv4DFBit != 0
		if ff&ipv4FragOffMask == 0 {
			in.L4 = b[hl:min(max(in.IPLen, hl), len(b))]
		}
	case EtherTypeIPv6:
		if len(b) < IPv6HeaderLen || b[ipv6VersionTCFL]>>4 != IPv6Version {
			return
		}
		in.L3 = true
		in.Src = netip.AddrFrom16([16]byte(b[ipv6Src : ipv6Src+16]))
		in.Dst = netip.AddrFrom16([16]byte(b[ipv6Dst : ipv6Dst+16]))
		in.Protocol, in.TTL = b[ipv6NextHeader], b[ipv6HopLimit]
		in.IPLen = IPv6HeaderLen + int(binary.BigEndian.Uint16(b[ipv6PayloadLength:]))
		in.L4 = b[IPv6HeaderLen:min(in.IPLen, len(b))]
	case EtherTypeARP:
		if len(b) >= arpLen {
			in.L3 = true
			in.Src = netip.AddrFrom4([4]byte(b[arpSenderPA : arpSenderPA+4]))
			in.Dst = netip.AddrFrom4([4]byte(b[arpTargetPA : arpTargetPA+4]))
		}
		return
	default:
		return
	}
	if len(in.L4) >= 4 && hasPorts(in.Protocol) {
		in.Ports = true
		in.SrcPort = binary.BigEndian.Uint16(in.L4)
		in.DstPort = binary.BigEndian.Uint16(in.L4[2:])
	}
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
