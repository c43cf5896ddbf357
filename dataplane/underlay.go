package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

const (
	// Headroom is the space kept in front of every inner frame read from a
	// device, so the outer headers are written in place, without a copy. It
	// holds the largest outer stack vtepd writes (IPv6 + UDP + VXLAN) and is
	// rounded up to a cache line.
	Headroom = 64

	// maxPacket is the largest IP packet, hence the largest frame a device or
	// socket can hand over; buffers are this big so nothing is ever truncated.
	maxPacket = 65535

	// vlanTagLen allows one 802.1Q tag on top of the MTU, as Linux bridges do.
	vlanTagLen = 4

	linkBatch = 16 // frames per device read
	connBatch = 32 // datagrams per socket read
)

// UnderlayConfig is the outer side shared by every VXLAN network on one
// (local address, port).
type UnderlayConfig struct {
	// Local is the source address of outer packets; the socket is bound to it.
	Local netip.Addr
	// Port is the VXLAN UDP destination port (the kernel's dstport).
	Port uint16
	// SrcPortMin and SrcPortMax bound the outer UDP source port, chosen from
	// a hash of the inner flow (the kernel's srcport).
	SrcPortMin, SrcPortMax uint16
	// TTL of outer packets (IPv6: hop limit). 0 means 64.
	TTL uint8
	// UDPChecksum computes outer UDP checksums over IPv4. RFC 7348 section 5
	// lets a VTEP send zero; over IPv6 the checksum is always computed.
	UDPChecksum bool
	// McastTTL is the outer TTL of packets sent to a multicast group. 0
	// means 1, as Linux's vxlan: a group is found on the local link.
	McastTTL uint8
	// OpenGroup joins a multicast group on a device and returns a Conn that
	// receives the group's datagrams on port and sends out of that device
	// without looping its own packets back. Nil means ListenGroup.
	OpenGroup func(group netip.Addr, dev string, port uint16) (Conn, error)

	// AcceptPeers makes every network accept encapsulated packets only from
	// its accept list (see Network.RefreshAccept): a packet from any other
	// address is dropped as unknown_source before its source MAC is learnt.
	// False accepts every source, as Linux's vxlan does, and costs nothing
	// but the test of this field.
	AcceptPeers bool
	// Allow lists prefixes every network accepts with AcceptPeers, besides
	// its own peers.
	Allow []netip.Prefix
	// DevPrefixes returns the subnets of the addresses of a device, which a
	// network with a multicast group accepts with AcceptPeers: its group's
	// members are found on that device's links. Nil means InterfacePrefixes.
	DevPrefixes func(dev string) ([]netip.Prefix, error)
}

// groupKey names one joined group.
type groupKey struct {
	group netip.Addr
	dev   string
}

// group is a joined multicast group shared by the networks that use it.
type group struct {
	conn Conn
	refs int
	done atomic.Bool
}

// Underlay owns one underlay socket and the VXLAN networks that share it. It
// demultiplexes received packets by VNI.
type Underlay struct {
	obs  ObserverPoint // trace and capture (observe.go)
	cfg  UnderlayConfig
	conn Conn
	// readers are conn's receiving sockets, each read by its own receive
	// worker (conn alone unless it has several: UDPOffload.Sockets).
	readers []Conn
	log     *zap.Logger
	hdrLen  int // outer IP + UDP + VXLAN header bytes
	// baseLog is the logger networks derive theirs from.
	baseLog *zap.Logger
	// gso is conn's GSO sockets while GSO is in use: nil without
	// UDPOffload.GSO, and from the first send the kernel refuses on.
	gso atomic.Pointer[gsoPool]

	// nets is an immutable VNI -> network map, replaced whole by the writer
	// (mu) when a network is added or removed, read per batch without a lock.
	nets   atomic.Pointer[map[uint32]*Network]
	mu     sync.Mutex
	groups map[groupKey]*group // under mu

	// Counters holds what is dropped before a network is known: malformed
	// VXLAN headers and unknown VNIs; one shard per receive worker, then
	// one the multicast groups' loops share.
	Counters Counters
	readErrs atomic.Int64 // last read-error log, unix nanoseconds

	wg     sync.WaitGroup
	closed atomic.Bool
}

