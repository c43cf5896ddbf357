package fdb

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrent runs readers against learners, an expirer and a static
// entry editor. Run it with -race. Readers must only ever see a remote that
// was really assigned to the MAC they look up, and the counters must add up
// at the end.
func TestConcurrent(t *testing.T) {
	const (
		dynMACs     = 4096
		staticMACs  = 256
		limit       = 3000 // below dynMACs+staticMACs, so Full happens
		ageing      = 2000 // in ticks of the shared clock below
		learners    = 4
		learnsEach  = 30000
		readers     = 3
		editorLoops = 3000
	)
	dynMAC := func(i int) MAC { return MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)} }
	// Each dynamic MAC is learnt from one of two remotes only.
	dynRemote := func(i, which int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(1 + which), byte(i >> 8), byte(i)})
	}
	staticMAC := func(j int) MAC { return MAC{0x02, 0x01, 0, 0, 0, byte(j)} }
	staticRemote := func(j int) netip.Addr { return netip.AddrFrom4([4]byte{10, 3, 0, byte(j)}) }
	floodSet := []netip.Addr{
		netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2"),
		netip.MustParseAddr("10.9.0.3"), netip.MustParseAddr("10.9.0.4"),
	}

	tb := NewTable(42, Config{Learning: true, Limit: limit, Ageing: ageing})
	var clock atomic.Int64 // one tick per Learn
	var (
		learnResults [LearnIgnored + 1]atomic.Uint64
		aged, flushd atomic.Int64
		added, deld  atomic.Int64
		bad          atomic.Int64
		stop         atomic.Bool
	)
	fail := func(format string, args ...any) {
		if bad.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}

	var writers, others sync.WaitGroup
	for w := range learners {
		writers.Add(1)
		go func() {
			defer writers.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range learnsEach {
				i := rng.IntN(dynMACs)
				r := tb.Learn(dynMAC(i), dynRemote(i, rng.IntN(2)), clock.Add(1))
				learnResults[r].Add(1)
			}
		}()
	}
	writers.Add(1)
	go func() { // static entry editor and flood list editor
		defer writers.Done()
		rng := rand.New(rand.NewPCG(99, 2))
		for range editorLoops {
			j := rng.IntN(staticMACs)
			if rng.IntN(2) == 0 {
				if tb.Add(staticMAC(j), staticRemote(j), true) == nil {
					added.Add(1)
				}
			} else if tb.Del(staticMAC(j)) == nil {
				deld.Add(1)
			}
			f := floodSet[rng.IntN(len(floodSet))]
			if tb.AddFlood(f) != nil {
				if err := tb.DelFlood(f); err != nil {
					fail("DelFlood(%v) after AddFlood said it exists: got %v, want nil", f, err)
				}
			}
		}
	}()
	others.Add(1)
	go func() { // expirer
		defer others.Done()
		for n := 0; !stop.Load(); n++ {
			aged.Add(int64(tb.Expire(clock.Load())))
			if n%50 == 49 {
				flushd.Add(int64(tb.Flush(false)))
			}
			if l := tb.Len(); l > limit {
				fail("Len(): got %d, want at most %d", l, limit)
			}
		}
	}()
	for r := range readers {
		others.Add(1)
		go func() {
			defer others.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 3))
			for !stop.Load() {
				i := rng.IntN(dynMACs)
				if got, ok := tb.Lookup(dynMAC(i)); ok && got != dynRemote(i, 0) && got != dynRemote(i, 1) {
					fail("Lookup(%v): got %v, want %v or %v", dynMAC(i), got, dynRemote(i, 0), dynRemote(i, 1))
				}
				j := rng.IntN(staticMACs)
				if got, ok := tb.Lookup(staticMAC(j)); ok && got != staticRemote(j) {
					fail("Lookup(%v): got %v, want %v", staticMAC(j), got, staticRemote(j))
				}
				for _, f := range tb.Flood() {
					if f.As4()[1] != 9 {
						fail("Flood(): got %v, want only 10.9.0.x", f)
					}
				}
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	others.Wait()

	c := tb.Counters()
	res := func(r LearnResult) uint64 { return learnResults[r].Load() }
	checks := []struct {
		name      string
		got, want int64
	}{
		{"Learnt", int64(c.Learnt), int64(res(LearnNew))},
		{"Moved", int64(c.Moved), int64(res(LearnMoved))},
		{"Full", int64(c.Full), int64(res(LearnFull))},
		{"Aged", int64(c.Aged), aged.Load()},
		{"StaticKept", int64(c.StaticKept), int64(res(LearnStatic))},
		{"Entries", int64(c.Entries), int64(c.Learnt) - aged.Load() - flushd.Load() + added.Load() - deld.Load()},
		{"len(Entries())", int64(len(tb.Entries())), int64(c.Entries)},
		{"learn calls", int64(res(LearnNew) + res(LearnMoved) + res(LearnFull) + res(LearnRefreshed)), learners * learnsEach},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %d, want %d", ck.name, ck.got, ck.want)
		}
	}
	if c.Refreshed > res(LearnRefreshed) {
		t.Errorf("Refreshed: got %d, want at most %d (LearnRefreshed results)", c.Refreshed, res(LearnRefreshed))
	}
	if c.Full == 0 || c.Moved == 0 || c.Aged == 0 {
		t.Errorf("want every path exercised: got Full %d, Moved %d, Aged %d, want all > 0", c.Full, c.Moved, c.Aged)
	}
	for _, e := range tb.Entries() {
		i := int(e.MAC[4])<<8 | int(e.MAC[5])
		var ok bool
		if e.MAC[1] == 1 {
			ok = e.Static && e.Remote == staticRemote(i)
		} else {
			ok = !e.Static && (e.Remote == dynRemote(i, 0) || e.Remote == dynRemote(i, 1))
		}
		if !ok {
			t.Errorf("Entries(): got %+v, want a remote assigned to that MAC", e)
		}
	}
}
