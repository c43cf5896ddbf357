//go:build linux

package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// tcpSuperFrame is a TCP super-frame as a TAP with TSO hands one over:
// Ethernet, IPv4 and TCP headers, segs*mss bytes of payload less short
// bytes, and its virtio-net header (GSO TCPv4, checksum left partial).
func tcpSuperFrame(t *testing.T, dst fdb.MAC, mss, segs, short int, seq uint32) ([]byte, encap.VirtioNetHdr) {
	t.Helper()
	payload := make([]byte, segs*mss-short)
	for i := range payload {
		payload[i] = byte(seq) + byte(i*7)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr(dst[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 1, 0, 1}, DstIP: net.IP{10, 1, 0, 2}, Id: 100}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: seq, ACK: true, PSH: true, Window: 512}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	h := encap.VirtioNetHdr(make([]byte, encap.VirtioNetHdrLen))
	h.SetFlags(encap.VirtioNetHdrFNeedsCsum)
	h.SetGSOType(encap.VirtioGSOTCPv4)
	h.SetHdrLen(54)
	h.SetGSOSize(uint16(mss))
	h.SetCsumStart(34)
	h.SetCsumOffset(16)
	return buf.Bytes(), h
}

// superFrameSend is a super-frame TestSuperFrameRuns sends: to which MAC,
// how many segments, and how many bytes the last one lacks of a full one.
type superFrameSend struct {
	dst         fdb.MAC
	segs, short int
}

// sendSupers sends supers through tx's forwardSuper as one read batch
// (the run sent at its end) and returns, for each remote, the VXLAN
// datagrams the super-frames are cut into, in order.
func sendSupers(t *testing.T, tx *vxlanTx, remotes map[fdb.MAC]netip.Addr, mss int, supers []superFrameSend) map[netip.Addr][]byte {
	t.Helper()
	pool := tx.u.gso.Load()
	train, w, run := make([]byte, trainSize), &gsoWriter{}, &gsoRun{}
	want := map[netip.Addr][]byte{}
	seq := uint32(1)
	for _, s := range supers {
		frame, h := tcpSuperFrame(t, s.dst, mss, s.segs, s.short, seq)
		seq += uint32(len(frame) - 54)
		// What the super-frame is cut into, on its own.
		segs := make([]byte, trainSize)
		k, segLen, lastLen, err := encap.GSOSplit(frame, h, encap.EthernetHeaderLen, segs, encap.VXLANHeaderLen)
		if err != nil || k != s.segs {
			t.Fatalf("GSOSplit: %d segments, %v; want %d", k, err, s.segs)
		}
		stride := encap.VXLANHeaderLen + segLen
		for i := 0; i < k; i++ {
			encap.PutVXLAN(segs[i*stride:], 42)
			l := segLen
			if i == k-1 {
				l = lastLen
			}
			want[remotes[s.dst]] = append(want[remotes[s.dst]], segs[i*stride:i*stride+8+l]...)
		}
		tx.forwardSuper(frame, h, train, w, pool, nil, run)
	}
	tx.sendRun(run, w, train)
	return want
}

// trainRead is what one read from a UDP_GRO socket returned: its bytes and
// the segment size of the train (0 for one datagram).
type trainRead struct{ total, seg int }

// readTrains reads n trains from conn and returns them and their bytes.
func readTrains(t *testing.T, conn *net.UDPConn, n int) ([]trainRead, []byte) {
	t.Helper()
	var got []trainRead
	var payload []byte
	buf, oob := make([]byte, 1<<17), make([]byte, 64)
	for range n {
		if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
			t.Fatal(err)
		}
		nb, noob, _, _, err := conn.ReadMsgUDP(buf, oob)
		if err != nil {
			t.Fatalf("%v: reading: %v (so far %v)", conn.LocalAddr(), err, got)
		}
		got = append(got, trainRead{nb, groSegment(oob[:noob])})
		payload = append(payload, buf[:nb]...)
	}
	return got, payload
}

