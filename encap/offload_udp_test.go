package encap

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// offUDP describes one UDP datagram; build serializes it with gopacket, IP
// and UDP checksums computed. Zero ttl and ports take defaults.
type offUDP struct {
	v6, eth      bool
	id           uint16
	tos, ttl     uint8
	df           bool
	flowLabel    uint32
	sport, dport uint16
	payload      []byte
}

func (s offUDP) l3() int {
	if s.eth {
		return EthernetHeaderLen
	}
	return 0
}

func (s offUDP) build(t testing.TB) []byte {
	t.Helper()
	ttl, sport, dport := s.ttl, s.sport, s.dport
	if ttl == 0 {
		ttl = 64
	}
	if sport == 0 {
		sport = 40000
	}
	if dport == 0 {
		dport = 5201
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	return offIPHdr{v6: s.v6, eth: s.eth, id: s.id, tos: s.tos, ttl: ttl, df: s.df, flowLabel: s.flowLabel}.
		serialize(t, layers.IPProtocolUDP, udp, s.payload)
}

// udpTrain is count datagrams of one flow, each of mss payload bytes but
// the last, which has last; IPv4 IDs count up from base.id, as a connected
// socket numbers them.
func udpTrain(base offUDP, count, mss, last int) []offUDP {
	all := offPayload((count-1)*mss + last)
	ds := make([]offUDP, count)
	for i := range ds {
		d := base
		d.id = base.id + uint16(i)
		d.payload = all[i*mss : min(len(all), (i+1)*mss)]
		ds[i] = d
	}
	return ds
}

func buildAll(t testing.TB, ds []offUDP) [][]byte {
	frames := make([][]byte, len(ds))
	for i, d := range ds {
		frames[i] = d.build(t)
	}
	return frames
}

// udpSuper is the super-frame a socket with UDP_SEGMENT hands a device with
// USO: one IP packet over every datagram's payload, the ID of the first, the
// UDP length of the whole and the checksum field as CHECKSUM_PARTIAL leaves
// it; and its virtio_net_hdr.
func udpSuper(t testing.TB, s offUDP, mss int) ([]byte, VirtioNetHdr) {
	pkt := s.build(t)
	l3 := s.l3()
	start := offPartial(pkt, l3, ProtocolUDP, udpChecksum)
	h := gsoHdr(VirtioGSOUDPL4, mss, start, len(pkt))
	h.SetCsumOffset(udpChecksum)
	return pkt, h
}

func TestGSOSplitUDP(t *testing.T) {
	const marker, headroom = 0x5a, 50
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{false, true} {
			for _, c := range []struct{ mss, payload int }{
				{1, 3}, {64, 64 * 5}, {64, 64*5 + 1}, {1400, 1}, {1400, 1400*3 - 7}, {8000, 60000},
			} {
				s := offUDP{v6: v6, eth: eth, id: 0xfffe, df: true, tos: 0x10, payload: offPayload(c.payload)}
				t.Run(fmt.Sprintf("%s mss %d payload %d", familyName(v6, eth), c.mss, c.payload), func(t *testing.T) {
					super, h := udpSuper(t, s, c.mss)
					segs := (c.payload + c.mss - 1) / c.mss
					want := buildAll(t, udpTrain(s, segs, c.mss, c.payload-(segs-1)*c.mss))
					stride := headroom + len(want[0])
					need := (segs-1)*stride + headroom + len(want[segs-1])
					out := bytes.Repeat([]byte{marker}, need+3)
					n, segLen, lastLen, err := GSOSplit(super, h, s.l3(), out, headroom)
					if err != nil {
						t.Fatalf("GSOSplit: %v", err)
					}
					if n != segs || segLen != len(want[0]) || lastLen != len(want[segs-1]) {
						t.Fatalf("GSOSplit: got %d segments of %d, last %d; want %d of %d, last %d",
							n, segLen, lastLen, segs, len(want[0]), len(want[segs-1]))
					}
					for i := range segs {
						if head := out[i*stride : i*stride+headroom]; !bytes.Equal(head, bytes.Repeat([]byte{marker}, headroom)) {
							t.Fatalf("segment %d: headroom written", i)
						}
						// Byte for byte what gopacket serializes for datagram i:
						// IPv4 ID + i, lengths and both checksums.
						got := out[i*stride+headroom : i*stride+headroom+len(want[i])]
						if !bytes.Equal(got, want[i]) {
							t.Fatalf("segment %d: got\n% x\nwant\n% x", i, got[:min(len(got), 64)], want[i][:min(len(want[i]), 64)])
						}
					}
					if tail := out[need:]; !bytes.Equal(tail, []byte{marker, marker, marker}) {
						t.Errorf("bytes after the last segment written: % x", tail)
					}
				})
			}
		}
	}
}

