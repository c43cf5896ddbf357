package fdb

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func mustMAC(t testing.TB, s string) MAC {
	t.Helper()
	m, err := ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	macA = MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = MAC{0x02, 0, 0, 0, 0, 0x0b}
	macC = MAC{0x02, 0, 0, 0, 0, 0x0c}
	ip1  = netip.MustParseAddr("10.0.0.1")
	ip2  = netip.MustParseAddr("10.0.0.2")
	ip3  = netip.MustParseAddr("10.0.0.3")
)

func learning() Config { return Config{Learning: true} }

func checkLookup(t *testing.T, tb *Table, mac MAC, want netip.Addr, wantOK bool) {
	t.Helper()
	got, ok := tb.Lookup(mac)
	if ok != wantOK || got != want {
		t.Errorf("Lookup(%v): got %v, %v, want %v, %v", mac, got, ok, want, wantOK)
	}
}

// entryMACs returns the MACs of tb's entries, in the order Entries gives them.
func entryMACs(tb *Table) []MAC {
	var macs []MAC
	for _, e := range tb.Entries() {
		macs = append(macs, e.MAC)
	}
	return macs
}

type learnStep struct {
	mac    MAC
	remote netip.Addr
	now    int64
	want   LearnResult
}

func TestLearn(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		steps []learnStep
		// after the steps
		lookups map[MAC]netip.Addr
		want    Counters
	}{
		{
			name:    "new",
			cfg:     learning(),
			steps:   []learnStep{{macA, ip1, 1, LearnNew}},
			lookups: map[MAC]netip.Addr{macA: ip1},
			want:    Counters{Entries: 1, Learnt: 1},
		},
		{
			name: "refresh same remote",
			cfg:  learning(),
			steps: []learnStep{
				{macA, ip1, 1, LearnNew},
				{macA, ip1, 2, LearnRefreshed},
				{macA, ip1, 3, LearnRefreshed},
			},
			lookups: map[MAC]netip.Addr{macA: ip1},
			want:    Counters{Entries: 1, Learnt: 1, Refreshed: 2},
		},
		{
			name: "same batch counts one refresh",
			cfg:  learning(),
			steps: []learnStep{
				{macA, ip1, 1, LearnNew},
				{macA, ip1, 5, LearnRefreshed},
				{macA, ip1, 5, LearnRefreshed},
				{macA, ip1, 4, LearnRefreshed}, // an older batch: age kept
				{macA, ip1, 7, LearnRefreshed},
			},
			lookups: map[MAC]netip.Addr{macA: ip1},
			want:    Counters{Entries: 1, Learnt: 1, Refreshed: 2},
		},
		{
			name: "move",
			cfg:  learning(),
			steps: []learnStep{
				{macA, ip1, 1, LearnNew},
				{macA, ip2, 2, LearnMoved},
				{macA, ip2, 3, LearnRefreshed},
				{macA, ip1, 4, LearnMoved},
			},
			lookups: map[MAC]netip.Addr{macA: ip1},
			want:    Counters{Entries: 1, Learnt: 1, Moved: 2, Refreshed: 1},
		},
		{
			name: "several macs one remote",
			cfg:  learning(),
			steps: []learnStep{
				{macA, ip1, 1, LearnNew},
				{macB, ip1, 1, LearnNew},
				{macC, ip2, 1, LearnNew},
			},
			lookups: map[MAC]netip.Addr{macA: ip1, macB: ip1, macC: ip2},
			want:    Counters{Entries: 3, Learnt: 3},
		},
		{
			name: "ignored sources",
			cfg:  learning(),
			steps: []learnStep{
				{MAC{}, ip1, 1, LearnIgnored},
				{MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ip1, 1, LearnIgnored},
				{MAC{0x01, 0x00, 0x5e, 0, 0, 1}, ip1, 1, LearnIgnored},
				{MAC{0x33, 0x33, 0, 0, 0, 1}, ip1, 1, LearnIgnored},
				{macA, netip.Addr{}, 1, LearnIgnored},
			},
			lookups: map[MAC]netip.Addr{},
			want:    Counters{},
		},
		{
			name:    "learning disabled",
			cfg:     Config{Learning: false},
			steps:   []learnStep{{macA, ip1, 1, LearnDisabled}, {MAC{}, ip1, 1, LearnDisabled}},
			lookups: map[MAC]netip.Addr{},
			want:    Counters{},
		},
		{
			name: "limit",
			cfg:  Config{Learning: true, Limit: 2},
			steps: []learnStep{
				{macA, ip1, 1, LearnNew},
				{macB, ip1, 1, LearnNew},
				{macC, ip1, 1, LearnFull},
				{macC, ip2, 2, LearnFull},
				// Known entries still refresh and move at the limit.
				{macA, ip1, 2, LearnRefreshed},
				{macB, ip3, 2, LearnMoved},
			},
			lookups: map[MAC]netip.Addr{macA: ip1, macB: ip3},
			want:    Counters{Entries: 2, Learnt: 2, Full: 2, Refreshed: 1, Moved: 1},
		},
		{
			name:    "mapped remote stored as IPv4",
			cfg:     learning(),
			steps:   []learnStep{{macA, netip.MustParseAddr("::ffff:10.0.0.1"), 1, LearnNew}, {macA, ip1, 2, LearnRefreshed}},
			lookups: map[MAC]netip.Addr{macA: ip1},
			want:    Counters{Entries: 1, Learnt: 1, Refreshed: 1},
		},
		{
			name:    "IPv6 remote",
			cfg:     learning(),
			steps:   []learnStep{{macA, netip.MustParseAddr("fd00::2"), 1, LearnNew}},
			lookups: map[MAC]netip.Addr{macA: netip.MustParseAddr("fd00::2")},
			want:    Counters{Entries: 1, Learnt: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable(42, tc.cfg)
			for i, s := range tc.steps {
				// A step's now counts RefreshSteps: each later one renews.
				now := s.now * int64(RefreshStep)
				if got := tb.Learn(s.mac, s.remote, now); got != s.want {
					t.Errorf("step %d Learn(%v, %v, %d): got %v, want %v", i, s.mac, s.remote, now, got, s.want)
				}
			}
			for _, m := range []MAC{macA, macB, macC} {
				want, ok := tc.lookups[m]
				checkLookup(t, tb, m, want, ok)
			}
			if got := tb.Counters(); got != tc.want {
				t.Errorf("Counters(): got %+v, want %+v", got, tc.want)
			}
			if got := tb.Len(); got != tc.want.Entries {
				t.Errorf("Len(): got %d, want %d", got, tc.want.Entries)
			}
		})
	}
}

