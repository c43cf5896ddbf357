package dataplane

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/vtepd/vtepd/encap"
)

var (
	fanLocal  = netip.MustParseAddr("10.0.0.2")
	fanRemote = netip.MustParseAddr("10.0.0.1")
)

// fanPacket is an IPIP packet from fanRemote to fanLocal around an inner
// IPv4 packet of proto with the given ports and payload length.
func fanPacket(t *testing.T, src, dst netip.Addr, proto uint8, sport, dport uint16, payload int) []byte {
	t.Helper()
	inner := make([]byte, 20+8+payload)
	inner[0], inner[8], inner[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(inner[2:], uint16(len(inner)))
	s, d := src.As4(), dst.As4()
	copy(inner[12:], s[:])
	copy(inner[16:], d[:])
	binary.BigEndian.PutUint16(inner[20:], sport)
	binary.BigEndian.PutUint16(inner[22:], dport)
	for i := range payload {
		inner[28+i] = byte(i * 7)
	}
	binary.BigEndian.PutUint16(inner[10:], encap.FoldChecksum(encap.Checksum(inner[:20], 0)))
	buf := make([]byte, 20+len(inner))
	copy(buf[20:], inner)
	if err := encap.EncapIPIP(buf, &encap.OuterIPIP{Src: fanRemote, Dst: fanLocal, TTL: 64, DF: encap.IPIPDFCopy}); err != nil {
		t.Fatal(err)
	}
	return buf
}

func runBPF(t *testing.T, vm *bpf.VM, p []byte) int {
	t.Helper()
	v, err := vm.Run(p)
	if err != nil {
		t.Fatalf("BPF on %x: %v", p, err)
	}
	return v
}

// kernelTakes is what the kernel's IP layer checks of a received header
// (ip_rcv_core) and the filter must mirror, with its own part: protocol 4
// to fanLocal, and checksums of option-bearing headers left to vtepd.
func kernelTakes(p []byte) bool {
	if len(p) < 20 || p[0]>>4 != 4 || p[0]&0xf < 5 {
		return false
	}
	hl, tl := int(p[0]&0xf)*4, int(binary.BigEndian.Uint16(p[2:]))
	if tl < hl || tl > len(p) || p[9] != encap.ProtocolIPIP || netip.AddrFrom4([4]byte(p[16:20])) != fanLocal {
		return false
	}
	return hl > 20 || encap.FoldChecksum(encap.Checksum(p[:20], 0)) == 0
}

// TestIPIPFilter: a receiver of the fanout group keeps exactly the IPIP
// packets to its address whose headers the kernel's IP layer would have
// passed, so vtepd counts the same drops either way.
func TestIPIPFilter(t *testing.T) {
	vm, err := bpf.NewVM(ipipHeaderFilter(fanLocal))
	if err != nil {
		t.Fatal(err)
	}
	// The packet type goes first, its failure to the header filter's drop.
	full, head := ipipFilter(fanLocal), ipipHeaderFilter(fanLocal)
	if j, ok := full[1].(bpf.JumpIf); !ok || len(full) != len(head)+2 || 2+int(j.SkipTrue) != len(full)-1 || full[len(full)-1] != (bpf.RetConstant{Val: 0}) {
		t.Errorf("ipipFilter: the packet type check does not jump to the drop at %d: %v", len(full)-1, full[:2])
	}
	if _, err := bpf.Assemble(full); err != nil {
		t.Errorf("ipipFilter does not assemble: %v", err)
	}
	good := fanPacket(t, netip.MustParseAddr("10.244.0.1"), netip.MustParseAddr("10.244.1.1"), 6, 40000, 5201, 100)
	fix := func(p []byte) {
		p[10], p[11] = 0, 0
		binary.BigEndian.PutUint16(p[10:], encap.FoldChecksum(encap.Checksum(p[:20], 0)))
	}
	for _, tc := range []struct {
		name string
		mod  func(p []byte) []byte
		keep bool
	}{
		{"good", func(p []byte) []byte { return p }, true},
		{"IHL 4", func(p []byte) []byte { p[0] = 0x44; fix(p); return p }, false},
		{"version 6", func(p []byte) []byte { p[0] = 0x65; fix(p); return p }, false},
		{"checksum wrong", func(p []byte) []byte { p[10] ^= 0xff; return p }, false},
		{"total length beyond the packet", func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], uint16(len(p)+1)); fix(p); return p }, false},
		{"total length below the header", func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 19); fix(p); return p }, false},
		{"padding after the packet", func(p []byte) []byte { return append(p, 0, 0, 0, 0) }, true},
		{"protocol 17", func(p []byte) []byte { p[9] = 17; fix(p); return p }, false},
		{"to another address", func(p []byte) []byte { p[19]++; fix(p); return p }, false},
		{"options, checksum left to vtepd", func(p []byte) []byte {
			q := append(append(append([]byte{}, p[:20]...), 1, 1, 1, 0), p[20:]...)
			q[0] = 0x46
			binary.BigEndian.PutUint16(q[2:], uint16(len(q)))
			q[10] ^= 0x55
			return q
		}, true},
		{"short", func(p []byte) []byte { return p[:12] }, false},
	} {
		p := tc.mod(append([]byte(nil), good...))
		if got := runBPF(t, vm, p) > 0; got != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.keep)
		}
		if kernelTakes(p) != tc.keep {
			t.Errorf("%s: the reference says %v, want %v", tc.name, !tc.keep, tc.keep)
		}
	}
	// Random damage to the header: kept exactly when the reference keeps it.
	r := rand.New(rand.NewPCG(14, 4))
	kept := 0
	for i := range 20000 {
		p := append([]byte(nil), good...)
		for range 1 + r.IntN(3) {
			p[r.IntN(20)] ^= byte(1 << r.IntN(8))
		}
		if r.IntN(2) == 0 {
			fix(p)
		}
		want := kernelTakes(p)
		if got := runBPF(t, vm, p) > 0; got != want {
			t.Fatalf("damaged header %d %x: kept %v, the reference %v", i, p[:20], got, want)
		}
		if want {
			kept++
		}
	}
	if kept == 0 {
		t.Fatal("no damaged header was kept: the random cases test one side only")
	}
}

