package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// Stage of a frame's trip through vtepd.
type Stage uint8

// Stages, in the order a frame meets them: transmit first, then receive.
const (
	// StageDeviceIn: a frame (VXLAN) or IP packet (IPIP) read from the device.
	StageDeviceIn Stage = iota + 1
	// StageLookup: where it goes: an FDB hit, a miss or a flood (VXLAN), a
	// route or none (IPIP).
	StageLookup
	// StageEncap: the outer headers written in front of it.
	StageEncap
	// StageSocketOut: handed to the underlay socket, one event per copy.
	StageSocketOut
	// StageSocketIn: received on the underlay socket.
	StageSocketIn
	// StageDecap: the outer headers taken off.
	StageDecap
	// StageLearn: the inner source MAC learnt (or not) from the sender.
	StageLearn
	// StageDeviceOut: written to the device.
	StageDeviceOut
	// StageDrop: dropped; Event.Drop says why and Event.At where.
	StageDrop
	numStages
)

var stageNames = [numStages]string{
	StageDeviceIn:  "device-in",
	StageLookup:    "lookup",
	StageEncap:     "encap",
	StageSocketOut: "socket-out",
	StageSocketIn:  "socket-in",
	StageDecap:     "decap",
	StageLearn:     "learn",
	StageDeviceOut: "device-out",
	StageDrop:      "drop",
}

// String is the stage's name as the control API reports it, like "device-in".
func (s Stage) String() string {
	if s == 0 || s >= numStages {
		return "unknown"
	}
	return stageNames[s]
}

// ParseStage is the stage called name, as String names it.
func ParseStage(name string) (Stage, bool) {
	for s := StageDeviceIn; s < numStages; s++ {
		if stageNames[s] == name {
			return s, true
		}
	}
	return 0, false
}

// Results of a lookup, in Event.Lookup.
const (
	LookupHit     = "hit"      // the FDB knows the destination MAC: one remote
	LookupMiss    = "miss"     // unknown unicast: flooded to Event.Remotes
	LookupFlood   = "flood"    // broadcast or multicast: flooded to Event.Remotes
	LookupRoute   = "route"    // an IPIP route: Event.Peer is its endpoint
	LookupNoRoute = "no-route" // no IPIP route covers the destination
)

// Event is one frame at one stage.
//
// Bytes holds, by stage (for StageDrop, by At):
//
//	device-in, lookup, decap, learn, device-out:
//	    the inner frame: Ethernet (VXLAN) or IP packet (IPIP)
//	encap, socket-out:
//	    the whole outer IP packet, inner frame included; or, when UDPPayload
//	    is set, the UDP payload (VXLAN header and frame) of a socket that
//	    writes the IP and UDP headers itself
//	socket-in:
//	    VXLAN: the UDP payload (UDPPayload is set): the socket hands over no
//	    more; IPIP: the whole outer IP packet, as the raw socket gives it
//
// A drop without bytes (nothing left to show) has none.
type Event struct {
	Stage Stage
	// Frame numbers the frames of one network: every event of one frame,
	// from device to socket or socket to device, carries the same number.
	Frame   uint64
	Network string
	VNI     uint32
	Kind    string // "vxlan" or "ipip"

	// Bytes is the frame or packet at this stage. It is valid only during
	// Observe: an observer that keeps it copies it.
	Bytes []byte
	// UDPPayload says Bytes of a socket stage starts at the UDP payload.
	UDPPayload bool

	// Peer is the remote VTEP: the destination going out, the sender coming
	// in, the FDB entry's or the route's remote at lookup and learn.
	Peer     netip.Addr
	PeerPort uint16
	// Local and LocalPort are this end of the underlay: with Peer they are
	// the addresses of the outer headers a socket did not hand over.
	Local     netip.Addr
	LocalPort uint16

	Lookup  string       // Lookup* at StageLookup
	Remotes []netip.Addr // every destination of a flood, group first
	Learn   string       // fdb.LearnResult's name at StageLearn
	Drop    string       // the Drop reason's name at StageDrop
	At      Stage        // at StageDrop: the stage the frame was dropped at

	Time int64 // unix nanoseconds
}

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