func TestLearnTimestamp(t *testing.T) {
	const ms = int64(time.Millisecond)
	tb := NewTable(1, learning())
	tb.Learn(macA, ip1, 100*ms)
	tb.Learn(macA, ip1, 250*ms)
	tb.Learn(macA, ip1, 200*ms) // older batch
	if got := tb.Entries()[0].Updated; got != 250*ms {
		t.Errorf("Updated after refreshes at 100, 250, 200 ms: got %d, want %d", got, 250*ms)
	}
	tb.Learn(macA, ip2, 300*ms)
	if got := tb.Entries()[0].Updated; got != 300*ms {
		t.Errorf("Updated after move at 300 ms: got %d, want %d", got, 300*ms)
	}
}

// TestRefreshWithinStep checks that a refresh less than RefreshStep after
// the entry's time keeps the time and counts nothing, so a busy peer's
// entry is written once a step, not once a batch; and that a move is taken
// at once however soon it comes.
func TestRefreshWithinStep(t *testing.T) {
	step := int64(RefreshStep)
	tb := NewTable(1, learning())
	tb.Learn(macA, ip1, 10*step)
	for _, now := range []int64{10*step + 1, 10*step + step/2, 11*step - 1} {
		if r := tb.Learn(macA, ip1, now); r != LearnRefreshed {
			t.Errorf("Learn at %d: got %v, want %v", now, r, LearnRefreshed)
		}
	}
	if got := tb.Entries()[0].Updated; got != 10*step {
		t.Errorf("Updated after refreshes within a step: got %d, want %d", got, 10*step)
	}
	if got := tb.Counters().Refreshed; got != 0 {
		t.Errorf("Counters().Refreshed after refreshes within a step: got %d, want 0", got)
	}
	tb.Learn(macA, ip1, 11*step)
	if got := tb.Entries()[0].Updated; got != 11*step {
		t.Errorf("Updated after a refresh a step later: got %d, want %d", got, 11*step)
	}
	if got := tb.Counters().Refreshed; got != 1 {
		t.Errorf("Counters().Refreshed after a refresh a step later: got %d, want 1", got)
	}
	if r := tb.Learn(macA, ip2, 11*step+1); r != LearnMoved {
		t.Errorf("Learn at another remote within the step: got %v, want %v", r, LearnMoved)
	}
	if got := tb.Entries()[0].Updated; got != 11*step+1 {
		t.Errorf("Updated after a move: got %d, want %d", got, 11*step+1)
	}
}

