package dataplane

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// recorder is an Observer that keeps a copy of every event.
type recorder struct {
	mu     sync.Mutex
	events []*Event
}

func (r *recorder) Observe(e *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, clone(e))
}

func (r *recorder) take() []*Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

var (
	obsMACA  = [6]byte{0x02, 0x42, 0, 0, 0, 0x01}
	obsMACB  = [6]byte{0x02, 0x42, 0, 0, 0, 0x02}
	obsLocal = netip.MustParseAddr("10.0.0.1")
	obsPeer  = netip.MustParseAddr("10.0.0.2")
	obsPeer2 = netip.MustParseAddr("10.0.0.3")
	obsGroup = netip.MustParseAddr("239.1.1.1")
)

// obsIPv4 is an IPv4 packet of protocol proto from src to dst whose
// payload starts with l4.
func obsIPv4(src, dst string, proto uint8, l4 []byte) []byte {
	p := make([]byte, encap.IPv4MinHeaderLen+len(l4))
	ip := encap.IPv4(p)
	p[0] = 0x45
	ip.SetTotalLength(uint16(len(p)))
	ip.SetTTL(64)
	ip.SetProtocol(proto)
	ip.SetSrc(netip.MustParseAddr(src))
	ip.SetDst(netip.MustParseAddr(dst))
	ip.SetChecksum()
	copy(p[encap.IPv4MinHeaderLen:], l4)
	return p
}

// obsIPv6 is an IPv6 packet with next header proto.
func obsIPv6(src, dst string, proto uint8, l4 []byte) []byte {
	p := make([]byte, encap.IPv6HeaderLen+len(l4))
	ip := encap.IPv6(p)
	ip.SetVersion()
	ip.SetPayloadLength(uint16(len(l4)))
	ip.SetNextHeader(proto)
	ip.SetHopLimit(64)
	ip.SetSrc(netip.MustParseAddr(src))
	ip.SetDst(netip.MustParseAddr(dst))
	copy(p[encap.IPv6HeaderLen:], l4)
	return p
}

// obsPorts is the start of a TCP or UDP header.
func obsPorts(sport, dport uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

// obsEth wraps payload in an Ethernet header.
func obsEth(dst, src [6]byte, etype uint16, payload []byte) []byte {
	f := make([]byte, encap.EthernetHeaderLen+len(payload))
	e := encap.Ethernet(f)
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetEtherType(etype)
	copy(f[encap.EthernetHeaderLen:], payload)
	return f
}

// obsARP is an ARP request for IPv4 over Ethernet (RFC 826).
func obsARP(sender, target string) []byte {
	b := make([]byte, 28) // RFC 826 for IPv4 over Ethernet
	binary.BigEndian.PutUint64(b, 1<<48|encap.EtherTypeIPv4<<32|6<<24|4<<16|1)
	copy(b[8:], obsMACA[:])
	s, t := netip.MustParseAddr(sender).As4(), netip.MustParseAddr(target).As4()
	copy(b[14:], s[:]) // sender protocol address
	copy(b[24:], t[:]) // target protocol address
	return b
}

func obsPing() []byte {
	return obsEth(obsMACB, obsMACA, encap.EtherTypeIPv4, obsIPv4("192.168.42.1", "192.168.42.2", encap.ProtocolICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1}))
}

// obsBuf is a transmit buffer holding frame after the headroom, as a
// device read leaves it.
func obsBuf(frame []byte) ([]byte, []byte) {
	buf := make([]byte, Headroom+len(frame))
	copy(buf[Headroom:], frame)
	return buf, buf[Headroom:]
}

// obsOuter writes VXLAN outer headers to remote in front of the frame in
// buf and returns the whole outer packet, as Underlay.outer does.
func obsOuter(t *testing.T, buf []byte, remote netip.Addr) []byte {
	t.Helper()
	pkt := buf[Headroom-encap.VXLANIPv4HeadersLen:]
	o := encap.OuterIPv4{Src: obsLocal, Dst: remote, SrcPort: 50000, DstPort: 4789, VNI: 42}
	if err := encap.EncapVXLANIPv4(pkt, &o); err != nil {
		t.Fatal(err)
	}
	return pkt
}

func vxlanPoint(o Observer) *ObserverPoint {
	p := &ObserverPoint{}
	p.set(o, label{network: "vx42", vni: 42, kind: "vxlan", local: netip.AddrPortFrom(obsLocal, 4789)})
	return p
}

