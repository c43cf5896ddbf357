package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/encap"
)

// UDPOffload chooses the underlay socket offloads of ListenUDPOffload, and
// how many sockets receive.
type UDPOffload struct {
	// GSO sends the segments of a TCP super-frame as one UDP GSO train
	// (UDP_SEGMENT): one system call and one trip through the stack for up
	// to 64 KiB, cut into datagrams by the device or at the last moment.
	// Such trains leave from one of a few UDP sockets bound to ports in
	// [SrcPortMin, SrcPortMax] picked by the inner flow's hash; see gsoPool.
	GSO bool
	// GRO receives datagrams the kernel coalesced (UDP_GRO): one read
	// returns a train of equal-sized datagrams of one sender.
	GRO bool
	// SrcPortMin and SrcPortMax bound the GSO sockets' ports; zero means
	// the kernel's vxlan range.
	SrcPortMin, SrcPortMax uint16
	// TTL of GSO packets (IPv6: hop limit); zero means 64.
	TTL uint8
	// Sockets is how many receiving sockets share the port
	// (SO_REUSEPORT), each read by its own receive worker; 0 or 1 opens
	// one.
	Sockets int
	// BusyPoll is how long a receive worker keeps trying non-blocking
	// reads after a batch before it sleeps in the runtime's poller; 0
	// sleeps at once.
	BusyPoll time.Duration
}

// gsoSockets is how many UDP sockets a GSO sender spreads flows over: each
// sends from its own port, so an ECMP underlay still spreads flows, over
// this many source ports instead of the whole range.
const gsoSockets = 8

// maxUDPPayload is the most a UDP datagram (or a GSO train) carries over
// IPv4: the IPv4 total length limit minus the IP and UDP headers.
const maxUDPPayload = 65535 - 20 - 8

// gsoPool sends VXLAN datagrams from ordinary UDP sockets, which, unlike the
// raw socket, can hand the kernel a train of segments in one call. The
// kernel fills in the IP and UDP headers (and the UDP checksum, which GSO
// requires; over veth and most NICs it is offloaded).
type gsoPool struct {
	fds    []int
	ports  []uint16
	family int
	dport  uint16
}

// openGSOPool binds gsoSockets UDP sockets to local and gsoSockets
// consecutive ports in [min, max], the first block of them free. The ports
// are consecutive so that a receiver that picks its socket by source port
// modulo its number of sockets (steerBySourcePort), as vtepd does, gives
// each of them its own socket. A range too small, or with no free block in
// its first 64, takes ports spread over the range, each the first free one
// from its place.
func openGSOPool(local netip.Addr, dport uint16, o UDPOffload) (*gsoPool, error) {
	lo, hi := o.SrcPortMin, o.SrcPortMax
	if lo == 0 && hi == 0 {
		lo, hi = encap.DefaultSourcePortMin, encap.DefaultSourcePortMax
	}
	ttl := int(o.TTL)
	if ttl == 0 {
		ttl = encap.DefaultTTL
	}
	p := &gsoPool{family: unix.AF_INET, dport: dport}
	if !local.Is4() {
		p.family = unix.AF_INET6
	}
	span := int(hi) - int(lo) + 1
	for b := 0; b+gsoSockets <= span && b < 64*gsoSockets; b += gsoSockets {
		err := p.bindBlock(local, lo+uint16(b), ttl)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			return nil, err
		}
	}
	want := min(gsoSockets, span)
	for i := 0; i < want; i++ {
		fd, port, err := p.bindNear(local, lo, span, i*span/want, ttl)
		if err != nil {
			p.close()
			return nil, err
		}
		p.fds = append(p.fds, fd)
		p.ports = append(p.ports, port)
	}
	return p, nil
}

// bindBlock binds the pool's gsoSockets sockets to the ports from first
// on, or none of them: its error is the first bind's that failed.
func (p *gsoPool) bindBlock(local netip.Addr, first uint16, ttl int) error {
	for i := range gsoSockets {
		port := first + uint16(i)
		fd, _, err := p.bindNear(local, port, 1, 0, ttl)
		if err != nil {
			p.close()
			p.ports = nil
			return err
		}
		p.fds = append(p.fds, fd)
		p.ports = append(p.ports, port)
	}
	return nil
}

