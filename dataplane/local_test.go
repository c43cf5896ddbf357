package dataplane_test

import (
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// TestTrackLocalAndSuppressARP: on a network that tracks its hosts (EVPN),
// the source MACs read from the device and the addresses their ARP shows
// are kept for the control plane; an ARP request for a neighbour the
// control plane named is answered from the device and not flooded, one
// for another address is flooded; both are counted.
func TestTrackLocalAndSuppressARP(t *testing.T) {
	w := linktest.NewWire()
	a, b := newHost(t, w, "10.0.0.1"), newHost(t, w, "10.0.0.2")
	la := linktest.NewLink("vx")
	n, err := a.u.AddNetwork(dataplane.NetworkConfig{Name: "vx", VNI: 42, MTU: 1450, TrackLocal: true,
		Remotes: []netip.Addr{b.addr}, FDB: fdb.Config{}}, la)
	if err != nil {
		t.Fatal(err)
	}
	lb := b.addNet(t, 42, fdb.Config{}, a)
	ipA, ipB, ipC := netip.MustParseAddr("192.168.42.1"), netip.MustParseAddr("192.168.42.2"), netip.MustParseAddr("192.168.42.3")

	// No neighbours yet: the request is flooded, and A is noted.
	req := linktest.ARPFrame(bcast, macA, encap.ARPRequest, ipA, ipB)
	la.Inject(req)
	recv(t, lb)
	loc := n.Local()
	waitFor(t, "A's MAC and address noted", func() bool {
		r, ok := loc.IPv4.Lookup(macA)
		return ok && r == ipA
	})
	if r, ok := loc.MACs.Lookup(macA); !ok || r != a.addr {
		t.Errorf("local MACs: got %v, %v; want A at %v", r, ok, a.addr)
	}
	if s := n.Counters.Load(); s.ARPSuppressed != 0 || s.ARPFlooded != 0 {
		t.Errorf("without neighbours: suppressed %d, flooded %d; want 0, 0 (nothing to suppress with)", s.ARPSuppressed, s.ARPFlooded)
	}

	// B named: A's request is answered on A's own device, as B would, and
	// a trace of the request ends with the answer written into the device.
	n.SetNeighbors(dataplane.Neighbors{ipB: macB})
	seen := &stageLog{}
	n.SetObserver(seen)
	la.Inject(req)
	got := recv(t, la)
	want := linktest.ARPFrame(macA, macB, encap.ARPReply, ipB, ipA)
	copy(want[encap.EthernetHeaderLen+18:], macA[:]) // target hardware address: the asker
	if string(got) != string(want) {
		t.Errorf("reply:\n got % x\nwant % x", got, want)
	}
	// The request's frame ends at its lookup, which holds the answer; the
	// answer's write is a frame of its own (a filter matching the request
	// need not match it). Other frames (the flood's copies) are left alone.
	waitFor(t, "the answer's device-out", func() bool {
		for _, e := range seen.take() {
			if e.Stage == dataplane.StageDeviceOut && string(e.Bytes) == string(want) {
				return true
			}
		}
		return false
	})
	var reqFrame []dataplane.Event
	var id uint64
	for _, e := range seen.take() {
		if e.Stage == dataplane.StageDeviceIn && string(e.Bytes) == string(req) {
			id = e.Frame
		}
		if id != 0 && e.Frame == id {
			reqFrame = append(reqFrame, e)
		}
	}
	if len(reqFrame) != 2 || reqFrame[1].Stage != dataplane.StageLookup || reqFrame[1].Lookup != dataplane.LookupSuppressed ||
		string(reqFrame[1].Bytes) != string(req) || string(reqFrame[1].Answer) != string(want) {
		t.Errorf("trace of a suppressed request: got %+v; want device-in, then a lookup suppressed with the request and its answer", reqFrame)
	}
	n.SetObserver(nil)
	none(t, lb, "a suppressed request")
	// C is nobody's: flooded and counted as such.
	la.Inject(linktest.ARPFrame(bcast, macA, encap.ARPRequest, ipA, ipC))
	recv(t, lb)
	waitFor(t, "the counters", func() bool {
		s := n.Counters.Load()
		return s.ARPSuppressed == 1 && s.ARPFlooded == 1
	})
	// The same for IPv6: a neighbour solicitation for B's address is
	// answered with B's advertisement.
	v6A, v6B := netip.MustParseAddr("fd42::1"), netip.MustParseAddr("fd42::2")
	n.SetNeighbors(dataplane.Neighbors{ipB: macB, v6B: macB})
	la.Inject(solicitFrame(macA, v6A, v6B))
	na := recv(t, la)
	if target, ok := encap.NeighborSource(na); !ok || target != v6B || encap.Ethernet(na).Dst() != macA || encap.Ethernet(na).Src() != macB {
		t.Errorf("advertisement: from %v (%v), % x", target, ok, na[:14])
	}
	none(t, lb, "a suppressed solicitation")
	waitFor(t, "A's IPv6 address noted", func() bool {
		r, ok := loc.IPv6.Lookup(macA)
		return ok && r == v6A
	})

	// A probe (sender 0.0.0.0) gives no address; a unicast frame from C's
	// MAC is noted as local.
	la.Inject(frame(macB, macC, 1, 2, "x"))
	recv(t, lb)
	waitFor(t, "C's MAC noted", func() bool { _, ok := loc.MACs.Lookup(macC); return ok })
	if _, ok := loc.IPv4.Lookup(macC); ok {
		t.Error("C has an address without having shown one")
	}
}

// stageLog is an Observer that keeps a copy of each event's stage, frame
// number, lookup, bytes and answer.
type stageLog struct {
	mu sync.Mutex
	ev []dataplane.Event
}

func (l *stageLog) Observe(e *dataplane.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, dataplane.Event{Stage: e.Stage, Frame: e.Frame, Lookup: e.Lookup, Bytes: slices.Clone(e.Bytes), Answer: slices.Clone(e.Answer)})
}

func (l *stageLog) take() []dataplane.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ev)
}

// solicitFrame is the neighbour solicitation src (at from) sends to
// resolve target (RFC 4861 section 4.3), to target's solicited-node group.
func solicitFrame(src [6]byte, from, target netip.Addr) []byte {
	f := make([]byte, encap.EthernetHeaderLen+encap.IPv6HeaderLen+24)
	e := encap.Ethernet(f)
	t := target.As16()
	e.SetDst([6]byte{0x33, 0x33, 0xff, t[13], t[14], t[15]})
	e.SetSrc(src)
	e.SetEtherType(encap.EtherTypeIPv6)
	ip := encap.IPv6(f[encap.EthernetHeaderLen:])
	ip.SetVersion()
	ip.SetPayloadLength(24)
	ip.SetNextHeader(encap.ProtocolICMPv6)
	ip.SetHopLimit(255)
	ip.SetSrc(from)
	ip.SetDst(netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]}))
	m := f[encap.EthernetHeaderLen+encap.IPv6HeaderLen:]
	m[0] = encap.ICMPv6NeighborSolicit
	copy(m[8:], t[:])
	return f
}
