package controltest

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/encap"
)

// traceStream is one open trace of the fake: the events it was given when
// it opened, then what Emit sends it.
type traceStream struct {
	b       *Backend
	network string
	filter  *dataplane.Filter
	ch      chan control.TraceEvent
	closed  bool // under b.mu
}

// Trace implements control.Backend: a stream of the TraceEvents (then of
// what Emit sends) of req.Network that req.Match lets through, as the
// daemon would filter them.
func (b *Backend) Trace(req control.TraceRequest) (control.TraceStream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("Trace %q %q", req.Network, req.Match)
	if b.Fail != nil {
		return nil, b.Fail
	}
	f, err := dataplane.ParseFilter(req.Match)
	if err != nil {
		return nil, control.Errorf(control.ErrInvalid, "%v", err)
	}
	if req.Network != "" && !slices.ContainsFunc(b.Nets, func(n control.NetworkInfo) bool { return n.Name == req.Network }) {
		return nil, control.Errorf(control.ErrNotFound, "network %q: no such network", req.Network)
	}
	s := &traceStream{b: b, network: req.Network, filter: f, ch: make(chan control.TraceEvent, len(b.TraceEvents)+64)}
	for _, e := range b.TraceEvents {
		s.offer(e)
	}
	b.traces = append(b.traces, s)
	return s, nil
}

// Emit hands e to every open trace that would see it.
func (b *Backend) Emit(e control.TraceEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.traces {
		s.offer(e)
	}
}

// Tracing is how many trace streams are open: the server closes a stream
// when its client leaves.
func (b *Backend) Tracing() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.traces)
}

func (s *traceStream) offer(e control.TraceEvent) {
	if s.network != "" && e.Network != s.network {
		return
	}
	stage, _ := dataplane.ParseStage(e.Stage)
	at, _ := dataplane.ParseStage(e.At)
	de := dataplane.Event{Stage: stage, At: at, Kind: e.Kind, Bytes: e.Bytes, UDPPayload: e.UDPPayload}
	if !s.filter.Match(&de) {
		return
	}
	select {
	case s.ch <- e:
	default: // a test that emits this much reads nothing
	}
}

func (s *traceStream) Next(ctx context.Context) (control.TraceEvent, error) {
	select {
	case e := <-s.ch:
		return e, nil
	case <-ctx.Done():
		return control.TraceEvent{}, ctx.Err()
	}
}

func (s *traceStream) Lost() uint64 {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.b.TraceLost
}

func (s *traceStream) Close() error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	b.traces = slices.DeleteFunc(b.traces, func(o *traceStream) bool { return o == s })
	return nil
}

// Addresses and MACs of the synthetic pings: host 192.168.42.1 behind VTEP
// 10.0.0.1 pings 192.168.42.2 behind VTEP 10.0.0.2 on VNI 42 (network
// vx42); pod 10.244.0.5 pings 10.244.1.7 across ipip0.
var (
	PingLocal   = netip.MustParseAddr("10.0.0.1")
	PingRemote  = netip.MustParseAddr("10.0.0.2")
	PingMACA    = [6]byte{0x02, 0x42, 0, 0, 0, 0x01}
	PingMACB    = [6]byte{0x02, 0x42, 0, 0, 0, 0x02}
	PingTime    = time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.UTC)
	pingSrcPort = uint16(54321) // the remote's outer source port
)

