package encap

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// TAP and TUN devices opened with IFF_VNET_HDR put a struct virtio_net_hdr
// (include/uapi/linux/virtio_net.h; virtio 1.2 section 5.1.6) in front of
// every packet, in both directions. With TUNSETOFFLOAD (TUN_F_CSUM,
// TUN_F_TSO4, TUN_F_TSO6) the kernel may then hand over packets whose
// transport checksum is only partly computed (CHECKSUM_PARTIAL) and TCP
// "super-frames" of up to 64 KiB that the reader must cut into segments
// itself, as a NIC with TSO would; and it accepts the same from the writer.
//
// The fields are little-endian: a TUN device uses the virtio byte order,
// which is little-endian unless the device is in legacy big-endian mode
// (TUNSETVNETBE, or a big-endian host without TUNSETVNETLE).
//
//	 0               1               2               3
//	 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//	+---------------+---------------+-------------------------------+
//	|     flags     |   gso_type    |      hdr_len (LE u16)         |
//	+---------------+---------------+-------------------------------+
//	|      gso_size (LE u16)        |     csum_start (LE u16)       |
//	+-------------------------------+-------------------------------+
//	|     csum_offset (LE u16)      |
//	+-------------------------------+
const (
	vnetFlags       = 0
	vnetGSOType     = 1
	vnetHdrLenField = 2
	vnetGSOSize     = 4
	vnetCsumStart   = 6
	vnetCsumOffset  = 8
)

// VirtioNetHdrLen is the size of struct virtio_net_hdr, the header a TUN
// device reads and writes by default with IFF_VNET_HDR (TUNSETVNETHDRSZ can
// enlarge it, for example to the 12 bytes of virtio_net_hdr_mrg_rxbuf).
const VirtioNetHdrLen = 10

// Bits of the flags field (include/uapi/linux/virtio_net.h).
const (
	// VirtioNetHdrFNeedsCsum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the checksum
	// from csum_start to the end of the packet is still to be computed and
	// stored at csum_start+csum_offset, where the sum of the pseudo-header
	// already sits (the kernel's CHECKSUM_PARTIAL).
	VirtioNetHdrFNeedsCsum = 1
	// VirtioNetHdrFDataValid (VIRTIO_NET_HDR_F_DATA_VALID): the checksums
	// were verified already (the kernel's CHECKSUM_UNNECESSARY).
	VirtioNetHdrFDataValid = 2
)

// Values of the gso_type field (include/uapi/linux/virtio_net.h).
const (
	// VirtioGSONone (VIRTIO_NET_HDR_GSO_NONE): a single packet, not to be segmented.
	VirtioGSONone = 0
	// VirtioGSOTCPv4 (VIRTIO_NET_HDR_GSO_TCPV4): a TCP over IPv4 super-frame (TSO).
	VirtioGSOTCPv4 = 1
	// VirtioGSOUDP (VIRTIO_NET_HDR_GSO_UDP): UDP fragmentation offload (UFO).
	VirtioGSOUDP = 3
	// VirtioGSOTCPv6 (VIRTIO_NET_HDR_GSO_TCPV6): a TCP over IPv6 super-frame (TSO).
	VirtioGSOTCPv6 = 4
	// VirtioGSOUDPL4 (VIRTIO_NET_HDR_GSO_UDP_L4): UDP segmentation (USO).
	VirtioGSOUDPL4 = 5
	// VirtioGSOECN (VIRTIO_NET_HDR_GSO_ECN): ORed into a TCP gso_type when the
	// super-frame carries CWR (RFC 3168 section 6.1.2); only the first
	// segment may keep it.
	VirtioGSOECN = 0x80
)

// VirtioNetHdr is a view of a struct virtio_net_hdr. Check IsValid before
// calling any other method: accessors index the slice directly and panic on
// a short one.
type VirtioNetHdr []byte

// IsValid reports whether b is long enough to hold the header (10 bytes).
func (b VirtioNetHdr) IsValid() bool { return len(b) >= VirtioNetHdrLen }

// Reset zeroes the header: no flags, gso_type none, every offset 0 — the
// header of a plain packet whose checksums are complete.
func (b VirtioNetHdr) Reset() { clear(b[:VirtioNetHdrLen]) }

// Flags returns the flags byte (VirtioNetHdrFNeedsCsum, VirtioNetHdrFDataValid).
func (b VirtioNetHdr) Flags() uint8 { return b[vnetFlags] }

// GSOType returns the gso_type byte (VirtioGSO*, possibly ORed with VirtioGSOECN).
func (b VirtioNetHdr) GSOType() uint8 { return b[vnetGSOType] }

