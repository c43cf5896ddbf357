package dataplane

import (
	"bytes"
	"errors"
	"testing"
)

// refusingLink is a Link whose Write takes frames until one starts with
// 0xee, which it refuses, as a device refuses a frame it cannot take.
type refusingLink struct {
	written [][]byte
	writes  int
}

var errRefused = errors.New("refused")

func (l *refusingLink) Name() string                           { return "refusing" }
func (l *refusingLink) Read([][]byte, []int, int) (int, error) { return 0, errors.New("no reads") }
func (l *refusingLink) Close() error                           { return nil }
func (l *refusingLink) Write(bufs [][]byte, offset int) (int, error) {
	l.writes++
	for i, b := range bufs {
		if b[offset] == 0xee {
			return i, errRefused
		}
		l.written = append(l.written, append([]byte(nil), b[offset:]...))
	}
	return len(bufs), nil
}

// TestRxQueueWritesBatch: a device without offloads gets a receive
// worker's batch in one Write; a frame it refuses is counted as a drop,
// and the frames after it are still written, in order, and counted.
func TestRxQueueWritesBatch(t *testing.T) {
	var c Counters
	c.init(1)
	l := &refusingLink{}
	q := newRxQueue(0)
	frames := [][]byte{{1, 1}, {2, 2, 2}, {0xee, 0}, {4}, {0xee}, {6, 6, 6, 6}}
	for _, f := range frames {
		q.add(l, c.shard(0), nil, 14, f)
	}
	q.flush()
	want := [][]byte{{1, 1}, {2, 2, 2}, {4}, {6, 6, 6, 6}}
	if len(l.written) != len(want) {
		t.Fatalf("frames written: got %d, want %d", len(l.written), len(want))
	}
	for i := range want {
		if !bytes.Equal(l.written[i], want[i]) {
			t.Errorf("frame %d written: got % x, want % x", i, l.written[i], want[i])
		}
	}
	if l.writes != 3 {
		t.Errorf("writes: got %d, want 3 (one for the batch, one after each refusal)", l.writes)
	}
	s := c.Load()
	if s.RxPackets != 4 || s.RxBytes != 10 || c.DropCount(DropLinkWrite) != 2 {
		t.Errorf("counters: %d packets, %d bytes, %d link write drops; want 4, 10, 2", s.RxPackets, s.RxBytes, c.DropCount(DropLinkWrite))
	}
}
