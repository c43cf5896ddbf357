package encap

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// frame4 builds an Ethernet frame carrying IPv4 with an 8-byte L4 header
// whose first four bytes are the ports, then payload.
func frame4(src, dst string, proto uint8, sport, dport uint16, payload []byte) []byte {
	f := make([]byte, EthernetHeaderLen+IPv4MinHeaderLen+8, EthernetHeaderLen+IPv4MinHeaderLen+8+len(payload))
	e := Ethernet(f)
	e.SetDst([6]byte{0x02, 0, 0, 0, 0, 0x0b})
	e.SetSrc([6]byte{0x02, 0, 0, 0, 0, 0x0a})
	e.SetEtherType(EtherTypeIPv4)
	f = append(f, payload...)
	ip := IPv4(f[EthernetHeaderLen:])
	ip.SetVersion()
	ip.SetHeaderLen(IPv4MinHeaderLen)
	ip.SetTotalLength(uint16(len(ip)))
	ip.SetTTL(64)
	ip.SetProtocol(proto)
	ip.SetSrc(netip.MustParseAddr(src))
	ip.SetDst(netip.MustParseAddr(dst))
	ip.SetChecksum()
	binary.BigEndian.PutUint16(ip[IPv4MinHeaderLen:], sport)
	binary.BigEndian.PutUint16(ip[IPv4MinHeaderLen+2:], dport)
	return f
}

// frame6 is frame4 for IPv6.
func frame6(src, dst string, proto uint8, sport, dport uint16, payload []byte) []byte {
	f := make([]byte, EthernetHeaderLen+IPv6HeaderLen+8, EthernetHeaderLen+IPv6HeaderLen+8+len(payload))
	e := Ethernet(f)
	e.SetDst([6]byte{0x02, 0, 0, 0, 0, 0x0b})
	e.SetSrc([6]byte{0x02, 0, 0, 0, 0, 0x0a})
	e.SetEtherType(EtherTypeIPv6)
	f = append(f, payload...)
	ip := IPv6(f[EthernetHeaderLen:])
	ip.SetVersion()
	ip.SetPayloadLength(uint16(len(ip) - IPv6HeaderLen))
	ip.SetNextHeader(proto)
	ip.SetHopLimit(64)
	ip.SetSrc(netip.MustParseAddr(src))
	ip.SetDst(netip.MustParseAddr(dst))
	binary.BigEndian.PutUint16(ip[IPv6HeaderLen:], sport)
	binary.BigEndian.PutUint16(ip[IPv6HeaderLen+2:], dport)
	return f
}

// vlan inserts an 802.1Q tag with the given VLAN ID after the MACs.
func vlan(f []byte, id uint16) []byte {
	out := append([]byte{}, f[:12]...)
	out = binary.BigEndian.AppendUint16(out, EtherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, id)
	return append(out, f[12:]...)
}

func TestFlowHashSameFlow(t *testing.T) {
	small, big := []byte("a"), make([]byte, 1400)
	for i := range big {
		big[i] = byte(i)
	}
	tests := []struct {
		name string
		a, b []byte
	}{
		{"IPv4 TCP, different payloads",
			frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 443, small),
			frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 443, big)},
		{"IPv4 UDP, reply direction",
			frame4("10.0.0.1", "10.0.0.2", ProtocolUDP, 40000, 53, small),
			frame4("10.0.0.2", "10.0.0.1", ProtocolUDP, 53, 40000, big)},
		{"IPv4 between one host's ports, reply direction",
			frame4("10.0.0.1", "10.0.0.1", ProtocolUDP, 40000, 53, nil),
			frame4("10.0.0.1", "10.0.0.1", ProtocolUDP, 53, 40000, nil)},
		{"IPv4 SCTP",
			frame4("10.0.0.1", "10.0.0.2", ProtocolSCTP, 5000, 6000, small),
			frame4("10.0.0.1", "10.0.0.2", ProtocolSCTP, 5000, 6000, big)},
		{"IPv4 ICMP ignores the bytes after the header",
			frame4("10.0.0.1", "10.0.0.2", ProtocolICMP, 0x0800, 1, nil),
			frame4("10.0.0.1", "10.0.0.2", ProtocolICMP, 0x0000, 2, big)},
		{"IPv6 UDP, different payloads",
			frame6("2001:db8::1", "2001:db8::2", ProtocolUDP, 40000, 4789, small),
			frame6("2001:db8::1", "2001:db8::2", ProtocolUDP, 40000, 4789, big)},
		{"IPv6 TCP, reply direction",
			frame6("2001:db8::1", "2001:db8::2", ProtocolTCP, 40000, 443, small),
			frame6("2001:db8::2", "2001:db8::1", ProtocolTCP, 443, 40000, nil)},
		{"non-IP: MACs and EtherType only",
			append(unhex(t, "02000000000b 02000000000a 88cc"), small...),
			append(unhex(t, "02000000000a 02000000000b 88cc"), big...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if ha, hb := FlowHash(tc.a), FlowHash(tc.b); ha != hb {
				t.Errorf("FlowHash: got %#08x and %#08x, want equal", ha, hb)
			}
		})
	}
}