// HdrLen returns hdr_len: by the virtio spec the length of the headers
// before the payload, but Linux fills it with the length of the linear part
// of its buffer (skb_headlen), which is the headers in the common case and
// may be more; GSOSplit does not rely on it.
func (b VirtioNetHdr) HdrLen() uint16 { return binary.LittleEndian.Uint16(b[vnetHdrLenField:]) }

// GSOSize returns gso_size: the payload bytes of each segment (the MSS).
func (b VirtioNetHdr) GSOSize() uint16 { return binary.LittleEndian.Uint16(b[vnetGSOSize:]) }

// CsumStart returns csum_start: where the partial checksum's coverage starts.
func (b VirtioNetHdr) CsumStart() uint16 { return binary.LittleEndian.Uint16(b[vnetCsumStart:]) }

// CsumOffset returns csum_offset: where the checksum field is, counted from
// csum_start (16 for TCP, 6 for UDP).
func (b VirtioNetHdr) CsumOffset() uint16 { return binary.LittleEndian.Uint16(b[vnetCsumOffset:]) }

// SetFlags writes the flags byte.
func (b VirtioNetHdr) SetFlags(v uint8) { b[vnetFlags] = v }

// SetGSOType writes the gso_type byte.
func (b VirtioNetHdr) SetGSOType(v uint8) { b[vnetGSOType] = v }

// SetHdrLen writes hdr_len.
func (b VirtioNetHdr) SetHdrLen(v uint16) { binary.LittleEndian.PutUint16(b[vnetHdrLenField:], v) }

// SetGSOSize writes gso_size.
func (b VirtioNetHdr) SetGSOSize(v uint16) { binary.LittleEndian.PutUint16(b[vnetGSOSize:], v) }

// SetCsumStart writes csum_start.
func (b VirtioNetHdr) SetCsumStart(v uint16) { binary.LittleEndian.PutUint16(b[vnetCsumStart:], v) }

// SetCsumOffset writes csum_offset.
func (b VirtioNetHdr) SetCsumOffset(v uint16) { binary.LittleEndian.PutUint16(b[vnetCsumOffset:], v) }

// TCP header (RFC 9293 section 3.1; CWR and ECE from RFC 3168 section 6.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	tcpSeq          = 4
	tcpAck          = 8
	tcpDataOffset   = 12
	tcpFlags        = 13
	tcpWindow       = 14
	tcpChecksum     = 16
	tcpMinHeaderLen = 20
	tcpMaxHeaderLen = 60 // data offset 15 (RFC 9293 section 3.1)

	tcpFlagFIN = 0x01
	tcpFlagSYN = 0x02
	tcpFlagRST = 0x04
	tcpFlagPSH = 0x08
	tcpFlagACK = 0x10
	tcpFlagURG = 0x20
	tcpFlagECE = 0x40
	tcpFlagCWR = 0x80
)

