//go:build linux

package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"os"
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

// TestSuperFrameRuns: the segments of consecutive super-frames to one
// remote share GSO sends, each as full as a send can be; a run whose last
// segment is short, or a super-frame to another remote, ends it; and the
// datagrams carry, in order, exactly the segments each super-frame is cut
// into.
func TestSuperFrameRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the underlay's raw sender needs CAP_NET_RAW")
	}
	local, remA, remB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	rxA := listenGRO(t, netip.AddrPortFrom(remA, 0))
	port := uint16(rxA.LocalAddr().(*net.UDPAddr).Port)
	rxB := listenGRO(t, netip.AddrPortFrom(remB, port))
	u, n := gsoNetwork(t, local, port, nil)
	macA, macB := fdb.MAC{2, 0, 0, 0, 0, 0xa}, fdb.MAC{2, 0, 0, 0, 0, 0xb}
	for mac, rem := range map[fdb.MAC]netip.Addr{macA: remA, macB: remB} {
		if err := n.Table().Add(mac, rem, true); err != nil {
			t.Fatal(err)
		}
	}

	// MSS 1000: 1,054-byte frames, 1,062-byte datagrams, 61 to a send.
	const mss, stride = 1000, 8 + 54 + 1000
	if got := gsoChunk(stride); got != 61 {
		t.Fatalf("datagrams of %d bytes per send: got %d, want 61", stride, got)
	}
	supers := []struct {
		dst         fdb.MAC
		segs, short int
	}{
		{macA, 40, 0},  // 40 kept back
		{macA, 40, 0},  // 80: a send of 61, 19 kept back
		{macA, 30, 10}, // 49, the last short: a send of 49
		{macA, 50, 0},  // 50 kept back, then sent: the next goes elsewhere
		{macB, 10, 0},  // 10 kept back, sent at the end of the batch
	}
	tx := n.txWorker(0)
	pool := u.gso.Load()
	train, w, run := make([]byte, trainSize), &gsoWriter{}, &gsoRun{}
	want := map[netip.Addr][]byte{}
	seq := uint32(1)
	for _, s := range supers {
		frame, h := tcpSuperFrame(t, s.dst, mss, s.segs, s.short, seq)
		seq += uint32(len(frame) - 54)
		// What the super-frame is cut into, on its own.
		segs := make([]byte, 2*trainSize)
		k, segLen, lastLen, err := encap.GSOSplit(frame, h, encap.EthernetHeaderLen, segs, encap.VXLANHeaderLen)
		if err != nil || k != s.segs {
			t.Fatalf("GSOSplit: %d segments, %v; want %d", k, err, s.segs)
		}
		rem := remA
		if s.dst == macB {
			rem = remB
		}
		for i := 0; i < k; i++ {
			encap.PutVXLAN(segs[i*stride:], 42)
			l := segLen
			if i == k-1 {
				l = lastLen
			}
			want[rem] = append(want[rem], segs[i*stride:i*stride+8+l]...)
		}
		tx.forwardSuper(frame, h, train, w, pool, nil, run)
	}
	tx.sendRun(run, w, train)

	c := n.Counters.Load()
	if c.Offload.GSOSends != 4 || c.Offload.GSODatagrams != 170 || c.TxPackets != 170 || c.Offload.TSOFrames != 5 {
		t.Errorf("counters: %d GSO sends of %d datagrams, %d packets sent, %d super-frames; want 4 of 170, 170, 5",
			c.Offload.GSOSends, c.Offload.GSODatagrams, c.TxPackets, c.Offload.TSOFrames)
	}
	type read struct{ total, seg int }
	for _, rx := range []struct {
		conn *net.UDPConn
		rem  netip.Addr
		want []read
	}{
		{rxA, remA, []read{{61 * stride, stride}, {48*stride + stride - 10, stride}, {50 * stride, stride}}},
		{rxB, remB, []read{{10 * stride, stride}}},
	} {
		var got []read
		var payload []byte
		buf, oob := make([]byte, 1<<17), make([]byte, 64)
		for range rx.want {
			if err := rx.conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
				t.Fatal(err)
			}
			nb, noob, _, _, err := rx.conn.ReadMsgUDP(buf, oob)
			if err != nil {
				t.Fatalf("%v: reading: %v (so far %v)", rx.rem, err, got)
			}
			got = append(got, read{nb, groSegment(oob[:noob])})
			payload = append(payload, buf[:nb]...)
		}
		for i, r := range rx.want {
			if i >= len(got) || got[i] != r {
				t.Errorf("%v: reads (bytes, GRO segment): got %v, want %v", rx.rem, got, rx.want)
				break
			}
		}
		if !bytes.Equal(payload, want[rx.rem]) {
			t.Errorf("%v: %d bytes arrived that are not the %d bytes of VXLAN headers and segments cut", rx.rem, len(payload), len(want[rx.rem]))
		}
	}
}
