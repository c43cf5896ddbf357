package dataplane

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// NetworkConfig is one VXLAN network: a VNI, its device and its FDB.
type NetworkConfig struct {
	Name string
	VNI  uint32
	// MTU is the device's MTU: the largest inner IP packet. Frames longer
	// than MTU plus an Ethernet header (and one VLAN tag) are dropped.
	MTU int
	// Remotes is the initial flood list (head-end replication).
	Remotes []netip.Addr
	// FDB configures learning, ageing, the entry limit and how often a
	// learnt MAC may move between remotes (MoveLimit: a frame from a MAC
	// held in place is dropped as mac_flap).
	FDB fdb.Config
	// Group, when valid, is the multicast group broadcast, multicast and
	// unknown-unicast frames go to (besides any flood-list entries), joined
	// on the underlay device Dev; members learn each other from what
	// arrives, and unicast then goes direct.
	Group netip.Addr
	Dev   string
	// FloodRate is how many frames a second may be flooded (broadcast,
	// multicast and unknown unicast, each counted once however many copies
	// it makes), with a burst of as many; a frame over the rate is dropped
	// as flood_limit. 0 means no limit.
	FloodRate int
	// PathMTU is the largest outer packet the underlay carries, its
	// device's MTU; 0 leaves outer packets as they are. Over IPv4, a
	// larger one is cut into fragments, as Linux's vxlan does with df
	// unset, or with the outer DF bit set, dropped as too_big and an inner
	// IPv4 packet with DF answered with ICMP "fragmentation needed".
	PathMTU int
	// DF is the outer DF bit: encap.IPIPDFClear (the default, as the
	// kernel's df unset), encap.IPIPDFSet or encap.IPIPDFCopy (inherit
	// the inner IPv4 packet's).
	DF int8
	// Address is the device's own IPv4 address, the source of ICMP
	// "fragmentation needed"; when invalid, the packet's destination.
	Address netip.Addr
	// TrackLocal keeps what the device shows of the hosts behind it
	// (Network.Local), for a control plane to announce, and answers ARP
	// for the neighbours it names (Network.SetNeighbors): an EVPN network.
	TrackLocal bool
}

// Network forwards frames between one device and the underlay for one VNI.
type Network struct {
	netDevice
	cfg      NetworkConfig
	u        *Underlay
	table    *fdb.Table
	group    *group // nil without a multicast group
	maxFrame int
	log      *zap.Logger
	obs      ObserverPoint // trace and capture (observe.go)
	// floodBudget is FloodRate's token bucket, shared by the transmit
	// workers.
	floodBudget *tokenBucket
	neighborState

	// accept is the accept list with UnderlayConfig.AcceptPeers; acceptMu
	// orders RefreshAccept calls (see underlay.go).
	accept   atomic.Pointer[acceptList]
	acceptMu sync.Mutex

	// Counters are this network's traffic and drop counters: one shard per
	// transmit worker (device queue), then one per underlay receive worker,
	// then one the multicast groups' receive loops share.
	Counters Counters
}

// vxlanTx is one transmit worker of a network: it reads one device queue,
// owns its buffers and scratch space, and counts into its own shard.
type vxlanTx struct {
	*Network
	queue Link
	c     *counterShard
	uc    *counterShard // the underlay's, for what leaves by its sockets
	one   [][]byte      // the one-packet batch, for flooding
	// frag holds the fragments of one outer packet (fragment.go), made
	// at the first.
	frag *fragmenter
	// reply is an ARP reply's frame (local.go), made at the first.
	reply []byte
}

// countUnderlay counts sent, whole outer packets as the underlay's TX:
// datagrams and their UDP payload bytes (what follows outer bytes).
func (n *vxlanTx) countUnderlay(sent [][]byte, outer int) {
	var bytes uint64
	for _, p := range sent {
		bytes += uint64(len(p) - outer)
	}
	n.uc.TxPackets.Add(uint64(len(sent)))
	n.uc.TxBytes.Add(bytes)
}

