//go:build linux

package main

// End-to-end tests of IPIP networks (RFC 2003): vtepd --mode ipip in network
// namespaces, its TUN device carrying IPv4 packets to a peer vtepd inside an
// outer IPv4 header of protocol 4. This kernel has no ipip driver, so the
// peer is always another vtepd. The checks are a user's: ping, a TCP
// transfer whose bytes are verified, `vtepctl route`, `vtepctl stats
// --json`, the frames on the underlay decoded by gopacket, and the ICMP
// errors the sender gets back. They need root and skip without it; select
// them with -run E2EIPIP.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

const (
	ipipDev        = "ipip0"
	ipipUnderStats = "ipip-underlay" // the stats entry of drops before a network is known

	// ipv4HeaderLen is the outer header IPIP adds: RFC 2003 section 3, an
	// IPv4 header without options.
	ipv4HeaderLen = 20
	// icmpEchoData is the data ping(8), and netnstest's Ping, put in each
	// echo request.
	icmpEchoData = 56
)

// ipipHosts joins namespaces a and b with a veth, underlay 10.0.0.1 and
// 10.0.0.2, and gives them the overlay addresses overA and overB.
func ipipHosts(t *testing.T, overA, overB string) (a, b *host) {
	t.Helper()
	nsA, nsB := netnstest.NewNS(t, "ipa"), netnstest.NewNS(t, "ipb")
	netnstest.Veth(t, nsA, "eth0", "10.0.0.1/24", nsB, "eth0", "10.0.0.2/24")
	return newHost(t, nsA, "10.0.0.1", overA), newHost(t, nsB, "10.0.0.2", overB)
}

// startIPIP runs `vtepd --mode ipip` on h with h.over/24 on ipip0 and the
// extra flags given (--route, --remote, --mtu, --ttl), and waits until the
// device is up with its address and the control socket answers.
func startIPIP(t *testing.T, bin binaries, h *host, flags ...string) {
	t.Helper()
	args := append([]string{bin.vtepd, "--mode", "ipip", "--local", h.under, "--name", ipipDev,
		"--addr", h.over + "/24", "--control", h.control, "--log-level", "debug"}, flags...)
	h.run(t, bin, ipipDev, args)
}

// pingNone pings dst from ns and fails if any request is answered.
func pingNone(t *testing.T, ns *netnstest.NS, dst string, count int, why string) {
	t.Helper()
	if st := ns.Ping(t, dst, count, 50*time.Millisecond); st.Received != 0 {
		t.Errorf("ping %s from %s %s: got %d of %d replies, want none\n%v", dst, ns.Name, why, st.Received, count, st)
	}
}

