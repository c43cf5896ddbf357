package encap

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv4 message types and codes vtepd emits (RFC 792).
const (
	ICMPv4EchoReply       = 0
	ICMPv4DestUnreachable = 3
	ICMPv4EchoRequest     = 8
	// ICMPv4FragNeeded is code 4 of Destination Unreachable: "fragmentation
	// needed and DF set", with the next-hop MTU in the second half of the
	// unused field (RFC 1191 section 4).
	ICMPv4FragNeeded = 4
	ICMPv4HeaderLen  = 8
)

// icmpQuoteLen is how much of the offending datagram an ICMP error quotes:
// its IP header and the first 64 bits of its data (RFC 792).
const icmpQuoteLen = 8

// PutICMPFragNeeded writes into b an IPv4 packet carrying an ICMP
// "fragmentation needed and DF set" error about orig (an IPv4 packet whose
// DF bit is set), from src back to orig's source, announcing mtu as the
// next-hop MTU (RFC 1191 section 4). It returns the packet's length, or
// ErrShortPacket if b is too small, ErrBadIPv4Header if orig is not IPv4.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Type = 3    |   Code = 4    |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           unused = 0          |         Next-Hop MTU          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Internet Header + 64 bits of Original Datagram Data      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func PutICMPFragNeeded(b []byte, src netip.Addr, orig []byte, mtu uint16) (int, error) {
	in := IPv4(orig)
	if !in.IsValid() {
		return 0, ErrBadIPv4Header
	}
	quote := min(len(orig), in.HeaderLen()+icmpQuoteLen)
	n := IPv4MinHeaderLen + ICMPv4HeaderLen + quote
	if len(b) < n {
		return 0, ErrShortPacket
	}
	putIPv4Header(b, 0, uint16(n), 0, false, DefaultTTL, ProtocolICMP, src, in.Src())

	icmp := b[IPv4MinHeaderLen:n]
	icmp[0], icmp[1] = ICMPv4DestUnreachable, ICMPv4FragNeeded
	binary.BigEndian.PutUint16(icmp[2:], 0)
	binary.BigEndian.PutUint16(icmp[4:], 0)
	binary.BigEndian.PutUint16(icmp[6:], mtu)
	copy(icmp[ICMPv4HeaderLen:], orig[:quote])
	binary.BigEndian.PutUint16(icmp[2:], FoldChecksum(Checksum(icmp, 0)))
	return n, nil
}

// PutICMPv4Echo writes into b an IPv4 packet from src to dst carrying an
// ICMP echo message (RFC 792) of type typ, ICMPv4EchoRequest or
// ICMPv4EchoReply, with identifier id, sequence number seq and data; its
// IPv4 header has ID ipID, DF set and DefaultTTL, as ping(8) sends it. It
// returns the packet's length, or ErrShortPacket if b is too small,
// ErrTooLong if data is, and ErrAddressFamily if src or dst is not IPv4.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Type = 8/0   |   Code = 0    |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data ...
//	+-+-+-+-+-
func PutICMPv4Echo(b []byte, src, dst netip.Addr, ipID uint16, typ uint8, id, seq uint16, data []byte) (int, error) {
	n := IPv4MinHeaderLen + ICMPv4HeaderLen + len(data)
	switch {
	case !src.Is4() || !dst.Is4():
		return 0, ErrAddressFamily
	case n > 0xffff:
		return 0, ErrTooLong
	case len(b) < n:
		return 0, ErrShortPacket
	}
	putIPv4Header(b, 0, uint16(n), ipID, true, DefaultTTL, ProtocolICMP, src, dst)
	icmp := b[IPv4MinHeaderLen:n]
	icmp[0], icmp[1] = typ, 0
	binary.BigEndian.PutUint16(icmp[2:], 0)
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[ICMPv4HeaderLen:], data)
	binary.BigEndian.PutUint16(icmp[2:], FoldChecksum(Checksum(icmp, 0)))
	return n, nil
}