// NewUnderlay wraps conn. Start begins receiving. log may be nil.
func NewUnderlay(cfg UnderlayConfig, conn Conn, log *zap.Logger) (*Underlay, error) {
	if !cfg.Local.IsValid() {
		return nil, errors.New("underlay: local address required")
	}
	if cfg.Port == 0 {
		cfg.Port = encap.DefaultVXLANPort
	}
	if cfg.SrcPortMin == 0 && cfg.SrcPortMax == 0 {
		cfg.SrcPortMin, cfg.SrcPortMax = encap.DefaultSourcePortMin, encap.DefaultSourcePortMax
	}
	if cfg.SrcPortMin > cfg.SrcPortMax {
		return nil, fmt.Errorf("underlay: source port range %d-%d is empty", cfg.SrcPortMin, cfg.SrcPortMax)
	}
	if cfg.TTL == 0 {
		cfg.TTL = encap.DefaultTTL
	}
	if cfg.McastTTL == 0 {
		cfg.McastTTL = 1
	}
	if cfg.OpenGroup == nil {
		cfg.OpenGroup = ListenGroup
	}
	if cfg.DevPrefixes == nil {
		cfg.DevPrefixes = InterfacePrefixes
	}
	cfg.Allow = slices.Clone(cfg.Allow)
	for i, p := range cfg.Allow {
		if !p.IsValid() || p.Addr().Unmap().Is4() != cfg.Local.Is4() {
			return nil, fmt.Errorf("underlay: allow %s: want a prefix of the local address's family", p)
		}
		cfg.Allow[i] = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked()
	}
	if log == nil {
		log = zap.NewNop()
	}
	u := &Underlay{cfg: cfg, conn: conn, baseLog: log, hdrLen: encap.VXLANIPv4HeadersLen,
		groups: map[groupKey]*group{},
		log:    log.With(zap.String("network", "underlay"), zap.Stringer("local", cfg.Local))}
	if !cfg.Local.Is4() {
		u.hdrLen = encap.VXLANIPv6HeadersLen
	}
	u.readers = receivers(conn)
	// One shard per receive worker, one for the multicast groups' loops,
	// and one per transmit queue index for what the networks send.
	u.Counters.init(2*len(u.readers) + 1)
	if g, ok := conn.(gsoConn); ok {
		u.gso.Store(g.gso())
	}
	if r, ok := conn.(offloadReporter); ok {
		for _, err := range r.offloadsRefused() {
			u.log.Warn("offload refused by the kernel; going on without it", zap.Error(err))
			u.Counters.shard(0).Offload.Fallbacks.Add(1)
		}
	}
	empty := map[uint32]*Network{}
	u.nets.Store(&empty)
	return u, nil
}

// Config returns the underlay's settings, defaults applied.
func (u *Underlay) Config() UnderlayConfig { return u.cfg }

// Start runs the receive workers, one per receiving socket, until Close.
func (u *Underlay) Start() {
	for i, r := range u.readers {
		u.wg.Add(1)
		go u.rxLoop(r, &u.closed, i)
	}
}

// QueueStats returns, for each receiving socket, the packets its worker
// read (Rx), what the networks' transmit workers of the same index sent
// (Tx), and its worker's time.
func (u *Underlay) QueueStats() []QueueStats {
	shards := u.Counters.Shards()
	out := make([]QueueStats, len(u.readers))
	for r := range out {
		rx, tx := shards[r], shards[len(u.readers)+1+r]
		out[r] = QueueStats{RxPackets: rx.RxPackets, RxBytes: rx.RxBytes,
			TxPackets: tx.TxPackets, TxBytes: tx.TxBytes, Up: rx.Up, Busy: rx.Busy}
	}
	return out
}

// receivers is how many receive workers read the unicast sockets; the
// multicast groups' loops come after them, sharing one shard.
func (u *Underlay) receivers() int { return len(u.readers) }

// Network returns the network serving vni, or nil.
func (u *Underlay) Network(vni uint32) *Network { return (*u.nets.Load())[vni] }

