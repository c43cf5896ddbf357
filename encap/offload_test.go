package encap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The offload tests build real packets with gopacket and decode what the
// helpers produce with it again, so the checksums and fields are held
// against an implementation other than this package's.

var (
	offSrc4 = net.IP{10, 1, 0, 1}
	offDst4 = net.IP{10, 1, 0, 2}
	offSrc6 = net.ParseIP("2001:db8::1")
	offDst6 = net.ParseIP("2001:db8::2")
)

// offTCP describes one TCP packet; build serializes it with gopacket, IP and
// TCP checksums computed. Zero ttl, window and ports take defaults.
type offTCP struct {
	v6, eth      bool
	seq, ack     uint32
	flags        uint8 // tcpFlag* bits
	ae           bool  // the bit after the reserved ones: AccECN's AE, once NS
	window       uint16
	sport, dport uint16
	opts         []layers.TCPOption
	id           uint16
	tos, ttl     uint8
	df, mf       bool
	fragOff      uint16 // in 8-byte units
	flowLabel    uint32
	ipOpts       []layers.IPv4Option
	srcMAC       byte // last byte of the source MAC
	payload      []byte
}

func (s offTCP) l3() int {
	if s.eth {
		return EthernetHeaderLen
	}
	return 0
}

func (s offTCP) build(t testing.TB) []byte {
	t.Helper()
	ttl, window, sport, dport := s.ttl, s.window, s.sport, s.dport
	if ttl == 0 {
		ttl = 64
	}
	if window == 0 {
		window = 502
	}
	if sport == 0 {
		sport = 40000
	}
	if dport == 0 {
		dport = 5201
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport),
		Seq: s.seq, Ack: s.ack, Window: window, Options: s.opts,
		FIN: s.flags&tcpFlagFIN != 0, SYN: s.flags&tcpFlagSYN != 0,
		RST: s.flags&tcpFlagRST != 0, PSH: s.flags&tcpFlagPSH != 0,
		ACK: s.flags&tcpFlagACK != 0, URG: s.flags&tcpFlagURG != 0,
		ECE: s.flags&tcpFlagECE != 0, CWR: s.flags&tcpFlagCWR != 0, NS: s.ae,
	}
	return offIPHdr{v6: s.v6, eth: s.eth, id: s.id, tos: s.tos, ttl: ttl, df: s.df, mf: s.mf,
		fragOff: s.fragOff, flowLabel: s.flowLabel, ipOpts: s.ipOpts, srcMAC: s.srcMAC}.
		serialize(t, layers.IPProtocolTCP, tcp, s.payload)
}

// offIPHdr is the Ethernet and IP part of a test packet.
type offIPHdr struct {
	v6, eth   bool
	id        uint16
	tos, ttl  uint8
	df, mf    bool
	fragOff   uint16 // in 8-byte units
	flowLabel uint32
	ipOpts    []layers.IPv4Option
	srcMAC    byte // last byte of the source MAC
}

// serialize builds the packet: Ethernet (with eth), IP of protocol proto,
// then l4 and payload, with lengths and checksums computed, and without
// the padding gopacket adds to short Ethernet frames (a TAP device reads
// frames without it).
func (h offIPHdr) serialize(t testing.TB, proto layers.IPProtocol, l4 interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}, payload []byte) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	ethType := layers.EthernetTypeIPv4
	if h.v6 {
		ethType = layers.EthernetTypeIPv6
	}
	if h.eth {
		ls = append(ls, &layers.Ethernet{
			SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a + h.srcMAC},
			DstMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b},
			EthernetType: ethType,
		})
	}
	var ip gopacket.NetworkLayer
	if h.v6 {
		ip = &layers.IPv6{Version: 6, TrafficClass: h.tos, FlowLabel: h.flowLabel,
			NextHeader: proto, HopLimit: h.ttl, SrcIP: offSrc6, DstIP: offDst6}
	} else {
		var flags layers.IPv4Flag
		if h.df {
			flags |= layers.IPv4DontFragment
		}
		if h.mf {
			flags |= layers.IPv4MoreFragments
		}
		ip = &layers.IPv4{Version: 4, TOS: h.tos, Id: h.id, Flags: flags, FragOffset: h.fragOff,
			TTL: h.ttl, Protocol: proto, SrcIP: offSrc4, DstIP: offDst4, Options: h.ipOpts}
	}
	if err := l4.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls = append(ls, ip.(gopacket.SerializableLayer), l4, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	b := clone(buf.Bytes())
	l3 := 0
	if h.eth {
		l3 = EthernetHeaderLen
	}
	if h.v6 {
		return b[:l3+IPv6HeaderLen+int(binary.BigEndian.Uint16(b[l3+ipv6PayloadLength:]))]
	}
	return b[:l3+int(binary.BigEndian.Uint16(b[l3+ipv4TotalLength:]))]
}

// offPayload returns n bytes of a pattern that differs from segment to
// segment, so a misplaced chunk shows.
func offPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// offTimestamps is the option block Linux puts on every data segment:
// NOP, NOP, Timestamps (RFC 7323 section 3), 12 bytes.
func offTimestamps(tsval uint32) []layers.TCPOption {
	data := make([]byte, 8)
	binary.BigEndian.PutUint32(data, tsval)
	binary.BigEndian.PutUint32(data[4:], 0x01020304)
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: data},
	}
}

// offDecoded is a packet decoded by gopacket.
type offDecoded struct {
	ip4 *layers.IPv4
	ip6 *layers.IPv6
	tcp *layers.TCP
}

