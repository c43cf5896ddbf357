package encap

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The fuzz targets check the offload helpers against a plain reading of the
// bytes written here, not against the package's own parser: lengths from
// the raw fields, checksums with the textbook naiveSum.

// refL4 is a TCP/IP or UDP/IP packet as read straight from its fields.
type refL4 struct {
	v6, udp bool
	ip      []byte // the IP packet up to its length field
	ipHL    int
	l4      []byte // TCP or UDP header and payload
	payload []byte
}

// refParse reads a packet that GSOSplit or Coalesce accepted; it trusts
// the fields, so it is only called on output the checks then hold to them.
func refParse(t *testing.T, pkt []byte, l3 int) refL4 {
	t.Helper()
	var r refL4
	if len(pkt) < l3+IPv4MinHeaderLen {
		t.Fatalf("packet of %d bytes: want at least %d", len(pkt), l3+IPv4MinHeaderLen)
	}
	ip := pkt[l3:]
	var ipLen int
	switch ip[0] >> 4 {
	case 4:
		r.ipHL = int(ip[0]&0x0f) * 4
		ipLen = int(binary.BigEndian.Uint16(ip[2:]))
		r.udp = ip[9] == ProtocolUDP
	case 6:
		r.v6, r.ipHL = true, IPv6HeaderLen
		ipLen = IPv6HeaderLen + int(binary.BigEndian.Uint16(ip[4:]))
		r.udp = ip[6] == ProtocolUDP
	default:
		t.Fatalf("IP version %d", ip[0]>>4)
	}
	if ipLen > len(ip) || r.ipHL+UDPHeaderLen > ipLen {
		t.Fatalf("IP length %d, header %d, buffer %d: inconsistent", ipLen, r.ipHL, len(ip))
	}
	r.ip = ip[:ipLen]
	r.l4 = r.ip[r.ipHL:]
	if r.udp {
		if got := int(binary.BigEndian.Uint16(r.l4[4:])); got != len(r.l4) {
			t.Fatalf("UDP length %d, IP payload %d", got, len(r.l4))
		}
		r.payload = r.l4[UDPHeaderLen:]
		return r
	}
	if len(r.l4) < tcpMinHeaderLen {
		t.Fatalf("TCP segment of %d bytes", len(r.l4))
	}
	tcpHL := int(r.l4[12]>>4) * 4
	if tcpHL < tcpMinHeaderLen || tcpHL > len(r.l4) {
		t.Fatalf("TCP header length %d of %d bytes", tcpHL, len(r.l4))
	}
	r.payload = r.l4[tcpHL:]
	return r
}

// checksumsVerify reports whether the IPv4 header checksum and the TCP or
// UDP checksum, pseudo-header included, sum to all ones (RFC 1071 section
// 1); a UDP checksum of 0 (none sent) does not count as verified.
func (r refL4) checksumsVerify() bool {
	if !r.v6 && naiveSum(r.ip[:r.ipHL], 0) != 0xffff {
		return false
	}
	addrs := r.ip[12:20]
	if r.v6 {
		addrs = r.ip[8:40]
	}
	proto := uint32(ProtocolTCP)
	if r.udp {
		if r.l4[6] == 0 && r.l4[7] == 0 {
			return false
		}
		proto = ProtocolUDP
	}
	pseudo := uint32(naiveSum(addrs, 0)) + proto + uint32(len(r.l4))
	return naiveSum(r.l4, pseudo) == 0xffff
}

// offloadSeeds are real packets: a super-frame of each family, Ethernet and
// bare, with and without TCP options.
func offloadSeeds(t testing.TB) []offTCP {
	var ss []offTCP
	for _, v6 := range []bool{false, true} {
		for _, eth := range []bool{false, true} {
			ss = append(ss,
				offTCP{v6: v6, eth: eth, seq: 0xffffff00, ack: 1, id: 7, df: true,
					flags: tcpFlagACK | tcpFlagPSH | tcpFlagCWR, opts: offTimestamps(9), payload: offPayload(700)},
				offTCP{v6: v6, eth: eth, seq: 1, flags: tcpFlagACK | tcpFlagFIN, payload: offPayload(33)})
		}
	}
	return ss
}