func TestStatic(t *testing.T) {
	tb := NewTable(7, Config{Learning: true, Ageing: time.Second})
	if err := tb.Add(macA, ip1, true); err != nil {
		t.Fatalf("Add static: got %v, want nil", err)
	}
	tests := []struct {
		name   string
		remote netip.Addr
		want   LearnResult
	}{
		{"other remote kept", ip2, LearnStatic},
		{"same remote", ip1, LearnRefreshed},
		{"third remote kept", ip3, LearnStatic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tb.Learn(macA, tc.remote, Now()); got != tc.want {
				t.Errorf("Learn(%v, %v): got %v, want %v", macA, tc.remote, got, tc.want)
			}
			checkLookup(t, tb, macA, ip1, true)
		})
	}
	c := tb.Counters()
	if c.StaticKept != 2 || c.Moved != 0 || c.Learnt != 0 {
		t.Errorf("Counters(): got StaticKept %d Moved %d Learnt %d, want 2 0 0", c.StaticKept, c.Moved, c.Learnt)
	}
	if n := tb.Expire(Now() + int64(time.Hour)); n != 0 {
		t.Errorf("Expire an hour later: got %d removed, want 0 (static never ages)", n)
	}
	checkLookup(t, tb, macA, ip1, true)
	if e := tb.Entries(); len(e) != 1 || !e[0].Static {
		t.Errorf("Entries(): got %+v, want one static entry", e)
	}
}

func TestAdd(t *testing.T) {
	tests := []struct {
		name    string
		mac     MAC
		remote  netip.Addr
		wantErr error
		wantIn  string
	}{
		{"unicast", macB, ip2, nil, ""},
		{"existing", macA, ip2, ErrExists, "02:00:00:00:00:0a"},
		{"zero mac", MAC{}, ip1, ErrBadMAC, "00:00:00:00:00:00"},
		{"broadcast", MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ip1, ErrBadMAC, "ff:ff:ff:ff:ff:ff"},
		{"multicast", MAC{0x01, 0x00, 0x5e, 0, 0, 1}, ip1, ErrBadMAC, "01:00:5e:00:00:01"},
		{"invalid remote", macC, netip.Addr{}, ErrBadAddr, "remote"},
		{"full", macC, ip1, ErrFull, "limit 2"},
	}
	tb := NewTable(9, Config{Limit: 2})
	if err := tb.Add(macA, ip1, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tb.Add(tc.mac, tc.remote, true)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Add(%v, %v): got error %v, want %v", tc.mac, tc.remote, err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("Add(%v, %v): got error %q, want it to contain %q", tc.mac, tc.remote, err, tc.wantIn)
			}
		})
	}
	checkLookup(t, tb, macA, ip1, true)
	checkLookup(t, tb, macB, ip2, true)
	if got := tb.Len(); got != 2 {
		t.Errorf("Len(): got %d, want 2", got)
	}
}

