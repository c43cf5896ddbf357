package node

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/bgp"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/fdb"
)

// EVPN: a network with evpn on is announced by the BGP speaker, with the
// hosts its device shows; the peers' announcements for its VNI become its
// flood list (type 3), its FDB's extern entries and the neighbours ARP is
// answered for (type 2). The speaker reports routes on its own goroutine;
// they wait in a queue for evpnLoop, which applies them under the node's
// lock, so that the speaker never waits for the node (which may be calling
// it, under that lock). evpnLoop also announces, once a second, what the
// devices showed since.

// Reasons the node ignores a peer's route, besides the speaker's.
const (
	ignoredVNI     = "vni"      // a VNI not served with evpn
	ignoredNextHop = "next_hop" // an endpoint the underlay cannot reach
	ignoredStatic  = "static"   // a MAC a static entry holds
	ignoredFDB     = "fdb"      // a MAC the full table has no room for
)

// evpnState is the node's side of the speaker.
type evpnState struct {
	speaker *bgp.Speaker

	qmu     sync.Mutex
	queue   []bgp.Route
	pending chan struct{} // a signal: the queue has news

	// vnis is what BGP put in, and what we announce of, each VNI (mu).
	vnis map[uint32]*evpnVNI
	// ignored counts the peers' routes the node did not use, by reason.
	ignored map[string]uint64
	// blocks are the routes BGP put in the IPIP network with bgp on,
	// prefix to next hop (mu; blocks.go).
	blocks map[netip.Prefix]netip.Addr
}

// evpnVNI is one VNI's EVPN state.
type evpnVNI struct {
	// flood are the endpoints type 3 routes put in the flood list, so that
	// a withdrawal removes only those.
	flood map[netip.Addr]bool
	// remote are the peers' type 2 routes in force, by NLRI.
	remote map[string]bgp.Route
	// local are the MACs we announce.
	local map[fdb.MAC]*localMAC
	// device is the device's own MAC, as last read.
	device fdb.MAC
}

// localMAC is what we announce of one host behind the device.
type localMAC struct {
	seq uint32       // MAC mobility sequence number
	ips []netip.Addr // each a MAC/IP route besides the MAC's own
}

func (d *Node) vniState(vni uint32) *evpnVNI {
	v := d.evpn.vnis[vni]
	if v == nil {
		v = &evpnVNI{flood: map[netip.Addr]bool{}, remote: map[string]bgp.Route{}, local: map[fdb.MAC]*localMAC{}}
		d.evpn.vnis[vni] = v
	}
	return v
}

// startEVPN runs the speaker cfg asks for, if any.
func (d *Node) startEVPN(cfg *control.Config) error {
	if cfg.BGP == nil {
		return nil
	}
	d.evpn.pending = make(chan struct{}, 1)
	d.evpn.vnis = map[uint32]*evpnVNI{}
	d.evpn.ignored = map[string]uint64{}
	d.evpn.blocks = map[netip.Prefix]netip.Addr{}
	sp, err := bgp.Start(cfg.BGP, cfg.Underlay.Local, d.log, d.queueRoute)
	if err != nil {
		return err
	}
	d.evpn.speaker = sp
	d.wg.Add(1)
	go d.evpnLoop()
	return nil
}

// queueRoute takes a route from the speaker without waiting.
func (d *Node) queueRoute(r bgp.Route) {
	d.evpn.qmu.Lock()
	d.evpn.queue = append(d.evpn.queue, r)
	d.evpn.qmu.Unlock()
	select {
	case d.evpn.pending <- struct{}{}:
	default:
	}
}

// evpnLoop applies the speaker's routes, and announces what the devices
// showed, until the node stops.
func (d *Node) evpnLoop() {
	defer d.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
			d.mu.Lock()
			d.announceHostsLocked()
			d.mu.Unlock()
			continue
		case <-d.evpn.pending:
		}
		d.evpn.qmu.Lock()
		rs := d.evpn.queue
		d.evpn.queue = nil
		d.evpn.qmu.Unlock()
		d.mu.Lock()
		for _, r := range rs {
			d.applyRouteLocked(r)
		}
		d.mu.Unlock()
	}
}

