// Package controltest holds an in-memory control.Backend for tests of the
// control API and of its clients. It keeps plain tables and records every
// change it is asked for; it forwards nothing.
package controltest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/fdb"
)

// Backend is a control.Backend over tables a test fills in. Its exported
// fields may be set before the server starts; afterwards use the methods,
// which lock.
type Backend struct {
	mu sync.Mutex

	Nets    []control.NetworkInfo
	Entries []control.FDBEntry
	Counts  []control.NetworkStats
	// Routes of each ipip network, by network name.
	Routes map[string][]control.RouteInfo

	// Local and Port are what networks added by NetworkAdd report as their
	// underlay.
	Local string
	Port  uint16

	// Fail, when set, is returned by every method that can fail.
	Fail error

	// TraceEvents are what every trace sees first, in order, as far as its
	// network and match let them through (see VXLANPing); Emit sends more.
	TraceEvents []control.TraceEvent
	// TraceLost is what every trace stream reports as lost.
	TraceLost uint64

	// Speaker is the BGP speaker BGP reports; nil: vtepd runs none.
	// EVPN are the routes EVPNRoutes lists.
	Speaker *control.BGPInfo
	EVPN    []control.EVPNRoute
	// SimResult is what Simulate answers.
	SimResult control.SimulateResult

	calls  []string
	traces []*traceStream
}

// Calls returns the changes asked for so far, one line each, with the
// parsed values as the server passed them, e.g.
// "FDBAdd 42 aa:bb:cc:dd:ee:ff 10.0.0.2". NetworkAdd records the network as
// the JSON of its control.NetworkSpec.
func (b *Backend) Calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.calls...)
}

func (b *Backend) record(format string, args ...any) {
	b.calls = append(b.calls, fmt.Sprintf(format, args...))
}

// netIndex finds a vxlan network by VNI.
func (b *Backend) netIndex(vni uint32) (int, error) {
	i := slices.IndexFunc(b.Nets, func(n control.NetworkInfo) bool { return n.Kind == control.KindVXLAN && n.VNI == vni })
	if i < 0 {
		return 0, fmt.Errorf("vni %d: no such network: %w", vni, control.ErrNotFound)
	}
	return i, nil
}

// ipip finds an ipip network by name; "" picks the only one.
func (b *Backend) ipip(name string) (string, error) {
	var found []string
	for _, n := range b.Nets {
		if n.Name == name && n.Kind != control.KindIPIP {
			return "", fmt.Errorf("network %s is %s, routes are for ipip networks: %w", name, n.Kind, control.ErrInvalid)
		}
		if n.Kind == control.KindIPIP && (name == "" || n.Name == name) {
			found = append(found, n.Name)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case name == "" && len(found) > 1:
		return "", fmt.Errorf("network: required, there are %d ipip networks: %w", len(found), control.ErrInvalid)
	case name == "":
		return "", fmt.Errorf("no ipip network: %w", control.ErrNotFound)
	}
	return "", fmt.Errorf("network %s: %w", name, control.ErrNotFound)
}

// Networks implements control.Backend.
func (b *Backend) Networks() []control.NetworkInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]control.NetworkInfo(nil), b.Nets...)
}

// FDB implements control.Backend.
func (b *Backend) FDB(vni uint32, all bool) ([]control.FDBEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Fail != nil {
		return nil, b.Fail
	}
	if !all {
		if _, err := b.netIndex(vni); err != nil {
			return nil, err
		}
	}
	var out []control.FDBEntry
	for _, e := range b.Entries {
		if all || e.VNI == vni {
			out = append(out, e)
		}
	}
	return out, nil
}

