package encap

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// Golden frames: VXLAN packets sent by the Linux kernel's own vxlan driver
// (Linux 6.18), captured whole (outer Ethernet included) with an AF_PACKET
// socket on the underlay veth of two network namespaces:
//
//	veth0 10.199.0.1/24 (02:00:00:00:01:01)  <->  veth0 10.199.0.2/24 (02:00:00:00:01:02)
//	ip link add vxg type vxlan id 42 dstport 4789 local 10.199.0.1 remote 10.199.0.2 dev veth0 [noudpcsum]
//	vxg 192.168.42.1/24 (02:00:00:00:00:0a)   <->  vxg 192.168.42.2/24 (02:00:00:00:00:0b)
//
// then an ICMP echo (id 0x1234, 48 bytes of 0x10..0x3f) from .1 to .2, which
// first floods an ARP request. Transmit checksum offload was turned off on
// both veths (ethtool -K veth0 tx off): with it on, the captured UDP checksum
// field holds only the pseudo-header sum that offload would complete.
//
// What the kernel did: outer TTL 64, TOS 0, DF clear, an incrementing IP ID;
// UDP source port from its flow hash in 32768-60999, the same port both ways
// for one flow; UDP checksum computed by default (its "udpcsum" is on for
// IPv4) and 0 with "noudpcsum"; VXLAN flags exactly 0x08, reserved bytes 0.
type goldenFrame struct {
	name    string
	hex     string
	src     string // outer IPv4 source
	dst     string
	sport   uint16
	id      uint16
	udpCsum bool
	// inner frame
	innerDst, innerSrc [6]byte
	innerType          uint16
	innerSrcIP         string // IPv4 inner packet, or ARP sender
	innerDstIP         string // IPv4 inner packet, or ARP target
}