// evpnNet is the EVPN network of vni, or nil.
func (d *Node) evpnNet(vni uint32) *dataplane.Network {
	for _, n := range d.vxlanNets {
		if n.VNI() == vni && d.specLocked(n.Name()).EVPN {
			return n
		}
	}
	return nil
}

func (d *Node) ignore(why string, r bgp.Route, err error) {
	d.evpn.ignored[why]++
	d.log.Debug("bgp: route ignored", zap.String("reason", why), zap.Uint32("vni", r.VNI),
		zap.Stringer("endpoint", r.Endpoint), zap.Stringer("peer", r.Peer), zap.Error(err))
}

// applyRouteLocked applies a peer's route, or its withdrawal, to the EVPN
// network of its VNI.
func (d *Node) applyRouteLocked(r bgp.Route) {
	if r.Type == bgp.Block {
		d.applyBlockLocked(r)
		return
	}
	nw := d.evpnNet(r.VNI)
	if nw == nil {
		if !r.Withdrawn {
			d.ignore(ignoredVNI, r, nil)
		}
		return
	}
	if !r.Withdrawn {
		if err := d.underlay.CheckRemote(r.Endpoint); err != nil {
			d.ignore(ignoredNextHop, r, err)
			return
		}
	}
	v := d.vniState(r.VNI)
	if r.Type == bgp.MACIP {
		d.applyMACLocked(nw, v, r)
		return
	}
	switch {
	case r.Withdrawn && v.flood[r.Endpoint]:
		delete(v.flood, r.Endpoint)
		if err := nw.Table().DelFlood(r.Endpoint); err == nil {
			d.log.Info("bgp: peer left vni", zap.Uint32("vni", r.VNI), zap.Stringer("endpoint", r.Endpoint))
		}
	case !r.Withdrawn && !v.flood[r.Endpoint]:
		v.flood[r.Endpoint] = true
		if err := nw.Table().AddFlood(r.Endpoint); err == nil {
			d.log.Info("bgp: peer joined vni", zap.Uint32("vni", r.VNI), zap.Stringer("endpoint", r.Endpoint))
		}
	}
	// The running config's remotes stay those of the file: a reload must
	// not take what BGP put in the list for its own.
}

// applyMACLocked records a peer's type 2 route, or its withdrawal, and
// points the MAC's FDB entry at the best route left for it.
func (d *Node) applyMACLocked(nw *dataplane.Network, v *evpnVNI, r bgp.Route) {
	if r.Withdrawn {
		if _, ok := v.remote[r.Key]; !ok {
			return
		}
		delete(v.remote, r.Key)
	} else {
		v.remote[r.Key] = r
	}
	d.installMACLocked(nw, v, r.MAC, r.Endpoint)
	if r.IP.IsValid() {
		d.setNeighborsLocked(nw, v)
	}
}

// bestRemote is the peers' route for mac with the highest MAC mobility
// sequence number (RFC 7432 section 15.1), the lowest endpoint among
// equals.
func (v *evpnVNI) bestRemote(mac fdb.MAC) (bgp.Route, bool) {
	var best bgp.Route
	found := false
	for _, r := range v.remote {
		if r.MAC != mac {
			continue
		}
		if !found || r.Seq > best.Seq || (r.Seq == best.Seq && r.Endpoint.Less(best.Endpoint)) {
			best, found = r, true
		}
	}
	return best, found
}

