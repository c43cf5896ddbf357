package fdb

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func route(prefix, via string) Route {
	return Route{Prefix: netip.MustParsePrefix(prefix), Via: netip.MustParseAddr(via)}
}

func TestRouteLookup(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		dst    string
		want   string // "" for no route
	}{
		{"empty table", nil, "10.0.0.1", ""},
		{"one block", []Route{route("10.244.1.0/24", "10.0.0.2")}, "10.244.1.77", "10.0.0.2"},
		{"outside the block", []Route{route("10.244.1.0/24", "10.0.0.2")}, "10.244.2.1", ""},
		{"one block per node", []Route{
			route("10.244.1.0/24", "10.0.0.2"),
			route("10.244.2.0/24", "10.0.0.3"),
			route("10.244.3.0/24", "10.0.0.4"),
		}, "10.244.2.200", "10.0.0.3"},
		{"longest prefix wins", []Route{
			route("10.0.0.0/8", "10.0.0.2"),
			route("10.244.0.0/16", "10.0.0.3"),
			route("10.244.1.0/24", "10.0.0.4"),
		}, "10.244.1.1", "10.0.0.4"},
		{"shorter prefix when longer misses", []Route{
			route("10.0.0.0/8", "10.0.0.2"),
			route("10.244.0.0/16", "10.0.0.3"),
			route("10.244.1.0/24", "10.0.0.4"),
		}, "10.244.9.1", "10.0.0.3"},
		{"host route", []Route{
			route("10.244.1.0/24", "10.0.0.2"),
			route("10.244.1.5/32", "10.0.0.9"),
		}, "10.244.1.5", "10.0.0.9"},
		{"default route, point to point", []Route{route("0.0.0.0/0", "10.0.0.2")}, "192.0.2.1", "10.0.0.2"},
		{"default loses to a block", []Route{
			route("0.0.0.0/0", "10.0.0.2"),
			route("10.244.1.0/26", "10.0.0.3"),
		}, "10.244.1.63", "10.0.0.3"},
		{"default catches the rest", []Route{
			route("0.0.0.0/0", "10.0.0.2"),
			route("10.244.1.0/26", "10.0.0.3"),
		}, "10.244.1.64", "10.0.0.2"},
		{"IPv6", []Route{
			route("fd00::/48", "10.0.0.2"),
			route("fd00:0:0:1::/64", "fd10::3"),
		}, "fd00:0:0:1::42", "fd10::3"},
		{"IPv6 shorter", []Route{
			route("fd00::/48", "10.0.0.2"),
			route("fd00:0:0:1::/64", "fd10::3"),
		}, "fd00:0:0:2::42", "10.0.0.2"},
		{"IPv6 prefix past 64 bits", []Route{
			route("fd00::/64", "fd10::1"),
			route("fd00::ab00/120", "fd10::2"),
		}, "fd00::abcd", "fd10::2"},
		{"IPv6 host route", []Route{route("fd00::1/128", "fd10::1")}, "fd00::1", "fd10::1"},
		{"IPv6 default", []Route{route("::/0", "fd10::1")}, "2001:db8::1", "fd10::1"},
		{"IPv4 default does not catch IPv6", []Route{route("0.0.0.0/0", "10.0.0.2")}, "fd00::1", ""},
		{"IPv6 default does not catch IPv4", []Route{route("::/0", "fd10::1")}, "10.0.0.1", ""},
		{"invalid destination", []Route{route("0.0.0.0/0", "10.0.0.2")}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := NewRouteTable()
			for _, r := range tc.routes {
				if err := rt.Add(r); err != nil {
					t.Fatalf("Add(%v): got %v, want nil", r, err)
				}
			}
			var dst netip.Addr
			if tc.dst != "" {
				dst = netip.MustParseAddr(tc.dst)
			}
			got, ok := rt.Lookup(dst)
			if tc.want == "" {
				if ok {
					t.Errorf("Lookup(%v): got %v, true, want no route", dst, got)
				}
				return
			}
			if want := netip.MustParseAddr(tc.want); !ok || got != want {
				t.Errorf("Lookup(%v): got %v, %v, want %v, true", dst, got, ok, want)
			}
		})
	}
}

func TestRouteAddDel(t *testing.T) {
	rt := NewRouteTable()
	// The prefix is masked: 10.244.1.7/24 is 10.244.1.0/24.
	if err := rt.Add(route("10.244.1.7/24", "10.0.0.2")); err != nil {
		t.Fatalf("Add unmasked: got %v, want nil", err)
	}
	if got, want := rt.Routes(), []Route{route("10.244.1.0/24", "10.0.0.2")}; !slices.Equal(got, want) {
		t.Errorf("Routes(): got %v, want %v", got, want)
	}
	if via, ok := rt.Lookup(netip.MustParseAddr("10.244.1.200")); !ok || via != ip2 {
		t.Errorf("Lookup(10.244.1.200): got %v, %v, want %v, true", via, ok, ip2)
	}
	steps := []struct {
		name    string
		op      func() error
		wantErr error
		wantIn  string
	}{
		{"add same prefix", func() error { return rt.Add(route("10.244.1.0/24", "10.0.0.3")) }, ErrExists, "10.244.1.0/24"},
		{"add same masked prefix", func() error { return rt.Add(route("10.244.1.9/24", "10.0.0.3")) }, ErrExists, "10.244.1.0/24"},
		{"add invalid prefix", func() error { return rt.Add(Route{Via: ip1}) }, ErrBadAddr, "prefix"},
		{"add invalid via", func() error { return rt.Add(Route{Prefix: netip.MustParsePrefix("10.1.0.0/16")}) }, ErrBadAddr, "via"},
		{"del by unmasked prefix", func() error { return rt.Del(netip.MustParsePrefix("10.244.1.1/24")) }, nil, ""},
		{"del absent", func() error { return rt.Del(netip.MustParsePrefix("10.244.1.0/24")) }, ErrNotFound, "10.244.1.0/24"},
		{"del invalid", func() error { return rt.Del(netip.Prefix{}) }, ErrBadAddr, "prefix"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := s.op()
			if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, s.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), s.wantIn) {
				t.Errorf("got error %q, want it to contain %q", err, s.wantIn)
			}
		})
	}
	if via, ok := rt.Lookup(netip.MustParseAddr("10.244.1.200")); ok {
		t.Errorf("Lookup after Del: got %v, true, want no route", via)
	}
	if got := rt.Len(); got != 0 {
		t.Errorf("Len() after Del: got %d, want 0", got)
	}
}