// Errors of the offload helpers. Sentinels, so the hot path never allocates
// to report one; each names the field at fault.
var (
	// ErrVirtioNetHdr: the virtio_net_hdr view is shorter than 10 bytes.
	ErrVirtioNetHdr = errors.New("encap: virtio_net_hdr shorter than 10 bytes")
	// ErrL3Offset: l3 is neither 0 (bare IP, TUN) nor 14 (Ethernet, TAP).
	ErrL3Offset = errors.New("encap: l3 offset: want 0 (bare IP) or 14 (Ethernet)")
	// ErrEtherTypeNotIP: an Ethernet frame carries neither IPv4 nor IPv6.
	ErrEtherTypeNotIP = errors.New("encap: EtherType: want IPv4 (0x0800) or IPv6 (0x86DD)")
	// ErrIPVersion: the IP version does not match the EtherType, or is
	// neither 4 nor 6 in a bare IP packet.
	ErrIPVersion = errors.New("encap: IP version: want 4 or 6, matching the EtherType")
	// ErrNotTCPOrUDP: the IPv4 protocol or IPv6 next header is neither TCP
	// (6) nor UDP (17); IPv6 extension headers are not followed.
	ErrNotTCPOrUDP = errors.New("encap: IPv4 protocol or IPv6 next header: want TCP (6) or UDP (17)")
	// ErrBadTCPHeader: the TCP header is cut short, or its data offset is
	// below 5 or reaches past the IP payload.
	ErrBadTCPHeader = errors.New("encap: bad TCP header: data offset below 5 or beyond the IP payload")
	// ErrBadUDPHeader: the IP payload is shorter than a UDP header.
	ErrBadUDPHeader = errors.New("encap: bad UDP header: IP payload shorter than 8 bytes")
	// ErrGSOType: GSOSplit was given a gso_type other than TCPv4, TCPv6 or
	// UDP_L4.
	ErrGSOType = errors.New("encap: gso_type: want TCPv4 (1), TCPv6 (4), with or without ECN (0x80), or UDP_L4 (5)")
	// ErrGSOFamily: gso_type TCPv4 on an IPv6 packet, or TCPv6 on an IPv4
	// one, or a TCP gso_type on UDP or UDP_L4 on TCP.
	ErrGSOFamily = errors.New("encap: gso_type does not match the packet's IP version or transport")
	// ErrGSOSize: gso_size is 0, so there is no segment size to cut at.
	ErrGSOSize = errors.New("encap: gso_size 0")
	// ErrGSOHeadroom: GSOSplit was given a negative headroom.
	ErrGSOHeadroom = errors.New("encap: GSO headroom negative")
	// ErrGSOOutTooSmall: out cannot hold every segment and its headroom.
	ErrGSOOutTooSmall = errors.New("encap: GSO out too small for the segments and their headroom")
	// ErrCsumOffset: csum_start+csum_offset puts the checksum field (2
	// bytes) outside the packet.
	ErrCsumOffset = errors.New("encap: csum_start+csum_offset: checksum field outside the packet")
	// ErrCoalesceGroups: Coalesce was given fewer groups than frames.
	ErrCoalesceGroups = errors.New("encap: Coalesce: groups shorter than frames")
)

// l4Packet says where the headers of a TCP/IP or UDP/IP packet lie.
type l4Packet struct {
	v6   bool
	udp  bool // UDP; TCP otherwise
	ipHL int  // IP header length: IHL*4, or 40 for IPv6
	l4HL int  // TCP header length (data offset*4), or 8 for UDP
	end  int  // l3 + the IP length; link-layer padding may follow
}

// hdrEnd is the offset of the TCP or UDP payload.
func (p *l4Packet) hdrEnd(l3 int) int { return l3 + p.ipHL + p.l4HL }

// proto is the packet's IP protocol number.
func (p *l4Packet) proto() uint32 {
	if p.udp {
		return ProtocolUDP
	}
	return ProtocolTCP
}

// parseL4 locates the headers of the TCP or UDP packet at pkt[l3:],
// checking every length against pkt so that the callers may index freely
// afterwards. IPv4 fragments are refused: only a first fragment holds a
// transport header, and it does not hold the whole segment or datagram.
// The UDP length field is not read: a super-frame's may be stale, and
// coalescible checks it on the frames that are not.
func parseL4(pkt []byte, l3 int) (p l4Packet, err error) {
	if l3 != 0 && l3 != EthernetHeaderLen {
		return p, ErrL3Offset
	}
	if len(pkt) <= l3 {
		return p, ErrShortPacket
	}
	version := pkt[l3] >> 4
	if l3 == EthernetHeaderLen {
		switch Ethernet(pkt).EtherType() {
		case EtherTypeIPv4:
			if version != IPv4Version {
				return p, ErrIPVersion
			}
		case EtherTypeIPv6:
			if version != IPv6Version {
				return p, ErrIPVersion
			}
		default:
			return p, ErrEtherTypeNotIP
		}
	}
	var ipLen int
	var proto uint8
	switch version {
	case IPv4Version:
		ip := IPv4(pkt[l3:])
		if !ip.IsValid() {
			return p, ErrBadIPv4Header
		}
		if ip.IsFragment() {
			return p, ErrFragment
		}
		proto, p.ipHL, ipLen = ip.Protocol(), ip.HeaderLen(), int(ip.TotalLength())
	case IPv6Version:
		ip := IPv6(pkt[l3:])
		if !ip.IsValid() {
			return p, ErrBadIPv6Header
		}
		proto, p.v6, p.ipHL, ipLen = ip.NextHeader(), true, IPv6HeaderLen, IPv6HeaderLen+int(ip.PayloadLength())
	default:
		return p, ErrIPVersion
	}
	l4 := pkt[l3+p.ipHL : l3+ipLen]
	switch proto {
	case ProtocolTCP:
		if len(l4) < tcpMinHeaderLen {
			return p, ErrBadTCPHeader
		}
		p.l4HL = int(l4[tcpDataOffset]>>4) * 4
		if p.l4HL < tcpMinHeaderLen || p.l4HL > len(l4) {
			return p, ErrBadTCPHeader
		}
	case ProtocolUDP:
		if len(l4) < UDPHeaderLen {
			return p, ErrBadUDPHeader
		}
		p.udp, p.l4HL = true, UDPHeaderLen
	default:
		return p, ErrNotTCPOrUDP
	}
	p.end = l3 + ipLen
	return p, nil
}