func offDecode(t testing.TB, pkt []byte, eth bool) offDecoded {
	t.Helper()
	first := gopacket.LayerType(layers.LayerTypeIPv4)
	switch {
	case eth:
		first = layers.LayerTypeEthernet
	case len(pkt) > 0 && pkt[0]>>4 == 6:
		first = layers.LayerTypeIPv6
	}
	p := gopacket.NewPacket(pkt, first, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	var d offDecoded
	d.ip4, _ = p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	d.ip6, _ = p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	d.tcp, _ = p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if d.tcp == nil || (d.ip4 == nil) == (d.ip6 == nil) {
		t.Fatalf("decode: got layers %v, want one IP layer and TCP", p.Layers())
	}
	return d
}

// checkChecksums reports an IPv4 header checksum or TCP checksum that does
// not verify, by gopacket's arithmetic.
func (d offDecoded) checkChecksums(t testing.TB, what string) {
	t.Helper()
	var nl gopacket.NetworkLayer = d.ip6
	if d.ip4 != nil {
		nl = d.ip4
		if _, r := d.ip4.VerifyChecksum(); !r.Valid {
			t.Errorf("%s: IPv4 header checksum: got %#04x, want %#04x", what, r.Actual, r.Correct)
		}
	}
	if err := d.tcp.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	err, r := d.tcp.VerifyChecksum()
	if err != nil {
		t.Fatalf("%s: TCP checksum: %v", what, err)
	}
	if !r.Valid {
		t.Errorf("%s: TCP checksum: got %#04x, want %#04x", what, r.Actual, r.Correct)
	}
}

// offPartial writes into the TCP or UDP checksum field of pkt what Linux
// leaves there for CHECKSUM_PARTIAL: the folded pseudo-header sum, not
// complemented. It returns csum_start.
func offPartial(pkt []byte, l3 int, proto uint8, field int) int {
	var src, dst netip.Addr
	var start int
	if pkt[l3]>>4 == 6 {
		ip := IPv6(pkt[l3:])
		src, dst, start = ip.Src(), ip.Dst(), l3+IPv6HeaderLen
	} else {
		ip := IPv4(pkt[l3:])
		src, dst, start = ip.Src(), ip.Dst(), l3+ip.HeaderLen()
	}
	n := uint16(len(pkt) - start)
	binary.BigEndian.PutUint16(pkt[start+field:], ^FoldChecksum(PseudoHeaderSum(proto, src, dst, n)))
	return start
}

// gsoHdr returns the virtio_net_hdr Linux gives a TCP super-frame: hdr_len
// is set to the whole packet, as Linux fills it with its linear length, to
// show it is not relied on.
func gsoHdr(gsoType uint8, mss, csumStart, pktLen int) VirtioNetHdr {
	h := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
	h.SetFlags(VirtioNetHdrFNeedsCsum)
	h.SetGSOType(gsoType)
	h.SetHdrLen(uint16(pktLen))
	h.SetGSOSize(uint16(mss))
	h.SetCsumStart(uint16(csumStart))
	h.SetCsumOffset(tcpChecksum)
	return h
}

func familyName(v6, eth bool) string {
	s := "IPv4"
	if v6 {
		s = "IPv6"
	}
	if eth {
		return s + "/Ethernet"
	}
	return s + "/bare"
}

func TestVirtioNetHdr(t *testing.T) {
	// Every field at its place, little-endian (the byte order of a TUN
	// device on x86, include/uapi/linux/virtio_net.h).
	want := []byte{0x01, 0x81, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00}
	h := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
	h.SetFlags(VirtioNetHdrFNeedsCsum)
	h.SetGSOType(VirtioGSOTCPv4 | VirtioGSOECN)
	h.SetHdrLen(66)
	h.SetGSOSize(1448)
	h.SetCsumStart(34)
	h.SetCsumOffset(16)
	if !bytes.Equal(h, want) {
		t.Fatalf("setters: got % x, want % x", []byte(h), want)
	}
	got := []struct {
		name      string
		got, want int
	}{
		{"flags", int(h.Flags()), VirtioNetHdrFNeedsCsum},
		{"gso_type", int(h.GSOType()), VirtioGSOTCPv4 | VirtioGSOECN},
		{"hdr_len", int(h.HdrLen()), 66},
		{"gso_size", int(h.GSOSize()), 1448},
		{"csum_start", int(h.CsumStart()), 34},
		{"csum_offset", int(h.CsumOffset()), 16},
	}
	for _, g := range got {
		if g.got != g.want {
			t.Errorf("%s: got %d, want %d", g.name, g.got, g.want)
		}
	}
	h.Reset()
	if !bytes.Equal(h, make([]byte, VirtioNetHdrLen)) {
		t.Errorf("Reset: got % x, want all zeros", []byte(h))
	}
	for n, want := range map[int]bool{0: false, 9: false, 10: true, 12: true} {
		if got := VirtioNetHdr(make([]byte, n)).IsValid(); got != want {
			t.Errorf("IsValid(len %d): got %v, want %v", n, got, want)
		}
	}
}

// gsoCase is one super-frame to split.
type gsoCase struct {
	name     string
	super    offTCP
	mss      int
	headroom int
}

func gsoCases() []gsoCase {
	var cs []gsoCase
	ks := map[int]int{1: 3, 536: 4, 1448: 45, 8960: 7}
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{true, false} {
			for _, mss := range []int{1, 536, 1448, 8960} {
				k := ks[mss]
				for _, n := range []int{k * mss, k*mss + 1, 1} {
					cs = append(cs, gsoCase{
						name: fmt.Sprintf("%s mss %d payload %d", familyName(v6, eth), mss, n),
						super: offTCP{v6: v6, eth: eth, seq: 0xfffff000, ack: 77, id: 0xfffe, df: true,
							flags: tcpFlagACK | tcpFlagPSH | tcpFlagFIN | tcpFlagCWR | tcpFlagECE,
							opts:  offTimestamps(1000), payload: offPayload(n)},
						mss: mss, headroom: 50,
					})
				}
			}
			cs = append(cs, gsoCase{
				name:  familyName(v6, eth) + " no TCP options, no headroom",
				super: offTCP{v6: v6, eth: eth, seq: 1, flags: tcpFlagACK, payload: offPayload(3000)},
				mss:   1000, headroom: 0,
			})
		}
	}
	return append(cs, gsoCase{
		name: "IPv4 options copied",
		super: offTCP{eth: true, seq: 5, id: 9, flags: tcpFlagACK | tcpFlagPSH, payload: offPayload(2500),
			ipOpts: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}},
		mss: 1000, headroom: 8,
	})
}

func TestGSOSplit(t *testing.T) {
	const marker = 0xa5
	for _, tc := range gsoCases() {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.super
			l3 := s.l3()
			super := s.build(t)
			d := offDecode(t, super, s.eth)
			hdr := len(super) - len(s.payload)
			// The TCP checksum field as Linux leaves it for TSO: the
			// pseudo-header sum only.
			csumStart := offPartial(super, l3, ProtocolTCP, tcpChecksum)
			gsoType := uint8(VirtioGSOTCPv4)
			if s.v6 {
				gsoType = VirtioGSOTCPv6
			}
			if s.flags&tcpFlagCWR != 0 {
				gsoType |= VirtioGSOECN
			}
			h := gsoHdr(gsoType, tc.mss, csumStart, len(super))

			n := len(s.payload)
			wantSegs := (n + tc.mss - 1) / tc.mss
			wantSegLen := hdr + min(tc.mss, n)
			wantLast := hdr + n - (wantSegs-1)*tc.mss
			stride := tc.headroom + wantSegLen
			need := (wantSegs-1)*stride + tc.headroom + wantLast
			out := bytes.Repeat([]byte{marker}, need+7)

			segs, segLen, lastLen, err := GSOSplit(super, h, l3, out, tc.headroom)
			if err != nil {
				t.Fatalf("GSOSplit: %v", err)
			}
			if segs != wantSegs || segLen != wantSegLen || lastLen != wantLast {
				t.Fatalf("GSOSplit: got %d segments of %d, last %d; want %d of %d, last %d",
					segs, segLen, lastLen, wantSegs, wantSegLen, wantLast)
			}
			var payload []byte
			for i := range segs {
				what := fmt.Sprintf("segment %d", i)
				head := out[i*stride : i*stride+tc.headroom]
				if !bytes.Equal(head, bytes.Repeat([]byte{marker}, tc.headroom)) {
					t.Fatalf("%s: headroom written: got % x", what, head)
				}
				l := segLen
				if i == segs-1 {
					l = lastLen
				}
				seg := out[i*stride+tc.headroom : i*stride+tc.headroom+l]
				sd := offDecode(t, seg, s.eth)
				sd.checkChecksums(t, what)

				wantSeq := s.seq + uint32(i*tc.mss)
				if sd.tcp.Seq != wantSeq {
					t.Errorf("%s: got seq %d, want %d", what, sd.tcp.Seq, wantSeq)
				}
				last, first := i == segs-1, i == 0
				flagTests := []struct {
					name      string
					got, want bool
				}{
					{"FIN", sd.tcp.FIN, last && d.tcp.FIN},
					{"PSH", sd.tcp.PSH, last && d.tcp.PSH},
					{"CWR", sd.tcp.CWR, first && d.tcp.CWR},
					{"ECE", sd.tcp.ECE, d.tcp.ECE},
					{"ACK", sd.tcp.ACK, d.tcp.ACK},
				}
				for _, f := range flagTests {
					if f.got != f.want {
						t.Errorf("%s: %s: got %v, want %v", what, f.name, f.got, f.want)
					}
				}
				if s.v6 {
					if got, want := int(sd.ip6.Length), l-l3-IPv6HeaderLen; got != want {
						t.Errorf("%s: IPv6 payload length: got %d, want %d", what, got, want)
					}
				} else {
					if got, want := sd.ip4.Id, s.id+uint16(i); got != want {
						t.Errorf("%s: IPv4 ID: got %d, want %d", what, got, want)
					}
					if got, want := int(sd.ip4.Length), l-l3; got != want {
						t.Errorf("%s: IPv4 total length: got %d, want %d", what, got, want)
					}
				}
				// Byte for byte what gopacket serializes for this segment.
				ws := s
				ws.seq, ws.id = wantSeq, s.id+uint16(i)
				if !last {
					ws.flags &^= tcpFlagFIN | tcpFlagPSH
				}
				if !first {
					ws.flags &^= tcpFlagCWR
				}
				ws.payload = s.payload[i*tc.mss : min(n, (i+1)*tc.mss)]
				if want := ws.build(t); !bytes.Equal(seg, want) {
					t.Errorf("%s: got\n% x\nwant\n% x", what, seg[:min(len(seg), 80)], want[:min(len(want), 80)])
				}
				payload = append(payload, sd.tcp.Payload...)
			}
			if !bytes.Equal(payload, s.payload) {
				t.Errorf("payloads: got %d bytes, want the original %d bytes", len(payload), len(s.payload))
			}
			if tail := out[need:]; !bytes.Equal(tail, bytes.Repeat([]byte{marker}, 7)) {
				t.Errorf("bytes after the last segment written: got % x", tail)
			}
		})
	}
}