// FDBAdd implements control.Backend: it adds a static entry.
func (b *Backend) FDBAdd(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("FDBAdd %d %s %s", vni, mac, dst)
	if b.Fail != nil {
		return b.Fail
	}
	i, err := b.netIndex(vni)
	if err != nil {
		return err
	}
	for _, e := range b.Entries {
		if e.VNI == vni && e.MAC == mac.String() && (!mac.IsZero() || e.Dst == dst.String()) {
			return fmt.Errorf("%s dst %s: %w", mac, e.Dst, control.ErrExists)
		}
	}
	b.Entries = append(b.Entries, control.FDBEntry{MAC: mac.String(), Dst: dst.String(), VNI: vni, Network: b.Nets[i].Name, Static: true})
	return nil
}

// FDBReplace implements control.Backend.
func (b *Backend) FDBReplace(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("FDBReplace %d %s %s", vni, mac, dst)
	if b.Fail != nil {
		return b.Fail
	}
	i, err := b.netIndex(vni)
	if err != nil {
		return err
	}
	for j, e := range b.Entries {
		if e.VNI == vni && e.MAC == mac.String() && (!mac.IsZero() || e.Dst == dst.String()) {
			b.Entries[j].Dst, b.Entries[j].Static = dst.String(), true
			return nil
		}
	}
	b.Entries = append(b.Entries, control.FDBEntry{MAC: mac.String(), Dst: dst.String(), VNI: vni, Network: b.Nets[i].Name, Static: true})
	return nil
}

// FDBDel implements control.Backend.
func (b *Backend) FDBDel(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("FDBDel %d %s %s", vni, mac, dst)
	if b.Fail != nil {
		return b.Fail
	}
	if _, err := b.netIndex(vni); err != nil {
		return err
	}
	for i, e := range b.Entries {
		if e.VNI == vni && e.MAC == mac.String() && (!dst.IsValid() || e.Dst == dst.String()) {
			b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%s: %w", mac, control.ErrNotFound)
}

// Stats implements control.Backend.
func (b *Backend) Stats() []control.NetworkStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]control.NetworkStats(nil), b.Counts...)
}

// RouteShow implements control.Backend.
func (b *Backend) RouteShow(network string) ([]control.RouteInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Fail != nil {
		return nil, b.Fail
	}
	if network == "" {
		var out []control.RouteInfo
		for _, n := range b.Nets {
			out = append(out, b.Routes[n.Name]...)
		}
		return out, nil
	}
	name, err := b.ipip(network)
	if err != nil {
		return nil, err
	}
	return append([]control.RouteInfo(nil), b.Routes[name]...), nil
}

// RouteAdd implements control.Backend.
func (b *Backend) RouteAdd(network string, prefix netip.Prefix, via netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("RouteAdd %q %s %s", network, prefix, via)
	if b.Fail != nil {
		return b.Fail
	}
	name, err := b.ipip(network)
	if err != nil {
		return err
	}
	for _, r := range b.Routes[name] {
		if r.Prefix == prefix.String() {
			return fmt.Errorf("route %s: %w", prefix, control.ErrExists)
		}
	}
	if b.Routes == nil {
		b.Routes = map[string][]control.RouteInfo{}
	}
	b.Routes[name] = append(b.Routes[name], control.RouteInfo{Prefix: prefix.String(), Via: via.String()})
	return nil
}