func TestGSOSplitUDPErrors(t *testing.T) {
	s := offUDP{eth: true, payload: offPayload(300)}
	pkt, h := udpSuper(t, s, 100)
	out := make([]byte, 4096)
	tcp := offTCP{eth: true, seq: 1, flags: tcpFlagACK, payload: offPayload(300)}.build(t)
	withType := func(v uint8) VirtioNetHdr {
		c := VirtioNetHdr(clone(h))
		c.SetGSOType(v)
		return c
	}
	cases := []struct {
		name string
		pkt  []byte
		h    VirtioNetHdr
		want error
	}{
		{"UDP_L4 on TCP", tcp, h, ErrGSOFamily},
		{"TCPv4 on UDP", pkt, withType(VirtioGSOTCPv4), ErrGSOFamily},
		{"UFO", pkt, withType(VirtioGSOUDP), ErrGSOType},
		{"IP payload shorter than a UDP header", func() []byte {
			b := clone(pkt[:EthernetHeaderLen+IPv4MinHeaderLen+7])
			IPv4(b[EthernetHeaderLen:]).SetTotalLength(IPv4MinHeaderLen + 7)
			IPv4(b[EthernetHeaderLen:]).SetChecksum()
			return b
		}(), h, ErrBadUDPHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n, _, _, err := GSOSplit(tc.pkt, tc.h, EthernetHeaderLen, out, 0); err != tc.want {
				t.Fatalf("GSOSplit: got %d segments, error %v; want %v", n, err, tc.want)
			}
		})
	}
}

// TestCoalesceUDPRoundTrip coalesces trains of datagrams and cuts the
// super-frame again as the kernel would (GSOSplit does what
// __udp_gso_segment does): every datagram comes back byte for byte.
func TestCoalesceUDPRoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{false, true} {
			for _, c := range []struct{ count, mss, last int }{
				{2, 1, 1}, {5, 64, 64}, {5, 64, 57}, {MaxUDPSegments, 18, 18}, {45, 1400, 1000}, {2, 1472, 1472},
			} {
				base := offUDP{v6: v6, eth: eth, id: 0xfffd, df: true, ttl: 9}
				t.Run(fmt.Sprintf("%s %d×%d last %d", familyName(v6, eth), c.count, c.mss, c.last), func(t *testing.T) {
					l3 := base.l3()
					frames := buildAll(t, udpTrain(base, c.count, c.mss, c.last))
					groups, before := coalesceChecked(t, frames, l3, true)
					if len(groups) != 1 || groups[0].Count != c.count {
						t.Fatalf("Coalesce: got %d groups (first %+v); want 1 of %d", len(groups), groups[0], c.count)
					}
					h := VirtioNetHdr(groups[0].Hdr[:])
					ipHL := IPv4MinHeaderLen
					if v6 {
						ipHL = IPv6HeaderLen
					}
					for _, f := range []struct {
						name      string
						got, want int
					}{
						{"flags", int(h.Flags()), VirtioNetHdrFNeedsCsum},
						{"gso_type", int(h.GSOType()), VirtioGSOUDPL4},
						{"hdr_len", int(h.HdrLen()), l3 + ipHL + UDPHeaderLen},
						{"gso_size", int(h.GSOSize()), c.mss},
						{"csum_start", int(h.CsumStart()), l3 + ipHL},
						{"csum_offset", int(h.CsumOffset()), udpChecksum},
					} {
						if f.got != f.want {
							t.Errorf("virtio_net_hdr %s: got %d, want %d", f.name, f.got, f.want)
						}
					}
					super := superFrame(frames, groups[0])
					if got := int(UDP(super[l3+ipHL:]).Length()); got != len(super)-l3-ipHL {
						t.Errorf("UDP length: got %d, want %d", got, len(super)-l3-ipHL)
					}
					checkRecut(t, frames, before, groups[0], l3)
					// The super-frame as delivered whole (to a socket with
					// UDP_GRO): its checksum, completed, verifies.
					if err := CompleteChecksum(super, h); err != nil {
						t.Fatal(err)
					}
					if sum := FoldChecksum(Checksum(super[l3+ipHL:], addrSum(super[l3:], v6)+ProtocolUDP+uint32(len(super)-l3-ipHL))); sum != 0 {
						t.Errorf("completed super-frame checksum does not verify: %#04x", sum)
					}
				})
			}
		}
	}
}

