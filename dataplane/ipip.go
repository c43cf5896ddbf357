package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// IPIPConfig is one IP-in-IP network (RFC 2003): a TUN device whose IPv4
// packets go, by longest-prefix match on their destination, to a remote
// endpoint inside an outer IPv4 header of protocol 4.
type IPIPConfig struct {
	Name string
	// MTU is the device's MTU.
	MTU int
	// PathMTU is the largest inner packet the underlay carries: its MTU
	// minus the 20-byte outer header. A larger packet with DF set is
	// answered with ICMP "fragmentation needed" carrying this value.
	PathMTU int
	// Address is the device's own IPv4 address, the source of those ICMP
	// messages; without one, they come from the packet's destination.
	Address netip.Addr
	// TTL of the outer header; 0 copies the inner packet's TTL.
	TTL uint8
	// DF of the outer header: encap.IPIPDFCopy (the default, from the
	// inner packet), encap.IPIPDFSet or encap.IPIPDFClear.
	DF int8
	// Routes map inner destinations to remotes; a point-to-point tunnel is
	// one default route.
	Routes []fdb.Route
}

// IPIPUnderlay owns the raw protocol-4 socket of one local address and the
// IPIP networks that share it. Received packets are accepted only from known
// remotes (the endpoints of the networks' routes) and go to the network
// whose routes name their sender.
type IPIPUnderlay struct {
	obs     ObserverPoint // trace and capture (observe.go)
	local   netip.Addr
	conn    Conn
	readers []Conn // conn's receiving sockets, each read by its own worker
	log     *zap.Logger
	baseLog *zap.Logger // the logger networks derive theirs from

	// nets is replaced whole by the writer (mu), read without a lock.
	nets atomic.Pointer[[]*IPIPNetwork]
	mu   sync.Mutex

	// Counters holds drops before a network is known: malformed outer
	// headers and senders that are no known remote; a shard per receive
	// worker.
	Counters Counters
	readErrs atomic.Int64 // last read-error log, unix nanoseconds

	wg     sync.WaitGroup
	closed atomic.Bool
}

// NewIPIPUnderlay wraps conn, the IPIP sockets of local (ListenIPIP).
func NewIPIPUnderlay(local netip.Addr, conn Conn, log *zap.Logger) (*IPIPUnderlay, error) {
	if !local.Is4() {
		return nil, fmt.Errorf("ipip: local address %s: want IPv4 (RFC 2003 outer headers are IPv4)", local)
	}
	if log == nil {
		log = zap.NewNop()
	}
	u := &IPIPUnderlay{local: local, conn: conn, baseLog: log,
		log: log.With(zap.String("network", "ipip-underlay"), zap.Stringer("local", local))}
	u.nets.Store(&[]*IPIPNetwork{})
	u.readers = receivers(conn)
	u.Counters.init(len(u.readers))
	return u, nil
}

// Start runs the receive workers, one per receiving socket, until Close.
func (u *IPIPUnderlay) Start() {
	for i, r := range u.readers {
		u.wg.Add(1)
		go u.rxLoop(r, i)
	}
}

// QueueStats returns, for each receiving socket, the outer packets its
// worker read (Rx) and its worker's time; the IPIP networks count what
// they send.
func (u *IPIPUnderlay) QueueStats() []QueueStats {
	out := make([]QueueStats, len(u.readers))
	for r, s := range u.Counters.Shards() {
		out[r] = QueueStats{RxPackets: s.RxPackets, RxBytes: s.RxBytes, Up: s.Up, Busy: s.Busy}
	}
	return out
}

// Local is the underlay address outer packets are sent from.
func (u *IPIPUnderlay) Local() netip.Addr { return u.local }

// Networks returns the IPIP networks.
func (u *IPIPUnderlay) Networks() []*IPIPNetwork {
	return append([]*IPIPNetwork(nil), *u.nets.Load()...)
}