func TestObserverPointSetLoad(t *testing.T) {
	var p ObserverPoint
	if got := p.Load(); got != nil {
		t.Fatalf("Load of a new point: got %v, want nil", got)
	}
	if p.on() != nil {
		t.Fatal("on of a new point: got an observer, want nil")
	}
	a, b := &recorder{}, &recorder{}
	steps := []struct {
		set      Observer
		previous Observer
	}{
		{a, nil},
		{b, a},
		{nil, b},
		{a, nil},
	}
	for i, s := range steps {
		if got := p.Set(s.set); got != s.previous {
			t.Errorf("step %d: Set returned %v, want %v", i, got, s.previous)
		}
		if got := p.Load(); got != s.set {
			t.Errorf("step %d: Load: got %v, want %v", i, got, s.set)
		}
		if on := p.on() != nil; on != (s.set != nil) {
			t.Errorf("step %d: on() non-nil %v, want %v", i, on, s.set != nil)
		}
	}
	// Set keeps the label the point was given.
	p.set(a, label{network: "vx7", vni: 7, kind: "vxlan"})
	p.Set(b)
	p.on().deviceIn(obsPing())
	if ev := b.take(); len(ev) != 1 || ev[0].Network != "vx7" || ev[0].VNI != 7 {
		t.Errorf("after Set: got %+v, want one event of vx7, vni 7", ev)
	}
}

func TestObserverPointTransmitStages(t *testing.T) {
	rec := &recorder{}
	p := vxlanPoint(rec)
	o := p.on()

	// A hit: device in, lookup, encap, socket out, all one frame.
	buf, frame := obsBuf(obsPing())
	o.deviceIn(frame)
	o.lookupHit(frame, obsPeer)
	pkt := obsOuter(t, buf, obsPeer)
	o.encap(pkt)
	o.sent([][]byte{pkt}, 1)

	// A broadcast in the same buffer: a new frame, flooded to the group
	// and two remotes; the send of the third copy fails.
	copy(frame, obsEth([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, obsMACA, encap.EtherTypeARP, obsARP("192.168.42.1", "192.168.42.2"))[:len(frame)])
	o.deviceIn(frame)
	o.lookupFlood(frame, obsGroup, []netip.Addr{obsPeer, obsPeer2})
	pkt = obsOuter(t, buf, obsPeer)
	o.sent([][]byte{pkt}, 1)
	pkt = obsOuter(t, buf, obsPeer2)
	o.sent([][]byte{pkt}, 0)

	// Unknown unicast is a miss.
	buf2, frame2 := obsBuf(obsPing())
	o.deviceIn(frame2)
	o.lookupFlood(frame2, netip.Addr{}, []netip.Addr{obsPeer})
	_ = buf2

	ev := rec.take()
	type want struct {
		stage   Stage
		frame   uint64
		peer    netip.Addr
		port    uint16
		lookup  string
		remotes []netip.Addr
		drop    string
		at      Stage
	}
	wants := []want{
		{stage: StageDeviceIn, frame: 1},
		{stage: StageLookup, frame: 1, peer: obsPeer, lookup: LookupHit},
		{stage: StageEncap, frame: 1, peer: obsPeer, port: 4789},
		{stage: StageSocketOut, frame: 1, peer: obsPeer, port: 4789},
		{stage: StageDeviceIn, frame: 2},
		{stage: StageLookup, frame: 2, lookup: LookupFlood, remotes: []netip.Addr{obsGroup, obsPeer, obsPeer2}},
		{stage: StageSocketOut, frame: 2, peer: obsPeer, port: 4789},
		{stage: StageDrop, frame: 2, peer: obsPeer2, port: 4789, drop: "send_error", at: StageSocketOut},
		{stage: StageDeviceIn, frame: 3},
		{stage: StageLookup, frame: 3, lookup: LookupMiss, remotes: []netip.Addr{obsPeer}},
	}
	if len(ev) != len(wants) {
		t.Fatalf("got %d events, want %d", len(ev), len(wants))
	}
	for i, w := range wants {
		e := ev[i]
		got := want{e.Stage, e.Frame, e.Peer, e.PeerPort, e.Lookup, e.Remotes, e.Drop, e.At}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("event %d: got %+v, want %+v", i, got, w)
		}
		if (e.Stage == StageEncap || e.Stage == StageSocketOut || e.At == StageSocketOut) && e.LocalPort != 50000 {
			t.Errorf("event %d: local port %d, want the outer source port 50000", i, e.LocalPort)
		}
		wantLocal := netip.Addr{} // only the socket stages say
		if e.Stage == StageEncap || e.Stage == StageSocketOut || e.At == StageSocketOut {
			wantLocal = obsLocal
		}
		if e.Network != "vx42" || e.VNI != 42 || e.Kind != "vxlan" || e.Local != wantLocal || e.Time == 0 {
			t.Errorf("event %d: got network %q vni %d kind %q local %v time %d, want vx42 42 vxlan %v and a time",
				i, e.Network, e.VNI, e.Kind, e.Local, e.Time, wantLocal)
		}
	}
	if got := len(ev[2].Bytes) - len(ev[0].Bytes); got != encap.VXLANIPv4HeadersLen {
		t.Errorf("encap event is %d bytes longer than device-in, want %d (outer IPv4, UDP, VXLAN)", got, encap.VXLANIPv4HeadersLen)
	}
}