// txWorker returns transmit worker i's state.
func (n *Network) txWorker(i int) *vxlanTx {
	return &vxlanTx{Network: n, queue: n.queues[i], c: n.Counters.shard(i), uc: n.u.txShard(i), one: make([][]byte, 1)}
}

// rxShard is the shard receive worker r of the underlay counts into.
func (n *Network) rxShard(r int) *counterShard { return n.Counters.shard(len(n.queues) + r) }

// rxQueue is the device queue receive worker r writes into: each its own
// where there are as many queues as workers.
func (p *netDevice) rxQueue(r int) Link { return p.queues[r%len(p.queues)] }

func newNetwork(u *Underlay, cfg NetworkConfig, link Link) *Network {
	n := &Network{
		cfg:       cfg,
		u:         u,
		netDevice: newNetDevice(link),
		table:     fdb.NewTable(cfg.VNI, cfg.FDB),
		// The outer headers and the frame must fit an IP packet's length
		// field, whatever MTU the device was given.
		maxFrame: min(cfg.MTU+encap.EthernetHeaderLen+vlanTagLen, maxPacket-u.hdrLen),
		log:      u.baseLog.With(zap.String("network", cfg.Name), zap.Uint32("vni", cfg.VNI)),
	}
	n.Counters.init(len(n.queues) + u.receivers() + 1)
	if cfg.TrackLocal {
		n.local = newLocal(cfg.VNI, cfg.FDB)
	}
	n.table.SetFlood(cfg.Remotes)
	n.floodBudget = newTokenBucket(cfg.FloodRate, fdb.Now())
	n.accept.Store(newAcceptList(n.table.Flood(), nil, u.cfg.Allow, nil))
	return n
}

// Config returns the network's settings.
func (n *Network) Config() NetworkConfig { return n.cfg }

// Name is the network's (and its device's) name.
func (n *Network) Name() string { return n.cfg.Name }

// VNI is the network's VXLAN network identifier.
func (n *Network) VNI() uint32 { return n.cfg.VNI }

// Table is the network's forwarding database.
func (n *Network) Table() *fdb.Table { return n.table }

// Link is the network's device.
func (n *Network) Link() Link { return n.link }

// QueueStats returns the traffic of each of the device's queues.
func (n *Network) QueueStats() []QueueStats { return n.queueStats(&n.Counters) }

// start runs one transmit worker per device queue.
func (n *Network) start() {
	for i := range n.queues {
		w := n.txWorker(i)
		n.wg.Add(1)
		// Frames are looked up in the FDB, encapsulated and sent: to one
		// remote on a hit, to every flood-list entry for broadcast,
		// multicast and unknown unicast.
		run := func() { w.txLoop(w.queue, w.log, w.forward, func(out [][]byte) { w.send(out) }) }
		if d, ok := w.queue.(vnetLink); ok {
			run = func() { w.txLoopVnet(d) }
		}
		w.c.goWorker(w.queue, run)
	}
}

// forward handles the frame at buf[Headroom:Headroom+frameLen]: a unicast
// frame whose destination the FDB knows is encapsulated in place and
// appended to out, to go with the rest of the batch; any other is flooded at
// once, after what out holds, so frames stay in order. It returns out.
func (n *vxlanTx) forward(buf []byte, frameLen int, out [][]byte) [][]byte {
	frame := buf[Headroom : Headroom+frameLen]
	t := n.obs.on()
	if t != nil {
		t.deviceIn(frame)
	}
	if len(frame) < encap.EthernetHeaderLen {
		n.dropped(n.c, t, DropMalformed, StageDeviceIn, frame, encap.ErrShortFrame)
		return out
	}
	if len(frame) > n.maxFrame {
		n.dropped(n.c, t, DropTooBig, StageDeviceIn, frame, nil)
		return out
	}
	if n.local != nil && n.seeLocal(frame, t) {
		return out
	}
	dst := encap.Ethernet(frame).Dst()
	if dst[0]&1 == 0 { // unicast (RFC 7042 section 2.1: group bit clear)
		if remote, ok := n.table.Lookup(dst); ok {
			if t != nil {
				t.lookupHit(frame, remote)
			}
			pkt := n.u.outer(buf, len(frame), n.cfg.VNI, remote, n.u.cfg.TTL)
			if t != nil {
				t.encap(pkt)
			}
			return append(out, pkt)
		}
	}
	// Broadcast, multicast or unknown unicast: flush what is pending so
	// frames stay in order, then replicate to every flood entry.
	out = n.send(out)
	n.flood(buf, len(frame))
	return out
}

