package node

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/fdb"
)

// The methods in this file serve the control API (control.Backend). Each
// holds the daemon's lock for its length: they are rare, and the packet path
// never takes that lock.

func (d *Node) networks() []*dataplane.Network {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*dataplane.Network(nil), d.vxlanNets...)
}

func (d *Node) networkLocked(vni uint32) (*dataplane.Network, error) {
	for _, n := range d.vxlanNets {
		if n.VNI() == vni {
			return n, nil
		}
	}
	return nil, control.Errorf(control.ErrNotFound, "vni %d: no such network", vni)
}

// specLocked returns the running config of the named network.
func (d *Node) specLocked(name string) control.Network {
	for _, n := range d.cfg.Networks {
		if n.Name == name {
			return n
		}
	}
	return control.Network{}
}

func (d *Node) Networks() []control.NetworkInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []control.NetworkInfo
	for _, n := range d.vxlanNets {
		c := n.Config()
		fc := n.Table().Config()
		info := control.NetworkInfo{
			Name: c.Name, Kind: control.KindVXLAN, VNI: c.VNI,
			Local: d.local.String(), Port: d.underlay.Config().Port,
			MTU: c.MTU, Learning: fc.Learning, Limit: fc.Limit, Ageing: "never",
		}
		if a := d.specLocked(c.Name).Address; a.IsValid() {
			info.Address = a.String()
		}
		if fc.Ageing > 0 {
			info.Ageing = fc.Ageing.String()
		}
		for _, r := range n.Table().Flood() {
			info.Remotes = append(info.Remotes, r.String())
		}
		out = append(out, info)
	}
	for _, n := range d.ipipNets {
		c := n.Config()
		info := control.NetworkInfo{
			Name: c.Name, Kind: control.KindIPIP,
			Local: d.local.String(), MTU: c.MTU, Routes: d.routeInfos(n),
		}
		if a := d.specLocked(c.Name).Address; a.IsValid() {
			info.Address = a.String()
		}
		out = append(out, info)
	}
	return out
}

func (d *Node) FDB(vni uint32, all bool) ([]control.FDBEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	nets := append([]*dataplane.Network(nil), d.vxlanNets...)
	if !all {
		n, err := d.networkLocked(vni)
		if err != nil {
			return nil, err
		}
		nets = []*dataplane.Network{n}
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].VNI() < nets[j].VNI() })
	now := fdb.Now()
	out := []control.FDBEntry{}
	for _, n := range nets {
		for _, e := range n.Table().Entries() {
			fe := control.FDBEntry{
				MAC: e.MAC.String(), Dst: e.Remote.String(), VNI: n.VNI(),
				Network: n.Name(), Static: e.Static, Extern: e.Extern,
			}
			if !e.Static && !e.Extern {
				fe.AgeSeconds = float64(now-e.Updated) / float64(time.Second)
			}
			fe.UpdatedSeconds = float64(now-e.Updated) / float64(time.Second)
			fe.UsedSeconds = float64(max(now-e.Used, 0)) / float64(time.Second)
			out = append(out, fe)
		}
		floods := n.Table().Flood()
		if g := n.Config().Group; g.IsValid() {
			floods = append([]netip.Addr{g}, floods...)
		}
		for _, r := range floods {
			out = append(out, control.FDBEntry{
				MAC: fdb.MAC{}.String(), Dst: r.String(), VNI: n.VNI(), Network: n.Name(), Static: true,
			})
		}
	}
	return out, nil
}