func TestReplace(t *testing.T) {
	tb := NewTable(9, Config{Limit: 1, Learning: true})
	if err := tb.Replace(macA, ip1, false); err != nil {
		t.Fatalf("Replace new: got %v, want nil", err)
	}
	// At the limit, overwriting is still allowed: it adds nothing.
	if err := tb.Replace(macA, ip2, true); err != nil {
		t.Fatalf("Replace existing at limit: got %v, want nil", err)
	}
	checkLookup(t, tb, macA, ip2, true)
	if got := tb.Learn(macA, ip1, 1); got != LearnStatic {
		t.Errorf("Learn after Replace with static: got %v, want %v", got, LearnStatic)
	}
	if err := tb.Replace(macB, ip1, false); !errors.Is(err, ErrFull) {
		t.Errorf("Replace new at limit: got %v, want ErrFull", err)
	}
	if got := tb.Len(); got != 1 {
		t.Errorf("Len(): got %d, want 1", got)
	}
}

func TestDel(t *testing.T) {
	tb := NewTable(3, Config{Learning: true, Limit: 1})
	tb.Learn(macA, ip1, 1)
	if err := tb.Del(macA); err != nil {
		t.Fatalf("Del learnt: got %v, want nil", err)
	}
	checkLookup(t, tb, macA, netip.Addr{}, false)
	err := tb.Del(macA)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), macA.String()) {
		t.Errorf("Del again: got %v, want ErrNotFound naming %v", err, macA)
	}
	// The place freed under the limit is usable again.
	if got := tb.Learn(macB, ip2, 2); got != LearnNew {
		t.Errorf("Learn after Del at limit 1: got %v, want %v", got, LearnNew)
	}
	if got := tb.Len(); got != 1 {
		t.Errorf("Len(): got %d, want 1", got)
	}
}

func TestExpire(t *testing.T) {
	const sec = int64(time.Second)
	tests := []struct {
		name     string
		ageing   time.Duration
		learnt   map[MAC]int64 // learnt at
		static   []MAC
		now      int64
		wantN    int
		wantLeft []MAC
	}{
		{
			name:     "just before ageing",
			ageing:   10 * time.Second,
			learnt:   map[MAC]int64{macA: 100 * sec},
			now:      110*sec - 1,
			wantN:    0,
			wantLeft: []MAC{macA},
		},
		{
			name:   "at ageing",
			ageing: 10 * time.Second,
			learnt: map[MAC]int64{macA: 100 * sec},
			now:    110 * sec,
			wantN:  1,
		},
		{
			name:     "only the old one",
			ageing:   10 * time.Second,
			learnt:   map[MAC]int64{macA: 100 * sec, macB: 105 * sec},
			static:   []MAC{macC},
			now:      112 * sec,
			wantN:    1,
			wantLeft: []MAC{macB, macC},
		},
		{
			name:     "default ageing is 300s",
			learnt:   map[MAC]int64{macA: 0, macB: 1 * sec},
			now:      300 * sec,
			wantN:    1,
			wantLeft: []MAC{macB},
		},
		{
			name:     "negative ageing never ages",
			ageing:   -1,
			learnt:   map[MAC]int64{macA: 0, macB: 1 * sec},
			now:      1 << 62,
			wantN:    0,
			wantLeft: []MAC{macA, macB},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable(1, Config{Learning: true, Ageing: tc.ageing})
			for m, at := range tc.learnt {
				if r := tb.Learn(m, ip1, at); r != LearnNew {
					t.Fatalf("Learn(%v): got %v, want %v", m, r, LearnNew)
				}
			}
			for _, m := range tc.static {
				if err := tb.Add(m, ip2, true); err != nil {
					t.Fatal(err)
				}
			}
			if got := tb.Expire(tc.now); got != tc.wantN {
				t.Errorf("Expire(%d): got %d, want %d", tc.now, got, tc.wantN)
			}
			left := entryMACs(tb)
			if !slices.Equal(left, tc.wantLeft) {
				t.Errorf("Entries() after Expire: got %v, want %v", left, tc.wantLeft)
			}
			if got := tb.Counters().Aged; got != uint64(tc.wantN) {
				t.Errorf("Counters().Aged: got %d, want %d", got, tc.wantN)
			}
			if got := tb.Len(); got != len(tc.wantLeft) {
				t.Errorf("Len(): got %d, want %d", got, len(tc.wantLeft))
			}
		})
	}
}