// dropped counts one packet dropped for reason d in the worker's shard c,
// with err for the rate-limited log, and shows it to the observer t, if
// any, as dropped at stage at.
func (n *Network) dropped(c *counterShard, t *observing, d Drop, at Stage, b []byte, err error) {
	c.drop(n.log, d, 1, err)
	if t != nil {
		t.drop(d, at, b)
	}
}

// send writes pkts to the underlay, counts them, and returns pkts[:0].
func (n *vxlanTx) send(pkts [][]byte) [][]byte { return n.sendOn(n.u.conn, pkts) }

func (n *vxlanTx) sendOn(conn Conn, pkts [][]byte) [][]byte {
	if len(pkts) == 0 {
		return pkts
	}
	if n.oversized(pkts) {
		return n.sendOversized(conn, pkts)
	}
	sent, err := conn.WriteBatch(pkts)
	if t := n.obs.on(); t != nil {
		t.sent(pkts, sent)
	}
	countSent(n.c, n.log, pkts, n.u.hdrLen, sent, err)
	n.countUnderlay(pkts[:sent], n.u.hdrLen-encap.VXLANHeaderLen)
	return pkts[:0]
}

// flood sends the frame in buf to the multicast group, if the network has
// one, and replicates it to every flood-list entry, rewriting the outer
// headers in place between sends (head-end replication, no copy).
func (n *vxlanTx) flood(buf []byte, frameLen int) {
	remotes := n.table.Flood()
	t := n.obs.on()
	if t != nil {
		t.lookupFlood(buf[Headroom:Headroom+frameLen], n.cfg.Group, remotes)
	}
	if len(remotes) == 0 && n.group == nil {
		n.dropped(n.c, t, DropNoRemote, StageLookup, buf[Headroom:Headroom+frameLen], nil)
		return
	}
	if n.floodBudget.rate > 0 && !n.floodBudget.take(fdb.Now()) {
		n.dropped(n.c, t, DropFloodLimit, StageLookup, buf[Headroom:Headroom+frameLen], nil)
		return
	}
	copies := uint64(len(remotes))
	if n.group != nil {
		n.one[0] = n.u.outer(buf, frameLen, n.cfg.VNI, n.cfg.Group, n.u.cfg.McastTTL)
		if t != nil {
			t.encap(n.one[0])
		}
		n.sendOn(n.group.conn, n.one)
		copies++
	}
	for _, r := range remotes {
		n.one[0] = n.u.outer(buf, frameLen, n.cfg.VNI, r, n.u.cfg.TTL)
		if t != nil {
			t.encap(n.one[0])
		}
		n.send(n.one)
	}
	n.c.Flooded.Add(copies)
}

// outer writes the outer IP, UDP and VXLAN headers in front of the inner
// frame at buf[Headroom:Headroom+frameLen] and returns the whole packet.
func (u *Underlay) outer(buf []byte, frameLen int, vni uint32, remote netip.Addr, ttl uint8) []byte {
	frame := buf[Headroom : Headroom+frameLen]
	sport := u.sourcePort(encap.FlowHash(frame))
	if u.cfg.Local.Is4() {
		pkt := buf[Headroom-encap.VXLANIPv4HeadersLen : Headroom+frameLen]
		o := encap.OuterIPv4{
			Src: u.cfg.Local, Dst: remote,
			SrcPort: sport, DstPort: u.cfg.Port,
			VNI: vni, TTL: ttl,
			UDPChecksum: u.cfg.UDPChecksum,
		}
		// Lengths and address families were checked when the frame was
		// read and the remote admitted: encapsulation cannot fail here.
		_ = encap.EncapVXLANIPv4(pkt, &o)
		return pkt
	}
	pkt := buf[Headroom-encap.VXLANIPv6HeadersLen : Headroom+frameLen]
	o := encap.OuterIPv6{
		Src: u.cfg.Local, Dst: remote,
		SrcPort: sport, DstPort: u.cfg.Port,
		VNI: vni, HopLimit: ttl,
	}
	_ = encap.EncapVXLANIPv6(pkt, &o)
	return pkt
}

