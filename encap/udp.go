package encap

import (
	"encoding/binary"
	"net/netip"
)

// UDP header (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDP is a view of a UDP datagram. Check IsValid before calling any other
// method: accessors index the slice directly and panic on a short one.
type UDP []byte

// IsValid reports whether b holds a UDP header whose Length covers the header
// and fits in b.
func (b UDP) IsValid() bool {
	if len(b) < UDPHeaderLen {
		return false
	}
	l := int(binary.BigEndian.Uint16(b[udpLength:]))
	return l >= UDPHeaderLen && l <= len(b)
}

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the Length field: header plus data, in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the Checksum field as stored; 0 means "no checksum"
// (RFC 768), allowed over IPv4 only.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// Payload returns the data after the header up to Length.
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.Length()] }

// SetSrcPort writes the source port.
func (b UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], v) }

// SetDstPort writes the destination port.
func (b UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], v) }

// SetLength writes the Length field.
func (b UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(b[udpLength:], v) }

// SetChecksum writes v into the Checksum field as is.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], v) }

// CalculateChecksum returns the checksum to store for the datagram b[:Length],
// computed as if the checksum field were zero. pseudo is the pseudo-header
// sum from PseudoHeaderSum. A computed 0 is returned as 0xffff, because 0 on
// the wire means "no checksum" (RFC 768).
func (b UDP) CalculateChecksum(pseudo uint32) uint16 {
	sum := Checksum(b[:udpChecksum], pseudo)
	sum = Checksum(b[UDPHeaderLen:b.Length()], sum)
	if c := FoldChecksum(sum); c != 0 {
		return c
	}
	return 0xffff
}

// IsChecksumValid reports whether the datagram's checksum verifies against
// the pseudo-header of src and dst. A zero checksum field means none was
// sent: accepted over IPv4 (RFC 768; RFC 7348 section 5 requires VXLAN
// receivers to accept it), rejected over IPv6 (RFC 8200 section 8.1).
func (b UDP) IsChecksumValid(src, dst netip.Addr) bool {
	if b.Checksum() == 0 {
		return src.Is4() || src.Is4In6()
	}
	sum := Checksum(b[:b.Length()], PseudoHeaderSum(ProtocolUDP, src, dst, b.Length()))
	return FoldChecksum(sum) == 0
}
