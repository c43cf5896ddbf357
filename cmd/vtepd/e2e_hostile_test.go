//go:build linux

package main

// End-to-end tests of hostile traffic: a process in one namespace sends a
// vtepd every kind of broken packet, one kind at a time and then as a flood
// beside a checked TCP transfer. The daemon must stay up, the transfer
// arrive intact, and every packet land in the drop counter of its reason,
// as `vtepctl stats --json` shows; packets the kernel itself refuses must
// never reach vtepd. They need root and skip without it; select them with
// -run Hostile.
//
// Counts are exact unless the kernel reports dropping packets on the way
// (the veth's backlog, the receiving socket's buffer, fragment
// reassembly), which a flood can make it do: vtepd never sees those, so a
// count may then fall short of what was sent by at most what the kernel
// reports dropped, and never exceed it.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

const (
	// ethHeaderLen is an Ethernet header without a tag (IEEE 802.3).
	ethHeaderLen = 14
	// maxInnerFrame is the longest inner frame vtepd delivers to a TAP of
	// MTU 1450: the MTU, the Ethernet header and one 802.1Q tag (4 bytes),
	// as Linux bridges allow.
	maxInnerFrame = 1450 + ethHeaderLen + 4

	// hostileEach is how many packets of each kind the per-kind checks send.
	hostileEach = 16
	// floodMin is the fewest packets a flood sends, however quick the
	// transfer beside it.
	floodMin = 5000
)

// Where a packet sent to vtepd must be counted: "<stats entry>/<drop
// reason>" as `vtepctl stats --json` names them, "kernel/<MIB counter>"
// for what the receiving kernel refuses before vtepd, and delivered for a
// packet vtepd passes on.
const (
	atMalformed     = "underlay/malformed"
	atUnknownVNI    = "underlay/unknown_vni"
	atTooBig        = tapName + "/too_big"
	atIPIPMalformed = ipipUnderStats + "/malformed"
	atIPIPUnknown   = ipipUnderStats + "/unknown_source"
	atInHdrErrors   = "kernel/InHdrErrors"
	atInCsumErrors  = "kernel/InCsumErrors"
	atInTruncated   = "kernel/InTruncatedPkts"
	atDelivered     = "delivered"
)

// counts are counters by the names above.
type counts map[string]uint64

// vtepdDrops returns every drop counter of every entry of `vtepctl stats
// --json` on h.
func vtepdDrops(t *testing.T, bin binaries, h *host) counts {
	t.Helper()
	all, _ := h.allStats(t, bin)
	c := counts{}
	for _, s := range all {
		for reason, n := range s.Drops {
			c[s.Name+"/"+reason] = n
		}
	}
	return c
}

// mib returns the counters of one line pair of a MIB file in ns, such as
// "Udp" of /proc/net/snmp or "IpExt" of /proc/net/netstat, by field name.
func mib(t *testing.T, ns *netnstest.NS, file, proto string) map[string]uint64 {
	t.Helper()
	var names []string
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(ns.Run(t, "cat", file)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && i < len(names) && n >= 0 {
				out[names[i]] = uint64(n)
			}
		}
		return out
	}
	t.Fatalf("%s in %s: no %s counters", file, ns.Name, proto)
	return nil
}