// lookupRoute reports an IPIP route lookup: to via when ok.
func (t *observing) lookupRoute(pkt []byte, via netip.Addr, ok bool) {
	e := t.event(StageLookup, pkt, false, false)
	e.Lookup = LookupNoRoute
	if ok {
		e.Lookup, e.Peer = LookupRoute, via
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

// drop reports a drop for reason d at stage at; b is in that stage's form.
func (t *observing) drop(d Drop, at Stage, b []byte) {
	t.dropFrom(d, at, b, netip.AddrPort{})
}

// dropFrom is drop for a packet from a known sender.
func (t *observing) dropFrom(d Drop, at Stage, b []byte, from netip.AddrPort) {
	udp := at == StageSocketIn && t.kind != kindIPIP
	e := t.event(at, b, udp, at == StageSocketIn)
	e.Stage, e.At, e.Drop = StageDrop, at, d.String()
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

// Hub is an Observer that hands every event to each of its subscribers
// whose network and filter it passes: trace and capture at once, for as
// many clients as ask. A subscriber that reads too slowly loses events,
// counted, rather than slow the forwarding loops down.
type Hub struct {
	mu   sync.Mutex
	subs atomic.Pointer[[]*Subscription] // replaced whole under mu
}

// NewHub returns a hub without subscribers.
func NewHub() *Hub {
	h := &Hub{}
	h.subs.Store(&[]*Subscription{})
	return h
}

// Subscription is one subscriber's queue of events.
type Subscription struct {
	h       *Hub
	network string
	filter  *Filter
	ch      chan *Event
	lost    atomic.Uint64
	once    sync.Once
}

// DefaultDepth is how many events a subscriber may fall behind by before
// it loses events.
const DefaultDepth = 1024

// Subscribe returns a queue of the events of network ("" for every
// network) that f lets through (nil lets everything through), up to depth
// of them waiting (DefaultDepth when depth <= 0). Close ends it.
func (h *Hub) Subscribe(network string, f *Filter, depth int) *Subscription {
	if depth <= 0 {
		depth = DefaultDepth
	}
	s := &Subscription{h: h, network: network, filter: f, ch: make(chan *Event, depth)}
	h.mu.Lock()
	defer h.mu.Unlock()
	next := append(slices.Clone(*h.subs.Load()), s)
	h.subs.Store(&next)
	return s
}

// Subscribers is how many subscriptions are open.
func (h *Hub) Subscribers() int { return len(*h.subs.Load()) }

// Events delivers the subscription's events in the order each forwarding
// loop saw them. An event and its bytes are shared with the other
// subscribers: read them, do not change them. The channel is never closed.
func (s *Subscription) Events() <-chan *Event { return s.ch }

// Lost is how many events were dropped because the queue was full.
func (s *Subscription) Lost() uint64 { return s.lost.Load() }

// Close ends the subscription; events already queued stay readable.
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.h
		h.mu.Lock()
		defer h.mu.Unlock()
		next := slices.DeleteFunc(slices.Clone(*h.subs.Load()), func(o *Subscription) bool { return o == s })
		h.subs.Store(&next)
	})
}

// Observe implements Observer: the event is matched against each
// subscriber's network and filter first, and copied once, only if somebody
// wants it.
func (h *Hub) Observe(e *Event) {
	var (
		c       *Event
		v       innerView
		decoded bool
	)
	for _, s := range *h.subs.Load() {
		if s.network != "" && s.network != e.Network {
			continue
		}
		if s.filter != nil && len(s.filter.terms) > 0 {
			if !decoded {
				v.decode(e)
				decoded = true
			}
			if !s.filter.match(&v) {
				continue
			}
		}
		if c == nil {
			c = clone(e)
		}
		select {
		case s.ch <- c:
		default:
			s.lost.Add(1)
		}
	}
}

func clone(e *Event) *Event {
	c := *e
	c.Bytes = bytes.Clone(e.Bytes)
	c.Remotes = slices.Clone(e.Remotes)
	return &c
}

// Filter is a parsed match expression, the small language trace and
// capture take. It is matched against the inner frame of every event, so a
// frame that matches does so at every stage. The language:
//
//	expr      = term { "and" term }
//	term      = [ "not" ] primitive
//	primitive = [ "src" | "dst" ] "host" ADDR    IPv4 or IPv6 address; ARP's too
//	          | [ "src" | "dst" ] "net" PREFIX   like 10.1.0.0/16
//	          | [ "src" | "dst" ] "mac" MAC      like aa:bb:cc:dd:ee:ff
//	          | [ "src" | "dst" ] "port" N       TCP or UDP port
//	          | "tcp" | "udp" | "icmp" | "icmp6" | "arp" | "ip" | "ip6"
//
// "tcp port 80" and "udp dst port 53" read as the protocol and the port.
// There is no "or" and no parentheses: run two traces instead.
type Filter struct {
	text  string
	terms []filterTerm
}

type primKind uint8

const (
	primHost primKind = iota + 1
	primNet
	primMAC
	primPort
	primProto // IP protocol (IPv4) or next header (IPv6)
	primARP
	primIPv4
	primIPv6
)

// direction of a src/dst qualifier.
type direction uint8

const (
	either direction = iota
	srcOnly
	dstOnly
)

type filterTerm struct {
	not    bool
	kind   primKind
	dir    direction
	prefix netip.Prefix // host is a full-length prefix
	mac    [6]byte
	port   uint16
	proto  uint8
	ip6    bool // primProto: in IPv6 only (icmp6)
}