var (
	macA     = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB     = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	macBcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

var goldenFrames = []goldenFrame{
	{
		name: "arp request flooded, udpcsum",
		hex: "02000000010202000000010108004500004e1c0c0000401149030ac700010ac7" +
			"0002ec5f12b5003ac95f0800000000002a00ffffffffffff02000000000a0806" +
			"000108000604000102000000000ac0a82a01000000000000c0a82a02",
		src: "10.199.0.1", dst: "10.199.0.2", sport: 60511, id: 0x1c0c, udpCsum: true,
		innerDst: macBcast, innerSrc: macA, innerType: EtherTypeARP,
		innerSrcIP: "192.168.42.1", innerDstIP: "192.168.42.2",
	},
	{
		name: "arp reply, udpcsum",
		hex: "02000000010102000000010208004500004e44680000401120a70ac700020ac7" +
			"0001ec5f12b5003ac5480800000000002a0002000000000a02000000000b0806" +
			"000108000604000202000000000bc0a82a0202000000000ac0a82a01",
		src: "10.199.0.2", dst: "10.199.0.1", sport: 60511, id: 0x4468, udpCsum: true,
		innerDst: macA, innerSrc: macB, innerType: EtherTypeARP,
		innerSrcIP: "192.168.42.2", innerDstIP: "192.168.42.1",
	},
	{
		name: "icmp echo request, udpcsum",
		hex: "02000000010202000000010108004500007e1c0d0000401148d20ac700010ac7" +
			"0002d3b612b5006ac5080800000000002a0002000000000b02000000000a0800" +
			"4500004c01714000400163ecc0a82a01c0a82a0208003a071234000110111213" +
			"1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233" +
			"3435363738393a3b3c3d3e3f",
		src: "10.199.0.1", dst: "10.199.0.2", sport: 54198, id: 0x1c0d, udpCsum: true,
		innerDst: macB, innerSrc: macA, innerType: EtherTypeIPv4,
		innerSrcIP: "192.168.42.1", innerDstIP: "192.168.42.2",
	},
	{
		name: "icmp echo reply, udpcsum",
		hex: "02000000010102000000010208004500007e44690000401120760ac700020ac7" +
			"0001d3b612b5006ac5080800000000002a0002000000000a02000000000b0800" +
			"4500004cf71e00004001ae3ec0a82a02c0a82a01000042071234000110111213" +
			"1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233" +
			"3435363738393a3b3c3d3e3f",
		src: "10.199.0.2", dst: "10.199.0.1", sport: 54198, id: 0x4469, udpCsum: true,
		innerDst: macA, innerSrc: macB, innerType: EtherTypeIPv4,
		innerSrcIP: "192.168.42.2", innerDstIP: "192.168.42.1",
	},
	{
		name: "arp request flooded, noudpcsum",
		hex: "02000000010202000000010108004500004ee0780000401184960ac700010ac7" +
			"0002ec5f12b5003a00000800000000002a00ffffffffffff02000000000a0806" +
			"000108000604000102000000000ac0a82a01000000000000c0a82a02",
		src: "10.199.0.1", dst: "10.199.0.2", sport: 60511, id: 0xe078, udpCsum: false,
		innerDst: macBcast, innerSrc: macA, innerType: EtherTypeARP,
		innerSrcIP: "192.168.42.1", innerDstIP: "192.168.42.2",
	},
	{
		name: "icmp echo request, noudpcsum",
		hex: "02000000010202000000010108004500007ee0790000401184650ac700010ac7" +
			"0002d3b612b5006a00000800000000002a0002000000000b02000000000a0800" +
			"4500004c9d8e40004001c7cec0a82a01c0a82a0208003a071234000110111213" +
			"1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233" +
			"3435363738393a3b3c3d3e3f",
		src: "10.199.0.1", dst: "10.199.0.2", sport: 54198, id: 0xe079, udpCsum: false,
		innerDst: macB, innerSrc: macA, innerType: EtherTypeIPv4,
		innerSrcIP: "192.168.42.1", innerDstIP: "192.168.42.2",
	},
}

func (g goldenFrame) bytes(t testing.TB) []byte {
	t.Helper()
	return unhex(t, g.hex)
}

// outer returns the frame without its outer Ethernet header: what vtepd
// writes on a raw socket, and what EncapVXLANIPv4 produces.
func (g goldenFrame) outer(t testing.TB) []byte { return g.bytes(t)[EthernetHeaderLen:] }

// inner returns the inner Ethernet frame.
func (g goldenFrame) inner(t testing.TB) []byte {
	return g.bytes(t)[EthernetHeaderLen+VXLANIPv4HeadersLen:]
}

func TestGoldenDecode(t *testing.T) {
	// check is one decoded field against what the kernel wrote.
	type check struct {
		field     string
		got, want any
	}
	for _, g := range goldenFrames {
		t.Run(g.name, func(t *testing.T) {
			eth := Ethernet(g.bytes(t))
			if !eth.IsValid() {
				t.Fatalf("outer Ethernet: IsValid() = false, want true")
			}
			if got := eth.EtherType(); got != EtherTypeIPv4 {
				t.Fatalf("outer EtherType: got %#04x, want %#04x", got, EtherTypeIPv4)
			}
			ip := IPv4(eth.Payload())
			if !ip.IsValid() {
				t.Fatalf("outer IPv4: IsValid() = false, want true")
			}
			if !ip.IsChecksumValid() {
				t.Errorf("outer IPv4 checksum %#04x does not verify", ip.Checksum())
			}
			if got, want := ip.CalculateChecksum(), ip.Checksum(); got != want {
				t.Errorf("outer IPv4 CalculateChecksum: got %#04x, want %#04x", got, want)
			}
			checks := []check{
				{"IPv4 HeaderLen", ip.HeaderLen(), IPv4MinHeaderLen},
				{"IPv4 TotalLength", int(ip.TotalLength()), len(ip)},
				{"IPv4 TTL", ip.TTL(), uint8(64)},
				{"IPv4 TOS", ip.TOS(), uint8(0)},
				{"IPv4 DF", ip.DF(), false},
				{"IPv4 ID", ip.ID(), g.id},
				{"IPv4 Protocol", ip.Protocol(), uint8(ProtocolUDP)},
				{"IPv4 Src", ip.Src(), netip.MustParseAddr(g.src)},
				{"IPv4 Dst", ip.Dst(), netip.MustParseAddr(g.dst)},
			}
			udp := UDP(ip.Payload())
			if !udp.IsValid() {
				t.Fatalf("UDP: IsValid() = false, want true")
			}
			checks = append(checks, []check{
				{"UDP SrcPort", udp.SrcPort(), g.sport},
				{"UDP DstPort", udp.DstPort(), uint16(DefaultVXLANPort)},
				{"UDP Length", int(udp.Length()), len(udp)},
				{"UDP checksum present", udp.Checksum() != 0, g.udpCsum},
				{"UDP checksum verifies", udp.IsChecksumValid(ip.Src(), ip.Dst()), true},
			}...)
			vni, inner, err := DecapVXLAN(udp.Payload())
			if err != nil {
				t.Fatalf("DecapVXLAN: got error %v, want nil", err)
			}
			vx := VXLAN(udp.Payload())
			in := Ethernet(inner)
			checks = append(checks, []check{
				{"VNI", vni, uint32(42)},
				{"VXLAN flags", vx.Flags(), uint8(VXLANFlagI)},
				{"inner frame length", len(inner), len(g.inner(t))},
				{"inner Dst", in.Dst(), g.innerDst},
				{"inner Src", in.Src(), g.innerSrc},
				{"inner EtherType", in.EtherType(), g.innerType},
			}...)
			if g.udpCsum {
				got := udp.CalculateChecksum(PseudoHeaderSum(ProtocolUDP, ip.Src(), ip.Dst(), udp.Length()))
				checks = append(checks, check{"UDP CalculateChecksum", got, udp.Checksum()})
			}
			switch g.innerType {
			case EtherTypeIPv4:
				iip := IPv4(in.Payload())
				checks = append(checks, []check{
					{"inner IPv4 IsValid", iip.IsValid(), true},
					{"inner IPv4 checksum verifies", iip.IsValid() && iip.IsChecksumValid(), true},
					{"inner IPv4 Protocol", iip.Protocol(), uint8(ProtocolICMP)},
					{"inner IPv4 Src", iip.Src(), netip.MustParseAddr(g.innerSrcIP)},
					{"inner IPv4 Dst", iip.Dst(), netip.MustParseAddr(g.innerDstIP)},
				}...)
			case EtherTypeARP:
				// ARP for IPv4 over Ethernet (RFC 826): sender IP at 14, target IP at 24.
				arp := in.Payload()
				checks = append(checks, []check{
					{"ARP sender IP", netip.AddrFrom4([4]byte(arp[14:18])), netip.MustParseAddr(g.innerSrcIP)},
					{"ARP target IP", netip.AddrFrom4([4]byte(arp[24:28])), netip.MustParseAddr(g.innerDstIP)},
				}...)
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: got %v, want %v", c.field, c.got, c.want)
				}
			}
		})
	}
}

