package encap

import "encoding/binary"

// A sender that offloads its checksum (Linux's CHECKSUM_PARTIAL) does not
// compute the TCP or UDP checksum: it leaves in the field the sum of the
// pseudo-header alone, folded to 16 bits, for the NIC to finish over the
// rest. A NIC does; a veth does not, and hands the packet on as it is, with
// the promise in its metadata that the checksum will be made good. When
// the kernel's vxlan on one side of a veth encapsulates such a packet, the
// promise stays behind in the kernel and the bytes vtepd receives carry the
// unfinished field: the receiving TCP or UDP then drops the packet as
// corrupt (TcpInCsumErrors, UdpInCsumErrors). Open vSwitch's userspace
// datapath meets the same packets.

// FinishPartialChecksum finds, in the TCP or UDP packet at frame[l3:]
// (l3 is 14 for an Ethernet frame, 0 for an IP packet), a checksum field
// that holds exactly the folded pseudo-header sum a checksum-offloading
// sender leaves, and finishes it as the NIC would have: it reports whether
// it did. Any other checksum, right or wrong, is left as it is, as is
// anything that is not an unfragmented TCP or UDP packet over IPv4 or
// IPv6. A correct checksum that happens to equal the pseudo-header sum is
// computed again to the same value, so finishing never harms one. A UDP
// checksum of 0 (none, over IPv4) is left alone.
func FinishPartialChecksum(frame []byte, l3 int) bool {
	if !mayBePartial(frame, l3) {
		return false
	}
	p, err := parseL4(frame, l3)
	if err != nil {
		return false
	}
	ip := frame[l3:p.end]
	l4 := ip[p.ipHL:]
	field := tcpChecksum
	if p.udp {
		field = udpChecksum
	}
	got := binary.BigEndian.Uint16(l4[field:])
	if p.udp && got == 0 && !p.v6 {
		return false
	}
	pseudo := addrSum(ip, p.v6) + p.proto() + uint32(len(l4))
	if got != ^FoldChecksum(pseudo) {
		return false
	}
	sum := FoldChecksum(Checksum(l4, 0))
	if sum == 0 && p.udp {
		sum = 0xffff // 0 would mean "no checksum" (RFC 768)
	}
	binary.BigEndian.PutUint16(l4[field:], sum)
	return true
}

// mayBePartial is the cheap look every received frame gets: false when
// frame is plainly no IPv4 TCP or UDP packet whose checksum field holds
// the pseudo-header sum. IPv4 with options and IPv6 take the full look.
func mayBePartial(frame []byte, l3 int) bool {
	if len(frame) < l3+IPv4MinHeaderLen {
		return false
	}
	if l3 == EthernetHeaderLen && Ethernet(frame).EtherType() != EtherTypeIPv4 {
		return Ethernet(frame).EtherType() == EtherTypeIPv6
	}
	ip := frame[l3:]
	switch {
	case ip[ipv4VersionIHL]>>4 == IPv6Version:
		return true
	case ip[ipv4VersionIHL] != IPv4Version<<4|5:
		return ip[ipv4VersionIHL]>>4 == IPv4Version // options: the full look
	}
	proto := ip[ipv4Protocol]
	field := tcpChecksum
	switch proto {
	case ProtocolTCP:
	case ProtocolUDP:
		field = udpChecksum
	default:
		return false
	}
	total := int(binary.BigEndian.Uint16(ip[ipv4TotalLength:]))
	if total > len(ip) || total < IPv4MinHeaderLen+field+2 ||
		binary.BigEndian.Uint16(ip[ipv4FlagsFragOff:])&(ipv4MFBit|ipv4FragOffMask) != 0 {
		return false
	}
	sum := uint32(proto) + uint32(total-IPv4MinHeaderLen)
	for i := ipv4Src; i < ipv4Dst+4; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	return binary.BigEndian.Uint16(ip[IPv4MinHeaderLen+field:]) == ^FoldChecksum(sum)
}

// DescribeSuperFrame recognises, in frame (its IP header at l3), a TCP
// segment longer than mtu whose checksum holds the pseudo-header sum: a
// super-frame a checksum- and segmentation-offloading sender left whole
// (a kernel vxlan behind a veth hands its TSO packets on so, and a UDP
// socket receives them as one datagram). It writes into h the virtio-net
// header that describes it, as a device would hand it over: TCPv4 or
// TCPv6 segmentation into segments that fit mtu, the checksum to finish
// from the transport header on. GSOSplit then cuts it into those segments,
// every checksum complete. It reports false, writing nothing, for
// anything else.
func DescribeSuperFrame(frame []byte, l3, mtu int, h VirtioNetHdr) bool {
	if len(frame)-l3 <= mtu || !h.IsValid() {
		return false
	}
	p, err := parseL4(frame, l3)
	if err != nil || p.udp || p.end != len(frame) {
		return false
	}
	ip := frame[l3:p.end]
	l4 := ip[p.ipHL:]
	pseudo := addrSum(ip, p.v6) + p.proto() + uint32(len(l4))
	mss := mtu - p.ipHL - p.l4HL
	if binary.BigEndian.Uint16(l4[tcpChecksum:]) != ^FoldChecksum(pseudo) || mss <= 0 {
		return false
	}
	h.Reset()
	h.SetFlags(VirtioNetHdrFNeedsCsum)
	h.SetGSOType(VirtioGSOTCPv4)
	if p.v6 {
		h.SetGSOType(VirtioGSOTCPv6)
	}
	h.SetHdrLen(uint16(p.hdrEnd(l3)))
	h.SetGSOSize(uint16(mss))
	h.SetCsumStart(uint16(l3 + p.ipHL))
	h.SetCsumOffset(tcpChecksum)
	return true
}