func TestRefreshDelaysExpiry(t *testing.T) {
	const ms = int64(time.Millisecond)
	tb := NewTable(1, Config{Learning: true, Ageing: 100 * time.Millisecond})
	tb.Learn(macA, ip1, 0)
	tb.Learn(macA, ip1, 80*ms)
	if n := tb.Expire(150 * ms); n != 0 {
		t.Errorf("Expire(150 ms) after refresh at 80 ms, ageing 100 ms: got %d, want 0", n)
	}
	if n := tb.Expire(180 * ms); n != 1 {
		t.Errorf("Expire(180 ms): got %d, want 1", n)
	}
	// Ageing frees a place under the limit and the MAC can be learnt again.
	if r := tb.Learn(macA, ip2, 200*ms); r != LearnNew {
		t.Errorf("Learn after expiry: got %v, want %v", r, LearnNew)
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero", Config{}, Config{Ageing: DefaultAgeing, Limit: DefaultLimit}},
		{"set", Config{Ageing: time.Minute, Limit: 10, Learning: true}, Config{Ageing: time.Minute, Limit: 10, Learning: true}},
		{"negative", Config{Ageing: -1, Limit: -1}, Config{Ageing: -1, Limit: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewTable(5, tc.in).Config(); got != tc.want {
				t.Errorf("Config(): got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNoLimit(t *testing.T) {
	tb := NewTable(1, Config{Learning: true, Limit: -1})
	const n = DefaultLimit + 100
	for i := range n {
		m := MAC{0x02, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		if r := tb.Learn(m, ip1, 1); r != LearnNew {
			t.Fatalf("Learn #%d: got %v, want %v", i, r, LearnNew)
		}
	}
	if got := tb.Len(); got != n {
		t.Errorf("Len() with negative limit: got %d, want %d", got, n)
	}
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name          string
		includeStatic bool
		wantN         int
		wantLeft      []MAC
	}{
		{"dynamic only", false, 2, []MAC{macC}},
		{"with static", true, 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable(1, learning())
			tb.Learn(macA, ip1, 1)
			tb.Learn(macB, ip2, 1)
			if err := tb.Add(macC, ip3, true); err != nil {
				t.Fatal(err)
			}
			if err := tb.AddFlood(ip1); err != nil {
				t.Fatal(err)
			}
			if got := tb.Flush(tc.includeStatic); got != tc.wantN {
				t.Errorf("Flush(%v): got %d, want %d", tc.includeStatic, got, tc.wantN)
			}
			left := entryMACs(tb)
			if !slices.Equal(left, tc.wantLeft) {
				t.Errorf("Entries() after Flush: got %v, want %v", left, tc.wantLeft)
			}
			if got := tb.Len(); got != len(tc.wantLeft) {
				t.Errorf("Len(): got %d, want %d", got, len(tc.wantLeft))
			}
			checkLookup(t, tb, macA, netip.Addr{}, false)
			if got := tb.Flood(); !slices.Equal(got, []netip.Addr{ip1}) {
				t.Errorf("Flood() after Flush: got %v, want [%v]", got, ip1)
			}
		})
	}
}

func TestEntriesSorted(t *testing.T) {
	tb := NewTable(1, learning())
	macs := []string{"0e:00:00:00:00:01", "02:00:00:00:00:ff", "02:00:00:00:01:00", "aa:bb:cc:00:00:00", "02:00:00:00:00:02"}
	for i, s := range macs {
		tb.Learn(mustMAC(t, s), ip1, int64(i+1))
	}
	if err := tb.Add(mustMAC(t, "04:00:00:00:00:00"), ip2, true); err != nil {
		t.Fatal(err)
	}
	want := []string{"02:00:00:00:00:02", "02:00:00:00:00:ff", "02:00:00:00:01:00", "04:00:00:00:00:00", "0e:00:00:00:00:01", "aa:bb:cc:00:00:00"}
	var got []string
	for _, e := range tb.Entries() {
		got = append(got, e.MAC.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Entries() order: got %v, want %v", got, want)
	}
	e := tb.Entries()[0]
	if e.Remote != ip1 || e.Static || e.Updated != 5 {
		t.Errorf("Entries()[0]: got %+v, want remote %v, dynamic, updated 5", e, ip1)
	}
}

// TestManyAddDel drives shards through growth, deleted slots and
// compaction, checking every MAC after each phase.
func TestManyAddDel(t *testing.T) {
	const n = 5000
	mac := func(i int) MAC { return MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)} }
	remote := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	tb := NewTable(1, Config{Limit: -1})
	check := func(phase string, present func(int) bool) {
		t.Helper()
		for i := range n {
			got, ok := tb.Lookup(mac(i))
			if want := present(i); ok != want || (ok && got != remote(i)) {
				t.Fatalf("%s: Lookup(%v): got %v, %v, want %v, %v", phase, mac(i), got, ok, remote(i), want)
			}
		}
	}
	for i := range n {
		if err := tb.Add(mac(i), remote(i), false); err != nil {
			t.Fatal(err)
		}
	}
	check("after add", func(int) bool { return true })
	for i := 0; i < n; i += 2 {
		if err := tb.Del(mac(i)); err != nil {
			t.Fatal(err)
		}
	}
	check("after deleting evens", func(i int) bool { return i%2 == 1 })
	for i := 0; i < n; i += 2 {
		if err := tb.Add(mac(i), remote(i), false); err != nil {
			t.Fatal(err)
		}
	}
	check("after re-adding evens", func(int) bool { return true })
	for i := range n {
		if i%10 != 0 {
			if err := tb.Del(mac(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("after deleting 90%", func(i int) bool { return i%10 == 0 })
	if got, want := tb.Len(), n/10; got != want {
		t.Errorf("Len(): got %d, want %d", got, want)
	}
	if got, want := len(tb.Entries()), n/10; got != want {
		t.Errorf("len(Entries()): got %d, want %d", got, want)
	}
}

func TestFlood(t *testing.T) {
	ip6 := netip.MustParseAddr("fd00::3")
	tb := NewTable(1, Config{})
	if got := tb.Flood(); len(got) != 0 {
		t.Fatalf("Flood() of a new table: got %v, want empty", got)
	}
	steps := []struct {
		name    string
		op      func() error
		wantErr error
		want    []netip.Addr
	}{
		{"add first", func() error { return tb.AddFlood(ip1) }, nil, []netip.Addr{ip1}},
		{"add second", func() error { return tb.AddFlood(ip2) }, nil, []netip.Addr{ip1, ip2}},
		{"add IPv6", func() error { return tb.AddFlood(ip6) }, nil, []netip.Addr{ip1, ip2, ip6}},
		{"add duplicate", func() error { return tb.AddFlood(ip2) }, ErrExists, []netip.Addr{ip1, ip2, ip6}},
		{"add mapped duplicate", func() error { return tb.AddFlood(netip.MustParseAddr("::ffff:10.0.0.1")) }, ErrExists, []netip.Addr{ip1, ip2, ip6}},
		{"add invalid", func() error { return tb.AddFlood(netip.Addr{}) }, ErrBadAddr, []netip.Addr{ip1, ip2, ip6}},
		{"del middle", func() error { return tb.DelFlood(ip2) }, nil, []netip.Addr{ip1, ip6}},
		{"del absent", func() error { return tb.DelFlood(ip2) }, ErrNotFound, []netip.Addr{ip1, ip6}},
		{"set", func() error { tb.SetFlood([]netip.Addr{ip3, ip1, ip3, {}}); return nil }, nil, []netip.Addr{ip3, ip1}},
		{"set empty", func() error { tb.SetFlood(nil); return nil }, nil, []netip.Addr{}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := s.op()
			if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
				t.Errorf("got error %v, want %v", err, s.wantErr)
			}
			if got := tb.Flood(); !slices.Equal(got, s.want) {
				t.Errorf("Flood(): got %v, want %v", got, s.want)
			}
		})
	}
}

func TestFloodSnapshotImmutable(t *testing.T) {
	tb := NewTable(1, Config{})
	tb.SetFlood([]netip.Addr{ip1, ip2})
	snap := tb.Flood()
	if err := tb.AddFlood(ip3); err != nil {
		t.Fatal(err)
	}
	if err := tb.DelFlood(ip1); err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{ip1, ip2}; !slices.Equal(snap, want) {
		t.Errorf("earlier Flood() snapshot after changes: got %v, want %v", snap, want)
	}
	in := []netip.Addr{ip1}
	tb.SetFlood(in)
	in[0] = ip3
	if got := tb.Flood(); !slices.Equal(got, []netip.Addr{ip1}) {
		t.Errorf("Flood() after caller changed SetFlood's argument: got %v, want [%v]", got, ip1)
	}
}

func TestLearnResultString(t *testing.T) {
	tests := []struct {
		r    LearnResult
		want string
	}{
		{LearnRefreshed, "refreshed"}, {LearnNew, "new"}, {LearnMoved, "moved"},
		{LearnStatic, "static"}, {LearnFull, "full"}, {LearnDisabled, "disabled"},
		{LearnIgnored, "ignored"}, {LearnResult(99), "LearnResult(99)"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.r.String(); got != tc.want {
				t.Errorf("String(): got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNowMonotonic(t *testing.T) {
	a := Now()
	time.Sleep(time.Millisecond)
	if b := Now(); b-a < int64(time.Millisecond) {
		t.Errorf("Now() after sleeping 1ms: got %d later, want at least %d", b-a, int64(time.Millisecond))
	}
}

// TestUsed: a lookup marks its entry used at the time of the last Expire;
// an entry nobody looks up keeps the time it was added.
func TestUsed(t *testing.T) {
	tb := NewTable(42, Config{Ageing: -1})
	a, b := MAC{0x02, 0, 0, 0, 0, 1}, MAC{0x02, 0, 0, 0, 0, 2}
	remote := netip.MustParseAddr("10.0.0.2")
	if err := tb.Add(a, remote, true); err != nil {
		t.Fatal(err)
	}
	if err := tb.Add(b, remote, true); err != nil {
		t.Fatal(err)
	}
	added := map[MAC]int64{}
	for _, e := range tb.Entries() {
		added[e.MAC] = e.Used
	}
	later := added[b] + int64(5*time.Second)
	tb.Expire(later)
	if _, ok := tb.Lookup(a); !ok {
		t.Fatal("lookup missed")
	}
	for _, e := range tb.Entries() {
		want := added[e.MAC]
		if e.MAC == a {
			want = later
		}
		if e.Used != want {
			t.Errorf("%s: used %d, want %d", e.MAC, e.Used, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { tb.Lookup(a) }); n != 0 {
		t.Errorf("Lookup: %v allocations, want 0", n)
	}
}

// TestShardLayout keeps the slot array's pointer, which every lookup reads,
// on a cache line of its own, away from the counters learning writes,
// wherever the heap puts the table: with 56 bytes after tab and 40 after the
// last counter, a shard may start up to 40 bytes past a line's start (large
// objects start 8 past) and tab's line still holds no counter.
func TestShardLayout(t *testing.T) {
	var s shard
	if off := unsafe.Offsetof(s.mu); off != 64 {
		t.Errorf("shard.mu at offset %d, want 64: tab shares its line", off)
	}
	if size := unsafe.Sizeof(s); size%64 != 0 {
		t.Errorf("shard is %d bytes, want a multiple of 64", size)
	}
	if tail := unsafe.Sizeof(s) - unsafe.Offsetof(s.externKept) - 8; tail < 40 {
		t.Errorf("%d bytes after the last counter, want 40", tail)
	}
}
