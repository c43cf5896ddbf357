package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// socketBuffer is the size asked of the kernel for the underlay sockets'
// queues, so bursts are absorbed rather than dropped.
const socketBuffer = 8 << 20

// udpConn receives on a UDP socket bound to (local, port) and sends outer
// packets it is given whole on a raw IPPROTO_RAW socket, which implies
// IP_HDRINCL: the packet's own IP header goes on the wire, so the UDP source
// port can differ per flow. A raw IPPROTO_RAW socket receives nothing.
type udpConn struct {
	rxSock
	// more are the further receiving sockets of UDPOffload.Sockets, bound
	// to the same address and port with SO_REUSEPORT: the kernel hands each
	// datagram to one of them by a hash of its addresses and ports, so a
	// flow (the sender's outer source port follows it) stays on one.
	more  []*rxSock
	txfd  int
	local netip.AddrPort
	pool  *gsoPool // nil without UDPOffload.GSO or when it was refused
	// refused are the offloads asked for that the kernel refused.
	refused []error
}

func (c *udpConn) offloadsRefused() []error { return c.refused }

// rxSock is one receiving UDP socket and its batch reader.
type rxSock struct {
	rx     *net.UDPConn
	rxr    *mmsgReader
	groErr error          // UDP_GRO asked for and refused
	segs   [connBatch]int // ReadBatch's scratch
}

// ReadBatch reads datagrams with one recvmmsg(2). With GRO on, a buffer
// can hold a train; ReadBatchSegs says where it is cut.
func (r *rxSock) ReadBatch(bufs [][]byte, sizes []int, srcs []netip.AddrPort) (int, error) {
	return r.rxr.read(bufs, sizes, srcs, r.segs[:])
}

// ReadBatchSegs is ReadBatch that also returns, in segs[i], the size of the
// datagrams of a GRO train in bufs[i] (0: one datagram).
func (r *rxSock) ReadBatchSegs(bufs [][]byte, sizes []int, srcs []netip.AddrPort, segs []int) (int, error) {
	return r.rxr.read(bufs, sizes, srcs, segs)
}

// The underlay's sockets, and the capability the receive loops look for:
// a signature that drifted would fail here, not quietly take the slow path.
var (
	_ Conn      = (*udpConn)(nil)
	_ Conn      = udpReceiver{}
	_ segReader = (*udpConn)(nil)
	_ segReader = udpReceiver{}
)

// udpReceiver is one further receiving socket of a udpConn as a Conn of
// its own, for its receive worker: it sends through the udpConn, and
// closing the udpConn closes it.
type udpReceiver struct {
	*rxSock
	c *udpConn
}

func (r udpReceiver) WriteBatch(pkts [][]byte) (int, error) { return r.c.WriteBatch(pkts) }
func (r udpReceiver) LocalAddr() netip.AddrPort             { return r.c.local }
func (r udpReceiver) Close() error                          { return nil }

// receivers returns the sockets of conn that are read, each by its own
// receive worker: every receiving socket of a udpConn, conn alone for any
// other Conn.
func receivers(conn Conn) []Conn {
	out := []Conn{conn}
	switch c := conn.(type) {
	case *udpConn:
		for _, r := range c.more {
			out = append(out, udpReceiver{rxSock: r, c: c})
		}
	case *ipipConn:
		for _, r := range c.more {
			out = append(out, ipipReceiver{ipipRx: r, c: c})
		}
	}
	return out
}

// ListenUDP opens the underlay sockets for local:port, without offloads.
func ListenUDP(local netip.Addr, port uint16) (Conn, error) {
	return ListenUDPOffload(local, port, UDPOffload{})
}

