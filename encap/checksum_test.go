package encap

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestChecksumKnownAnswers(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		initial uint32
		sum     uint32 // Checksum's result
		stored  uint16 // FoldChecksum of it
	}{
		// RFC 1071 section 3, numerical example: the sum of 0001 f203 f4f5 f6f7 is ddf2.
		{"RFC 1071 example", "0001f203f4f5f6f7", 0, 0xddf2, 0x220d},
		{"empty", "", 0, 0, 0xffff},
		{"empty with initial", "", 0x1234, 0x1234, 0xedcb},
		{"one byte is the high half", "ab", 0, 0xab00, 0x54ff},
		{"odd length", "0001f203f4f5f6f7ff", 0, 0xddf2 + 0xff00 - 0xffff, 0xffff - (0xddf2 + 0xff00 - 0xffff)},
		{"initial folds in", "ffff", 0xffff0001, 0x0001, 0xfffe},
		{"all ones", "ffffffffffffffffffffffffffffffff", 0, 0xffff, 0x0000},
		// Outer IPv4 header of a golden capture, checksum field included: verifies to 0.
		{"golden IPv4 header", "4500007e1c0d0000401148d20ac700010ac70002", 0, 0xffff, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.data)
			got := Checksum(b, tc.initial)
			if got != tc.sum {
				t.Errorf("Checksum: got %#x, want %#x", got, tc.sum)
			}
			if f := FoldChecksum(got); f != tc.stored {
				t.Errorf("FoldChecksum: got %#04x, want %#04x", f, tc.stored)
			}
		})
	}
}

func TestFoldChecksum(t *testing.T) {
	tests := []struct {
		sum  uint32
		want uint16
	}{
		{0, 0xffff},
		{0xffff, 0},
		{0x1_0000, 0xfffe},    // carry 1 + 0
		{0xffff_ffff, 0},      // 0xffff + 0xffff = 0x1fffe -> 0xffff
		{0x0002_fffe, 0xfffe}, // 2 + 0xfffe = 0x10000 -> 1
	}
	for _, tc := range tests {
		if got := FoldChecksum(tc.sum); got != tc.want {
			t.Errorf("FoldChecksum(%#x): got %#04x, want %#04x", tc.sum, got, tc.want)
		}
	}
}

// TestChecksumMatchesReference holds the 8-bytes-at-a-time sum, and the
// vector one where the CPU has it, against the textbook 16-bit loop on random
// data of every length up to 700 and some long ones, odd and even, with
// random initial values.
func TestChecksumMatchesReference(t *testing.T) { eachSumLoop(t, checksumMatchesReference) }

func checksumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 9001)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	lengths := []int{1499, 1500, 1501, 4095, 4096, 9000, 9001}
	for n := 0; n <= 700; n++ { // past vectorMin and several 128-byte blocks
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for trial := 0; trial < 4; trial++ {
			start := rng.IntN(len(buf) - n + 1) // unaligned starts too
			b := buf[start : start+n]
			var initial uint32
			switch trial {
			case 1:
				initial = rng.Uint32()
			case 2:
				initial = 0xffffffff
			}
			got, want := Checksum(b, initial), uint32(naiveSum(b, initial))
			if got != want {
				t.Fatalf("len %d start %d initial %#x: got %#04x, want %#04x", n, start, initial, got, want)
			}
		}
	}
}

func TestChecksumAllOnesData(t *testing.T) {
	// Worst case for the carries: every addition overflows.
	for _, n := range []int{8, 64, 256, 1500, 65535, 1 << 20} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xff
		}
		if got, want := Checksum(b, 0xffffffff), uint32(naiveSum(b, 0xffffffff)); got != want {
			t.Errorf("len %d: got %#04x, want %#04x", n, got, want)
		}
	}
}

func TestChecksumChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 1501)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	whole := Checksum(b, 0)
	for _, cut := range []int{0, 2, 6, 8, 20, 36, 750, 1500} {
		if got := Checksum(b[cut:], Checksum(b[:cut], 0)); got != whole {
			t.Errorf("cut at %d: got %#04x, want %#04x", cut, got, whole)
		}
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string
		proto    uint8
		length   uint16
	}{
		{"IPv4 UDP", "10.199.0.1", "10.199.0.2", ProtocolUDP, 106},
		{"IPv4 TCP", "192.168.42.1", "255.255.255.255", ProtocolTCP, 65535},
		{"IPv4-mapped is IPv4", "::ffff:10.0.0.1", "::ffff:10.0.0.2", ProtocolUDP, 8},
		{"IPv6 UDP", "2001:db8::1", "2001:db8::2", ProtocolUDP, 1450},
		{"IPv6 all ones", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 255, 65535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst)
			// Build the pseudo-header as the RFCs draw it and sum it naively.
			var ph []byte
			if src.Unmap().Is4() {
				s, d := src.As4(), dst.As4()
				ph = append(append(ph, s[:]...), d[:]...)
				ph = append(ph, 0, tc.proto)
				ph = binary.BigEndian.AppendUint16(ph, tc.length)
			} else {
				s, d := src.As16(), dst.As16()
				ph = append(append(ph, s[:]...), d[:]...)
				ph = binary.BigEndian.AppendUint32(ph, uint32(tc.length))
				ph = append(ph, 0, 0, 0, tc.proto)
			}
			got := PseudoHeaderSum(tc.proto, src, dst, tc.length)
			if g, w := FoldChecksum(got), ^naiveSum(ph, 0); g != w {
				t.Errorf("folded: got %#04x, want %#04x", g, w)
			}
		})
	}
}

// TestChecksumCopy holds ChecksumCopy to copy and to the textbook 16-bit
// sum, on every length up to 700 and some long ones, at unaligned starts,
// with and without the vector loop: the bytes copied, the sum, and nothing
// written past the copy.
func TestChecksumCopy(t *testing.T) {
	eachSumLoop(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		src := make([]byte, 70000)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		dst := make([]byte, len(src)+64)
		lengths := []int{1448, 1500, 4096, 9001, 65535}
		for n := 0; n <= 700; n++ {
			lengths = append(lengths, n)
		}
		for _, n := range lengths {
			from := rng.IntN(len(src) - n + 1)
			to := rng.IntN(len(dst) - n - 32 + 1)
			for i := range dst {
				dst[i] = 0xa5
			}
			initial := rng.Uint32()
			b := src[from : from+n]
			got := ChecksumCopy(dst[to:], b, initial)
			if want := uint32(naiveSum(b, initial)); got != want {
				t.Fatalf("len %d: sum %#x, want %#x", n, got, want)
			}
			if !bytes.Equal(dst[to:to+n], b) {
				t.Fatalf("len %d: copy differs from the source", n)
			}
			for i, c := range dst {
				if (i < to || i >= to+n) && c != 0xa5 {
					t.Fatalf("len %d: byte %d outside the copy written", n, i)
				}
			}
		}
	})
}
