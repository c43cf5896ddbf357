package fdb

import (
	"net/netip"
	"testing"
)

func TestZeroAllocs(t *testing.T) {
	tb := NewTable(1, Config{Learning: true})
	for i := range 1000 {
		tb.Learn(MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}, ip1, 1)
	}
	tb.SetFlood([]netip.Addr{ip1, ip2})
	rt := NewRouteTable()
	for _, r := range []string{"10.244.1.0/24", "10.244.0.0/16", "0.0.0.0/0", "fd00::/64"} {
		if err := rt.Add(Route{Prefix: netip.MustParsePrefix(r), Via: ip2}); err != nil {
			t.Fatal(err)
		}
	}
	hit := MAC{0x02, 0, 0, 0, 0, 7}
	miss := MAC{0x02, 0, 0, 0xff, 0, 7}
	var now int64 = 1
	dstV4, dstV6, dstV6Miss := netip.MustParseAddr("10.244.1.9"), netip.MustParseAddr("fd00::9"), netip.MustParseAddr("fd01::9")
	tests := []struct {
		name string
		fn   func()
	}{
		{"Lookup hit", func() { tb.Lookup(hit) }},
		{"Lookup miss", func() { tb.Lookup(miss) }},
		{"Learn known, same batch", func() { tb.Learn(hit, ip1, 1) }},
		{"Learn known, new batch", func() { now++; tb.Learn(hit, ip1, now) }},
		{"Learn static kept", func() { tb.Learn(MAC{0x02, 0, 0, 0, 0, 9}, ip2, 1) }},
		{"Learn ignored", func() { tb.Learn(MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ip1, 1) }},
		{"Flood", func() { _ = tb.Flood() }},
		{"route Lookup v4", func() { rt.Lookup(dstV4) }},
		{"route Lookup v4 default", func() { rt.Lookup(ip3) }},
		{"route Lookup v6", func() { rt.Lookup(dstV6) }},
		{"route Lookup v6 miss", func() { rt.Lookup(dstV6Miss) }},
	}
	if err := tb.Replace(MAC{0x02, 0, 0, 0, 0, 9}, ip1, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tc.fn); got != 0 {
				t.Errorf("allocs per run: got %v, want 0", got)
			}
		})
	}
}

func TestLearnFullAllocs(t *testing.T) {
	tb := NewTable(1, Config{Learning: true, Limit: 1})
	tb.Learn(macA, ip1, 1)
	var i int
	got := testing.AllocsPerRun(1000, func() {
		i++
		if r := tb.Learn(MAC{0x02, 1, 0, 0, byte(i >> 8), byte(i)}, ip1, 1); r != LearnFull {
			t.Fatalf("Learn at limit: got %v, want %v", r, LearnFull)
		}
	})
	if got != 0 {
		t.Errorf("allocs per Learn of a new MAC at the limit: got %v, want 0", got)
	}
}