func (p *gsoPool) bindNear(local netip.Addr, lo uint16, span, start, ttl int) (int, uint16, error) {
	fd, err := unix.Socket(p.family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, 0, fmt.Errorf("UDP GSO socket: %w", err)
	}
	if p.family == unix.AF_INET {
		err = errors.Join(
			unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl),
			// DF clear, as the raw path and Linux's vxlan (df unset) send.
			unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT))
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
	}
	if err == nil {
		// Probe: a kernel without UDP GSO refuses the option. Then back to
		// 0, or every send would be cut at the probe's size.
		err = errors.Join(
			unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 1400),
			unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 0))
	}
	if err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("UDP GSO socket options: %w", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuffer)
	}
	// Nothing is read from these sockets: keep their receive queue tiny.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1)
	for k := 0; k < span && k < 64; k++ {
		port := lo + uint16((start+k)%span)
		var sa unix.Sockaddr
		if p.family == unix.AF_INET {
			sa = &unix.SockaddrInet4{Addr: local.As4(), Port: int(port)}
		} else {
			sa = &unix.SockaddrInet6{Addr: local.As16(), Port: int(port)}
		}
		if err = unix.Bind(fd, sa); err == nil {
			return fd, port, nil
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			break
		}
	}
	unix.Close(fd)
	return -1, 0, fmt.Errorf("bind a UDP GSO socket to %s in ports %d-%d: %w", local, lo, int(lo)+span-1, err)
}

// gsoConn is a Conn with GSO sockets (udpConn opened with
// UDPOffload.GSO).
type gsoConn interface {
	Conn
	gso() *gsoPool
}

// offloadReporter is a Conn that opened without an offload it was asked
// for, because the kernel refused it: the underlay logs and counts each.
type offloadReporter interface {
	Conn
	offloadsRefused() []error
}

var (
	_ gsoConn         = (*udpConn)(nil)
	_ offloadReporter = (*udpConn)(nil)
)

// gsoRefused turns GSO off for good when err, from a UDP_SEGMENT send from
// pool, says the kernel or the device under it cannot segment (EIO: no
// checksum offload; EINVAL, EOPNOTSUPP, ENOPROTOOPT: no UDP GSO there),
// as wireguard-go does: the datagrams of the failed send are counted as
// send_error drops, and every send from then on takes the one-datagram
// path. It is logged and counted (Offload.Fallbacks) once. Other errors
// (a full queue, no route) pass.
func (u *Underlay) gsoRefused(pool *gsoPool, err error, c *counterShard) {
	if !disablesGSO(err) || !u.gso.CompareAndSwap(pool, nil) {
		return
	}
	c.Offload.Fallbacks.Add(1)
	u.log.Warn("UDP GSO refused by the kernel; sending one datagram at a time from now on", zap.Error(err))
}

func disablesGSO(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT)
}

func (p *gsoPool) close() {
	for _, fd := range p.fds {
		unix.Close(fd)
	}
	p.fds = nil
}

// port is the source port trains of a flow with this hash leave from.
func (p *gsoPool) port(hash uint32) uint16 { return p.ports[p.sock(hash)] }

// sock is the index of the socket trains of a flow with this hash leave
// from.
func (p *gsoPool) sock(hash uint32) uint32 { return hash % uint32(len(p.fds)) }

// gsoWriter is one sender's scratch space for sendmsg: header, iovecs,
// control message and destination, reused so a send allocates nothing.
type gsoWriter struct {
	msg  unix.Msghdr
	iovs [encap.MaxUDPSegments]unix.Iovec
	oob  [unix.SizeofCmsghdr + 8]byte
	name unix.RawSockaddrInet6
	one  [1][]byte
}

// send sends train to dst from the socket of hash: one datagram if segSize
// is len(train) or more, else datagrams of segSize bytes (the last may be
// shorter) in one UDP_SEGMENT call. The train must respect encap.MaxUDPSegments
// and maxUDPPayload.
func (p *gsoPool) send(w *gsoWriter, dst netip.Addr, hash uint32, train []byte, segSize int) error {
	w.one[0] = train
	err := p.sendParts(w, dst, hash, w.one[:], segSize)
	w.one[0] = nil
	return err
}

