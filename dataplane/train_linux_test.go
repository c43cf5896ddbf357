//go:build linux

package dataplane

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// TestDatagramTrains queues frames the way txLoopVnet does and checks, at
// two receivers on loopback with UDP_GRO, how they left: equal-sized frames
// to one remote as one GSO train, a shorter one ending it, a frame alone by
// the one-packet path, a new train for a new remote, a longer frame or a
// flow that leaves from another GSO socket, and every datagram's bytes the
// VXLAN header and the frame.
func TestDatagramTrains(t *testing.T) {
	n, rxA, rxB, remA, remB := gsoToTwo(t)

	// One flow (same MACs, same hash, same GSO socket); the frame sizes
	// and remotes decide the trains.
	// A second flow, other, whose hash picks another GSO socket: its
	// frames cannot ride in a train from the first flow's socket.
	frame := func(src byte, size, i int) []byte {
		f := make([]byte, size)
		copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, src, 0x88, 0xb5})
		for j := encap.EthernetHeaderLen; j < len(f); j++ {
			f[j] = byte(i*31 + j)
		}
		return f
	}
	pool := n.u.gso.Load()
	other := byte(2)
	for ; pool.sock(encap.FlowHash(frame(other, 100, 0))) == pool.sock(encap.FlowHash(frame(1, 100, 0))); other++ {
		if other == 0xff {
			t.Fatalf("no source MAC gives a flow another of the %d GSO sockets", len(pool.fds))
		}
	}
	sends := []struct {
		remote netip.Addr
		size   int
		src    byte
	}{
		{remA, 100, 1}, {remA, 100, 1}, {remA, 93, 1}, // a train of 3, cut short
		{remA, 100, 1},                 // nothing may follow a short tail: alone
		{remB, 100, 1}, {remB, 100, 1}, // a new remote: a new train of 2
		{remB, 120, 1},                         // longer than the train's size: alone
		{remA, 100, 1},                         // the first flow, alone: the next one is
		{remA, 100, other}, {remA, 100, other}, // another socket's, a train of 2
	}
	tr := &dgramTrain{parts: make([][]byte, 0, encap.MaxUDPSegments)}
	tx := n.txWorker(0)
	w := &gsoWriter{}
	var frames [][]byte
	for i, s := range sends {
		buf := make([]byte, Headroom+s.size)
		f := buf[Headroom:]
		copy(f, frame(s.src, s.size, i))
		frames = append(frames, append([]byte(nil), f...))
		tx.queueDatagram(tr, w, pool, buf, s.size, s.remote)
	}
	tx.sendTrain(tr, w)

	o := n.Counters.Load().Offload
	if o.GSOSends != 3 || o.GSODatagrams != 7 || n.Counters.Load().TxPackets != uint64(len(sends)) {
		t.Errorf("counters: got %d GSO sends of %d datagrams, %d packets sent; want 3 of 7, %d",
			o.GSOSends, o.GSODatagrams, n.Counters.Load().TxPackets, len(sends))
	}
	// What each receiver reads: datagram sizes per read, trains as one.
	for _, rx := range []struct {
		conn   *net.UDPConn
		frames [][]byte
		want   []trainRead
	}{
		{rxA, append(frames[:4:4], frames[7:]...), []trainRead{{108 + 108 + 101, 108}, {108, 0}, {108, 0}, {108 + 108, 108}}},
		{rxB, frames[4:7], []trainRead{{108 + 108, 108}, {128, 0}}},
	} {
		got, payload := readTrains(t, rx.conn, len(rx.want))
		if !slices.Equal(got, rx.want) {
			t.Errorf("%v: reads (bytes, GRO segment): got %v, want %v", rx.conn.LocalAddr(), got, rx.want)
		}
		var want []byte
		for _, f := range rx.frames {
			hdr := make([]byte, encap.VXLANHeaderLen)
			encap.PutVXLAN(hdr, 42)
			want = append(append(want, hdr...), f...)
		}
		if !bytes.Equal(payload, want) {
			t.Errorf("%v: got %d bytes that are not the VXLAN headers and frames sent (%d bytes)", rx.conn.LocalAddr(), len(payload), len(want))
		}
	}
}

// gsoToTwo is a VXLAN network with GSO sockets on 127.0.0.1 and two
// remotes, 127.0.0.2 and 127.0.0.3, each a UDP_GRO socket on the port. It
// skips the test without root.
func gsoToTwo(t *testing.T) (n *Network, rxA, rxB *net.UDPConn, remA, remB netip.Addr) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the underlay's raw sender needs CAP_NET_RAW")
	}
	local := netip.MustParseAddr("127.0.0.1")
	remA, remB = netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	rxA = listenGRO(t, netip.AddrPortFrom(remA, 0))
	port := uint16(rxA.LocalAddr().(*net.UDPAddr).Port)
	rxB = listenGRO(t, netip.AddrPortFrom(remB, port))
	_, n = gsoNetwork(t, local, port, nil)
	return n, rxA, rxB, remA, remB
}

