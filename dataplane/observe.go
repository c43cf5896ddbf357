package dataplane

import (
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// The observer point: a place where trace and capture see each frame at each
// stage of its trip through vtepd. A forwarding loop asks its point once per
// stage; when nobody observes, that costs one atomic load and nothing else.
// When somebody does, each event costs a copy of its bytes and a channel send
// per subscriber: that is the price of looking, paid only while looking.

// Observer sees events. Observe is called from the forwarding loops, several
// at once: it must be quick and must not block, and it may not keep e or
// e.Bytes after it returns.
type Observer interface {
	Observe(e *Event)
}

// ObserverPoint holds at most one Observer. The forwarding loops ask it at
// every stage; Load (and the loops' own check) is one atomic load.
type ObserverPoint struct {
	p   atomic.Pointer[observing]
	lbl atomic.Pointer[label] // what Set labels events with
}

// label says whose events a point reports.
type label struct {
	network string
	vni     uint32
	kind    string // "vxlan" or "ipip"
	local   netip.AddrPort
}

// Load returns the observer, nil when nobody observes.
func (p *ObserverPoint) Load() Observer {
	if t := p.p.Load(); t != nil {
		return t.o
	}
	return nil
}

// Set makes o the observer, nil for none, and returns the one it replaces.
// Events carry the network the point was last labelled with.
func (p *ObserverPoint) Set(o Observer) (previous Observer) {
	var l label
	if lp := p.lbl.Load(); lp != nil {
		l = *lp
	}
	return p.set(o, l)
}

// set makes o the observer of the frames of the network l names.
func (p *ObserverPoint) set(o Observer, l label) Observer {
	p.lbl.Store(&l)
	var next *observing
	if o != nil {
		next = &observing{o: o, label: l}
	}
	if prev := p.p.Swap(next); prev != nil {
		return prev.o
	}
	return nil
}

// on returns what the forwarding loops report to, nil when nobody observes.
// A call site reads, on one line:
//
//	if t := n.obs.on(); t != nil { t.deviceIn(frame) }
func (p *ObserverPoint) on() *observing { return p.p.Load() }

// frameSlots is the size of the table that ties a frame's later stages to
// its first: more than the frames a network's workers hold at once
// (linkBatch per transmit worker, connBatch per receive worker, eight of
// each with the default queues).
const (
	frameSlotBits = 10
	frameSlots    = 1 << frameSlotBits
)

// observing is one observer with the label of its point and the frames in
// flight. Its methods are the call sites' one-liners.
type observing struct {
	o Observer
	label
	seq    atomic.Uint64
	frames [frameSlots]atomic.Pointer[frameTag]
}

// frameTag ties the address of a frame's inner bytes, the same at every
// stage since the dataplane moves frames in place, to the frame's number.
type frameTag struct {
	addr uintptr
	id   uint64
}

func frameSlot(addr uintptr) int {
	// Fibonacci hashing: buffers sit far apart, their low bits alike.
	return int(uint64(addr) * 0x9e3779b97f4a7c15 >> (64 - frameSlotBits))
}

// start numbers a new frame whose inner bytes are at addr (0: unknown).
func (t *observing) start(addr uintptr) uint64 {
	id := t.seq.Add(1)
	if addr != 0 {
		t.frames[frameSlot(addr)].Store(&frameTag{addr, id})
	}
	return id
}

// frameOf returns the number of the frame at addr, or numbers it as a new
// one (a frame vtepd made itself, or whose start was overwritten).
func (t *observing) frameOf(addr uintptr) uint64 {
	if addr != 0 {
		if tag := t.frames[frameSlot(addr)].Load(); tag != nil && tag.addr == addr {
			return tag.id
		}
	}
	return t.start(addr)
}

// emit stamps e with the label and the time and hands it to the observer.
func (t *observing) emit(e *Event) {
	e.Network, e.Kind = t.network, t.kind
	if e.VNI == 0 {
		e.VNI = t.vni
	}
	e.Time = time.Now().UnixNano()
	t.o.Observe(e)
}

// event fills in a new event of one stage for the frame whose bytes (in the
// stage's form) are b.
func (t *observing) event(s Stage, b []byte, udpPayload bool, fresh bool) Event {
	e := Event{Stage: s, Bytes: b, UDPPayload: udpPayload}
	addr := innerAddr(t.kind, s, udpPayload, b)
	if fresh {
		e.Frame = t.start(addr)
	} else {
		e.Frame = t.frameOf(addr)
	}
	return e
}

// deviceIn reports a frame read from the device: a new frame.
func (t *observing) deviceIn(frame []byte) {
	e := t.event(StageDeviceIn, frame, false, true)
	t.emit(&e)
}

// segment numbers a segment cut from a super-frame as a frame of its own,
// so its later stages are not taken for an older frame's at that address.
func (t *observing) segment(seg []byte) {
	t.start(innerAddr(t.kind, StageDeviceIn, false, seg))
}

// lookupHit reports an FDB hit: the frame goes to remote.
func (t *observing) lookupHit(frame []byte, remote netip.Addr) {
	e := t.event(StageLookup, frame, false, false)
	e.Lookup, e.Peer = LookupHit, remote
	t.emit(&e)
}

// lookupFlood reports a frame flooded to the group (when valid) and the
// flood list: a miss for unicast, a flood for broadcast and multicast.
func (t *observing) lookupFlood(frame []byte, group netip.Addr, remotes []netip.Addr) {
	e := t.event(StageLookup, frame, false, false)
	e.Lookup = LookupFlood
	if len(frame) >= encap.EthernetHeaderLen && frame[0]&1 == 0 {
		e.Lookup = LookupMiss
	}
	if group.IsValid() {
		e.Remotes = append(append(make([]netip.Addr, 0, len(remotes)+1), group), remotes...)
	} else {
		e.Remotes = remotes
	}
	t.emit(&e)
}

// lookupRoute reports an IPIP route lookup: to via by the route for
// prefix when ok.
func (t *observing) lookupRoute(pkt []byte, via netip.Addr, prefix netip.Prefix, ok bool) {
	e := t.event(StageLookup, pkt, false, false)
	e.Lookup = LookupNoRoute
	if ok {
		e.Lookup, e.Peer, e.Route = LookupRoute, via, prefix
	}
	t.emit(&e)
}

// encap reports the whole outer IP packet pkt, headers just written.
func (t *observing) encap(pkt []byte) {
	e := t.event(StageEncap, pkt, false, false)
	e.Local, e.Peer, e.LocalPort, e.PeerPort = outerAddrs(pkt)
	t.emit(&e)
}

// encapPayload reports a VXLAN datagram whose IP and UDP headers the socket
// will write: the VXLAN header just written in front of the frame.
func (t *observing) encapPayload(dgram []byte, remote netip.Addr) {
	e := t.event(StageEncap, dgram, true, false)
	e.Peer, e.PeerPort = remote, t.local.Port()
	t.emit(&e)
}

// sent reports a batch of whole outer IP packets after the socket took the
// first n: those went out, the rest were refused.
func (t *observing) sent(pkts [][]byte, n int) {
	for i, p := range pkts {
		e := t.event(StageSocketOut, p, false, false)
		e.Local, e.Peer, e.LocalPort, e.PeerPort = outerAddrs(p)
		if i >= n {
			e.Stage, e.At, e.Drop = StageDrop, StageSocketOut, DropSend.String()
		}
		t.emit(&e)
	}
}

// sentPayload reports UDP payloads sent to remote from srcPort by a socket
// that writes the IP and UDP headers itself: train holds datagrams of seg
// bytes each (the last maybe shorter), one datagram when seg is len(train).
// A non-nil err means none went out.
func (t *observing) sentPayload(train []byte, seg int, remote netip.Addr, srcPort uint16, err error) {
	if seg <= 0 {
		seg = len(train)
	}
	for off := 0; off < len(train); off += seg {
		e := t.event(StageSocketOut, train[off:min(off+seg, len(train))], true, false)
		e.Peer, e.PeerPort = remote, t.local.Port()
		e.Local, e.LocalPort = t.local.Addr(), srcPort
		if err != nil {
			e.Stage, e.At, e.Drop = StageDrop, StageSocketOut, DropSend.String()
		}
		t.emit(&e)
	}
}

// received reports what the socket handed over from a sender: a new frame,
// then its decapsulation. b is the UDP payload (VXLAN) or the whole outer
// IP packet (IPIP).
func (t *observing) received(b []byte, from netip.AddrPort) {
	udp := t.kind != kindIPIP
	e := t.event(StageSocketIn, b, udp, true)
	e.Peer, e.PeerPort = from.Addr().Unmap(), from.Port()
	e.Local, e.LocalPort = t.local.Addr(), t.local.Port()
	t.emit(&e)
	if off := innerOffset(t.kind, StageSocketIn, udp, b); off >= 0 {
		inner := b[off:]
		if in := encap.IPv4(inner); !udp && in.IsValid() {
			inner = inner[:in.TotalLength()] // as DecapIPIP trims it
		}
		d := Event{Stage: StageDecap, Frame: e.Frame, Bytes: inner, Peer: e.Peer, PeerPort: e.PeerPort, Local: e.Local, LocalPort: e.LocalPort}
		t.emit(&d)
	}
}

// learnt reports what learning the frame's source MAC at remote did.
func (t *observing) learnt(frame []byte, res fdb.LearnResult, remote netip.Addr) {
	e := t.event(StageLearn, frame, false, false)
	e.Learn, e.Peer = res.String(), remote
	t.emit(&e)
}

// deviceOut reports a frame handed to the device.
func (t *observing) deviceOut(frame []byte) {
	e := t.event(StageDeviceOut, frame, false, false)
	t.emit(&e)
}

// suppressed reports the request frame req (an ARP request or neighbour
// solicitation) answered with reply from the device: its lookup, and its
// last stage. The reply's write is reported after it, as a frame of its
// own: a filter that matched the request may not match its answer.
func (t *observing) suppressed(req, reply []byte) {
	e := t.event(StageLookup, req, false, false)
	e.Lookup, e.Answer = LookupSuppressed, reply
	t.emit(&e)
}

// drop reports a drop for reason d at stage at; b is in that stage's form.
func (t *observing) drop(d Drop, at Stage, b []byte) {
	t.dropFrom(d, at, b, netip.AddrPort{})
}

// dropFrom is drop for a packet from a known sender.
func (t *observing) dropFrom(d Drop, at Stage, b []byte, from netip.AddrPort) {
	udp := at == StageSocketIn && t.kind != kindIPIP
	e := t.event(at, b, udp, at == StageSocketIn)
	e.Stage, e.At, e.Drop = StageDrop, at, dropName(d, t.kind == kindIPIP)
	if from.IsValid() {
		e.Peer, e.PeerPort = from.Addr().Unmap(), from.Port()
		e.Local, e.LocalPort = t.local.Addr(), t.local.Port()
	}
	if udp && t.vni == 0 && len(b) >= encap.VXLANHeaderLen {
		// The underlay's drops (an unknown VNI) belong to no network: the
		// event says which VNI the packet asked for.
		e.VNI = encap.VXLAN(b).VNI()
	}
	t.emit(&e)
}

const kindIPIP = "ipip"

// innerOffset is where the inner frame (VXLAN) or packet (IPIP) starts in b,
// the bytes of stage s, or -1 when b is too short to tell.
func innerOffset(kind string, s Stage, udpPayload bool, b []byte) int {
	switch s {
	case StageEncap, StageSocketOut, StageSocketIn:
		return encap.InnerOffset(b, udpPayload, kind == kindIPIP)
	}
	return 0
}

// innerAddr is the address of the inner bytes in b: the same at every stage
// of one frame, since frames are encapsulated and decapsulated in place.
// Zero when there are none.
func innerAddr(kind string, s Stage, udpPayload bool, b []byte) uintptr {
	off := innerOffset(kind, s, udpPayload, b)
	if off < 0 || off >= len(b) {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(off)
}

// outerAddrs reads the addresses of a whole outer IP packet, and its UDP
// ports when it carries UDP.
func outerAddrs(pkt []byte) (src, dst netip.Addr, sport, dport uint16) {
	var off int
	var proto uint8
	switch {
	case len(pkt) >= encap.IPv4MinHeaderLen && pkt[0]>>4 == encap.IPv4Version:
		ip := encap.IPv4(pkt)
		src, dst, proto, off = ip.Src(), ip.Dst(), ip.Protocol(), ip.HeaderLen()
	case len(pkt) >= encap.IPv6HeaderLen && pkt[0]>>4 == encap.IPv6Version:
		ip := encap.IPv6(pkt)
		src, dst, proto, off = ip.Src().Unmap(), ip.Dst().Unmap(), ip.NextHeader(), encap.IPv6HeaderLen
	default:
		return
	}
	if proto == encap.ProtocolUDP && len(pkt) >= off+encap.UDPHeaderLen {
		u := encap.UDP(pkt[off:])
		sport, dport = u.SrcPort(), u.DstPort()
	}
	return
}

// SetObserver makes o see this network's frames at every stage; nil stops
// it. It returns the observer it replaces.
func (n *Network) SetObserver(o Observer) Observer {
	return n.obs.set(o, label{network: n.cfg.Name, vni: n.cfg.VNI, kind: "vxlan", local: netip.AddrPortFrom(n.u.cfg.Local, n.u.cfg.Port)})
}

// SetObserver is Network.SetObserver for an IPIP network.
func (n *IPIPNetwork) SetObserver(o Observer) Observer {
	return n.obs.set(o, label{network: n.cfg.Name, kind: kindIPIP, local: netip.AddrPortFrom(n.u.local, 0)})
}

// SetObserver makes o see what the underlay drops before a network is known.
func (u *Underlay) SetObserver(o Observer) Observer {
	return u.obs.set(o, label{network: "underlay", kind: "vxlan", local: netip.AddrPortFrom(u.cfg.Local, u.cfg.Port)})
}

// SetObserver is Underlay.SetObserver for the IPIP underlay.
func (u *IPIPUnderlay) SetObserver(o Observer) Observer {
	return u.obs.set(o, label{network: "underlay", kind: kindIPIP, local: netip.AddrPortFrom(u.local, 0)})
}