func FuzzGSOSplit(f *testing.F) {
	for _, s := range offloadSeeds(f) {
		gt := uint8(VirtioGSOTCPv4)
		if s.v6 {
			gt = VirtioGSOTCPv6
		}
		pkt := s.build(f)
		f.Add(pkt, gt, uint16(100), s.eth, uint8(8))
		f.Add(pkt, gt|VirtioGSOECN, uint16(1), s.eth, uint8(0))
		f.Add(pkt, gt, uint16(1448), s.eth, uint8(50))
	}
	for _, eth := range []bool{false, true} {
		for _, v6 := range []bool{false, true} {
			pkt, _ := udpSuper(f, offUDP{v6: v6, eth: eth, id: 3, payload: offPayload(300)}, 64)
			f.Add(pkt, uint8(VirtioGSOUDPL4), uint16(64), eth, uint8(8))
		}
	}
	f.Add([]byte{}, uint8(VirtioGSOTCPv4), uint16(0), false, uint8(0))
	f.Fuzz(func(t *testing.T, pkt []byte, gsoType uint8, gsoSize uint16, eth bool, headroom uint8) {
		const marker = 0x5a
		l3 := 0
		if eth {
			l3 = EthernetHeaderLen
		}
		h := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
		h.SetFlags(VirtioNetHdrFNeedsCsum)
		h.SetGSOType(gsoType)
		h.SetGSOSize(gsoSize)
		orig := clone(pkt)
		out := bytes.Repeat([]byte{marker}, 8*len(pkt)+1024)
		hr := int(headroom)
		segs, segLen, lastLen, err := GSOSplit(pkt, h, l3, out, hr)
		if !bytes.Equal(pkt, orig) {
			t.Fatalf("pkt modified")
		}
		if err != nil {
			return
		}

		in := refParse(t, pkt, l3)
		mss := int(gsoSize)
		hdr := l3 + in.ipHL + len(in.l4) - len(in.payload)
		wantSegs := max(1, (len(in.payload)+mss-1)/mss)
		if segs != wantSegs || segLen != hdr+min(mss, len(in.payload)) || lastLen != hdr+len(in.payload)-(segs-1)*mss {
			t.Fatalf("got %d segments of %d, last %d; want %d of %d, last %d", segs, segLen, lastLen,
				wantSegs, hdr+min(mss, len(in.payload)), hdr+len(in.payload)-(segs-1)*mss)
		}
		stride := hr + segLen
		var seq uint32
		if !in.udp {
			seq = binary.BigEndian.Uint32(in.l4[tcpSeq:])
		}
		var payload []byte
		for i := range segs {
			if head := out[i*stride : i*stride+hr]; !bytes.Equal(head, bytes.Repeat([]byte{marker}, hr)) {
				t.Fatalf("segment %d: headroom written: % x", i, head)
			}
			l := segLen
			if i == segs-1 {
				l = lastLen
			}
			seg := out[i*stride+hr : i*stride+hr+l]
			if !bytes.Equal(seg[:l3], pkt[:l3]) {
				t.Fatalf("segment %d: L2 header: got % x, want % x", i, seg[:l3], pkt[:l3])
			}
			r := refParse(t, seg, l3)
			if len(r.ip) != l-l3 {
				t.Fatalf("segment %d: IP length %d, want %d", i, len(r.ip), l-l3)
			}
			if !r.checksumsVerify() {
				t.Fatalf("segment %d: checksums do not verify", i)
			}
			if r.udp != in.udp {
				t.Fatalf("segment %d: UDP %v, the super-frame's %v", i, r.udp, in.udp)
			}
			if !in.udp {
				if got, want := binary.BigEndian.Uint32(r.l4[tcpSeq:]), seq+uint32(i*mss); got != want {
					t.Fatalf("segment %d: got seq %d, want %d", i, got, want)
				}
			}
			if !in.v6 {
				if got, want := binary.BigEndian.Uint16(r.ip[4:]), binary.BigEndian.Uint16(in.ip[4:])+uint16(i); got != want {
					t.Fatalf("segment %d: got IPv4 ID %d, want %d", i, got, want)
				}
			}
			payload = append(payload, r.payload...)
		}
		if !bytes.Equal(payload, in.payload) {
			t.Fatalf("payloads: got %d bytes, want the original %d", len(payload), len(in.payload))
		}
		end := (segs-1)*stride + hr + lastLen
		if tail := out[end:]; !bytes.Equal(tail, bytes.Repeat([]byte{marker}, len(tail))) {
			t.Fatalf("bytes after the last segment written")
		}
	})
}