// AddNetwork starts forwarding between link and the underlay. The network
// owns link from then on.
func (u *IPIPUnderlay) AddNetwork(cfg IPIPConfig, link Link) (*IPIPNetwork, error) {
	if cfg.PathMTU <= 0 || cfg.MTU <= 0 {
		return nil, fmt.Errorf("network %q: MTU %d and path MTU %d, want both > 0", cfg.Name, cfg.MTU, cfg.PathMTU)
	}
	if cfg.DF < encap.IPIPDFCopy || cfg.DF > encap.IPIPDFSet {
		return nil, fmt.Errorf("network %q: DF mode %d, want -1 (copy), 0 (clear) or 1 (set)", cfg.Name, cfg.DF)
	}
	n := &IPIPNetwork{
		cfg:       cfg,
		u:         u,
		netDevice: newNetDevice(link),
		routes:    fdb.NewRouteTable(),
		log:       u.baseLog.With(zap.String("network", cfg.Name)),
	}
	// A shard per transmit worker, then one per receive worker.
	n.Counters.tun = true
	n.Counters.init(len(n.queues) + len(u.readers))
	for _, r := range cfg.Routes {
		if err := n.checkVia(r.Via); err != nil {
			return nil, fmt.Errorf("network %q: route %s: %w", cfg.Name, r, err)
		}
	}
	if err := n.routes.Set(cfg.Routes); err != nil {
		return nil, fmt.Errorf("network %q: %w", cfg.Name, err)
	}
	n.refreshRemotes()

	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed.Load() {
		return nil, errors.New("underlay closed")
	}
	old := *u.nets.Load()
	for _, o := range old {
		if o.cfg.Name == cfg.Name {
			return nil, fmt.Errorf("network %q: name in use", cfg.Name)
		}
	}
	next := append(append([]*IPIPNetwork(nil), old...), n)
	u.nets.Store(&next)
	for i := range n.queues {
		w := n.txWorker(i)
		n.wg.Add(1)
		// Packets are routed to a remote, encapsulated and sent.
		run := func() { w.txLoop(w.queue, w.log, w.forward, w.send) }
		if d, ok := w.queue.(vnetLink); ok {
			run = func() { w.txLoopVnet(d) }
		}
		w.c.goWorker(w.queue, run)
	}
	return n, nil
}

// RemoveNetwork stops the named network and closes its link.
func (u *IPIPUnderlay) RemoveNetwork(name string) error {
	u.mu.Lock()
	old := *u.nets.Load()
	var n *IPIPNetwork
	next := make([]*IPIPNetwork, 0, len(old))
	for _, o := range old {
		if o.cfg.Name == name {
			n = o
			continue
		}
		next = append(next, o)
	}
	if n == nil {
		u.mu.Unlock()
		return fmt.Errorf("network %q: no such IPIP network", name)
	}
	u.nets.Store(&next)
	u.mu.Unlock()
	return n.stop()
}