// FilterError is an expression ParseFilter refuses: it names the word at
// fault and says what was wanted there.
type FilterError struct {
	Word  int    // 1-based position of Token among the words
	Token string // "" at the end of the expression
	Want  string
}

func (e *FilterError) Error() string {
	if e.Token == "" {
		return fmt.Sprintf("match: at the end: %s", e.Want)
	}
	return fmt.Sprintf("match: %q (word %d): %s", e.Token, e.Word, e.Want)
}

const wantPrimitive = "want host, net, mac, port, tcp, udp, icmp, icmp6, arp, ip or ip6 (after an optional not, src or dst)"

var protocols = map[string]filterTerm{
	"tcp":   {kind: primProto, proto: encap.ProtocolTCP},
	"udp":   {kind: primProto, proto: encap.ProtocolUDP},
	"icmp":  {kind: primProto, proto: encap.ProtocolICMP},
	"icmp6": {kind: primProto, proto: protocolICMPv6, ip6: true},
	"arp":   {kind: primARP},
	"ip":    {kind: primIPv4},
	"ip6":   {kind: primIPv6},
}

// protocolICMPv6 is ICMP for IPv6 (RFC 4443 section 1, IANA protocol 58).
const protocolICMPv6 = 58

// ParseFilter parses a match expression; "" matches everything. Errors are
// *FilterError.
func ParseFilter(expr string) (*Filter, error) {
	words := strings.Fields(expr)
	f := &Filter{text: strings.Join(words, " ")}
	i := 0
	word := func(k int) string {
		if k < len(words) {
			return words[k]
		}
		return ""
	}
	fail := func(want string) error { return &FilterError{Word: i + 1, Token: word(i), Want: want} }
	portNext := false // "tcp port 80": a port term may follow without "and"
	for i < len(words) {
		if len(f.terms) > 0 && !portNext {
			switch word(i) {
			case "and", "&&":
				i++
			case "or", "||":
				return nil, fail(`"or" is not supported: terms combine with "and" only`)
			default:
				return nil, fail(`want "and" between terms`)
			}
			if i == len(words) {
				return nil, &FilterError{Word: i, Token: words[i-1], Want: "want a term after it"}
			}
		}
		portNext = false
		var t filterTerm
		if w := word(i); w == "not" || w == "!" {
			t.not = true
			i++
		}
		if p, ok := protocols[word(i)]; ok {
			p.not = t.not
			k := i + 1
			if w := word(k); w == "src" || w == "dst" {
				k++
			}
			if word(k) == "port" && p.kind == primProto && (p.proto == encap.ProtocolTCP || p.proto == encap.ProtocolUDP) {
				if t.not {
					return nil, fail(`cannot negate a protocol with its port: write "not port N" or "not tcp" on its own`)
				}
				portNext = true
			}
			f.terms = append(f.terms, p)
			i++
			continue
		}
		switch word(i) {
		case "src":
			t.dir = srcOnly
			i++
		case "dst":
			t.dir = dstOnly
			i++
		}
		prim, arg := word(i), word(i+1)
		var want string
		switch prim {
		case "host":
			want = "host wants an IP address like 10.1.1.1"
		case "net":
			want = "net wants a prefix like 10.1.0.0/16"
		case "mac":
			want = "mac wants a MAC address like aa:bb:cc:dd:ee:ff"
		case "port":
			want = "port wants a number 0..65535"
		default:
			return nil, fail(wantPrimitive)
		}
		if arg == "" {
			return nil, fail(want + " after it")
		}
		i++
		switch prim {
		case "host":
			a, err := netip.ParseAddr(arg)
			if err != nil {
				return nil, fail(want)
			}
			a = a.Unmap()
			t.kind, t.prefix = primHost, netip.PrefixFrom(a, a.BitLen())
		case "net":
			p, err := netip.ParsePrefix(arg)
			if err != nil {
				return nil, fail(want)
			}
			t.kind, t.prefix = primNet, p.Masked()
		case "mac":
			m, err := fdb.ParseMAC(arg)
			if err != nil {
				return nil, fail(want)
			}
			t.kind, t.mac = primMAC, [6]byte(m)
		case "port":
			p, err := strconv.ParseUint(arg, 10, 16)
			if err != nil {
				return nil, fail(want)
			}
			t.kind, t.port = primPort, uint16(p)
		}
		i++
		f.terms = append(f.terms, t)
	}
	return f, nil
}

// String is the expression, words separated by one space.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// Match reports whether e's inner frame passes f. A nil or empty filter
// passes everything; an event without an inner frame passes only those.
func (f *Filter) Match(e *Event) bool {
	if f == nil || len(f.terms) == 0 {
		return true
	}
	var v innerView
	v.decode(e)
	return f.match(&v)
}