// RouteDel implements control.Backend.
func (b *Backend) RouteDel(network string, prefix netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("RouteDel %q %s", network, prefix)
	if b.Fail != nil {
		return b.Fail
	}
	name, err := b.ipip(network)
	if err != nil {
		return err
	}
	rs := b.Routes[name]
	for i, r := range rs {
		if r.Prefix == prefix.String() {
			b.Routes[name] = append(rs[:i], rs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("route %s: %w", prefix, control.ErrNotFound)
}

// NetworkAdd implements control.Backend: the network shows in Networks,
// its remotes as flood-list entries, its routes in RouteShow.
func (b *Backend) NetworkAdd(n control.Network) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	spec, err := json.Marshal(control.SpecOf(n))
	if err != nil {
		return err
	}
	b.record("NetworkAdd %s", spec)
	if b.Fail != nil {
		return b.Fail
	}
	for _, o := range b.Nets {
		if o.Name == n.Name {
			return fmt.Errorf("name: %s is already a network: %w", n.Name, control.ErrExists)
		}
		if n.Kind == control.KindVXLAN && o.Kind == control.KindVXLAN && o.VNI == n.VNI {
			return fmt.Errorf("vni: %d is already used by %s: %w", n.VNI, o.Name, control.ErrExists)
		}
	}
	info := control.NetworkInfo{Name: n.Name, Kind: n.Kind, VNI: n.VNI, Local: b.Local, MTU: n.MTU}
	if n.Address.IsValid() {
		info.Address = n.Address.String()
	}
	if n.Kind == control.KindVXLAN {
		info.Port, info.Learning, info.Limit = b.Port, n.Learning, n.Limit
		info.Ageing = "never"
		if n.Ageing > 0 {
			info.Ageing = n.Ageing.String()
		}
		for _, r := range n.Remotes {
			info.Remotes = append(info.Remotes, r.String())
			b.Entries = append(b.Entries, control.FDBEntry{MAC: fdb.MAC{}.String(), Dst: r.String(), VNI: n.VNI, Network: n.Name, Static: true})
		}
	}
	for _, r := range n.Routes {
		ri := control.RouteInfo{Prefix: r.Prefix.String(), Via: r.Via.String()}
		info.Routes = append(info.Routes, ri)
		if b.Routes == nil {
			b.Routes = map[string][]control.RouteInfo{}
		}
		b.Routes[n.Name] = append(b.Routes[n.Name], ri)
	}
	b.Nets = append(b.Nets, info)
	return nil
}

// NetworkDel implements control.Backend: the network goes, with its entries
// and routes.
func (b *Backend) NetworkDel(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("NetworkDel %s", name)
	if b.Fail != nil {
		return b.Fail
	}
	i := slices.IndexFunc(b.Nets, func(n control.NetworkInfo) bool { return n.Name == name })
	if i < 0 {
		return fmt.Errorf("network %s: %w", name, control.ErrNotFound)
	}
	b.Nets = slices.Delete(b.Nets, i, i+1)
	b.Entries = slices.DeleteFunc(b.Entries, func(e control.FDBEntry) bool { return e.Network == name })
	delete(b.Routes, name)
	return nil
}

func isFlood(e control.FDBEntry, vni uint32, peer string) bool {
	return e.VNI == vni && e.MAC == fdb.MAC{}.String() && e.Dst == peer
}

// PeerAdd implements control.Backend: peer joins the network's remotes and
// shows as a flood-list entry.
func (b *Backend) PeerAdd(vni uint32, peer netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("PeerAdd %d %s", vni, peer)
	if b.Fail != nil {
		return b.Fail
	}
	i, err := b.netIndex(vni)
	if err != nil {
		return err
	}
	p := peer.String()
	if slices.Contains(b.Nets[i].Remotes, p) || slices.ContainsFunc(b.Entries, func(e control.FDBEntry) bool { return isFlood(e, vni, p) }) {
		return fmt.Errorf("peer %s: %w", p, control.ErrExists)
	}
	// A new array: the copies Networks handed out share the old one.
	b.Nets[i].Remotes = append(slices.Clone(b.Nets[i].Remotes), p)
	b.Entries = append(b.Entries, control.FDBEntry{MAC: fdb.MAC{}.String(), Dst: p, VNI: vni, Network: b.Nets[i].Name, Static: true})
	return nil
}

// PeerDel implements control.Backend.
func (b *Backend) PeerDel(vni uint32, peer netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("PeerDel %d %s", vni, peer)
	if b.Fail != nil {
		return b.Fail
	}
	i, err := b.netIndex(vni)
	if err != nil {
		return err
	}
	p := peer.String()
	flood := func(e control.FDBEntry) bool { return isFlood(e, vni, p) }
	if !slices.Contains(b.Nets[i].Remotes, p) && !slices.ContainsFunc(b.Entries, flood) {
		return fmt.Errorf("peer %s: %w", p, control.ErrNotFound)
	}
	b.Nets[i].Remotes = slices.DeleteFunc(slices.Clone(b.Nets[i].Remotes), func(r string) bool { return r == p })
	b.Entries = slices.DeleteFunc(b.Entries, flood)
	return nil
}

// FDBFlush implements control.Backend: it removes the entries that are not
// static.
func (b *Backend) FDBFlush(vni uint32, all bool) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if all {
		b.record("FDBFlush all")
	} else {
		b.record("FDBFlush %d", vni)
	}
	if b.Fail != nil {
		return 0, b.Fail
	}
	if !all {
		if _, err := b.netIndex(vni); err != nil {
			return 0, err
		}
	}
	before := len(b.Entries)
	b.Entries = slices.DeleteFunc(b.Entries, func(e control.FDBEntry) bool {
		return !e.Static && (all || e.VNI == vni)
	})
	return before - len(b.Entries), nil
}

// BGP returns Speaker, or ErrNotFound without one.
func (b *Backend) BGP() (control.BGPInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Fail != nil {
		return control.BGPInfo{}, b.Fail
	}
	if b.Speaker == nil {
		return control.BGPInfo{}, control.Errorf(control.ErrNotFound, "bgp: no BGP speaker")
	}
	info := *b.Speaker
	info.Neighbors = slices.Clone(info.Neighbors)
	return info, nil
}

// BGPNeighborAdd adds an Idle neighbor to Speaker.
func (b *Backend) BGPNeighborAdd(n control.Neighbor) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("BGPNeighborAdd %s asn %d port %d passive %v max %d", n.Address, n.ASN, n.Port, n.Passive, n.MaxPrefixes)
	if b.Fail != nil {
		return b.Fail
	}
	if b.Speaker == nil {
		return control.Errorf(control.ErrNotFound, "bgp: no BGP speaker")
	}
	for _, o := range b.Speaker.Neighbors {
		if o.Address == n.Address.String() {
			return control.Errorf(control.ErrExists, "bgp neighbor %s: already there", n.Address)
		}
	}
	b.Speaker.Neighbors = append(b.Speaker.Neighbors, control.BGPNeighbor{Address: n.Address.String(), ASN: n.ASN, State: "Idle"})
	return nil
}