func (d *Node) FDBAdd(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	if mac.IsZero() {
		return d.PeerAdd(vni, dst)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.networkLocked(vni)
	if err != nil {
		return err
	}
	if err := d.underlay.CheckRemote(dst); err != nil {
		return control.Errorf(control.ErrInvalid, "dst %s: %v", dst, err)
	}
	if err := n.Table().Add(mac, dst, true); err != nil {
		return mapFDBErr(err)
	}
	// With accept peers, a static entry's destination may send at once. A
	// failure (the group device's addresses unreadable) is retried by the
	// once-a-second refresh; the entry itself is in.
	_ = n.RefreshAccept()
	return nil
}

func (d *Node) FDBReplace(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	if mac.IsZero() {
		err := d.PeerAdd(vni, dst)
		if errors.Is(err, control.ErrExists) {
			return nil
		}
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.networkLocked(vni)
	if err != nil {
		return err
	}
	if err := d.underlay.CheckRemote(dst); err != nil {
		return control.Errorf(control.ErrInvalid, "dst %s: %v", dst, err)
	}
	if err := n.Table().Replace(mac, dst, true); err != nil {
		return mapFDBErr(err)
	}
	_ = n.RefreshAccept()
	return nil
}

func (d *Node) FDBDel(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	if mac.IsZero() {
		if !dst.IsValid() {
			return control.Errorf(control.ErrInvalid, "dst: required to delete a flood entry (00:00:00:00:00:00)")
		}
		return d.PeerDel(vni, dst)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.networkLocked(vni)
	if err != nil {
		return err
	}
	if r, ok := n.Table().Lookup(mac); ok && dst.IsValid() && r != dst {
		return control.Errorf(control.ErrNotFound, "%s dst %s: the entry points at %s", mac, dst, r)
	}
	if err := n.Table().Del(mac); err != nil {
		return mapFDBErr(err)
	}
	_ = n.RefreshAccept()
	return nil
}

func (d *Node) FDBFlush(vni uint32, all bool) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	nets := d.vxlanNets
	if !all {
		n, err := d.networkLocked(vni)
		if err != nil {
			return 0, err
		}
		nets = []*dataplane.Network{n}
	}
	flushed := 0
	for _, n := range nets {
		flushed += n.Table().Flush(false)
	}
	d.log.Info("fdb flushed", zap.Int("entries", flushed))
	return flushed, nil
}

func (d *Node) PeerAdd(vni uint32, peer netip.Addr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.networkLocked(vni)
	if err != nil {
		return err
	}
	if err := d.underlay.CheckRemote(peer); err != nil {
		return control.Errorf(control.ErrInvalid, "peer %s: %v", peer, err)
	}
	if err := n.Table().AddFlood(peer); err != nil {
		return mapFDBErr(err)
	}
	d.setRemotesLocked(n)
	return nil
}

func (d *Node) PeerDel(vni uint32, peer netip.Addr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.networkLocked(vni)
	if err != nil {
		return err
	}
	if err := n.Table().DelFlood(peer); err != nil {
		return mapFDBErr(err)
	}
	d.setRemotesLocked(n)
	return nil
}

// setRemotesLocked records a network's flood list in the running config, so
// a reload compares against what runs.
func (d *Node) setRemotesLocked(n *dataplane.Network) {
	for i := range d.cfg.Networks {
		if d.cfg.Networks[i].Name == n.Name() {
			d.cfg.Networks[i].Remotes = append([]netip.Addr(nil), n.Table().Flood()...)
		}
	}
}

func (d *Node) NetworkAdd(n control.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.cfg.Networks {
		switch {
		case o.Name == n.Name:
			return control.Errorf(control.ErrExists, "name %q: a network of that name runs", n.Name)
		case n.Kind == control.KindVXLAN && o.Kind == control.KindVXLAN && o.VNI == n.VNI:
			return control.Errorf(control.ErrExists, "vni %d: network %q serves it", n.VNI, o.Name)
		}
	}
	// The whole config must stay valid with the new network in it: that
	// checks its addresses against the underlay's family, among the rest.
	// The user gave one network: errors speak of its fields and of the
	// daemon's underlay.
	next := *d.cfg
	next.Networks = append(append([]control.Network(nil), d.cfg.Networks...), n)
	names := d.apiNames(len(d.cfg.Networks))
	if err := next.Validate(); err != nil {
		return control.Rename(err, names)
	}
	if err := d.addNetworkLocked(n); err != nil {
		return control.Rename(err, names)
	}
	return nil
}

// apiNames speaks of the fields of the config's network i as the API's
// request names them, and of the underlay as the daemon's.
func (d *Node) apiNames(i int) control.Names {
	prefix := fmt.Sprintf("networks[%d].", i)
	return func(path string) string {
		if path == "underlay.local" {
			return "the daemon's local address " + d.local.String()
		}
		return strings.TrimPrefix(path, prefix)
	}
}

func (d *Node) NetworkDel(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.removeNetworkLocked(name)
}

// mapFDBErr gives fdb errors the control API's kinds; their text already
// names the entry.
func mapFDBErr(err error) error {
	kind := control.ErrInvalid
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fdb.ErrNotFound):
		kind = control.ErrNotFound
	case errors.Is(err, fdb.ErrExists):
		kind = control.ErrExists
	}
	return control.Errorf(kind, "%v", err)
}