// ListenUDPOffload opens the underlay sockets for local:port with the
// offloads o asks for. A kernel that lacks one fails here, with an error
// that names it, rather than in the middle of traffic.
func ListenUDPOffload(local netip.Addr, port uint16, o UDPOffload) (Conn, error) {
	ap := netip.AddrPortFrom(local, port)
	network := "udp4"
	family := unix.AF_INET
	if !local.Is4() {
		network, family = "udp6", unix.AF_INET6
	}
	bindErr := func(err error) error {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("UDP %s is already in use (another vtepd, or a kernel vxlan device with the same port?): %w", ap, err)
		}
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("cannot bind UDP %s: %s is not an address of this host: %w", ap, local, err)
		}
		return fmt.Errorf("listen on UDP %s: %w", ap, err)
	}
	socks := max(o.Sockets, 1)
	if socks > 1 {
		// SO_REUSEPORT would let these sockets share the port with anyone
		// else who set it, another vtepd say: first make sure nobody holds
		// it, with a socket that shares nothing.
		probe, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, bindErr(err)
		}
		probe.Close()
	}
	c := &udpConn{txfd: -1, local: ap}
	var err error
	for i := 0; i < socks; i++ {
		r, err := listenRx(network, ap, socks > 1, o)
		if err != nil {
			c.Close()
			if i == 0 || !errors.Is(err, syscall.EADDRINUSE) {
				return nil, bindErr(err)
			}
			return nil, fmt.Errorf("receiving socket %d of %d: %w", i+1, socks, bindErr(err))
		}
		if i == 0 {
			c.rxSock = *r
		} else {
			c.more = append(c.more, r)
		}
	}
	if socks > 1 {
		// Another vtepd starting at the same moment could have passed the
		// probe too and joined the group: then neither keeps the port.
		rxs := []*net.UDPConn{c.rx}
		for _, r := range c.more {
			rxs = append(rxs, r.rx)
		}
		if err := soleHolder(ap, rxs); err != nil {
			c.Close()
			return nil, err
		}
		if err := steerBySourcePort(c.rx, socks, local.Is4()); err != nil {
			// The kernel's own hash of addresses and ports still keeps
			// each flow on one socket.
			c.refused = append(c.refused, fmt.Errorf("reuseport steering: %w", err))
		}
	}
	if c.txfd, err = openRawSender(family); err != nil {
		c.Close()
		return nil, err
	}
	if o.GSO {
		// Without GSO sockets, trains go as single datagrams: slower, but
		// no reason not to start.
		if c.pool, err = openGSOPool(local, port, o); err != nil {
			c.pool = nil
			c.refused = append(c.refused, fmt.Errorf("gso: %w", err))
		}
	}
	for _, r := range append([]*rxSock{&c.rxSock}, c.more...) {
		if r.groErr != nil {
			c.refused = append(c.refused, fmt.Errorf("gro: %w", r.groErr))
			break // one socket says it for all
		}
	}
	return c, nil
}

// listenRx opens one receiving socket on ap, sharing the port with
// SO_REUSEPORT when reuse is set, with o's GRO and busy polling.
func listenRx(network string, ap netip.AddrPort, reuse bool, o UDPOffload) (*rxSock, error) {
	lc := net.ListenConfig{}
	if reuse {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	pc, err := lc.ListenPacket(context.Background(), network, ap.String())
	if err != nil {
		return nil, err
	}
	rx := pc.(*net.UDPConn)
	forceBuffer(rx, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF)
	r := &rxSock{rx: rx}
	if r.rxr, err = newMmsgReader(rx); err != nil {
		rx.Close()
		return nil, err
	}
	r.rxr.poll.spin = o.BusyPoll
	if o.GRO {
		// A socket without GRO reads one datagram per buffer, as with
		// the gro offload off.
		if err := setsockopt(rx, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
			r.groErr = fmt.Errorf("UDP_GRO: %w", err)
		}
	}
	return r, nil
}

// skfNetOff is SKF_NET_OFF: a classic BPF load at this offset plus k reads
// the byte k of the network header, wherever the program's data begins.
const skfNetOff = 0xfff00000 // -0x100000

// steerBySourcePort attaches to the port's SO_REUSEPORT group, through its
// first socket rx, a program (reuseportProg) that hands each datagram to
// socket number (UDP source port + a hash of the source address) mod socks,
// the sockets numbered in the order they joined. A flow, whose packets share
// a source port, stays on one socket, as with the kernel's own hash of
// addresses and ports; the difference is the spread. A vtepd sends a flow
// from one of gsoSockets consecutive ports (openGSOPool) picked by a hash of
// the inner flow, and consecutive ports take consecutive sockets: flows
// spread by that one hash, where the kernel's hash would be a second draw in
// which flows on different ports could meet again. The address hash sets
// peers apart, since every vtepd takes the same ports. A sender that picks
// its source port by a hash, as Linux's vxlan does, spreads the same either
// way.
//
// The program reads the UDP header behind the data (which starts after
// it) through the network header: for IPv4 after the header's length,
// for IPv6 after the fixed header when the next header is UDP. An IPv6
// datagram with extension headers gets an index past the last socket,
// which has the kernel pick by its own hash.
func steerBySourcePort(rx *net.UDPConn, socks int, ipv4 bool) error {
	rc, err := rx.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = setFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, reuseportProg(socks, ipv4), "SO_ATTACH_REUSEPORT_CBPF")
	}); err != nil {
		return err
	}
	return serr
}

// addrMix multiplies the source address in reuseportProg, so that addresses
// that differ in any bit, not only in their last few, move a peer's ports
// to other sockets (the golden ratio's 32 bits, as Knuth's multiplicative
// hash).
const addrMix = 0x9e3779b1

