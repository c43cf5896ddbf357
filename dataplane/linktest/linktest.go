// Package linktest holds in-memory fakes of the dataplane's Link (a TAP or
// TUN device) and Conn (the underlay sockets), so whole forwarding paths can
// be tested without root, devices or sockets.
//
// A Wire joins any number of fake Conns: a packet one Conn sends is parsed
// (outer IPv4 or IPv6 header, UDP header) and its UDP payload delivered to
// the Conn bound to the destination address and port, with the outer source
// address and port as its sender, as the kernel would.
package linktest

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vtepd/vtepd/encap"
)

// queueLen bounds every fake queue; a full queue drops, as a device would.
const queueLen = 4096

// ErrQueueFull is returned by a write into a full fake queue.
var ErrQueueFull = errors.New("linktest: queue full")

// Link is a fake device. Frames given to Inject are what the dataplane reads;
// frames the dataplane writes come out of Written.
type Link struct {
	name string
	in   chan []byte
	out  chan []byte
	done chan struct{}
	once sync.Once
	// FailWrites makes Write fail, as a device gone away would.
	FailWrites atomic.Bool
	lost       chan struct{}
	loseOnce   sync.Once
}

// errLost is what reads and writes of a device deleted under its reader
// return: the kernel's EBADFD, which the dataplane takes for a lost device.
var errLost = &os.PathError{Op: "read", Path: "/dev/net/tun", Err: syscall.EBADFD}

// Lose makes the device behave as one deleted under vtepd (`ip link del`):
// every read and write fails with EBADFD from then on.
func (l *Link) Lose() { l.loseOnce.Do(func() { close(l.lost) }) }

// NewLink returns an open fake device.
func NewLink(name string) *Link {
	return &Link{
		name: name,
		in:   make(chan []byte, queueLen),
		out:  make(chan []byte, queueLen),
		done: make(chan struct{}),
		lost: make(chan struct{}),
	}
}

// Inject queues a copy of frame for the dataplane to read, as if the kernel
// had sent it into the device.
func (l *Link) Inject(frame []byte) {
	l.in <- append([]byte(nil), frame...)
}

// Written returns the channel of frames the dataplane wrote to the device.
func (l *Link) Written() <-chan []byte { return l.out }

// Name implements dataplane.Link.
func (l *Link) Name() string { return l.name }