func TestGSOSplitNoPayload(t *testing.T) {
	// A super-frame without payload is passed on as one segment.
	s := offTCP{eth: true, seq: 7, flags: tcpFlagACK | tcpFlagFIN, opts: offTimestamps(1)}
	pkt := s.build(t)
	csumStart := offPartial(pkt, EthernetHeaderLen, ProtocolTCP, tcpChecksum)
	out := make([]byte, len(pkt))
	segs, segLen, lastLen, err := GSOSplit(pkt, gsoHdr(VirtioGSOTCPv4, 1448, csumStart, len(pkt)), EthernetHeaderLen, out, 0)
	if err != nil || segs != 1 || segLen != len(pkt) || lastLen != len(pkt) {
		t.Fatalf("GSOSplit: got %d, %d, %d, %v; want 1, %d, %d, nil", segs, segLen, lastLen, err, len(pkt), len(pkt))
	}
	if want := s.build(t); !bytes.Equal(out, want) {
		t.Errorf("segment: got % x, want % x", out, want)
	}
}

func TestGSOSplitErrors(t *testing.T) {
	base := offTCP{eth: true, seq: 1, flags: tcpFlagACK, opts: offTimestamps(1), payload: offPayload(3000)}
	pkt4 := base.build(t)
	v6 := base
	v6.v6 = true
	pkt6 := v6.build(t)
	bare := base
	bare.eth = false
	pkt4bare := bare.build(t)
	h4 := gsoHdr(VirtioGSOTCPv4, 1000, 34, len(pkt4))
	h6 := gsoHdr(VirtioGSOTCPv6, 1000, 54, len(pkt6))
	hdr4 := len(pkt4) - 3000
	need4 := 2*(hdr4+1000) + hdr4 + 1000 // three segments, no headroom

	edit := func(b []byte, f func(b []byte)) []byte { b = clone(b); f(b); return b }
	withHdr := func(f func(h VirtioNetHdr)) VirtioNetHdr {
		h := VirtioNetHdr(clone(h4))
		f(h)
		return h
	}
	udp := func() []byte {
		// A UDP datagram in a TCP GSO header.
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: offSrc4, DstIP: offDst4}
		u := &layers.UDP{SrcPort: 1, DstPort: 2}
		_ = u.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
			ip, u, gopacket.Payload(offPayload(3000))); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	hopByHop := edit(pkt6, func(b []byte) { b[EthernetHeaderLen+ipv6NextHeader] = 0 })

	tests := []struct {
		name     string
		pkt      []byte
		h        VirtioNetHdr
		l3       int
		outLen   int
		headroom int
		want     error
		text     string // a word the message must name
	}{
		{"short virtio header", pkt4, h4[:9], 14, need4, 0, ErrVirtioNetHdr, "virtio_net_hdr"},
		{"gso_type none", pkt4, withHdr(func(h VirtioNetHdr) { h.SetGSOType(VirtioGSONone) }), 14, need4, 0, ErrGSOType, "gso_type"},
		{"gso_type UDP", pkt4, withHdr(func(h VirtioNetHdr) { h.SetGSOType(VirtioGSOUDP) }), 14, need4, 0, ErrGSOType, "gso_type"},
		{"gso_type UDP_L4 on TCP", pkt4, withHdr(func(h VirtioNetHdr) { h.SetGSOType(VirtioGSOUDPL4) }), 14, need4, 0, ErrGSOFamily, "transport"},
		{"gso_type TCPv6 on IPv4", pkt4, withHdr(func(h VirtioNetHdr) { h.SetGSOType(VirtioGSOTCPv6) }), 14, need4, 0, ErrGSOFamily, "gso_type"},
		{"gso_type TCPv4 on IPv6", pkt6, withHdr(func(h VirtioNetHdr) { h.SetGSOType(VirtioGSOTCPv4) }), 14, 8000, 0, ErrGSOFamily, "gso_type"},
		{"gso_size 0", pkt4, withHdr(func(h VirtioNetHdr) { h.SetGSOSize(0) }), 14, need4, 0, ErrGSOSize, "gso_size 0"},
		{"l3 offset 7", pkt4, h4, 7, need4, 0, ErrL3Offset, "l3 offset"},
		{"l3 offset 0 on an Ethernet frame", pkt4, h4, 0, need4, 0, ErrIPVersion, "IP version"},
		{"l3 offset 14 on a bare packet", pkt4bare, h4, 14, need4, 0, ErrEtherTypeNotIP, "EtherType"},
		{"EtherType ARP", edit(pkt4, func(b []byte) { b[12], b[13] = 0x08, 0x06 }), h4, 14, need4, 0, ErrEtherTypeNotIP, "EtherType"},
		{"EtherType IPv6 on IPv4", edit(pkt4, func(b []byte) { b[12], b[13] = 0x86, 0xdd }), h4, 14, need4, 0, ErrIPVersion, "IP version"},
		{"empty", nil, h4, 0, need4, 0, ErrShortPacket, "shorter"},
		{"Ethernet header only", pkt4[:14], h4, 14, need4, 0, ErrShortPacket, "shorter"},
		{"truncated IPv4 header", pkt4[:14+19], h4, 14, need4, 0, ErrBadIPv4Header, "IPv4"},
		{"truncated payload", pkt4[:len(pkt4)-1], h4, 14, need4, 0, ErrBadIPv4Header, "total length"},
		{"truncated IPv6 payload", pkt6[:len(pkt6)-1], h6, 14, 8000, 0, ErrBadIPv6Header, "payload length"},
		{"truncated TCP header", edit(pkt4[:14+20+19], func(b []byte) { binary.BigEndian.PutUint16(b[14+2:], 39) }), h4, 14, need4, 0, ErrBadTCPHeader, "TCP header"},
		{"TCP data offset 4", edit(pkt4, func(b []byte) { b[14+20+12] = 4 << 4 }), h4, 14, need4, 0, ErrBadTCPHeader, "data offset"},
		{"TCP data offset beyond the packet", edit(pkt4[:14+20+30], func(b []byte) { binary.BigEndian.PutUint16(b[14+2:], 50) }), h4, 14, need4, 0, ErrBadTCPHeader, "data offset"},
		{"UDP in a TCP GSO header", udp, h4, 14, need4, 0, ErrGSOFamily, "transport"},
		{"IPv6 extension header", hopByHop, h6, 14, 8000, 0, ErrNotTCPOrUDP, "next header"},
		{"IPv4 fragment", edit(pkt4, func(b []byte) { b[14+6] |= 0x20; IPv4(b[14:]).SetChecksum() }), h4, 14, need4, 0, ErrFragment, "fragment"},
		{"IP version 5", edit(pkt4bare, func(b []byte) { b[0] = 0x55 }), h4, 0, need4, 0, ErrIPVersion, "IP version"},
		{"out too small by one byte", pkt4, h4, 14, need4 - 1, 0, ErrGSOOutTooSmall, "out too small"},
		{"out too small for the headroom", pkt4, h4, 14, need4 + 2, 1, ErrGSOOutTooSmall, "out too small"},
		{"out empty", pkt4, h4, 14, 0, 0, ErrGSOOutTooSmall, "out too small"},
		{"headroom larger than out", pkt4, h4, 14, need4, 1 << 62, ErrGSOOutTooSmall, "out too small"},
		{"headroom negative", pkt4, h4, 14, need4, -1, ErrGSOHeadroom, "headroom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := clone(tc.pkt)
			out := make([]byte, tc.outLen)
			segs, _, _, err := GSOSplit(tc.pkt, tc.h, tc.l3, out, tc.headroom)
			if !errors.Is(err, tc.want) {
				t.Fatalf("GSOSplit: got %d segments, error %v; want %v", segs, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q: want it to name %q", err, tc.text)
			}
			if !bytes.Equal(tc.pkt, before) {
				t.Errorf("pkt modified")
			}
		})
	}

	// The exact size is enough.
	if segs, _, _, err := GSOSplit(pkt4, h4, 14, make([]byte, need4), 0); err != nil || segs != 3 {
		t.Errorf("out of exactly the size needed: got %d segments, %v; want 3, nil", segs, err)
	}
}

