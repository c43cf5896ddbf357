package fdb

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flapConfig is a learning table allowing limit moves per second.
func flapConfig(limit int) Config {
	return Config{Learning: true, MoveLimit: limit, MoveWindow: time.Second}
}

const ms = int64(time.Millisecond)

// remoteN is the n-th of many distinct remotes, 10.1.x.y.
func remoteN(n int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}) }

func TestMoveLimitBounce(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// remote of the i-th of 100 learns of macA, which was learnt at ip1
		// first; one learn per millisecond, all inside one window.
		remote    func(i int) netip.Addr
		want      Counters
		wantAt    netip.Addr
		wantFirst []LearnResult // the results of the first learns
	}{
		{
			// ip2, ip1, ip2 are allowed; then the MAC is held at ip2: each
			// learn from ip1 is refused, each from ip2 refreshes.
			name:      "two remotes, limit 3",
			cfg:       flapConfig(3),
			remote:    func(i int) netip.Addr { return [2]netip.Addr{ip2, ip1}[i%2] },
			want:      Counters{Entries: 1, Learnt: 1, Moved: 3, FlapHeld: 49, Refreshed: 48},
			wantAt:    ip2,
			wantFirst: []LearnResult{LearnMoved, LearnMoved, LearnMoved, LearnFlapHeld, LearnRefreshed, LearnFlapHeld},
		},
		{
			// Every learn comes from a new remote, so every one is a move:
			// 3 allowed, 97 refused, the MAC stays at the third.
			name:      "a new remote each time, limit 3",
			cfg:       flapConfig(3),
			remote:    remoteN,
			want:      Counters{Entries: 1, Learnt: 1, Moved: 3, FlapHeld: 97},
			wantAt:    remoteN(2),
			wantFirst: []LearnResult{LearnMoved, LearnMoved, LearnMoved, LearnFlapHeld, LearnFlapHeld},
		},
		{
			name:      "limit 1",
			cfg:       flapConfig(1),
			remote:    func(i int) netip.Addr { return [2]netip.Addr{ip2, ip1}[i%2] },
			want:      Counters{Entries: 1, Learnt: 1, Moved: 1, FlapHeld: 50, Refreshed: 49},
			wantAt:    ip2,
			wantFirst: []LearnResult{LearnMoved, LearnFlapHeld, LearnRefreshed},
		},
		{
			// The default follows every move, as the kernel does.
			name:      "no limit",
			cfg:       learning(),
			remote:    func(i int) netip.Addr { return [2]netip.Addr{ip2, ip1}[i%2] },
			want:      Counters{Entries: 1, Learnt: 1, Moved: 100},
			wantAt:    ip1,
			wantFirst: []LearnResult{LearnMoved, LearnMoved, LearnMoved, LearnMoved, LearnMoved},
		},
		{
			// A window shorter than the bouncing: every move is allowed.
			name:      "window of a microsecond",
			cfg:       Config{Learning: true, MoveLimit: 1, MoveWindow: time.Microsecond},
			remote:    func(i int) netip.Addr { return [2]netip.Addr{ip2, ip1}[i%2] },
			want:      Counters{Entries: 1, Learnt: 1, Moved: 100},
			wantAt:    ip1,
			wantFirst: []LearnResult{LearnMoved, LearnMoved, LearnMoved},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable(1, tc.cfg)
			const start = 1000 * ms
			if r := tb.Learn(macA, ip1, start); r != LearnNew {
				t.Fatalf("first Learn: got %v, want %v", r, LearnNew)
			}
			results := make([]LearnResult, 100)
			for i := range results {
				results[i] = tb.Learn(macA, tc.remote(i), start+int64(i+1)*ms)
			}
			for i, want := range tc.wantFirst {
				if results[i] != want {
					t.Errorf("learn %d from %v: got %v, want %v", i, tc.remote(i), results[i], want)
				}
			}
			if got := tb.Counters(); got != tc.want {
				t.Errorf("Counters(): got %+v, want %+v", got, tc.want)
			}
			checkLookup(t, tb, macA, tc.wantAt, true)
		})
	}
}

