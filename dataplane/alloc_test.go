package dataplane

import (
	"net/netip"
	"testing"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// discard is a Link and Conn that accepts everything and delivers nothing,
// so allocation counts measure the forwarding code alone.
type discard struct{}

func (discard) Read([][]byte, []int, int) (int, error)                   { select {} }
func (discard) Write(b [][]byte, _ int) (int, error)                     { return len(b), nil }
func (discard) Name() string                                             { return "discard" }
func (discard) Close() error                                             { return nil }
func (discard) ReadBatch([][]byte, []int, []netip.AddrPort) (int, error) { select {} }
func (discard) WriteBatch(p [][]byte) (int, error)                       { return len(p), nil }
func (discard) LocalAddr() netip.AddrPort                                { return netip.AddrPort{} }

func testFrame(dst, src [6]byte) []byte {
	f := make([]byte, 98)
	e := encap.Ethernet(f)
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetEtherType(encap.EtherTypeIPv4)
	f[14] = 0x45
	encap.IPv4(f[14:]).SetTotalLength(84)
	encap.IPv4(f[14:]).SetProtocol(encap.ProtocolICMP)
	return f
}

// TestPerPacketPathAllocatesNothing covers, for both outer families, what
// happens per packet: the FDB lookup and the outer headers on send, and
// learning and the device write on receive.
func TestPerPacketPathAllocatesNothing(t *testing.T) {
	for _, local := range []string{"10.0.0.1", "fd00::1"} {
		t.Run(local, func(t *testing.T) {
			l := netip.MustParseAddr(local)
			remote := l.Next()
			u, err := NewUnderlay(UnderlayConfig{Local: l}, discard{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := newNetwork(u, NetworkConfig{Name: "vx", VNI: 42, MTU: 1450, FDB: fdb.Config{Learning: true}}, discard{})
			peer := [6]byte{2, 0, 0, 0, 0, 2}
			n.table.Learn(peer, remote, fdb.Now())

			buf := make([]byte, Headroom+maxPacket)
			f := testFrame(peer, [6]byte{2, 0, 0, 0, 0, 1})
			copy(buf[Headroom:], f)
			out := make([][]byte, 0, 1)
			w := n.txWorker(0)
			tx := testing.AllocsPerRun(1000, func() {
				r, ok := n.table.Lookup(encap.Ethernet(buf[Headroom:]).Dst())
				if !ok {
					t.Fatal("lookup missed")
				}
				out = append(out[:0], u.outer(buf, len(f), 42, r, 64))
				w.send(out)
			})
			if tx != 0 {
				t.Errorf("send path: %v allocations per packet, want 0", tx)
			}

			n.table.SetFlood([]netip.Addr{remote})
			fl := testing.AllocsPerRun(1000, func() { w.flood(buf, len(f)) })
			if fl != 0 {
				t.Errorf("flood path: %v allocations per frame, want 0", fl)
			}

			in := testFrame([6]byte{2, 0, 0, 0, 0, 1}, peer)
			q := newRxQueue(0)
			now := fdb.Now()
			rx := testing.AllocsPerRun(1000, func() {
				n.receive(in, remote, now, q)
				q.flush()
			})
			if rx != 0 {
				t.Errorf("receive path: %v allocations per packet, want 0", rx)
			}
			if got := n.Counters.Load().RxPackets; got < 1000 {
				t.Errorf("rx packets %d, want >= 1000 (the receive path did not run)", got)
			}
		})
	}
}
