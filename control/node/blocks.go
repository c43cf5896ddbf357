package node

import (
	"net/netip"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/bgp"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/fdb"
)

// Blocks: the IPIP network with bgp on announces its blocks of pod
// addresses with the underlay address as next hop, and every peer's block
// becomes a route into it, in vtepd's table and the kernel's (proto bgp),
// as Calico's BIRD programs `via <node> dev tunl0 onlink`. A route names
// its node's endpoint, so it is also what lets that node's packets in.
//
// What is installed follows the speaker's routes in force (HeldBlocks):
// syncBlocksLocked makes the table match them after any change, so a
// static route removed, or the network restarted, gets the peers' blocks
// back without waiting for the peers.

// Reasons the node ignores a peer's block, besides the speaker's.
const (
	ignoredOwnBlock = "own_block" // overlaps one of ours
	ignoredDefault  = "default"   // 0.0.0.0/0 without accept_default
	ignoredNoIPIP   = "no_ipip"   // no ipip network takes part in BGP
)

// blockNetLocked is the IPIP network with bgp on, and its config.
func (d *Node) blockNetLocked() (*dataplane.IPIPNetwork, control.Network) {
	for _, n := range d.ipipNets {
		if c := d.specLocked(n.Name()); c.BGP {
			return n, c
		}
	}
	return nil, control.Network{}
}

// blockProblem says why a peer's block cannot be installed in the network
// of config c, or "".
func (d *Node) blockProblem(c control.Network, r bgp.Route) string {
	if r.Prefix.Bits() == 0 {
		// A default route covers every block, ours too: taken only when
		// asked for (a gateway out of the pod network), never as ours.
		if !c.AcceptDefault {
			return ignoredDefault
		}
	} else {
		for _, own := range c.Blocks {
			if own.Overlaps(r.Prefix) {
				return ignoredOwnBlock
			}
		}
	}
	if dataplane.CheckRemote(d.local, r.Endpoint) != nil {
		return ignoredNextHop
	}
	return ""
}

// applyBlockLocked counts a peer's block that cannot be used, and brings
// the routes in line with the speaker's.
func (d *Node) applyBlockLocked(r bgp.Route) {
	if !r.Withdrawn {
		n, c := d.blockNetLocked()
		why := ""
		switch {
		case n == nil:
			why = ignoredNoIPIP
		default:
			why = d.blockProblem(c, r)
		}
		if why != "" {
			d.ignore(why, r, nil)
			d.log.Warn("bgp: block ignored", zap.String("reason", why), zap.Stringer("prefix", r.Prefix),
				zap.Stringer("next_hop", r.Endpoint), zap.Stringer("peer", r.Peer))
		}
	}
	d.syncBlocksLocked()
}

// syncBlocksLocked installs the peers' usable blocks the speaker holds and
// removes what it installed that they no longer say. A prefix a static
// route holds stays static.
func (d *Node) syncBlocksLocked() {
	sp := d.evpn.speaker
	n, c := d.blockNetLocked()
	want := map[netip.Prefix]netip.Addr{}
	if sp != nil && n != nil {
		static := map[netip.Prefix]bool{}
		for _, r := range c.Routes {
			static[r.Prefix] = true
		}
		for _, r := range sp.HeldBlocks() {
			if d.blockProblem(c, r) == "" && !static[r.Prefix] {
				want[r.Prefix] = r.Endpoint
			}
		}
	}
	for p, via := range d.evpn.blocks {
		if want[p] == via {
			continue
		}
		delete(d.evpn.blocks, p)
		if n == nil {
			continue // the routes went with the network
		}
		if err := d.routeDelLocked(n, p); err != nil {
			d.log.Warn("bgp: removing a block's route", zap.Stringer("prefix", p), zap.Error(err))
		}
	}
	for p, via := range want {
		if _, ok := d.evpn.blocks[p]; ok {
			continue
		}
		d.evpn.blocks[p] = via // before routeAddLocked records the config
		if err := d.routeAddLocked(n, fdb.Route{Prefix: p, Via: via}, dataplane.RouteBGP); err != nil {
			delete(d.evpn.blocks, p)
			d.log.Warn("bgp: installing a block's route", zap.Stringer("prefix", p), zap.Stringer("via", via), zap.Error(err))
		}
	}
}

// staticRouteAddLocked adds a route of the config or the API: one BGP put
// in for the same prefix gives way to it.
func (d *Node) staticRouteAddLocked(n *dataplane.IPIPNetwork, r fdb.Route) error {
	if _, ok := d.evpn.blocks[r.Prefix]; ok {
		delete(d.evpn.blocks, r.Prefix)
		if err := d.routeDelLocked(n, r.Prefix); err != nil {
			return err
		}
	}
	return d.routeAddLocked(n, r, dataplane.RouteBoot)
}

// learnt reports whether n's route r was put there by BGP.
func (d *Node) learnt(n *dataplane.IPIPNetwork, r fdb.Route) bool {
	if via, ok := d.evpn.blocks[r.Prefix]; ok && via == r.Via {
		if bn, _ := d.blockNetLocked(); bn == n {
			return true
		}
	}
	return false
}

// announceBlocksLocked announces the blocks of an IPIP network with bgp on
// and installs the peers' it already holds.
func (d *Node) announceBlocksLocked(c control.Network) {
	if !c.BGP || d.evpn.speaker == nil {
		return
	}
	for _, b := range c.Blocks {
		if err := d.evpn.speaker.AnnounceBlock(b); err != nil {
			d.log.Warn("bgp: block not announced", zap.Stringer("prefix", b), zap.Error(err))
		}
	}
	d.syncBlocksLocked()
}

// withdrawBlocksLocked withdraws an IPIP network's blocks and forgets the
// routes BGP put in it (they go with the network).
func (d *Node) withdrawBlocksLocked(c control.Network) {
	if !c.BGP || d.evpn.speaker == nil {
		return
	}
	for _, b := range c.Blocks {
		if err := d.evpn.speaker.WithdrawBlock(b); err != nil {
			d.log.Warn("bgp: withdrawing a block", zap.Stringer("prefix", b), zap.Error(err))
		}
	}
	clear(d.evpn.blocks)
}
