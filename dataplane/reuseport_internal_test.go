package dataplane

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestProcNetAddr(t *testing.T) {
	for _, tc := range []struct{ ap, want string }{
		{"10.0.0.1:4789", "0100000A:12B5"},
		{"127.0.0.1:53", "0100007F:0035"},
		{"[fd00::1]:4789", "000000FD000000000000000001000000:12B5"},
	} {
		if got := procNetAddr(netip.MustParseAddrPort(tc.ap)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.ap, got, tc.want)
		}
	}
}

// reusePortUDP binds a UDP socket with SO_REUSEPORT, as a stranger joining
// the port would.
func reusePortUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

// TestSoleHolder: vtepd's receiving sockets alone on the port pass; a
// socket of someone else's that joined the port with SO_REUSEPORT, as a
// second vtepd starting at the same moment would, is found and named.
func TestSoleHolder(t *testing.T) {
	first := reusePortUDP(t, "127.0.0.1:0")
	ap := first.LocalAddr().(*net.UDPAddr).AddrPort()
	second := reusePortUDP(t, ap.String())
	if err := soleHolder(ap, []*net.UDPConn{first, second}); err != nil {
		t.Errorf("our two sockets alone: got %v, want no error", err)
	}
	stranger := reusePortUDP(t, ap.String())
	err := soleHolder(ap, []*net.UDPConn{first, second})
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), ap.String()) {
		t.Errorf("with a stranger on the port: got %v, want an error saying %s is already in use", err, ap)
	}
	stranger.Close()
	if err := soleHolder(ap, []*net.UDPConn{first, second}); err != nil {
		t.Errorf("after the stranger left: got %v, want no error", err)
	}
}

// TestListenUDPSockets: several receiving sockets share the port, and the
// port cannot then be taken again, with one socket or several.
func TestListenUDPSockets(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(probe.LocalAddr().(*net.UDPAddr).Port)
	probe.Close()
	c, err := ListenUDPOffload(local, port, UDPOffload{Sockets: 3})
	if err != nil {
		if strings.Contains(err.Error(), "CAP_NET_RAW") {
			t.Skip("needs CAP_NET_RAW for the raw sending socket")
		}
		t.Fatal(err)
	}
	defer c.Close()
	if got := len(receivers(c)); got != 3 {
		t.Errorf("receivers: got %d, want 3", got)
	}
	for _, n := range []int{1, 2} {
		if c2, err := ListenUDPOffload(local, port, UDPOffload{Sockets: n}); err == nil {
			c2.Close()
			t.Errorf("a second listener with %d sockets on the same port: got no error", n)
		} else if !strings.Contains(err.Error(), "already in use") {
			t.Errorf("a second listener with %d sockets: got %v, want already in use", n, err)
		}
	}
}