// BGPNeighborDel removes a neighbor from Speaker.
func (b *Backend) BGPNeighborDel(addr netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("BGPNeighborDel %s", addr)
	if b.Fail != nil {
		return b.Fail
	}
	if b.Speaker == nil {
		return control.Errorf(control.ErrNotFound, "bgp: no BGP speaker")
	}
	i := slices.IndexFunc(b.Speaker.Neighbors, func(n control.BGPNeighbor) bool { return n.Address == addr.String() })
	if i < 0 {
		return control.Errorf(control.ErrNotFound, "bgp neighbor %s: no such neighbor", addr)
	}
	b.Speaker.Neighbors = slices.Delete(b.Speaker.Neighbors, i, i+1)
	return nil
}

// EVPNRoutes lists EVPN, of one VNI unless all.
func (b *Backend) EVPNRoutes(vni uint32, all bool) ([]control.EVPNRoute, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Fail != nil {
		return nil, b.Fail
	}
	if b.Speaker == nil {
		return nil, control.Errorf(control.ErrNotFound, "bgp: no BGP speaker")
	}
	var out []control.EVPNRoute
	for _, r := range b.EVPN {
		if all || r.VNI == vni {
			out = append(out, r)
		}
	}
	return out, nil
}

// Simulate records the request and answers with SimResult, after checking
// the expression as the daemon does.
func (b *Backend) Simulate(req control.SimulateRequest) (control.SimulateResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("Simulate %q %q", req.Network, req.Expr)
	if b.Fail != nil {
		return control.SimulateResult{}, b.Fail
	}
	if _, err := control.ParseSimulation(req.Expr); err != nil {
		return control.SimulateResult{}, err
	}
	return b.SimResult, nil
}

var _ control.Backend = (*Backend)(nil)