func (d *Node) Stats() []control.NetworkStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []control.NetworkStats
	if d.underlay != nil {
		c := d.underlay.Counters.Load()
		out = append(out, control.NetworkStats{Name: "underlay", Kind: "underlay",
			RxPackets: c.RxPackets, RxBytes: c.RxBytes, TxPackets: c.TxPackets, TxBytes: c.TxBytes,
			Drops: c.Drops(), Offload: offloadStats(c.Offload),
			Queues: queueStats(d.underlay.QueueStats())})
	}
	if d.ipip != nil {
		c := d.ipip.Counters.Load()
		out = append(out, control.NetworkStats{Name: "ipip-underlay", Kind: "underlay",
			RxPackets: c.RxPackets, RxBytes: c.RxBytes, Drops: c.Drops(),
			Queues: queueStats(d.ipip.QueueStats())})
	}
	for _, n := range d.ipipNets {
		c := n.Counters.Load()
		out = append(out, control.NetworkStats{
			Name: n.Name(), Kind: control.KindIPIP,
			RxPackets: c.RxPackets, RxBytes: c.RxBytes,
			TxPackets: c.TxPackets, TxBytes: c.TxBytes,
			Drops:         c.Drops(),
			CsumCompleted: c.CsumCompleted,
			Offload:       offloadStats(c.Offload),
			Queues:        queueStats(n.QueueStats()),
		})
	}
	for _, n := range d.vxlanNets {
		c := n.Counters.Load()
		fc := n.Table().Counters()
		out = append(out, control.NetworkStats{
			Name: n.Name(), Kind: control.KindVXLAN, VNI: n.VNI(),
			RxPackets: c.RxPackets, RxBytes: c.RxBytes,
			TxPackets: c.TxPackets, TxBytes: c.TxBytes,
			Drops:      c.Drops(),
			FDBEntries: fc.Entries, Learnt: fc.Learnt, Moved: fc.Moved, Aged: fc.Aged,
			Flooded: c.Flooded, CsumCompleted: c.CsumCompleted,
			ARPSuppressed: c.ARPSuppressed, ARPFlooded: c.ARPFlooded,
			Offload: offloadStats(c.Offload),
			Queues:  queueStats(n.QueueStats()),
		})
	}
	return out
}

// queueStats copies a network's or an underlay's per-queue figures into the
// API's form.
func queueStats(qs []dataplane.QueueStats) []control.QueueStats {
	out := make([]control.QueueStats, len(qs))
	for i, q := range qs {
		out[i] = control.QueueStats{Queue: i, RxPackets: q.RxPackets, RxBytes: q.RxBytes,
			TxPackets: q.TxPackets, TxBytes: q.TxBytes,
			WorkerUpSeconds: q.Up.Seconds(), WorkerBusySeconds: q.Busy.Seconds()}
	}
	return out
}

// offloadStats copies a network's or an underlay's offload counters into
// the API's form.
func offloadStats(o dataplane.OffloadStats) control.OffloadStats {
	return control.OffloadStats{
		TSOFrames: o.TSOFrames, TSOSegments: o.TSOSegments,
		GSOSends: o.GSOSends, GSODatagrams: o.GSODatagrams,
		GROTrains: o.GROTrains, GRODatagrams: o.GRODatagrams,
		CoalescedWrites: o.CoalescedWrites, CoalescedFrames: o.CoalescedFrames,
		Fallbacks: o.Fallbacks,
	}
}