// TestCoalesceUDP holds the join rules: each case edits a train of four
// 100-byte datagrams and names the group sizes it must come out as.
func TestCoalesceUDP(t *testing.T) {
	base := offUDP{eth: true, id: 100, df: true}
	type edit func(t *testing.T, ds []offUDP, frames [][]byte)
	rebuild := func(i int, change func(*offUDP)) edit {
		return func(t *testing.T, ds []offUDP, frames [][]byte) {
			change(&ds[i])
			frames[i] = ds[i].build(t)
		}
	}
	cases := []struct {
		name string
		v6   bool
		udp  bool
		edit edit
		want []int
	}{
		{"one flow", false, true, nil, []int{4}},
		{"one flow over IPv6", true, true, nil, []int{4}},
		{"UDP not asked for", false, false, nil, []int{1, 1, 1, 1}},
		{"another source port", false, true, rebuild(2, func(d *offUDP) { d.sport = 1 }), []int{2, 1, 1}},
		{"another destination port", false, true, rebuild(1, func(d *offUDP) { d.dport = 1 }), []int{1, 1, 2}},
		{"an IPv4 ID out of order", false, true, rebuild(2, func(d *offUDP) { d.id += 5 }), []int{2, 1, 1}},
		{"IPv6 has no ID to follow", true, true, rebuild(2, func(d *offUDP) { d.id += 5 }), []int{4}},
		{"another TOS", false, true, rebuild(1, func(d *offUDP) { d.tos = 4 }), []int{1, 1, 2}},
		{"another TTL", false, true, rebuild(3, func(d *offUDP) { d.ttl = 3 }), []int{3, 1}},
		{"DF cleared", false, true, rebuild(2, func(d *offUDP) { d.df = false }), []int{2, 1, 1}},
		{"another flow label", true, true, rebuild(2, func(d *offUDP) { d.flowLabel = 7 }), []int{2, 1, 1}},
		{"a short datagram closes the group", false, true, rebuild(1, func(d *offUDP) { d.payload = d.payload[:50] }), []int{2, 2}},
		{"a longer datagram starts a new group", false, true, rebuild(2, func(d *offUDP) { d.payload = offPayload(101) }), []int{2, 2}},
		{"a bad checksum stands alone", false, true, func(t *testing.T, _ []offUDP, fr [][]byte) { fr[1][len(fr[1])-1] ^= 1 }, []int{1, 1, 2}},
		{"no checksum (IPv4 checksum 0) stands alone", false, true, func(t *testing.T, _ []offUDP, fr [][]byte) {
			UDP(fr[2][EthernetHeaderLen+IPv4MinHeaderLen:]).SetChecksum(0)
		}, []int{2, 1, 1}},
		{"UDP length short of IP's stands alone", false, true, func(t *testing.T, _ []offUDP, fr [][]byte) {
			u := UDP(fr[1][EthernetHeaderLen+IPv4MinHeaderLen:])
			u.SetLength(u.Length() - 1)
			fixChecksums(fr[1], EthernetHeaderLen)
		}, []int{1, 1, 2}},
		{"Ethernet padding stands alone", false, true, func(t *testing.T, _ []offUDP, fr [][]byte) { fr[2] = append(fr[2], 0) }, []int{2, 1, 1}},
		{"a fragment stands alone", false, true, func(t *testing.T, _ []offUDP, fr [][]byte) {
			fr[3][EthernetHeaderLen+6] |= 0x20 // MF
			fixChecksums(fr[3], EthernetHeaderLen)
		}, []int{3, 1}},
		{"another source MAC", false, true, func(t *testing.T, _ []offUDP, fr [][]byte) { fr[1][11] ^= 1 }, []int{1, 1, 2}},
		{"a TCP segment between", false, true, func(t *testing.T, _ []offUDP, fr [][]byte) {
			fr[2] = offTCP{eth: true, seq: 1, flags: tcpFlagACK, payload: offPayload(100)}.build(t)
		}, []int{2, 1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			b.v6 = tc.v6
			ds := udpTrain(b, 4, 100, 100)
			frames := buildAll(t, ds)
			if tc.edit != nil {
				tc.edit(t, ds, frames)
			}
			checkUDPGroups(t, frames, tc.udp, tc.want)
		})
	}
}

