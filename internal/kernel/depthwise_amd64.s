//go:build !purego && !noasm

#include "textflag.h"

// func depthwise3x3AVX2(dst *float32, src *float32, n, wp int, k *float32, b float32)
//
// The 3×3, stride-1, undilated depthwise correlation over wide columns
// (depthwise3x3Wide): for j < n, a multiple of 8,
//
//	dst[j] = b + k0·src[j] + k1·src[j+1] + k2·src[j+2]
//	           + k3·src[j+wp] + … + k8·src[j+2wp+2]
//
// with every product rounded and the sum taken left to right, the float32
// operations of the scalar loop in the same order (no fused multiply-add),
// so the results are bit for bit the same.
TEXT ·depthwise3x3AVX2(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ wp+24(FP), DX
	MOVQ k+32(FP), AX
	VBROADCASTSS b+40(FP), Y6
	VBROADCASTSS 0(AX), Y7
	VBROADCASTSS 4(AX), Y8
	VBROADCASTSS 8(AX), Y9
	VBROADCASTSS 12(AX), Y10
	VBROADCASTSS 16(AX), Y11
	VBROADCASTSS 20(AX), Y12
	VBROADCASTSS 24(AX), Y13
	VBROADCASTSS 28(AX), Y14
	VBROADCASTSS 32(AX), Y15
	SHLQ $2, DX              // row length in bytes
	LEAQ (SI)(DX*1), R8      // row 1
	LEAQ (R8)(DX*1), R9      // row 2
	SHRQ $3, CX
	JZ ddone

dloop:
	VMULPS (SI), Y7, Y0
	VADDPS Y0, Y6, Y1
	VMULPS 4(SI), Y8, Y0
	VADDPS Y0, Y1, Y1
	VMULPS 8(SI), Y9, Y0
	VADDPS Y0, Y1, Y1
	VMULPS (R8), Y10, Y0
	VADDPS Y0, Y1, Y1
	VMULPS 4(R8), Y11, Y0
	VADDPS Y0, Y1, Y1
	VMULPS 8(R8), Y12, Y0
	VADDPS Y0, Y1, Y1
	VMULPS (R9), Y13, Y0
	VADDPS Y0, Y1, Y1
	VMULPS 4(R9), Y14, Y0
	VADDPS Y0, Y1, Y1
	VMULPS 8(R9), Y15, Y0
	VADDPS Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, DI
	DECQ CX
	JNZ dloop

ddone:
	VZEROUPPER
	RET