// installMACLocked makes mac's FDB entry follow the peers' best route for
// it: a MAC that moved from here to a peer (a higher sequence number than
// ours) is withdrawn here; without a route, the entry that pointed at
// was goes.
func (d *Node) installMACLocked(nw *dataplane.Network, v *evpnVNI, mac fdb.MAC, was netip.Addr) {
	best, ok := v.bestRemote(mac)
	if !ok {
		if nw.Table().DelExtern(mac, was) {
			d.log.Debug("bgp: mac withdrawn", zap.Uint32("vni", nw.VNI()), zap.Stringer("mac", mac))
		}
		return
	}
	if l := v.local[mac]; l != nil {
		if best.Seq <= l.seq {
			return // ours is the newer: the peer will withdraw its own
		}
		d.log.Info("bgp: mac moved to a peer", zap.Uint32("vni", nw.VNI()), zap.Stringer("mac", mac),
			zap.Stringer("endpoint", best.Endpoint), zap.Uint32("seq", best.Seq))
		d.withdrawHostLocked(nw, v, mac, l)
		if loc := nw.Local(); loc != nil {
			forgetLocal(loc, mac)
		}
	}
	if err := nw.Table().AddExtern(mac, best.Endpoint); err != nil {
		why := ignoredStatic
		if !errors.Is(err, fdb.ErrStatic) {
			why = ignoredFDB
		}
		d.ignore(why, best, err)
	}
}

// forgetLocal takes mac out of what the device showed.
func forgetLocal(loc *dataplane.Local, mac fdb.MAC) {
	_ = loc.MACs.Del(mac)
	_ = loc.IPv4.Del(mac)
	_ = loc.IPv6.Del(mac)
}

// setNeighborsLocked gives the network the addresses the peers' type 2
// routes carry, for ARP and neighbour discovery suppression.
func (d *Node) setNeighborsLocked(nw *dataplane.Network, v *evpnVNI) {
	nb := dataplane.Neighbors{}
	seq := map[netip.Addr]uint32{}
	for _, r := range v.remote {
		if !r.IP.IsValid() {
			continue
		}
		best, ok := v.bestRemote(r.MAC)
		if !ok || best.Endpoint != r.Endpoint {
			continue
		}
		// An address two MACs claim (one taking over from the other
		// before the old has aged out) goes to the later, by sequence
		// number, then to the lower MAC, so every node answers alike.
		if old, dup := nb[r.IP]; dup && (r.Seq < seq[r.IP] || r.Seq == seq[r.IP] && bytes.Compare(r.MAC[:], old[:]) > 0) {
			continue
		}
		nb[r.IP], seq[r.IP] = r.MAC, r.Seq
	}
	nw.SetNeighbors(nb)
}

// announceHostsLocked announces the hosts the EVPN networks' devices
// showed since the last time, again those whose addresses changed, and
// withdraws those aged out.
func (d *Node) announceHostsLocked() {
	sp := d.evpn.speaker
	if sp == nil {
		return
	}
	for _, nw := range d.vxlanNets {
		loc := nw.Local()
		if loc == nil || !d.specLocked(nw.Name()).EVPN {
			continue
		}
		v := d.vniState(nw.VNI())
		// The device's own MAC is a host behind it, whether it spoke or
		// not; while it stays the device's, it never ages out.
		if mac, err := d.host.DeviceMAC(nw.Name()); err == nil {
			if old := v.device; old != mac && old != (fdb.MAC{}) {
				// Given another address, the device no longer has its old
				// one: the old goes now, not when it ages out.
				forgetLocal(loc, old)
			}
			v.device = mac
			nw.NoteLocal(mac, icmpSource(d.specLocked(nw.Name())))
		}
		ips := map[fdb.MAC][]netip.Addr{}
		for _, t := range []*fdb.Table{loc.IPv4, loc.IPv6} {
			for _, e := range t.Entries() {
				ips[e.MAC] = append(ips[e.MAC], e.Remote)
			}
		}
		seen := map[fdb.MAC]bool{}
		for _, e := range loc.MACs.Entries() {
			seen[e.MAC] = true
			l := v.local[e.MAC]
			if l == nil {
				l = &localMAC{}
				if best, ok := v.bestRemote(e.MAC); ok {
					// RFC 7432 section 15.1: a MAC a peer announced moved
					// here; ours goes out with the next sequence number and
					// the peer's entry is ours no longer.
					l.seq = best.Seq + 1
					nw.Table().DelExtern(e.MAC, best.Endpoint)
					d.log.Info("bgp: mac moved here", zap.Uint32("vni", nw.VNI()), zap.Stringer("mac", e.MAC),
						zap.Stringer("from", best.Endpoint), zap.Uint32("seq", l.seq))
				}
				if err := sp.AnnounceMAC(nw.VNI(), e.MAC, netip.Addr{}, l.seq); err != nil {
					d.log.Warn("bgp: announcing a mac", zap.Error(err))
					continue
				}
				v.local[e.MAC] = l
			}
			now := ips[e.MAC]
			for _, ip := range l.ips {
				if !slices.Contains(now, ip) {
					_ = sp.WithdrawMAC(nw.VNI(), e.MAC, ip)
				}
			}
			for _, ip := range now {
				if !slices.Contains(l.ips, ip) {
					if err := sp.AnnounceMAC(nw.VNI(), e.MAC, ip, l.seq); err != nil {
						d.log.Warn("bgp: announcing a mac", zap.Error(err))
					}
				}
			}
			l.ips = now
		}
		for mac, l := range v.local {
			if !seen[mac] {
				d.withdrawHostLocked(nw, v, mac, l)
			}
		}
	}
}