func TestGSOSplitTruncatedNeverPanics(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{false, true} {
			s := offTCP{v6: v6, eth: eth, flags: tcpFlagACK, opts: offTimestamps(1), payload: offPayload(40)}
			pkt := s.build(t)
			gt := uint8(VirtioGSOTCPv4)
			if v6 {
				gt = VirtioGSOTCPv6
			}
			h := gsoHdr(gt, 10, 0, 0)
			out := make([]byte, 1000)
			for n := range len(pkt) {
				if _, _, _, err := GSOSplit(pkt[:n], h, s.l3(), out, 4); err == nil {
					t.Errorf("%s cut to %d of %d bytes: got nil error, want one", familyName(v6, eth), n, len(pkt))
				}
			}
		}
	}
}

func TestCompleteChecksum(t *testing.T) {
	udpPkt := func(v6, eth bool, payload []byte) []byte {
		var ls []gopacket.SerializableLayer
		et := layers.EthernetTypeIPv4
		if v6 {
			et = layers.EthernetTypeIPv6
		}
		if eth {
			ls = append(ls, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et})
		}
		u := &layers.UDP{SrcPort: 40000, DstPort: 4789}
		if v6 {
			ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: offSrc6, DstIP: offDst6}
			_ = u.SetNetworkLayerForChecksum(ip)
			ls = append(ls, ip)
		} else {
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: offSrc4, DstIP: offDst4}
			_ = u.SetNetworkLayerForChecksum(ip)
			ls = append(ls, ip)
		}
		ls = append(ls, u, gopacket.Payload(payload))
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return clone(buf.Bytes())
	}
	tests := []struct {
		name   string
		pkt    []byte
		l3     int
		proto  uint8
		offset int // csum_offset
	}{
		{"UDP IPv4 Ethernet", udpPkt(false, true, offPayload(301)), 14, ProtocolUDP, udpChecksum},
		{"UDP IPv6 bare", udpPkt(true, false, offPayload(1000)), 0, ProtocolUDP, udpChecksum},
		{"TCP IPv4 bare", offTCP{seq: 9, flags: tcpFlagACK | tcpFlagPSH, payload: offPayload(999)}.build(t), 0, ProtocolTCP, tcpChecksum},
		{"TCP IPv6 Ethernet", offTCP{v6: true, eth: true, flags: tcpFlagSYN, opts: offTimestamps(3)}.build(t), 14, ProtocolTCP, tcpChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := clone(tc.pkt)
			start := offPartial(tc.pkt, tc.l3, tc.proto, tc.offset)
			if bytes.Equal(tc.pkt, want) {
				t.Fatal("the partial checksum equals the full one; pick another payload")
			}
			h := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
			h.SetFlags(VirtioNetHdrFNeedsCsum)
			h.SetCsumStart(uint16(start))
			h.SetCsumOffset(uint16(tc.offset))
			if err := CompleteChecksum(tc.pkt, h); err != nil {
				t.Fatalf("CompleteChecksum: %v", err)
			}
			if got, w := binary.BigEndian.Uint16(tc.pkt[start+tc.offset:]), binary.BigEndian.Uint16(want[start+tc.offset:]); got != w {
				t.Errorf("checksum: got %#04x, want %#04x", got, w)
			}
			if !bytes.Equal(tc.pkt, want) {
				t.Errorf("packet: got % x, want % x", tc.pkt, want)
			}
		})
	}

	t.Run("UDP sum of zero is sent as 0xffff", func(t *testing.T) {
		// Two payload bytes chosen so that the checksum comes out as 0,
		// which UDP must send as 0xffff (RFC 768).
		pkt := udpPkt(false, false, []byte{1, 2, 3, 4, 0, 0})
		start := offPartial(pkt, 0, ProtocolUDP, udpChecksum)
		w := 0xffff - naiveSum(pkt[start:], 0)
		binary.BigEndian.PutUint16(pkt[len(pkt)-2:], w)
		if s := naiveSum(pkt[start:], 0); s != 0xffff {
			t.Fatalf("set-up: sum %#04x, want 0xffff", s)
		}
		h := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
		h.SetFlags(VirtioNetHdrFNeedsCsum)
		h.SetCsumStart(uint16(start))
		h.SetCsumOffset(udpChecksum)
		if err := CompleteChecksum(pkt, h); err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint16(pkt[start+udpChecksum:]); got != 0xffff {
			t.Errorf("checksum: got %#04x, want 0xffff", got)
		}
		ip := IPv4(pkt)
		pseudo := PseudoHeaderSum(ProtocolUDP, ip.Src(), ip.Dst(), uint16(len(pkt)-start))
		if s := naiveSum(pkt[start:], pseudo); s != 0xffff {
			t.Errorf("sum with the pseudo-header and the checksum: got %#04x, want 0xffff (verifies)", s)
		}
	})

	t.Run("without NeedsCsum nothing changes", func(t *testing.T) {
		pkt := udpPkt(false, false, offPayload(10))
		before := clone(pkt)
		h := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
		h.SetFlags(VirtioNetHdrFDataValid)
		h.SetCsumStart(20)
		h.SetCsumOffset(6)
		if err := CompleteChecksum(pkt, h); err != nil || !bytes.Equal(pkt, before) {
			t.Errorf("got %v, changed %v; want nil, unchanged", err, !bytes.Equal(pkt, before))
		}
	})
}

