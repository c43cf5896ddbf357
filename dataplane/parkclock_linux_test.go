package dataplane

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestWorkerTime: a receiving socket's reader keeps the time it waits in
// the runtime's poller in its worker's shard, counted while the wait is
// under way as well as after it, and the shard's stats give the worker's
// time as up and busy (up less the waits); a shard without a worker has
// none, and a worker that ended counts as waiting from then on.
func TestWorkerTime(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	r := &rxSock{rx: rx}
	if r.rxr, err = newMmsgReader(rx); err != nil {
		t.Fatal(err)
	}
	var c Counters
	c.init(2)
	sh := c.shard(0)
	sh.startWorker(r)
	if s := c.Shards()[1]; s.Up != 0 || s.Busy != 0 {
		t.Errorf("a shard without a worker: up %v busy %v, want none", s.Up, s.Busy)
	}

	const wait = 200 * time.Millisecond
	got := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 64)}
		_, err := r.ReadBatch(bufs, make([]int, 1), make([]netip.AddrPort, 1))
		got <- err
	}()
	time.Sleep(wait / 2)
	if s := c.Shards()[0]; s.Up-s.Busy < wait/4 {
		t.Errorf("while the read waits: up %v busy %v, want about %v of it waiting", s.Up, s.Busy, wait/2)
	}
	time.Sleep(wait / 2)
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.Write([]byte("wake")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not return")
	}
	if since := sh.clock.since.Load(); since != 0 {
		t.Errorf("after the wake: a wait still under way since %d", since)
	}
	parked := time.Duration(sh.clock.parked.Load())
	if parked < wait*3/4 || parked > 10*wait {
		t.Errorf("waited %v in the poller, want about %v", parked, wait)
	}
	s := c.Shards()[0]
	if s.Up < parked || s.Busy < 0 || s.Busy > s.Up-parked {
		t.Errorf("up %v busy %v after a wait of %v: want up at least the wait and busy the rest", s.Up, s.Busy, parked)
	}

	// The worker ends: its busy time stands still from then on.
	sh.stopWorker()
	before := c.Shards()[0]
	time.Sleep(50 * time.Millisecond)
	after := c.Shards()[0]
	if after.Busy != before.Busy || after.Up <= before.Up {
		t.Errorf("after the worker ended: busy %v then %v, up %v then %v; want busy to stand and up to go on",
			before.Busy, after.Busy, before.Up, after.Up)
	}
}

// TestWorkerTimeNeverGoesBack reads a worker's time while the worker parks
// and wakes as fast as it can: busy, a counter in the metrics, never
// decreases, never exceeds up and is never negative, and up never
// decreases, whichever moment a read falls on.
func TestWorkerTimeNeverGoesBack(t *testing.T) {
	var c Counters
	c.init(1)
	sh := c.shard(0)
	var b busyPoll
	b.clock = &sh.clock
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the worker
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b.woke()
			b.park()
			time.Sleep(20 * time.Microsecond)
		}
	}()
	sh.clock.start()
	var last Stats
	deadline := time.Now().Add(500 * time.Millisecond)
	reads := 0
	for time.Now().Before(deadline) {
		s := c.Load()
		reads++
		if s.Busy < last.Busy || s.Up < last.Up || s.Busy < 0 || s.Busy > s.Up {
			t.Fatalf("read %d: up %v busy %v after up %v busy %v", reads, s.Up, s.Busy, last.Up, last.Busy)
		}
		last = s
	}
	close(stop)
	wg.Wait()
	if last.Busy <= 0 || last.Busy >= last.Up {
		t.Errorf("after %d reads: up %v busy %v, want some of each", reads, last.Up, last.Busy)
	}
}