// Read implements dataplane.Link: it blocks for one frame, then takes any
// others already queued, up to len(bufs).
func (l *Link) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case f := <-l.in:
		sizes[0] = copy(bufs[0][offset:], f)
	case <-l.done:
		return 0, os.ErrClosed
	case <-l.lost:
		return 0, errLost
	}
	n := 1
	for n < len(bufs) {
		select {
		case f := <-l.in:
			sizes[n] = copy(bufs[n][offset:], f)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Write implements dataplane.Link.
func (l *Link) Write(bufs [][]byte, offset int) (int, error) {
	select {
	case <-l.done:
		return 0, os.ErrClosed
	case <-l.lost:
		return 0, errLost
	default:
	}
	if l.FailWrites.Load() {
		return 0, errors.New("linktest: write failed")
	}
	for i, b := range bufs {
		select {
		case l.out <- append([]byte(nil), b[offset:]...):
		default:
			return i, ErrQueueFull
		}
	}
	return len(bufs), nil
}

// Close implements dataplane.Link.
func (l *Link) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Closed reports whether Close was called.
func (l *Link) Closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Wire is a fake underlay network joining fake Conns.
type Wire struct {
	mu      sync.Mutex
	conns   map[netip.AddrPort]*Conn
	members map[netip.AddrPort][]*Conn // multicast group:port -> joined Conns
	sent    []Packet
}

// Packet is a datagram as a Conn received it, or an outer packet as sent.
type Packet struct {
	Src  netip.AddrPort
	Data []byte
}

// NewWire returns an empty fake underlay.
func NewWire() *Wire {
	return &Wire{conns: map[netip.AddrPort]*Conn{}, members: map[netip.AddrPort][]*Conn{}}
}

// JoinGroup attaches a fake socket pair joined to the multicast group:port
// by the host whose unicast address is self. It receives what is sent to the
// group by any other host (its own packets are not looped back), and sends
// like any Conn.
func (w *Wire) JoinGroup(group netip.AddrPort, self netip.Addr) *Conn {
	c := &Conn{w: w, local: group, self: self, in: make(chan Packet, queueLen), done: make(chan struct{})}
	w.mu.Lock()
	w.members[group] = append(w.members[group], c)
	w.mu.Unlock()
	return c
}

// Sent returns copies of every outer packet sent on the wire so far, whole
// (IP header first), in order.
func (w *Wire) Sent() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([][]byte, len(w.sent))
	for i, p := range w.sent {
		out[i] = p.Data
	}
	return out
}

// IPConn attaches a fake raw IP socket for IPIP bound to local: it receives
// whole outer packets of protocol 4 (and 41) sent to local, IP header first,
// with the outer source (port 0) as the sender.
func (w *Wire) IPConn(local netip.Addr) *Conn { return w.Conn(netip.AddrPortFrom(local, 0)) }

// Deliver hands data to the Conn bound to dst as if src had sent it, without
// parsing: for tests of what a receiver does with packets the wire could not
// route. It reports whether a Conn was there.
func (w *Wire) Deliver(dst, src netip.AddrPort, data []byte) bool {
	w.mu.Lock()
	to := w.conns[dst]
	w.mu.Unlock()
	if to == nil {
		return false
	}
	to.in <- Packet{Src: src, Data: append([]byte(nil), data...)}
	return true
}

// Conn attaches a fake socket pair bound to local.
func (w *Wire) Conn(local netip.AddrPort) *Conn {
	c := &Conn{w: w, local: local, in: make(chan Packet, queueLen), done: make(chan struct{})}
	w.mu.Lock()
	w.conns[local] = c
	w.mu.Unlock()
	return c
}

// Conn is a fake underlay socket pair: it reads UDP payloads sent to its
// address and sends whole outer IP packets onto the Wire.
type Conn struct {
	w     *Wire
	local netip.AddrPort
	self  netip.Addr // for a group member: its host's unicast address
	// FailWrites makes WriteBatch refuse every packet, as a socket whose
	// route went away would.
	FailWrites atomic.Bool
	in         chan Packet
	done       chan struct{}
	once       sync.Once
}

// Inject delivers payload to the Conn as a UDP datagram from src, for tests
// that craft what arrives on the VXLAN port.
func (c *Conn) Inject(payload []byte, src netip.AddrPort) {
	c.in <- Packet{Src: src, Data: append([]byte(nil), payload...)}
}

// LocalAddr implements dataplane.Conn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// ReadBatch implements dataplane.Conn.
func (c *Conn) ReadBatch(bufs [][]byte, sizes []int, srcs []netip.AddrPort) (int, error) {
	select {
	case p := <-c.in:
		sizes[0], srcs[0] = copy(bufs[0], p.Data), p.Src
	case <-c.done:
		return 0, os.ErrClosed
	}
	n := 1
	for n < len(bufs) {
		select {
		case p := <-c.in:
			sizes[n], srcs[n] = copy(bufs[n], p.Data), p.Src
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// WriteBatch implements dataplane.Conn: each packet is recorded, parsed and
// delivered to the Conn bound to its destination, if any.
func (c *Conn) WriteBatch(pkts [][]byte) (int, error) {
	select {
	case <-c.done:
		return 0, os.ErrClosed
	default:
	}
	if c.FailWrites.Load() {
		return 0, errors.New("linktest: send failed")
	}
	for _, p := range pkts {
		pkt := append([]byte(nil), p...)
		src, dst, payload, ok := parseOuter(pkt)
		c.w.mu.Lock()
		c.w.sent = append(c.w.sent, Packet{Src: src, Data: pkt})
		var to []*Conn
		if dst.Addr().IsMulticast() {
			for _, m := range c.w.members[dst] {
				if m.self != src.Addr() {
					to = append(to, m)
				}
			}
		} else if r := c.w.conns[dst]; r != nil {
			to = append(to, r)
		}
		c.w.mu.Unlock()
		if !ok {
			continue
		}
		// Nobody listening there: lost on the wire, as UDP is.
		for _, r := range to {
			select {
			case r.in <- Packet{Src: src, Data: payload}:
			case <-r.done:
			default: // receiver's queue full: lost, as a socket buffer overflow
			}
		}
	}
	return len(pkts), nil
}

// Close implements dataplane.Conn.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.done) })
	c.w.mu.Lock()
	if c.w.conns[c.local] == c {
		delete(c.w.conns, c.local)
	}
	ms := c.w.members[c.local]
	for i, m := range ms {
		if m == c {
			c.w.members[c.local] = append(ms[:i:i], ms[i+1:]...)
			break
		}
	}
	c.w.mu.Unlock()
	return nil
}

// parseOuter reads the outer IP and UDP headers of a sent packet. An IPIP
// packet goes whole to port 0 of its destination, as to a raw socket.
func parseOuter(pkt []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	var srcIP, dstIP netip.Addr
	var l4 []byte
	switch {
	case len(pkt) > 0 && pkt[0]>>4 == 4:
		ip := encap.IPv4(pkt)
		if ip.IsValid() && (ip.Protocol() == encap.ProtocolIPIP || ip.Protocol() == encap.ProtocolIPv6inIPv4) {
			return netip.AddrPortFrom(ip.Src(), 0), netip.AddrPortFrom(ip.Dst(), 0), pkt, true
		}
		if !ip.IsValid() || ip.Protocol() != encap.ProtocolUDP {
			return src, dst, nil, false
		}
		srcIP, dstIP, l4 = ip.Src(), ip.Dst(), ip.Payload()
	case len(pkt) > 0 && pkt[0]>>4 == 6:
		ip := encap.IPv6(pkt)
		if !ip.IsValid() || ip.NextHeader() != encap.ProtocolUDP {
			return src, dst, nil, false
		}
		srcIP, dstIP, l4 = ip.Src(), ip.Dst(), pkt[encap.IPv6HeaderLen:]
	default:
		return src, dst, nil, false
	}
	u := encap.UDP(l4)
	if !u.IsValid() {
		return src, dst, nil, false
	}
	return netip.AddrPortFrom(srcIP, u.SrcPort()), netip.AddrPortFrom(dstIP, u.DstPort()), u.Payload(), true
}

// ARPFrame is an ARP request (encap.ARPRequest) or reply from src, who has
// from, about target, in an Ethernet frame to dst: what a host behind a
// device would send.
func ARPFrame(dst, src [6]byte, op uint16, from, target netip.Addr) []byte {
	f := make([]byte, encap.ARPFrameLen)
	e := encap.Ethernet(f)
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetEtherType(encap.EtherTypeARP)
	a := f[encap.EthernetHeaderLen:]
	// Ethernet (1), IPv4, address lengths 6 and 4 (RFC 826), then op.
	copy(a, []byte{0, 1, 0x08, 0x00, 6, 4, byte(op >> 8), byte(op)})
	copy(a[8:], src[:])
	copy(a[14:], from.AsSlice())
	copy(a[24:], target.AsSlice())
	return f
}
