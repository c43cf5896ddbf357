package encap

import "encoding/binary"

// VXLAN header (RFC 7348 section 5):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|R|R|R|I|R|R|R|            Reserved                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                VXLAN Network Identifier (VNI) |   Reserved    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	vxlanFlags = 0
	vxlanVNI   = 4

	// VXLANFlagI is the I flag: "MUST be set to 1 for a valid VXLAN Network
	// ID" (RFC 7348 section 5). The R bits are zero on transmission and
	// ignored on receipt.
	VXLANFlagI = 0x08

	// MaxVNI is the largest 24-bit VNI (RFC 7348 section 5).
	MaxVNI = 1<<24 - 1
)

// VXLAN is a view of a VXLAN header followed by the inner Ethernet frame,
// i.e. the payload of a UDP datagram on the VXLAN port. Check IsValid (or
// Validate) before calling any other method.
type VXLAN []byte

// IsValid reports whether b is long enough for a VXLAN header.
func (b VXLAN) IsValid() bool { return len(b) >= VXLANHeaderLen }

// Validate checks b as a receiver must (RFC 7348 section 5): long enough for
// the header and the I flag set; reserved bits are ignored. It returns
// ErrShortPacket or ErrVXLANFlags, or nil.
func (b VXLAN) Validate() error {
	if len(b) < VXLANHeaderLen {
		return ErrShortPacket
	}
	if b[vxlanFlags]&VXLANFlagI == 0 {
		return ErrVXLANFlags
	}
	return nil
}

// Flags returns the flags byte.
func (b VXLAN) Flags() uint8 { return b[vxlanFlags] }

// VNI returns the 24-bit VXLAN Network Identifier.
func (b VXLAN) VNI() uint32 { return binary.BigEndian.Uint32(b[vxlanVNI:]) >> 8 }

// SetFlags writes the flags byte.
func (b VXLAN) SetFlags(f uint8) { b[vxlanFlags] = f }

// SetVNI writes the low 24 bits of vni, keeping the reserved byte after it.
func (b VXLAN) SetVNI(vni uint32) {
	v := binary.BigEndian.Uint32(b[vxlanVNI:])&0xff | vni<<8
	binary.BigEndian.PutUint32(b[vxlanVNI:], v)
}

// Payload returns the inner Ethernet frame (a sub-slice, not a copy).
func (b VXLAN) Payload() []byte { return b[VXLANHeaderLen:] }

// PutVXLAN writes an 8-byte VXLAN header at b[:8]: the I flag, reserved bits
// zero (RFC 7348 section 5), and the low 24 bits of vni. It panics if b is
// shorter than 8 bytes.
func PutVXLAN(b []byte, vni uint32) {
	_ = b[VXLANHeaderLen-1]
	binary.BigEndian.PutUint32(b[0:], VXLANFlagI<<24)
	binary.BigEndian.PutUint32(b[4:], vni<<8)
}

// DecapVXLAN checks a received UDP payload as RFC 7348 section 5 says (the I
// flag must be set; reserved bits are ignored) and returns the VNI and the
// inner Ethernet frame, a sub-slice of payload. Errors: ErrShortPacket (fewer
// than 8 bytes), ErrVXLANFlags (I flag clear), ErrShortFrame (inner frame
// shorter than an Ethernet header).
func DecapVXLAN(payload []byte) (vni uint32, inner []byte, err error) {
	v := VXLAN(payload)
	if err := v.Validate(); err != nil {
		return 0, nil, err
	}
	inner = v.Payload()
	if len(inner) < EthernetHeaderLen {
		return 0, nil, ErrShortFrame
	}
	return v.VNI(), inner, nil
}
