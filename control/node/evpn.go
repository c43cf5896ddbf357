package node

import (
	"net/netip"
	"sync"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/bgp"
	"github.com/vtepd/vtepd/dataplane"
)

// EVPN: a network with evpn on is announced by the BGP speaker, and the
// peers' announcements for its VNI become its flood list. The speaker
// reports them on its own goroutine; they wait in a queue for evpnLoop,
// which applies them under the node's lock, so that the speaker never
// waits for the node (which may be calling it, under that lock).

// evpnState is the node's side of the speaker.
type evpnState struct {
	speaker *bgp.Speaker

	qmu     sync.Mutex
	queue   []bgp.IMET
	pending chan struct{} // a signal: the queue has news

	// flood is what BGP put in each VNI's flood list, so that a withdrawal
	// removes only that (mu).
	flood map[uint32]map[netip.Addr]bool
	// ignored counts routes for VNIs this node does not serve with evpn.
	ignored uint64
}

// startEVPN runs the speaker cfg asks for, if any.
func (d *Node) startEVPN(cfg *control.Config) error {
	if cfg.BGP == nil {
		return nil
	}
	d.evpn.pending = make(chan struct{}, 1)
	d.evpn.flood = map[uint32]map[netip.Addr]bool{}
	sp, err := bgp.Start(cfg.BGP, cfg.Underlay.Local, d.log, d.queueIMET)
	if err != nil {
		return err
	}
	d.evpn.speaker = sp
	d.wg.Add(1)
	go d.evpnLoop()
	return nil
}

// queueIMET takes a route from the speaker without waiting.
func (d *Node) queueIMET(r bgp.IMET) {
	d.evpn.qmu.Lock()
	d.evpn.queue = append(d.evpn.queue, r)
	d.evpn.qmu.Unlock()
	select {
	case d.evpn.pending <- struct{}{}:
	default:
	}
}

// evpnLoop applies the speaker's routes until the node stops.
func (d *Node) evpnLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case <-d.evpn.pending:
		}
		d.evpn.qmu.Lock()
		rs := d.evpn.queue
		d.evpn.queue = nil
		d.evpn.qmu.Unlock()
		d.mu.Lock()
		for _, r := range rs {
			d.applyIMETLocked(r)
		}
		d.mu.Unlock()
	}
}

// applyIMETLocked puts a peer's endpoint in, or takes it out of, the flood
// list of the EVPN network of its VNI.
func (d *Node) applyIMETLocked(r bgp.IMET) {
	var nw *dataplane.Network
	for _, n := range d.vxlanNets {
		if n.VNI() == r.VNI && d.specLocked(n.Name()).EVPN {
			nw = n
		}
	}
	if nw == nil {
		d.evpn.ignored++
		d.log.Debug("bgp: route for a vni not served with evpn", zap.Uint32("vni", r.VNI), zap.Stringer("endpoint", r.Endpoint))
		return
	}
	learnt := d.evpn.flood[r.VNI]
	if learnt == nil {
		learnt = map[netip.Addr]bool{}
		d.evpn.flood[r.VNI] = learnt
	}
	switch {
	case r.Withdrawn && learnt[r.Endpoint]:
		delete(learnt, r.Endpoint)
		if err := nw.Table().DelFlood(r.Endpoint); err == nil {
			d.log.Info("bgp: peer left vni", zap.Uint32("vni", r.VNI), zap.Stringer("endpoint", r.Endpoint))
		}
	case !r.Withdrawn && !learnt[r.Endpoint]:
		if err := d.underlay.CheckRemote(r.Endpoint); err != nil {
			d.evpn.ignored++
			d.log.Warn("bgp: route ignored", zap.Uint32("vni", r.VNI), zap.Stringer("endpoint", r.Endpoint), zap.Error(err))
			return
		}
		learnt[r.Endpoint] = true
		if err := nw.Table().AddFlood(r.Endpoint); err == nil {
			d.log.Info("bgp: peer joined vni", zap.Uint32("vni", r.VNI), zap.Stringer("endpoint", r.Endpoint))
		}
	}
	// The running config's remotes stay those of the file: a reload must
	// not take what BGP put in the list for its own.
}

// announceLocked announces an EVPN network's VNI; its index in the
// running config numbers its RD, as FRR's rd auto does.
func (d *Node) announceLocked(n control.Network) error {
	if !n.EVPN || d.evpn.speaker == nil {
		return nil
	}
	return d.evpn.speaker.AnnounceVNI(n.VNI, uint16(len(d.vxlanNets)))
}

// withdrawLocked withdraws a VNI and forgets what BGP put in its list.
func (d *Node) withdrawLocked(vni uint32) {
	if d.evpn.speaker == nil {
		return
	}
	if err := d.evpn.speaker.WithdrawVNI(vni); err != nil {
		d.log.Warn("bgp: withdrawing vni", zap.Uint32("vni", vni), zap.Error(err))
	}
	delete(d.evpn.flood, vni)
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
