#include "textflag.h"

// INIT clears the accumulators Y0-Y3 and puts the mask of each 64-bit
// lane's low 32-bit word in Y15.
#define INIT \
	VPXOR    Y0, Y0, Y0    \
	VPXOR    Y1, Y1, Y1    \
	VPXOR    Y2, Y2, Y2    \
	VPXOR    Y3, Y3, Y3    \
	VPCMPEQQ Y15, Y15, Y15 \
	VPSRLQ   $32, Y15, Y15

// SPLITADD adds the 32-bit words of Y4-Y7 into the 64-bit lanes of Y0-Y3:
// the low word of each lane through the mask in Y15, the high one shifted
// down. It uses Y8-Y11.
#define SPLITADD \
	VPAND  Y4, Y15, Y8  \
	VPAND  Y5, Y15, Y9  \
	VPAND  Y6, Y15, Y10 \
	VPAND  Y7, Y15, Y11 \
	VPSRLQ $32, Y4, Y4  \
	VPSRLQ $32, Y5, Y5  \
	VPSRLQ $32, Y6, Y6  \
	VPSRLQ $32, Y7, Y7  \
	VPADDQ Y8, Y0, Y0   \
	VPADDQ Y9, Y1, Y1   \
	VPADDQ Y10, Y2, Y2  \
	VPADDQ Y11, Y3, Y3  \
	VPADDQ Y4, Y0, Y0   \
	VPADDQ Y5, Y1, Y1   \
	VPADDQ Y6, Y2, Y2   \
	VPADDQ Y7, Y3, Y3

// REDUCE adds the sixteen lanes of Y0-Y3 into AX and clears the upper
// halves of the vector registers for the SSE code that may follow.
#define REDUCE \
	VPADDQ       Y1, Y0, Y0 \
	VPADDQ       Y3, Y2, Y2 \
	VPADDQ       Y2, Y0, Y0 \
	VEXTRACTI128 $1, Y0, X1 \
	VPADDQ       X1, X0, X0 \
	VPEXTRQ      $1, X0, BX \
	MOVQ         X0, AX     \
	ADDQ         BX, AX     \
	VZEROUPPER

// func sumAVX2(b []byte) uint64
//
// Sums the little-endian 32-bit words of b[:len(b)&^31] into 64-bit lanes,
// so that no carry is lost: each 32-byte load is split into its low words
// (VPAND with 0x00000000ffffffff) and its high words (VPSRLQ by 32), both
// added into one of four accumulators so that the adds do not wait on each
// other; a last loop takes what is left 32 bytes at a time. Splitting a
// register, rather than widening 16-byte loads (VPMOVZXDQ, which measured
// the same here), lets copySumAVX2 store and sum what it loaded once. A lane
// gains at most 2^33 per 128 bytes, so sixteen lanes summed stay below 2^64
// for any b under 2^34 bytes; the caller passes at most 2^30.
TEXT ·sumAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	SHRQ $7, CX
	INIT
	TESTQ    CX, CX
	JZ       sumreduce

sumloop:
	VMOVDQU 0(SI), Y4
	VMOVDQU 32(SI), Y5
	VMOVDQU 64(SI), Y6
	VMOVDQU 96(SI), Y7
	SPLITADD
	ADDQ    $128, SI
	DECQ    CX
	JNZ     sumloop

sumreduce:
	MOVQ b_len+8(FP), CX
	ANDQ $127, CX
	SHRQ $5, CX
	JZ   sumdone

sumtail:
	VMOVDQU 0(SI), Y4
	VPAND   Y4, Y15, Y8
	VPSRLQ  $32, Y4, Y4
	VPADDQ  Y8, Y0, Y0
	VPADDQ  Y4, Y1, Y1
	ADDQ    $32, SI
	DECQ    CX
	JNZ     sumtail

sumdone:
	REDUCE
	MOVQ AX, ret+24(FP)
	RET

// func copySumAVX2(dst, src []byte) uint64
//
// Copies src[:len(src)&^31] to dst (which must be as long, and must not
// overlap it) and returns what sumAVX2 would of those bytes: each 32 bytes
// is loaded once, stored, and summed from the register.
TEXT ·copySumAVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $7, CX
	INIT
	TESTQ    CX, CX
	JZ       copyreduce

copyloop:
	VMOVDQU 0(SI), Y4
	VMOVDQU 32(SI), Y5
	VMOVDQU 64(SI), Y6
	VMOVDQU 96(SI), Y7
	VMOVDQU Y4, 0(DI)
	VMOVDQU Y5, 32(DI)
	VMOVDQU Y6, 64(DI)
	VMOVDQU Y7, 96(DI)
	SPLITADD
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     copyloop

copyreduce:
	MOVQ src_len+32(FP), CX
	ANDQ $127, CX
	SHRQ $5, CX
	JZ   copydone

copytail:
	VMOVDQU 0(SI), Y4
	VMOVDQU Y4, 0(DI)
	VPAND   Y4, Y15, Y8
	VPSRLQ  $32, Y4, Y4
	VPADDQ  Y8, Y0, Y0
	VPADDQ  Y4, Y1, Y1
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     copytail

copydone:
	REDUCE
	MOVQ AX, ret+48(FP)
	RET

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	RET