func TestObserverPointReceiveStages(t *testing.T) {
	rec := &recorder{}
	p := vxlanPoint(rec)
	o := p.on()
	ping := obsPing()
	payload := make([]byte, encap.VXLANHeaderLen+len(ping))
	encap.PutVXLAN(payload, 42)
	copy(payload[encap.VXLANHeaderLen:], ping)
	from := netip.AddrPortFrom(obsPeer, 54321)

	o.received(payload, from)
	inner := payload[encap.VXLANHeaderLen:]
	o.learnt(inner, fdb.LearnNew, obsPeer)
	o.deviceOut(inner)
	o.received(payload, from)
	o.learnt(inner, fdb.LearnStatic, obsPeer)
	o.drop(DropStaticConflict, StageLearn, inner)

	ev := rec.take()
	tests := []struct {
		stage   Stage
		frame   uint64
		n       int // bytes
		udp     bool
		learn   string
		drop    string
		peerKey bool // Peer and PeerPort are the sender's
	}{
		{StageSocketIn, 1, len(payload), true, "", "", true},
		{StageDecap, 1, len(ping), false, "", "", true},
		{StageLearn, 1, len(ping), false, "new", "", false},
		{StageDeviceOut, 1, len(ping), false, "", "", false},
		{StageSocketIn, 2, len(payload), true, "", "", true},
		{StageDecap, 2, len(ping), false, "", "", true},
		{StageLearn, 2, len(ping), false, "static", "", false},
		{StageDrop, 2, len(ping), false, "", "static_conflict", false},
	}
	if len(ev) != len(tests) {
		t.Fatalf("got %d events, want %d", len(ev), len(tests))
	}
	for i, w := range tests {
		e := ev[i]
		if e.Stage != w.stage || e.Frame != w.frame || len(e.Bytes) != w.n || e.UDPPayload != w.udp || e.Learn != w.learn || e.Drop != w.drop {
			t.Errorf("event %d: got %s frame %d, %d bytes, udp payload %v, learn %q, drop %q; want %s frame %d, %d bytes, %v, %q, %q",
				i, e.Stage, e.Frame, len(e.Bytes), e.UDPPayload, e.Learn, e.Drop, w.stage, w.frame, w.n, w.udp, w.learn, w.drop)
		}
		if w.peerKey && (e.Peer != obsPeer || e.PeerPort != 54321 || e.LocalPort != 4789) {
			t.Errorf("event %d: got peer %s:%d local port %d, want 10.0.0.2:54321 and 4789", i, e.Peer, e.PeerPort, e.LocalPort)
		}
	}
	if ev[7].At != StageLearn {
		t.Errorf("drop at: got %s, want learn", ev[7].At)
	}
}