func TestCompleteChecksumErrors(t *testing.T) {
	pkt := make([]byte, 60)
	tests := []struct {
		name          string
		hdr           []byte
		start, offset int
		want          error
	}{
		{"short header", make([]byte, 9), 0, 0, ErrVirtioNetHdr},
		{"csum_start beyond the packet", nil, 61, 0, ErrCsumOffset},
		{"csum_start at the end", nil, 60, 0, ErrCsumOffset},
		{"csum_offset beyond the packet", nil, 20, 40, ErrCsumOffset},
		{"field straddles the end", nil, 20, 39, ErrCsumOffset},
		{"both at their maximum", nil, 0xffff, 0xffff, ErrCsumOffset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := VirtioNetHdr(tc.hdr)
			if h == nil {
				h = make([]byte, VirtioNetHdrLen)
				h.SetFlags(VirtioNetHdrFNeedsCsum)
				h.SetCsumStart(uint16(tc.start))
				h.SetCsumOffset(uint16(tc.offset))
			}
			p := clone(pkt)
			err := CompleteChecksum(p, h)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !bytes.Equal(p, pkt) {
				t.Errorf("packet modified on error")
			}
		})
	}
	// The last position that fits is accepted.
	h := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
	h.SetFlags(VirtioNetHdrFNeedsCsum)
	h.SetCsumStart(20)
	h.SetCsumOffset(38)
	if err := CompleteChecksum(clone(pkt), h); err != nil {
		t.Errorf("field in the last two bytes: got %v, want nil", err)
	}
}

// superFrame joins the members of a group as the caller's writev would:
// frames[Start] whole, then each other member from hdr_len on.
func superFrame(frames [][]byte, g Group) []byte {
	hl := int(VirtioNetHdr(g.Hdr[:]).HdrLen())
	b := clone(frames[g.Start])
	for _, f := range frames[g.Start+1 : g.Start+g.Count] {
		b = append(b, f[hl:]...)
	}
	return b
}

// checkGroups holds the result of CoalesceTCP against the frames before the
// call: the groups cover every frame once, in order, with the wanted
// counts; a lone frame is untouched with a zero header; a coalesced one,
// once its checksum is completed, decodes with checksums that verify, the
// members' payloads in order and the header CoalesceTCP promises.
func checkGroups(t *testing.T, before, frames [][]byte, groups []Group, l3 int, want []int) {
	t.Helper()
	var counts []int
	next := 0
	for _, g := range groups {
		if g.Start != next {
			t.Fatalf("groups: got start %d, want %d (groups %+v)", g.Start, next, groups)
		}
		next += g.Count
		counts = append(counts, g.Count)
	}
	if next != len(frames) || fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("group sizes: got %v, want %v", counts, want)
	}
	for k, g := range groups {
		what := fmt.Sprintf("group %d", k)
		if g.Count == 1 {
			if g.Hdr != [VirtioNetHdrLen]byte{} {
				t.Errorf("%s: lone frame: got header % x, want zeros", what, g.Hdr)
			}
			if !bytes.Equal(frames[g.Start], before[g.Start]) {
				t.Errorf("%s: lone frame modified", what)
			}
			continue
		}
		first := before[g.Start]
		fd := offDecode(t, first, l3 == EthernetHeaderLen)
		ipHL := IPv6HeaderLen
		gsoType := byte(VirtioGSOTCPv6)
		if fd.ip4 != nil {
			ipHL, gsoType = int(fd.ip4.IHL)*4, VirtioGSOTCPv4
		}
		hl := l3 + ipHL + int(fd.tcp.DataOffset)*4
		mss := len(first) - hl
		var wantHdr [VirtioNetHdrLen]byte
		wantHdr[0], wantHdr[1] = VirtioNetHdrFNeedsCsum, gsoType
		binary.LittleEndian.PutUint16(wantHdr[2:], uint16(hl))
		binary.LittleEndian.PutUint16(wantHdr[4:], uint16(mss))
		binary.LittleEndian.PutUint16(wantHdr[6:], uint16(l3+ipHL))
		binary.LittleEndian.PutUint16(wantHdr[8:], 16)
		if g.Hdr != wantHdr {
			t.Errorf("%s: virtio_net_hdr: got % x, want % x", what, g.Hdr, wantHdr)
		}

		sf := superFrame(frames, g)
		// The checksum field holds the pseudo-header sum over the
		// coalesced length, as CHECKSUM_PARTIAL wants.
		partial := clone(sf)
		offPartial(partial, l3, ProtocolTCP, tcpChecksum)
		if got, w := binary.BigEndian.Uint16(sf[l3+ipHL+tcpChecksum:]), binary.BigEndian.Uint16(partial[l3+ipHL+tcpChecksum:]); got != w {
			t.Errorf("%s: partial TCP checksum: got %#04x, want %#04x", what, got, w)
		}
		if err := CompleteChecksum(sf, VirtioNetHdr(g.Hdr[:])); err != nil {
			t.Fatalf("%s: CompleteChecksum: %v", what, err)
		}
		d := offDecode(t, sf, l3 == EthernetHeaderLen)
		d.checkChecksums(t, what)
		if d.ip4 != nil && int(d.ip4.Length) != len(sf)-l3 {
			t.Errorf("%s: IPv4 total length: got %d, want %d", what, d.ip4.Length, len(sf)-l3)
		}
		if d.ip6 != nil && int(d.ip6.Length) != len(sf)-l3-IPv6HeaderLen {
			t.Errorf("%s: IPv6 payload length: got %d, want %d", what, d.ip6.Length, len(sf)-l3-IPv6HeaderLen)
		}
		var payload []byte
		var lastPSH bool
		for _, f := range before[g.Start : g.Start+g.Count] {
			md := offDecode(t, f, l3 == EthernetHeaderLen)
			payload = append(payload, md.tcp.Payload...)
			lastPSH = md.tcp.PSH
		}
		if !bytes.Equal(d.tcp.Payload, payload) {
			t.Errorf("%s: payload: got %d bytes, want the members' %d", what, len(d.tcp.Payload), len(payload))
		}
		if d.tcp.PSH != lastPSH {
			t.Errorf("%s: PSH: got %v, want %v (the last member's)", what, d.tcp.PSH, lastPSH)
		}
		if d.tcp.Seq != fd.tcp.Seq || d.tcp.Ack != fd.tcp.Ack || d.tcp.Window != fd.tcp.Window {
			t.Errorf("%s: seq/ack/window: got %d/%d/%d, want the first member's %d/%d/%d",
				what, d.tcp.Seq, d.tcp.Ack, d.tcp.Window, fd.tcp.Seq, fd.tcp.Ack, fd.tcp.Window)
		}
	}
}