// routeLines returns the lines of `vtepctl route show` on h, trimmed.
func routeLines(t *testing.T, bin binaries, h *host) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(h.ctl(t, bin, "route", "show"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// TestE2EIPIPTwoHosts runs vtepd at both ends of a veth, once with a route
// to each other's /24 and once as a point-to-point tunnel (--remote) in one
// shared /24: ping both ways, the device MTU, a checked 16 MiB TCP transfer
// and the receiver's counters.
func TestE2EIPIPTwoHosts(t *testing.T) {
	bin := buildBinaries(t)
	for _, tc := range []struct {
		name         string
		overA, overB string
		flagsA       []string
		flagsB       []string
		seed         int
	}{
		{
			name:  "routes",
			overA: "10.244.0.1", overB: "10.244.1.1",
			flagsA: []string{"--route", "10.244.1.0/24=10.0.0.2"},
			flagsB: []string{"--route", "10.244.0.0/24=10.0.0.1"},
			seed:   11,
		},
		{
			name:  "point-to-point",
			overA: "10.244.0.1", overB: "10.244.0.2",
			flagsA: []string{"--remote", "10.0.0.2"},
			flagsB: []string{"--remote", "10.0.0.1"},
			seed:   12,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := ipipHosts(t, tc.overA, tc.overB)
			startIPIP(t, bin, a, tc.flagsA...)
			startIPIP(t, bin, b, tc.flagsB...)

			if got := showLink(t, a.ns, ipipDev).MTU; got != 1480 {
				t.Errorf("MTU of %s: got %d, want 1480 (underlay 1500 - 20 of the outer IPv4 header)", ipipDev, got)
			}
			pingAll(t, a.ns, b.over, 5)
			pingAll(t, b.ns, a.over, 5)

			before := statsOf(t, bin, b, ipipDev)
			transfer(t, bin, a.ns, b.ns, b.over, tc.seed)
			after := statsOf(t, bin, b, ipipDev)
			if got := after.RxBytes - before.RxBytes; got < xferSize {
				t.Errorf("rx_bytes of %s on %s during the transfer: got %d more, want at least the %d bytes sent", ipipDev, b.under, got, xferSize)
			}
			if got := after.TxPackets - before.TxPackets; got == 0 {
				t.Errorf("tx_packets of %s on %s during the transfer: got no more, want the TCP acks counted", ipipDev, b.under)
			}
		})
	}
}

// TestE2EIPIPThreeHostsRoutes joins three vtepds on one bridged underlay,
// host N owning 10.244.N.0/24 on ipip0. Host 3 starts without a route to
// host 2's block: 2 and 3 cannot reach each other until `vtepctl route add`
// on 3, and cannot again after `vtepctl route del`.
func TestE2EIPIPThreeHostsRoutes(t *testing.T) {
	bin := buildBinaries(t)
	hub := netnstest.NewNS(t, "iphub")
	nss := []*netnstest.NS{netnstest.NewNS(t, "ip1"), netnstest.NewNS(t, "ip2"), netnstest.NewNS(t, "ip3")}
	ports := netnstest.Bridge(t, hub, "br0", netip.MustParsePrefix("10.0.0.0/24"), nss...)
	hosts := make([]*host, len(ports))
	for i, p := range ports {
		hosts[i] = newHost(t, p.Host, p.Addr.Addr().String(), fmt.Sprintf("10.244.%d.1", i+1))
	}
	h1, h2, h3 := hosts[0], hosts[1], hosts[2]
	block := func(h *host) string { return strings.TrimSuffix(h.over, ".1") + ".0/24" }
	route := func(h *host) []string { return []string{"--route", block(h) + "=" + h.under} }

	startIPIP(t, bin, h1, append(route(h2), route(h3)...)...)
	startIPIP(t, bin, h2, append(route(h1), route(h3)...)...)
	startIPIP(t, bin, h3, route(h1)...) // no route to h2's block yet

	show := routeLines(t, bin, h1)
	for _, want := range []string{
		block(h2) + " via " + h2.under + " dev " + ipipDev + " proto static",
		block(h3) + " via " + h3.under + " dev " + ipipDev + " proto static",
	} {
		if !hasLine(show, want) {
			t.Errorf("vtepctl route show on %s: got %q, want a line %q", h1.under, show, want)
		}
	}
	if got := len(show); got != 2 {
		t.Errorf("vtepctl route show on %s: got %d routes %q, want 2", h1.under, got, show)
	}

	for _, p := range [][2]*host{{h1, h2}, {h2, h1}, {h1, h3}, {h3, h1}} {
		pingAll(t, p[0].ns, p[1].over, 3)
	}

	// The route 3 lacks, checked by both directions: 3 has no kernel route
	// to 2's block, and 3's vtepd does not know 2 as a remote.
	pingNone(t, h3.ns, h2.over, 2, "before the route to it was added")
	pingNone(t, h2.ns, h3.over, 2, "before 3 had a route back")

	wantRoute := block(h2) + " via " + h2.under + " dev " + ipipDev + " proto static"
	h3.ctl(t, bin, "route", "add", block(h2), "via", h2.under, "dev", ipipDev)
	if show := routeLines(t, bin, h3); !hasLine(show, wantRoute) {
		t.Errorf("vtepctl route show on %s after route add: got %q, want a line %q", h3.under, show, wantRoute)
	}
	if out := h3.ns.Run(t, "ip", "route", "show", block(h2)); !strings.Contains(out, "dev "+ipipDev) {
		t.Errorf("ip route show %s on %s after route add: got %q, want a route via dev %s", block(h2), h3.under, out, ipipDev)
	}
	pingAll(t, h3.ns, h2.over, 3)
	pingAll(t, h2.ns, h3.over, 3)

	h3.ctl(t, bin, "route", "del", block(h2), "dev", ipipDev)
	if show := routeLines(t, bin, h3); hasLine(show, wantRoute) {
		t.Errorf("vtepctl route show on %s after route del: got %q, want no line %q", h3.under, show, wantRoute)
	}
	if out := strings.TrimSpace(h3.ns.Run(t, "ip", "route", "show", block(h2))); out != "" {
		t.Errorf("ip route show %s on %s after route del: got %q, want no route", block(h2), h3.under, out)
	}
	pingNone(t, h3.ns, h2.over, 2, "after the route to it was deleted")
	unknown := statsOf(t, bin, h3, ipipUnderStats).Drops["unknown_source"]
	pingNone(t, h2.ns, h3.over, 2, "after 3 deleted its route back")
	if got := statsOf(t, bin, h3, ipipUnderStats).Drops["unknown_source"] - unknown; got != 2 {
		t.Errorf("unknown_source drops on %s while %s pinged it twice after route del: got %d more, want 2", h3.under, h2.under, got)
	}
}

// packetSocket is an AF_PACKET socket that sees every frame of one device,
// both directions, as tcpdump would.
type packetSocket struct{ fd int }

// htons puts a 16-bit protocol number in network byte order, as AF_PACKET
// sockets take it.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// capture opens a packetSocket on dev inside ns. It is closed when t ends.
func capture(t *testing.T, ns *netnstest.NS, dev string) *packetSocket {
	t.Helper()
	s := &packetSocket{fd: -1}
	err := ns.Do(t, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("open AF_PACKET socket: %w", err)
		}
		s.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			return fmt.Errorf("bind AF_PACKET socket to %s: %w", dev, err)
		}
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if s.fd >= 0 {
		t.Cleanup(func() { unix.Close(s.fd) })
	}
	if err != nil {
		t.Fatalf("capture on %s in %s: %v", dev, ns.Name, err)
	}
	return s
}