// addrSum returns the one's complement sum of the source and destination
// addresses of the IP header ip, the part of the TCP pseudo-header (RFC 9293
// section 3.1, RFC 8200 section 8.1) that is the same for every segment of a
// flow. Both addresses sit back to back in either header, so they are summed
// straight from the packet.
func addrSum(ip []byte, v6 bool) uint32 {
	if v6 {
		return Checksum(ip[ipv6Src:ipv6Dst+16], 0)
	}
	return addr4Sum([4]byte(ip[ipv4Src:])) + addr4Sum([4]byte(ip[ipv4Dst:]))
}

// CompleteChecksum finishes the partial checksum of pkt that h describes, as
// Linux's skb_checksum_help does for CHECKSUM_PARTIAL: the field at
// csum_start+csum_offset already holds the sum of the pseudo-header, so the
// one's complement of the sum of pkt[csum_start:] is the value to store
// there. A result of 0 is stored as 0xffff, which the UDP checksum requires
// (0 would mean "no checksum", RFC 768) and which verifies the same for TCP.
//
// Without VirtioNetHdrFNeedsCsum it does nothing. gso_type is not looked at:
// for a super-frame this checksums the whole of it, which is what a coalesced
// frame from Coalesce needs before it is delivered anywhere but the
// device; a super-frame to be segmented goes to GSOSplit instead, which
// computes every segment's checksum itself. It returns ErrCsumOffset when
// the checksum field does not lie within pkt, and never panics.
func CompleteChecksum(pkt []byte, h VirtioNetHdr) error {
	if !h.IsValid() {
		return ErrVirtioNetHdr
	}
	if h.Flags()&VirtioNetHdrFNeedsCsum == 0 {
		return nil
	}
	start := int(h.CsumStart())
	field := start + int(h.CsumOffset())
	if field+2 > len(pkt) {
		return ErrCsumOffset
	}
	sum := FoldChecksum(Checksum(pkt[start:], 0))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(pkt[field:], sum)
	return nil
}

