package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
)

// DeviceConfig describes a TAP or TUN device vtepd creates.
type DeviceConfig struct {
	Name    string
	MTU     int
	Address netip.Prefix // optional
	// Offload opens the device with a virtio-net header and TCP
	// segmentation offload (IFF_VNET_HDR, TUNSETOFFLOAD), so TCP moves
	// through it in super-frames of up to 64 KiB, and UDP too where the
	// kernel has UDP segmentation offload (6.2 on). When the kernel refuses,
	// the device is opened without, and Offloaded on the Link says so.
	Offload bool
	// MAC, when set, is a TAP's Ethernet address; nil keeps the random one
	// the kernel gives it.
	MAC net.HardwareAddr
	// Queues is how many queues the device is opened with
	// (IFF_MULTI_QUEUE), each read by its own transmit worker; the kernel
	// picks a frame's queue by its flow's hash, so a flow stays on one
	// queue and in order. 0 or 1 opens one plain queue.
	Queues int
	// BusyPoll is how long a worker keeps trying non-blocking reads of its
	// queue after a batch before it sleeps in the runtime's poller: on a
	// host with cores to spare, a frame that arrives meanwhile costs no
	// wake-up. 0 sleeps at once.
	BusyPoll time.Duration
}

// Offloaded reports whether l moves TCP super-frames (DeviceConfig.Offload
// was asked for and the kernel agreed).
func Offloaded(l Link) bool {
	_, ok := Queues(l)[0].(vnetLink)
	return ok
}

// Queues returns the queues of a device opened with several
// (DeviceConfig.Queues), each a Link of its own, and any other Link as its
// only queue.
func Queues(l Link) []Link {
	if m, ok := l.(*multiQueue); ok {
		return m.queues
	}
	return []Link{l}
}

var (
	_ Link = (*multiQueue)(nil)
	_ Link = (*device)(nil)
)

// multiQueue is a device opened with IFF_MULTI_QUEUE: one descriptor per
// queue. As a Link it reads and writes through its first queue; the
// forwarding workers take each queue apart (Queues).
type multiQueue struct {
	queues []Link
	name   string
}

func (m *multiQueue) Name() string { return m.name }

func (m *multiQueue) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return m.queues[0].Read(bufs, sizes, offset)
}

func (m *multiQueue) Write(bufs [][]byte, offset int) (int, error) {
	return m.queues[0].Write(bufs, offset)
}

// Close closes every queue's descriptor, then makes sure the device is
// gone; the kernel deletes it with the last one.
func (m *multiQueue) Close() error {
	var errs []error
	for _, q := range m.queues {
		errs = append(errs, closeQueue(q))
	}
	return closeDevice(errors.Join(errs...), m.name)
}

// closeQueue closes one queue's descriptor without deleting the device,
// which other queues may still hold.
func closeQueue(l Link) error {
	switch q := l.(type) {
	case *vnetDevice:
		return q.f.Close()
	case *device:
		return q.ifce.Close()
	}
	return l.Close()
}

// DeviceError is a device that could not be made or used as configured;
// Field names the network's setting at fault: "name", "mtu" or "address"
// of its own device, "dev" of the device its multicast group is joined on.
type DeviceError struct {
	Field string
	Err   error
}

func (e *DeviceError) Error() string { return e.Err.Error() }
func (e *DeviceError) Unwrap() error { return e.Err }

// device is a TAP or TUN opened through water, one frame per system call.
type device struct {
	ifce *water.Interface
	name string
	rc   syscall.RawConn
	r    queueReader // Read's: one reader per queue
	// Write's: receive workers and transmit workers (ARP and ICMP answers)
	// may write into one queue at once.
	mu  sync.Mutex
	w   *vnetWriter
	one [1][]byte
}

