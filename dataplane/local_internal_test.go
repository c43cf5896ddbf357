package dataplane

import (
	"net/netip"
	"testing"

	"github.com/vtepd/vtepd/encap"
)

// evpnWorker is a transmit worker of a network that tracks its hosts,
// with peer known at 10.0.0.2 and a neighbour for ARP to answer.
func evpnWorker(tb testing.TB, track bool) (*vxlanTx, []byte, int) {
	tb.Helper()
	u, err := NewUnderlay(UnderlayConfig{Local: netip.MustParseAddr("10.0.0.1")}, discard{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	n := newNetwork(u, NetworkConfig{Name: "vx", VNI: 42, MTU: 1450, TrackLocal: track}, discard{})
	peer := [6]byte{2, 0, 0, 0, 0, 2}
	if err := n.table.AddExtern(peer, netip.MustParseAddr("10.0.0.2")); err != nil {
		tb.Fatal(err)
	}
	n.SetNeighbors(Neighbors{netip.MustParseAddr("192.168.42.2"): peer})
	buf := make([]byte, Headroom+maxPacket)
	f := testFrame(peer, [6]byte{2, 0, 0, 0, 0, 1})
	copy(buf[Headroom:], f)
	return n.txWorker(0), buf, len(f)
}

// TestLocalPathAllocatesNothing: noting the sender of each frame, and
// answering an ARP request, allocate nothing once warm.
func TestLocalPathAllocatesNothing(t *testing.T) {
	w, buf, l := evpnWorker(t, true)
	out := make([][]byte, 0, 1)
	w.forward(buf, l, out[:0]) // the first notes the MAC: a new entry
	if a := testing.AllocsPerRun(1000, func() { w.send(w.forward(buf, l, out[:0])) }); a != 0 {
		t.Errorf("forward with hosts tracked: %v allocations per frame, want 0", a)
	}
	arp := make([]byte, encap.ARPFrameLen)
	e := encap.Ethernet(arp)
	e.SetDst([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	e.SetSrc([6]byte{2, 0, 0, 0, 0, 1})
	e.SetEtherType(encap.EtherTypeARP)
	copy(arp[14:], []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 168, 42, 1, 0, 0, 0, 0, 0, 0, 192, 168, 42, 2})
	abuf := make([]byte, Headroom+maxPacket)
	copy(abuf[Headroom:], arp)
	w.forward(abuf, len(arp), out[:0])
	if a := testing.AllocsPerRun(1000, func() { w.forward(abuf, len(arp), out[:0]) }); a != 0 {
		t.Errorf("ARP answered: %v allocations per request, want 0", a)
	}
	if got := w.Counters.Load().ARPSuppressed; got < 1000 {
		t.Errorf("ARP suppressed %d, want every request (1001)", got)
	}
}

// BenchmarkForwardUnicast is one known unicast frame encapsulated and sent,
// with the hosts behind the device tracked (an EVPN network) or not.
func BenchmarkForwardUnicast(b *testing.B) {
	for _, track := range []bool{false, true} {
		name := "plain"
		if track {
			name = "evpn"
		}
		b.Run(name, func(b *testing.B) {
			w, buf, l := evpnWorker(b, track)
			out := make([][]byte, 0, 1)
			for b.Loop() {
				w.send(w.forward(buf, l, out[:0]))
			}
		})
	}
}