// GSOSplit cuts the super-frame pkt, as a TAP or TUN device with TSO or
// USO hands it over, into segments of at most h.GSOSize() payload bytes,
// doing what Linux's tcp_gso_segment and __udp_gso_segment do in software.
//
// h.GSOType() must be VirtioGSOTCPv4 or VirtioGSOTCPv6 on a TCP packet of
// that IP version, or VirtioGSOUDPL4 on a UDP packet of either, the ECN bit
// allowed (and, as Linux does, ignored for UDP); h.GSOSize() must not be 0. l3 is the offset of the IP header in
// pkt: 14 for an Ethernet frame (EtherType IPv4 or IPv6, no VLAN tag) or 0
// for a bare IP packet. The header lengths come from the packet itself
// (IPv4 IHL, options copied; IPv6 the fixed 40 bytes with next header TCP or
// UDP, no extension headers; TCP data offset; UDP 8 bytes), never from
// h.HdrLen(), which Linux fills with the length of its buffer's linear part,
// not necessarily the headers; csum_start and csum_offset are not needed
// either, nor the super-frame's UDP length field. The IP length field bounds
// the packet: bytes after it are ignored. A super-frame without payload
// gives one segment, the headers alone.
//
// Segment i is written to
//
//	out[i*stride+headroom : i*stride+headroom+segLen]   with stride = headroom+segLen
//
// so that the caller can write an outer header into the headroom bytes in
// front of every segment and send the train, or any run of it, with one UDP
// GSO call (UDP_SEGMENT = stride). Every segment is segLen bytes long except
// the last, which is lastLen (<= segLen). The headroom bytes are not
// written. out must hold (segs-1)*stride+headroom+lastLen bytes and must not
// overlap pkt.
//
// In each segment: the L2 header is copied; IPv4 total length, ID (the
// original ID + i) and header checksum are rewritten, or the IPv6 payload
// length. TCP: the sequence number is advanced by the payload before it;
// FIN and PSH are kept on the last segment only and CWR on the first only
// (RFC 3168 section 6.1.2). UDP: the length field is the segment's. The
// transport checksum is computed in full, pseudo-header (RFC 9293 section
// 3.1, RFC 768, RFC 8200 section 8.1), header and payload, whatever the
// super-frame's checksum field held; a UDP sum of 0 is sent as 0xffff.
//
// It returns the number of segments and their lengths, or an error naming
// what is wrong; it never panics and never allocates.
func GSOSplit(pkt []byte, h VirtioNetHdr, l3 int, out []byte, headroom int) (segs, segLen, lastLen int, err error) {
	if !h.IsValid() {
		return 0, 0, 0, ErrVirtioNetHdr
	}
	gsoType := h.GSOType() &^ VirtioGSOECN
	if gsoType != VirtioGSOTCPv4 && gsoType != VirtioGSOTCPv6 && gsoType != VirtioGSOUDPL4 {
		return 0, 0, 0, ErrGSOType
	}
	mss := int(h.GSOSize())
	if mss == 0 {
		return 0, 0, 0, ErrGSOSize
	}
	if headroom < 0 {
		return 0, 0, 0, ErrGSOHeadroom
	}
	p, err := parseL4(pkt, l3)
	if err != nil {
		return 0, 0, 0, err
	}
	if p.udp != (gsoType == VirtioGSOUDPL4) || !p.udp && p.v6 != (gsoType == VirtioGSOTCPv6) {
		return 0, 0, 0, ErrGSOFamily
	}

	hdr := p.hdrEnd(l3)
	payload := pkt[hdr:p.end]
	segs = (len(payload) + mss - 1) / mss
	if segs == 0 {
		segs = 1
	}
	segPay := min(mss, len(payload))
	lastPay := len(payload) - (segs-1)*mss
	segLen, lastLen = hdr+segPay, hdr+lastPay
	stride := headroom + segLen // > 0: hdr is at least 28
	// Room for (segs-1)*stride + headroom + lastLen, without overflowing
	// on a huge headroom.
	room := len(out) - headroom - lastLen
	if headroom > len(out) || room < 0 || (segs-1) > room/stride {
		return 0, 0, 0, ErrGSOOutTooSmall
	}

	sum := addrSum(pkt[l3:], p.v6) + p.proto()
	// The header checksums are taken once, over the headers with the
	// fields that change from segment to segment as zero, and each
	// segment's is that sum plus its own fields' values. Summing a header
	// again just after writing it would load 8 bytes over the 1, 2 and 4
	// byte stores that wrote it, which the CPU cannot forward from its
	// store buffer: in a profile of vtepd, those loads cost more than
	// summing the segment's payload.
	var id uint16
	var ipBase uint32
	if !p.v6 {
		v4 := IPv4(pkt[l3:])
		id = v4.ID()
		var h [IPv4MaxHeaderLen]byte
		copy(h[:], pkt[l3:l3+p.ipHL])
		clear(h[ipv4TotalLength : ipv4ID+2])
		clear(h[ipv4Checksum : ipv4Checksum+2])
		ipBase = Checksum(h[:p.ipHL], 0)
	}
	var seq uint32
	var flags byte
	var l4Base uint32
	{
		var h [tcpMaxHeaderLen]byte
		copy(h[:], pkt[l3+p.ipHL:hdr])
		if p.udp {
			clear(h[udpLength : udpChecksum+2])
		} else {
			seq = binary.BigEndian.Uint32(h[tcpSeq:])
			flags = h[tcpFlags]
			clear(h[tcpSeq : tcpSeq+4])
			h[tcpFlags] = 0
			clear(h[tcpChecksum : tcpChecksum+2])
		}
		l4Base = Checksum(h[:p.l4HL], sum)
	}
	for i := range segs {
		n := segPay
		if i == segs-1 {
			n = lastPay
		}
		off := i*stride + headroom
		seg := out[off : off+hdr+n]
		copy(seg, pkt[:hdr])
		// The payload's sum is taken as it is copied. The L4 header's
		// length is even (a multiple of 4 for TCP, 8 for UDP), so its sum
		// and the payload's add up.
		paySum := ChecksumCopy(seg[hdr:], payload[i*mss:i*mss+n], 0)

		ip := seg[l3:]
		l4Len := p.l4HL + n
		if p.v6 {
			IPv6(ip).SetPayloadLength(uint16(l4Len))
		} else {
			v4 := IPv4(ip)
			totalLen, segID := uint16(p.ipHL+l4Len), id+uint16(i)
			v4.SetTotalLength(totalLen)
			v4.SetID(segID)
			v4.SetChecksumField(FoldChecksum(ipBase + uint32(totalLen) + uint32(segID)))
		}

		l4 := ip[p.ipHL:]
		if p.udp {
			UDP(l4).SetLength(uint16(l4Len))
			c := FoldChecksum(l4Base + 2*uint32(l4Len) + paySum) // the length is in the pseudo-header and the header
			if c == 0 {
				c = 0xffff // RFC 768: 0 would mean no checksum
			}
			binary.BigEndian.PutUint16(l4[udpChecksum:], c)
			continue
		}
		segSeq, f := seq+uint32(i*mss), flags
		if i != segs-1 {
			f &^= tcpFlagFIN | tcpFlagPSH
		}
		if i != 0 {
			f &^= tcpFlagCWR
		}
		binary.BigEndian.PutUint32(l4[tcpSeq:], segSeq)
		l4[tcpFlags] = f
		// The flags are the low byte of the big-endian word at offset 12.
		c := l4Base + uint32(l4Len) + segSeq>>16 + segSeq&0xffff + uint32(f) + paySum
		binary.BigEndian.PutUint16(l4[tcpChecksum:], FoldChecksum(c))
	}
	return segs, segLen, lastLen, nil
}

