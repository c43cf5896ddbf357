package encap

import "errors"

// Header lengths.
const (
	// EthernetHeaderLen is destination MAC, source MAC and EtherType
	// (IEEE 802.3 clause 3.1.1), without a VLAN tag.
	EthernetHeaderLen = 14
	// IPv4MinHeaderLen is an IPv4 header without options (RFC 791 section 3.1, IHL 5).
	IPv4MinHeaderLen = 20
	// IPv4MaxHeaderLen is an IPv4 header with IHL 15 (RFC 791 section 3.1).
	IPv4MaxHeaderLen = 60
	// IPv6HeaderLen is the fixed IPv6 header (RFC 8200 section 3).
	IPv6HeaderLen = 40
	// UDPHeaderLen is the UDP header (RFC 768).
	UDPHeaderLen = 8
	// VXLANHeaderLen is the VXLAN header (RFC 7348 section 5).
	VXLANHeaderLen = 8
	// VLANTagLen is one 802.1Q tag (TPID and TCI, IEEE 802.1Q clause 9).
	VLANTagLen = 4
)

// Outer headers vtepd writes itself in front of an inner Ethernet frame when
// it sends on a raw socket: outer IP, UDP and VXLAN, without the outer
// Ethernet header, which the kernel adds.
const (
	VXLANIPv4HeadersLen = IPv4MinHeaderLen + UDPHeaderLen + VXLANHeaderLen // 36
	VXLANIPv6HeadersLen = IPv6HeaderLen + UDPHeaderLen + VXLANHeaderLen    // 56
)

// Full overhead as seen on the underlay wire, outer Ethernet included: the
// numbers to subtract from the underlay MTU for the overlay device's MTU.
// They match Linux's VXLAN_HEADROOM and VXLAN6_HEADROOM.
const (
	VXLANOverheadIPv4 = EthernetHeaderLen + VXLANIPv4HeadersLen // 50
	VXLANOverheadIPv6 = EthernetHeaderLen + VXLANIPv6HeadersLen // 70
	// IPIPOverhead is the outer IPv4 header of RFC 2003 section 3.1; the inner
	// packet carries no Ethernet header, so nothing else is added.
	IPIPOverhead = IPv4MinHeaderLen // 20
)

// DefaultVXLANPort is the IANA-assigned VXLAN UDP port (RFC 7348 section 5).
// Linux's vxlan driver uses it when "dstport 4789" is given; its historical
// default without that option is 8472.
const DefaultVXLANPort = 4789

// DefaultTTL is the TTL (IPv4) or hop limit (IPv6) written when a caller
// leaves it 0: the Linux default (net.ipv4.ip_default_ttl), and the value
// RFC 1700 recommends. The kernel's vxlan uses it with "ttl auto".
const DefaultTTL = 64

// Default source port range: Linux's default net.ipv4.ip_local_port_range,
// which its vxlan driver uses for the outer UDP source port when no
// "srcport MIN MAX" is configured.
const (
	DefaultSourcePortMin = 32768
	DefaultSourcePortMax = 60999
)

// EtherTypes (IEEE registry; the same values Linux names ETH_P_*).
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86DD
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q customer tag
	EtherTypeQinQ = 0x88A8 // IEEE 802.1ad service tag
)

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	ProtocolICMP       = 1
	ProtocolIPIP       = 4 // IP in IP, RFC 2003 section 3.1
	ProtocolTCP        = 6
	ProtocolUDP        = 17
	ProtocolIPv6inIPv4 = 41 // RFC 4213 section 3.5
	ProtocolICMPv6     = 58 // RFC 4443
	ProtocolSCTP       = 132
)

// Sentinel errors of the encode and decode paths. They carry no per-packet
// context so that returning one never allocates; callers count them by
// identity.
var (
	// ErrShortPacket: the buffer is shorter than the headers it must hold.
	ErrShortPacket = errors.New("encap: packet shorter than its headers")
	// ErrVXLANFlags: the VXLAN flags byte lacks the I flag (RFC 7348 section 5).
	ErrVXLANFlags = errors.New("encap: VXLAN flags: I flag (0x08) not set")
	// ErrBadIPv4Header: IPv4 version, IHL or total length is inconsistent.
	ErrBadIPv4Header = errors.New("encap: bad IPv4 header: version, IHL or total length")
	// ErrBadIPv6Header: IPv6 version or payload length is inconsistent.
	ErrBadIPv6Header = errors.New("encap: bad IPv6 header: version or payload length")
	// ErrShortFrame: the inner frame is shorter than an Ethernet header.
	ErrShortFrame = errors.New("encap: inner frame shorter than an Ethernet header (14 bytes)")
	// ErrIPv4Checksum: the IPv4 header checksum does not verify (RFC 791 section 3.1).
	ErrIPv4Checksum = errors.New("encap: IPv4 header checksum does not verify")
	// ErrIPIPProtocol: the outer IPv4 protocol is neither 4 (IPIP) nor 41 (IPv6 in IPv4).
	ErrIPIPProtocol = errors.New("encap: IPv4 protocol: want 4 (IPIP) or 41 (IPv6 in IPv4)")
	// ErrFragment: an outer packet is an IPv4 fragment, which cannot be decapsulated alone.
	ErrFragment = errors.New("encap: IPv4 packet is a fragment")
	// ErrTooLong: the packet would not fit the 16-bit length field of its header.
	ErrTooLong = errors.New("encap: packet longer than its length field allows (65535)")
	// ErrAddressFamily: an outer source or destination address is not of the
	// outer header's family (IPv4 for OuterIPv4 and OuterIPIP, IPv6 for OuterIPv6).
	ErrAddressFamily = errors.New("encap: outer address family does not match the outer header")
)

// InnerOffset is where the inner frame (VXLAN) or packet (IPIP) starts in
// b, an encapsulated packet as the underlay carries it: from its outer IP
// header, or from its VXLAN header when udpPayload (what a UDP socket
// reads). ipip says there are no UDP and VXLAN headers after the IP one.
// It is -1 when b is too short to tell or its IP version is neither 4 nor 6.
func InnerOffset(b []byte, udpPayload, ipip bool) int {
	off := VXLANHeaderLen
	if !udpPayload {
		if len(b) == 0 {
			return -1
		}
		switch b[0] >> 4 {
		case IPv4Version:
			off = int(b[0]&0x0f) * 4
		case IPv6Version:
			off = IPv6HeaderLen
		default:
			return -1
		}
		if !ipip {
			off += UDPHeaderLen + VXLANHeaderLen
		}
	}
	if off > len(b) {
		return -1
	}
	return off
}