// Frames reach FuzzCoalesceTCP as one byte string: each frame a 16-bit
// length followed by its bytes.
func encodeFrames(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeFrames(b []byte) [][]byte {
	var frames [][]byte
	for len(b) >= 2 && len(frames) < 64 {
		n := min(int(binary.BigEndian.Uint16(b)), len(b)-2)
		frames = append(frames, clone(b[2:2+n]))
		b = b[2+n:]
	}
	return frames
}

// coalesceChecked runs Coalesce over frames and holds it to what every
// caller relies on: the groups cover every frame once and in order, and a
// lone frame is untouched behind a zero header. It returns the groups and
// the frames as they were before the call.
func coalesceChecked(t *testing.T, frames [][]byte, l3 int, udp bool) ([]Group, [][]byte) {
	t.Helper()
	before := make([][]byte, len(frames))
	for i, fr := range frames {
		before[i] = clone(fr)
	}
	groups := make([]Group, len(frames))
	n, err := Coalesce(frames, l3, groups, udp)
	if err != nil {
		t.Fatalf("Coalesce: %v", err)
	}
	next := 0
	for k, g := range groups[:n] {
		if g.Start != next || g.Count < 1 || g.Start+g.Count > len(frames) {
			t.Fatalf("group %d: start %d, count %d; want start %d, count >= 1, within %d frames", k, g.Start, g.Count, next, len(frames))
		}
		next += g.Count
		if g.Count == 1 && (g.Hdr != [VirtioNetHdrLen]byte{} || !bytes.Equal(frames[g.Start], before[g.Start])) {
			t.Fatalf("group %d: lone frame modified or header % x not zero", k, g.Hdr)
		}
	}
	if next != len(frames) {
		t.Fatalf("groups cover %d of %d frames", next, len(frames))
	}
	return groups[:n], before
}

// fixChecksums rewrites the IPv4 header checksum and the TCP or UDP
// checksum of frame when its lengths are consistent, and leaves it alone
// otherwise.
func fixChecksums(frame []byte, l3 int) {
	if len(frame) < l3+IPv4MinHeaderLen {
		return
	}
	ip := frame[l3:]
	var ipHL, ipLen int
	var proto byte
	var addrs []byte
	switch ip[0] >> 4 {
	case 4:
		ipHL, ipLen, proto, addrs = int(ip[0]&0x0f)*4, int(binary.BigEndian.Uint16(ip[2:])), ip[9], ip[12:20]
		if ipHL < IPv4MinHeaderLen || ipLen > len(ip) {
			return
		}
	case 6:
		if len(ip) < IPv6HeaderLen {
			return
		}
		ipHL, ipLen, proto, addrs = IPv6HeaderLen, IPv6HeaderLen+int(binary.BigEndian.Uint16(ip[4:])), ip[6], ip[8:40]
	default:
		return
	}
	field, minLen := tcpChecksum, tcpMinHeaderLen
	if proto == ProtocolUDP {
		field, minLen = udpChecksum, UDPHeaderLen
	}
	if ipLen > len(ip) || ipHL+minLen > ipLen {
		return
	}
	if ip[0]>>4 == 4 {
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], naiveChecksum(ip[:ipHL]))
	}
	l4 := ip[ipHL:ipLen]
	l4[field], l4[field+1] = 0, 0
	c := ^naiveSum(l4, uint32(naiveSum(addrs, 0))+uint32(proto)+uint32(len(l4)))
	if c == 0 && proto == ProtocolUDP {
		c = 0xffff // RFC 768: 0 is no checksum
	}
	binary.BigEndian.PutUint16(l4[field:], c)
}

func FuzzCoalesce(f *testing.F) {
	for _, s := range offloadSeeds(f) {
		base := s
		base.flags = tcpFlagACK
		train := offTrain(base, 4, 60)
		var frames [][]byte
		for _, m := range train {
			frames = append(frames, m.build(f))
		}
		f.Add(encodeFrames(frames), s.eth, false)
		f.Add(encodeFrames(frames), s.eth, true)
		// Two flows interleaved, the last segment short and with PSH.
		other := base
		other.sport = 1
		o := offTrain(other, 2, 60)
		o[1].payload, o[1].flags = o[1].payload[:10], tcpFlagACK|tcpFlagPSH
		f.Add(encodeFrames([][]byte{frames[0], o[0].build(f), frames[1], o[1].build(f), frames[2]}), s.eth, true)
	}
	f.Add([]byte{0, 1, 0x45, 0, 0}, false, false)
	f.Fuzz(func(t *testing.T, data []byte, eth, fix bool) {
		l3 := 0
		if eth {
			l3 = EthernetHeaderLen
		}
		frames := decodeFrames(data)
		if fix {
			// Most mutations break a checksum, and a frame whose checksum
			// fails stands alone; mending them lets the fuzzer reach the
			// header comparisons.
			for _, fr := range frames {
				fixChecksums(fr, l3)
			}
		}
		groups, before := coalesceChecked(t, frames, l3, false)
		for k, g := range groups {
			if g.Count == 1 {
				continue
			}
			h := VirtioNetHdr(g.Hdr[:])
			hl := int(h.HdrLen())
			var payload []byte
			for _, m := range before[g.Start : g.Start+g.Count] {
				if hl > len(m) {
					t.Fatalf("group %d: hdr_len %d beyond a member of %d bytes", k, hl, len(m))
				}
				if len(m)-hl > int(h.GSOSize()) {
					t.Fatalf("group %d: member payload %d above gso_size %d", k, len(m)-hl, h.GSOSize())
				}
				payload = append(payload, m[hl:]...)
			}
			if int(h.GSOSize()) != len(before[g.Start])-hl {
				t.Fatalf("group %d: gso_size %d, want the first payload %d", k, h.GSOSize(), len(before[g.Start])-hl)
			}
			sf := superFrame(frames, g)
			if err := CompleteChecksum(sf, h); err != nil {
				t.Fatalf("group %d: CompleteChecksum: %v", k, err)
			}
			r := refParse(t, sf, l3)
			if len(r.ip) != len(sf)-l3 || len(r.ip) > 0xffff {
				t.Fatalf("group %d: IP length %d for %d bytes", k, len(r.ip), len(sf)-l3)
			}
			if !r.checksumsVerify() {
				t.Fatalf("group %d: checksums do not verify", k)
			}
			if !bytes.Equal(r.payload, payload) {
				t.Fatalf("group %d: payload: got %d bytes, want the members' %d", k, len(r.payload), len(payload))
			}
		}
	})
}