// withdrawHostLocked withdraws our routes for mac.
func (d *Node) withdrawHostLocked(nw *dataplane.Network, v *evpnVNI, mac fdb.MAC, l *localMAC) {
	sp := d.evpn.speaker
	for _, ip := range append(l.ips, netip.Addr{}) {
		if err := sp.WithdrawMAC(nw.VNI(), mac, ip); err != nil {
			d.log.Warn("bgp: withdrawing a mac", zap.Stringer("mac", mac), zap.Error(err))
		}
	}
	delete(v.local, mac)
}

// announceLocked announces an EVPN network's VNI; its index in the
// running config numbers its RD, as FRR's rd auto does.
func (d *Node) announceLocked(n control.Network) error {
	if !n.EVPN || d.evpn.speaker == nil {
		return nil
	}
	return d.evpn.speaker.AnnounceVNI(n.VNI, uint16(len(d.vxlanNets)))
}

// heldRoutesLocked applies to a network just added the peers' routes for
// its VNI that the speaker already holds: the network was restarted, or
// came after them.
func (d *Node) heldRoutesLocked(n control.Network) {
	if !n.EVPN || d.evpn.speaker == nil {
		return
	}
	for _, r := range d.evpn.speaker.Held(n.VNI) {
		d.applyRouteLocked(r)
	}
}

// refloodLocked puts back in a network's flood list what BGP put there,
// after the list was set from the config.
func (d *Node) refloodLocked(nw *dataplane.Network) {
	if v := d.evpn.vnis[nw.VNI()]; v != nil {
		for e := range v.flood {
			_ = nw.Table().AddFlood(e)
		}
	}
}

// withdrawLocked withdraws a VNI with its hosts and forgets what BGP put
// in its tables.
func (d *Node) withdrawLocked(vni uint32) {
	if d.evpn.speaker == nil {
		return
	}
	if err := d.evpn.speaker.WithdrawVNI(vni); err != nil {
		d.log.Warn("bgp: withdrawing vni", zap.Uint32("vni", vni), zap.Error(err))
	}
	delete(d.evpn.vnis, vni)
}

// closeEVPN stops the speaker, once: its peers withdraw our routes.
func (d *Node) closeEVPN() error {
	d.mu.Lock()
	sp := d.evpn.speaker
	d.evpn.speaker = nil
	d.mu.Unlock()
	if sp == nil {
		return nil
	}
	return sp.Close()
}

// errNoSpeaker answers the BGP calls of a node that runs no speaker.
var errNoSpeaker = control.Errorf(control.ErrNotFound, "bgp: no BGP speaker (give bgp: in the config, or --bgp-asn)")