// sendParts is send for a train whose bytes lie in several buffers, parts
// in order (at most encap.MaxUDPSegments of them): the kernel reads them as one
// payload and cuts it every segSize bytes, wherever the parts begin.
func (p *gsoPool) sendParts(w *gsoWriter, dst netip.Addr, hash uint32, parts [][]byte, segSize int) error {
	fd := p.fds[p.sock(hash)]
	total := 0
	for i, part := range parts {
		w.iovs[i].Base = &part[0]
		w.iovs[i].SetLen(len(part))
		total += len(part)
	}
	w.msg.Iov = &w.iovs[0]
	w.msg.SetIovlen(len(parts))
	w.msg.Name = (*byte)(unsafe.Pointer(&w.name))
	if dst.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&w.name))
		sa.Family = unix.AF_INET
		sa.Port = htons(p.dport)
		sa.Addr = dst.As4()
		w.msg.Namelen = unix.SizeofSockaddrInet4
	} else {
		w.name = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(p.dport), Addr: dst.As16()}
		w.msg.Namelen = unix.SizeofSockaddrInet6
	}
	w.msg.Control, w.msg.Controllen = nil, 0
	if segSize < total {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&w.oob[0]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
		*(*uint16)(unsafe.Pointer(&w.oob[unix.SizeofCmsghdr])) = uint16(segSize)
		w.msg.Control = &w.oob[0]
		w.msg.SetControllen(unix.CmsgSpace(2))
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&w.msg)), unix.MSG_DONTWAIT)
	if errno == unix.EAGAIN {
		_, _, errno = unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&w.msg)), 0)
	}
	for i := range parts {
		w.iovs[i].Base = nil // keep no buffer reachable from the writer
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// htons puts a port in network byte order for a raw sockaddr.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// mmsgReader reads a batch of datagrams with one recvmmsg(2), their senders
// and, with UDP_GRO on, the segment size of each coalesced train. Its
// arrays are reused, so a read allocates nothing; one goroutine reads.
type mmsgReader struct {
	rc    syscall.RawConn
	hdrs  [connBatch]mmsghdr
	iovs  [connBatch]unix.Iovec
	names [connBatch]unix.RawSockaddrInet6
	oob   [connBatch][64]byte
	n     int
	cnt   uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool
	poll  busyPoll // UDPOffload.BusyPoll
}

func newMmsgReader(c syscall.Conn) (*mmsgReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &mmsgReader{rc: rc}
	r.fn = r.recv
	return r, nil
}

func (r *mmsgReader) recv(fd uintptr) bool {
	r.poll.woke()
	for {
		r.cnt, _, r.errno = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(r.n), unix.MSG_DONTWAIT, 0, 0)
		if r.errno != unix.EAGAIN {
			return true
		}
		if !r.poll.keep() {
			r.poll.park()
			return false
		}
	}
}

// read fills bufs[i][:sizes[i]] with datagram i, srcs[i] with its sender
// (zero for a raw socket, whose datagrams carry it in their IP header) and
// segs[i] with its GRO segment size, 0 when it is one datagram.
func (r *mmsgReader) read(bufs [][]byte, sizes []int, srcs []netip.AddrPort, segs []int) (int, error) {
	r.n = min(len(bufs), connBatch)
	for i := 0; i < r.n; i++ {
		r.iovs[i].Base = &bufs[i][0]
		r.iovs[i].SetLen(len(bufs[i]))
		h := &r.hdrs[i].hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Control = &r.oob[i][0]
		h.SetControllen(len(r.oob[i]))
		h.Flags = 0
	}
	r.poll.start()
	if err := r.rc.Read(r.fn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, r.errno
	}
	got := int(r.cnt)
	for i := 0; i < got; i++ {
		h := &r.hdrs[i]
		sizes[i] = int(h.len)
		srcs[i] = sockaddrAddrPort(&r.names[i])
		segs[i] = groSegment(r.oob[i][:h.hdr.Controllen])
		if h.hdr.Flags&unix.MSG_TRUNC != 0 {
			sizes[i] = 0 // longer than any buffer: dropped as malformed
		}
	}
	return got, nil
}

// sockaddrAddrPort decodes the sender the kernel wrote into sa.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), htons(sa4.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), htons(sa.Port))
	}
	return netip.AddrPort{}
}

// groSegment returns the segment size a UDP_GRO control message carries,
// or 0.
func groSegment(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&oob[unix.SizeofCmsghdr])))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.SizeofCmsghdr), len(oob)):]
	}
	return 0
}
