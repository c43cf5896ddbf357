package encap

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 fixed header (RFC 8200 section 3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+                         Source Address                        +
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+                      Destination Address                      +
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv6VersionTCFL   = 0
	ipv6PayloadLength = 4
	ipv6NextHeader    = 6
	ipv6HopLimit      = 7
	ipv6Src           = 8
	ipv6Dst           = 24

	ipv6FlowLabelMask = 0x000fffff
)

// IPv6Version is the Version field of every IPv6 header (RFC 8200 section 3).
const IPv6Version = 6

// IPv6 is a view of an IPv6 packet. Check IsValid before calling any other
// method: accessors index the slice directly and panic on a short one.
type IPv6 []byte

// IsValid reports whether b holds an IPv6 header: at least 40 bytes, version
// 6, and a payload length that fits in b. A zero payload length is accepted
// as an empty payload (jumbograms, RFC 2675, are not supported).
func (b IPv6) IsValid() bool {
	if len(b) < IPv6HeaderLen || b[ipv6VersionTCFL]>>4 != IPv6Version {
		return false
	}
	return IPv6HeaderLen+int(binary.BigEndian.Uint16(b[ipv6PayloadLength:])) <= len(b)
}

// Version returns the Version field (6 for a valid header).
func (b IPv6) Version() uint8 { return b[ipv6VersionTCFL] >> 4 }

// TrafficClass returns the Traffic Class byte (DSCP and ECN).
func (b IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(b[ipv6VersionTCFL:]) >> 4)
}

// FlowLabel returns the 20-bit Flow Label.
func (b IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(b[ipv6VersionTCFL:]) & ipv6FlowLabelMask
}

// PayloadLength returns the Payload Length: the bytes after the fixed header,
// extension headers included.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLength:]) }

// NextHeader returns the type of the header after the fixed one.
func (b IPv6) NextHeader() uint8 { return b[ipv6NextHeader] }

// HopLimit returns the Hop Limit.
func (b IPv6) HopLimit() uint8 { return b[ipv6HopLimit] }

// Src returns the source address.
func (b IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(b[ipv6Src : ipv6Src+16])) }

// Dst returns the destination address.
func (b IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(b[ipv6Dst : ipv6Dst+16])) }

// Payload returns the bytes after the fixed header up to the payload length,
// excluding any link-layer padding.
func (b IPv6) Payload() []byte { return b[IPv6HeaderLen : IPv6HeaderLen+int(b.PayloadLength())] }

// SetVersion writes 6 into the Version field, keeping the Traffic Class.
func (b IPv6) SetVersion() { b[ipv6VersionTCFL] = IPv6Version<<4 | b[ipv6VersionTCFL]&0x0f }

// SetTrafficClass writes the Traffic Class, keeping Version and Flow Label.
func (b IPv6) SetTrafficClass(tc uint8) {
	v := binary.BigEndian.Uint16(b[ipv6VersionTCFL:])&0xf00f | uint16(tc)<<4
	binary.BigEndian.PutUint16(b[ipv6VersionTCFL:], v)
}

// SetFlowLabel writes the low 20 bits of fl as the Flow Label, keeping
// Version and Traffic Class.
func (b IPv6) SetFlowLabel(fl uint32) {
	v := binary.BigEndian.Uint32(b[ipv6VersionTCFL:])&^ipv6FlowLabelMask | fl&ipv6FlowLabelMask
	binary.BigEndian.PutUint32(b[ipv6VersionTCFL:], v)
}

// SetPayloadLength writes the Payload Length.
func (b IPv6) SetPayloadLength(v uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLength:], v) }

// SetNextHeader writes the Next Header.
func (b IPv6) SetNextHeader(v uint8) { b[ipv6NextHeader] = v }

// SetHopLimit writes the Hop Limit.
func (b IPv6) SetHopLimit(v uint8) { b[ipv6HopLimit] = v }

// SetSrc writes the source address; an IPv4 address is written in its
// IPv4-mapped form.
func (b IPv6) SetSrc(a netip.Addr) { a16 := a.As16(); copy(b[ipv6Src:ipv6Src+16], a16[:]) }

// SetDst writes the destination address; an IPv4 address is written in its
// IPv4-mapped form.
func (b IPv6) SetDst(a netip.Addr) { a16 := a.As16(); copy(b[ipv6Dst:ipv6Dst+16], a16[:]) }