// drain returns the frames queued on s, stopping once none has come for
// the socket's read timeout.
func (s *packetSocket) drain(t *testing.T) [][]byte {
	t.Helper()
	var frames [][]byte
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return frames
		}
		if err != nil {
			t.Fatalf("reading the capture: %v", err)
		}
		frames = append(frames, append([]byte(nil), buf[:n]...))
	}
}

// headerChecksumOK reports whether an IPv4 header's checksum verifies: the
// ones' complement sum of the header, checksum included, is 0xffff (RFC
// 791, "Header Checksum").
func headerChecksumOK(h []byte) bool {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

// TestE2EIPIPWire captures the underlay while the hosts ping each other and
// decodes every frame with gopacket: Ethernet, then IPv4 of protocol 4 from
// one underlay address to the other, then the overlay's IPv4 and the ICMP
// echo, whole.
func TestE2EIPIPWire(t *testing.T) {
	bin := buildBinaries(t)
	const pings = 3
	for _, tc := range []struct {
		name    string
		ttlFlag []string
		ttl     uint8
		df      string // the outer DF: "" as the inner packet's, "set" or "unset"
	}{
		{"default outer ttl 64", nil, 64, ""},
		{"--ttl 9", []string{"--ttl", "9"}, 9, ""},
		{"--df unset", []string{"--df", "unset"}, 64, "unset"},
		{"--df set", []string{"--df", "set"}, 64, "set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := ipipHosts(t, "10.244.0.1", "10.244.1.1")
			startIPIP(t, bin, a, append([]string{"--route", "10.244.1.0/24=10.0.0.2"}, tc.ttlFlag...)...)
			startIPIP(t, bin, b, append([]string{"--route", "10.244.0.0/24=10.0.0.1"}, tc.ttlFlag...)...)

			sock := capture(t, b.ns, "eth0")
			pingAll(t, a.ns, b.over, pings)
			frames := sock.drain(t)

			type dir struct {
				outerSrc, outerDst, innerSrc, innerDst string
				icmp                                   uint8
			}
			request := dir{a.under, b.under, a.over, b.over, layers.ICMPv4TypeEchoRequest}
			reply := dir{b.under, a.under, b.over, a.over, layers.ICMPv4TypeEchoReply}
			seen := map[dir]int{}
			for i, f := range frames {
				p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
				eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
				if eth == nil || eth.EthernetType != layers.EthernetTypeIPv4 {
					continue // ARP resolving the underlay
				}
				var got []gopacket.LayerType
				for _, l := range p.Layers() {
					got = append(got, l.LayerType())
				}
				want := []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv4,
					layers.LayerTypeIPv4, layers.LayerTypeICMPv4, gopacket.LayerTypePayload}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("frame %d decodes as %v, want %v\n%s", i, got, want, p.Dump())
					continue
				}
				ls := p.Layers()
				outer, inner, icmp := ls[1].(*layers.IPv4), ls[2].(*layers.IPv4), ls[3].(*layers.ICMPv4)
				if outer.Protocol != layers.IPProtocolIPv4 {
					t.Errorf("frame %d outer protocol: got %d, want 4 (IP in IP)", i, outer.Protocol)
				}
				if outer.IHL != 5 {
					t.Errorf("frame %d outer header length: got %d words, want 5 (no options)", i, outer.IHL)
				}
				if int(outer.Length) != int(inner.Length)+ipv4HeaderLen {
					t.Errorf("frame %d outer total length: got %d, want inner %d + %d", i, outer.Length, inner.Length, ipv4HeaderLen)
				}
				if inner.Length != ipv4HeaderLen+8+icmpEchoData {
					t.Errorf("frame %d inner total length: got %d, want %d (echo with %d bytes of data)", i, inner.Length, ipv4HeaderLen+8+icmpEchoData, icmpEchoData)
				}
				if outer.TTL != tc.ttl {
					t.Errorf("frame %d outer TTL: got %d, want %d", i, outer.TTL, tc.ttl)
				}
				wantDF := inner.Flags & layers.IPv4DontFragment
				switch tc.df {
				case "set":
					wantDF = layers.IPv4DontFragment
				case "unset":
					wantDF = 0
				}
				if got := outer.Flags & layers.IPv4DontFragment; got != wantDF {
					t.Errorf("frame %d outer DF: got flags %v, want DF %v (inner %v, --df %q; RFC 2003 section 3.1)", i, outer.Flags, wantDF, inner.Flags, tc.df)
				}
				if !headerChecksumOK(outer.Contents) {
					t.Errorf("frame %d outer header checksum %#04x: does not verify", i, outer.Checksum)
				}
				d := dir{outer.SrcIP.String(), outer.DstIP.String(), inner.SrcIP.String(), inner.DstIP.String(), icmp.TypeCode.Type()}
				if d != request && d != reply {
					t.Errorf("frame %d: got outer %s > %s, inner %s > %s, ICMP type %d; want %+v or %+v", i,
						d.outerSrc, d.outerDst, d.innerSrc, d.innerDst, d.icmp, request, reply)
					continue
				}
				if icmp.TypeCode.Code() != 0 || len(icmp.Payload) != icmpEchoData {
					t.Errorf("frame %d ICMP: got code %d with %d bytes of data, want code 0 with %d", i, icmp.TypeCode.Code(), len(icmp.Payload), icmpEchoData)
				}
				seen[d]++
			}
			if seen[request] != pings || seen[reply] != pings {
				t.Errorf("captured on %s's eth0: got %d echo requests and %d replies in IPIP, want %d each (%d frames in all)",
					b.under, seen[request], seen[reply], pings, len(frames))
			}
		})
	}
}