// TestGoldenEncapRebuild gives EncapVXLANIPv4 the fields the kernel used and
// expects the kernel's outer IPv4, UDP and VXLAN header bytes exactly.
func TestGoldenEncapRebuild(t *testing.T) {
	for _, g := range goldenFrames {
		t.Run(g.name, func(t *testing.T) {
			want := g.outer(t)
			pkt := make([]byte, len(want))
			// Junk in the headroom: every header byte must be written.
			for i := range VXLANIPv4HeadersLen {
				pkt[i] = 0xa5
			}
			copy(pkt[VXLANIPv4HeadersLen:], g.inner(t))
			o := OuterIPv4{
				Src: netip.MustParseAddr(g.src), Dst: netip.MustParseAddr(g.dst),
				SrcPort: g.sport, DstPort: DefaultVXLANPort,
				VNI: 42, TTL: 64, TOS: 0, DF: false, ID: g.id,
				UDPChecksum: g.udpCsum,
			}
			if err := EncapVXLANIPv4(pkt, &o); err != nil {
				t.Fatalf("EncapVXLANIPv4: got error %v, want nil", err)
			}
			if !bytes.Equal(pkt, want) {
				t.Errorf("outer headers:\n got %s\nwant %s",
					hex.EncodeToString(pkt[:VXLANIPv4HeadersLen]), hex.EncodeToString(want[:VXLANIPv4HeadersLen]))
			}
		})
	}
}

// TestGoldenFlowHashSymmetric: the kernel sent a ping and its reply (and the
// ARP request and reply) from one source port; FlowHash, symmetric too, must
// give each pair one hash.
func TestGoldenFlowHashSymmetric(t *testing.T) {
	byName := map[string]goldenFrame{}
	for _, g := range goldenFrames {
		byName[g.name] = g
	}
	pairs := [][2]string{
		{"icmp echo request, udpcsum", "icmp echo reply, udpcsum"},
		{"arp request flooded, udpcsum", "arp reply, udpcsum"},
	}
	for _, p := range pairs {
		t.Run(p[0], func(t *testing.T) {
			a, b := byName[p[0]], byName[p[1]]
			if a.sport != b.sport {
				t.Fatalf("golden data: kernel ports %d and %d differ", a.sport, b.sport)
			}
			ha, hb := FlowHash(a.inner(t)), FlowHash(b.inner(t))
			if ha != hb {
				t.Errorf("FlowHash(reply): got %#08x, want %#08x (the request's)", hb, ha)
			}
		})
	}
	req, other := byName["icmp echo request, udpcsum"], byName["arp request flooded, udpcsum"]
	if FlowHash(req.inner(t)) == FlowHash(other.inner(t)) {
		t.Errorf("FlowHash: ICMP and ARP flows got the same hash %#08x, want different", FlowHash(req.inner(t)))
	}
}

// TestGoldenHex keeps the golden table honest: each frame is as long as the
// kernel's length fields say.
func TestGoldenHex(t *testing.T) {
	for _, g := range goldenFrames {
		t.Run(g.name, func(t *testing.T) {
			if strings.TrimSpace(g.hex) != g.hex || len(g.hex)%2 != 0 {
				t.Fatalf("hex: malformed")
			}
			b := g.bytes(t)
			ip := IPv4(b[EthernetHeaderLen:])
			if got, want := int(ip.TotalLength()), len(b)-EthernetHeaderLen; got != want {
				t.Errorf("total length: got %d, want %d", got, want)
			}
		})
	}
}
