package encap

import (
	"encoding/binary"
	"net/netip"
)

// Neighbour discovery (RFC 4861): a neighbour solicitation and the
// advertisement that answers it, in an IPv6 packet of hop limit 255 (a
// node drops any other, section 7.1.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|S|O|                     Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Target Address (16)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options: type 2 (target link-layer address), length 1, MAC  |
const (
	ndTarget         = 8
	ndLen            = 24   // up to the options
	ndFlagsSolicited = 0x40 // S: an answer to a solicitation
	ndFlagsOverride  = 0x20 // O: replace a cached link-layer address
	ndOptTargetLL    = 2
	ndHopLimit       = 255

	// NAFrameLen is a neighbour advertisement with its target link-layer
	// address option, in an untagged Ethernet frame.
	NAFrameLen = EthernetHeaderLen + IPv6HeaderLen + ndLen + 8
)

// NeighborSolicitTarget reads an untagged Ethernet frame for a neighbour
// solicitation a node sends to resolve an address: it returns the target
// and the solicitation's IPv6 packet. Duplicate address detection (an
// unspecified source) is not resolution, and is left alone.
func NeighborSolicitTarget(frame []byte) (netip.Addr, IPv6, bool) {
	if len(frame) < EthernetHeaderLen || Ethernet(frame).EtherType() != EtherTypeIPv6 {
		return netip.Addr{}, nil, false
	}
	ip := IPv6(frame[EthernetHeaderLen:])
	if !ip.IsValid() || ip.NextHeader() != ProtocolICMPv6 || ip.HopLimit() != ndHopLimit {
		return netip.Addr{}, nil, false
	}
	p := ip.Payload()
	if len(p) < ndLen || p[0] != ICMPv6NeighborSolicit || p[1] != 0 || ip.Src().IsUnspecified() {
		return netip.Addr{}, nil, false
	}
	return netip.AddrFrom16([16]byte(p[ndTarget:])), ip, true
}

// PutNeighborAdvert writes into b (at least NAFrameLen bytes) the frame the
// owner of target, at mac, would answer the solicitation ns with: to the
// asker's address and MAC (asker), solicited and override set. It returns
// the length.
func PutNeighborAdvert(b []byte, ns IPv6, asker, mac [6]byte, target netip.Addr) int {
	f := Ethernet(b)
	f.SetDst(asker)
	f.SetSrc(mac)
	f.SetEtherType(EtherTypeIPv6)
	ip := IPv6(b[EthernetHeaderLen:NAFrameLen])
	clear(ip[:IPv6HeaderLen])
	ip.SetVersion()
	ip.SetPayloadLength(ndLen + 8)
	ip.SetNextHeader(ProtocolICMPv6)
	ip.SetHopLimit(ndHopLimit)
	ip.SetSrc(target)
	ip.SetDst(ns.Src())
	m := ip[IPv6HeaderLen:]
	clear(m)
	m[0] = ICMPv6NeighborAdvert
	m[4] = ndFlagsSolicited | ndFlagsOverride
	t := target.As16()
	copy(m[ndTarget:], t[:])
	m[ndLen] = ndOptTargetLL
	m[ndLen+1] = 1 // in units of 8 bytes
	copy(m[ndLen+2:], mac[:])
	sum := Checksum(m, PseudoHeaderSum(ProtocolICMPv6, target, ns.Src(), uint16(len(m))))
	binary.BigEndian.PutUint16(m[2:], FoldChecksum(sum))
	return NAFrameLen
}