func TestMoveLimitWindow(t *testing.T) {
	// Limit 2 per second. The window opens at the first move, at 10 ms.
	const w = int64(time.Second)
	steps := []learnStep{
		{macA, ip1, 0, LearnNew},
		{macA, ip2, 10 * ms, LearnMoved},
		{macA, ip1, 20 * ms, LearnMoved},
		{macA, ip2, 30 * ms, LearnFlapHeld},
		{macA, ip1, 40 * ms, LearnRefreshed},        // held at ip1, still refreshed
		{macA, ip3, 5 * ms, LearnFlapHeld},          // an older batch is inside the window
		{macA, ip2, 10*ms + w - 1, LearnFlapHeld},   // the last instant of the window
		{macA, ip2, 10*ms + w, LearnMoved},          // the window has passed: a new one opens
		{macA, ip3, 10*ms + w + 1, LearnMoved},      // its second move
		{macA, ip1, 10*ms + w + 2, LearnFlapHeld},   // and the third is refused again
		{macA, ip1, 10*ms + 2*w - 1, LearnFlapHeld}, // until the new window ends
		{macA, ip1, 10*ms + 2*w, LearnMoved},
	}
	tb := NewTable(1, Config{Learning: true, MoveLimit: 2, MoveWindow: time.Second})
	for i, s := range steps {
		if got := tb.Learn(s.mac, s.remote, s.now); got != s.want {
			t.Fatalf("step %d: Learn(%v, %v, %d): got %v, want %v", i, s.mac, s.remote, s.now, got, s.want)
		}
	}
	want := Counters{Entries: 1, Learnt: 1, Moved: 5, FlapHeld: 5, Refreshed: 1}
	if got := tb.Counters(); got != want {
		t.Errorf("Counters(): got %+v, want %+v", got, want)
	}
	checkLookup(t, tb, macA, ip1, true)
}

func TestMoveLimitOnlyLearntEntries(t *testing.T) {
	t.Run("static entry", func(t *testing.T) {
		tb := NewTable(1, flapConfig(1))
		if err := tb.Add(macA, ip1, true); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if r := tb.Learn(macA, [2]netip.Addr{ip2, ip3}[i%2], int64(i+1)*ms); r != LearnStatic {
				t.Fatalf("learn %d: got %v, want %v", i, r, LearnStatic)
			}
		}
		want := Counters{Entries: 1, StaticKept: 5}
		if got := tb.Counters(); got != want {
			t.Errorf("Counters(): got %+v, want %+v", got, want)
		}
		checkLookup(t, tb, macA, ip1, true)
	})
	// An entry set by hand, or learnt afresh after a flush, has no moves
	// counted, even in the window of the entry it replaces.
	fresh := []struct {
		name  string
		reset func(tb *Table) error
	}{
		{"Replace", func(tb *Table) error { return tb.Replace(macA, ip3, false) }},
		{"Del", func(tb *Table) error { return tb.Del(macA) }},
		{"Flush", func(tb *Table) error { tb.Flush(false); return nil }},
	}
	for _, tc := range fresh {
		t.Run("after "+tc.name, func(t *testing.T) {
			tb := NewTable(1, flapConfig(1))
			tb.Learn(macA, ip1, 1*ms)
			if r := tb.Learn(macA, ip2, 2*ms); r != LearnMoved {
				t.Fatalf("first move: got %v, want %v", r, LearnMoved)
			}
			if r := tb.Learn(macA, ip1, 3*ms); r != LearnFlapHeld {
				t.Fatalf("second move: got %v, want %v", r, LearnFlapHeld)
			}
			if err := tc.reset(tb); err != nil {
				t.Fatal(err)
			}
			tb.Learn(macA, ip3, 4*ms) // learnt again where Del or Flush left nothing
			if r := tb.Learn(macA, ip1, 5*ms); r != LearnMoved {
				t.Errorf("move after %s: got %v, want %v", tc.name, r, LearnMoved)
			}
			checkLookup(t, tb, macA, ip1, true)
		})
	}
}

