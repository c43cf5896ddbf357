package encap

import "math/bits"

// vectorChunk bounds one call of sumAVX2 or copySumAVX2, whose lanes hold
// exact sums only below 2^34 bytes.
const vectorChunk = 1 << 30

// hasAVX2 is whether this CPU and the kernel's saved state support AVX2:
// CPUID.1:ECX.OSXSAVE and AVX, XCR0 with the SSE and AVX state, and
// CPUID.7.0:EBX.AVX2 (Intel SDM volume 1, 14.3 and 14.7.1).
var hasAVX2 = detectAVX2()

// useVector is hasAVX2 unless a test turns it off to check the scalar loop
// on the same machine.
var useVector = hasAVX2

func detectAVX2() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	const sseAVXState = 1<<1 | 1<<2
	if xgetbv()&sseAVXState != sseAVXState {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

// sumVector sums the leading part of b that the vector loop takes (all but
// the last len(b)%32 bytes) and returns the sum, with end-around carries,
// and the number of bytes taken. The sum is of little-endian 32-bit words,
// which is the sum of 16-bit ones modulo 2^16-1, since 2^16 is 1 there
// (RFC 1071 section 2 (B)). Checksum calls it only when useVector is set.
func sumVector(b []byte) (acc uint64, n int) {
	var c uint64
	for len(b) >= 32 {
		chunk := min(len(b), vectorChunk) &^ 31
		acc, c = bits.Add64(acc, sumAVX2(b[:chunk]), c)
		b = b[chunk:]
		n += chunk
	}
	acc, c = bits.Add64(acc, 0, c)
	return acc + c, n // a carry out of the line above leaves acc at 0
}

// copySumVector copies the leading part of src that the vector loop takes
// to dst and returns its sum and length as sumVector does. dst is as long as
// src (ChecksumCopy sees to it), and each chunk is sliced from both before
// the assembly stores into it.
func copySumVector(dst, src []byte) (acc uint64, n int) {
	var c uint64
	for len(src) >= 32 {
		chunk := min(len(src), vectorChunk) &^ 31
		acc, c = bits.Add64(acc, copySumAVX2(dst[:chunk], src[:chunk]), c)
		dst, src = dst[chunk:], src[chunk:]
		n += chunk
	}
	acc, c = bits.Add64(acc, 0, c)
	return acc + c, n
}

//go:noescape
func sumAVX2(b []byte) uint64

//go:noescape
func copySumAVX2(dst, src []byte) uint64

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax uint32)