func TestObserverPointIPIPAndUnderlay(t *testing.T) {
	rec := &recorder{}
	var p ObserverPoint
	p.set(rec, label{network: "ipip0", kind: "ipip", local: netip.AddrPortFrom(obsLocal, 0)})
	inner := obsIPv4("10.244.0.5", "10.244.1.7", encap.ProtocolICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1})
	buf := make([]byte, Headroom+len(inner))
	copy(buf[Headroom:], inner)
	o := p.on()
	o.deviceIn(buf[Headroom:])
	o.lookupRoute(buf[Headroom:], obsPeer, netip.MustParsePrefix("10.244.1.0/24"), true)
	outer := buf[Headroom-encap.IPv4MinHeaderLen:]
	if err := encap.EncapIPIP(outer, &encap.OuterIPIP{Src: obsLocal, Dst: obsPeer, DF: encap.IPIPDFCopy}); err != nil {
		t.Fatal(err)
	}
	o.encap(outer)
	o.sent([][]byte{outer}, 1)
	o.received(outer, netip.AddrPortFrom(obsPeer, 0))
	o.lookupRoute(inner, netip.Addr{}, netip.Prefix{}, false)

	ev := rec.take()
	wantStages := []Stage{StageDeviceIn, StageLookup, StageEncap, StageSocketOut, StageSocketIn, StageDecap, StageLookup}
	if len(ev) != len(wantStages) {
		t.Fatalf("got %d events, want %d", len(ev), len(wantStages))
	}
	for i, s := range wantStages {
		if ev[i].Stage != s {
			t.Errorf("event %d: got %s, want %s", i, ev[i].Stage, s)
		}
	}
	// The received packet is in the transmit buffer: it is the same frame
	// at the same address, but a socket read always starts a new frame.
	if ev[3].Frame != 1 || ev[4].Frame != 2 || ev[5].Frame != 2 {
		t.Errorf("frames: got %d %d %d, want 1 2 2", ev[3].Frame, ev[4].Frame, ev[5].Frame)
	}
	if ev[4].UDPPayload || len(ev[4].Bytes) != len(outer) || len(ev[5].Bytes) != len(inner) {
		t.Errorf("ipip socket-in: got %d bytes, udp payload %v, decap %d bytes; want %d, false, %d",
			len(ev[4].Bytes), ev[4].UDPPayload, len(ev[5].Bytes), len(outer), len(inner))
	}
	if ev[6].Lookup != LookupNoRoute || ev[1].Lookup != LookupRoute || ev[1].Peer != obsPeer || ev[1].Route != netip.MustParsePrefix("10.244.1.0/24") {
		t.Errorf("lookups: got %q via %s and %q, want route via 10.0.0.2 and no-route", ev[1].Lookup, ev[1].Peer, ev[6].Lookup)
	}

	// The underlay's drops name the VNI the packet asked for.
	var u ObserverPoint
	u.set(rec, label{network: "underlay", kind: "vxlan", local: netip.AddrPortFrom(obsLocal, 4789)})
	payload := make([]byte, encap.VXLANHeaderLen+encap.EthernetHeaderLen)
	encap.PutVXLAN(payload, 43)
	u.on().dropFrom(DropUnknownVNI, StageSocketIn, payload, netip.AddrPortFrom(obsPeer, 40000))
	ev = rec.take()
	if len(ev) != 1 || ev[0].VNI != 43 || ev[0].Drop != "unknown_vni" || ev[0].At != StageSocketIn || ev[0].Peer != obsPeer {
		t.Errorf("underlay drop: got %+v, want vni 43 unknown_vni at socket-in from 10.0.0.2", ev)
	}
}

func TestObserverPointPayloadSends(t *testing.T) {
	rec := &recorder{}
	p := vxlanPoint(rec)
	o := p.on()
	buf, frame := obsBuf(obsPing())
	o.deviceIn(frame)
	dgram := buf[Headroom-encap.VXLANHeaderLen:]
	encap.PutVXLAN(dgram, 42)
	o.encapPayload(dgram, obsPeer)
	o.sentPayload(dgram, len(dgram), obsPeer, 40001, nil)
	// A train of three segments of 10 bytes, the last of 5, refused.
	train := make([]byte, 25)
	o.sentPayload(train, 10, obsPeer, 40001, errors.New("refused"))

	ev := rec.take()
	if len(ev) != 6 {
		t.Fatalf("got %d events, want 6", len(ev))
	}
	if ev[1].Frame != 1 || ev[2].Frame != 1 || !ev[2].UDPPayload || ev[2].LocalPort != 40001 || ev[2].PeerPort != 4789 {
		t.Errorf("payload send: got frame %d/%d, udp payload %v, ports %d -> %d; want 1/1, true, 40001 -> 4789",
			ev[1].Frame, ev[2].Frame, ev[2].UDPPayload, ev[2].LocalPort, ev[2].PeerPort)
	}
	for i, n := range []int{10, 10, 5} {
		e := ev[3+i]
		if e.Stage != StageDrop || e.Drop != "send_error" || len(e.Bytes) != n {
			t.Errorf("train datagram %d: got %s %q %d bytes, want drop send_error %d bytes", i, e.Stage, e.Drop, len(e.Bytes), n)
		}
	}
}