func TestMoveLimitConfig(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"unset", Config{}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit}},
		{"default window", Config{MoveLimit: 3}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit, MoveLimit: 3, MoveWindow: DefaultMoveWindow}},
		{"negative window", Config{MoveLimit: 3, MoveWindow: -1}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit, MoveLimit: 3, MoveWindow: DefaultMoveWindow}},
		{"set", Config{MoveLimit: 5, MoveWindow: time.Minute}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit, MoveLimit: 5, MoveWindow: time.Minute}},
		{"negative limit", Config{MoveLimit: -1, MoveWindow: time.Minute}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit}},
		{"window without limit", Config{MoveWindow: time.Minute}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit}},
		{"huge limit", Config{MoveLimit: 1 << 40}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit, MoveLimit: 1<<32 - 1, MoveWindow: DefaultMoveWindow}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewTable(5, tc.in).Config(); got != tc.want {
				t.Errorf("Config(): got %+v, want %+v", got, tc.want)
			}
		})
	}
	if got, want := LearnFlapHeld.String(), "flap held"; got != want {
		t.Errorf("LearnFlapHeld.String(): got %q, want %q", got, want)
	}
}

func TestMoveLimitAllocs(t *testing.T) {
	tb := NewTable(1, flapConfig(1))
	tb.Learn(macA, ip1, 1)
	tb.Learn(macA, ip2, 2)
	got := testing.AllocsPerRun(1000, func() {
		if r := tb.Learn(macA, ip1, 3); r != LearnFlapHeld {
			t.Fatalf("Learn of a held MAC: got %v, want %v", r, LearnFlapHeld)
		}
	})
	if got != 0 {
		t.Errorf("allocs per refused move: got %v, want 0", got)
	}
}

// TestMoveLimitConcurrent has learners bounce a few MACs between remotes
// while readers look them up, under -race. However the learners interleave,
// a MAC can only move limit times per window, windows open at least a window
// apart, and the counters match the results Learn returned.
func TestMoveLimitConcurrent(t *testing.T) {
	const (
		macs       = 16
		remotes    = 3
		limit      = 4
		window     = 500 // ticks of the shared clock, one per Learn
		learners   = 4
		learnsEach = 20000
		readers    = 2
	)
	mac := func(i int) MAC { return MAC{0x02, 0, 0, 0, 1, byte(i)} }
	remote := func(i, r int) netip.Addr { return netip.AddrFrom4([4]byte{10, 2, byte(r), byte(i)}) }
	tb := NewTable(7, Config{Learning: true, MoveLimit: limit, MoveWindow: window})

	var (
		clock   atomic.Int64
		results [LearnFlapHeld + 1]atomic.Uint64
		movesOf [macs]atomic.Uint64
		bad     atomic.Int64
		stop    atomic.Bool
		wg, rd  sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		if bad.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	for w := range learners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range learnsEach {
				i := rng.IntN(macs)
				r := tb.Learn(mac(i), remote(i, rng.IntN(remotes)), clock.Add(1))
				results[r].Add(1)
				if r == LearnMoved {
					movesOf[i].Add(1)
				}
			}
		}()
	}
	for range readers {
		rd.Add(1)
		go func() {
			defer rd.Done()
			for n := 0; !stop.Load(); n++ {
				i := n % macs
				if got, ok := tb.Lookup(mac(i)); ok && (got.As4()[3] != byte(i) || got.As4()[2] >= remotes) {
					fail("Lookup(%v): got %v, want one of its remotes", mac(i), got)
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	rd.Wait()

	ticks := clock.Load()
	// Windows of one MAC open at least window ticks apart within the run.
	maxMoves := uint64(limit * ((ticks-1)/window + 1))
	for i := range movesOf {
		if got := movesOf[i].Load(); got > maxMoves {
			t.Errorf("moves of %v: got %d, want at most %d (%d per %d ticks over %d ticks)", mac(i), got, maxMoves, limit, window, ticks)
		}
	}
	c := tb.Counters()
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"Learnt", c.Learnt, results[LearnNew].Load()},
		{"Moved", c.Moved, results[LearnMoved].Load()},
		{"FlapHeld", c.FlapHeld, results[LearnFlapHeld].Load()},
		{"Entries", uint64(c.Entries), macs},
		{"learn calls", results[LearnNew].Load() + results[LearnMoved].Load() + results[LearnFlapHeld].Load() + results[LearnRefreshed].Load(), learners * learnsEach},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %d, want %d", ck.name, ck.got, ck.want)
		}
	}
	if c.FlapHeld == 0 || c.Moved == 0 {
		t.Errorf("got FlapHeld %d, Moved %d, want both > 0", c.FlapHeld, c.Moved)
	}
}
