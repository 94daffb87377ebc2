//go:build !purego && !noasm

#include "textflag.h"
#include "transpose_amd64.h"

// Quantization to and dequantization from integer codes for the integer
// layers (qconv.go), AVX2. Each computes exactly the float32 operations
// of its Go counterpart, in the same order and with the same roundings,
// so that both give the same bits. Operand order is Go's: sources first,
// destination last (VDIVPS d, x, z: z = x/d).

// func quantizeCodesAVX2(dst *uint8, src *float32, n int, scale, zp, lo, hi float32)
//
// For i < n, a multiple of 8: dst[i] = quantCode(src[i]):
// clamp(roundHalfEven(src[i]/scale) + zp, lo, hi), NaN to zp.
TEXT ·quantizeCodesAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y4
	VBROADCASTSS zp+28(FP), Y5
	VBROADCASTSS lo+32(FP), Y6
	VBROADCASTSS hi+36(FP), Y7
	SHRQ $3, CX
	JZ qdone

qloop:
	VMOVUPS (SI), Y0
	VDIVPS Y4, Y0, Y0
	// Round to the nearest integer, ties to even, without exceptions.
	VROUNDPS $8, Y0, Y0
	VADDPS Y5, Y0, Y0
	// NaN lanes take the zero point.
	VCMPPS $3, Y0, Y0, Y1
	VBLENDVPS Y1, Y5, Y0, Y0
	VMAXPS Y6, Y0, Y0
	VMINPS Y7, Y0, Y0
	// Integers in [0, 255]: convert exactly and narrow to bytes.
	VCVTPS2DQ Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VPACKUSWB X0, X0, X0
	VMOVQ X0, (DI)
	ADDQ $32, SI
	ADDQ $8, DI
	DECQ CX
	JNZ qloop

qdone:
	VZEROUPPER
	RET

// func dequantRowAVX2(dst *float32, acc *int32, n int, corr int32, scale, bias float32)
//
// For i < n, a multiple of 8: dst[i] = float32(acc[i] − corr)·scale + bias,
// rounding after the conversion, the product and the sum (no fused
// multiply-add).
TEXT ·dequantRowAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL corr+24(FP), AX
	VMOVD AX, X4
	VPBROADCASTD X4, Y4
	VBROADCASTSS scale+28(FP), Y5
	VBROADCASTSS bias+32(FP), Y6
	SHRQ $3, CX
	JZ ddone

dloop:
	VMOVDQU (SI), Y0
	VPSUBD Y4, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y5, Y0, Y0
	VADDPS Y6, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ dloop

ddone:
	VZEROUPPER
	RET

// func dequantRowsAVX2(dst *float32, acc *int32, rows, vecs, dstStride, srcStride int, corr int32, scale, bias float32)
//
// For r < rows and i < 8·vecs: dst[r·dstStride + i] =
// float32(acc[r·srcStride + i] − corr)·scale + bias, as dequantRowAVX2.
TEXT ·dequantRowsAVX2(SB), NOSPLIT, $0-60
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ vecs+24(FP), AX
	MOVQ dstStride+32(FP), R8
	SHLQ $2, R8
	MOVQ srcStride+40(FP), R9
	SHLQ $2, R9
	MOVL corr+48(FP), DX
	VMOVD DX, X4
	VPBROADCASTD X4, Y4
	VBROADCASTSS scale+52(FP), Y5
	VBROADCASTSS bias+56(FP), Y6

rowloop:
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ AX, CX

vecloop:
	VMOVDQU (R11), Y0
	VPSUBD Y4, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y5, Y0, Y0
	VADDPS Y6, Y0, Y0
	VMOVUPS Y0, (R10)
	ADDQ $32, R11
	ADDQ $32, R10
	DECQ CX
	JNZ vecloop
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ BX
	JNZ rowloop
	VZEROUPPER
	RET

// func fakeQuantAVX2(dst *float32, src *float32, n int, scale, zp, lo, hi float32)
//
// For i < n, a multiple of 8: dst[i] = FakeQuant.Apply(src[i]) with the
// same float32 operations in the same order (divide, round half to even,
// add the zero point, clamp, subtract it, multiply), so the results are
// bit for bit those of the scalar code; NaN stays NaN (the clamps take x
// as their second source, which MAXPS/MINPS return when a lane is NaN).
TEXT ·fakeQuantAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y4
	VBROADCASTSS zp+28(FP), Y5
	VBROADCASTSS lo+32(FP), Y6
	VBROADCASTSS hi+36(FP), Y7
	SHRQ $3, CX
	JZ fdone

floop:
	VMOVUPS (SI), Y0
	VDIVPS Y4, Y0, Y0
	VROUNDPS $8, Y0, Y0
	VADDPS Y5, Y0, Y0
	VMAXPS Y0, Y6, Y0
	VMINPS Y0, Y7, Y0
	VSUBPS Y5, Y0, Y0
	VMULPS Y4, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ floop

fdone:
	VZEROUPPER
	RET

// func reluAVX2(dst *float32, src *float32, n int)
//
// For i < n, a multiple of 8: dst[i] = max(src[i], 0), NaN staying NaN
// (MAXPS returns its second source, x, when a lane is NaN) and −0 kept
// as −0 only where x is −0 (a zero either way).
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y1, Y1, Y1
	SHRQ $4, CX
	JZ rtail

rloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y2
	VMAXPS Y0, Y1, Y0
	VMAXPS Y2, Y1, Y2
	VMOVUPS Y0, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ rloop

rtail:
	MOVQ n+16(FP), CX
	ANDQ $8, CX
	JZ rdone
	VMOVUPS (SI), Y0
	VMAXPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)

rdone:
	VZEROUPPER
	RET