// Segments cut from super-frames into one reused buffer are new frames
// each time, not the frame that last used the address.
func TestObserverPointSegments(t *testing.T) {
	rec := &recorder{}
	p := vxlanPoint(rec)
	o := p.on()
	train := make([]byte, Headroom+len(obsPing()))
	copy(train[Headroom:], obsPing())
	for range 2 {
		o.segment(train[Headroom:])
		o.encap(obsOuter(t, train, obsPeer))
	}
	ev := rec.take()
	if len(ev) != 2 || ev[0].Frame == ev[1].Frame {
		t.Errorf("two segments at one address: got frames %d and %d, want two different", ev[0].Frame, ev[1].Frame)
	}
}

func TestHubFanOut(t *testing.T) {
	h := NewHub()
	all := h.Subscribe("", nil, 16)
	vx7 := h.Subscribe("vx7", nil, 16)
	icmp, err := ParseFilter("icmp")
	if err != nil {
		t.Fatal(err)
	}
	pings := h.Subscribe("", icmp, 16)
	if got := h.Subscribers(); got != 3 {
		t.Fatalf("Subscribers: got %d, want 3", got)
	}
	ping, arp := obsPing(), obsEth(obsMACB, obsMACA, encap.EtherTypeARP, obsARP("192.168.42.1", "192.168.42.2"))
	in := []Event{
		{Stage: StageDeviceIn, Frame: 1, Network: "vx42", Kind: "vxlan", Bytes: ping},
		{Stage: StageDeviceIn, Frame: 2, Network: "vx7", Kind: "vxlan", Bytes: arp},
		{Stage: StageDeviceIn, Frame: 3, Network: "vx7", Kind: "vxlan", Bytes: ping},
		{Stage: StageDeviceIn, Frame: 4, Network: "vx42", Kind: "vxlan", Bytes: arp},
	}
	for i := range in {
		h.Observe(&in[i])
	}
	tests := []struct {
		name string
		s    *Subscription
		want []uint64
	}{
		{"every network", all, []uint64{1, 2, 3, 4}},
		{"one network", vx7, []uint64{2, 3}},
		{"icmp only", pings, []uint64{1, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			for len(tc.s.Events()) > 0 {
				got = append(got, (<-tc.s.Events()).Frame)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("frames: got %v, want %v", got, tc.want)
			}
			if tc.s.Lost() != 0 {
				t.Errorf("Lost: got %d, want 0", tc.s.Lost())
			}
		})
	}
	all.Close()
	all.Close()
	vx7.Close()
	if got := h.Subscribers(); got != 1 {
		t.Errorf("Subscribers after two Close: got %d, want 1", got)
	}
	h.Observe(&in[0])
	if len(all.Events()) != 0 || len(pings.Events()) != 1 {
		t.Errorf("after Close: closed queue holds %d, open one %d; want 0 and 1", len(all.Events()), len(pings.Events()))
	}
}

func TestHubLosesEventsOfSlowSubscriber(t *testing.T) {
	h := NewHub()
	slow := h.Subscribe("", nil, 2)
	fast := h.Subscribe("", nil, 8)
	frame := obsPing()
	for i := 1; i <= 5; i++ {
		h.Observe(&Event{Stage: StageDeviceIn, Frame: uint64(i), Network: "vx42", Kind: "vxlan", Bytes: frame})
	}
	if got := slow.Lost(); got != 3 {
		t.Errorf("slow subscriber Lost: got %d, want 3", got)
	}
	if got := len(slow.Events()); got != 2 {
		t.Errorf("slow subscriber queue: got %d events, want 2", got)
	}
	if first := (<-slow.Events()).Frame; first != 1 {
		t.Errorf("slow subscriber keeps the oldest: got frame %d first, want 1", first)
	}
	if got, lost := len(fast.Events()), fast.Lost(); got != 5 || lost != 0 {
		t.Errorf("fast subscriber: got %d events and %d lost, want 5 and 0", got, lost)
	}
}

