package fdb

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func benchMAC(i int) MAC { return MAC{0x02, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)} }

func fullTable(b *testing.B) (*Table, []MAC) {
	tb := NewTable(1, Config{Learning: true})
	macs := make([]MAC, DefaultLimit)
	for i := range macs {
		macs[i] = benchMAC(i)
		if r := tb.Learn(macs[i], netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1); r != LearnNew {
			b.Fatalf("Learn: got %v, want %v", r, LearnNew)
		}
	}
	return tb, macs
}

func BenchmarkLookup(b *testing.B) {
	tb, macs := fullTable(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := tb.Lookup(macs[i&(len(macs)-1)]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkLookupDuringLearning measures parallel lookups while one
// goroutine keeps learning new MACs and deleting old ones, so the shards'
// writers run the whole time.
func BenchmarkLookupDuringLearning(b *testing.B) {
	tb, macs := fullTable(b)
	// Make room for the churn: the learner keeps the table at 8192 + window.
	for _, m := range macs[DefaultLimit/2:] {
		if err := tb.Del(m); err != nil {
			b.Fatal(err)
		}
	}
	hot := macs[:DefaultLimit/2]
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		const window = 4096
		for i := 0; !stop.Load(); i++ {
			tb.Learn(benchMAC(1<<20+i), ip1, int64(i))
			if i >= window {
				_ = tb.Del(benchMAC(1<<20 + i - window))
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := tb.Lookup(hot[i&(len(hot)-1)]); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
	b.StopTimer()
	stop.Store(true)
	<-done
}

func BenchmarkLearnRefresh(b *testing.B) {
	tb, macs := fullTable(b)
	remotes := make([]netip.Addr, len(macs))
	for i := range macs {
		remotes[i], _ = tb.Lookup(macs[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i & (len(macs) - 1)
		// A new now every 32 frames, 20 µs apart, as batches of 32 would
		// pass: a store every RefreshStep.
		if r := tb.Learn(macs[j], remotes[j], int64(2+i/32)*int64(20*time.Microsecond)); r != LearnRefreshed {
			b.Fatalf("Learn: got %v, want %v", r, LearnRefreshed)
		}
		i++
	}
}

func BenchmarkRouteLookup(b *testing.B) {
	rt := NewRouteTable()
	routes := make([]Route, 0, 1001)
	for i := range 1000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		routes = append(routes, Route{Prefix: p, Via: netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})})
	}
	routes = append(routes, Route{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: ip1})
	if err := rt.Set(routes); err != nil {
		b.Fatal(err)
	}
	dsts := make([]netip.Addr, 1024)
	for i := range dsts {
		dsts[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 7}) // the last 24 hit the default
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := rt.Lookup(dsts[i&1023]); !ok {
			b.Fatal("no route")
		}
		i++
	}
}

// BenchmarkOnePeerParallel is every worker carrying flows of one peer:
// each receive batch refreshes the peer's MAC (a new now each time) and
// each send looks it up. With several CPUs this shows what writes to the
// entry, and to the lines beside it, cost the other workers.
func BenchmarkOnePeerParallel(b *testing.B) {
	tb := NewTable(1, Config{Learning: true})
	peer := benchMAC(7)
	if r := tb.Learn(peer, ip1, Now()); r != LearnNew {
		b.Fatalf("Learn: got %v, want %v", r, LearnNew)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := tb.Learn(peer, ip1, Now()); r != LearnRefreshed {
				b.Errorf("Learn: got %v, want %v", r, LearnRefreshed)
				return
			}
			if _, ok := tb.Lookup(peer); !ok {
				b.Error("miss")
				return
			}
		}
	})
}
