//go:build !purego && !noasm

#include "textflag.h"

// Eight dwords of ones then eight of zeros: the eight from dword 8 − n on
// keep the first n lanes (VANDPS).
DATA keepmask<>+0(SB)/8, $-1
DATA keepmask<>+8(SB)/8, $-1
DATA keepmask<>+16(SB)/8, $-1
DATA keepmask<>+24(SB)/8, $-1
DATA keepmask<>+32(SB)/8, $0
DATA keepmask<>+40(SB)/8, $0
DATA keepmask<>+48(SB)/8, $0
DATA keepmask<>+56(SB)/8, $0
GLOBL keepmask<>(SB), RODATA|NOPTR, $64

// Sixteen bytes of ones then sixteen of zeros: the sixteen from byte
// 16 − n on select the first n lanes (VPBLENDVB).
DATA keepbytes<>+0(SB)/8, $-1
DATA keepbytes<>+8(SB)/8, $-1
DATA keepbytes<>+16(SB)/8, $0
DATA keepbytes<>+24(SB)/8, $0
GLOBL keepbytes<>(SB), RODATA|NOPTR, $32

// VPSHUFB indices gathering the even bytes of each 16-byte lane into its
// low 8 bytes (the high 8 are don't-cares, here zeroed by index 0x80).
DATA evenbytes<>+0(SB)/8, $0x0e0c0a0806040200
DATA evenbytes<>+8(SB)/8, $0x8080808080808080
DATA evenbytes<>+16(SB)/8, $0x0e0c0a0806040200
DATA evenbytes<>+24(SB)/8, $0x8080808080808080
GLOBL evenbytes<>(SB), RODATA|NOPTR, $32