// TestIPIPFanoutHash: the group's program sends every packet of an inner
// flow to one receiver, spreads flows that differ in one port over all of
// them, hashes a fragment by its addresses alone, and anything it cannot
// read to 0.
func TestIPIPFanoutHash(t *testing.T) {
	vm, err := bpf.NewVM(ipipFanoutProg)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("10.244.0.1"), netip.MustParseAddr("10.244.1.1")
	for _, proto := range []uint8{6, 17} {
		for _, members := range []int{2, 3, 4, 8} {
			seen := make([]int, members)
			// Ephemeral ports of one parity, as Linux hands connect() them.
			for sport := uint16(40000); sport < 40000+2*64; sport += 2 {
				first := runBPF(t, vm, fanPacket(t, src, dst, proto, sport, 5201, 10))
				if again := runBPF(t, vm, fanPacket(t, src, dst, proto, sport, 5201, 900)); again != first {
					t.Fatalf("proto %d port %d: hash %d, then %d for a longer packet of the flow", proto, sport, first, again)
				}
				seen[first%members]++
			}
			for i, n := range seen {
				if n < 64/members/3 {
					t.Errorf("proto %d, %d receivers: receiver %d got %d of 64 flows (%v)", proto, members, i, n, seen)
				}
			}
		}
	}
	// Fragments of one inner packet, and any other fragment between the
	// same addresses, hash alike: by the addresses.
	addrsOnly := -1
	for _, frag := range []uint16{0x2000, 0x0010, 0x2010} {
		p := fanPacket(t, src, dst, 17, 1234, 5678, 40)
		binary.BigEndian.PutUint16(p[20+6:], frag)
		h := runBPF(t, vm, p)
		if addrsOnly >= 0 && h != addrsOnly {
			t.Errorf("fragment %#04x: hash %d, want %d as the others", frag, h, addrsOnly)
		}
		addrsOnly = h
	}
	if icmp := runBPF(t, vm, fanPacket(t, src, dst, 1, 0x0800, 0x1234, 20)); icmp != addrsOnly {
		t.Errorf("ICMP: hash %d, want %d, the addresses' alone", icmp, addrsOnly)
	}
	notIPIP := fanPacket(t, src, dst, 6, 1, 2, 10)
	notIPIP[9] = 17
	withOptions := fanPacket(t, src, dst, 6, 1, 2, 10)
	withOptions[0] = 0x46
	for name, p := range map[string][]byte{"not IPIP": notIPIP, "outer options": withOptions} {
		if h := runBPF(t, vm, p); h != 0 {
			t.Errorf("%s: hash %d, want 0", name, h)
		}
	}
}