func (f *Filter) match(v *innerView) bool {
	for i := range f.terms {
		if f.terms[i].match(v) == f.terms[i].not {
			return false
		}
	}
	return true
}

func (t *filterTerm) match(v *innerView) bool {
	switch t.kind {
	case primHost, primNet:
		if !v.src.IsValid() {
			return false
		}
		return (t.dir != dstOnly && t.prefix.Contains(v.src)) || (t.dir != srcOnly && t.prefix.Contains(v.dst))
	case primMAC:
		if !v.eth {
			return false
		}
		return (t.dir != dstOnly && v.srcMAC == t.mac) || (t.dir != srcOnly && v.dstMAC == t.mac)
	case primPort:
		if !v.ports {
			return false
		}
		return (t.dir != dstOnly && v.sport == t.port) || (t.dir != srcOnly && v.dport == t.port)
	case primProto:
		return v.l3 != 0 && v.l3 != encap.EtherTypeARP && v.proto == t.proto && (!t.ip6 || v.l3 == encap.EtherTypeIPv6)
	case primARP:
		return v.l3 == encap.EtherTypeARP
	case primIPv4:
		return v.l3 == encap.EtherTypeIPv4
	case primIPv6:
		return v.l3 == encap.EtherTypeIPv6
	}
	return false
}

// innerView is what a filter looks at in an inner frame, decoded without
// allocating.
type innerView struct {
	eth            bool
	srcMAC, dstMAC [6]byte
	l3             uint16 // EtherType of what was decoded: IPv4, IPv6, ARP or 0
	src, dst       netip.Addr
	proto          uint8
	ports          bool
	sport, dport   uint16
}

// ARP for IPv4 over Ethernet (RFC 826): the sender's protocol address at
// 14, the target's at 24, in a 28-byte packet.
const (
	arpLen      = 28
	arpSenderPA = 14
	arpTargetPA = 24
)

func (v *innerView) decode(e *Event) {
	*v = innerView{}
	at := e.Stage
	if at == StageDrop {
		at = e.At
	}
	off := innerOffset(e.Kind, at, e.UDPPayload, e.Bytes)
	if off < 0 {
		return
	}
	b := e.Bytes[off:]
	var etype uint16
	if e.Kind == kindIPIP {
		if len(b) == 0 {
			return
		}
		switch b[0] >> 4 {
		case encap.IPv4Version:
			etype = encap.EtherTypeIPv4
		case encap.IPv6Version:
			etype = encap.EtherTypeIPv6
		default:
			return
		}
	} else {
		eth := encap.Ethernet(b)
		if !eth.IsValid() {
			return
		}
		v.eth, v.srcMAC, v.dstMAC = true, eth.Src(), eth.Dst()
		etype = eth.EtherType()
		b = b[encap.EthernetHeaderLen:]
		for i := 0; i < 2 && (etype == encap.EtherTypeVLAN || etype == encap.EtherTypeQinQ); i++ {
			if len(b) < encap.VLANTagLen {
				return
			}
			etype = binary.BigEndian.Uint16(b[2:])
			b = b[encap.VLANTagLen:]
		}
	}
	var l4 []byte
	switch etype {
	case encap.EtherTypeIPv4:
		ip := encap.IPv4(b)
		if len(b) < encap.IPv4MinHeaderLen || ip.Version() != encap.IPv4Version || ip.HeaderLen() < encap.IPv4MinHeaderLen || ip.HeaderLen() > len(b) {
			return
		}
		v.src, v.dst, v.proto = ip.Src(), ip.Dst(), ip.Protocol()
		if ip.FragmentOffset() == 0 {
			l4 = b[ip.HeaderLen():]
		}
	case encap.EtherTypeIPv6:
		if len(b) < encap.IPv6HeaderLen || b[0]>>4 != encap.IPv6Version {
			return
		}
		ip := encap.IPv6(b)
		v.src, v.dst, v.proto = ip.Src(), ip.Dst(), ip.NextHeader()
		l4 = b[encap.IPv6HeaderLen:]
	case encap.EtherTypeARP:
		v.l3 = etype
		if len(b) >= arpLen {
			v.src = netip.AddrFrom4([4]byte(b[arpSenderPA : arpSenderPA+4]))
			v.dst = netip.AddrFrom4([4]byte(b[arpTargetPA : arpTargetPA+4]))
		}
		return
	default:
		return
	}
	v.l3 = etype
	switch v.proto {
	case encap.ProtocolTCP, encap.ProtocolUDP, encap.ProtocolSCTP:
		if len(l4) >= 4 {
			v.ports = true
			v.sport = binary.BigEndian.Uint16(l4)
			v.dport = binary.BigEndian.Uint16(l4[2:])
		}
	}
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
