package dataplane

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// TestAcceptPathAllocatesNothing: with accept peers every received packet
// is checked against the accept list, taken or dropped, without allocating;
// so is a flood under a rate limit.
func TestAcceptPathAllocatesNothing(t *testing.T) {
	local := netip.MustParseAddr("10.0.0.1")
	u, err := NewUnderlay(UnderlayConfig{Local: local, AcceptPeers: true,
		Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}, discard{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var remotes []netip.Addr
	for i := 2; i < 66; i++ {
		remotes = append(remotes, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	// Not started: discard's Read never returns, so the network is wired
	// in by hand, as AddNetwork would.
	n := newNetwork(u, NetworkConfig{Name: "vx", VNI: 42, MTU: 1450, Remotes: remotes,
		FDB: fdb.Config{Learning: true}, FloodRate: math.MaxInt32}, discard{})
	u.nets.Store(&map[uint32]*Network{42: n})
	if err := n.Table().Add([6]byte{2, 0, 0, 0, 0, 9}, netip.MustParseAddr("10.0.1.1"), true); err != nil {
		t.Fatal(err)
	}
	if err := n.RefreshAccept(); err != nil {
		t.Fatal(err)
	}

	dgram := make([]byte, encap.VXLANHeaderLen+98)
	encap.PutVXLAN(dgram, 42)
	copy(dgram[encap.VXLANHeaderLen:], testFrame([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}))
	nets := *u.nets.Load()
	q := newRxQueue(0)
	now := fdb.Now()
	for _, from := range []string{"10.0.0.40", "10.0.1.1", "10.9.3.3", "10.7.7.7"} {
		src := netip.AddrPortFrom(netip.MustParseAddr(from), 4789)
		got := testing.AllocsPerRun(1000, func() {
			u.deliver(nets, dgram, src, now, q)
			q.flush()
		})
		if got != 0 {
			t.Errorf("packet from %s: %v allocations, want 0", from, got)
		}
	}
	if got := n.Counters.DropCount(DropUnknownSource); got < 1000 {
		t.Errorf("unknown_source %d, want >= 1000 (the stranger's packets were not checked)", got)
	}

	buf := make([]byte, Headroom+maxPacket)
	f := testFrame([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, [6]byte{2, 0, 0, 0, 0, 1})
	copy(buf[Headroom:], f)
	w := n.txWorker(0)
	if got := testing.AllocsPerRun(100, func() { w.flood(buf, len(f)) }); got != 0 {
		t.Errorf("flood under a rate limit: %v allocations, want 0", got)
	}
}

// bucketStep is tries takes at t0+at, of which want pass.
type bucketStep struct {
	at    int64
	tries int
	want  int
}

func TestTokenBucket(t *testing.T) {
	const ms = int64(time.Millisecond)
	t0 := int64(5 * time.Second)
	tests := []struct {
		name  string
		rate  int
		steps []bucketStep
	}{
		{"a full burst, then nothing", 100, []bucketStep{{0, 150, 100}, {0, 1, 0}}},
		{"refills at the rate", 100, []bucketStep{{0, 100, 100}, {10 * ms, 5, 1}, {15 * ms, 1, 0}, {20 * ms, 1, 1}, {520 * ms, 100, 50}}},
		{"a second refills the whole burst, no more", 100, []bucketStep{{0, 100, 100}, {10 * int64(time.Second), 300, 100}}},
		{"a clock that steps back takes nothing", 10, []bucketStep{{0, 10, 10}, {-5 * ms, 1, 0}, {100 * ms, 1, 1}}},
		{"one a second", 1, []bucketStep{{0, 2, 1}, {999 * ms, 1, 0}, {1000 * ms, 1, 1}}},
		{"the largest rate does not overflow", math.MaxInt32, []bucketStep{{0, 1000, 1000}, {int64(time.Hour), 1000, 1000}, {int64(time.Hour) + 1, 1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTokenBucket(tc.rate, t0)
			for i, s := range tc.steps {
				passed := 0
				for range s.tries {
					if b.take(t0 + s.at) {
						passed++
					}
				}
				if passed != s.want {
					t.Errorf("step %d (at %v): got %d of %d through, want %d", i, time.Duration(s.at), passed, s.tries, s.want)
				}
			}
		})
	}
	if b := newTokenBucket(0, t0); b.rate != 0 {
		t.Errorf("rate 0: got a bucket of rate %d, want none (no limit)", b.rate)
	}
}

// TestTokenBucketShared: transmit workers share one bucket; taken from
// many goroutines at once, it lets through exactly its burst, no more.
func TestTokenBucketShared(t *testing.T) {
	const rate, workers, tries = 1000, 8, 500
	now := int64(7 * time.Second)
	b := newTokenBucket(rate, now)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tries {
				if b.take(now) {
					passed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := passed.Load(); got != rate {
		t.Errorf("%d workers taking %d each at one instant: got %d through, want the burst, %d", workers, tries, got, rate)
	}
}
