package encap

import (
	"encoding/binary"
	"net/netip"
)

// OuterIPv4 describes the outer headers of a VXLAN-over-IPv4 packet.
type OuterIPv4 struct {
	Src, Dst         netip.Addr // IPv4 (or IPv4-mapped) underlay addresses
	SrcPort, DstPort uint16     // SrcPort usually SourcePort(FlowHash(inner), ...)
	VNI              uint32     // low 24 bits used
	TTL              uint8      // 0 means DefaultTTL, like the kernel's "ttl auto"
	TOS              uint8
	DF               bool
	ID               uint16
	// UDPChecksum false leaves the UDP checksum 0, which RFC 7348 section 5
	// recommends over IPv4 ("SHOULD be transmitted as zero"); Linux's vxlan
	// computes it unless configured with "noudpcsum".
	UDPChecksum bool
}

// EncapVXLANIPv4 writes the outer IPv4, UDP and VXLAN headers into
// pkt[:VXLANIPv4HeadersLen]; the inner Ethernet frame must already be at
// pkt[VXLANIPv4HeadersLen:], and pkt must end where the frame ends, since the
// lengths are taken from len(pkt). It sets the IPv4 total length and header
// checksum, the UDP length, and the UDP checksum when o.UDPChecksum is set.
// Errors: ErrShortPacket (no room for the headers), ErrShortFrame (inner
// frame shorter than an Ethernet header), ErrTooLong (more than 65535
// bytes), ErrAddressFamily (Src or Dst not IPv4).
func EncapVXLANIPv4(pkt []byte, o *OuterIPv4) error {
	if len(pkt) < VXLANIPv4HeadersLen {
		return ErrShortPacket
	}
	if len(pkt) < VXLANIPv4HeadersLen+EthernetHeaderLen {
		return ErrShortFrame
	}
	if len(pkt) > 0xffff {
		return ErrTooLong
	}
	if !is4(o.Src) || !is4(o.Dst) {
		return ErrAddressFamily
	}
	putIPv4Header(pkt, o.TOS, uint16(len(pkt)), o.ID, o.DF, ttlOrDefault(o.TTL), ProtocolUDP, o.Src, o.Dst)

	udp := UDP(pkt[IPv4MinHeaderLen:])
	putUDP(udp, o.SrcPort, o.DstPort, uint16(len(udp)))
	PutVXLAN(udp[UDPHeaderLen:], o.VNI)
	if o.UDPChecksum {
		udp.SetChecksum(udp.CalculateChecksum(PseudoHeaderSum(ProtocolUDP, o.Src, o.Dst, uint16(len(udp)))))
	}
	return nil
}

// OuterIPv6 describes the outer headers of a VXLAN-over-IPv6 packet.
type OuterIPv6 struct {
	Src, Dst         netip.Addr // IPv6 underlay addresses
	SrcPort, DstPort uint16
	VNI              uint32 // low 24 bits used
	HopLimit         uint8  // 0 means DefaultTTL
	TrafficClass     uint8
	FlowLabel        uint32 // low 20 bits used
}

// EncapVXLANIPv6 writes the outer IPv6, UDP and VXLAN headers into
// pkt[:VXLANIPv6HeadersLen]; the inner Ethernet frame must already be at
// pkt[VXLANIPv6HeadersLen:] and pkt must end where it ends. The UDP checksum
// is always computed: RFC 8200 section 8.1 makes it mandatory over IPv6 (the
// zero-checksum exception of RFC 6935 is not used; Linux's vxlan does not use
// it either unless "udp6zerocsumtx" is set). Errors as EncapVXLANIPv4, with
// ErrAddressFamily when Src or Dst is not IPv6.
func EncapVXLANIPv6(pkt []byte, o *OuterIPv6) error {
	if len(pkt) < VXLANIPv6HeadersLen {
		return ErrShortPacket
	}
	if len(pkt) < VXLANIPv6HeadersLen+EthernetHeaderLen {
		return ErrShortFrame
	}
	if len(pkt)-IPv6HeaderLen > 0xffff {
		return ErrTooLong
	}
	if !o.Src.Is6() || o.Src.Is4In6() || !o.Dst.Is6() || o.Dst.Is4In6() {
		return ErrAddressFamily
	}
	ip := IPv6(pkt[:IPv6HeaderLen])
	binary.BigEndian.PutUint32(ip[ipv6VersionTCFL:],
		IPv6Version<<28|uint32(o.TrafficClass)<<20|o.FlowLabel&ipv6FlowLabelMask)
	plen := uint16(len(pkt) - IPv6HeaderLen)
	binary.BigEndian.PutUint16(ip[ipv6PayloadLength:], plen)
	ip[ipv6NextHeader] = ProtocolUDP
	ip[ipv6HopLimit] = ttlOrDefault(o.HopLimit)
	ip.SetSrc(o.Src)
	ip.SetDst(o.Dst)

	udp := UDP(pkt[IPv6HeaderLen:])
	putUDP(udp, o.SrcPort, o.DstPort, plen)
	PutVXLAN(udp[UDPHeaderLen:], o.VNI)
	udp.SetChecksum(udp.CalculateChecksum(PseudoHeaderSum(ProtocolUDP, o.Src, o.Dst, plen)))
	return nil
}

// putUDP writes a UDP header with a zero checksum.
func putUDP(b UDP, sport, dport, length uint16) {
	binary.BigEndian.PutUint16(b[udpSrcPort:], sport)
	binary.BigEndian.PutUint16(b[udpDstPort:], dport)
	binary.BigEndian.PutUint16(b[udpLength:], length)
	binary.BigEndian.PutUint16(b[udpChecksum:], 0)
}

func ttlOrDefault(ttl uint8) uint8 {
	if ttl == 0 {
		return DefaultTTL
	}
	return ttl
}

// is4 reports whether a can be written into an IPv4 header.
func is4(a netip.Addr) bool { return a.Is4() || a.Is4In6() }
