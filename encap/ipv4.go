package encap

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// IPv4 header (RFC 791 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv4VersionIHL   = 0
	ipv4TOS          = 1
	ipv4TotalLength  = 2
	ipv4ID           = 4
	ipv4FlagsFragOff = 6
	ipv4TTL          = 8
	ipv4Protocol     = 9
	ipv4Checksum     = 10
	ipv4Src          = 12
	ipv4Dst          = 16
)

// IPv4 flag bits, as they sit in the top three bits of the 16-bit
// flags/fragment-offset word (RFC 791 section 3.1: bit 0 reserved, bit 1
// DF, bit 2 MF).
const (
	IPv4FlagDF = 0x2 // Don't Fragment
	IPv4FlagMF = 0x1 // More Fragments

	ipv4DFBit       = 0x4000
	ipv4MFBit       = 0x2000
	ipv4FragOffMask = 0x1fff
)

// IPv4Version is the Version field of every IPv4 header (RFC 791 section 3.1).
const IPv4Version = 4

// IPv4 is a view of an IPv4 packet. Check IsValid before calling any other
// method: accessors index the slice directly and panic on a short one.
// Setters may be used on a buffer that is only being filled in, as long as it
// is at least IPv4MinHeaderLen long.
type IPv4 []byte

// IsValid reports whether b holds a well-formed IPv4 header: at least 20
// bytes, version 4, IHL at least 5 and within b, and a total length covering
// the header and no longer than b. Bytes after the total length (link-layer
// padding) are allowed; Payload excludes them.
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinHeaderLen || b[ipv4VersionIHL]>>4 != IPv4Version {
		return false
	}
	hl := int(b[ipv4VersionIHL]&0x0f) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return false
	}
	tl := int(binary.BigEndian.Uint16(b[ipv4TotalLength:]))
	return tl >= hl && tl <= len(b)
}

// Version returns the Version field (4 for a valid header).
func (b IPv4) Version() uint8 { return b[ipv4VersionIHL] >> 4 }

// HeaderLen returns the header length in bytes (IHL * 4).
func (b IPv4) HeaderLen() int { return int(b[ipv4VersionIHL]&0x0f) * 4 }

// TOS returns the Type of Service byte (DSCP and ECN, RFC 2474 and RFC 3168).
func (b IPv4) TOS() uint8 { return b[ipv4TOS] }

// TotalLength returns the Total Length field: header plus data, in bytes.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLength:]) }

// ID returns the Identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4ID:]) }

// Flags returns the three flag bits (IPv4FlagDF, IPv4FlagMF; the top one is reserved).
func (b IPv4) Flags() uint8 { return b[ipv4FlagsFragOff] >> 5 }

// DF reports whether the Don't Fragment flag is set.
func (b IPv4) DF() bool { return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])&ipv4DFBit != 0 }

// MF reports whether the More Fragments flag is set.
func (b IPv4) MF() bool { return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])&ipv4MFBit != 0 }

// FragmentOffset returns the fragment offset in bytes (the field counts
// 8-byte units, RFC 791 section 3.1).
func (b IPv4) FragmentOffset() uint16 {
	return (binary.BigEndian.Uint16(b[ipv4FlagsFragOff:]) & ipv4FragOffMask) * 8
}

// IsFragment reports whether the packet is one fragment of a larger one:
// MF set or a non-zero offset.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])&(ipv4MFBit|ipv4FragOffMask) != 0
}

// TTL returns the Time to Live.
func (b IPv4) TTL() uint8 { return b[ipv4TTL] }

// Protocol returns the protocol number of the payload.
func (b IPv4) Protocol() uint8 { return b[ipv4Protocol] }

// Checksum returns the Header Checksum field as stored.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }

// Src returns the source address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4Src : ipv4Src+4])) }

// Dst returns the destination address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4Dst : ipv4Dst+4])) }

// Payload returns the data after the header up to the total length,
// excluding any link-layer padding.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLength()] }

// SetVersion writes 4 into the Version field, keeping the IHL.
func (b IPv4) SetVersion() { b[ipv4VersionIHL] = IPv4Version<<4 | b[ipv4VersionIHL]&0x0f }

// SetHeaderLen writes the IHL for a header of n bytes (a multiple of 4
// between 20 and 60), keeping the Version.
func (b IPv4) SetHeaderLen(n int) {
	b[ipv4VersionIHL] = b[ipv4VersionIHL]&0xf0 | uint8(n/4)&0x0f
}

// SetTOS writes the Type of Service byte.
func (b IPv4) SetTOS(v uint8) { b[ipv4TOS] = v }

// SetTotalLength writes the Total Length field.
func (b IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(b[ipv4TotalLength:], v) }

// SetID writes the Identification field.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[ipv4ID:], v) }

// SetFlagsFragmentOffset writes the three flag bits and the fragment offset,
// given in bytes (a multiple of 8).
func (b IPv4) SetFlagsFragmentOffset(flags uint8, offset uint16) {
	binary.BigEndian.PutUint16(b[ipv4FlagsFragOff:], uint16(flags&0x7)<<13|(offset/8)&ipv4FragOffMask)
}

