package fdb

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// Route sends inner destinations within Prefix to the remote endpoint Via,
// as `ip route add 10.244.1.0/24 via 10.0.0.2 dev tunl0 onlink`.
type Route struct {
	Prefix netip.Prefix
	Via    netip.Addr
}

func (r Route) String() string { return r.Prefix.String() + " via " + r.Via.String() }

// RouteTable maps inner destination addresses to remote endpoints by
// longest-prefix match, for IPIP networks: one route per peer node's block
// as Calico programs them, or a single default route for a point-to-point
// tunnel. It is safe for concurrent use; Lookup takes no lock and allocates
// nothing.
//
// The writer keeps the routes in a map under a mutex and, on each change,
// publishes an immutable snapshot: per address family, one hash map per
// prefix length in use, longest first. A lookup masks the destination once
// per length until a map hits. Route tables hold a handful of lengths (a
// block size, /32 host routes, the default), so that is a few probes, and
// the snapshot is rebuilt only when routes change.
type RouteTable struct {
	mu     sync.Mutex
	routes map[netip.Prefix]netip.Addr
	snap   atomic.Pointer[routeSnap]
}

type routeSnap struct {
	v4     []v4Level // longest prefix first
	v6     []v6Level
	routes []Route // sorted
}

type v4Level struct {
	mask uint32
	m    map[uint32]netip.Addr
}

type v6Level struct {
	hiMask, loMask uint64
	m              map[[2]uint64]netip.Addr
}

// NewRouteTable returns an empty route table.
func NewRouteTable() *RouteTable {
	r := &RouteTable{routes: map[netip.Prefix]netip.Addr{}}
	r.snap.Store(&routeSnap{})
	return r
}

