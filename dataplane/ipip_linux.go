package dataplane

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/encap"
)

// ipipConn receives IPIP packets on a raw IPv4 socket of protocol 4 bound to
// the local address (the kernel delivers each whole, outer header first, and
// needs no ipip driver for it) and sends outer packets it is given whole on
// a raw IPPROTO_RAW socket.
type ipipConn struct {
	rx    *os.File // non-blocking, so reads park in the runtime poller
	rxr   *mmsgReader
	segs  [connBatch]int
	txfd  int
	local netip.Addr
}

// ListenIPIP opens the IPIP underlay sockets for local.
func ListenIPIP(local netip.Addr) (Conn, error) {
	if !local.Is4() {
		return nil, fmt.Errorf("ipip: local %s: want an IPv4 address", local)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, encap.ProtocolIPIP)
	if err != nil {
		return nil, fmt.Errorf("open raw IPv4 socket for protocol 4 (needs CAP_NET_RAW): %w", err)
	}
	sa := &unix.SockaddrInet4{Addr: local.As4()}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind raw IPIP socket to %s: %w", local, err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
	}
	txfd, err := openRawSender(unix.AF_INET)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &ipipConn{rx: os.NewFile(uintptr(fd), "ipip"), txfd: txfd, local: local}
	if c.rxr, err = newMmsgReader(c.rx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

var _ Conn = (*ipipConn)(nil)

func (c *ipipConn) LocalAddr() netip.AddrPort { return netip.AddrPortFrom(c.local, 0) }

// ReadBatch returns whole outer IPv4 packets, a batch per recvmmsg(2); the
// sender is in their header.
func (c *ipipConn) ReadBatch(bufs [][]byte, sizes []int, srcs []netip.AddrPort) (int, error) {
	n, err := c.rxr.read(bufs, sizes, srcs, c.segs[:])
	for i := 0; i < n; i++ {
		srcs[i] = netip.AddrPort{}
		if sizes[i] >= encap.IPv4MinHeaderLen {
			srcs[i] = netip.AddrPortFrom(encap.IPv4(bufs[i]).Src(), 0)
		}
	}
	return n, err
}

func (c *ipipConn) WriteBatch(pkts [][]byte) (int, error) { return sendRaw(c.txfd, pkts) }

func (c *ipipConn) Close() error {
	err := c.rx.Close()
	if cerr := unix.Close(c.txfd); err == nil {
		err = cerr
	}
	return err
}
