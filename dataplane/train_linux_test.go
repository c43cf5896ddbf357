//go:build linux

package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/encap"
)

// TestDatagramTrains queues frames the way txLoopVnet does and checks, at
// two receivers on loopback with UDP_GRO, how they left: equal-sized frames
// to one remote as one GSO train, a shorter one ending it, a frame alone by
// the one-packet path, a new train for a new remote, a longer frame or a
// flow that leaves from another GSO socket, and every datagram's bytes the
// VXLAN header and the frame.
func TestDatagramTrains(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the underlay's raw sender needs CAP_NET_RAW")
	}
	local, remA, remB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	rxA := listenGRO(t, netip.AddrPortFrom(remA, 0))
	port := uint16(rxA.LocalAddr().(*net.UDPAddr).Port)
	rxB := listenGRO(t, netip.AddrPortFrom(remB, port))
	conn, err := ListenUDPOffload(local, port, UDPOffload{GSO: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUnderlay(UnderlayConfig{Local: local, Port: port}, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	n, err := u.AddNetwork(NetworkConfig{Name: "vx42", VNI: 42, MTU: 1500}, linktest.NewLink("vx42"))
	if err != nil {
		t.Fatal(err)
	}

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
	socks := uint32(len(n.u.pool.fds))
	other := byte(2)
	for ; encap.FlowHash(frame(other, 100, 0))%socks == encap.FlowHash(frame(1, 100, 0))%socks; other++ {
		if other == 0xff {
			t.Fatalf("no source MAC gives a flow another of the %d GSO sockets", socks)
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
		tx.queueDatagram(tr, w, buf, s.size, s.remote)
	}
	tx.sendTrain(tr, w)

	o := n.Counters.Load().Offload
	if o.GSOSends != 3 || o.GSODatagrams != 7 || n.Counters.Load().TxPackets != uint64(len(sends)) {
		t.Errorf("counters: got %d GSO sends of %d datagrams, %d packets sent; want 3 of 7, %d",
			o.GSOSends, o.GSODatagrams, n.Counters.Load().TxPackets, len(sends))
	}
	// What each receiver reads: datagram sizes per read, trains as one.
	type read struct{ total, seg int }
	for _, rx := range []struct {
		conn   *net.UDPConn
		frames [][]byte
		want   []read
	}{
		{rxA, append(frames[:4:4], frames[7:]...), []read{{108 + 108 + 101, 108}, {108, 0}, {108, 0}, {108 + 108, 108}}},
		{rxB, frames[4:7], []read{{108 + 108, 108}, {128, 0}}},
	} {
		var got []read
		var payload []byte
		buf, oob := make([]byte, 65536), make([]byte, 64)
		for range rx.want {
			if err := rx.conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
				t.Fatal(err)
			}
			nb, noob, _, _, err := rx.conn.ReadMsgUDP(buf, oob)
			if err != nil {
				t.Fatalf("%v: reading: %v (so far %v)", rx.conn.LocalAddr(), err, got)
			}
			got = append(got, read{nb, groSegment(oob[:noob])})
			payload = append(payload, buf[:nb]...)
		}
		for i, r := range rx.want {
			if i >= len(got) || got[i] != r {
				t.Errorf("%v: reads (bytes, GRO segment): got %v, want %v", rx.conn.LocalAddr(), got, rx.want)
				break
			}
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

// listenGRO opens a UDP socket on ap that takes GRO trains whole.
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
	return c
}