// reuseportProg is steerBySourcePort's program for socks sockets.
func reuseportProg(socks int, ipv4 bool) []bpf.Instruction {
	var prog []bpf.Instruction
	if ipv4 {
		prog = []bpf.Instruction{
			bpf.LoadMemShift{Off: skfNetOff},              // X = the IPv4 header's length
			bpf.LoadIndirect{Off: skfNetOff + 0, Size: 2}, // the UDP source port
			bpf.TAX{},
			bpf.LoadAbsolute{Off: skfNetOff + 12, Size: 4}, // the source address
		}
	} else {
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: skfNetOff + 6, Size: 1}, // the next header
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_UDP, SkipTrue: 1},
			bpf.RetConstant{Val: 0xffffffff},               // extension headers: the kernel's hash
			bpf.LoadAbsolute{Off: skfNetOff + 40, Size: 2}, // the UDP source port
			bpf.TAX{},
			bpf.LoadAbsolute{Off: skfNetOff + 20, Size: 4}, // the source address's last 32 bits
		}
	}
	return append(prog,
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: addrMix},   // every bit of the address
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16}, // reaches these 16
		bpf.ALUOpX{Op: bpf.ALUOpAdd},                        // + the port
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(socks)},
		bpf.RetA{})
}

// soleHolder returns an error when a socket other than socks is bound to
// ap, as /proc/self/net/udp (udp6) lists them in this network namespace:
// SO_REUSEPORT lets any socket that sets it join the port. A kernel without
// the file leaves the probe bind as the only check.
func soleHolder(ap netip.AddrPort, socks []*net.UDPConn) error {
	ours := map[uint64]bool{}
	for _, s := range socks {
		rc, err := s.SyscallConn()
		if err != nil {
			return err
		}
		var st unix.Stat_t
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		ours[st.Ino] = true
	}
	file := "/proc/self/net/udp"
	if !ap.Addr().Is4() {
		file += "6"
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	want := procNetAddr(ap)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[1] != want {
			continue
		}
		if ino, err := strconv.ParseUint(f[9], 10, 64); err == nil && !ours[ino] {
			return fmt.Errorf("UDP %s is already in use: another socket joined it as vtepd bound its %d (another vtepd starting at the same time?)", ap, len(socks))
		}
	}
	return nil
}

// procNetAddr writes ap as /proc/net/udp and udp6 show a local address:
// the address as 32-bit words in the host's (little-endian) byte order, in
// hex, then the port.
func procNetAddr(ap netip.AddrPort) string {
	var b strings.Builder
	raw := ap.Addr().AsSlice()
	for i := 0; i+4 <= len(raw); i += 4 {
		fmt.Fprintf(&b, "%02X%02X%02X%02X", raw[i+3], raw[i+2], raw[i+1], raw[i])
	}
	fmt.Fprintf(&b, ":%04X", ap.Port())
	return b.String()
}

// setsockopt sets an integer option on c's socket.
func setsockopt(c syscall.Conn, level, opt, value int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, value) }); err != nil {
		return err
	}
	return serr
}

func (c *udpConn) LocalAddr() netip.AddrPort { return c.local }

// gso returns the GSO sockets, nil without the offload.
func (c *udpConn) gso() *gsoPool { return c.pool }

// forceBuffer sizes a socket queue to socketBuffer. The FORCE option, open
// to CAP_NET_ADMIN, passes the net.core.[rw]mem_max cap that would otherwise
// silently cut the request to a few hundred kilobytes: a burst larger than
// that would be dropped before vtepd ever reads it.
func forceBuffer(c syscall.Conn, force, plain int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, force, socketBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, plain, socketBuffer)
		}
	})
}

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// maxSend is how many packets one sendmmsg call carries; the arrays live on
// the caller's stack, so a batch costs no allocation.
const maxSend = 32

func (c *udpConn) WriteBatch(pkts [][]byte) (int, error) { return sendRaw(c.txfd, pkts) }

// openRawSender opens a raw socket that sends packets whose IP header the
// caller wrote (IPPROTO_RAW implies IP_HDRINCL for IPv4; IPv6 asks for it).
// It is blocking: a full send queue holds the sender back rather than
// dropping.
func openRawSender(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return -1, fmt.Errorf("open raw socket for sending (needs CAP_NET_RAW): %w", err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("raw IPv6 socket: IPV6_HDRINCL: %w", err)
		}
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuffer)
	}
	return fd, nil
}