// rawIPIP sends hand-built IPIP packets from inside ns on an IPPROTO_RAW
// socket: outer src > dst, protocol 4, around an ICMP echo request from
// innerSrc to innerDst with identifier id and sequence numbers 0..count-1.
func rawIPIP(t *testing.T, ns *netnstest.NS, src, dst, innerSrc, innerDst string, id uint16, count int) {
	t.Helper()
	var fd int
	if err := ns.Do(t, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	}); err != nil {
		t.Fatalf("open IPPROTO_RAW socket in %s: %v", ns.Name, err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet4{Addr: netip.MustParseAddr(dst).As4()}
	for seq := range count {
		outer := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolIPv4,
			SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
		inner := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4,
			SrcIP: net.ParseIP(innerSrc).To4(), DstIP: net.ParseIP(innerDst).To4()}
		echo := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0),
			Id: id, Seq: uint16(seq)}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		data := gopacket.Payload(make([]byte, icmpEchoData))
		if err := gopacket.SerializeLayers(buf, opts, outer, inner, echo, data); err != nil {
			t.Fatalf("building the IPIP packet: %v", err)
		}
		if err := unix.Sendto(fd, buf.Bytes(), 0, to); err != nil {
			t.Fatalf("send the IPIP packet %s > %s from %s: %v", src, dst, ns.Name, err)
		}
	}
}

