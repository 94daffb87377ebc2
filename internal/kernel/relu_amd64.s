//go:build !purego && !noasm

#include "textflag.h"

// func reluAVX2F64(dst *float64, src *float64, n int)
//
// For i < n, a multiple of 4: dst[i] = max(src[i], 0) exactly as the
// scalar "if v < 0 { v = 0 }": MAXPD returns its second source, x, when
// a lane is NaN or both are zero, so NaN and −0 stay.
TEXT ·reluAVX2F64(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y1, Y1, Y1
	SHRQ $2, CX
	JZ   r64done

r64loop:
	VMOVUPD (SI), Y0
	VMAXPD  Y0, Y1, Y0
	VMOVUPD Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     r64loop

r64done:
	VZEROUPPER
	RET

// func reluBackAVX2F64(gx, x, gy *float64, n int)
//
// For i < n, a multiple of 4: gx[i] += gy[i] where x[i] > 0 (ordered: a
// NaN x passes nothing), gx[i] untouched elsewhere (a blend, not an
// addition of zero, so a −0 gradient stays −0 as in the scalar loop).
TEXT ·reluBackAVX2F64(SB), NOSPLIT, $0-32
	MOVQ gx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gy+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPD Y1, Y1, Y1
	SHRQ $2, CX
	JZ   b64done

b64loop:
	VMOVUPD   (SI), Y0
	VCMPPD    $0x1e, Y1, Y0, Y2 // x > 0, ordered, quiet
	VMOVUPD   (DI), Y4
	VADDPD    (DX), Y4, Y5
	VBLENDVPD Y2, Y5, Y4, Y4
	VMOVUPD   Y4, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $32, DX
	DECQ      CX
	JNZ       b64loop

b64done:
	VZEROUPPER
	RET

// func reluBackAVX2F32(gx, x, gy *float32, n int)
//
// reluBackAVX2F64 for float32, n a multiple of 8.
TEXT ·reluBackAVX2F32(SB), NOSPLIT, $0-32
	MOVQ gx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gy+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPS Y1, Y1, Y1
	SHRQ $3, CX
	JZ   b32done

b32loop:
	VMOVUPS   (SI), Y0
	VCMPPS    $0x1e, Y1, Y0, Y2
	VMOVUPS   (DI), Y4
	VADDPS    (DX), Y4, Y5
	VBLENDVPS Y2, Y5, Y4, Y4
	VMOVUPS   Y4, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $32, DX
	DECQ      CX
	JNZ       b32loop

b32done:
	VZEROUPPER
	RET