// Networks returns the networks, in no particular order.
func (u *Underlay) Networks() []*Network {
	m := *u.nets.Load()
	out := make([]*Network, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	return out
}

// ErrVNIInUse is returned when a second network asks for a VNI.
var ErrVNIInUse = errors.New("VNI already served by another network")

// AddNetwork starts forwarding between link and the underlay for one VNI. The
// network owns link from then on and closes it when removed.
func (u *Underlay) AddNetwork(cfg NetworkConfig, link Link) (*Network, error) {
	if cfg.VNI > encap.MaxVNI {
		return nil, fmt.Errorf("network %q: VNI %d does not fit in 24 bits", cfg.Name, cfg.VNI)
	}
	if cfg.MTU <= 0 {
		return nil, fmt.Errorf("network %q: MTU %d, want > 0", cfg.Name, cfg.MTU)
	}
	for _, r := range cfg.Remotes {
		if err := u.CheckRemote(r); err != nil {
			return nil, fmt.Errorf("network %q: remote %s: %w", cfg.Name, r, err)
		}
	}
	if cfg.Group.IsValid() {
		switch {
		case !cfg.Group.IsMulticast():
			return nil, fmt.Errorf("network %q: group %s is not a multicast address", cfg.Name, cfg.Group)
		case cfg.Group.Is4() != u.cfg.Local.Is4():
			return nil, fmt.Errorf("network %q: group %s: address family differs from the local address %s", cfg.Name, cfg.Group, u.cfg.Local)
		case cfg.Dev == "":
			return nil, fmt.Errorf("network %q: group %s needs the underlay device to join it on", cfg.Name, cfg.Group)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed.Load() {
		return nil, errors.New("underlay closed")
	}
	old := *u.nets.Load()
	if _, ok := old[cfg.VNI]; ok {
		return nil, fmt.Errorf("network %q: VNI %d: %w", cfg.Name, cfg.VNI, ErrVNIInUse)
	}
	n := newNetwork(u, cfg, link)
	if u.cfg.AcceptPeers {
		// Published before the network is: its first packet finds a list.
		if err := n.RefreshAccept(); err != nil {
			return nil, fmt.Errorf("network %q: %w", cfg.Name, err)
		}
	}
	if cfg.Group.IsValid() {
		g, err := u.joinLocked(groupKey{cfg.Group, cfg.Dev})
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", cfg.Name, err)
		}
		n.group = g
	}
	next := make(map[uint32]*Network, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[cfg.VNI] = n
	u.nets.Store(&next)
	n.start()
	return n, nil
}

// RemoveNetwork stops the network serving vni and closes its link.
func (u *Underlay) RemoveNetwork(vni uint32) error {
	u.mu.Lock()
	old := *u.nets.Load()
	n, ok := old[vni]
	if !ok {
		u.mu.Unlock()
		return fmt.Errorf("VNI %d: no such network", vni)
	}
	next := make(map[uint32]*Network, len(old))
	for k, v := range old {
		if k != vni {
			next[k] = v
		}
	}
	u.nets.Store(&next)
	u.mu.Unlock()
	err := n.stop()
	if n.group != nil {
		u.mu.Lock()
		err = errors.Join(err, u.leaveLocked(groupKey{n.cfg.Group, n.cfg.Dev}))
		u.mu.Unlock()
	}
	return err
}

// joinLocked returns the joined group, joining it on first use and starting
// a receive loop for it.
func (u *Underlay) joinLocked(k groupKey) (*group, error) {
	if g := u.groups[k]; g != nil {
		g.refs++
		return g, nil
	}
	conn, err := u.cfg.OpenGroup(k.group, k.dev, u.cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("join group %s on %s: %w", k.group, k.dev, err)
	}
	g := &group{conn: conn, refs: 1}
	u.groups[k] = g
	u.wg.Add(1)
	go u.rxLoop(conn, &g.done, u.receivers())
	u.log.Info("joined multicast group", zap.Stringer("group", k.group), zap.String("dev", k.dev))
	return g, nil
}

// leaveLocked drops one user of a group and leaves it with the last.
func (u *Underlay) leaveLocked(k groupKey) error {
	g := u.groups[k]
	if g == nil {
		return nil
	}
	if g.refs--; g.refs > 0 {
		return nil
	}
	delete(u.groups, k)
	g.done.Store(true)
	u.log.Info("left multicast group", zap.Stringer("group", k.group), zap.String("dev", k.dev))
	return g.conn.Close()
}

// Close stops every network, then the receive loop, and closes the socket.
func (u *Underlay) Close() error {
	u.mu.Lock()
	if u.closed.Swap(true) {
		u.mu.Unlock()
		return nil
	}
	old := *u.nets.Load()
	empty := map[uint32]*Network{}
	u.nets.Store(&empty)
	u.mu.Unlock()
	var errs []error
	for _, n := range old {
		if err := n.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	// Networks are stopped first: no sender is inside a socket when it closes.
	u.mu.Lock()
	for k, g := range u.groups {
		g.done.Store(true)
		if err := g.conn.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(u.groups, k)
	}
	u.mu.Unlock()
	if err := u.conn.Close(); err != nil {
		errs = append(errs, err)
	}
	u.wg.Wait()
	return errors.Join(errs...)
}

// CheckRemote reports why r cannot be a remote endpoint of an underlay
// whose local address is local, or nil if it can: a unicast address of the
// same family that is not local itself. Every way a remote enters vtepd (the
// config, the control API, a reload) goes through it.
func CheckRemote(local, r netip.Addr) error {
	switch {
	case !r.IsValid():
		return errors.New("not an address")
	case r.Is4() != local.Is4():
		return fmt.Errorf("address family differs from the local address %s", local)
	case r.IsUnspecified() || r.IsMulticast():
		return errors.New("want a unicast address")
	case r == local:
		return errors.New("is the local address")
	}
	return nil
}

// CheckRemote reports whether r can be a remote VTEP on this underlay.
func (u *Underlay) CheckRemote(r netip.Addr) error { return CheckRemote(u.cfg.Local, r) }

// rxLoop is receive worker w: it receives VXLAN packets on conn (a unicast
// socket, or a joined group's), validates them and hands each inner frame
// to the network of its VNI. It ends when conn fails after done is set.
func (u *Underlay) rxLoop(conn Conn, done *atomic.Bool, w int) {
	defer u.wg.Done()
	r := newConnReader(conn, done, u.log, &u.readErrs)
	q := newRxQueue(w)
	c := u.Counters.shard(w)
	if w < u.receivers() {
		// The multicast groups' loops share a shard: no one worker's time.
		c.startWorker(conn)
		defer c.stopWorker()
	}
	for {
		q.flush()
		n, ok := r.read()
		if !ok {
			return
		}
		now := fdb.Now()
		nets := *u.nets.Load()
		var dgrams, bytes uint64
		for i := 0; i < n; i++ {
			data := r.bufs[i][:r.sizes[i]]
			seg := r.segs[i]
			bytes += uint64(len(data))
			if seg <= 0 || seg >= len(data) {
				dgrams++
				u.deliver(nets, data, r.srcs[i], now, q)
				continue
			}
			dgrams += uint64((len(data) + seg - 1) / seg)
			// A GRO train: datagrams of seg bytes, the last maybe shorter.
			c.Offload.GROTrains.Add(1)
			c.Offload.GRODatagrams.Add(uint64((len(data) + seg - 1) / seg))
			for off := 0; off < len(data); off += seg {
				u.deliver(nets, data[off:min(off+seg, len(data))], r.srcs[i], now, q)
			}
		}
		c.RxPackets.Add(dgrams)
		c.RxBytes.Add(bytes)
	}
}

// txShard is the underlay's shard for what transmit workers of queue i,
// of every network, send.
func (u *Underlay) txShard(i int) *counterShard {
	return u.Counters.shard(len(u.readers) + 1 + i%len(u.readers))
}

// deliver decapsulates one datagram and queues its frame for the network
// of its VNI.
func (u *Underlay) deliver(nets map[uint32]*Network, dgram []byte, src netip.AddrPort, now int64, q *rxQueue) {
	vni, inner, err := encap.DecapVXLAN(dgram)
	if err != nil {
		u.Counters.shard(q.worker).drop(u.log, DropMalformed, 1, err)
		if t := u.obs.on(); t != nil {
			t.dropFrom(DropMalformed, StageSocketIn, dgram, src)
		}
		return
	}
	nw := nets[vni]
	if nw == nil {
		u.Counters.shard(q.worker).drop(u.log, DropUnknownVNI, 1, nil)
		if t := u.obs.on(); t != nil {
			t.dropFrom(DropUnknownVNI, StageSocketIn, dgram, src)
		}
		return
	}
	t := nw.obs.on()
	if t != nil {
		t.received(dgram, src)
	}
	from := src.Addr().Unmap()
	// Checked before receive, so a stranger's MAC is never learnt.
	if u.cfg.AcceptPeers && !nw.accepts(from) {
		nw.rxShard(q.worker).drop(nw.log, DropUnknownSource, 1, nil)
		if t != nil {
			t.dropFrom(DropUnknownSource, StageSocketIn, dgram, src)
		}
		return
	}
	nw.receive(inner, from, now, q)
}

// acceptList is what one network accepts packets from with AcceptPeers. It
// is immutable once published; a change publishes a new one.
type acceptList struct {
	// flood is the table's flood list the list was built from. The table
	// publishes a new slice whenever the flood list changes, so a slice
	// that is not this one means a peer was added or removed.
	flood []netip.Addr
	// addrs is flood and statics together, sorted, for a binary search.
	addrs []netip.Addr
	// statics are the destinations of the static FDB entries, and dev the
	// subnets of the group's device, both as RefreshAccept last read them.
	statics []netip.Addr
	dev     []netip.Prefix
	// prefixes are the underlay's Allow prefixes and dev.
	prefixes []netip.Prefix
}

// newAcceptList builds the list of a network whose flood list is flood.
func newAcceptList(flood, statics []netip.Addr, allow, dev []netip.Prefix) *acceptList {
	addrs := make([]netip.Addr, 0, len(flood)+len(statics))
	addrs = append(append(addrs, flood...), statics...)
	slices.SortFunc(addrs, netip.Addr.Compare)
	return &acceptList{
		flood:    flood,
		addrs:    slices.Compact(addrs),
		statics:  statics,
		dev:      dev,
		prefixes: append(slices.Clip(allow), dev...),
	}
}

// sameSlice reports whether a and b are one immutable snapshot.
func sameSlice(a, b []netip.Addr) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// accepts reports whether the network takes packets from src. It reads
// snapshots only: no lock and, unless the flood list has just changed, no
// allocation.
func (n *Network) accepts(src netip.Addr) bool {
	a := n.accept.Load()
	if flood := n.table.Flood(); !sameSlice(flood, a.flood) {
		// A peer came or went at run time: rebuild once. Should another
		// receive loop or RefreshAccept publish first, theirs stands and
		// the next packet looks again.
		next := newAcceptList(flood, a.statics, n.u.cfg.Allow, a.dev)
		n.accept.CompareAndSwap(a, next)
		a = next
	}
	if _, ok := slices.BinarySearchFunc(a.addrs, src, netip.Addr.Compare); ok {
		return true
	}
	for _, p := range a.prefixes {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// RefreshAccept reads again the parts of the network's accept list that
// are not followed as they change: the destinations of the static FDB
// entries and, with a multicast group, the subnets of the group's device.
// Call it after adding or removing a static entry, or periodically. The
// flood list needs no refresh: a peer added or removed at run time counts
// from the next packet. It does nothing unless the underlay has
// AcceptPeers. On error the list stays as it was.
func (n *Network) RefreshAccept() error {
	if !n.u.cfg.AcceptPeers {
		return nil
	}
	n.acceptMu.Lock()
	defer n.acceptMu.Unlock()
	var dev []netip.Prefix
	if n.cfg.Group.IsValid() {
		all, err := n.u.cfg.DevPrefixes(n.cfg.Dev)
		if err != nil {
			return fmt.Errorf("accept peers: addresses of %s: %w", n.cfg.Dev, err)
		}
		for _, p := range all {
			if p.Addr().Unmap().Is4() == n.cfg.Group.Is4() {
				dev = append(dev, p)
			}
		}
	}
	var statics []netip.Addr
	for _, e := range n.table.Entries() {
		if e.Static && !slices.Contains(statics, e.Remote) {
			statics = append(statics, e.Remote)
		}
	}
	n.accept.Store(newAcceptList(n.table.Flood(), statics, n.u.cfg.Allow, dev))
	return nil
}

// InterfacePrefixes returns the subnets of the addresses of the device
// named dev, host bits cleared, as `ip addr show dev` lists them.
func InterfacePrefixes(dev string) ([]netip.Prefix, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, min(ones, ip.BitLen())).Masked())
	}
	return out, nil
}