// echoListener is a raw ICMP socket in a namespace that counts echo
// replies carrying one identifier.
type echoListener struct{ fd int }

func listenEchoReplies(t *testing.T, ns *netnstest.NS) *echoListener {
	t.Helper()
	l := &echoListener{fd: -1}
	err := ns.Do(t, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		l.fd = fd
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if l.fd >= 0 {
		t.Cleanup(func() { unix.Close(l.fd) })
	}
	if err != nil {
		t.Fatalf("open ICMP socket in %s: %v", ns.Name, err)
	}
	return l
}

// replies reads until the socket has been quiet for its timeout, at least
// for wait, and returns how many echo replies with identifier id came.
func (l *echoListener) replies(t *testing.T, id uint16, wait time.Duration) int {
	t.Helper()
	n := 0
	buf := make([]byte, 65536)
	deadline := time.Now().Add(wait)
	for {
		m, _, err := unix.Recvfrom(l.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			if time.Now().After(deadline) {
				return n
			}
			continue
		}
		if err != nil {
			t.Fatalf("reading ICMP: %v", err)
		}
		p := gopacket.NewPacket(buf[:m], layers.LayerTypeIPv4, gopacket.Default)
		if icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok &&
			icmp.TypeCode.Type() == layers.ICMPv4TypeEchoReply && icmp.Id == id {
			n++
		}
	}
}

// TestE2EIPIPUnknownSource sends hand-built IPIP packets to host A, whose
// only remote is 10.0.0.2, once from 10.0.0.2 and once from 10.0.0.3 (a
// second address of the same peer). Both carry an echo request from the
// peer's overlay address to A's: from the known remote it is delivered and
// answered through the tunnel; from the other it is dropped as
// unknown_source and nothing reaches A's ipip0.
func TestE2EIPIPUnknownSource(t *testing.T) {
	bin := buildBinaries(t)
	a, b := ipipHosts(t, "10.244.0.1", "10.244.1.1")
	b.ns.Run(t, "ip", "addr", "add", "10.0.0.3/24", "dev", "eth0")
	startIPIP(t, bin, a, "--route", "10.244.1.0/24=10.0.0.2")
	startIPIP(t, bin, b, "--route", "10.244.0.0/24=10.0.0.1")
	const sent = 5
	for i, tc := range []struct {
		name      string
		src       string
		delivered bool
	}{
		{"from the known remote", b.under, true},
		{"from an unknown source", "10.0.0.3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := uint16(0x4950 + i) // "IP" and the case
			listener := listenEchoReplies(t, b.ns)
			underBefore := statsOf(t, bin, a, ipipUnderStats).Drops["unknown_source"]
			netBefore := statsOf(t, bin, a, ipipDev).RxPackets
			devBefore := showLink(t, a.ns, ipipDev).Stats64.RX.Packets

			rawIPIP(t, b.ns, tc.src, a.under, b.over, a.over, id, sent)
			replies := listener.replies(t, id, time.Second)

			wantDelivered, wantDropped := uint64(0), uint64(sent)
			if tc.delivered {
				wantDelivered, wantDropped = sent, 0
			}
			if got := statsOf(t, bin, a, ipipUnderStats).Drops["unknown_source"] - underBefore; got != wantDropped {
				t.Errorf("unknown_source drops of %s on %s: got %d more, want %d", ipipUnderStats, a.under, got, wantDropped)
			}
			if got := statsOf(t, bin, a, ipipDev).RxPackets - netBefore; got != wantDelivered {
				t.Errorf("rx_packets of %s on %s: got %d more, want %d", ipipDev, a.under, got, wantDelivered)
			}
			if got := showLink(t, a.ns, ipipDev).Stats64.RX.Packets - devBefore; got != wantDelivered {
				t.Errorf("packets the kernel received on %s on %s: got %d more, want %d", ipipDev, a.under, got, wantDelivered)
			}
			if uint64(replies) != wantDelivered {
				t.Errorf("echo replies from %s back at %s through the tunnel: got %d, want %d", a.over, b.over, replies, wantDelivered)
			}
		})
	}
}