func TestFlowHashDifferentFlows(t *testing.T) {
	base := frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 443, nil)
	tests := []struct {
		name  string
		other []byte
	}{
		{"source port", frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40001, 443, nil)},
		{"destination port", frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 444, nil)},
		{"source address", frame4("10.0.0.3", "10.0.0.2", ProtocolTCP, 40000, 443, nil)},
		{"destination address", frame4("10.0.0.1", "10.0.0.3", ProtocolTCP, 40000, 443, nil)},
		{"protocol", frame4("10.0.0.1", "10.0.0.2", ProtocolUDP, 40000, 443, nil)},
		{"same addresses over IPv6", frame6("::ffff:10.0.0.1", "::ffff:10.0.0.2", ProtocolTCP, 40000, 443, nil)},
		{"ports behind a VLAN tag", vlan(frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40001, 443, nil), 7)},
	}
	h := FlowHash(base)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FlowHash(tc.other); got == h {
				t.Errorf("FlowHash: got %#08x for both flows, want different", got)
			}
		})
	}
}

func TestFlowHashParsing(t *testing.T) {
	tcp := frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 443, nil)
	firstFrag := clone(tcp)
	IPv4(firstFrag[EthernetHeaderLen:]).SetFlagsFragmentOffset(IPv4FlagMF, 0)
	laterFrag := frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 0x1111, 0x2222, nil) // bytes are data, not ports
	IPv4(laterFrag[EthernetHeaderLen:]).SetFlagsFragmentOffset(0, 1480)
	noPorts := frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 0, 0, nil)
	IPv4(noPorts[EthernetHeaderLen:]).SetFlagsFragmentOffset(IPv4FlagMF, 0)
	ipOptions := func() []byte { // IHL 6: the ports move 4 bytes on
		f := frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 0, 0, []byte{0, 0, 0, 0})
		ip := IPv4(f[EthernetHeaderLen:])
		ip.SetHeaderLen(24)
		binary.BigEndian.PutUint16(ip[24:], 40000)
		binary.BigEndian.PutUint16(ip[26:], 443)
		return f
	}()
	arpReq := unhex(t, "ffffffffffff 02000000000a 0806 0001 0800 06 04 0001 02000000000a c0a82a01 000000000000 c0a82a02")
	arpRep := unhex(t, "02000000000a 02000000000b 0806 0001 0800 06 04 0002 02000000000b c0a82a02 02000000000a c0a82a01")
	tests := []struct {
		name string
		a, b []byte
		same bool
	}{
		{"fragments of one datagram hash alike", firstFrag, laterFrag, true},
		{"a fragment hashes without ports", firstFrag, noPorts, true},
		{"unfragmented packet uses ports", tcp, noPorts, false},
		{"IPv4 options are skipped to reach the ports", ipOptions, tcp, true},
		{"one VLAN tag is looked through", vlan(tcp, 7), tcp, true},
		{"two VLAN tags are looked through", vlan(vlan(tcp, 7), 8), tcp, true},
		{"ARP request and reply hash alike", arpReq, arpRep, true},
		{"truncated IPv4 falls back to MACs", tcp[:EthernetHeaderLen+19], unhex(t, "02000000000b 02000000000a 0800"), true},
		{"truncated ports are ignored", tcp[:EthernetHeaderLen+IPv4MinHeaderLen+3], noPorts, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := FlowHash(tc.a), FlowHash(tc.b)
			if (ha == hb) != tc.same {
				t.Errorf("FlowHash: got %#08x and %#08x, want equal=%v", ha, hb, tc.same)
			}
		})
	}
	t.Run("runt frame hashes to 0", func(t *testing.T) {
		if got := FlowHash(tcp[:13]); got != 0 {
			t.Errorf("FlowHash(13 bytes): got %#08x, want 0", got)
		}
	})
}

// TestFlowHashSpread: 1000 TCP flows differing only in the client port should
// land on (nearly) 1000 distinct source ports spread over the kernel's
// default range. With a uniform hash, about 982 distinct ports are expected.
func TestFlowHashSpread(t *testing.T) {
	const flows, lo, hi = 1000, DefaultSourcePortMin, DefaultSourcePortMax
	seen := map[uint16]bool{}
	var quarters [4]int
	for i := range flows {
		f := frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, uint16(40000+i), 443, nil)
		p := SourcePort(FlowHash(f), lo, hi)
		if p < lo || p > hi {
			t.Fatalf("flow %d: port %d outside [%d, %d]", i, p, lo, hi)
		}
		seen[p] = true
		quarters[(int(p)-lo)*4/(hi-lo+1)]++
	}
	t.Logf("%d flows: %d distinct source ports, per quarter of the range %v", flows, len(seen), quarters)
	if len(seen) < 900 {
		t.Errorf("distinct source ports: got %d, want >= 900 of %d flows", len(seen), flows)
	}
	for q, n := range quarters {
		if n < 200 || n > 300 {
			t.Errorf("quarter %d of the range: got %d flows, want 200..300 of %d", q, n, flows)
		}
	}
}

func TestSourcePort(t *testing.T) {
	tests := []struct {
		name     string
		hash     uint32
		min, max uint16
		want     uint16
	}{
		{"hash 0 gives min", 0, 32768, 60999, 32768},
		{"top hash gives max", 0xffffffff, 32768, 60999, 60999},
		{"half way", 0x80000000, 32768, 61000, 32768 + 28233/2},
		{"whole port space, top", 0xffffffff, 0, 65535, 65535},
		{"whole port space, middle", 0x80000000, 0, 65535, 32768},
		{"single port", 0xdeadbeef, 4789, 4789, 4789},
		{"min above max uses the default range", 0, 5000, 4000, DefaultSourcePortMin},
		{"min above max uses the default range, top", 0xffffffff, 5000, 4000, DefaultSourcePortMax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SourcePort(tc.hash, tc.min, tc.max); got != tc.want {
				t.Errorf("SourcePort(%#x, %d, %d): got %d, want %d", tc.hash, tc.min, tc.max, got, tc.want)
			}
		})
	}
}