// Group is one run of frames that Coalesce found: frames[Start] to
// frames[Start+Count-1]. For Count > 1, Hdr is the virtio_net_hdr to write in
// front of the super-frame; for Count == 1 it is all zeros.
type Group struct {
	Start, Count int
	Hdr          [VirtioNetHdrLen]byte
}

// MaxUDPSegments bounds the datagrams of one UDP super-frame, coalesced
// on receive or sent with UDP_SEGMENT: the kernel's UDP_MAX_SEGMENTS was
// 64 until recent kernels raised it to 128, and the smaller bound holds on
// either.
const MaxUDPSegments = 64

// coalesceGroup is the state of the group Coalesce has open.
type coalesceGroup struct {
	first l4Packet
	mss   int    // payload of the first member: the gso_size
	next  uint32 // TCP: the sequence number the next member must carry
	id    uint16 // UDP over IPv4: the IP ID the next member must carry
	count int    // members so far
	ipLen int    // IP length of the super-frame so far, header included
	psh   bool   // TCP: the last member had PSH
}

// coalescible reports whether f may be part of a coalesced super-frame at
// all, whatever else is in the group, and returns where its headers lie. The
// cheap header tests come first; the checksum, which reads the whole
// payload, last. UDP frames are coalescible only when udp is set.
func coalescible(f []byte, l3 int, udp bool) (l4Packet, bool) {
	p, err := parseL4(f, l3)
	// The member's bytes after its headers are appended as they are, so
	// link-layer padding after the IP length would corrupt the super-frame.
	if err != nil || p.end != len(f) || p.end == p.hdrEnd(l3) || p.udp && !udp {
		return p, false
	}
	ip := f[l3:p.end]
	l4 := ip[p.ipHL:]
	if p.udp {
		// The length field must agree with IP's, and a datagram sent
		// without a checksum (0, IPv4 only) would get one: both stand alone.
		if int(UDP(l4).Length()) != len(l4) || UDP(l4).Checksum() == 0 {
			return p, false
		}
	} else if fl := l4[tcpFlags]; fl&^tcpFlagPSH != tcpFlagACK || l4[tcpDataOffset]&0x0f != 0 {
		// Exactly ACK or ACK|PSH: SYN, FIN, RST, URG, ECE, CWR and the
		// reserved bits (AccECN's AE among them) each need the segment to
		// be seen alone.
		return p, false
	}
	if !p.v6 {
		v4 := IPv4(ip)
		// The super-frame's header is rebuilt from the first member's, so
		// a damaged one must not get a fresh checksum.
		if v4.HeaderLen() != IPv4MinHeaderLen || !v4.IsChecksumValid() {
			return p, false
		}
	}
	if FoldChecksum(Checksum(l4, addrSum(ip, p.v6)+p.proto()+uint32(len(l4)))) != 0 {
		return p, false
	}
	return p, true
}