// checkUDPGroups coalesces frames and holds the groups to want; every group
// of more than one, cut again by GSOSplit, gives back its members exactly.
func checkUDPGroups(t *testing.T, frames [][]byte, udp bool, want []int) {
	t.Helper()
	groups, before := coalesceChecked(t, frames, EthernetHeaderLen, udp)
	got := make([]int, len(groups))
	for i, g := range groups {
		got[i] = g.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("group sizes: got %v, want %v", got, want)
	}
	for _, g := range groups {
		if g.Count > 1 {
			checkRecut(t, frames, before, g, EthernetHeaderLen)
		}
	}
}

// checkRecut cuts the super-frame of group g again, as the kernel's
// __udp_gso_segment would (GSOSplit does the same), and wants the members
// as they were before Coalesce, byte for byte.
func checkRecut(t *testing.T, frames, before [][]byte, g Group, l3 int) {
	t.Helper()
	super := superFrame(frames, g)
	out := make([]byte, len(super)+g.Count*128)
	segs, segLen, lastLen, err := GSOSplit(super, VirtioNetHdr(g.Hdr[:]), l3, out, 0)
	if err != nil || segs != g.Count {
		t.Fatalf("group at %d: GSOSplit: %d segments, %v; want %d", g.Start, segs, err, g.Count)
	}
	for k := range segs {
		l := segLen
		if k == segs-1 {
			l = lastLen
		}
		if got, m := out[k*segLen:k*segLen+l], before[g.Start+k]; !bytes.Equal(got, m) {
			t.Fatalf("group at %d, datagram %d: cut again\n% x\nwant\n% x", g.Start, k, got[:min(64, len(got))], m[:min(64, len(m))])
		}
	}
}

func TestCoalesceUDPLimits(t *testing.T) {
	t.Run("at most MaxUDPSegments datagrams", func(t *testing.T) {
		frames := buildAll(t, udpTrain(offUDP{eth: true, id: 1}, MaxUDPSegments+3, 10, 10))
		checkUDPGroups(t, frames, true, []int{MaxUDPSegments, 3})
	})
	t.Run("at most 65535 bytes of IP", func(t *testing.T) {
		// 20 + 8 + 45×1450 = 65278 fits; a 46th would not.
		frames := buildAll(t, udpTrain(offUDP{eth: true, id: 1}, 47, 1450, 1450))
		checkUDPGroups(t, frames, true, []int{45, 2})
	})
}

func BenchmarkCoalesceUDP(b *testing.B) {
	train := buildAll(b, udpTrain(offUDP{eth: true, id: 1, df: true}, 32, 64, 64))
	frames := make([][]byte, len(train))
	groups := make([]Group, len(frames))
	b.ReportAllocs()
	b.SetBytes(int64(32 * 64))
	for b.Loop() {
		for i, f := range train {
			frames[i] = append(frames[i][:0], f...)
		}
		if n, err := Coalesce(frames, EthernetHeaderLen, groups, true); err != nil || n != 1 {
			b.Fatalf("Coalesce: got %d, %v", n, err)
		}
	}
}

// FuzzCoalesceUDP holds Coalesce, with UDP asked for, to what a receiver
// would check: the groups cover every frame once and in order, a lone frame
// is untouched, and a UDP super-frame cut again as the kernel cuts it gives
// back its datagrams byte for byte (TCP groups are FuzzCoalesce's).
func FuzzCoalesceUDP(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{false, true} {
			base := offUDP{v6: v6, eth: eth, id: 0xfffe, df: true}
			frames := buildAll(f, udpTrain(base, 4, 30, 20))
			f.Add(encodeFrames(frames), eth, false)
			other := base
			other.sport = 9
			o := buildAll(f, udpTrain(other, 2, 30, 30))
			f.Add(encodeFrames([][]byte{frames[0], o[0], frames[1], o[1], frames[2]}), eth, true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, eth, fix bool) {
		l3 := 0
		if eth {
			l3 = EthernetHeaderLen
		}
		frames := decodeFrames(data)
		if fix {
			for _, fr := range frames {
				fixChecksums(fr, l3)
			}
		}
		groups, before := coalesceChecked(t, frames, l3, true)
		for k, g := range groups {
			if g.Count == 1 || VirtioNetHdr(g.Hdr[:]).GSOType() != VirtioGSOUDPL4 {
				continue
			}
			if g.Count > MaxUDPSegments {
				t.Fatalf("group %d: %d datagrams, more than %d", k, g.Count, MaxUDPSegments)
			}
			checkRecut(t, frames, before, g, l3)
		}
	})
}