// func dequantBlocksAVX512(dst *float32, acc *int32, blocks, rows, n, ld, lb int, rowSum *int32, zp int32, scale, bias *float32, floor float32)
//
// The dequantization of blocks ≥ 1 output channels of rows ≥ 1 rows of
// n ≥ 1 sums each, in one call: for b < blocks, r < rows, i < n,
//
//	dst[(b·rows + r)·n + i] = max(floor, float32(acc[b·lb + r·ld + i] − zp·rowSum[b])·scale[b] + bias[b])
//
// with the operations of dequantRowAVX2 (int32 subtraction, conversion,
// product, sum: each rounded as in Go), then VMAXPS as in biasRowsAVX2
// (floor 0: Relu exactly; −∞: no bound). Each row is done in vectors of
// 8, its last one masked (K1) to the values left, so nothing is read or
// written past a row's end.
TEXT ·dequantBlocksAVX512(SB), NOSPLIT, $0-92
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ blocks+16(FP), R8
	MOVQ n+32(FP), R10
	LEAQ -1(R10), DX
	SHRQ $3, DX
	SHLQ $5, DX // bytes of a row's unmasked vectors: ⌊(n−1)/8⌋·32
	MOVQ DX, CX
	SHRQ $2, CX
	NEGQ CX
	ADDQ R10, CX // values of the last vector, 1 to 8
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	SHLQ $2, R10 // bytes of a dst row
	MOVQ ld+40(FP), R11
	SHLQ $2, R11
	MOVQ rows+24(FP), AX
	IMULQ R11, AX
	MOVQ lb+48(FP), R12
	SHLQ $2, R12
	SUBQ AX, R12 // from the end of a block's rows to the next block
	MOVQ rowSum+56(FP), R13
	MOVL zp+64(FP), R14
	MOVQ scale+72(FP), AX
	MOVQ bias+80(FP), BX
	VBROADCASTSS floor+88(FP), Y7

dqblock:
	MOVL (R13), CX
	IMULL R14, CX
	VPBROADCASTD CX, Y4
	VBROADCASTSS (AX), Y5
	VBROADCASTSS (BX), Y6
	MOVQ rows+24(FP), R9

dqrow:
	XORQ CX, CX
	TESTQ DX, DX
	JZ dqtail

dqfull:
	VMOVDQU (SI)(CX*1), Y0
	VPSUBD Y4, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y5, Y0, Y0
	VADDPS Y6, Y0, Y0
	VMAXPS Y0, Y7, Y0
	VMOVUPS Y0, (DI)(CX*1)
	ADDQ $32, CX
	CMPQ CX, DX
	JLT dqfull

dqtail:
	VMOVDQU32.Z (SI)(CX*1), K1, Y0
	VPSUBD Y4, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y5, Y0, Y0
	VADDPS Y6, Y0, Y0
	VMAXPS Y0, Y7, Y0
	VMOVUPS Y0, K1, (DI)(CX*1)
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R9
	JNZ dqrow
	ADDQ R12, SI
	ADDQ $4, R13
	ADDQ $4, AX
	ADDQ $4, BX
	DECQ R8
	JNZ dqblock
	VZEROUPPER
	RET

// DQROW(i, R) sets R to row i of the tile (8 int32 at AX + i·64 + half
// offset in BX), minus corr[i], converted, times scale[i], plus bias[i]
// (corr, scale, bias at SI, DX, R8).
#define DQROW(i, R) \
	VMOVDQU (i*64)(AX)(BX*1), R \
	VPBROADCASTD (i*4)(SI), Y8 \
	VPSUBD Y8, R, R \
	VCVTDQ2PS R, R \
	VBROADCASTSS (i*4)(DX), Y8 \
	VMULPS Y8, R, R \
	VBROADCASTSS (i*4)(R8), Y8 \
	VADDPS Y8, R, R

// TSTORE(R) stores R as the next sample's 8 outputs (at DI, rows R9
// bytes apart) and returns when that was the last of CX samples.
#define TSTORE(R) \
	VMOVUPS R, (DI) \
	ADDQ R9, DI \
	DECQ CX \
	JZ tdone

// func dequantTileTAVX2(y *float32, ldy int, tile *int32, corr *int32, scale, bias *float32, cols int)
//
// For a tile of 8 output channels × 16 samples of int32 sums (row-major,
// 16 a row) and j < cols ≤ 16, i < 8: y[j·ldy + i] =
// float32(tile[i·16 + j] − corr[i])·scale[i] + bias[i], the same
// operations as the Go epilogue (no fused multiply-add): bit for bit its
// values. Each half of 8 samples is dequantized row by row, transposed
// 8×8 in registers and stored one sample (8 channels) at a time.
TEXT ·dequantTileTAVX2(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ ldy+8(FP), R9
	SHLQ $2, R9
	MOVQ tile+16(FP), AX
	MOVQ corr+24(FP), SI
	MOVQ scale+32(FP), DX
	MOVQ bias+40(FP), R8
	MOVQ cols+48(FP), CX
	XORQ BX, BX

thalf:
	DQROW(0, Y0)
	DQROW(1, Y1)
	DQROW(2, Y2)
	DQROW(3, Y3)
	DQROW(4, Y4)
	DQROW(5, Y5)
	DQROW(6, Y6)
	DQROW(7, Y7)
	TRANSPOSE8X8PS
	TSTORE(Y8)
	TSTORE(Y9)
	TSTORE(Y10)
	TSTORE(Y11)
	TSTORE(Y12)
	TSTORE(Y13)
	TSTORE(Y14)
	TSTORE(Y15)
	CMPQ BX, $0
	JNE tdone
	MOVQ $32, BX
	JMP thalf

tdone:
	VZEROUPPER
	RET