// follows reports whether the coalescible frame f, with headers at p, may
// join the group g whose first member is first.
func (g *coalesceGroup) follows(first, f []byte, p l4Packet, l3 int) bool {
	if p.v6 != g.first.v6 || p.udp != g.first.udp || !bytes.Equal(f[:l3], first[:l3]) {
		return false
	}
	a, b := first[l3:], f[l3:]
	if p.v6 {
		// Version, traffic class and flow label; hop limit; addresses.
		if !bytes.Equal(a[:ipv6PayloadLength], b[:ipv6PayloadLength]) ||
			a[ipv6HopLimit] != b[ipv6HopLimit] ||
			!bytes.Equal(a[ipv6Src:ipv6Dst+16], b[ipv6Src:ipv6Dst+16]) {
			return false
		}
	} else {
		if a[ipv4TOS] != b[ipv4TOS] || a[ipv4TTL] != b[ipv4TTL] ||
			IPv4(a).DF() != IPv4(b).DF() ||
			!bytes.Equal(a[ipv4Src:ipv4Dst+4], b[ipv4Src:ipv4Dst+4]) {
			return false
		}
	}
	n := p.end - p.hdrEnd(l3)
	if n > g.mss || g.ipLen+n > 0xffff {
		return false
	}
	ta, tb := a[g.first.ipHL:], b[p.ipHL:]
	if p.udp {
		// Ports; and the IDs segmentation will give the datagrams back.
		return bytes.Equal(ta[:udpLength], tb[:udpLength]) && g.count < MaxUDPSegments &&
			(p.v6 || IPv4(b).ID() == g.id)
	}
	// Ports; acknowledgment number, data offset and the reserved bits
	// (flags were checked by coalescible); window; options.
	return bytes.Equal(ta[:tcpSeq], tb[:tcpSeq]) &&
		bytes.Equal(ta[tcpAck:tcpFlags], tb[tcpAck:tcpFlags]) &&
		bytes.Equal(ta[tcpWindow:tcpChecksum], tb[tcpWindow:tcpChecksum]) &&
		bytes.Equal(ta[tcpMinHeaderLen:g.first.l4HL], tb[tcpMinHeaderLen:p.l4HL]) &&
		binary.BigEndian.Uint32(tb[tcpSeq:]) == g.next
}

// start opens a group whose first member is f, with headers at p.
func (g *coalesceGroup) start(f []byte, p l4Packet, l3 int) {
	pay := p.end - p.hdrEnd(l3)
	*g = coalesceGroup{first: p, mss: pay, count: 1, ipLen: p.end - l3}
	if p.udp {
		if !p.v6 {
			g.id = IPv4(f[l3:]).ID() + 1
		}
	} else {
		g.next = binary.BigEndian.Uint32(f[l3+p.ipHL+tcpSeq:]) + uint32(pay)
	}
}

// add takes f, with headers at p, into the group and reports whether the
// group is closed to further members: by a short payload, or by PSH.
func (g *coalesceGroup) add(f []byte, p l4Packet, l3 int) bool {
	pay := p.end - p.hdrEnd(l3)
	g.count++
	g.ipLen += pay
	g.id++
	g.next += uint32(pay)
	if !p.udp {
		g.psh = f[l3+p.ipHL+tcpFlags]&tcpFlagPSH != 0
	}
	return g.psh || pay < g.mss
}

// finish turns frames[grp.Start] into the header of the super-frame of grp
// and fills grp.Hdr, when the group has more than one member.
func (g *coalesceGroup) finish(frames [][]byte, l3 int, grp *Group) {
	if grp.Count < 2 {
		return
	}
	ip := frames[grp.Start][l3:]
	l4Len := g.ipLen - g.first.ipHL
	if g.first.v6 {
		IPv6(ip).SetPayloadLength(uint16(g.ipLen - IPv6HeaderLen))
	} else {
		v4 := IPv4(ip)
		v4.SetTotalLength(uint16(g.ipLen))
		v4.SetChecksum()
	}
	l4 := ip[g.first.ipHL:]
	csum := tcpChecksum
	h := VirtioNetHdr(grp.Hdr[:])
	switch {
	case g.first.udp:
		UDP(l4).SetLength(uint16(l4Len))
		csum = udpChecksum
		h.SetGSOType(VirtioGSOUDPL4)
	case g.first.v6:
		h.SetGSOType(VirtioGSOTCPv6)
	default:
		h.SetGSOType(VirtioGSOTCPv4)
	}
	if g.psh {
		l4[tcpFlags] |= tcpFlagPSH
	}
	// CHECKSUM_PARTIAL: the pseudo-header sum, folded and not complemented,
	// as Linux's tcp_v4_send_check, tcp_v6_send_check and udp_send_skb
	// leave it.
	binary.BigEndian.PutUint16(l4[csum:], ^FoldChecksum(addrSum(ip, g.first.v6)+g.first.proto()+uint32(l4Len)))
	h.SetFlags(VirtioNetHdrFNeedsCsum)
	h.SetHdrLen(uint16(g.first.hdrEnd(l3)))
	h.SetGSOSize(uint16(g.mss))
	h.SetCsumStart(uint16(l3 + g.first.ipHL))
	h.SetCsumOffset(uint16(csum))
}

