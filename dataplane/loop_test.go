package dataplane

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// flakyLink fails its first reads with an error other than "closed", then
// delivers one frame, then blocks until closed.
type flakyLink struct {
	discard
	fails atomic.Int32
	given atomic.Bool
	done  chan struct{}
}

func (l *flakyLink) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if l.fails.Add(-1) >= 0 {
		return 0, errors.New("device hiccup")
	}
	if !l.given.Swap(true) {
		sizes[0] = copy(bufs[0][offset:], testFrame([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, [6]byte{2, 0, 0, 0, 0, 1}))
		return 1, nil
	}
	<-l.done
	return 0, errors.New("closed")
}

func (l *flakyLink) Close() error { close(l.done); return nil }

// countConn counts what is sent.
type countConn struct {
	discard
	sent atomic.Int32
}

func (c *countConn) WriteBatch(p [][]byte) (int, error) {
	c.sent.Add(int32(len(p)))
	return len(p), nil
}

// TestTransmitLoopOutlivesReadErrors: a device whose reads fail for a while
// does not end the loop; the next frame is still forwarded, and stopping
// the network ends the loop.
func TestTransmitLoopOutlivesReadErrors(t *testing.T) {
	conn := &countConn{}
	u, err := NewUnderlay(UnderlayConfig{Local: netip.MustParseAddr("10.0.0.1")}, conn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	link := &flakyLink{done: make(chan struct{})}
	link.fails.Store(3)
	n, err := u.AddNetwork(NetworkConfig{Name: "vx", VNI: 42, MTU: 1450, Remotes: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, link)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for conn.sent.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no frame forwarded after the device's read errors")
		}
		time.Sleep(time.Millisecond)
	}
	if err := u.RemoveNetwork(42); err != nil {
		t.Fatal(err)
	}
	if !n.stopped.Load() {
		t.Error("network not stopped")
	}
}

// brokenLink is a device queue whose every read fails with an error that
// may pass, until it is closed.
type brokenLink struct {
	discard
	reads  atomic.Int32
	closed atomic.Bool
}

func (l *brokenLink) Read([][]byte, []int, int) (int, error) {
	l.reads.Add(1)
	if l.closed.Load() {
		return 0, errors.New("closed")
	}
	return 0, errors.New("device hiccup")
}

func (l *brokenLink) Close() error { l.closed.Store(true); return nil }

// TestQueueReadErrorsStopNoOtherQueue: of a device's two queues, one keeps
// failing its reads; the other's frame is still forwarded and counted on
// its own queue, and stopping the network ends both workers.
func TestQueueReadErrorsStopNoOtherQueue(t *testing.T) {
	conn := &countConn{}
	u, err := NewUnderlay(UnderlayConfig{Local: netip.MustParseAddr("10.0.0.1")}, conn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	broken := &brokenLink{}
	good := &flakyLink{done: make(chan struct{})}
	link := &multiQueue{queues: []Link{broken, good}, name: "vx"}
	n, err := u.AddNetwork(NetworkConfig{Name: "vx", VNI: 42, MTU: 1450, Remotes: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, link)
	if err != nil {
		t.Fatal(err)
	}
	// The counters move after WriteBatch returns: wait for them, not for
	// the send.
	goodSent := func() uint64 {
		if qs := n.QueueStats(); len(qs) == 2 {
			return qs[1].TxPackets
		}
		return 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for goodSent() == 0 || n.Counters.Load().TxPackets == 0 || broken.reads.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d packets sent, queue stats %+v, %d failed reads of the broken queue; want the good queue's frame sent and counted while the other fails",
				conn.sent.Load(), n.QueueStats(), broken.reads.Load())
		}
		time.Sleep(time.Millisecond)
	}
	qs := n.QueueStats()
	if len(qs) != 2 || qs[0].TxPackets != 0 || qs[1].TxPackets != 1 {
		t.Errorf("queue stats: got %+v, want 2 queues, the first sent nothing, the second 1 packet", qs)
	}
	if got := n.Counters.Load().TxPackets; got != 1 {
		t.Errorf("tx packets: got %d, want 1", got)
	}
	// multiQueue.Close deletes the device by name: here there is none.
	if err := u.RemoveNetwork(42); err != nil {
		t.Fatal(err)
	}
	if !broken.closed.Load() {
		t.Error("the broken queue was not closed")
	}
}
