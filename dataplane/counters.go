package dataplane

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/cpu"
)

// Drop is the reason a packet was dropped. Every drop increments exactly one
// counter, named for its reason.
type Drop int

// Drop reasons.
const (
	// DropMalformed: the packet failed header validation (VXLAN flags, a
	// truncated header, an inner frame shorter than an Ethernet header).
	DropMalformed Drop = iota
	// DropUnknownVNI: a VXLAN packet for a VNI this host does not serve.
	DropUnknownVNI
	// DropTooBig: a frame larger than the network's MTU allows.
	DropTooBig
	// DropFDBFull: the inner source MAC could not be learnt because the VNI
	// is at its FDB limit. The frame itself is still delivered, as Linux's
	// vxlan delivers it: this counts refused learning, not a lost frame.
	DropFDBFull
	// DropLinkWrite: writing the frame to the TAP/TUN device failed.
	DropLinkWrite
	// DropNoRemote: a frame had no destination: an unknown or broadcast
	// destination and an empty flood list.
	DropNoRemote
	// DropSend: the underlay socket refused the packet.
	DropSend
	// DropUnknownSource: a packet from an address that is not a known remote
	// where only known remotes are accepted: an IPIP packet from no route's
	// endpoint, or a VXLAN packet from outside the network's accept list
	// (UnderlayConfig.AcceptPeers). It is dropped before anything is learnt.
	DropUnknownSource
	// DropStaticConflict: the inner source MAC has a static FDB entry
	// pointing at another remote; as Linux's vxlan does, the frame is
	// dropped rather than letting a stranger claim a pinned address.
	DropStaticConflict
	// DropUnsupported: a packet of a kind the network does not carry, such
	// as an IPv6 packet on an IPIP network (IPv4 in IPv4 only).
	DropUnsupported
	// DropMACFlap: the inner source MAC moved between remotes more often than
	// the network's move limit allows (fdb.Config.MoveLimit); the frame is
	// dropped and the MAC stays where it was until the window has passed.
	DropMACFlap
	// DropFloodLimit: a broadcast, multicast or unknown-unicast frame over
	// the network's flood rate (NetworkConfig.FloodRate); no copy was sent.
	DropFloodLimit
	numDrops
)

// Names of the drops the trace's frame count tells apart: a refused send
// ends one copy of a frame, not the frame; a full FDB refuses learning,
// not the frame.
const (
	NameSendError = "send_error"
	NameFDBFull   = "fdb_full"
)

var dropNames = [numDrops]string{
	DropMalformed:      "malformed",
	DropUnknownVNI:     "unknown_vni",
	DropTooBig:         "too_big",
	DropFDBFull:        NameFDBFull,
	DropLinkWrite:      "tap_write", // "tun_write" on a TUN device
	DropNoRemote:       "no_remote",
	DropSend:           NameSendError,
	DropUnknownSource:  "unknown_source",
	DropStaticConflict: "static_conflict",
	DropUnsupported:    "unsupported",
	DropMACFlap:        "mac_flap",
	DropFloodLimit:     "flood_limit",
}

// String is the reason's name as the control API and metrics report it.
func (d Drop) String() string {
	if d < 0 || d >= numDrops {
		return "unknown"
	}
	return dropNames[d]
}

// Counters are the traffic and drop counters of a network or of the
// underlay. They are kept in shards, one per forwarding worker: a worker
// adds to its own shard only, so workers on different CPUs never write the
// same cache line, and a read sums the shards. Every count is exact; a read
// is not one instant across shards, as the kernel's per-CPU counters are
// not.
type Counters struct {
	shards []counterShard
	logged [numDrops]atomic.Int64 // last log time per reason, unix nanoseconds
	tun    bool                   // a TUN device's: DropLinkWrite is tun_write
}

