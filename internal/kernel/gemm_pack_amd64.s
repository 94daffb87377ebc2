//go:build !purego && !noasm

#include "textflag.h"
#include "transpose_amd64.h"

// Transposing copies for packing a transposed B (gemm_block.go, packB):
// each block reads a few values from each of several rows of B and
// writes them as consecutive steps of a packed panel. Operand order is
// Go's: sources first, destination last (VSHUFPS $imm, src2, src1, dst).

// func transposeF32x8AVX2(dst *float32, ldd int, src *float32, lds int, blocks int)
//
// For each of blocks 8×8 blocks t: dst[(8t+l)·ldd + j] = src[j·lds + 8t + l]
// for j, l < 8.
TEXT ·transposeF32x8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R11
	SHLQ $2, R11
	LEAQ (R11)(R11*2), R12
	LEAQ (DI)(R11*4), R13
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R8*4), R10
	MOVQ blocks+32(FP), CX
	TESTQ CX, CX
	JZ f32done

f32loop:
	// Rows j of the block: Yj = src[j·lds + 0..7].
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVUPS (R10)(R8*2), Y6
	VMOVUPS (R10)(R9*1), Y7
	// Columns l of the block: Y8+l (transpose_amd64.h).
	TRANSPOSE8X8PS
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R11*1)
	VMOVUPS Y10, (DI)(R11*2)
	VMOVUPS Y11, (DI)(R12*1)
	VMOVUPS Y12, (R13)
	VMOVUPS Y13, (R13)(R11*1)
	VMOVUPS Y14, (R13)(R11*2)
	VMOVUPS Y15, (R13)(R12*1)
	ADDQ $32, SI
	ADDQ $32, R10
	LEAQ (DI)(R11*8), DI
	LEAQ (R13)(R11*8), R13
	DECQ CX
	JNZ f32loop

f32done:
	VZEROUPPER
	RET

// func transposeF64x4AVX2(dst *float64, ldd int, src *float64, lds int, blocks int)
//
// For each of blocks 4×4 blocks t: dst[(4t+l)·ldd + j] = src[j·lds + 4t + l]
// for j, l < 4.
TEXT ·transposeF64x4AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R11
	SHLQ $3, R11
	LEAQ (R11)(R11*2), R12
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	SHLQ $3, R8
	LEAQ (R8)(R8*2), R9
	MOVQ blocks+32(FP), CX
	TESTQ CX, CX
	JZ f64done

f64loop:
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(R8*1), Y1
	VMOVUPD (SI)(R8*2), Y2
	VMOVUPD (SI)(R9*1), Y3
	VUNPCKLPD Y1, Y0, Y4
	VUNPCKHPD Y1, Y0, Y5
	VUNPCKLPD Y3, Y2, Y6
	VUNPCKHPD Y3, Y2, Y7
	VPERM2F128 $0x20, Y6, Y4, Y0
	VPERM2F128 $0x20, Y7, Y5, Y1
	VPERM2F128 $0x31, Y6, Y4, Y2
	VPERM2F128 $0x31, Y7, Y5, Y3
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, (DI)(R11*1)
	VMOVUPD Y2, (DI)(R11*2)
	VMOVUPD Y3, (DI)(R12*1)
	ADDQ $32, SI
	LEAQ (DI)(R11*4), DI
	DECQ CX
	JNZ f64loop

f64done:
	VZEROUPPER
	RET