// probeDF sends one ICMP echo request of total IPv4 length size with DF set
// from inside ns to dst, and returns the first ICMP message that comes back
// for it (an echo reply with identifier id, or an error quoting a packet to
// dst), decoded as IPv4 + ICMPv4; nil if none came within wait.
func probeDF(t *testing.T, ns *netnstest.NS, dst string, size int, id uint16, wait time.Duration) (*layers.IPv4, *layers.ICMPv4) {
	t.Helper()
	fd := -1
	err := ns.Do(t, func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP); err != nil {
			return err
		}
		// DF on, and sent even when the kernel has learnt a smaller path
		// MTU: the probe is about what the tunnel answers.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if fd >= 0 {
		defer unix.Close(fd)
	}
	if err != nil {
		t.Fatalf("open ICMP socket in %s: %v", ns.Name, err)
	}

	echo := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: 1}
	buf := gopacket.NewSerializeBuffer()
	data := gopacket.Payload(make([]byte, size-ipv4HeaderLen-8))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, echo, data); err != nil {
		t.Fatalf("building the echo request: %v", err)
	}
	dstAddr := netip.MustParseAddr(dst)
	if err := unix.Sendto(fd, buf.Bytes(), 0, &unix.SockaddrInet4{Addr: dstAddr.As4()}); err != nil {
		t.Fatalf("send a %d-byte DF echo request to %s from %s: %v", size, dst, ns.Name, err)
	}

	in := make([]byte, 65536)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, in, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("reading ICMP in %s: %v", ns.Name, err)
		}
		p := gopacket.NewPacket(append([]byte(nil), in[:n]...), layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ip == nil || icmp == nil {
			continue
		}
		switch icmp.TypeCode.Type() {
		case layers.ICMPv4TypeEchoReply:
			if icmp.Id == id {
				return ip, icmp
			}
		case layers.ICMPv4TypeDestinationUnreachable:
			// The quoted header (RFC 792) names the packet it is about.
			if q := icmp.Payload; len(q) >= ipv4HeaderLen && netip.AddrFrom4([4]byte(q[16:20])) == dstAddr {
				return ip, icmp
			}
		}
	}
	return nil, nil
}

// fragNeededOn returns the ICMP "fragmentation needed" messages among
// packets captured on a TUN device (raw IPv4, no link header), decoded.
func fragNeededOn(frames [][]byte) (ips []*layers.IPv4, msgs []*layers.ICMPv4) {
	want := layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded)
	for _, f := range frames {
		p := gopacket.NewPacket(f, layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ip != nil && icmp != nil && icmp.TypeCode == want {
			ips, msgs = append(ips, ip), append(msgs, icmp)
		}
	}
	return ips, msgs
}