// Coalesce groups consecutive frames of one TCP flow, and with udp set of
// one UDP flow, so that each group can be written to a TAP or TUN device
// with IFF_VNET_HDR as one super-frame, as Linux's GRO would have built it,
// sparing the kernel's stack one pass per segment. A UDP super-frame
// (VirtioGSOUDPL4) needs a device that took TUN_F_USO4 and TUN_F_USO6.
// frames[i] are whole packets: Ethernet frames with l3 = 14, bare IP
// packets with l3 = 0.
//
// It fills groups[0:n] and returns n. Group k covers frames[Start:Start+Count]
// in order; every frame lands in exactly one group, and the groups follow the
// frame order. len(groups) must be at least len(frames), since in the worst
// case every frame stands alone; otherwise it returns ErrCoalesceGroups
// without touching anything, as it does for an l3 other than 0 or 14.
//
// For a group with Count > 1, frames[Start] is rewritten IN PLACE into the
// header of the super-frame: IPv4 total length or IPv6 payload length cover
// the whole of it, the IPv4 header checksum is recomputed, TCP's PSH is set
// if the last member had it, UDP's length covers every datagram, and the
// transport checksum field holds the pseudo-header sum over the coalesced
// length, folded and not complemented, as CHECKSUM_PARTIAL wants. Hdr then
// holds flags VirtioNetHdrFNeedsCsum, gso_type TCPv4, TCPv6 or UDP_L4,
// hdr_len l3 + IP header + transport header, gso_size the first member's
// payload length, csum_start l3 + IP header length and csum_offset 16 (TCP)
// or 6 (UDP). The super-frame is frames[Start] in full followed by
// frames[Start+k][hdr_len:] for k = 1..Count-1, ready for one writev.
// For Count == 1, frames[Start] is untouched and Hdr is all zeros.
//
// A frame joins the open group only if all of these hold; otherwise it starts
// a new group:
//   - the same L2 header bytes (l3 = 14), IP version and transport;
//   - IPv4: IHL 5, not a fragment, the same addresses, TOS, TTL and DF, and a
//     header checksum that verifies;
//   - IPv6: next header TCP or UDP, the same addresses, traffic class, flow
//     label and hop limit;
//   - TCP: the same ports, acknowledgment number, window, data offset and
//     option bytes; flags exactly ACK, or ACK|PSH, which closes the group; a
//     sequence number equal to the first member's plus the payload so far;
//   - UDP: the same ports; a length field equal to the IP payload's; over
//     IPv4, an IP ID one more than the member before (segmentation numbers
//     the datagrams that way, so the receiver sees the IDs they were sent
//     with); at most MaxUDPSegments members;
//   - a payload of at least one byte and at most the first member's, a
//     shorter one closing the group;
//   - no bytes after the IP length (link-layer padding);
//   - the coalesced IP packet, header included, no longer than 65535 bytes;
//   - a transport checksum, pseudo-header included, that verifies (and, for
//     UDP, is not 0), so that a damaged frame always stands alone and the
//     kernel drops it.
//
// The first frame of a group must meet the same per-frame conditions for
// anything to join it: a SYN, FIN, RST, URG, a pure ACK or a frame with a bad
// checksum always stands alone. It never panics and never allocates.
func Coalesce(frames [][]byte, l3 int, groups []Group, udp bool) (int, error) {
	if l3 != 0 && l3 != EthernetHeaderLen {
		return 0, ErrL3Offset
	}
	if len(groups) < len(frames) {
		return 0, ErrCoalesceGroups
	}
	var g coalesceGroup
	n := 0
	open := false // groups[n-1] may take more members
	for i, f := range frames {
		p, ok := coalescible(f, l3, udp)
		if open && ok && g.follows(frames[groups[n-1].Start], f, p, l3) {
			grp := &groups[n-1]
			grp.Count++
			if g.add(f, p, l3) {
				g.finish(frames, l3, grp)
				open = false
			}
			continue
		}
		if open {
			g.finish(frames, l3, &groups[n-1])
		}
		groups[n] = Group{Start: i, Count: 1}
		n++
		open = ok && (p.udp || f[l3+p.ipHL+tcpFlags]&tcpFlagPSH == 0)
		if open {
			g.start(f, p, l3)
		}
	}
	if open {
		g.finish(frames, l3, &groups[n-1])
	}
	return n, nil
}