func TestRouteReplaceAndSet(t *testing.T) {
	rt := NewRouteTable()
	rt.Replace(route("10.244.1.0/24", "10.0.0.2"))
	rt.Replace(route("10.244.1.0/24", "::ffff:10.0.0.3")) // stored unmapped
	rt.Replace(Route{})                                   // ignored
	if got, want := rt.Routes(), []Route{route("10.244.1.0/24", "10.0.0.3")}; !slices.Equal(got, want) {
		t.Errorf("Routes() after Replace: got %v, want %v", got, want)
	}
	err := rt.Set([]Route{route("10.1.0.0/16", "10.0.0.2"), route("10.1.0.1/16", "10.0.0.3")})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "10.1.0.0/16") {
		t.Errorf("Set with a repeated prefix: got %v, want ErrExists naming 10.1.0.0/16", err)
	}
	if got := rt.Len(); got != 1 {
		t.Errorf("Len() after failed Set: got %d, want 1 (unchanged)", got)
	}
	want := []Route{route("10.1.0.0/16", "10.0.0.2"), route("0.0.0.0/0", "10.0.0.4")}
	if err := rt.Set(want); err != nil {
		t.Fatalf("Set: got %v, want nil", err)
	}
	if _, ok := rt.Lookup(netip.MustParseAddr("10.244.1.1")); !ok {
		t.Error("Lookup(10.244.1.1) after Set with a default route: got no route, want one")
	}
	if via, _ := rt.Lookup(netip.MustParseAddr("10.244.1.1")); via != netip.MustParseAddr("10.0.0.4") {
		t.Errorf("Lookup(10.244.1.1) after Set: got %v, want 10.0.0.4 (old route gone)", via)
	}
}

func TestRoutesSortedAndRemotes(t *testing.T) {
	rt := NewRouteTable()
	for _, r := range []Route{
		route("fd00::/64", "fd10::1"),
		route("10.244.2.0/24", "10.0.0.3"),
		route("10.244.0.0/16", "10.0.0.2"),
		route("0.0.0.0/0", "10.0.0.2"),
		route("10.244.1.0/24", "10.0.0.2"),
	} {
		if err := rt.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range rt.Routes() {
		got = append(got, r.String())
	}
	want := []string{
		"0.0.0.0/0 via 10.0.0.2",
		"10.244.0.0/16 via 10.0.0.2",
		"10.244.1.0/24 via 10.0.0.2",
		"10.244.2.0/24 via 10.0.0.3",
		"fd00::/64 via fd10::1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Routes(): got %v, want %v", got, want)
	}
	wantRemotes := []netip.Addr{ip2, ip3, netip.MustParseAddr("fd10::1")}
	if got := rt.Remotes(); !slices.Equal(got, wantRemotes) {
		t.Errorf("Remotes(): got %v, want %v", got, wantRemotes)
	}
	if got := rt.Len(); got != 5 {
		t.Errorf("Len(): got %d, want 5", got)
	}
}

// TestRouteConcurrent reads while routes come and go. A stable /16 route
// is always present; the /24 routes churning inside it each have their own
// remote, so any answer other than those two is a torn read.
func TestRouteConcurrent(t *testing.T) {
	rt := NewRouteTable()
	stable := netip.MustParseAddr("10.0.0.1")
	if err := rt.Add(Route{Prefix: netip.MustParsePrefix("10.244.0.0/16"), Via: stable}); err != nil {
		t.Fatal(err)
	}
	block := func(i int) netip.Prefix { return netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i)) }
	via := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}) }
	var stop atomic.Bool
	var readers sync.WaitGroup
	var bad atomic.Int64
	for r := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for n := 0; !stop.Load(); n++ {
				i := (n + r) % 64
				dst := netip.AddrFrom4([4]byte{10, 244, byte(i), 9})
				got, ok := rt.Lookup(dst)
				if (!ok || (got != stable && got != via(i))) && bad.Add(1) <= 10 {
					t.Errorf("Lookup(%v): got %v, %v, want %v or %v", dst, got, ok, stable, via(i))
				}
			}
		}()
	}
	for round := range 20 {
		for i := range 64 {
			if err := rt.Add(Route{Prefix: block(i), Via: via(i)}); err != nil {
				t.Errorf("round %d Add(%v): got %v, want nil", round, block(i), err)
			}
		}
		for i := range 64 {
			if err := rt.Del(block(i)); err != nil {
				t.Errorf("round %d Del(%v): got %v, want nil", round, block(i), err)
			}
		}
	}
	stop.Store(true)
	readers.Wait()
	if got := rt.Len(); got != 1 {
		t.Errorf("Len() at the end: got %d, want 1", got)
	}
}
