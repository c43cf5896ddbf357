package encap

import "encoding/binary"

// Ethernet II header (IEEE 802.3 clause 3.1.1; the preamble and FCS are not
// part of frames read from a TAP device):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Destination MAC Address                   |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                       Source MAC Address                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12
)

// Ethernet is a view of an Ethernet frame. Check IsValid before calling any
// other method: accessors index the slice directly and panic on a short one.
type Ethernet []byte

// IsValid reports whether b is long enough to hold an Ethernet header.
func (b Ethernet) IsValid() bool { return len(b) >= EthernetHeaderLen }

// Dst returns the destination MAC address. A plain array, so reading it never
// allocates, and it can be a map key or compared with ==.
func (b Ethernet) Dst() [6]byte { return [6]byte(b[ethDst : ethDst+6]) }

// Src returns the source MAC address.
func (b Ethernet) Src() [6]byte { return [6]byte(b[ethSrc : ethSrc+6]) }

// EtherType returns the EtherType (or the TPID when the frame is VLAN-tagged).
func (b Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// SetDst writes the destination MAC address.
func (b Ethernet) SetDst(mac [6]byte) { copy(b[ethDst:ethDst+6], mac[:]) }

// SetSrc writes the source MAC address.
func (b Ethernet) SetSrc(mac [6]byte) { copy(b[ethSrc:ethSrc+6], mac[:]) }

// SetEtherType writes the EtherType.
func (b Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(b[ethType:], t) }

// Payload returns the bytes after the Ethernet header (a sub-slice, not a copy).
func (b Ethernet) Payload() []byte { return b[EthernetHeaderLen:] }

// IsBroadcast reports whether mac is ff:ff:ff:ff:ff:ff.
func IsBroadcast(mac [6]byte) bool { return mac == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// IsMulticast reports whether mac has the group bit set (the least
// significant bit of the first octet, IEEE 802 clause 8.2); broadcast is a
// multicast address too. Such frames are flooded rather than looked up.
func IsMulticast(mac [6]byte) bool { return mac[0]&0x01 != 0 }