// VXLANPing is the trace of one ping on vx42 as vtepd reports it: frame 1
// the echo request going out (device-in, an FDB hit, encap, socket-out),
// frame 2 the echo reply coming in (socket-in, decap, learn, device-out).
func VXLANPing() []control.TraceEvent {
	req := ethernet(PingMACB, PingMACA, echo("192.168.42.1", "192.168.42.2", 8))
	rep := ethernet(PingMACA, PingMACB, echo("192.168.42.2", "192.168.42.1", 0))
	out := make([]byte, encap.VXLANIPv4HeadersLen+len(req))
	copy(out[encap.VXLANIPv4HeadersLen:], req)
	o := encap.OuterIPv4{
		Src: PingLocal, Dst: PingRemote,
		SrcPort: encap.SourcePort(encap.FlowHash(req), encap.DefaultSourcePortMin, encap.DefaultSourcePortMax),
		DstPort: encap.DefaultVXLANPort, VNI: 42, TTL: encap.DefaultTTL,
	}
	if err := encap.EncapVXLANIPv4(out, &o); err != nil {
		panic(err)
	}
	in := make([]byte, encap.VXLANHeaderLen+len(rep))
	encap.PutVXLAN(in, 42)
	copy(in[encap.VXLANHeaderLen:], rep)

	ev := func(i int, frame uint64, stage string, b []byte) control.TraceEvent {
		return control.TraceEvent{
			Frame: frame, Stage: stage, Network: "vx42", Kind: control.KindVXLAN, VNI: 42,
			Time: PingTime.Add(time.Duration(i) * 10 * time.Microsecond), Bytes: b,
		}
	}
	peer, local := PingRemote.String(), PingLocal.String()
	events := []control.TraceEvent{
		ev(0, 1, control.StageDeviceIn, req),
		ev(1, 1, control.StageLookup, req),
		ev(2, 1, control.StageEncap, out),
		ev(3, 1, control.StageSocketOut, out),
		ev(40, 2, control.StageSocketIn, in),
		ev(41, 2, control.StageDecap, in[encap.VXLANHeaderLen:]),
		ev(42, 2, control.StageLearn, rep),
		ev(43, 2, control.StageDeviceOut, rep),
	}
	events[1].Lookup, events[1].Peer = control.LookupHit, peer
	for _, i := range []int{2, 3} {
		events[i].Peer, events[i].PeerPort = peer, encap.DefaultVXLANPort
		events[i].Local, events[i].LocalPort = local, o.SrcPort
	}
	for _, i := range []int{4, 5} {
		events[i].Peer, events[i].PeerPort = peer, pingSrcPort
		events[i].Local, events[i].LocalPort = local, encap.DefaultVXLANPort
	}
	events[4].UDPPayload = true
	events[6].Learn, events[6].Peer = "new", peer
	return events
}

// IPIPPing is the trace of one ping across ipip0: frame 1 going out
// (device-in, a route, encap, socket-out), frame 2 the reply (socket-in
// with the whole outer packet, decap, device-out).
func IPIPPing() []control.TraceEvent {
	req := echo("10.244.0.5", "10.244.1.7", 8)
	rep := echo("10.244.1.7", "10.244.0.5", 0)
	outer := func(src, dst netip.Addr, inner []byte) []byte {
		p := make([]byte, encap.IPv4MinHeaderLen+len(inner))
		copy(p[encap.IPv4MinHeaderLen:], inner)
		if err := encap.EncapIPIP(p, &encap.OuterIPIP{Src: src, Dst: dst, TTL: encap.DefaultTTL, DF: encap.IPIPDFCopy}); err != nil {
			panic(err)
		}
		return p
	}
	out, in := outer(PingLocal, PingRemote, req), outer(PingRemote, PingLocal, rep)
	ev := func(i int, frame uint64, stage string, b []byte) control.TraceEvent {
		return control.TraceEvent{
			Frame: frame, Stage: stage, Network: "ipip0", Kind: control.KindIPIP,
			Time: PingTime.Add(time.Duration(i) * 10 * time.Microsecond), Bytes: b,
		}
	}
	events := []control.TraceEvent{
		ev(0, 1, control.StageDeviceIn, req),
		ev(1, 1, control.StageLookup, req),
		ev(2, 1, control.StageEncap, out),
		ev(3, 1, control.StageSocketOut, out),
		ev(40, 2, control.StageSocketIn, in),
		ev(41, 2, control.StageDecap, in[encap.IPv4MinHeaderLen:]),
		ev(42, 2, control.StageDeviceOut, rep),
	}
	events[1].Lookup = control.LookupRoute
	for i := 1; i < len(events)-1; i++ {
		events[i].Peer = PingRemote.String()
	}
	for i := 2; i < len(events)-1; i++ {
		events[i].Local = PingLocal.String() // the socket stages
	}
	return events
}

// echo is an IPv4 ICMP echo request (type 8) or reply (0) as ping(8)
// sends it: identifier 1, sequence 1, 56 bytes of data, DF set.
func echo(src, dst string, typ byte) []byte {
	data := make([]byte, 56) // each byte its offset in the ICMP message
	for i := range data {
		data[i] = byte(encap.ICMPv4HeaderLen + i)
	}
	p := make([]byte, encap.IPv4MinHeaderLen+encap.ICMPv4HeaderLen+len(data))
	if _, err := encap.PutICMPv4Echo(p, netip.MustParseAddr(src), netip.MustParseAddr(dst), 0x1c46, typ, 1, 1, data); err != nil {
		panic(err) // fixed IPv4 addresses and a buffer of the right size
	}
	return p
}

func ethernet(dst, src [6]byte, payload []byte) []byte {
	f := make([]byte, encap.EthernetHeaderLen+len(payload))
	e := encap.Ethernet(f)
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetEtherType(encap.EtherTypeIPv4)
	copy(f[encap.EthernetHeaderLen:], payload)
	return f
}
