package encap

import "net/netip"

// IPIP encapsulation (RFC 2003 section 3): an outer IPv4 header without
// options, protocol 4, directly in front of the inner IPv4 packet. The same
// framing with protocol 41 carries IPv6 (RFC 4213 section 3.5), which Linux
// calls "sit".
//
//	+---------------------------+
//	|      Outer IP Header      |
//	+---------------------------+
//	|                           |
//	|      IP Header            |
//	|      IP Payload           |
//	+---------------------------+

// DF settings of OuterIPIP.
const (
	// IPIPDFCopy copies DF from the inner IPv4 header: RFC 2003 section 3.1
	// says a set inner DF MUST be set in the outer header.
	IPIPDFCopy  = -1
	IPIPDFClear = 0
	IPIPDFSet   = 1
)

// OuterIPIP describes the outer IPv4 header of an IPIP packet.
type OuterIPIP struct {
	Src, Dst netip.Addr // IPv4 (or IPv4-mapped) underlay addresses
	// TTL 0 copies the inner TTL (IPv6: hop limit), as Linux's "ttl inherit"
	// does; any other value is used as is (RFC 2003 section 3.1 asks for "a
	// value sufficient to get the datagram to the tunnel exit point").
	TTL uint8
	// DF is IPIPDFCopy, IPIPDFClear or IPIPDFSet. An inner IPv6 packet has no
	// DF bit; "copy" then sets it, as RFC 4213 section 3.2.2 does for packets
	// that fit the path MTU, since IPv6 is never fragmented on the way.
	DF int8
	// TOS is written as is, unless InheritTOS copies the inner TOS (IPv6:
	// traffic class) as RFC 2003 section 3.1 describes.
	TOS        uint8
	InheritTOS bool
	ID         uint16
}

// EncapIPIP writes a 20-byte outer IPv4 header into pkt[:IPv4MinHeaderLen] in
// front of the inner packet at pkt[IPv4MinHeaderLen:]; pkt must end where the
// inner packet ends. An inner IPv4 packet (protocol 4) must have a valid
// header (ErrBadIPv4Header otherwise); when pkt[20]>>4 == 6 the inner packet
// is IPv6 (protocol 41) and must have a valid IPv6 header (ErrBadIPv6Header).
// Total length and checksum are set. Other errors: ErrShortPacket,
// ErrTooLong, ErrAddressFamily.
func EncapIPIP(pkt []byte, o *OuterIPIP) error {
	if len(pkt) <= IPv4MinHeaderLen {
		return ErrShortPacket
	}
	if len(pkt) > 0xffff {
		return ErrTooLong
	}
	if !is4(o.Src) || !is4(o.Dst) {
		return ErrAddressFamily
	}
	inner := pkt[IPv4MinHeaderLen:]
	var proto, innerTTL, innerTOS uint8
	var innerDF bool
	if inner[0]>>4 == IPv6Version {
		in6 := IPv6(inner)
		if !in6.IsValid() {
			return ErrBadIPv6Header
		}
		proto, innerTTL, innerTOS, innerDF = ProtocolIPv6inIPv4, in6.HopLimit(), in6.TrafficClass(), true
	} else {
		in4 := IPv4(inner)
		if !in4.IsValid() {
			return ErrBadIPv4Header
		}
		proto, innerTTL, innerTOS, innerDF = ProtocolIPIP, in4.TTL(), in4.TOS(), in4.DF()
	}

	tos := o.TOS
	if o.InheritTOS {
		tos = innerTOS
	}
	df := o.DF == IPIPDFSet || (o.DF == IPIPDFCopy && innerDF)
	ttl := o.TTL
	if ttl == 0 {
		ttl = innerTTL
	}
	putIPv4Header(pkt, tos, uint16(len(pkt)), o.ID, df, ttl, proto, o.Src, o.Dst)
	return nil
}

// DecapIPIP checks the outer IPv4 header of a packet received on a raw IPIP
// socket (version, IHL, total length within pkt, not a fragment, protocol 4
// or 41, header checksum) and returns the outer source address and the inner
// packet: a sub-slice of pkt, checked as IPv4 (protocol 4) or IPv6 (protocol
// 41) and trimmed to its own length. Errors: ErrShortPacket,
// ErrBadIPv4Header, ErrFragment, ErrIPIPProtocol, ErrIPv4Checksum, and
// ErrBadIPv4Header or ErrBadIPv6Header for the inner header.
func DecapIPIP(pkt []byte) (src netip.Addr, inner []byte, err error) {
	if len(pkt) < IPv4MinHeaderLen {
		return netip.Addr{}, nil, ErrShortPacket
	}
	outer := IPv4(pkt)
	if !outer.IsValid() {
		return netip.Addr{}, nil, ErrBadIPv4Header
	}
	if outer.IsFragment() {
		return netip.Addr{}, nil, ErrFragment
	}
	proto := outer.Protocol()
	if proto != ProtocolIPIP && proto != ProtocolIPv6inIPv4 {
		return netip.Addr{}, nil, ErrIPIPProtocol
	}
	if !outer.IsChecksumValid() {
		return netip.Addr{}, nil, ErrIPv4Checksum
	}
	inner = outer.Payload()
	if proto == ProtocolIPIP {
		in4 := IPv4(inner)
		if !in4.IsValid() {
			return netip.Addr{}, nil, ErrBadIPv4Header
		}
		inner = inner[:in4.TotalLength()]
	} else {
		in6 := IPv6(inner)
		if !in6.IsValid() {
			return netip.Addr{}, nil, ErrBadIPv6Header
		}
		inner = inner[:IPv6HeaderLen+int(in6.PayloadLength())]
	}
	return outer.Src(), inner, nil
}