// counterShard is one worker's counters, updated with atomic adds (per send
// batch on transmit, per packet on receive). Adds stay atomic so that a
// shard two goroutines share (the multicast groups' receive loops, a test)
// still counts exactly; uncontended, an add costs a few nanoseconds.
type counterShard struct {
	_                  cpu.CacheLinePad
	RxPackets, RxBytes atomic.Uint64
	TxPackets, TxBytes atomic.Uint64
	// Flooded counts copies sent by head-end replication (one per remote).
	Flooded atomic.Uint64
	// CsumCompleted counts received packets whose TCP or UDP checksum the
	// sender left for offload and vtepd finished (encap.FinishPartialChecksum).
	CsumCompleted atomic.Uint64
	// ARPSuppressed counts ARP requests and neighbour solicitations from
	// the device answered for a neighbour a control plane named
	// (local.go); ARPFlooded those for an address it did not name, which
	// went on to be flooded.
	ARPSuppressed, ARPFlooded atomic.Uint64
	// Offload is the work the offloads did, all zero with them off.
	Offload OffloadCounters
	drops   [numDrops]atomic.Uint64
	// clock is the time of the shard's worker: untouched (no time) when
	// the shard has no worker of its own or its reader cannot tell.
	clock  workerClock
	logged *[numDrops]atomic.Int64 // the Counters' own
	tun    bool                    // the Counters' own
	_      cpu.CacheLinePad
}

// parkCounter is a reader that can keep the time it waits in the runtime's
// poller (busyPoll.clock): a device queue's, a receiving socket's.
type parkCounter interface {
	keepParkClock(*workerClock)
}

// startWorker marks the shard's worker as started now, when its reader can
// keep its waits in the shard; a worker whose reader cannot has no time.
func (sh *counterShard) startWorker(reader any) {
	if p, ok := reader.(parkCounter); ok {
		p.keepParkClock(&sh.clock)
		sh.clock.start()
	}
}

// stopWorker notes, from the worker as it ends, that it waits from now on.
func (sh *counterShard) stopWorker() { sh.clock.stop() }

// goWorker starts run, the shard's worker reading reader, in a goroutine
// of its own, its time kept in the shard from now until run returns.
func (sh *counterShard) goWorker(reader any, run func()) {
	sh.startWorker(reader)
	go func() {
		defer sh.stopWorker()
		run()
	}()
}

// init makes n shards (at least one). It is called once, before any
// worker runs.
func (c *Counters) init(n int) {
	c.shards = make([]counterShard, max(n, 1))
	for i := range c.shards {
		c.shards[i].logged = &c.logged
		c.shards[i].tun = c.tun
	}
}

// shard is worker i's shard; a number past the last shares the last.
func (c *Counters) shard(i int) *counterShard {
	return &c.shards[min(i, len(c.shards)-1)]
}

// Stats is a copy of counters at one moment: of a network, an underlay, or
// one worker's share of them.
type Stats struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	Flooded            uint64
	CsumCompleted      uint64
	ARPSuppressed      uint64
	ARPFlooded         uint64
	Offload            OffloadStats
	// Up is how long the workers of the shards summed have run, and Busy
	// the part of it they were not waiting for packets (with busy polling,
	// spinning counts as busy); both zero for shards without a worker.
	Up, Busy time.Duration
	drops    [numDrops]uint64
	tun      bool
}

// Drops returns the drop counts by reason name, every reason included.
func (s *Stats) Drops() map[string]uint64 {
	m := make(map[string]uint64, numDrops)
	for i, v := range s.drops {
		m[dropName(Drop(i), s.tun)] = v
	}
	return m
}

// dropName is d's name on a network whose device is a TUN (tun) or a TAP.
func dropName(d Drop, tun bool) string {
	if d == DropLinkWrite && tun {
		return "tun_write"
	}
	return d.String()
}

// Drop returns the count for one reason.
func (s *Stats) Drop(d Drop) uint64 { return s.drops[d] }

// add adds what sh counted to s, its worker's time as of the call.
func (s *Stats) add(sh *counterShard) {
	up, busy := sh.clock.read()
	s.Up += up
	s.Busy += busy
	s.RxPackets += sh.RxPackets.Load()
	s.RxBytes += sh.RxBytes.Load()
	s.TxPackets += sh.TxPackets.Load()
	s.TxBytes += sh.TxBytes.Load()
	s.Flooded += sh.Flooded.Load()
	s.CsumCompleted += sh.CsumCompleted.Load()
	s.ARPSuppressed += sh.ARPSuppressed.Load()
	s.ARPFlooded += sh.ARPFlooded.Load()
	s.Offload.add(sh.Offload.Load())
	for i := range sh.drops {
		s.drops[i] += sh.drops[i].Load()
	}
}

// Load sums every shard.
func (c *Counters) Load() Stats {
	s := Stats{tun: c.tun}
	for i := range c.shards {
		s.add(&c.shards[i])
	}
	return s
}

// Shards returns each worker's share, in worker order.
func (c *Counters) Shards() []Stats {
	out := make([]Stats, len(c.shards))
	for i := range c.shards {
		out[i].tun = c.tun
		out[i].add(&c.shards[i])
	}
	return out
}