// gsoNetwork is a VXLAN underlay on local:port with GSO sockets, and its
// network vx42 on a fake device, closed when the test ends.
func gsoNetwork(t *testing.T, local netip.Addr, port uint16, log *zap.Logger) (*Underlay, *Network) {
	t.Helper()
	conn, err := ListenUDPOffload(local, port, UDPOffload{GSO: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUnderlay(UnderlayConfig{Local: local, Port: port}, conn, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	n, err := u.AddNetwork(NetworkConfig{Name: "vx42", VNI: 42, MTU: 1500}, linktest.NewLink("vx42"))
	if err != nil {
		t.Fatal(err)
	}
	return u, n
}

// listenGRO opens a UDP socket on ap that takes GRO trains whole, with a
// 4 MiB receive buffer.
func listenGRO(t *testing.T, ap netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := setsockopt(c, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
		t.Fatal(err)
	}
	// Room for what a test sends before it reads (root: past rmem_max).
	if err := setsockopt(c, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGSOFallback: a UDP_SEGMENT send the kernel refuses (here: more
// segments than UDP_MAX_SEGMENTS, EINVAL) turns GSO off once, logged and
// counted, and what follows leaves one datagram at a time; a send refused
// for another reason leaves GSO on. At start, GSO sockets that cannot be
// had (every port of the range taken) are a fallback too, not a failure.
func TestGSOFallback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the underlay's raw sender needs CAP_NET_RAW")
	}
	local, rem := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	rx := listenGRO(t, netip.AddrPortFrom(rem, 0))
	port := uint16(rx.LocalAddr().(*net.UDPAddr).Port)
	core, logs := observer.New(zap.WarnLevel)
	u, n := gsoNetwork(t, local, port, zap.New(core))
	tx := n.txWorker(0)
	pool := u.gso.Load()
	if pool == nil {
		t.Fatal("no GSO sockets at start")
	}

	tx.gsoSent(pool, 2, unix.ENOBUFS)
	if u.gso.Load() != pool {
		t.Fatal("GSO turned off by ENOBUFS, a full queue; want it kept")
	}
	// 300 segments of 8 bytes: over any kernel's UDP_MAX_SEGMENTS.
	err := pool.send(&gsoWriter{}, rem, 0, make([]byte, 300*8), 8)
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("a send of 300 segments: got %v, want EINVAL from the kernel", err)
	}
	tx.gsoSent(pool, 300, err)
	tx.gsoSent(pool, 300, err) // a second worker's failure, on the same pool
	if u.gso.Load() != nil {
		t.Fatal("GSO still on after the kernel refused a send")
	}
	if got := u.Counters.Load().Offload.Fallbacks + n.Counters.Load().Offload.Fallbacks; got != 1 {
		t.Errorf("fallbacks: got %d, want 1", got)
	}
	if logs.FilterMessageSnippet("UDP GSO refused").Len() != 1 {
		t.Errorf("want one warning about GSO, got %v", logs.All())
	}

	// With GSO off, a frame leaves by the one-packet path and arrives.
	mac, _ := fdb.ParseMAC("02:00:00:00:00:02")
	if err := n.Table().Add(mac, rem, true); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, Headroom+100)
	copy(buf[Headroom:], []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	tx.send(tx.forward(buf, 100, nil))
	if err := rx.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2048)
	nb, err := rx.Read(got)
	if err != nil || nb != encap.VXLANHeaderLen+100 {
		t.Fatalf("after the fallback: read %d bytes, %v; want one datagram of %d", nb, err, encap.VXLANHeaderLen+100)
	}

	// At start: a source port range of one port, already taken.
	taken, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := uint16(taken.LocalAddr().(*net.UDPAddr).Port)
	conn2, err := ListenUDPOffload(local, 0, UDPOffload{GSO: true, SrcPortMin: busy, SrcPortMax: busy})
	if err != nil {
		t.Fatalf("start with GSO sockets unavailable: %v, want a start without them", err)
	}
	u2, err := NewUnderlay(UnderlayConfig{Local: local, Port: conn2.LocalAddr().Port()}, conn2, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	if u2.gso.Load() != nil || u2.Counters.Load().Offload.Fallbacks != 1 {
		t.Errorf("start without GSO sockets: gso %v, fallbacks %d; want none and 1", u2.gso.Load(), u2.Counters.Load().Offload.Fallbacks)
	}
	if logs.FilterMessageSnippet("offload refused").Len() != 1 {
		t.Errorf("want one warning about the refused offload at start, got %v", logs.All())
	}
}
