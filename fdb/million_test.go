package fdb

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestMillionRandomMACs floods a default table with a million random source
// MACs, as an attacker or a broken host might: the table must stop at its
// limit, count the rest as Full, and keep resolving what it learnt.
func TestMillionRandomMACs(t *testing.T) {
	const n = 1_000_000
	tb := NewTable(1, Config{Learning: true})
	rng := rand.New(rand.NewPCG(1, 2))
	remote := func(m MAC) netip.Addr { return netip.AddrFrom4([4]byte{10, m[3], m[4], m[5]}) }
	learnt := make([]MAC, 0, DefaultLimit)
	var full, refreshed int
	for i := 0; i < n; {
		v := rng.Uint64()
		m := MAC{byte(v>>40) &^ groupBit, byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		if m.IsZero() {
			continue
		}
		i++
		switch r := tb.Learn(m, remote(m), 1); r {
		case LearnNew:
			learnt = append(learnt, m)
		case LearnFull:
			full++
		case LearnRefreshed: // the same random MAC twice
			refreshed++
		default:
			t.Fatalf("Learn(%v): got %v, want new, full or refreshed", m, r)
		}
	}
	c := tb.Counters()
	if tb.Len() != DefaultLimit || len(learnt) != DefaultLimit {
		t.Errorf("Len(): got %d (learnt %d), want %d", tb.Len(), len(learnt), DefaultLimit)
	}
	if c.Learnt != DefaultLimit {
		t.Errorf("Counters().Learnt: got %d, want %d", c.Learnt, DefaultLimit)
	}
	if c.Full != uint64(full) || full+refreshed != n-DefaultLimit {
		t.Errorf("Counters().Full: got %d (full results %d, repeats %d), want %d", c.Full, full, refreshed, n-DefaultLimit-refreshed)
	}
	for _, m := range learnt {
		if got, ok := tb.Lookup(m); !ok || got != remote(m) {
			t.Fatalf("Lookup(%v) after the flood: got %v, %v, want %v, true", m, got, ok, remote(m))
		}
	}
	// Known entries keep refreshing and moving at the limit.
	if r := tb.Learn(learnt[0], remote(learnt[0]), 2); r != LearnRefreshed {
		t.Errorf("Learn known at limit: got %v, want %v", r, LearnRefreshed)
	}
	if r := tb.Learn(learnt[1], ip1, 2); r != LearnMoved {
		t.Errorf("Learn moved at limit: got %v, want %v", r, LearnMoved)
	}
}