func TestHubCopiesBytes(t *testing.T) {
	h := NewHub()
	a := h.Subscribe("", nil, 4)
	b := h.Subscribe("", nil, 4)
	frame := obsPing()
	want := string(frame)
	h.Observe(&Event{Stage: StageDeviceIn, Network: "vx42", Kind: "vxlan", Bytes: frame, Remotes: []netip.Addr{obsPeer}})
	frame[0] ^= 0xff // the dataplane reuses its buffer
	ea, eb := <-a.Events(), <-b.Events()
	if string(ea.Bytes) != want {
		t.Errorf("queued bytes changed with the buffer: got % x, want % x", ea.Bytes[:6], []byte(want)[:6])
	}
	if ea != eb {
		t.Error("two subscribers got two copies, want one shared copy")
	}
}

func TestHubFilterBeforeCopy(t *testing.T) {
	h := NewHub()
	f, err := ParseFilter("tcp port 80")
	if err != nil {
		t.Fatal(err)
	}
	h.Subscribe("", f, 4)
	h.Subscribe("vx7", nil, 4)
	e := &Event{Stage: StageDeviceIn, Network: "vx42", Kind: "vxlan", Bytes: obsPing()}
	if n := testing.AllocsPerRun(100, func() { h.Observe(e) }); n != 0 {
		t.Errorf("Observe of an event no subscriber wants: got %v allocations, want 0", n)
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		expr  string
		token string
		word  int
		want  string // in the message
	}{
		{"hots 10.1.1.1", "hots", 1, "want host, net"},
		{"host", "host", 1, "host wants an IP address like 10.1.1.1 after it"},
		{"host 10.1.1", "10.1.1", 2, "host wants an IP address"},
		{"icmp or arp", "or", 2, `"or" is not supported`},
		{"icmp arp", "arp", 2, `want "and" between terms`},
		{"icmp and", "and", 2, "want a term after it"},
		{"net 10.1.0.0", "10.1.0.0", 2, "net wants a prefix"},
		{"mac aa:bb:cc", "aa:bb:cc", 2, "mac wants a MAC address"},
		{"tcp port http", "http", 3, "port wants a number"},
		{"udp dst port 70000", "70000", 4, "port wants a number"},
		{"not tcp port 80", "tcp", 2, "cannot negate a protocol with its port"},
		{"src icmp", "icmp", 2, "want host, net"},
		{"arp and not", "", 0, "want host, net"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := ParseFilter(tc.expr)
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FilterError", err)
			}
			if fe.Token != tc.token || (tc.word != 0 && fe.Word != tc.word) {
				t.Errorf("got token %q word %d, want %q word %d", fe.Token, fe.Word, tc.token, tc.word)
			}
			if !strings.Contains(err.Error(), tc.want) || (tc.token != "" && !strings.Contains(err.Error(), `"`+tc.token+`"`)) {
				t.Errorf("message %q: want it to name %q and say %q", err, tc.token, tc.want)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	var (
		ping  = obsPing()
		http  = obsEth(obsMACB, obsMACA, encap.EtherTypeIPv4, obsIPv4("10.1.1.1", "10.2.2.2", encap.ProtocolTCP, obsPorts(40000, 80)))
		dns   = obsEth(obsMACB, obsMACA, encap.EtherTypeIPv4, obsIPv4("10.1.1.1", "10.2.2.2", encap.ProtocolUDP, obsPorts(5353, 53)))
		arp   = obsEth([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, obsMACA, encap.EtherTypeARP, obsARP("10.1.1.1", "10.1.1.9"))
		v6    = obsEth(obsMACB, obsMACA, encap.EtherTypeIPv6, obsIPv6("fd00::1", "fd00::2", encap.ProtocolICMPv6, []byte{128, 0, 0, 0}))
		vlan  = append(append(obsEth(obsMACB, obsMACA, encap.EtherTypeVLAN, nil), 0, 5, 0x08, 0x00), obsIPv4("10.1.1.1", "10.2.2.2", encap.ProtocolTCP, obsPorts(40000, 80))...)
		ipip  = obsIPv4("10.244.0.5", "10.244.1.7", encap.ProtocolTCP, obsPorts(1234, 443))
		short = []byte{1, 2, 3}
	)
	dev := func(b []byte) *Event { return &Event{Stage: StageDeviceIn, Kind: "vxlan", Bytes: b} }
	tests := []struct {
		expr string
		e    *Event
		want bool
	}{
		{"", dev(short), true},
		{"icmp", dev(ping), true},
		{"icmp", dev(http), false},
		{"tcp port 80", dev(http), true},
		{"tcp port 80", dev(dns), false},
		{"udp port 53", dev(dns), true},
		{"udp dst port 53", dev(dns), true},
		{"udp src port 53", dev(dns), false},
		{"port 5353", dev(dns), true},
		{"host 10.2.2.2", dev(http), true},
		{"src host 10.2.2.2", dev(http), false},
		{"dst host 10.2.2.2 and tcp", dev(http), true},
		{"net 10.2.0.0/16", dev(dns), true},
		{"net 10.3.0.0/16", dev(dns), false},
		{"mac 02:42:00:00:00:01", dev(ping), true},
		{"dst mac 02:42:00:00:00:01", dev(ping), false},
		{"arp", dev(arp), true},
		{"arp and host 10.1.1.9", dev(arp), true},
		{"arp", dev(ping), false},
		{"not arp", dev(ping), true},
		{"ip", dev(ping), true},
		{"ip6", dev(ping), false},
		{"ip6 and icmp6", dev(v6), true},
		{"host fd00::2", dev(v6), true},
		{"icmp", dev(v6), false},
		{"tcp port 80 and host 10.1.1.1", dev(vlan), true},
		{"icmp", dev(short), false},
		{"not icmp", dev(short), true},
		{"tcp port 443", &Event{Stage: StageDeviceIn, Kind: "ipip", Bytes: ipip}, true},
		{"mac 02:42:00:00:00:01", &Event{Stage: StageDeviceIn, Kind: "ipip", Bytes: ipip}, false},
		{"host 10.244.1.7", &Event{Stage: StageDeviceIn, Kind: "ipip", Bytes: ipip}, true},
		{"icmp", &Event{Stage: StageDrop, Kind: "vxlan"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := ParseFilter(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tc.e); got != tc.want {
				t.Errorf("Match: got %v, want %v", got, tc.want)
			}
		})
	}
}

// A filter sees the inner frame at every stage, whatever wraps it.
func TestFilterMatchesEveryStage(t *testing.T) {
	rec := &recorder{}
	p := vxlanPoint(rec)
	o := p.on()
	buf, frame := obsBuf(obsPing())
	o.deviceIn(frame)
	pkt := obsOuter(t, buf, obsPeer)
	o.encap(pkt)
	o.sent([][]byte{pkt}, 0)
	o.received(pkt[encap.IPv4MinHeaderLen+encap.UDPHeaderLen:], netip.AddrPortFrom(obsPeer, 1))
	icmp, _ := ParseFilter("icmp and host 192.168.42.2 and mac 02:42:00:00:00:02")
	tcp, _ := ParseFilter("tcp")
	for _, e := range rec.take() {
		if !icmp.Match(e) {
			t.Errorf("%s (at %s): %q does not match, want it to", e.Stage, e.At, icmp)
		}
		if tcp.Match(e) {
			t.Errorf("%s (at %s): %q matches, want it not to", e.Stage, e.At, tcp)
		}
	}
}

func TestStageNames(t *testing.T) {
	for s := StageDeviceIn; s < numStages; s++ {
		got, ok := ParseStage(s.String())
		if !ok || got != s {
			t.Errorf("ParseStage(%q): got %v %v, want %v", s.String(), got, ok, s)
		}
	}
	if _, ok := ParseStage("sideways"); ok {
		t.Error(`ParseStage("sideways"): got ok, want not`)
	}
}

// BenchmarkObserverPointOff is what every stage costs while nobody
// observes: one atomic load.
func BenchmarkObserverPointOff(b *testing.B) {
	var p ObserverPoint
	frame := obsPing()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if t := p.on(); t != nil {
			t.deviceIn(frame)
		}
	}
}

// BenchmarkObserverPointOn is the cost of one event while a trace runs:
// numbering, copying and queueing it for one subscriber who keeps up.
func BenchmarkObserverPointOn(b *testing.B) {
	h := NewHub()
	s := h.Subscribe("", nil, DefaultDepth)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-s.Events():
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	p := vxlanPoint(h)
	frame := obsPing()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if t := p.on(); t != nil {
			t.deviceIn(frame)
		}
	}
}