// Drops returns the drop counters by reason name, every reason included.
func (c *Counters) Drops() map[string]uint64 {
	s := c.Load()
	return s.Drops()
}

// DropCount returns the count for one reason.
func (c *Counters) DropCount(d Drop) uint64 {
	var n uint64
	for i := range c.shards {
		n += c.shards[i].drops[d].Load()
	}
	return n
}

// OffloadCounters say how much of the traffic the offloads carried, so a
// user can see that they are in use and how well they batch: segments per
// TSO super-frame, datagrams per GSO send, per GRO train and frames per
// coalesced write.
type OffloadCounters struct {
	// TSOFrames counts TCP and UDP super-frames read from the device
	// (TSO, USO) and TSOSegments the segments they were cut into.
	TSOFrames, TSOSegments atomic.Uint64
	// GSOSends counts UDP_SEGMENT sends of more than one datagram and
	// GSODatagrams the datagrams they carried.
	GSOSends, GSODatagrams atomic.Uint64
	// GROTrains counts reads that returned a train of datagrams the kernel
	// coalesced (UDP_GRO) and GRODatagrams the datagrams in them. They are
	// counted before the VNI is known: on the underlay's counters.
	GROTrains, GRODatagrams atomic.Uint64
	// CoalescedWrites counts TCP and UDP super-frames written to the
	// device and CoalescedFrames the received frames they were made of.
	CoalescedWrites, CoalescedFrames atomic.Uint64
	// Fallbacks counts offloads turned off because the kernel refused
	// them, at start or at run time: the traffic goes on without.
	Fallbacks atomic.Uint64
}

// OffloadStats is a copy of OffloadCounters at one moment.
type OffloadStats struct {
	TSOFrames, TSOSegments           uint64
	GSOSends, GSODatagrams           uint64
	GROTrains, GRODatagrams          uint64
	CoalescedWrites, CoalescedFrames uint64
	Fallbacks                        uint64
}

// add adds o to s.
func (s *OffloadStats) add(o OffloadStats) {
	s.TSOFrames += o.TSOFrames
	s.TSOSegments += o.TSOSegments
	s.GSOSends += o.GSOSends
	s.GSODatagrams += o.GSODatagrams
	s.GROTrains += o.GROTrains
	s.GRODatagrams += o.GRODatagrams
	s.CoalescedWrites += o.CoalescedWrites
	s.CoalescedFrames += o.CoalescedFrames
	s.Fallbacks += o.Fallbacks
}

// Load reads every offload counter.
func (o *OffloadCounters) Load() OffloadStats {
	return OffloadStats{
		TSOFrames: o.TSOFrames.Load(), TSOSegments: o.TSOSegments.Load(),
		GSOSends: o.GSOSends.Load(), GSODatagrams: o.GSODatagrams.Load(),
		GROTrains: o.GROTrains.Load(), GRODatagrams: o.GRODatagrams.Load(),
		CoalescedWrites: o.CoalescedWrites.Load(), CoalescedFrames: o.CoalescedFrames.Load(),
		Fallbacks: o.Fallbacks.Load(),
	}
}

// tally counts frames carrying bytes that one device write or underlay send
// moved into packets and octets, or, when it failed, drops them for reason.
func (c *counterShard) tally(log *zap.Logger, packets, octets *atomic.Uint64, reason Drop, frames, bytes int, err error) {
	if err != nil {
		c.drop(log, reason, uint64(frames), err)
		return
	}
	packets.Add(uint64(frames))
	octets.Add(uint64(bytes))
}

// dropLogInterval is how often, at most, one reason is logged per network.
const dropLogInterval = time.Second

// drop counts n drops for reason d and logs at most once per dropLogInterval
// per reason, so a flood of bad packets cannot flood the log.
// log carries the network's name; nil logs nothing.
func (c *counterShard) drop(log *zap.Logger, d Drop, n uint64, err error) {
	total := c.drops[d].Add(n)
	if log == nil {
		return
	}
	now := time.Now().UnixNano()
	last := c.logged[d].Load()
	if now-last < int64(dropLogInterval) || !c.logged[d].CompareAndSwap(last, now) {
		return
	}
	fields := []zap.Field{zap.String("reason", dropName(d, c.tun)), zap.Uint64("total", total)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	log.Warn("dropped packet", fields...)
}
