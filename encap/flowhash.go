package encap

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// FlowHash hashes the flow an inner Ethernet frame belongs to, for choosing
// the outer UDP source port (RFC 7348 section 5 recommends "a hash of fields
// from the inner packet" so that underlay ECMP and RSS spread tunnels by
// inner flow).
//
// For IPv4 and IPv6 it covers the addresses, the protocol and, for TCP, UDP
// and SCTP, the ports; ports are skipped for IPv4 fragments so that every
// fragment of a datagram hashes alike, and the IPv6 next header is taken as
// is, without walking extension headers. ARP for IPv4 hashes the sender and
// target protocol addresses, so that a request (often broadcast) and its reply
// go alike. Up to two VLAN tags are skipped. Anything else hashes the MAC
// addresses and the EtherType. Frames shorter than an Ethernet header hash
// to 0.
//
// The hash is symmetric: both directions of a flow hash alike, as Linux's
// flow dissector makes them (the captured kernel VXLAN traffic in the tests
// uses one source port for a ping and its reply). It depends on nothing but
// the frame: the same flow gets the same hash in every process, unlike the
// kernel's, which is seeded at boot.
func FlowHash(frame []byte) uint32 {
	if len(frame) < EthernetHeaderLen {
		return 0
	}
	etype, off, _, _ := SkipVLANs(frame)
	l3 := frame[off:]
	switch etype {
	case EtherTypeIPv4:
		if h, ok := flowHashIPv4(l3); ok {
			return h
		}
	case EtherTypeIPv6:
		if h, ok := flowHashIPv6(l3); ok {
			return h
		}
	case EtherTypeARP:
		if h, ok := flowHashARP(l3); ok {
			return h
		}
	}
	return flowHashL2(frame, etype)
}

func flowHashIPv4(b []byte) (uint32, bool) {
	if len(b) < IPv4MinHeaderLen || b[ipv4VersionIHL]>>4 != IPv4Version {
		return 0, false
	}
	hl := int(b[ipv4VersionIHL]&0x0f) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return 0, false
	}
	src := binary.BigEndian.Uint32(b[ipv4Src:])
	dst := binary.BigEndian.Uint32(b[ipv4Dst:])
	proto := b[ipv4Protocol]
	var sport, dport uint16
	if hasPorts(proto) && !IPv4(b).IsFragment() && len(b) >= hl+4 {
		sport = binary.BigEndian.Uint16(b[hl:])
		dport = binary.BigEndian.Uint16(b[hl+2:])
	}
	if src > dst || (src == dst && sport > dport) {
		src, dst = dst, src
		sport, dport = dport, sport
	}
	h := mix32(EtherTypeIPv4, src)
	h = mix32(h, dst)
	h = mix32(h, uint32(proto))
	h = mix32(h, uint32(sport)<<16|uint32(dport))
	return fmix32(h), true
}

func flowHashIPv6(b []byte) (uint32, bool) {
	if len(b) < IPv6HeaderLen || b[ipv6VersionTCFL]>>4 != IPv6Version {
		return 0, false
	}
	src, dst := b[ipv6Src:ipv6Src+16], b[ipv6Dst:ipv6Dst+16]
	proto := b[ipv6NextHeader]
	var sport, dport uint16
	if hasPorts(proto) && len(b) >= IPv6HeaderLen+4 {
		sport = binary.BigEndian.Uint16(b[IPv6HeaderLen:])
		dport = binary.BigEndian.Uint16(b[IPv6HeaderLen+2:])
	}
	if c := bytes.Compare(src, dst); c > 0 || (c == 0 && sport > dport) {
		src, dst = dst, src
		sport, dport = dport, sport
	}
	h := uint32(EtherTypeIPv6)
	for i := 0; i < 16; i += 4 {
		h = mix32(h, binary.BigEndian.Uint32(src[i:]))
	}
	for i := 0; i < 16; i += 4 {
		h = mix32(h, binary.BigEndian.Uint32(dst[i:]))
	}
	h = mix32(h, uint32(proto))
	h = mix32(h, uint32(sport)<<16|uint32(dport))
	return fmix32(h), true
}

// ARP packet for IPv4 over Ethernet (RFC 826): hardware type 1, protocol
// type 0x0800, address lengths 6 and 4, then sender MAC and IPv4 address and
// target MAC and IPv4 address.
const (
	arpIPv4Len      = 28
	arpSenderIP     = 14
	arpTargetIP     = 24
	arpHTypeEther   = 1
	arpEtherIPv4Hdr = arpHTypeEther<<48 | EtherTypeIPv4<<32 | 6<<24 | 4<<16
)

func flowHashARP(b []byte) (uint32, bool) {
	if len(b) < arpIPv4Len || binary.BigEndian.Uint64(b)&^0xffff != arpEtherIPv4Hdr {
		return 0, false
	}
	s := binary.BigEndian.Uint32(b[arpSenderIP:])
	d := binary.BigEndian.Uint32(b[arpTargetIP:])
	if s > d {
		s, d = d, s
	}
	h := mix32(EtherTypeARP, s)
	h = mix32(h, d)
	return fmix32(h), true
}

func flowHashL2(frame []byte, etype uint16) uint32 {
	a, b := frame[ethDst:ethDst+6], frame[ethSrc:ethSrc+6]
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	h := mix32(uint32(etype), binary.BigEndian.Uint32(a))
	h = mix32(h, uint32(binary.BigEndian.Uint16(a[4:]))<<16|uint32(binary.BigEndian.Uint16(b)))
	h = mix32(h, binary.BigEndian.Uint32(b[2:]))
	return fmix32(h)
}

func hasPorts(proto uint8) bool {
	return proto == ProtocolTCP || proto == ProtocolUDP || proto == ProtocolSCTP
}

// mix32 folds one 32-bit word into the running hash h: the block step of
// MurmurHash3 (x86, 32-bit), with its published multipliers and rotations.
func mix32(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = bits.RotateLeft32(k, 15)
	k *= 0x1b873593
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

// fmix32 is MurmurHash3's finaliser: it makes every input bit affect every
// output bit, so that the high bits SourcePort uses are well spread.
func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// SourcePort maps a flow hash onto the port range [portMin, portMax], both
// ends included, by multiplying instead of taking a remainder:
//
//	port = ((uint64(hash) * uint64(portMax-portMin+1)) >> 32) + portMin
//
// The high bits of the hash pick the port, so a hash whose high bits are well
// mixed (FlowHash's are) spreads evenly over the range.
//
// Linux's udp_flow_src_port (include/net/udp.h), which its vxlan driver uses,
// works the same way with two differences: it first does hash ^= hash << 16
// to hide the raw skb hash on the wire, and it multiplies by (max - min), so
// max itself is never chosen. With min >= max it falls back to
// net.ipv4.ip_local_port_range (32768-60999 by default). Here portMin ==
// portMax yields portMin, and portMin > portMax falls back to
// DefaultSourcePortMin..DefaultSourcePortMax.
func SourcePort(hash uint32, portMin, portMax uint16) uint16 {
	if portMin > portMax {
		portMin, portMax = DefaultSourcePortMin, DefaultSourcePortMax
	}
	span := uint64(portMax) - uint64(portMin) + 1
	return uint16(uint64(hash)*span>>32) + portMin
}