// linkDrops is what the kernel counts as dropped on dev in ns, both ways.
func linkDrops(t *testing.T, ns *netnstest.NS, dev string) uint64 {
	t.Helper()
	var links []struct {
		Stats64 struct {
			RX struct {
				Dropped uint64 `json:"dropped"`
			} `json:"rx"`
			TX struct {
				Dropped uint64 `json:"dropped"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	out := ns.Run(t, "ip", "-j", "-s", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j -s link show dev %s in %s: got %q (%v), want one device", dev, ns.Name, out, err)
	}
	return links[0].Stats64.RX.Dropped + links[0].Stats64.TX.Dropped
}

// rawSocketDrops sums the drops column of /proc/net/raw in ns: datagrams a
// raw socket's full buffer refused.
func rawSocketDrops(t *testing.T, ns *netnstest.NS) uint64 {
	t.Helper()
	var sum uint64
	for i, line := range strings.Split(strings.TrimSpace(ns.Run(t, "cat", "/proc/net/raw")), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // the header
		}
		n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("/proc/net/raw in %s: drops column of %q: %v", ns.Name, line, err)
		}
		sum += n
	}
	return sum
}

// kernelLoss is what the kernels on the way from a to b report dropping:
// the veth's ends, b's IP reassembly, and b's UDP or raw sockets.
func kernelLoss(t *testing.T, a, b *host) uint64 {
	t.Helper()
	return linkDrops(t, a.ns, "eth0") + linkDrops(t, b.ns, "eth0") +
		mib(t, b.ns, "/proc/net/snmp", "Ip")["ReasmFails"] + mib(t, b.ns, "/proc/net/snmp", "Udp")["InErrors"] +
		rawSocketDrops(t, b.ns)
}

// frameCounter counts the frames a socket receives that match.
type frameCounter struct {
	fd    int
	match func([]byte) bool
	n     uint64
	buf   []byte
}

// count reads what is queued on the socket, without waiting, and returns
// the matching frames seen so far.
func (c *frameCounter) count(t *testing.T) uint64 {
	t.Helper()
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return c.n
		case err != nil:
			t.Fatalf("reading the frame counter's socket: %v", err)
		}
		if c.match(c.buf[:n]) {
			c.n++
		}
	}
}

// openCounter opens a socket in ns with open, closed when t ends.
func openCounter(t *testing.T, ns *netnstest.NS, what string, open func() (int, error), match func([]byte) bool) *frameCounter {
	t.Helper()
	c := &frameCounter{fd: -1, match: match, buf: make([]byte, 65536)}
	err := ns.Do(t, func() (err error) {
		c.fd, err = open()
		return err
	})
	if c.fd >= 0 {
		t.Cleanup(func() { unix.Close(c.fd) })
	}
	if err != nil {
		t.Fatalf("%s in %s: %v", what, ns.Name, err)
	}
	return c
}

// hostileKind is one kind of packet sent to vtepd and where each must be
// counted.
type hostileKind struct {
	name string
	// packet builds the i-th packet of the kind.
	packet func(i int) []byte
	// at is where every packet of the kind is counted; empty means each
	// is judged on its own by the test's verdict function.
	at []string
}

// sendKinds sends hostileEach packets of each kind through send, one kind
// after another, and checks after each that exactly its packets moved the
// counters of the kind, and no other counter moved: snap takes every
// counter, loss what the kernel reports dropped (see the file comment).
func sendKinds(t *testing.T, kinds []hostileKind, verdict func([]byte) []string, send func([]byte) error,
	snap func() counts, loss func() uint64) {
	t.Helper()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			want := counts{}
			before, lost := snap(), loss()
			for i := range hostileEach {
				p := k.packet(i)
				at := k.at
				if at == nil {
					at = verdict(p)
				}
				for _, c := range at {
					want[c]++
				}
				if err := send(p); err != nil {
					t.Fatalf("sending packet %d: %v", i, err)
				}
			}
			after := settle(t, want, before, snap, func() uint64 { return loss() - lost })
			checkCounts(t, k.name, before, after, want, loss()-lost)
		})
	}
}

// settle waits until the counters of want have moved as far as want says,
// less what the kernel reports dropped, and returns the counters then.
func settle(t *testing.T, want, before counts, snap func() counts, lost func() uint64) counts {
	t.Helper()
	var total uint64
	for _, n := range want {
		total += n
	}
	var after counts
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = snap()
		var got uint64
		for c := range want {
			got += after[c] - before[c]
		}
		if got+lost() >= total || time.Now().After(deadline) {
			return after
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkCounts fails t for every counter that moved otherwise than want
// says: more than want, or less by more than slack.
func checkCounts(t *testing.T, what string, before, after, want counts, slack uint64) {
	t.Helper()
	keys := map[string]bool{}
	for _, m := range []counts{before, after, want} {
		for k := range m {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		got, w := after[k]-before[k], want[k]
		if got > w || got+slack < w {
			if slack == 0 {
				t.Errorf("%s: counter %s: got %d more, want %d", what, k, got, w)
			} else {
				t.Errorf("%s: counter %s: got %d more, want %d, or down to %d for the %d packets the kernel reports dropping",
					what, k, got, w, w-min(w, slack), slack)
			}
		}
	}
}

// flood sends the packets of pool, round and round, in bursts, until stop
// is closed and at least floodMin have gone. It returns how many went to
// each counter, by the pool's verdicts.
type flood struct {
	stop chan struct{}
	done chan error
	sent counts
	n    atomic.Int64
}

func startFlood(pool [][]byte, verdicts [][]string, send func([]byte) error) *flood {
	f := &flood{stop: make(chan struct{}), done: make(chan error, 1), sent: counts{}}
	go func() {
		var err error
		defer func() { f.done <- err }()
		for i := 0; ; i++ {
			if i%100 == 0 {
				select {
				case <-f.stop:
					if i >= floodMin {
						return
					}
				default:
				}
				// Bursts of a hundred, a short pause between them: a flood
				// the transfer has to share the path with, not one that
				// stops it.
				time.Sleep(time.Millisecond)
			}
			p := i % len(pool)
			if err = send(pool[p]); err != nil {
				err = fmt.Errorf("flood packet %d: %w", i, err)
				return
			}
			for _, c := range verdicts[p] {
				f.sent[c]++
			}
			f.n.Add(1)
		}
	}()
	return f
}

// halt stops the flood and returns what it sent, by counter.
func (f *flood) halt(t *testing.T) counts {
	t.Helper()
	close(f.stop)
	if err := <-f.done; err != nil {
		t.Fatal(err)
	}
	return f.sent
}

// vxlanPacket is a VXLAN header (RFC 7348 section 5) with flags and vni,
// its reserved bytes set to reserved, around inner.
func vxlanPacket(flags uint8, vni uint32, reserved byte, inner []byte) []byte {
	p := make([]byte, vxlanHeaderLen, vxlanHeaderLen+len(inner))
	p[0], p[1], p[2], p[3] = flags, reserved, reserved, reserved
	binary.BigEndian.PutUint32(p[4:], vni<<8|uint32(reserved))
	return append(p, inner...)
}

// probeFrame is a broadcast Ethernet frame of size bytes with the local
// experimental EtherType, which no stack interprets: what a capture on
// that EtherType counts as delivered.
func probeFrame(size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0x0b, 0xad}) // locally administered
	binary.BigEndian.PutUint16(f[12:], etherTypeExperimental)
	return f
}

// vxlanVerdict says where vtepd must count a datagram sent to its VXLAN
// port on a host that serves VNI 42 on a TAP of MTU 1450. RFC 7348 section
// 5: the I flag must be set, the reserved bits are ignored; an inner frame
// is at least an Ethernet header long, and at most maxInnerFrame.
func vxlanVerdict(p []byte) []string {
	switch {
	case len(p) < vxlanHeaderLen || p[0]&vxlanFlagI == 0 || len(p)-vxlanHeaderLen < ethHeaderLen:
		return []string{atMalformed}
	case binary.BigEndian.Uint32(p[4:])>>8 != 42:
		return []string{atUnknownVNI}
	case len(p)-vxlanHeaderLen > maxInnerFrame:
		return []string{atTooBig}
	}
	return []string{atDelivered}
}

// randomVXLAN is n random datagrams of up to 200 bytes, none of which
// vtepd would deliver: random bytes that happen to make a valid VXLAN
// packet of VNI 42 are drawn again, so no random frame reaches the TAP.
func randomVXLAN(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x6e7))
	out := make([][]byte, 0, n)
	for len(out) < n {
		p := make([]byte, r.IntN(201))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if vxlanVerdict(p)[0] != atDelivered {
			out = append(out, p)
		}
	}
	return out
}

// TestE2EHostileVXLAN sends vtepd on b, from a's namespace, datagrams of
// every broken kind on its VXLAN port: each kind alone, exactly counted,
// then thousands of them mixed while a checked 16 MiB transfer crosses
// the tunnel.
func TestE2EHostileVXLAN(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 3)

	var conn *net.UDPConn
	err := a.ns.Do(t, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(b.under), vxlanPort)))
		return err
	})
	if err != nil {
		t.Fatalf("UDP socket to %s:%d in %s: %v", b.under, vxlanPort, a.ns.Name, err)
	}
	defer conn.Close()
	send := func(p []byte) error { _, err := conn.Write(p); return err }

	// What vtepd delivers of the probe frames, as b's kernel gets them.
	tap := openCounter(t, b.ns, "capture on "+tapName, func() (int, error) {
		ifi, err := net.InterfaceByName(tapName)
		if err != nil {
			return -1, err
		}
		proto := htons(etherTypeExperimental)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return -1, err
		}
		return fd, unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
	}, func([]byte) bool { return true })
	snap := func() counts {
		c := vtepdDrops(t, bin, b)
		c[atDelivered] = tap.count(t)
		return c
	}
	loss := func() uint64 { return kernelLoss(t, a, b) }

	frame := probeFrame(minFrameLen)
	random := randomVXLAN(1, hostileEach)
	kinds := []hostileKind{
		{"empty datagram", func(int) []byte { return nil }, []string{atMalformed}},
		{"shorter than the VXLAN header", func(i int) []byte { return make([]byte, 1+i%(vxlanHeaderLen-1)) }, []string{atMalformed}},
		{"I flag clear", func(int) []byte { return vxlanPacket(0, 42, 0, frame) }, []string{atMalformed}},
		{"only reserved flags set", func(int) []byte { return vxlanPacket(^uint8(vxlanFlagI), 42, 0, frame) }, []string{atMalformed}},
		// RFC 7348 section 5: reserved fields are ignored on receipt.
		{"reserved bits set, I flag set", func(int) []byte { return vxlanPacket(0xff, 42, 0xff, frame) }, []string{atDelivered}},
		{"unknown VNI", func(int) []byte { return vxlanPacket(vxlanFlagI, 43, 0, frame) }, []string{atUnknownVNI}},
		{"the largest VNI", func(int) []byte { return vxlanPacket(vxlanFlagI, 1<<24-1, 0, frame) }, []string{atUnknownVNI}},
		{"inner frame shorter than an Ethernet header", func(i int) []byte {
			return vxlanPacket(vxlanFlagI, 42, 0, frame[:i%ethHeaderLen])
		}, []string{atMalformed}},
		{"inner frame as long as the MTU allows", func(int) []byte {
			return vxlanPacket(vxlanFlagI, 42, 0, probeFrame(maxInnerFrame))
		}, []string{atDelivered}},
		{"inner frame one byte over the MTU", func(int) []byte {
			return vxlanPacket(vxlanFlagI, 42, 0, probeFrame(maxInnerFrame+1))
		}, []string{atTooBig}},
		{"inner jumbo frame, fragmented on the underlay", func(int) []byte {
			return vxlanPacket(vxlanFlagI, 42, 0, probeFrame(9000))
		}, []string{atTooBig}},
		{"random bytes", func(i int) []byte { return random[i] }, nil},
	}
	sendKinds(t, kinds, vxlanVerdict, send, snap, loss)

	t.Run("a flood beside a transfer", func(t *testing.T) {
		// Every broken kind mixed, none that vtepd delivers: the capture
		// would not keep up with a flood of those.
		var pool [][]byte
		for _, k := range kinds {
			if len(k.at) == 1 && k.at[0] == atDelivered {
				continue
			}
			for i := range 4 {
				pool = append(pool, k.packet(i))
			}
		}
		pool = append(pool, randomVXLAN(2, 200)...)
		verdicts := make([][]string, len(pool))
		for i, p := range pool {
			verdicts[i] = vxlanVerdict(p)
		}
		before, lost := snap(), loss()
		f := startFlood(pool, verdicts, send)
		transfer(t, bin, a.ns, b.ns, b.over, 21)
		sent := f.halt(t)
		after := settle(t, sent, before, snap, func() uint64 { return loss() - lost })
		slack := loss() - lost
		t.Logf("flood: %d packets beside the transfer, by counter %v; the kernel reports %d dropped", f.n.Load(), sent, slack)
		checkCounts(t, "flood", before, after, sent, slack)
		running(t, b, "after the flood")
		pingAll(t, a.ns, b.over, 3)
	})
}

// ipv4Header is a 20-byte IPv4 header, protocol proto, from src to dst,
// for payloadLen bytes of payload, with its checksum (RFC 791).
func ipv4Header(src, dst string, proto byte, payloadLen int) []byte {
	h := make([]byte, ipv4HeaderLen)
	h[0] = 4<<4 | ipv4HeaderLen/4
	binary.BigEndian.PutUint16(h[2:], uint16(ipv4HeaderLen+payloadLen))
	h[8], h[9] = 64, proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	setIPv4Checksum(h)
	return h
}

// setIPv4Checksum writes the checksum of the header h, whose length is
// its IHL or, for an IHL below 5, all of h (RFC 791, "Header Checksum").
func setIPv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ^onesSum(h[:max(int(h[0]&0x0f)*4, ipv4HeaderLen)]))
}

// onesSum is the 16-bit ones' complement sum of b (RFC 1071).
func onesSum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// echoRequest is an IPv4 ICMP echo request (RFC 792) from src to dst with
// identifier id and sequence number seq, and ping's 56 bytes of data.
func echoRequest(src, dst string, id, seq uint16) []byte {
	icmp := make([]byte, 8+icmpEchoData)
	icmp[0] = 8 // echo request
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	binary.BigEndian.PutUint16(icmp[2:], ^onesSum(icmp))
	return append(ipv4Header(src, dst, unix.IPPROTO_ICMP, len(icmp)), icmp...)
}

// ipipPacket is an outer IPv4 header of protocol 4 from src to dst around
// inner (RFC 2003 section 3).
func ipipPacket(src, dst string, inner []byte) []byte {
	return append(ipv4Header(src, dst, unix.IPPROTO_IPIP, len(inner)), inner...)
}

// outerFragments cuts the IPv4 packet p (a 20-byte header) in two, the
// first fragment carrying first bytes of its payload (a multiple of 8), both
// with identification id.
func outerFragments(p []byte, id uint16, first int) [][]byte {
	hdr, payload := p[:ipv4HeaderLen], p[ipv4HeaderLen:]
	frag := func(off int, b []byte, more bool) []byte {
		f := append(slices.Clone(hdr), b...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		binary.BigEndian.PutUint16(f[4:], id)
		v := uint16(off / 8)
		if more {
			v |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], v)
		setIPv4Checksum(f)
		return f
	}
	return [][]byte{frag(0, payload[:first], true), frag(first, payload[first:], false)}
}

// modified returns p after f changed a copy of it.
func modified(p []byte, f func(p []byte)) []byte {
	c := slices.Clone(p)
	f(c)
	return c
}

// ipipVerdict says where vtepd on 10.0.0.2 must count an IPIP packet with
// a well-formed outer header: the inner packet must be a whole IPv4 packet
// (RFC 2003 section 3), and the sender a known remote.
func ipipVerdict(p []byte) []string {
	inner := p[ipv4HeaderLen:]
	ihl, tl := 0, 0
	if len(inner) >= ipv4HeaderLen {
		ihl, tl = int(inner[0]&0x0f)*4, int(binary.BigEndian.Uint16(inner[2:]))
	}
	switch {
	case len(inner) < ipv4HeaderLen || inner[0]>>4 != 4 || ihl < ipv4HeaderLen || ihl > len(inner):
		return []string{atIPIPMalformed}
	case tl < ihl || tl > len(inner):
		return []string{atIPIPMalformed}
	case netip.AddrFrom4([4]byte(p[12:16])).String() != "10.0.0.1":
		return []string{atIPIPUnknown}
	}
	return []string{atDelivered}
}

// TestE2EHostileIPIP sends vtepd --mode ipip on b, from a's namespace on
// an AF_PACKET socket that puts any bytes on the wire, outer and inner
// IPv4 headers of every broken kind: each kind alone, exactly counted by
// vtepd or, for a broken outer header, by b's kernel, which must keep it
// from vtepd; a frame for another host's MAC, which neither may take;
// outer fragments, which both must take reassembled; then thousands mixed
// beside a checked transfer. vtepd reads the raw socket, behind the
// kernel's checks, or, with --ipip-receive fanout, a fanout group of
// packet sockets, whose filter makes the same checks.
func TestE2EHostileIPIP(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	for _, recv := range []string{"raw", "fanout"} {
		t.Run(recv, func(t *testing.T) { hostileIPIP(t, bin, "--queues", "2", "--ipip-receive", recv) })
	}
}

func hostileIPIP(t *testing.T, bin binaries, args ...string) {
	a, b := ipipHosts(t, "10.244.0.1", "10.244.1.1")
	startIPIP(t, bin, a, append(args, "--route", "10.244.1.0/24=10.0.0.2")...)
	startIPIP(t, bin, b, append(args, "--route", "10.244.0.0/24=10.0.0.1")...)
	pingAll(t, a.ns, b.over, 3)

	dstMAC, err := net.ParseMAC(showLink(t, b.ns, "eth0").Address)
	if err != nil {
		t.Fatal(err)
	}
	srcMAC, err := net.ParseMAC(showLink(t, a.ns, "eth0").Address)
	if err != nil {
		t.Fatal(err)
	}
	var fd, ifindex int
	err = a.ns.Do(t, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatalf("AF_PACKET socket in %s: %v", a.ns.Name, err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	copy(to.Addr[:], dstMAC)
	var sendMu sync.Mutex
	frame := make([]byte, 0, 65536)
	sendTo := func(dst net.HardwareAddr, p []byte) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		frame = append(append(append(frame[:0], dst...), srcMAC...), 0x08, 0x00) // IPv4
		return unix.Sendto(fd, append(frame, p...), 0, to)
	}
	send := func(p []byte) error { return sendTo(dstMAC, p) }

	// The known remote's echo requests come back as replies through the
	// tunnel: a's kernel gets them on ipip0.
	const echoID = 0x7e57
	replies := openCounter(t, a.ns, "ICMP socket", func() (int, error) {
		return unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	}, func(p []byte) bool {
		return len(p) >= ipv4HeaderLen+8 && p[ipv4HeaderLen] == 0 && binary.BigEndian.Uint16(p[ipv4HeaderLen+4:]) == echoID
	})
	snap := func() counts {
		c := vtepdDrops(t, bin, b)
		ip, ipExt := mib(t, b.ns, "/proc/net/snmp", "Ip"), mib(t, b.ns, "/proc/net/netstat", "IpExt")
		c[atInHdrErrors] = ip["InHdrErrors"]
		c[atInCsumErrors] = ipExt["InCsumErrors"]
		c[atInTruncated] = ipExt["InTruncatedPkts"]
		c[atDelivered] = replies.count(t)
		return c
	}
	loss := func() uint64 { return kernelLoss(t, a, b) }

	inner := echoRequest(a.over, b.over, echoID, 0)
	good := ipipPacket(a.under, b.under, inner)
	innerLen := len(inner)
	r := rand.New(rand.NewPCG(3, 0x1919))
	kinds := []hostileKind{
		{"from the known remote", func(i int) []byte {
			return ipipPacket(a.under, b.under, echoRequest(a.over, b.over, echoID, uint16(i)))
		}, []string{atDelivered}},
		{"from an unknown source", func(int) []byte { return ipipPacket("10.0.0.3", b.under, inner) }, []string{atIPIPUnknown}},
		// The outer header is the kernel's to check: what fails there is
		// dropped before any raw socket, and vtepd counts nothing.
		{"outer IHL below 5", func(i int) []byte {
			return modified(good, func(p []byte) { p[0] = 4<<4 | byte(i%5); setIPv4Checksum(p) })
		}, []string{atInHdrErrors}},
		{"outer header checksum wrong", func(int) []byte {
			return modified(good, func(p []byte) { p[10] ^= 0xff })
		}, []string{atInCsumErrors, atInHdrErrors}},
		{"outer total length beyond the packet", func(int) []byte {
			return modified(good, func(p []byte) { binary.BigEndian.PutUint16(p[2:], uint16(len(p)+1)); setIPv4Checksum(p) })
		}, []string{atInTruncated}},
		// The kernel cuts the packet to the outer total length: the inner
		// packet no longer fits.
		{"outer total length cutting the inner packet", func(int) []byte {
			return modified(good, func(p []byte) { binary.BigEndian.PutUint16(p[2:], uint16(len(p)-8)); setIPv4Checksum(p) })
		}, []string{atIPIPMalformed}},
		{"nothing inside", func(int) []byte { return ipipPacket(a.under, b.under, nil) }, []string{atIPIPMalformed}},
		{"inner IHL below 5", func(i int) []byte {
			return ipipPacket(a.under, b.under, modified(inner, func(p []byte) { p[0] = 4<<4 | byte(i%5) }))
		}, []string{atIPIPMalformed}},
		{"inner IHL beyond the packet", func(int) []byte {
			return ipipPacket(a.under, b.under, modified(inner[:ipv4HeaderLen+8], func(p []byte) { p[0] = 4<<4 | 0x0f }))
		}, []string{atIPIPMalformed}},
		{"inner total length beyond the packet", func(int) []byte {
			return ipipPacket(a.under, b.under, modified(inner, func(p []byte) { binary.BigEndian.PutUint16(p[2:], uint16(innerLen+1)) }))
		}, []string{atIPIPMalformed}},
		{"inner total length shorter than its header", func(int) []byte {
			return ipipPacket(a.under, b.under, modified(inner, func(p []byte) { binary.BigEndian.PutUint16(p[2:], ipv4HeaderLen-1) }))
		}, []string{atIPIPMalformed}},
		{"inner version 5", func(int) []byte {
			return ipipPacket(a.under, b.under, modified(inner, func(p []byte) { p[0] = 5<<4 | 5 }))
		}, []string{atIPIPMalformed}},
		{"random bytes inside", func(int) []byte {
			for {
				p := make([]byte, r.IntN(120))
				for i := range p {
					p[i] = byte(r.Uint32())
				}
				if pkt := ipipPacket(a.under, b.under, p); ipipVerdict(pkt)[0] != atDelivered {
					return pkt
				}
			}
		}, nil},
	}
	sendKinds(t, kinds, ipipVerdict, send, snap, loss)

	// Frames for another host's MAC (a NIC hands them up in promiscuous
	// mode; a veth always does): the kernel drops them before IP, and so
	// must a fanout group's filter. They carry their own echo ID; ICMP
	// hashes by its addresses alone, so they reach the worker the last
	// packet, to b, reaches after them, and any reply to them would come
	// before that packet's.
	t.Run("to another host's MAC", func(t *testing.T) {
		b.ns.Run(t, "ip", "link", "set", "eth0", "promisc", "on")
		defer b.ns.Run(t, "ip", "link", "set", "eth0", "promisc", "off")
		const strayID = 0x7e58
		stray := openCounter(t, a.ns, "ICMP socket", func() (int, error) {
			return unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		}, func(p []byte) bool {
			return len(p) >= ipv4HeaderLen+8 && p[ipv4HeaderLen] == 0 && binary.BigEndian.Uint16(p[ipv4HeaderLen+4:]) == strayID
		})
		other := net.HardwareAddr{0x02, 0, 0, 0, 0x0b, 0x0e}
		before, lost := snap(), loss()
		for i := range hostileEach {
			if err := sendTo(other, ipipPacket(a.under, b.under, echoRequest(a.over, b.over, strayID, uint16(i)))); err != nil {
				t.Fatalf("sending packet %d: %v", i, err)
			}
		}
		if err := send(ipipPacket(a.under, b.under, echoRequest(a.over, b.over, echoID, 1999))); err != nil {
			t.Fatal(err)
		}
		want := counts{atDelivered: 1}
		after := settle(t, want, before, snap, func() uint64 { return loss() - lost })
		checkCounts(t, "to another host's MAC", before, after, want, loss()-lost)
		if n := stray.count(t); n != 0 {
			t.Errorf("%d replies to echo requests sent to another host's MAC, want none", n)
		}
	})

	// An outer packet cut in two: the kernel reassembles it for the raw
	// socket, and for a fanout group (PACKET_FANOUT_FLAG_DEFRAG) before it
	// picks a socket.
	t.Run("outer fragments", func(t *testing.T) {
		before, lost := snap(), loss()
		for i := range hostileEach {
			whole := ipipPacket(a.under, b.under, echoRequest(a.over, b.over, echoID, uint16(3000+i)))
			for _, f := range outerFragments(whole, uint16(0x4000+i), 16) {
				if err := send(f); err != nil {
					t.Fatalf("sending fragment of packet %d: %v", i, err)
				}
			}
		}
		want := counts{atDelivered: hostileEach}
		after := settle(t, want, before, snap, func() uint64 { return loss() - lost })
		checkCounts(t, "outer fragments", before, after, want, loss()-lost)
	})

	t.Run("a flood beside a transfer", func(t *testing.T) {
		var pool [][]byte
		var verdicts [][]string
		for _, k := range kinds {
			if len(k.at) == 1 && k.at[0] == atDelivered {
				continue
			}
			for i := range 8 {
				p := k.packet(i)
				pool = append(pool, p)
				if k.at != nil {
					verdicts = append(verdicts, k.at)
				} else {
					verdicts = append(verdicts, ipipVerdict(p))
				}
			}
		}
		before, lost := snap(), loss()
		f := startFlood(pool, verdicts, send)
		transfer(t, bin, a.ns, b.ns, b.over, 22)
		sent := f.halt(t)
		after := settle(t, sent, before, snap, func() uint64 { return loss() - lost })
		slack := loss() - lost
		t.Logf("flood: %d packets beside the transfer, by counter %v; the kernel reports %d dropped", f.n.Load(), sent, slack)
		checkCounts(t, "flood", before, after, sent, slack)
		running(t, b, "after the flood")
		pingAll(t, a.ns, b.over, 3)
	})
}