// receive queues one decapsulated frame from remote for the device,
// learning its source MAC on the way.
func (n *Network) receive(frame []byte, remote netip.Addr, now int64, q *rxQueue) {
	t := n.obs.on()
	c := n.rxShard(q.worker)
	super := false
	if len(frame) > n.maxFrame {
		if super = q.superFrame(frame, encap.EthernetHeaderLen, n.cfg.MTU); !super {
			n.dropped(c, t, DropTooBig, StageDecap, frame, nil)
			return
		}
	}
	res := n.table.Learn(encap.Ethernet(frame).Src(), remote, now)
	if t != nil {
		t.learnt(frame, res, remote)
	}
	switch res {
	case fdb.LearnFull:
		n.dropped(c, t, DropFDBFull, StageLearn, frame, nil)
	case fdb.LearnStatic:
		n.dropped(c, t, DropStaticConflict, StageLearn, frame, nil)
		return
	case fdb.LearnFlapHeld:
		n.dropped(c, t, DropMACFlap, StageLearn, frame, nil)
		return
	}
	if !super && encap.FinishPartialChecksum(frame, encap.EthernetHeaderLen) {
		c.CsumCompleted.Add(1)
	}
	if t != nil {
		t.deviceOut(frame)
	}
	if super {
		q.addSuper(n.rxQueue(q.worker), c, n.log, encap.EthernetHeaderLen, frame)
		return
	}
	q.add(n.rxQueue(q.worker), c, n.log, encap.EthernetHeaderLen, frame)
}

// sourcePort is the outer UDP source port of a flow with this hash: from the
// configured range, as Linux's vxlan picks it, or, with GSO sockets, the
// port of the socket the flow's trains leave from, so that every packet of
// a flow carries one source port whichever way it is sent.
func (u *Underlay) sourcePort(hash uint32) uint16 {
	if p := u.gso.Load(); p != nil {
		return p.port(hash)
	}
	return encap.SourcePort(hash, u.cfg.SrcPortMin, u.cfg.SrcPortMax)
}

// tokenBucket lets rate frames a second through, with a burst of rate,
// shared by every transmit worker without a lock. It keeps one number, in
// the manner of the generic cell rate algorithm (ITU-T I.371): the time
// the bucket will be full again, tat. A frame that passes moves tat one
// interval (a second / rate) on; a frame passes while that leaves tat at
// most a second ahead of now, which is a bucket of rate tokens refilled at
// rate a second. Times are kept in 1/64 ns (tick), so the interval, a whole
// number of ticks, is off by at most rate/(64*10^9): 1.6 parts in 10^6 at
// 100,000 frames a second, 3.4% at the largest rate, 2^31-1. The clock
// (fdb.Now, from the start of the process) fits 64 ticks a nanosecond in
// 63 bits for 4.5 years.
type tokenBucket struct {
	rate     int64 // frames a second; 0: no limit
	interval int64 // ticks a frame costs
	tat      atomic.Int64
}

// ticks is the bucket's time unit per nanosecond.
const ticks = 64

// newTokenBucket returns a full bucket for rate frames a second; a rate
// over 2^31-1 counts as that.
func newTokenBucket(rate int, now int64) *tokenBucket {
	if rate <= 0 {
		return &tokenBucket{}
	}
	r := min(int64(rate), math.MaxInt32)
	b := &tokenBucket{rate: r, interval: max(ticks*int64(time.Second)/r, 1)}
	b.tat.Store(now * ticks)
	return b
}

// take reports whether one frame may pass at now, and if so takes its token.
func (b *tokenBucket) take(now int64) bool {
	now *= ticks
	for {
		tat := b.tat.Load()
		next := max(tat, now) + b.interval
		if next-now > ticks*int64(time.Second) {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}