func v4Key(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func v6Key(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// v6Masks returns the masks of the high and low halves of an IPv6 prefix of
// the given length.
func v6Masks(bits int) (hi, lo uint64) {
	switch {
	case bits == 0:
		return 0, 0
	case bits <= 64:
		return ^uint64(0) << (64 - bits), 0
	case bits == 128:
		return ^uint64(0), ^uint64(0)
	default:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
}

// Lookup returns the remote endpoint of the longest prefix containing dst.
// An IPv4-mapped IPv6 dst is matched against IPv6 prefixes, as it would be
// in an IPv6 header.
func (r *RouteTable) Lookup(dst netip.Addr) (via netip.Addr, ok bool) {
	s := r.snap.Load()
	if dst.Is4() {
		k := v4Key(dst)
		for i := range s.v4 {
			if via, ok := s.v4[i].m[k&s.v4[i].mask]; ok {
				return via, true
			}
		}
		return netip.Addr{}, false
	}
	if dst.Is6() {
		hi, lo := v6Key(dst)
		for i := range s.v6 {
			l := &s.v6[i]
			if via, ok := l.m[[2]uint64{hi & l.hiMask, lo & l.loMask}]; ok {
				return via, true
			}
		}
	}
	return netip.Addr{}, false
}

func checkRoute(rt Route) (Route, error) {
	if !rt.Prefix.IsValid() {
		return rt, fmt.Errorf("%w: route prefix %q is not a valid prefix", ErrBadAddr, rt.Prefix)
	}
	p := rt.Prefix.Masked()
	if !rt.Via.IsValid() {
		return rt, fmt.Errorf("%w: route %s: via is empty", ErrBadAddr, p)
	}
	return Route{Prefix: p, Via: rt.Via.Unmap()}, nil
}

// Add adds a route; its prefix is masked first (10.244.1.7/24 is
// 10.244.1.0/24). It returns ErrExists if that prefix already has a route.
func (r *RouteTable) Add(rt Route) error {
	rt, err := checkRoute(rt)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.routes[rt.Prefix]; ok {
		return fmt.Errorf("route %s: %w", rt.Prefix, ErrExists)
	}
	r.routes[rt.Prefix] = rt.Via
	r.publishLocked()
	return nil
}

// Replace adds a route or changes the remote of an existing prefix. An
// invalid route is ignored.
func (r *RouteTable) Replace(rt Route) {
	rt, err := checkRoute(rt)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if via, ok := r.routes[rt.Prefix]; ok && via == rt.Via {
		return
	}
	r.routes[rt.Prefix] = rt.Via
	r.publishLocked()
}

// Set replaces all routes at once, so that readers see either the old set
// or the new one. It fails without changing anything if a route is invalid
// or two routes have the same masked prefix.
func (r *RouteTable) Set(routes []Route) error {
	next := make(map[netip.Prefix]netip.Addr, len(routes))
	for _, rt := range routes {
		rt, err := checkRoute(rt)
		if err != nil {
			return err
		}
		if _, ok := next[rt.Prefix]; ok {
			return fmt.Errorf("route %s: %w", rt.Prefix, ErrExists)
		}
		next[rt.Prefix] = rt.Via
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = next
	r.publishLocked()
	return nil
}

// Del removes the route for p (masked first). It returns ErrNotFound if
// there is none.
func (r *RouteTable) Del(p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("%w: route prefix %q is not a valid prefix", ErrBadAddr, p)
	}
	p = p.Masked()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.routes[p]; !ok {
		return fmt.Errorf("route %s: %w", p, ErrNotFound)
	}
	delete(r.routes, p)
	r.publishLocked()
	return nil
}

// publishLocked builds and publishes a snapshot of r.routes. Caller holds
// r.mu.
func (r *RouteTable) publishLocked() {
	s := &routeSnap{routes: make([]Route, 0, len(r.routes))}
	v4 := map[int]map[uint32]netip.Addr{}
	v6 := map[int]map[[2]uint64]netip.Addr{}
	for p, via := range r.routes {
		s.routes = append(s.routes, Route{Prefix: p, Via: via})
		a := p.Addr()
		if a.Is4() {
			if v4[p.Bits()] == nil {
				v4[p.Bits()] = map[uint32]netip.Addr{}
			}
			v4[p.Bits()][v4Key(a)] = via
			continue
		}
		if v6[p.Bits()] == nil {
			v6[p.Bits()] = map[[2]uint64]netip.Addr{}
		}
		hi, lo := v6Key(a)
		v6[p.Bits()][[2]uint64{hi, lo}] = via
	}
	slices.SortFunc(s.routes, func(a, b Route) int { return a.Prefix.Compare(b.Prefix) })
	for bits := 32; bits >= 0; bits-- {
		if m := v4[bits]; m != nil {
			var mask uint32
			if bits > 0 {
				mask = ^uint32(0) << (32 - bits)
			}
			s.v4 = append(s.v4, v4Level{mask: mask, m: m})
		}
	}
	for bits := 128; bits >= 0; bits-- {
		if m := v6[bits]; m != nil {
			hi, lo := v6Masks(bits)
			s.v6 = append(s.v6, v6Level{hiMask: hi, loMask: lo, m: m})
		}
	}
	r.snap.Store(s)
}

// Match returns the route dst would take: the longest prefix that holds
// it, for a slow path that wants the route and not just its endpoint.
func (r *RouteTable) Match(dst netip.Addr) (Route, bool) {
	var best Route
	found := false
	for _, rt := range r.snap.Load().routes {
		if rt.Prefix.Contains(dst) && (!found || rt.Prefix.Bits() > best.Prefix.Bits()) {
			best, found = rt, true
		}
	}
	return best, found
}

// Routes returns the routes sorted by prefix (IPv4 first, then by address,
// then by length).
func (r *RouteTable) Routes() []Route { return slices.Clone(r.snap.Load().routes) }

// Remotes returns the distinct Via addresses, sorted: the known remote
// endpoints.
func (r *RouteTable) Remotes() []netip.Addr {
	routes := r.snap.Load().routes
	out := make([]netip.Addr, 0, len(routes))
	for _, rt := range routes {
		out = append(out, rt.Via)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// Len returns the number of routes.
func (r *RouteTable) Len() int { return len(r.snap.Load().routes) }