func TestCoalesceTCPRoundTrip(t *testing.T) {
	// A super-frame split by GSOSplit and coalesced again is the same
	// super-frame, byte for byte, once its checksum is completed.
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{true, false} {
			for _, c := range []struct{ mss, n int }{{1448, 45 * 1448}, {1448, 10000}, {536, 3 * 536}, {8960, 7*8960 + 1}} {
				name := fmt.Sprintf("%s mss %d payload %d", familyName(v6, eth), c.mss, c.n)
				t.Run(name, func(t *testing.T) {
					s := offTCP{v6: v6, eth: eth, seq: 0xffff0000, ack: 5, id: 100, df: true, tos: 0x10,
						flags: tcpFlagACK | tcpFlagPSH, opts: offTimestamps(42), payload: offPayload(c.n)}
					l3 := s.l3()
					orig := s.build(t)
					super := clone(orig)
					csumStart := offPartial(super, l3, ProtocolTCP, tcpChecksum)
					gt := uint8(VirtioGSOTCPv4)
					if v6 {
						gt = VirtioGSOTCPv6
					}
					out := make([]byte, 2*len(super)+c.n/c.mss*100)
					segs, segLen, lastLen, err := GSOSplit(super, gsoHdr(gt, c.mss, csumStart, len(super)), l3, out, 0)
					if err != nil {
						t.Fatal(err)
					}
					frames := make([][]byte, segs)
					for i := range frames {
						frames[i] = out[i*segLen : i*segLen+segLen]
					}
					frames[segs-1] = out[(segs-1)*segLen : (segs-1)*segLen+lastLen]
					before := make([][]byte, segs)
					for i, f := range frames {
						before[i] = clone(f)
					}
					groups := make([]Group, segs)
					n, err := Coalesce(frames, l3, groups, false)
					if err != nil {
						t.Fatalf("CoalesceTCP: %v", err)
					}
					checkGroups(t, before, frames, groups[:n], l3, []int{segs})
					sf := superFrame(frames, groups[0])
					if err := CompleteChecksum(sf, VirtioNetHdr(groups[0].Hdr[:])); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(sf, orig) {
						t.Errorf("coalesced: got\n% x\nwant\n% x", sf[:l3+100], orig[:l3+100])
					}
				})
			}
		}
	}
}

// coalesceCase is a train of frames and the group sizes it must give.
type coalesceCase struct {
	name   string
	v4, v6 bool // the families the case applies to
	specs  func(base offTCP) []offTCP
	edit   func(frames [][]byte, l3 int) [][]byte // after building, if not nil
	ethOK  bool                                   // applies to Ethernet frames only
	want   []int
}

// offTrain returns count segments of one flow following base, each mss
// payload bytes.
func offTrain(base offTCP, count, mss int) []offTCP {
	out := make([]offTCP, count)
	for i := range out {
		s := base
		s.seq = base.seq + uint32(i*mss)
		s.id = base.id + uint16(i)
		s.opts = offTimestamps(500)
		s.payload = offPayload(mss + i)[i:]
		out[i] = s
	}
	return out
}

// offWith returns the train with segment i changed by f.
func offWith(ss []offTCP, i int, f func(s *offTCP)) []offTCP {
	f(&ss[i])
	return ss
}

func TestCoalesceTCP(t *testing.T) {
	const mss = 1000
	train := func(n int) func(base offTCP) []offTCP {
		return func(base offTCP) []offTCP { return offTrain(base, n, mss) }
	}
	// middle returns a train of five whose third member f changes; the
	// other four are well-formed, so the want is [2 1 2] whenever f makes
	// the third stand alone and differ from the fourth.
	middle := func(f func(s *offTCP)) func(base offTCP) []offTCP {
		return func(base offTCP) []offTCP { return offWith(offTrain(base, 5, mss), 2, f) }
	}
	flip := func(i, off int) func(frames [][]byte, l3 int) [][]byte {
		return func(frames [][]byte, l3 int) [][]byte {
			frames[i][len(frames[i])+off] ^= 0x40
			return frames
		}
	}
	tests := []coalesceCase{
		{name: "one flow", v4: true, v6: true, specs: train(6), want: []int{6}},
		{name: "single frame", v4: true, v6: true, specs: train(1), want: []int{1}},
		{name: "no frames", v4: true, v6: true, specs: train(0), want: nil},
		{name: "flows interleaved", v4: true, v6: true, want: []int{2, 2, 1}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 3, mss)
			other := base
			other.sport = 40001
			b := offTrain(other, 2, mss)
			return []offTCP{a[0], a[1], b[0], b[1], a[2]}
		}},
		{name: "gap in seq", v4: true, v6: true, want: []int{2, 2}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 5, mss)
			return []offTCP{a[0], a[1], a[3], a[4]}
		}},
		{name: "retransmission", v4: true, v6: true, want: []int{2, 2}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 3, mss)
			return []offTCP{a[0], a[1], a[1], a[2]}
		}},
		{name: "bad TCP checksum in the middle", v4: true, v6: true, specs: train(5), edit: flip(2, -1), want: []int{2, 1, 2}},
		{name: "bad TCP checksum first", v4: true, v6: true, specs: train(3), edit: flip(0, -1), want: []int{1, 2}},
		{name: "bad TCP checksum last", v4: true, v6: true, specs: train(3), edit: flip(2, -5), want: []int{2, 1}},
		{name: "bad IPv4 header checksum", v4: true, specs: train(5), want: []int{2, 1, 2},
			edit: func(frames [][]byte, l3 int) [][]byte { frames[2][l3+ipv4Checksum] ^= 1; return frames }},
		{name: "link-layer padding", v4: true, v6: true, specs: train(5), want: []int{2, 1, 2},
			edit: func(frames [][]byte, l3 int) [][]byte { frames[2] = append(frames[2], 0, 0); return frames }},
		{name: "SYN", v4: true, v6: true, specs: middle(func(s *offTCP) { s.flags |= tcpFlagSYN }), want: []int{2, 1, 2}},
		{name: "FIN", v4: true, v6: true, specs: middle(func(s *offTCP) { s.flags |= tcpFlagFIN }), want: []int{2, 1, 2}},
		{name: "RST", v4: true, v6: true, specs: middle(func(s *offTCP) { s.flags |= tcpFlagRST }), want: []int{2, 1, 2}},
		{name: "URG", v4: true, v6: true, specs: middle(func(s *offTCP) { s.flags |= tcpFlagURG }), want: []int{2, 1, 2}},
		{name: "ECE", v4: true, v6: true, specs: middle(func(s *offTCP) { s.flags |= tcpFlagECE }), want: []int{2, 1, 2}},
		{name: "CWR", v4: true, v6: true, specs: middle(func(s *offTCP) { s.flags |= tcpFlagCWR }), want: []int{2, 1, 2}},
		{name: "AE (NS) bit on all", v4: true, v6: true, want: []int{1, 1, 1}, specs: func(base offTCP) []offTCP {
			base.ae = true
			return offTrain(base, 3, mss)
		}},
		{name: "no ACK", v4: true, v6: true, specs: middle(func(s *offTCP) { s.flags = 0 }), want: []int{2, 1, 2}},
		{name: "pure ACK", v4: true, v6: true, want: []int{2, 1, 2}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 4, mss)
			ack := a[2]
			ack.payload = nil
			return []offTCP{a[0], a[1], ack, a[2], a[3]}
		}},
		{name: "SYN first", v4: true, v6: true, specs: func(base offTCP) []offTCP {
			return offWith(offTrain(base, 3, mss), 0, func(s *offTCP) { s.flags = tcpFlagSYN | tcpFlagACK })
		}, want: []int{1, 2}},
		{name: "options differ", v4: true, v6: true, want: []int{2, 2}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 4, mss)
			a[2].opts, a[3].opts = offTimestamps(501), offTimestamps(501)
			return a
		}},
		{name: "options missing", v4: true, v6: true, specs: middle(func(s *offTCP) { s.opts = nil }), want: []int{2, 1, 2}},
		{name: "ack number differs", v4: true, v6: true, specs: middle(func(s *offTCP) { s.ack++ }), want: []int{2, 1, 2}},
		{name: "window differs", v4: true, v6: true, specs: middle(func(s *offTCP) { s.window = 100 }), want: []int{2, 1, 2}},
		{name: "destination port differs", v4: true, v6: true, specs: middle(func(s *offTCP) { s.dport = 80 }), want: []int{2, 1, 2}},
		{name: "TTL differs", v4: true, v6: true, specs: middle(func(s *offTCP) { s.ttl = 63 }), want: []int{2, 1, 2}},
		{name: "TOS differs (ECN CE)", v4: true, v6: true, specs: middle(func(s *offTCP) { s.tos = 3 }), want: []int{2, 1, 2}},
		{name: "DF differs", v4: true, specs: middle(func(s *offTCP) { s.df = !s.df }), want: []int{2, 1, 2}},
		{name: "flow label differs", v6: true, specs: middle(func(s *offTCP) { s.flowLabel = 7 }), want: []int{2, 1, 2}},
		{name: "source MAC differs", v4: true, v6: true, ethOK: true, specs: middle(func(s *offTCP) { s.srcMAC = 1 }), want: []int{2, 1, 2}},
		{name: "IPv4 options", v4: true, want: []int{1, 1, 1}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 3, mss)
			for i := range a {
				a[i].ipOpts = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
			}
			return a
		}},
		{name: "IPv4 fragment (MF)", v4: true, specs: middle(func(s *offTCP) { s.mf = true }), want: []int{2, 1, 2}},
		{name: "IPv4 fragment (offset)", v4: true, specs: middle(func(s *offTCP) { s.fragOff = 1 }), want: []int{2, 1, 2}},
		{name: "PSH closes the group", v4: true, v6: true, specs: func(base offTCP) []offTCP {
			return offWith(offTrain(base, 5, mss), 2, func(s *offTCP) { s.flags |= tcpFlagPSH })
		}, want: []int{3, 2}},
		{name: "PSH first stands alone", v4: true, v6: true, specs: func(base offTCP) []offTCP {
			return offWith(offTrain(base, 3, mss), 0, func(s *offTCP) { s.flags |= tcpFlagPSH })
		}, want: []int{1, 2}},
		{name: "short segment closes the group", v4: true, v6: true, want: []int{3, 2}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 3, mss)
			short := offTrain(base, 1, 300)[0]
			short.seq = a[2].seq
			a[2] = short
			rest := offTrain(base, 2, mss)
			rest[0].seq, rest[1].seq = a[2].seq+300, a[2].seq+300+mss
			return append(a, rest...)
		}},
		{name: "longer than the first does not join", v4: true, v6: true, want: []int{1, 1}, specs: func(base offTCP) []offTCP {
			a := offTrain(base, 1, 500)
			b := offTrain(base, 1, mss)
			b[0].seq = a[0].seq + 500
			return append(a, b...)
		}},
	}
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{true, false} {
			for _, tc := range tests {
				if (v6 && !tc.v6) || (!v6 && !tc.v4) || (tc.ethOK && !eth) {
					continue
				}
				t.Run(familyName(v6, eth)+" "+tc.name, func(t *testing.T) {
					base := offTCP{v6: v6, eth: eth, seq: 0xfffffe00, ack: 1000, id: 1, df: true, flags: tcpFlagACK}
					l3 := base.l3()
					var frames [][]byte
					for _, s := range tc.specs(base) {
						frames = append(frames, s.build(t))
					}
					if tc.edit != nil {
						frames = tc.edit(frames, l3)
					}
					before := make([][]byte, len(frames))
					for i, f := range frames {
						before[i] = clone(f)
					}
					groups := make([]Group, len(frames))
					n, err := Coalesce(frames, l3, groups, false)
					if err != nil {
						t.Fatalf("CoalesceTCP: %v", err)
					}
					checkGroups(t, before, frames, groups[:n], l3, tc.want)
				})
			}
		}
	}
}

