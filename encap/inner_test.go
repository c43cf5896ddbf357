package encap

import (
	"encoding/binary"
	"testing"
)

func TestDecodeInner(t *testing.T) {
	tcp := frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 443, []byte("x"))
	qinq := vlan(vlan(tcp, 7), 300) // 300 outermost, then 7
	binary.BigEndian.PutUint16(qinq[12:], EtherTypeQinQ)
	frag := frame4("10.0.0.1", "10.0.0.2", ProtocolUDP, 1, 2, nil)
	IPv4(frag[EthernetHeaderLen:]).SetFlagsFragmentOffset(0, 8)
	udp6 := frame6("fd00::1", "fd00::2", ProtocolUDP, 53, 5353, nil)
	arp := make([]byte, EthernetHeaderLen+arpLen)
	binary.BigEndian.PutUint16(arp[ethType:], EtherTypeARP)
	copy(arp[EthernetHeaderLen+arpSenderPA:], []byte{10, 0, 0, 1})
	copy(arp[EthernetHeaderLen+arpTargetPA:], []byte{10, 0, 0, 9})
	tests := []struct {
		name     string
		b        []byte
		ip       bool
		l3       bool
		etype    uint16
		vlan     uint16
		tags     int8
		src, dst string
		proto    uint8
		ports    bool
		sp, dp   uint16
	}{
		{"TCP over IPv4", tcp, false, true, EtherTypeIPv4, 0, 0, "10.0.0.1", "10.0.0.2", ProtocolTCP, true, 40000, 443},
		{"QinQ", qinq, false, true, EtherTypeIPv4, 300, 2, "10.0.0.1", "10.0.0.2", ProtocolTCP, true, 40000, 443},
		{"a later fragment has no ports", frag, false, true, EtherTypeIPv4, 0, 0, "10.0.0.1", "10.0.0.2", ProtocolUDP, false, 0, 0},
		{"UDP over IPv6", udp6, false, true, EtherTypeIPv6, 0, 0, "fd00::1", "fd00::2", ProtocolUDP, true, 53, 5353},
		{"ARP", arp, false, true, EtherTypeARP, 0, 0, "10.0.0.1", "10.0.0.9", 0, false, 0, 0},
		{"IPIP's inner packet", tcp[EthernetHeaderLen:], true, true, EtherTypeIPv4, 0, 0, "10.0.0.1", "10.0.0.2", ProtocolTCP, true, 40000, 443},
		{"truncated IPv4", tcp[:EthernetHeaderLen+10], false, false, EtherTypeIPv4, 0, 0, "invalid IP", "invalid IP", 0, false, 0, 0},
		{"not IP", []byte{0x10, 1, 2}, true, false, 0, 0, 0, "invalid IP", "invalid IP", 0, false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in Inner
			DecodeInner(&in, tc.b, tc.ip)
			if in.Len != len(tc.b) || in.L3 != tc.l3 || in.EtherType != tc.etype || in.VLAN != tc.vlan || in.Tags != tc.tags {
				t.Errorf("got len %d l3 %v ethertype %#04x vlan %d tags %d, want %d %v %#04x %d %d",
					in.Len, in.L3, in.EtherType, in.VLAN, in.Tags, len(tc.b), tc.l3, tc.etype, tc.vlan, tc.tags)
			}
			if in.Src.String() != tc.src || in.Dst.String() != tc.dst || in.Protocol != tc.proto {
				t.Errorf("got %s > %s protocol %d, want %s > %s protocol %d", in.Src, in.Dst, in.Protocol, tc.src, tc.dst, tc.proto)
			}
			if in.Ports != tc.ports || in.SrcPort != tc.sp || in.DstPort != tc.dp {
				t.Errorf("got ports %v %d > %d, want %v %d > %d", in.Ports, in.SrcPort, in.DstPort, tc.ports, tc.sp, tc.dp)
			}
			if in.Ethernet == tc.ip {
				t.Errorf("Ethernet: got %v, want %v", in.Ethernet, !tc.ip)
			}
		})
	}
	var in Inner
	if n := testing.AllocsPerRun(100, func() { DecodeInner(&in, qinq, false) }); n != 0 {
		t.Errorf("DecodeInner: %v allocations, want 0", n)
	}
}

// FuzzDecodeInner: any bytes decode without a crash, and what is decoded
// lies within them.
func FuzzDecodeInner(f *testing.F) {
	f.Add(frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 443, nil), false)
	f.Add(vlan(frame6("fd00::1", "fd00::2", ProtocolUDP, 1, 2, nil), 5), false)
	f.Add(frame4("10.0.0.1", "10.0.0.2", ProtocolICMP, 0, 0, nil)[EthernetHeaderLen:], true)
	f.Fuzz(func(t *testing.T, b []byte, ip bool) {
		var in Inner
		DecodeInner(&in, b, ip)
		if in.Len != len(b) || len(in.L4) > len(b) {
			t.Fatalf("Len %d, L4 %d bytes, of a %d-byte input", in.Len, len(in.L4), len(b))
		}
		if in.Ports && len(in.L4) < 4 {
			t.Fatalf("ports read from an L4 of %d bytes", len(in.L4))
		}
		if !in.Ethernet && !ip && len(b) >= EthernetHeaderLen {
			t.Fatal("an Ethernet frame long enough was not read as one")
		}
	})
}