// TestE2EIPIPFragNeeded gives host A's ipip0 the underlay's own MTU, 1500,
// so the kernel hands vtepd packets that do not fit in 1500 bytes once
// encapsulated. The largest that fits, 1480 bytes, crosses and is answered.
// A 1500-byte one with DF set is not sent but counted as too_big and
// answered, as a router would (RFC 1191 section 4), with ICMP type 3 code 4
// and next-hop MTU 1480: the message vtepd writes into ipip0 is checked as
// captured there, then that the sender got it and the kernel took 1480 as
// the path MTU.
func TestE2EIPIPFragNeeded(t *testing.T) {
	bin := buildBinaries(t)
	a, b := ipipHosts(t, "10.244.0.1", "10.244.1.1")
	startIPIP(t, bin, a, "--route", "10.244.1.0/24=10.0.0.2", "--mtu", "1500")
	startIPIP(t, bin, b, "--route", "10.244.0.0/24=10.0.0.1")
	if got := showLink(t, a.ns, ipipDev).MTU; got != 1500 {
		t.Fatalf("MTU of %s with --mtu 1500: got %d, want 1500", ipipDev, got)
	}
	const pathMTU = 1480 // underlay 1500 - 20 of the outer header

	t.Run("1480 bytes fit", func(t *testing.T) {
		before := statsOf(t, bin, a, ipipDev)
		ip, icmp := probeDF(t, a.ns, b.over, pathMTU, 0x4d54, 2*time.Second) // "MT"
		after := statsOf(t, bin, a, ipipDev)
		if icmp == nil || icmp.TypeCode.Type() != layers.ICMPv4TypeEchoReply || ip.Length != pathMTU {
			t.Errorf("answer to a %d-byte DF echo request to %s: got %v, want an echo reply of %d bytes", pathMTU, b.over, icmp, pathMTU)
		}
		if got := after.TxPackets - before.TxPackets; got != 1 {
			t.Errorf("tx_packets of %s on %s: got %d more, want 1", ipipDev, a.under, got)
		}
		if got := after.Drops["too_big"] - before.Drops["too_big"]; got != 0 {
			t.Errorf("too_big drops of %s on %s: got %d more, want 0", ipipDev, a.under, got)
		}
	})

	t.Run("1500 bytes with DF", func(t *testing.T) {
		const size = 1500
		tun := capture(t, a.ns, ipipDev)
		before := statsOf(t, bin, a, ipipDev)
		ip, icmp := probeDF(t, a.ns, b.over, size, 0x4d55, 2*time.Second)
		after := statsOf(t, bin, a, ipipDev)

		if got := after.Drops["too_big"] - before.Drops["too_big"]; got != 1 {
			t.Errorf("too_big drops of %s on %s: got %d more, want 1", ipipDev, a.under, got)
		}
		if got := after.TxPackets - before.TxPackets; got != 0 {
			t.Errorf("tx_packets of %s on %s: got %d more, want 0 (the packet must not be sent)", ipipDev, a.under, got)
		}

		// What vtepd wrote back into ipip0, before the kernel judged it.
		ips, msgs := fragNeededOn(tun.drain(t))
		if len(msgs) != 1 {
			t.Fatalf("fragmentation-needed messages written into %s on %s: got %d, want 1", ipipDev, a.under, len(msgs))
		}
		// RFC 1191 section 4: the next-hop MTU is the low 16 bits of the
		// word after the checksum, which gopacket reads as Seq.
		if msgs[0].Seq != pathMTU {
			t.Errorf("next-hop MTU in the fragmentation-needed message: got %d, want %d", msgs[0].Seq, pathMTU)
		}
		if got := ips[0].DstIP.String(); got != a.over {
			t.Errorf("destination of the fragmentation-needed message: got %s, want the sender %s", got, a.over)
		}
		// RFC 792: the message quotes the header of the packet it is about.
		if q := msgs[0].Payload; len(q) < ipv4HeaderLen+8 ||
			netip.AddrFrom4([4]byte(q[12:16])).String() != a.over || netip.AddrFrom4([4]byte(q[16:20])).String() != b.over {
			t.Errorf("quoted packet in the fragmentation-needed message: got % x, want an IPv4 header %s > %s and 8 bytes more", q, a.over, b.over)
		}

		// From the tunnel's own address, as a router on the path would
		// send it (the device has accept_local).
		src := ips[0].SrcIP.String()
		if src != a.over {
			t.Errorf("source of the fragmentation-needed message: got %s, want the tunnel's own address %s", src, a.over)
		}
		// What the sender sees.
		if icmp == nil {
			why := ""
			if src == a.over || src == a.under {
				why = fmt.Sprintf(" (its source %s is an address of this host, and the kernel drops a packet that arrives from outside"+
					" with one of its own addresses as source, as a martian source, unless accept_local is set)", src)
			}
			t.Errorf("%d-byte DF echo request to %s from %s: got no ICMP answer at the sender, want fragmentation needed, mtu %d;"+
				" vtepd wrote one into %s from %s%s", size, b.over, a.over, pathMTU, ipipDev, src, why)
		} else {
			want := layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded)
			if icmp.TypeCode != want || icmp.Seq != pathMTU {
				t.Errorf("answer to a %d-byte DF echo request at the sender: got ICMP %v, mtu %d, from %v; want %v, mtu %d",
					size, icmp.TypeCode, icmp.Seq, ip.SrcIP, want, pathMTU)
			}
		}
		// The kernel believed it: the route cache carries the path MTU.
		if out := a.ns.Run(t, "ip", "route", "get", b.over); !strings.Contains(out, fmt.Sprintf("mtu %d", pathMTU)) {
			t.Errorf("ip route get %s on %s: got %q, want the learnt \"mtu %d\"", b.over, a.under, strings.TrimSpace(out), pathMTU)
		}
	})
}