// sendRaw sends pkts, each beginning with its IP header, on the raw socket
// fd with sendmmsg(2). A packet the kernel refuses is skipped and the rest
// still go; it returns how many were sent and the last error.
func sendRaw(fd int, pkts [][]byte) (int, error) {
	sent := 0
	var lastErr error
	for len(pkts) > 0 {
		n := min(len(pkts), maxSend)
		var (
			hdrs [maxSend]mmsghdr
			iovs [maxSend]unix.Iovec
			sas  [maxSend]unix.RawSockaddrInet6
		)
		for i := 0; i < n; i++ {
			p := pkts[i]
			iovs[i].Base = &p[0]
			iovs[i].SetLen(len(p))
			hdrs[i].hdr.Iov = &iovs[i]
			hdrs[i].hdr.SetIovlen(1)
			hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&sas[i]))
			hdrs[i].hdr.Namelen = putDst(&sas[i], p)
		}
		r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EAGAIN {
			r, _, errno = unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), 0, 0, 0)
		}
		done := int(r)
		if errno != 0 {
			// The first packet failed: skip it and go on with the rest.
			lastErr = errno
			done = 1
		} else {
			sent += done
		}
		pkts = pkts[done:]
	}
	return sent, lastErr
}

// putDst fills sa with the destination of the IP packet p and returns the
// sockaddr's length. The kernel routes a raw packet by this address.
func putDst(sa *unix.RawSockaddrInet6, p []byte) uint32 {
	if len(p) > 0 && p[0]>>4 == 4 && len(p) >= 20 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Port = 0
		copy(sa4.Addr[:], p[16:20])
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Port = 0
	if len(p) >= 40 {
		copy(sa.Addr[:], p[24:40])
	}
	return unix.SizeofSockaddrInet6
}

func (c *udpConn) Close() error {
	socks := []*net.UDPConn{c.rx}
	for _, r := range c.more {
		socks = append(socks, r.rx)
	}
	err := closeSockets(c.txfd, socks...)
	if c.pool != nil {
		c.pool.close()
	}
	return err
}

// closeSockets closes a Conn's receiving sockets, the nil ones (not
// opened yet) skipped, and its raw sender txfd unless it is -1, and returns
// the first error.
func closeSockets[S interface {
	comparable
	Close() error
}](txfd int, socks ...S) error {
	var (
		err  error
		none S
	)
	for _, s := range socks {
		if s == none {
			continue
		}
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}
	if txfd >= 0 {
		if cerr := unix.Close(txfd); err == nil {
			err = cerr
		}
	}
	return err
}

// bindGroup opens a UDP socket bound to the group address itself. Go's
// net.ListenPacket would bind a multicast address as the wildcard instead,
// which collides with the unicast socket on the same port and would also
// take unicast datagrams for other local addresses.
func bindGroup(family int, ap netip.AddrPort) (*net.UDPConn, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
		// Only the groups this socket joined, not every group the host did.
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
	} else {
		sa = &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "vxlan-group")
	defer f.Close() // FilePacketConn holds its own duplicate
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// ListenGroup joins the multicast group on the device dev and returns a
// Conn that receives the group's datagrams on port and sends packets out of
// dev. Its own packets are not looped back to this host.
//
// The receiving socket is bound to the group address itself: Linux delivers
// a multicast datagram only to sockets bound to its group or to the
// wildcard, never to one bound to a unicast address.
func ListenGroup(group netip.Addr, dev string, port uint16) (Conn, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, &DeviceError{Field: "dev", Err: fmt.Errorf("dev %q: %w", dev, err)}
	}
	family := unix.AF_INET
	if !group.Is4() {
		family = unix.AF_INET6
	}
	ap := netip.AddrPortFrom(group, port)
	rx, err := bindGroup(family, ap)
	if err != nil {
		return nil, fmt.Errorf("listen on UDP %s: %w", ap, err)
	}
	ga := &net.UDPAddr{IP: group.AsSlice()}
	if group.Is4() {
		err = ipv4.NewPacketConn(rx).JoinGroup(ifi, ga)
	} else {
		err = ipv6.NewPacketConn(rx).JoinGroup(ifi, ga)
	}
	if err != nil {
		rx.Close()
		return nil, fmt.Errorf("join %s on %s: %w", group, dev, err)
	}
	forceBuffer(rx, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF)
	fd, err := openRawSender(family)
	if err != nil {
		rx.Close()
		return nil, err
	}
	if group.Is4() {
		err = errors.Join(
			unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}),
			unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0))
	} else {
		err = errors.Join(
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index),
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0))
	}
	if err != nil {
		unix.Close(fd)
		rx.Close()
		return nil, fmt.Errorf("multicast sender on %s: %w", dev, err)
	}
	c := &udpConn{rxSock: rxSock{rx: rx}, txfd: fd, local: ap}
	if c.rxr, err = newMmsgReader(rx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (r *rxSock) keepParkClock(p *workerClock) { r.rxr.poll.clock = p }