// BGP describes the speaker and its sessions.
func (d *Node) BGP() (control.BGPInfo, error) {
	d.mu.Lock()
	sp := d.evpn.speaker
	var info control.BGPInfo
	if sp != nil {
		info.ASN = d.cfg.BGP.ASN
		info.Ignored = sp.Ignored()
		for k, v := range d.evpn.ignored {
			info.Ignored[k] += v
		}
		for _, k := range []string{ignoredVNI, ignoredNextHop, ignoredStatic, ignoredFDB, ignoredOwnBlock, ignoredDefault, ignoredNoIPIP} {
			if _, ok := info.Ignored[k]; !ok {
				info.Ignored[k] = 0 // every reason listed, zeros too
			}
		}
		info.RouterID = sp.RouterID().String()
	}
	d.mu.Unlock()
	if sp == nil {
		return info, errNoSpeaker
	}
	ns, err := sp.Neighbors()
	if err != nil {
		return info, err
	}
	now := time.Now()
	for _, n := range ns {
		bn := control.BGPNeighbor{Address: n.Address.String(), ASN: n.ASN, State: n.State,
			Received: n.Received, Accepted: n.Accepted, Sent: n.Sent, Reason: n.Reason}
		if !n.Since.IsZero() {
			bn.UptimeSeconds = now.Sub(n.Since).Round(time.Second).Seconds()
		}
		info.Neighbors = append(info.Neighbors, bn)
	}
	return info, nil
}

// BGPNeighborAdd opens a session with n, and keeps it in the running
// config, so that a reload keeps it too unless the file says otherwise.
func (d *Node) BGPNeighborAdd(n control.Neighbor) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp := d.evpn.speaker
	if sp == nil {
		return errNoSpeaker
	}
	if n.ASN == 0 {
		n.ASN = d.cfg.BGP.ASN
	}
	if n.Port == 0 {
		n.Port = control.DefaultBGPPort
	}
	for _, o := range d.cfg.BGP.Neighbors {
		if o.Address == n.Address {
			return control.Errorf(control.ErrExists, "bgp neighbor %s: already there", n.Address)
		}
	}
	if err := sp.AddNeighbor(n); err != nil {
		return control.Errorf(control.ErrInvalid, "bgp neighbor %s: %v", n.Address, err)
	}
	d.cfg.BGP.Neighbors = append(slices.Clone(d.cfg.BGP.Neighbors), n)
	return nil
}

// BGPNeighborDel closes the session with the neighbor at addr.
func (d *Node) BGPNeighborDel(addr netip.Addr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp := d.evpn.speaker
	if sp == nil {
		return errNoSpeaker
	}
	i := slices.IndexFunc(d.cfg.BGP.Neighbors, func(n control.Neighbor) bool { return n.Address == addr })
	if i < 0 {
		return control.Errorf(control.ErrNotFound, "bgp neighbor %s: no such neighbor", addr)
	}
	if err := sp.DeleteNeighbor(addr); err != nil {
		return err
	}
	d.cfg.BGP.Neighbors = slices.Delete(slices.Clone(d.cfg.BGP.Neighbors), i, i+1)
	return nil
}

// EVPNRoutes lists the EVPN table, of one VNI unless all.
func (d *Node) EVPNRoutes(vni uint32, all bool) ([]control.EVPNRoute, error) {
	d.mu.Lock()
	sp := d.evpn.speaker
	d.mu.Unlock()
	if sp == nil {
		return nil, errNoSpeaker
	}
	rs, err := sp.Routes()
	if err != nil {
		return nil, err
	}
	out := []control.EVPNRoute{}
	for _, r := range rs {
		if !all && r.VNI != vni {
			continue
		}
		er := control.EVPNRoute{Type: uint8(r.Type), RD: r.RD, VNI: r.VNI, NextHop: addrOrEmpty(r.Endpoint),
			Seq: r.Seq, Peer: addrOrEmpty(r.Peer), Best: r.Best}
		if r.Type == bgp.MACIP {
			er.MAC = r.MAC.String()
			er.IP = addrOrEmpty(r.IP)
		}
		out = append(out, er)
	}
	return out, nil
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
