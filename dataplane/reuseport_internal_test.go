package dataplane

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestSteerBySourcePort: with several receiving sockets, a datagram goes to
// socket number (source port + a hash of the source address) mod sockets,
// over IPv4 from two addresses and over IPv6, and every datagram arrives
// once; an IPv6 datagram with an extension header, whose port the program
// cannot find, is left to the kernel's hash, which spreads them.
func TestSteerBySourcePort(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
		senders       []string
		hopByHop      bool
	}{
		{"udp4", "127.0.0.1", []string{"127.0.0.1", "127.0.0.2"}, false},
		{"udp6", "::1", []string{"::1"}, false},
		{"udp6", "::1", []string{"::1"}, true},
	} {
		name := tc.network
		if tc.hopByHop {
			name += " hop-by-hop"
		}
		t.Run(name, func(t *testing.T) {
			local := netip.MustParseAddr(tc.addr)
			probe, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
			if err != nil {
				t.Skipf("no %s on loopback: %v", tc.addr, err)
			}
			port := uint16(probe.LocalAddr().(*net.UDPAddr).Port)
			probe.Close()
			const socks = 4
			conn, err := ListenUDPOffload(local, port, UDPOffload{Sockets: socks})
			if err != nil {
				if strings.Contains(err.Error(), "CAP_NET_RAW") {
					t.Skip("needs CAP_NET_RAW for the raw sending socket")
				}
				t.Fatal(err)
			}
			defer conn.Close()
			c := conn.(*udpConn)
			if len(c.refused) != 0 {
				t.Fatalf("refused: %v, want nothing", c.refused)
			}
			dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, port))
			want := map[netip.AddrPort]int{} // sender -> socket
			for _, from := range tc.senders {
				src := netip.MustParseAddr(from)
				s16 := src.As16()
				low := uint32(s16[12])<<24 | uint32(s16[13])<<16 | uint32(s16[14])<<8 | uint32(s16[15])
				mix := low * addrMix >> 16
				for range 16 {
					s, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					if tc.hopByHop {
						// A Hop-by-Hop header of 8 bytes: next header, length
						// 0, and a PadN option of 4 bytes of padding.
						hbh := string([]byte{0, 0, 1, 4, 0, 0, 0, 0})
						rc, _ := s.SyscallConn()
						var serr error
						if err := rc.Control(func(fd uintptr) {
							serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IPV6, unix.IPV6_HOPOPTS, hbh)
						}); err != nil || serr != nil {
							t.Fatalf("IPV6_HOPOPTS: %v %v", err, serr)
						}
					}
					from := s.LocalAddr().(*net.UDPAddr).AddrPort()
					want[netip.AddrPortFrom(src, from.Port())] = int((uint32(from.Port()) + mix) % socks)
					if _, err := s.WriteToUDP([]byte("steer"), dst); err != nil {
						t.Fatal(err)
					}
				}
			}
			rxs := []*net.UDPConn{c.rx}
			for _, r := range c.more {
				rxs = append(rxs, r.rx)
			}
			got := map[netip.AddrPort]int{}
			used := map[int]bool{}
			buf := make([]byte, 64)
			for i, rx := range rxs {
				for {
					if err := rx.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
						t.Fatal(err)
					}
					_, from, err := rx.ReadFromUDPAddrPort(buf)
					if err != nil {
						break
					}
					from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
					if prev, dup := got[from]; dup {
						t.Errorf("%v: on socket %d and again on %d", from, prev, i)
					}
					got[from] = i
					used[i] = true
				}
			}
			for from, w := range want {
				g, ok := got[from]
				switch {
				case !ok:
					t.Errorf("%v: nothing arrived", from)
				case !tc.hopByHop && g != w:
					t.Errorf("%v: on socket %d, want %d ((port + hash of the address) mod %d)", from, g, w, socks)
				}
			}
			if tc.hopByHop && len(used) < 2 {
				t.Errorf("16 senders with a Hop-by-Hop header landed on %d socket(s), want the kernel's hash to spread them", len(used))
			}
		})
	}
}

// TestGSOPoolPorts: the GSO sockets take consecutive ports, the first
// free block of the range, and a range too small for a block takes what
// it has.
func TestGSOPoolPorts(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	// Ports above the kernel's ephemeral range, so that no other socket
	// of this test's takes one meanwhile.
	const lo = 61100
	taken, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: lo + 3})
	if err != nil {
		t.Skipf("port %d: %v", lo+3, err)
	}
	defer taken.Close()
	consecutive := func(first uint16) []uint16 {
		var ports []uint16
		for i := range gsoSockets {
			ports = append(ports, first+uint16(i))
		}
		return ports
	}
	for _, tc := range []struct {
		name   string
		lo, hi uint16
		want   []uint16
	}{
		{"first block free", lo + 8, lo + 63, consecutive(lo + 8)},
		{"a port of the first block taken", lo, lo + 63, consecutive(lo + gsoSockets)},
		{"range smaller than a block", lo + 16, lo + 20, []uint16{lo + 16, lo + 17, lo + 18, lo + 19, lo + 20}},
		{"no whole block free", lo, lo + 9, []uint16{lo, lo + 1, lo + 2, lo + 4, lo + 5, lo + 6, lo + 7, lo + 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := openGSOPool(local, 4789, UDPOffload{GSO: true, SrcPortMin: tc.lo, SrcPortMax: tc.hi})
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			if !slices.Equal(p.ports, tc.want) || len(p.fds) != len(tc.want) {
				t.Errorf("ports %v (%d sockets), want %v", p.ports, len(p.fds), tc.want)
			}
		})
	}
}