// ipipNetworkLocked finds an IPIP network by name; "" means the only one.
func (d *Node) ipipNetworkLocked(name string) (*dataplane.IPIPNetwork, error) {
	if name == "" {
		switch len(d.ipipNets) {
		case 0:
			return nil, control.Errorf(control.ErrNotFound, "no ipip network")
		case 1:
			return d.ipipNets[0], nil
		default:
			return nil, control.Errorf(control.ErrInvalid, "dev: required, %d ipip networks run here", len(d.ipipNets))
		}
	}
	for _, n := range d.ipipNets {
		if n.Name() == name {
			return n, nil
		}
	}
	return nil, control.Errorf(control.ErrNotFound, "ipip network %q: no such network", name)
}

// routeInfos are n's routes, each with who made it: BGP or a user.
func (d *Node) routeInfos(n *dataplane.IPIPNetwork) []control.RouteInfo {
	var out []control.RouteInfo
	for _, r := range n.Routes() {
		proto := control.ProtoStatic
		if d.learnt(n, r) {
			proto = control.ProtoBGP
		}
		out = append(out, control.RouteInfo{Prefix: r.Prefix.String(), Via: r.Via.String(), Proto: proto})
	}
	return out
}

func (d *Node) RouteShow(network string) ([]control.RouteInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []control.RouteInfo{}
	if network == "" {
		for _, n := range d.ipipNets {
			out = append(out, d.routeInfos(n)...)
		}
		return out, nil
	}
	n, err := d.ipipNetworkLocked(network)
	if err != nil {
		return nil, err
	}
	return append(out, d.routeInfos(n)...), nil
}

func (d *Node) RouteAdd(network string, prefix netip.Prefix, via netip.Addr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.ipipNetworkLocked(network)
	if err != nil {
		return err
	}
	return d.staticRouteAddLocked(n, fdb.Route{Prefix: prefix.Masked(), Via: via})
}

func (d *Node) routeAddLocked(n *dataplane.IPIPNetwork, r fdb.Route, proto dataplane.RouteProto) error {
	if err := n.AddRoute(r); err != nil {
		return mapFDBErr(err)
	}
	if err := d.host.AddRoute(n.Name(), r.Prefix, proto); err != nil {
		_ = n.DelRoute(r.Prefix)
		return err
	}
	d.setRoutesLocked(n)
	d.log.Info("route added", zap.String("network", n.Name()), zap.Stringer("route", r))
	return nil
}

func (d *Node) RouteDel(network string, prefix netip.Prefix) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.ipipNetworkLocked(network)
	if err != nil {
		return err
	}
	return d.staticRouteDelLocked(n, prefix.Masked())
}

func (d *Node) routeDelLocked(n *dataplane.IPIPNetwork, prefix netip.Prefix) error {
	if err := n.DelRoute(prefix); err != nil {
		return mapFDBErr(err)
	}
	if err := d.host.DelRoute(n.Name(), prefix); err != nil {
		return err
	}
	d.setRoutesLocked(n)
	d.log.Info("route deleted", zap.String("network", n.Name()), zap.Stringer("prefix", prefix))
	return nil
}

// staticRouteDelLocked deletes a route of the config or the API; a peer's
// block for the prefix, held back by it, is installed in its place.
func (d *Node) staticRouteDelLocked(n *dataplane.IPIPNetwork, prefix netip.Prefix) error {
	if err := d.routeDelLocked(n, prefix); err != nil {
		return err
	}
	d.syncBlocksLocked()
	return nil
}

// setRoutesLocked records an IPIP network's explicit routes in the running
// config (the point-to-point default route stays implied by Remote).
func (d *Node) setRoutesLocked(n *dataplane.IPIPNetwork) {
	for i := range d.cfg.Networks {
		c := &d.cfg.Networks[i]
		if c.Name != n.Name() {
			continue
		}
		c.Routes = c.Routes[:0:0]
		for _, r := range n.Routes() {
			if c.Remote.IsValid() && r.Prefix.Bits() == 0 && r.Via == c.Remote || d.learnt(n, r) {
				continue // implied, or BGP's: not the config's
			}
			c.Routes = append(c.Routes, control.Route{Prefix: r.Prefix, Via: r.Via})
		}
	}
}