func TestCoalesceTCPLengthLimit(t *testing.T) {
	// Five segments fill an IP packet to exactly 65535 bytes; a sixth of
	// a single byte starts a new group.
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{true, false} {
			t.Run(familyName(v6, eth), func(t *testing.T) {
				ipHL := IPv4MinHeaderLen
				if v6 {
					ipHL = IPv6HeaderLen
				}
				mss := (0xffff - ipHL - tcpMinHeaderLen) / 5
				if 5*mss != 0xffff-ipHL-tcpMinHeaderLen {
					t.Fatalf("set-up: %d is not a multiple of 5", 0xffff-ipHL-tcpMinHeaderLen)
				}
				base := offTCP{v6: v6, eth: eth, seq: 1, ack: 1, flags: tcpFlagACK}
				var frames [][]byte
				for i := range 6 {
					s := base
					s.seq += uint32(i * mss)
					s.payload = offPayload(mss)
					if i == 5 {
						s.payload = s.payload[:1]
					}
					frames = append(frames, s.build(t))
				}
				before := make([][]byte, len(frames))
				for i, f := range frames {
					before[i] = clone(f)
				}
				groups := make([]Group, len(frames))
				n, err := Coalesce(frames, base.l3(), groups, false)
				if err != nil {
					t.Fatal(err)
				}
				checkGroups(t, before, frames, groups[:n], base.l3(), []int{5, 1})
				if got := len(superFrame(frames, groups[0])) - base.l3(); got != 0xffff {
					t.Errorf("coalesced IP length: got %d, want 65535", got)
				}
			})
		}
	}
}

func TestCoalesceTCPErrors(t *testing.T) {
	f := offTrain(offTCP{eth: true, flags: tcpFlagACK}, 3, 100)
	frames := [][]byte{f[0].build(t), f[1].build(t), f[2].build(t)}
	before := [][]byte{clone(frames[0]), clone(frames[1]), clone(frames[2])}
	tests := []struct {
		name   string
		l3     int
		groups int
		want   error
		text   string
	}{
		{"groups shorter than frames", 14, 2, ErrCoalesceGroups, "groups"},
		{"l3 offset 20", 20, 3, ErrL3Offset, "l3 offset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Coalesce(frames, tc.l3, make([]Group, tc.groups), false)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("got %d, %v; want 0, %v", n, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q: want it to name %q", err, tc.text)
			}
			for i := range frames {
				if !bytes.Equal(frames[i], before[i]) {
					t.Errorf("frame %d modified", i)
				}
			}
		})
	}
}

func TestCoalesceTCPGarbage(t *testing.T) {
	// Frames that are not TCP at all, or cut short, each stand alone.
	good := offTrain(offTCP{flags: tcpFlagACK}, 2, 100)
	g0, g1 := good[0].build(t), good[1].build(t)
	frames := [][]byte{nil, {}, {0x45}, clone(g0[:30]), g0, g1, clone(g1[:len(g1)-1]), make([]byte, 100)}
	before := make([][]byte, len(frames))
	for i, f := range frames {
		before[i] = clone(f)
	}
	groups := make([]Group, len(frames))
	n, err := Coalesce(frames, 0, groups, false)
	if err != nil {
		t.Fatal(err)
	}
	checkGroups(t, before, frames, groups[:n], 0, []int{1, 1, 1, 1, 2, 1, 1})
}

