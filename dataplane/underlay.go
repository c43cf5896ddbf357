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
}

// Underlay owns one underlay socket and the VXLAN networks that share it. It
// demultiplexes received packets by VNI.
type Underlay struct {
	cfg    UnderlayConfig
	conn   Conn
	log    *zap.Logger
	hdrLen int // outer IP + UDP + VXLAN header bytes
	// baseLog is the logger networks derive theirs from.
	baseLog *zap.Logger

	// nets is an immutable VNI -> network map, replaced whole by the writer
	// (mu) when a network is added or removed, read per batch without a lock.
	nets atomic.Pointer[map[uint32]*Network]
	mu   sync.Mutex

	// Counters holds what is dropped before a network is known: malformed
	// VXLAN headers and unknown VNIs.
	Counters Counters

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
		cfg.SrcPortMin, cfg.SrcPortMax = 32768, 60999
	}
	if cfg.SrcPortMin > cfg.SrcPortMax {
		return nil, fmt.Errorf("underlay: source port range %d-%d is empty", cfg.SrcPortMin, cfg.SrcPortMax)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	if log == nil {
		log = zap.NewNop()
	}
	u := &Underlay{cfg: cfg, conn: conn, baseLog: log, hdrLen: encap.VXLANIPv4HeadersLen,
		log: log.With(zap.String("network", "underlay"), zap.Stringer("local", cfg.Local))}
	if !cfg.Local.Is4() {
		u.hdrLen = encap.VXLANIPv6HeadersLen
	}
	empty := map[uint32]*Network{}
	u.nets.Store(&empty)
	return u, nil
}

// Config returns the underlay's settings, defaults applied.
func (u *Underlay) Config() UnderlayConfig { return u.cfg }

// Start runs the receive loop until Close.
func (u *Underlay) Start() {
	u.wg.Add(1)
	go u.rxLoop()
}

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
	if cfg.VNI > 1<<24-1 {
		return nil, fmt.Errorf("network %q: VNI %d does not fit in 24 bits", cfg.Name, cfg.VNI)
	}
	if cfg.MTU <= 0 {
		return nil, fmt.Errorf("network %q: MTU %d, want > 0", cfg.Name, cfg.MTU)
	}
	for _, r := range cfg.Remotes {
		if err := u.checkRemote(r); err != nil {
			return nil, fmt.Errorf("network %q: remote %s: %w", cfg.Name, r, err)
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
	return n.stop()
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
	// Networks are stopped first: no sender is inside the socket when it closes.
	if err := u.conn.Close(); err != nil {
		errs = append(errs, err)
	}
	u.wg.Wait()
	return errors.Join(errs...)
}

// checkRemote rejects addresses the underlay cannot send to.
func (u *Underlay) checkRemote(r netip.Addr) error {
	switch {
	case !r.IsValid():
		return errors.New("not an address")
	case r.Is4() != u.cfg.Local.Is4():
		return fmt.Errorf("address family differs from the local address %s", u.cfg.Local)
	case r == u.cfg.Local:
		return errors.New("is the local address")
	}
	return nil
}

// CheckRemote reports whether r can be a remote VTEP on this underlay.
func (u *Underlay) CheckRemote(r netip.Addr) error { return u.checkRemote(r) }

// rxLoop receives VXLAN packets, validates them and hands each inner frame to
// the network of its VNI.
func (u *Underlay) rxLoop() {
	defer u.wg.Done()
	bufs := make([][]byte, connBatch)
	for i := range bufs {
		bufs[i] = make([]byte, maxPacket)
	}
	sizes := make([]int, connBatch)
	srcs := make([]netip.AddrPort, connBatch)
	one := make([][]byte, 1)
	for {
		n, err := u.conn.ReadBatch(bufs, sizes, srcs)
		if err != nil {
			if u.closed.Load() {
				return
			}
			u.log.Warn("underlay read failed", zap.Error(err))
			continue
		}
		now := fdb.Now()
		nets := *u.nets.Load()
		for i := 0; i < n; i++ {
			vni, inner, err := encap.DecapVXLAN(bufs[i][:sizes[i]])
			if err != nil {
				u.Counters.drop(u.log, DropMalformed, 1, err)
				continue
			}
			nw := nets[vni]
			if nw == nil {
				u.Counters.drop(u.log, DropUnknownVNI, 1, nil)
				continue
			}
			nw.receive(inner, srcs[i].Addr().Unmap(), now, one)
		}
	}
}
