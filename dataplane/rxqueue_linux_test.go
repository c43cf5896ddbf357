//go:build linux

package dataplane

import (
	"errors"
	"testing"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// vnetRecorder is a device with offloads that keeps, of each WriteVnet, the
// number of parts and bytes it was given.
type vnetRecorder struct {
	parts, bytes []int
}

func (l *vnetRecorder) Name() string                                 { return "recorder" }
func (l *vnetRecorder) Read([][]byte, []int, int) (int, error)       { return 0, errors.New("no reads") }
func (l *vnetRecorder) ReadVnet([][]byte, []int, int) (int, error)   { return 0, errors.New("no reads") }
func (l *vnetRecorder) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
func (l *vnetRecorder) Close() error                                 { return nil }
func (l *vnetRecorder) USO() bool                                    { return false }
func (l *vnetRecorder) WriteVnet(w *vnetWriter, parts [][]byte) error {
	n := 0
	for _, p := range parts[1:] {
		n += len(p)
	}
	l.parts, l.bytes = append(l.parts, len(parts)), append(l.bytes, n)
	return nil
}

// TestRxQueueCoalescesWithoutAllocating: a receive worker's batch of TCP
// segments of one flow is written into a device with offloads as one
// super-frame (the virtio-net header, the first segment whole and the
// others' payloads), and writing it allocates nothing.
func TestRxQueueCoalescesWithoutAllocating(t *testing.T) {
	const mss, n = 1400, 10
	super, h := tcpSuperFrame(t, fdb.MAC{2, 0, 0, 0, 0, 2}, mss, n, 0, 1000)
	out := make([]byte, 2*len(super))
	segs, segLen, lastLen, err := encap.GSOSplit(super, h, encap.EthernetHeaderLen, out, 0)
	if err != nil || segs != n || segLen != lastLen {
		t.Fatalf("GSOSplit: %d segments of %d and %d, %v; want %d equal ones", segs, segLen, lastLen, err, n)
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = out[i*segLen : (i+1)*segLen]
	}
	first := append([]byte(nil), frames[0]...) // coalescing rewrites the first segment's headers

	var c Counters
	c.init(1)
	l := &vnetRecorder{}
	q := newRxQueue(0)
	write := func() {
		copy(frames[0], first)
		for _, f := range frames {
			q.add(l, c.shard(0), nil, encap.EthernetHeaderLen, f)
		}
		q.flush()
	}
	write()
	hdr := segLen - mss
	if len(l.parts) != 1 || l.parts[0] != n+1 || l.bytes[0] != hdr+n*mss {
		t.Fatalf("writes: parts %v bytes %v; want one of %d parts and %d bytes", l.parts, l.bytes, n+1, hdr+n*mss)
	}
	if s := c.Load(); s.RxPackets != n || s.Offload.CoalescedFrames != n {
		t.Errorf("counters: %d packets, %d coalesced; want %d and %d", s.RxPackets, s.Offload.CoalescedFrames, n, n)
	}
	if a := testing.AllocsPerRun(100, write); a != 0 {
		t.Errorf("allocations per coalesced write: got %v, want 0", a)
	}
}