// TestSuperFrameRuns: the segments of consecutive super-frames to one
// remote share GSO sends, each as full as a send can be; a run whose last
// segment is short, or a super-frame to another remote, ends it; and the
// datagrams carry, in order, exactly the segments each super-frame is cut
// into.
func TestSuperFrameRuns(t *testing.T) {
	n, rxA, rxB, remA, remB := gsoToTwo(t)
	macA, macB := fdb.MAC{2, 0, 0, 0, 0, 0xa}, fdb.MAC{2, 0, 0, 0, 0, 0xb}
	remotes := map[fdb.MAC]netip.Addr{macA: remA, macB: remB}
	for mac, rem := range remotes {
		if err := n.Table().Add(mac, rem, true); err != nil {
			t.Fatal(err)
		}
	}
	tx := n.txWorker(0)

	for _, tc := range []struct {
		name   string
		mss    int
		supers []superFrameSend
		wantA  []trainRead
		wantB  []trainRead
	}{
		{
			// MSS 1000: 1,054-byte frames, 1,062-byte datagrams, 61 a send.
			name: "runs",
			mss:  1000,
			supers: []superFrameSend{
				{macA, 40, 0},  // 40 kept back
				{macA, 40, 0},  // 80: a send of 61, 19 kept back
				{macA, 30, 10}, // 49, the last short: a send of 49
				{macA, 50, 0},  // 50 kept back, then sent: the next goes elsewhere
				{macB, 10, 0},  // 10 kept back, sent at the end of the batch
			},
			wantA: []trainRead{{61 * 1062, 1062}, {48*1062 + 1052, 1062}, {50 * 1062, 1062}},
			wantB: []trainRead{{10 * 1062, 1062}},
		},
		{
			// MSS 1448: 1,510-byte datagrams, 43 a send. Twelve super-frames
			// of 45 fill the train buffer more than once; what is kept back
			// moves to its start, and every send but the last is full.
			name:   "a full train buffer",
			mss:    1448,
			supers: slices.Repeat([]superFrameSend{{macA, 45, 0}}, 12),
			wantA:  append(slices.Repeat([]trainRead{{43 * 1510, 1510}}, 12), trainRead{24 * 1510, 1510}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := n.Counters.Load()
			want := sendSupers(t, tx, remotes, tc.mss, tc.supers)
			c := n.Counters.Load()
			segs, wantSends := 0, len(tc.wantA)+len(tc.wantB)
			for _, s := range tc.supers {
				segs += s.segs
			}
			sends, dgrams := c.Offload.GSOSends-before.Offload.GSOSends, c.Offload.GSODatagrams-before.Offload.GSODatagrams
			if sends != uint64(wantSends) || dgrams != uint64(segs) || c.TxPackets-before.TxPackets != uint64(segs) ||
				c.Offload.TSOFrames-before.Offload.TSOFrames != uint64(len(tc.supers)) {
				t.Errorf("counters: %d GSO sends of %d datagrams, %d packets sent, %d super-frames; want %d of %d, %d, %d",
					sends, dgrams, c.TxPackets-before.TxPackets, c.Offload.TSOFrames-before.Offload.TSOFrames,
					wantSends, segs, segs, len(tc.supers))
			}
			for _, rx := range []struct {
				conn *net.UDPConn
				rem  netip.Addr
				want []trainRead
			}{{rxA, remA, tc.wantA}, {rxB, remB, tc.wantB}} {
				got, payload := readTrains(t, rx.conn, len(rx.want))
				if !slices.Equal(got, rx.want) {
					t.Errorf("%v: reads (bytes, GRO segment): got %v, want %v", rx.rem, got, rx.want)
				}
				if !bytes.Equal(payload, want[rx.rem]) {
					t.Errorf("%v: %d bytes arrived that are not the %d bytes of VXLAN headers and segments cut", rx.rem, len(payload), len(want[rx.rem]))
				}
			}
		})
	}
}