// Close stops every network, then the receive loop, and closes the socket.
func (u *IPIPUnderlay) Close() error {
	u.mu.Lock()
	if u.closed.Swap(true) {
		u.mu.Unlock()
		return nil
	}
	old := *u.nets.Load()
	u.nets.Store(&[]*IPIPNetwork{})
	u.mu.Unlock()
	var errs []error
	for _, n := range old {
		if err := n.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := u.conn.Close(); err != nil {
		errs = append(errs, err)
	}
	u.wg.Wait()
	return errors.Join(errs...)
}

// rxLoop is receive worker w: it reads conn, checks each packet's sender
// and hands the inner packet to the network that routes to that sender.
func (u *IPIPUnderlay) rxLoop(conn Conn, w int) {
	defer u.wg.Done()
	r := newConnReader(conn, &u.closed, u.log, &u.readErrs)
	q := newRxQueue(w)
	c := u.Counters.shard(w)
	c.startWorker(conn)
	defer c.stopWorker()
	for {
		q.flush()
		n, ok := r.read()
		if !ok {
			return
		}
		nets := *u.nets.Load()
		var bytes uint64
	packets:
		for i := 0; i < n; i++ {
			pkt := r.bufs[i][:r.sizes[i]]
			bytes += uint64(len(pkt))
			src, inner, err := encap.DecapIPIP(pkt)
			if err != nil {
				c.drop(u.log, DropMalformed, 1, err)
				if t := u.obs.on(); t != nil {
					t.dropFrom(DropMalformed, StageSocketIn, pkt, r.srcs[i])
				}
				continue
			}
			for _, nw := range nets {
				if _, ok := (*nw.remotes.Load())[src]; ok {
					if t := nw.obs.on(); t != nil {
						t.received(pkt, netip.AddrPortFrom(src, 0))
					}
					nw.receive(inner, q)
					continue packets
				}
			}
			c.drop(u.log, DropUnknownSource, 1, nil)
			if t := u.obs.on(); t != nil {
				t.dropFrom(DropUnknownSource, StageSocketIn, pkt, netip.AddrPortFrom(src, 0))
			}
		}
		c.RxPackets.Add(uint64(n))
		c.RxBytes.Add(bytes)
	}
}

// IPIPNetwork forwards packets between one TUN device and the underlay.
type IPIPNetwork struct {
	obs ObserverPoint // trace and capture (observe.go)
	netDevice
	cfg    IPIPConfig
	u      *IPIPUnderlay
	routes *fdb.RouteTable
	log    *zap.Logger

	// remotes is the set of route endpoints, rebuilt when routes change.
	remotes atomic.Pointer[map[netip.Addr]struct{}]
	mu      sync.Mutex // serialises route changes

	// Counters are this network's traffic and drop counters: one shard per
	// transmit worker (device queue), then one per receive worker.
	Counters Counters
}

// ipipTx is one transmit worker of an IPIP network: it reads one device
// queue, owns its buffers and scratch space, and counts into its own shard.
type ipipTx struct {
	*IPIPNetwork
	queue Link
	c     *counterShard
	icmp  []byte // an ICMP answer being written
	one   [][]byte
}

// txWorker returns transmit worker i's state.
func (n *IPIPNetwork) txWorker(i int) *ipipTx {
	return &ipipTx{
		IPIPNetwork: n, queue: n.queues[i], c: n.Counters.shard(i),
		icmp: make([]byte, encap.IPv4MinHeaderLen+encap.ICMPv4HeaderLen+encap.IPv4MaxHeaderLen+8),
		one:  make([][]byte, 1),
	}
}

// Config returns the network's settings as started.
func (n *IPIPNetwork) Config() IPIPConfig { return n.cfg }

// Name is the network's (and its device's) name.
func (n *IPIPNetwork) Name() string { return n.cfg.Name }

// Routes is the network's route table.
func (n *IPIPNetwork) Routes() []fdb.Route { return n.routes.Routes() }

// Link is the network's device.
func (n *IPIPNetwork) Link() Link { return n.link }

// QueueStats returns the traffic of each of the device's queues.
func (n *IPIPNetwork) QueueStats() []QueueStats { return n.queueStats(&n.Counters) }

// AddRoute adds a route; its endpoint becomes a known remote.
func (n *IPIPNetwork) AddRoute(r fdb.Route) error {
	if err := n.checkVia(r.Via); err != nil {
		return fmt.Errorf("route %s: %w", r, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.routes.Add(r); err != nil {
		return err
	}
	n.refreshRemotes()
	return nil
}

// DelRoute removes the route for prefix p.
func (n *IPIPNetwork) DelRoute(p netip.Prefix) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.routes.Del(p); err != nil {
		return err
	}
	n.refreshRemotes()
	return nil
}

func (n *IPIPNetwork) checkVia(via netip.Addr) error {
	if err := CheckRemote(n.u.local, via.Unmap()); err != nil {
		return fmt.Errorf("via %s: %w", via, err)
	}
	return nil
}

func (n *IPIPNetwork) refreshRemotes() {
	m := map[netip.Addr]struct{}{}
	for _, r := range n.routes.Remotes() {
		m[r.Unmap()] = struct{}{}
	}
	n.remotes.Store(&m)
}

// forward routes the packet at buf[Headroom:Headroom+pktLen], encapsulates
// it in place and appends it to out, or drops it and counts why.
func (n *ipipTx) forward(buf []byte, pktLen int, out [][]byte) [][]byte {
	pkt := buf[Headroom : Headroom+pktLen]
	ob := n.obs.on()
	if ob != nil {
		ob.deviceIn(pkt)
	}
	if len(pkt) == 0 {
		n.dropped(ob, DropMalformed, StageDeviceIn, pkt, encap.ErrShortPacket)
		return out
	}
	if pkt[0]>>4 != encap.IPv4Version {
		n.dropped(ob, DropUnsupported, StageDeviceIn, pkt, nil)
		return out
	}
	ip := encap.IPv4(pkt)
	if !ip.IsValid() {
		n.dropped(ob, DropMalformed, StageDeviceIn, pkt, encap.ErrBadIPv4Header)
		return out
	}
	pkt = pkt[:ip.TotalLength()]
	via, ok := n.routes.Lookup(ip.Dst())
	if ob != nil {
		// The prefix, for the trace alone: the fast lookup does not keep it.
		rt, _ := n.routes.Match(ip.Dst())
		ob.lookupRoute(pkt, via, rt.Prefix, ok)
	}
	if !ok {
		n.dropped(ob, DropNoRemote, StageLookup, pkt, nil)
		return out
	}
	if len(pkt) > n.cfg.PathMTU {
		n.dropped(ob, DropTooBig, StageLookup, pkt, nil)
		if ip.DF() {
			// As a router would (RFC 1191 section 4): tell the sender the
			// largest packet this tunnel carries, from the tunnel's own
			// address (the device has accept_local, or the kernel would
			// drop it as a martian), or without one from the packet's
			// destination, which is routed through this device. The
			// sender keys the new path MTU on the quoted header's
			// destination.
			src := n.cfg.Address
			if !src.Is4() {
				src = ip.Dst()
			}
			if m, err := encap.PutICMPFragNeeded(n.icmp, src, pkt, uint16(n.cfg.PathMTU)); err == nil {
				n.one[0] = n.icmp[:m]
				if _, err := n.queue.Write(n.one, 0); err != nil {
					n.c.drop(n.log, DropLinkWrite, 1, err)
				}
			}
		}
		return out
	}
	outer := buf[Headroom-encap.IPv4MinHeaderLen : Headroom+len(pkt)]
	o := encap.OuterIPIP{Src: n.u.local, Dst: via, TTL: n.cfg.TTL, DF: n.cfg.DF}
	if err := encap.EncapIPIP(outer, &o); err != nil {
		n.dropped(ob, DropMalformed, StageLookup, pkt, err)
		return out
	}
	if ob != nil {
		ob.encap(outer)
	}
	return append(out, outer)
}

// dropped counts one packet dropped for reason d, with err for the
// rate-limited log, and shows it to the observer t, if any, as dropped at
// stage at.
func (n *ipipTx) dropped(t *observing, d Drop, at Stage, b []byte, err error) {
	n.c.drop(n.log, d, 1, err)
	if t != nil {
		t.drop(d, at, b)
	}
}

func (n *ipipTx) send(pkts [][]byte) {
	if len(pkts) == 0 {
		return
	}
	sent, err := n.u.conn.WriteBatch(pkts)
	if ob := n.obs.on(); ob != nil {
		ob.sent(pkts, sent)
	}
	countSent(n.c, n.log, pkts, encap.IPv4MinHeaderLen, sent, err)
}

// receive queues one decapsulated packet for the device.
func (n *IPIPNetwork) receive(pkt []byte, q *rxQueue) {
	c := n.Counters.shard(len(n.queues) + q.worker)
	if encap.FinishPartialChecksum(pkt, 0) {
		c.CsumCompleted.Add(1)
	}
	if t := n.obs.on(); t != nil {
		t.deviceOut(pkt)
	}
	q.add(n.rxQueue(q.worker), c, n.log, 0, pkt)
}