// newDevice wraps a queue water opened (non-blocking, so its reads and
// writes can be made raw, see rawRead).
func newDevice(ifce *water.Interface, busyPoll time.Duration) (*device, error) {
	f, ok := ifce.ReadWriteCloser.(*os.File)
	if !ok {
		return nil, fmt.Errorf("device %q: not a file", ifce.Name())
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	d := &device{ifce: ifce, name: ifce.Name(), rc: rc, w: newVnetWriter()}
	d.r.init(rc)
	d.r.first.poll.spin = busyPoll
	return d, nil
}

// CreateTAP creates the TAP device of a VXLAN network, sets its MTU and
// address and brings it up. The device exists as long as the returned Link
// is open: it is not persistent, so it vanishes with the process too.
func CreateTAP(cfg DeviceConfig) (Link, error) { return create(water.TAP, cfg) }

// CreateTUN creates the TUN device of an IPIP network, like CreateTAP.
func CreateTUN(cfg DeviceConfig) (Link, error) { return create(water.TUN, cfg) }

func create(kind water.DeviceType, cfg DeviceConfig) (Link, error) {
	if _, err := netlink.LinkByName(cfg.Name); err == nil {
		return nil, &DeviceError{"name", fmt.Errorf("device %q already exists; vtepd creates its own devices", cfg.Name)}
	}
	l, err := openQueues(kind, cfg)
	if err != nil {
		return nil, err
	}
	name := l.Name()
	if kind == water.TUN {
		// An IPIP device carries IPv4 only: without this the kernel would
		// send it IPv6 link-local traffic (router solicitations) to drop.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0o644)
	}
	if err := configure(name, cfg); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// openQueues opens the device's queues: with offloads where asked and the
// kernel agrees (every queue alike: the kernel wants the same flags on each),
// without otherwise.
func openQueues(kind water.DeviceType, cfg DeviceConfig) (Link, error) {
	n := max(cfg.Queues, 1)
	if cfg.Offload {
		if l, err := openEach(n, cfg.Name, func(name string) (Link, error) {
			d, err := openVnet(name, kind == water.TAP, n > 1)
			if err != nil {
				return nil, err
			}
			d.r.first.poll.spin = cfg.BusyPoll
			return d, nil
		}); err == nil {
			return l, nil
		}
	}
	l, err := openEach(n, cfg.Name, func(name string) (Link, error) {
		ifce, err := water.New(water.Config{
			DeviceType:             kind,
			PlatformSpecificParams: water.PlatformSpecificParams{Name: name, MultiQueue: n > 1},
		})
		if err != nil {
			return nil, err
		}
		d, err := newDevice(ifce, cfg.BusyPoll)
		if err != nil {
			ifce.Close()
			return nil, err
		}
		return d, nil
	})
	if err != nil {
		return nil, &DeviceError{"name", fmt.Errorf("create device %q: %w", cfg.Name, err)}
	}
	return l, nil
}

// openEach opens n queues of the device name with open: one plain Link for
// n == 1, a multiQueue otherwise. The first open creates the device; the
// rest attach to it by the name it got.
func openEach(n int, name string, open func(name string) (Link, error)) (Link, error) {
	first, err := open(name)
	if err != nil || n == 1 {
		return first, err
	}
	m := &multiQueue{queues: []Link{first}, name: first.Name()}
	for len(m.queues) < n {
		q, err := open(m.name)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("queue %d of %d: %w", len(m.queues), n, err)
		}
		m.queues = append(m.queues, q)
	}
	return m, nil
}

func configure(name string, cfg DeviceConfig) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("device %q: %w", name, err)
	}
	if err := netlink.LinkSetMTU(link, cfg.MTU); err != nil {
		return &DeviceError{"mtu", fmt.Errorf("device %q: set MTU %d: %w", name, cfg.MTU, err)}
	}
	if len(cfg.MAC) > 0 {
		if err := netlink.LinkSetHardwareAddr(link, cfg.MAC); err != nil {
			return fmt.Errorf("device %q: set MAC %s: %w", name, cfg.MAC, err)
		}
	}
	if cfg.Address.IsValid() {
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   cfg.Address.Addr().AsSlice(),
			Mask: net.CIDRMask(cfg.Address.Bits(), cfg.Address.Addr().BitLen()),
		}}
		if err := netlink.AddrAdd(link, a); err != nil {
			return &DeviceError{"address", fmt.Errorf("device %q: add address %s: %w", name, cfg.Address, err)}
		}
	}
	if cfg.Address.IsValid() && cfg.Address.Addr().Is4() {
		// vtepd answers a packet the tunnel cannot carry with ICMP from the
		// device's own address, as a router on the path would be one:
		// the kernel takes such a packet from this device only with
		// accept_local (else it is a martian, from one of its own addresses).
		// Where /proc/sys is read-only, AcceptsLocal says so and the ICMP
		// comes from elsewhere.
		_ = os.WriteFile(acceptLocalPath(name), []byte("1"), 0)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("device %q: set up: %w", name, err)
	}
	return nil
}

func acceptLocalPath(dev string) string { return "/proc/sys/net/ipv4/conf/" + dev + "/accept_local" }

// AcceptsLocal reports whether the kernel takes packets from dev that
// bear one of its own addresses as source (accept_local), as vtepd asks
// for a device with an address.
func AcceptsLocal(dev string) bool {
	b, err := os.ReadFile(acceptLocalPath(dev))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func (d *device) Name() string { return d.name }

// Read waits for a frame, then takes what else is queued without waiting:
// one wake-up, a batch.
func (d *device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return d.r.readBatch(bufs, sizes, offset, 0)
}

func (d *device) Write(bufs [][]byte, offset int) (int, error) {
	d.mu.Lock() // once a batch; the descriptor's own write lock is taken anyway
	defer d.mu.Unlock()
	for i, b := range bufs {
		d.one[0] = b[offset:]
		err := writeParts(d.rc, d.w, d.one[:])
		d.one[0] = nil
		if err != nil {
			return i, err
		}
	}
	return len(bufs), nil
}

// Close closes the device's file descriptor; the kernel then deletes the
// non-persistent device. If it is somehow still there, it is deleted.
func (d *device) Close() error { return closeDevice(d.ifce.Close(), d.name) }

// closeDevice finishes closing the device name, whose descriptor was closed
// with err: the kernel deletes a non-persistent device with its last
// descriptor; if it is somehow still there, it is deleted.
func closeDevice(err error, name string) error {
	if link, lerr := netlink.LinkByName(name); lerr == nil {
		if derr := netlink.LinkDel(link); derr != nil && !errors.Is(derr, syscall.ENODEV) {
			err = errors.Join(err, fmt.Errorf("delete device %q: %w", name, derr))
		}
	}
	return err
}

// UnderlayMTU returns the MTU of the device holding local, the address outer
// packets are sent from.
func UnderlayMTU(local netip.Addr) (int, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return 0, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != local {
			continue
		}
		link, err := netlink.LinkByIndex(a.LinkIndex)
		if err != nil {
			return 0, fmt.Errorf("device of %s: %w", local, err)
		}
		return link.Attrs().MTU, nil
	}
	return 0, fmt.Errorf("%s is not an address of this host", local)
}

func (d *device) keepParkClock(p *workerClock) { d.r.first.poll.clock = p }