func TestOffloadNoAllocations(t *testing.T) {
	s := offTCP{eth: true, seq: 1, flags: tcpFlagACK | tcpFlagPSH, opts: offTimestamps(1), payload: offPayload(20000)}
	super := s.build(t)
	h := gsoHdr(VirtioGSOTCPv4, 1448, 34, len(super))
	out := make([]byte, 2*len(super))
	segs, segLen, lastLen, err := GSOSplit(super, h, EthernetHeaderLen, out, 0)
	if err != nil {
		t.Fatal(err)
	}
	pristine := make([][]byte, segs)
	frames := make([][]byte, segs)
	for i := range frames {
		l := segLen
		if i == segs-1 {
			l = lastLen
		}
		pristine[i] = clone(out[i*segLen : i*segLen+l])
		frames[i] = clone(pristine[i])
	}
	groups := make([]Group, segs)
	out2 := make([]byte, len(out)+segs*50)
	tests := []struct {
		name string
		fn   func()
	}{
		{"GSOSplit", func() {
			if _, _, _, err := GSOSplit(super, h, EthernetHeaderLen, out2, 50); err != nil {
				t.Fatal(err)
			}
		}},
		{"GSOSplit error", func() { _, _, _, _ = GSOSplit(super[:40], h, EthernetHeaderLen, out2, 50) }},
		{"CompleteChecksum", func() {
			if err := CompleteChecksum(super, h); err != nil {
				t.Fatal(err)
			}
		}},
		{"CoalesceTCP", func() {
			copy(frames[0], pristine[0]) // CoalesceTCP rewrote the first header
			if n, err := Coalesce(frames, EthernetHeaderLen, groups, false); err != nil || n != 1 {
				t.Fatalf("CoalesceTCP: got %d, %v; want 1, nil", n, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
				t.Errorf("allocations per run: got %v, want 0", n)
			}
		})
	}
}

func BenchmarkGSOSplit(b *testing.B) {
	s := offTCP{eth: true, seq: 1, flags: tcpFlagACK, opts: offTimestamps(1), payload: offPayload(65000)}
	super := s.build(b)
	h := gsoHdr(VirtioGSOTCPv4, 1448, 34, len(super))
	out := make([]byte, 2*len(super)+50*50)
	b.ReportAllocs()
	b.SetBytes(int64(len(super)))
	for b.Loop() {
		if _, _, _, err := GSOSplit(super, h, EthernetHeaderLen, out, 50); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCoalesceTCP(b *testing.B) {
	train := offTrain(offTCP{eth: true, seq: 1, flags: tcpFlagACK}, 44, 1448)
	pristine := make([][]byte, len(train))
	frames := make([][]byte, len(train))
	total := 0
	for i, s := range train {
		pristine[i] = s.build(b)
		frames[i] = clone(pristine[i])
		total += len(pristine[i])
	}
	groups := make([]Group, len(frames))
	b.ReportAllocs()
	b.SetBytes(int64(total))
	for b.Loop() {
		copy(frames[0], pristine[0])
		if n, err := Coalesce(frames, EthernetHeaderLen, groups, false); err != nil || n != 1 {
			b.Fatalf("CoalesceTCP: got %d, %v", n, err)
		}
	}
}

// Captured from Linux 6.18: a TAP device opened with IFF_VNET_HDR and
// TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6), MTU 576, in a network
// namespace where 10.77.0.1 connected to 10.77.0.2 over it. Each read
// starts with the virtio_net_hdr.
const (
	// The SYN: NEEDS_CSUM, csum_start 34, csum_offset 16; the checksum
	// field holds the pseudo-header sum 0x14cb.
	kernelSYNHdr = "01 00 0000 0000 2200 1000"
	kernelSYN    = "52846b91de05 96d1f7d356f6 0800" +
		"4500003ce1fe4000400644210a4d00010a4d0002" +
		"e53c13897ef9370a00000000a002ff7014cb0000020402180402080a243f5401000000000103030a"
	// A write of 1100 bytes, handed over as one super-frame: TCPv4,
	// hdr_len 66, gso_size 524 (the MSS of MTU 576 less 12 bytes of
	// timestamps), the checksum field the pseudo-header sum over the whole
	// 1132 TCP bytes. The payload is kernelTSOPayload.
	kernelTSOHdr     = "01 01 4200 0c02 2200 1000"
	kernelTSOHeaders = "52846b91de05 96d1f7d356f6 0800" +
		"450004 80e200400040063fdb0a4d00010a4d0002" +
		"e53c13897ef9370b39f8dd0180180040190f00000101080a243f54073e967013"
)

var kernelTSOPayload = bytes.Repeat([]byte("vtepd TSO golden "), 65)[:1100]

func TestOffloadKernelCaptures(t *testing.T) {
	t.Run("SYN with a partial checksum", func(t *testing.T) {
		h := VirtioNetHdr(unhex(t, kernelSYNHdr))
		pkt := unhex(t, kernelSYN)
		if h.Flags() != VirtioNetHdrFNeedsCsum || h.GSOType() != VirtioGSONone || h.CsumStart() != 34 || h.CsumOffset() != 16 {
			t.Fatalf("header: got flags %d gso_type %d csum %d+%d, want 1 0 34+16", h.Flags(), h.GSOType(), h.CsumStart(), h.CsumOffset())
		}
		d := offDecode(t, clone(pkt), true)
		if err := d.tcp.SetNetworkLayerForChecksum(d.ip4); err != nil {
			t.Fatal(err)
		}
		if _, r := d.tcp.VerifyChecksum(); r.Valid {
			t.Fatal("set-up: the captured partial checksum verifies already")
		}
		if err := CompleteChecksum(pkt, h); err != nil {
			t.Fatal(err)
		}
		offDecode(t, pkt, true).checkChecksums(t, "SYN")
	})
	t.Run("TSO super-frame", func(t *testing.T) {
		h := VirtioNetHdr(unhex(t, kernelTSOHdr))
		pkt := append(unhex(t, kernelTSOHeaders), kernelTSOPayload...)
		fields := []struct {
			name      string
			got, want int
		}{
			{"flags", int(h.Flags()), VirtioNetHdrFNeedsCsum},
			{"gso_type", int(h.GSOType()), VirtioGSOTCPv4},
			{"hdr_len", int(h.HdrLen()), 66},
			{"gso_size", int(h.GSOSize()), 524},
			{"csum_start", int(h.CsumStart()), 34},
			{"csum_offset", int(h.CsumOffset()), 16},
		}
		for _, f := range fields {
			if f.got != f.want {
				t.Errorf("%s: got %d, want %d", f.name, f.got, f.want)
			}
		}
		out := make([]byte, 3*(VirtioNetHdrLen+66+524))
		segs, segLen, lastLen, err := GSOSplit(pkt, h, EthernetHeaderLen, out, VirtioNetHdrLen)
		if err != nil || segs != 3 || segLen != 66+524 || lastLen != 66+52 {
			t.Fatalf("GSOSplit: got %d, %d, %d, %v; want 3, 590, 118, nil", segs, segLen, lastLen, err)
		}
		var payload []byte
		for i := range segs {
			l := segLen
			if i == segs-1 {
				l = lastLen
			}
			off := i*(VirtioNetHdrLen+segLen) + VirtioNetHdrLen
			d := offDecode(t, out[off:off+l], true)
			d.checkChecksums(t, fmt.Sprintf("segment %d", i))
			if want := uint32(0x7ef9370b) + uint32(i*524); d.tcp.Seq != want {
				t.Errorf("segment %d: got seq %#x, want %#x", i, d.tcp.Seq, want)
			}
			if d.tcp.PSH != (i == segs-1) {
				t.Errorf("segment %d: PSH: got %v, want %v", i, d.tcp.PSH, i == segs-1)
			}
			payload = append(payload, d.tcp.Payload...)
		}
		if !bytes.Equal(payload, kernelTSOPayload) {
			t.Errorf("payload: got %q, want %q", payload, kernelTSOPayload)
		}
	})
}