// SetDF sets or clears the Don't Fragment flag, keeping the other bits.
func (b IPv4) SetDF(df bool) {
	v := binary.BigEndian.Uint16(b[ipv4FlagsFragOff:]) &^ ipv4DFBit
	if df {
		v |= ipv4DFBit
	}
	binary.BigEndian.PutUint16(b[ipv4FlagsFragOff:], v)
}

// SetTTL writes the Time to Live.
func (b IPv4) SetTTL(v uint8) { b[ipv4TTL] = v }

// SetProtocol writes the protocol number.
func (b IPv4) SetProtocol(v uint8) { b[ipv4Protocol] = v }

// SetChecksumField writes v into the Header Checksum field as is.
func (b IPv4) SetChecksumField(v uint16) { binary.BigEndian.PutUint16(b[ipv4Checksum:], v) }

// SetChecksum computes the header checksum and stores it; call it after every
// other field of the header is written.
func (b IPv4) SetChecksum() {
	if b.HeaderLen() == IPv4MinHeaderLen {
		b.SetChecksumField(0)
		b.SetChecksumField(minHeaderChecksum(b))
		return
	}
	b.SetChecksumField(b.CalculateChecksum())
}

// SetSrc writes the source address. It panics if a is neither IPv4 nor an
// IPv4-mapped IPv6 address.
func (b IPv4) SetSrc(a netip.Addr) { a4 := a.As4(); copy(b[ipv4Src:ipv4Src+4], a4[:]) }

// SetDst writes the destination address. It panics if a is neither IPv4 nor
// an IPv4-mapped IPv6 address.
func (b IPv4) SetDst(a netip.Addr) { a4 := a.As4(); copy(b[ipv4Dst:ipv4Dst+4], a4[:]) }

// CalculateChecksum returns the header checksum to store (RFC 791 section
// 3.1: the one's complement of the one's complement sum of the header's
// 16-bit words), computed as if the checksum field were zero, so its current
// content does not matter. The header is HeaderLen bytes, options included.
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLen()
	sum := Checksum(b[:ipv4Checksum], 0)
	sum = Checksum(b[ipv4Checksum+2:hl], sum)
	return FoldChecksum(sum)
}

// IsChecksumValid reports whether the header checksum verifies: the sum over
// the whole header, checksum field included, is all ones (RFC 1071 section 1).
func (b IPv4) IsChecksumValid() bool {
	if b.HeaderLen() == IPv4MinHeaderLen {
		return minHeaderChecksum(b) == 0 // every received segment's, when coalescing
	}
	return FoldChecksum(Checksum(b[:b.HeaderLen()], 0)) == 0
}

// putIPv4Header writes a whole 20-byte IPv4 header without options into
// b[:IPv4MinHeaderLen], checksum included: the outer header of every packet
// vtepd builds itself. Flags other than DF and the fragment offset are 0,
// since vtepd never sends a fragment. src and dst must be IPv4 or
// IPv4-mapped; callers check.
func putIPv4Header(b IPv4, tos uint8, totalLen, id uint16, df bool, ttl, proto uint8, src, dst netip.Addr) {
	b[ipv4VersionIHL] = IPv4Version<<4 | IPv4MinHeaderLen/4
	b[ipv4TOS] = tos
	binary.BigEndian.PutUint16(b[ipv4TotalLength:], totalLen)
	binary.BigEndian.PutUint16(b[ipv4ID:], id)
	var frag uint16
	if df {
		frag = ipv4DFBit
	}
	binary.BigEndian.PutUint16(b[ipv4FlagsFragOff:], frag)
	b[ipv4TTL] = ttl
	b[ipv4Protocol] = proto
	b.SetSrc(src)
	b.SetDst(dst)
	// The checksum is summed from the values rather than from the bytes
	// just stored, whose wider loads would wait for the stores to drain.
	sum := uint32(IPv4Version<<4|IPv4MinHeaderLen/4)<<8 | uint32(tos)
	sum += uint32(totalLen) + uint32(id) + uint32(frag) + (uint32(ttl)<<8 | uint32(proto))
	sum += addr4Sum(src.As4()) + addr4Sum(dst.As4())
	b.SetChecksumField(FoldChecksum(sum))
}

// minHeaderChecksum is the header checksum of the 20-byte IPv4 header b,
// its checksum field zero: Checksum's sum unrolled for the one length every
// encapsulated packet pays for, five 32-bit words that cannot carry out of
// 64 bits.
func minHeaderChecksum(b IPv4) uint16 {
	_ = b[IPv4MinHeaderLen-1]
	acc := uint64(binary.LittleEndian.Uint32(b[0:])) + uint64(binary.LittleEndian.Uint32(b[4:])) +
		uint64(binary.LittleEndian.Uint32(b[8:])) + uint64(binary.LittleEndian.Uint32(b[12:])) +
		uint64(binary.LittleEndian.Uint32(b[16:]))
	return ^bits.ReverseBytes16(uint16(fold64(acc)))
}