// func addAVX2(y, a, b *float32, n int, floor float32)
//
// For i < n, a multiple of 8: y[i] = max(floor, a[i] + b[i]) with MAXPS
// returning its second source, the sum, when a lane is NaN or both are
// zero: floor 0 is Relu's "if v < 0 { v = 0 }" exactly, floor −∞ leaves
// every sum as it is.
TEXT ·addAVX2(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS floor+32(FP), Y2
	SHRQ $3, CX
	JZ adone

aloop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMAXPS Y0, Y2, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ aloop

adone:
	VZEROUPPER
	RET

// func biasRowsAVX2(dst, src *float32, rows, width, ld int, bias *float32, per, skip int, floor float32)
//
// For r < rows ≥ 1, with c = 0 − bias[r / per] (per ≥ 1):
// dst[r·width + i] = max(floor, src[r·ld + (r / per)·skip/4 + i] − c),
// MAXPS as in addAVX2 (skip: the bytes between the end of one block of
// per rows and the start of the next),
// for i < width. x − (0 − b) is x + b exactly for b ≠ 0 and x itself for
// b = ±0 (−0 stays −0). Only 8-lane loads and stores (AMD's VMASKMOVPS
// stores are microcoded and slow). Width ≥ 8: the row's full vectors,
// then, when width is not a multiple of 8, one more at width − 8,
// overlapping (it rewrites values with themselves). Width < 8: one vector
// from the row's start, whose store spills into the next row; the caller
// makes sure the 8 values are in bounds and that a later row overwrites
// the spill.
TEXT ·biasRowsAVX2(SB), NOSPLIT, $0-68
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ width+24(FP), R9
	MOVQ ld+32(FP), R10
	SHLQ $2, R10
	MOVQ bias+40(FP), R15
	MOVQ per+48(FP), R12
	MOVQ skip+56(FP), DX
	VBROADCASTSS floor+64(FP), Y2
	VXORPS Y4, Y4, Y4
	MOVQ R9, R13
	SHRQ $3, R13 // full vectors per row
	LEAQ -32(R9*4), R11 // byte offset of the overlapping last vector
	MOVQ R9, AX
	ANDQ $7, AX // width mod 8
	VBROADCASTSS (R15), Y1
	VSUBPS Y1, Y4, Y1
	MOVQ R12, R14
	CMPQ R9, $8
	JGE brow

bshort:
	VMOVUPS (SI), Y0
	VSUBPS Y1, Y0, Y0
	VMAXPS Y0, Y2, Y0
	VMOVUPS Y0, (DI)
	LEAQ (DI)(R9*4), DI
	ADDQ R10, SI
	DECQ R8
	JZ bdone
	DECQ R14
	JNZ bshort
	ADDQ DX, SI
	ADDQ $4, R15
	VBROADCASTSS (R15), Y1
	VSUBPS Y1, Y4, Y1
	MOVQ R12, R14
	JMP bshort

brow:
	XORQ BX, BX
	MOVQ R13, CX

bvec:
	VMOVUPS (SI)(BX*1), Y0
	VSUBPS Y1, Y0, Y0
	VMAXPS Y0, Y2, Y0
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ $32, BX
	DECQ CX
	JNZ bvec
	TESTQ AX, AX
	JZ bnext
	VMOVUPS (SI)(R11*1), Y0
	VSUBPS Y1, Y0, Y0
	VMAXPS Y0, Y2, Y0
	VMOVUPS Y0, (DI)(R11*1)

bnext:
	LEAQ (DI)(R9*4), DI
	ADDQ R10, SI
	DECQ R8
	JZ bdone
	DECQ R14
	JNZ brow
	ADDQ DX, SI
	ADDQ $4, R15
	VBROADCASTSS (R15), Y1
	VSUBPS Y1, Y4, Y1
	MOVQ R12, R14
	JMP brow

bdone:
	VZEROUPPER
	RET

// func placeRowsAVX2(dst, src *float32, rows, n, ldd, lds, stride int)
//
// For r < rows ≥ 1, i < n ≥ 1: dst[r·ldd + i] = src[r·lds + i·stride],
// stride 1 or 2. A vector of 8 outputs at i reads src from i·stride:
// 8 values (stride 1), or 16 whose even ones VSHUFPS and VPERMPD gather
// in order (stride 2). n ≥ 8: the full vectors, then, when n is not a
// multiple of 8, one at n − 8 (overlapping). n < 8: one vector whose
// lanes from n on are zeroed (VANDPS), stored whole.
TEXT ·placeRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ n+24(FP), R9
	MOVQ ldd+32(FP), R10
	SHLQ $2, R10
	MOVQ lds+40(FP), R11
	SHLQ $2, R11
	MOVQ stride+48(FP), R12
	CMPQ R9, $8
	JGE plong
	// n < 8: the mask of the first n lanes.
	MOVQ $8, AX
	SUBQ R9, AX
	LEAQ keepmask<>(SB), BX
	VMOVUPS (BX)(AX*4), Y3
	CMPQ R12, $1
	JNE pshort2

pshort1:
	VMOVUPS (SI), Y0
	VANDPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ pshort1
	VZEROUPPER
	RET

pshort2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y0
	VPERMPD $0xd8, Y0, Y0
	VANDPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ pshort2
	VZEROUPPER
	RET

plong:
	MOVQ R9, R13
	SHRQ $3, R13 // full vectors per row
	MOVQ R9, AX
	ANDQ $7, AX // n mod 8
	LEAQ -32(R9*4), R14 // dst bytes of the last vector
	CMPQ R12, $1
	JNE plong2

prow1:
	XORQ BX, BX
	MOVQ R13, CX

pvec1:
	VMOVUPS (SI)(BX*1), Y0
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ $32, BX
	DECQ CX
	JNZ pvec1
	TESTQ AX, AX
	JZ pnext1
	VMOVUPS (SI)(R14*1), Y0
	VMOVUPS Y0, (DI)(R14*1)

pnext1:
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ prow1
	VZEROUPPER
	RET

plong2:
	XORQ BX, BX // dst bytes; src bytes are twice that
	MOVQ R13, CX

pvec2:
	VMOVUPS (SI)(BX*2), Y0
	VMOVUPS 32(SI)(BX*2), Y1
	VSHUFPS $0x88, Y1, Y0, Y0
	VPERMPD $0xd8, Y0, Y0
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ $32, BX
	DECQ CX
	JNZ pvec2
	TESTQ AX, AX
	JZ pnext2
	VMOVUPS (SI)(R14*2), Y0
	VMOVUPS 32(SI)(R14*2), Y1
	VSHUFPS $0x88, Y1, Y0, Y0
	VPERMPD $0xd8, Y0, Y0
	VMOVUPS Y0, (DI)(R14*1)

pnext2:
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ plong2
	VZEROUPPER
	RET

// func placeRowsU8AVX2(dst, src *uint8, rows, n, ldd, lds, stride int, pad uint8)
//
// placeRowsAVX2 for bytes: for r < rows ≥ 1, i < n ≥ 1:
// dst[r·ldd + i] = src[r·lds + i·stride], stride 1 or 2, 16 outputs per
// vector. A vector at i reads 16 bytes (stride 1) or 32 whose even ones
// VPSHUFB and VPERMQ gather in order (stride 2) from i·stride. n ≥ 16:
// the full vectors and one at n − 16 (overlapping). n < 16: one vector
// whose lanes from n on are the padding code pad (VPBLENDVB).
TEXT ·placeRowsU8AVX2(SB), NOSPLIT, $0-57
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ n+24(FP), R9
	MOVQ ldd+32(FP), R10
	MOVQ lds+40(FP), R11
	MOVQ stride+48(FP), R12
	LEAQ evenbytes<>(SB), BX
	VMOVDQU (BX), Y5
	CMPQ R9, $16
	JGE ulong
	// n < 16: the mask of the first n lanes and the padding code.
	MOVQ $16, AX
	SUBQ R9, AX
	LEAQ keepbytes<>(SB), BX
	VMOVDQU (BX)(AX*1), X3
	VPBROADCASTB pad+56(FP), X4
	CMPQ R12, $1
	JNE ushort2

ushort1:
	VMOVDQU (SI), X0
	VPBLENDVB X3, X0, X4, X0
	VMOVDQU X0, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ ushort1
	VZEROUPPER
	RET

ushort2:
	VMOVDQU (SI), Y0
	VPSHUFB Y5, Y0, Y0
	VPERMQ $0x08, Y0, Y0
	VPBLENDVB X3, X0, X4, X0
	VMOVDQU X0, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ ushort2
	VZEROUPPER
	RET

ulong:
	MOVQ R9, R13
	SHRQ $4, R13 // full vectors per row
	MOVQ R9, AX
	ANDQ $15, AX // n mod 16
	LEAQ -16(R9), R14 // dst offset of the last vector
	CMPQ R12, $1
	JNE ulong2

urow1:
	XORQ BX, BX
	MOVQ R13, CX

uvec1:
	VMOVDQU (SI)(BX*1), X0
	VMOVDQU X0, (DI)(BX*1)
	ADDQ $16, BX
	DECQ CX
	JNZ uvec1
	TESTQ AX, AX
	JZ unext1
	VMOVDQU (SI)(R14*1), X0
	VMOVDQU X0, (DI)(R14*1)

unext1:
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ urow1
	VZEROUPPER
	RET

ulong2:
	XORQ BX, BX // dst offset; the src offset is twice that
	MOVQ R13, CX

uvec2:
	VMOVDQU (SI)(BX*2), Y0
	VPSHUFB Y5, Y0, Y0
	VPERMQ $0x08, Y0, Y0
	VMOVDQU X0, (DI)(BX*1)
	ADDQ $16, BX
	DECQ CX
	JNZ uvec2
	TESTQ AX, AX
	JZ unext2
	VMOVDQU (SI)(R14*2), Y0
	VPSHUFB Y5, Y0, Y0
	VPERMQ $0x08, Y0, Y0
	VMOVDQU X0, (DI)(R14*1)

unext2:
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ ulong2
	VZEROUPPER
	RET

// func maxPool2x2AVX2(dst, src *float32, n, w int)
//
// For j < n ≥ 8: dst[j] = the scan "best = a; for v in b, c, d: if v >
// best || v != v { best = v }" over a = src[2j], b = src[2j+1],
// c = src[w+2j], d = src[w+2j+1]: the first maximum (of equal values,
// ±0 too, the first), or the last NaN. MAXPS v, best returns v only when
// v > best (its first source when greater, else the second, also for NaN),
// and a blend puts v back where v is NaN (CMPPS unordered). Vectors of 8
// outputs read 16 values of each row, split into even and odd lanes by
// VSHUFPS and VPERMPD; the last vector starts at n − 8, overlapping.
//
// 4 ≤ n < 8: the same with 4-lane vectors, at 0 and n − 4, each reading
// 8 values of each row (VEXTRACTF128 and VSHUFPS split them).
TEXT ·maxPool2x2AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ w+24(FP), R8
	SHLQ $2, R8
	CMPQ CX, $8
	JLT mnarrow
	LEAQ -8(CX), R9 // the last vector's first output
	XORQ BX, BX // next output

mloop:
	CMPQ BX, CX
	JGE mdone
	LEAQ 8(BX), AX
	CMPQ AX, CX
	JLE mload
	MOVQ R9, BX // a partial last vector: redo it from n − 8

mload:
	LEAQ (SI)(BX*8), R10 // src + 2j floats
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VSHUFPS $0x88, Y1, Y0, Y2 // a: even lanes of row 0
	VSHUFPS $0xdd, Y1, Y0, Y3 // b: odd lanes
	VPERMPD $0xd8, Y2, Y2
	VPERMPD $0xd8, Y3, Y3
	VMOVUPS (R10)(R8*1), Y0
	VMOVUPS 32(R10)(R8*1), Y1
	VSHUFPS $0x88, Y1, Y0, Y4 // c
	VSHUFPS $0xdd, Y1, Y0, Y5 // d
	VPERMPD $0xd8, Y4, Y4
	VPERMPD $0xd8, Y5, Y5
	// best = a; then b, c, d in turn.
	VMAXPS Y2, Y3, Y6
	VCMPPS $3, Y3, Y3, Y7
	VBLENDVPS Y7, Y3, Y6, Y2
	VMAXPS Y2, Y4, Y6
	VCMPPS $3, Y4, Y4, Y7
	VBLENDVPS Y7, Y4, Y6, Y2
	VMAXPS Y2, Y5, Y6
	VCMPPS $3, Y5, Y5, Y7
	VBLENDVPS Y7, Y5, Y6, Y2
	VMOVUPS Y2, (DI)(BX*4)
	ADDQ $8, BX
	JMP mloop

mdone:
	VZEROUPPER
	RET

mnarrow:
	XORQ BX, BX
	CALL maxpool4<>(SB)
	LEAQ -4(CX), BX
	CALL maxpool4<>(SB)
	VZEROUPPER
	RET

// maxpool4 does the 4 outputs from BX (maxPool2x2AVX2's registers).
TEXT maxpool4<>(SB), NOSPLIT|NOFRAME, $0-0
	LEAQ (SI)(BX*8), R10
	VMOVUPS (R10), Y0
	VEXTRACTF128 $1, Y0, X1
	VSHUFPS $0x88, X1, X0, X2 // a
	VSHUFPS $0xdd, X1, X0, X3 // b
	VMOVUPS (R10)(R8*1), Y0
	VEXTRACTF128 $1, Y0, X1
	VSHUFPS $0x88, X1, X0, X4 // c
	VSHUFPS $0xdd, X1, X0, X5 // d
	VMAXPS X2, X3, X6
	VCMPPS $3, X3, X3, X7
	VBLENDVPS X7, X3, X6, X2
	VMAXPS X2, X4, X6
	VCMPPS $3, X4, X4, X7
	VBLENDVPS X7, X4, X6, X2
	VMAXPS X2, X5, X6
	VCMPPS $3, X5, X5, X7
	VBLENDVPS X7, X5, X6, X2
	VMOVUPS X2, (DI)(BX*4)
	RET

// func placeShortAVX512(dst, src *float32, rows, n, ldd, lds, stride int)
//
// placeRowsAVX2 for short rows, 1 ≤ n < 8, with AVX-512 masks: each row's
// reads stop at its last input, src[r·lds + (n−1)·stride], and its store
// writes its n outputs only (K1), so no row needs room past its end in
// either slice. Stride 2 gathers the even values of two masked 8-value
// loads (K2: the first min(2n−1, 8) values, K3: the rest) as the long
// path does.
TEXT ·placeShortAVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ ldd+32(FP), R10
	SHLQ $2, R10
	MOVQ lds+40(FP), R11
	SHLQ $2, R11
	MOVQ stride+48(FP), R12
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1 // the first n lanes
	CMPQ R12, $1
	JNE sshort2

sshort1:
	VMOVUPS.Z (SI), K1, Y0
	VMOVUPS Y0, K1, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ sshort1
	VZEROUPPER
	RET

sshort2:
	LEAQ -1(CX)(CX*1), DX // 2n − 1 values to read
	MOVQ $8, CX
	CMPQ DX, CX
	CMOVQLT DX, CX // the first load's: min(2n − 1, 8)
	SUBQ CX, DX // the second's, 0 to 5
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K2
	MOVQ DX, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K3

sloop2:
	VMOVUPS.Z (SI), K2, Y0
	VMOVUPS.Z 32(SI), K3, Y1
	VSHUFPS $0x88, Y1, Y0, Y0
	VPERMPD $0xd8, Y0, Y0
	VMOVUPS Y0, K1, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ sloop2
	VZEROUPPER
	RET

// func placeShortU8AVX512(dst, src *uint8, rows, n, ldd, lds, stride int)
//
// placeRowsU8AVX2 for short rows, 1 ≤ n < 16, with AVX-512 masks (BW,
// VL): reads stop at each row's last input and stores write its n codes
// only, leaving the padding after them as it is.
TEXT ·placeShortU8AVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ ldd+32(FP), R10
	MOVQ lds+40(FP), R11
	MOVQ stride+48(FP), R12
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVD AX, K1 // the first n lanes
	CMPQ R12, $1
	JNE ushortm2

ushortm1:
	VMOVDQU8.Z (SI), K1, X0
	VMOVDQU8 X0, K1, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ ushortm1
	VZEROUPPER
	RET

ushortm2:
	LEAQ -1(CX)(CX*1), CX // 2n − 1 ≤ 29 codes to read
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVD AX, K2
	LEAQ evenbytes<>(SB), BX
	VMOVDQU (BX), Y5

uloopm2:
	VMOVDQU8.Z (SI), K2, Y0
	VPSHUFB Y5, Y0, Y0
	VPERMQ $0x08, Y0, Y0
	VMOVDQU8 X0, K1, (DI)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JNZ uloopm2
	VZEROUPPER
	RET

// pairidx puts the even lanes of a 16-float vector in its low half and the
// odd lanes in its high half (VPERMPS).
DATA pairidx<>+0(SB)/8, $0x0000000200000000
DATA pairidx<>+8(SB)/8, $0x0000000600000004
DATA pairidx<>+16(SB)/8, $0x0000000a00000008
DATA pairidx<>+24(SB)/8, $0x0000000e0000000c
DATA pairidx<>+32(SB)/8, $0x0000000300000001
DATA pairidx<>+40(SB)/8, $0x0000000700000005
DATA pairidx<>+48(SB)/8, $0x0000000b00000009
DATA pairidx<>+56(SB)/8, $0x0000000f0000000d
GLOBL pairidx<>(SB), RODATA|NOPTR, $64

// FAKEQUANTZ fake-quantizes the 16 lanes of R in place with fakeQuantAVX2's
// operations in its order: Z5 the scale, Z6 the zero point, Z7 and Z8 the
// lowest and highest code.
#define FAKEQUANTZ(R) \
	VDIVPS Z5, R, R \
	VRNDSCALEPS $8, R, R \
	VADDPS Z6, R, R \
	VMAXPS R, Z7, R \
	VMINPS R, Z8, R \
	VSUBPS Z6, R, R \
	VMULPS Z5, R, R

// PAIRSETUP loads the arguments of the placePair kernels: DI, BX and SI
// the pointers, R9 the blocks, R8 the rows, K2 and K3 masks of nA and nB
// lanes, CX the span max(2nA − 1, 2nB), R10 and R11 the row pitches in
// bytes (dst values of 1 << DSHIFT bytes, src float32), R12 and R13 what
// the pointers move on by after a block's rows: bd − rows·ldd and
// bs − rows·lds.
#define PAIRSETUP(DSHIFT) \
	MOVQ dstA+0(FP), DI \
	MOVQ dstB+8(FP), BX \
	MOVQ src+16(FP), SI \
	MOVQ blocks+24(FP), R9 \
	MOVQ nA+40(FP), CX \
	MOVQ $1, AX \
	SHLQ CX, AX \
	DECQ AX \
	KMOVW AX, K2 \
	LEAQ -1(CX)(CX*1), R12 \
	MOVQ nB+48(FP), CX \
	MOVQ $1, AX \
	SHLQ CX, AX \
	DECQ AX \
	KMOVW AX, K3 \
	LEAQ (CX)(CX*1), CX \
	CMPQ CX, R12 \
	CMOVQLT R12, CX \
	MOVQ rows+32(FP), R8 \
	MOVQ ldd+56(FP), R10 \
	SHLQ $DSHIFT, R10 \
	MOVQ lds+64(FP), R11 \
	SHLQ $2, R11 \
	MOVQ R8, AX \
	IMULQ R10, AX \
	MOVQ bd+72(FP), R12 \
	SHLQ $DSHIFT, R12 \
	SUBQ AX, R12 \
	MOVQ R8, AX \
	IMULQ R11, AX \
	MOVQ bs+80(FP), R13 \
	SHLQ $2, R13 \
	SUBQ AX, R13

// func placePairAVX512(dstA, dstB, src *float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32])
//
// Both column phases of a stride-2 row at once, 1 ≤ nA, nB ≤ 8 and
// nA − 1 ≤ nB ≤ nA: for b < blocks, r < rows, the row's values from
// src[b·bs + r·lds] go, the even ones (nA) to dstA[b·bd + r·ldd] and the
// odd ones (nB) to dstB[b·bd + r·ldd]. One masked load reads the row's
// max(2nA − 1, 2nB) values and nothing past them; a VPERMPS splits it;
// masked stores write nA and nB values. With q not nil each value is
// fake-quantized first, with fakeQuantAVX2's operations in its order.
TEXT ·placePairAVX512(SB), NOSPLIT, $0-96
	PAIRSETUP(2)
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1 // the span
	VMOVUPS pairidx<>(SB), Z4
	MOVQ q+88(FP), AX
	TESTQ AX, AX
	JZ pplain
	VBROADCASTSS 0(AX), Z5 // scale
	VBROADCASTSS 4(AX), Z6 // zero point
	VBROADCASTSS 8(AX), Z7 // lo
	VBROADCASTSS 12(AX), Z8 // hi

pqblock:
	MOVQ R8, CX
pqrow:
	VMOVUPS.Z (SI), K1, Z0
	FAKEQUANTZ(Z0)
	VPERMPS Z0, Z4, Z0
	VMOVUPS Y0, K2, (DI)
	VEXTRACTF64X4 $1, Z0, Y1
	VMOVUPS Y1, K3, (BX)
	ADDQ R10, DI
	ADDQ R10, BX
	ADDQ R11, SI
	DECQ CX
	JNZ pqrow
	ADDQ R12, DI
	ADDQ R12, BX
	ADDQ R13, SI
	DECQ R9
	JNZ pqblock
	VZEROUPPER
	RET

pplain:
	MOVQ R8, CX
pprow:
	VMOVUPS.Z (SI), K1, Z0
	VPERMPS Z0, Z4, Z0
	VMOVUPS Y0, K2, (DI)
	VEXTRACTF64X4 $1, Z0, Y1
	VMOVUPS Y1, K3, (BX)
	ADDQ R10, DI
	ADDQ R10, BX
	ADDQ R11, SI
	DECQ CX
	JNZ pprow
	ADDQ R12, DI
	ADDQ R12, BX
	ADDQ R13, SI
	DECQ R9
	JNZ pplain
	VZEROUPPER
	RET

// func placePairU8AVX512(dstA, dstB *uint8, src *float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32])
//
// placePairAVX512 for the integer path: each value is quantized to its
// code under q (not nil) with quantizeCodesAVX2's operations in its order
// (a NaN takes the zero point's code), and the codes go to dstA and dstB.
// Needs AVX-512 F, BW and VL.
TEXT ·placePairU8AVX512(SB), NOSPLIT, $0-96
	PAIRSETUP(0)
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1 // the span
	VMOVUPS pairidx<>(SB), Z4
	MOVQ q+88(FP), AX
	VBROADCASTSS 0(AX), Z5 // scale
	VBROADCASTSS 4(AX), Z6 // zero point
	VBROADCASTSS 8(AX), Z7 // lo
	VBROADCASTSS 12(AX), Z8 // hi

publock:
	MOVQ R8, CX
purow:
	VMOVUPS.Z (SI), K1, Z0
	VDIVPS Z5, Z0, Z0
	VRNDSCALEPS $8, Z0, Z0
	VADDPS Z6, Z0, Z0
	VCMPPS $3, Z0, Z0, K4 // NaN lanes take the zero point
	VMOVAPS Z6, K4, Z0
	VMAXPS Z7, Z0, Z0
	VMINPS Z8, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPERMD Z0, Z4, Z0
	VPMOVDB Z0, X0
	VMOVDQU8 X0, K2, (DI)
	VPSRLDQ $8, X0, X1
	VMOVDQU8 X1, K3, (BX)
	ADDQ R10, DI
	ADDQ R10, BX
	ADDQ R11, SI
	DECQ CX
	JNZ purow
	ADDQ R12, DI
	ADDQ R12, BX
	ADDQ R13, SI
	DECQ R9
	JNZ publock
	VZEROUPPER
	RET

// func planeMeansAVX2(dst, src *float32, planes, n int, scale float32)
//
// For p < planes ≥ 1: dst[p] = s·scale, s the sum of src[p·n:(p+1)·n] in
// PlaneMeans's order: eight lanes sum the values 8j + l, the lanes are
// added as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), then the
// n mod 8 last values one by one.
TEXT ·planeMeansAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ planes+16(FP), R8
	MOVQ n+24(FP), R9
	VMOVSS scale+32(FP), X3
	MOVQ R9, R10
	SHRQ $3, R10 // full vectors per plane
	MOVQ R9, R11
	ANDQ $7, R11 // the tail

gplane:
	VXORPS Y0, Y0, Y0
	MOVQ R10, CX
	TESTQ CX, CX
	JZ greduce
gvec:
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ gvec
greduce:
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0 // l0+l4, l1+l5, l2+l6, l3+l7
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0 // (l0+l4)+(l2+l6), (l1+l5)+(l3+l7)
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	MOVQ R11, CX
	TESTQ CX, CX
	JZ gstore
gtail:
	VADDSS (SI), X0, X0
	ADDQ $4, SI
	DECQ CX
	JNZ gtail
gstore:
	VMULSS X3, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	DECQ R8
	JNZ gplane
	VZEROUPPER
	RET

// pairlo and pairhi take the even and the odd lanes of two 16-float
// vectors (VPERMT2PS).
DATA pairlo<>+0(SB)/8, $0x0000000200000000
DATA pairlo<>+8(SB)/8, $0x0000000600000004
DATA pairlo<>+16(SB)/8, $0x0000000a00000008
DATA pairlo<>+24(SB)/8, $0x0000000e0000000c
DATA pairlo<>+32(SB)/8, $0x0000001200000010
DATA pairlo<>+40(SB)/8, $0x0000001600000014
DATA pairlo<>+48(SB)/8, $0x0000001a00000018
DATA pairlo<>+56(SB)/8, $0x0000001e0000001c
GLOBL pairlo<>(SB), RODATA|NOPTR, $64
DATA pairhi<>+0(SB)/8, $0x0000000300000001
DATA pairhi<>+8(SB)/8, $0x0000000700000005
DATA pairhi<>+16(SB)/8, $0x0000000b00000009
DATA pairhi<>+24(SB)/8, $0x0000000f0000000d
DATA pairhi<>+32(SB)/8, $0x0000001300000011
DATA pairhi<>+40(SB)/8, $0x0000001700000015
DATA pairhi<>+48(SB)/8, $0x0000001b00000019
DATA pairhi<>+56(SB)/8, $0x0000001f0000001d
GLOBL pairhi<>(SB), RODATA|NOPTR, $64

// func placePairWideAVX512(dstA, dstB, src *float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32])
//
// placePairAVX512 for rows of 9 to 16 values, 8 ≤ nB ≤ nA ≤ 16, nA ≥ 9:
// two masked loads read the row's max(2nA − 1, 2nB) values (16, then
// the rest), two VPERMT2PS take their even and their odd lanes.
TEXT ·placePairWideAVX512(SB), NOSPLIT, $0-96
	PAIRSETUP(2)
	SUBQ $16, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1 // the second load's lanes: span − 16
	VMOVUPS pairlo<>(SB), Z4
	VMOVUPS pairhi<>(SB), Z9
	MOVQ q+88(FP), AX
	TESTQ AX, AX
	JZ wplain
	VBROADCASTSS 0(AX), Z5 // scale
	VBROADCASTSS 4(AX), Z6 // zero point
	VBROADCASTSS 8(AX), Z7 // lo
	VBROADCASTSS 12(AX), Z8 // hi

wqblock:
	MOVQ R8, CX
wqrow:
	VMOVUPS (SI), Z0
	VMOVUPS.Z 64(SI), K1, Z1
	FAKEQUANTZ(Z0)
	FAKEQUANTZ(Z1)
	VMOVAPS Z0, Z2
	VPERMT2PS Z1, Z4, Z0
	VPERMT2PS Z1, Z9, Z2
	VMOVUPS Z0, K2, (DI)
	VMOVUPS Z2, K3, (BX)
	ADDQ R10, DI
	ADDQ R10, BX
	ADDQ R11, SI
	DECQ CX
	JNZ wqrow
	ADDQ R12, DI
	ADDQ R12, BX
	ADDQ R13, SI
	DECQ R9
	JNZ wqblock
	VZEROUPPER
	RET

wplain:
	MOVQ R8, CX
wprow:
	VMOVUPS (SI), Z0
	VMOVUPS.Z 64(SI), K1, Z1
	VMOVAPS Z0, Z2
	VPERMT2PS Z1, Z4, Z0
	VPERMT2PS Z1, Z9, Z2
	VMOVUPS Z0, K2, (DI)
	VMOVUPS Z2, K3, (BX)
	ADDQ R10, DI
	ADDQ R10, BX
	ADDQ R11, SI
	DECQ CX
	JNZ wprow
	ADDQ R12, DI
	ADDQ R12, BX
	ADDQ R13, SI
	DECQ R9
	JNZ wplain
	VZEROUPPER
	RET
