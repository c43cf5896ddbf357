package dataplane

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vtepd/vtepd/fdb"
)

// TestWorkerTime: a receiving socket's reader keeps the time it waits in
// the runtime's poller in its worker's shard, counted while the wait is
// under way as well as after it, and the shard's stats give the worker's
// time as up and busy (up less the waits).
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
	if idle := sh.park.idle(fdb.Now()); idle < wait/4 {
		t.Errorf("idle while the read waits: %v, want about %v", idle, wait/2)
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
	if since := sh.park.since.Load(); since != 0 {
		t.Errorf("after the wake: a wait still under way since %d", since)
	}
	parked := time.Duration(sh.park.parked.Load())
	if parked < wait*3/4 || parked > 10*wait {
		t.Errorf("waited %v in the poller, want about %v", parked, wait)
	}
	s := c.Shards()[0]
	if s.Up < parked || s.Busy < 0 || s.Busy > s.Up-parked+time.Millisecond {
		t.Errorf("up %v busy %v after a wait of %v: want up at least the wait and busy the rest", s.Up, s.Busy, parked)
	}
	if tot := c.Load(); tot.Up < s.Up {
		t.Errorf("Load, later: up %v, want the worker's %v or more", tot.Up, s.Up)
	}
}
