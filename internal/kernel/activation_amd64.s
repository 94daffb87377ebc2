//go:build !purego && !noasm

#include "textflag.h"

// Constants of the activation kernels (activation.go), each as eight
// float32 (or int32) lanes for a 256-bit memory operand.

// |x| mask, eight times
DATA actabs<>+0(SB)/8, $0x7fffffff7fffffff
DATA actabs<>+8(SB)/8, $0x7fffffff7fffffff
DATA actabs<>+16(SB)/8, $0x7fffffff7fffffff
DATA actabs<>+24(SB)/8, $0x7fffffff7fffffff
GLOBL actabs<>(SB), RODATA|NOPTR, $32

// sign mask, eight times
DATA actsign<>+0(SB)/8, $0x8000000080000000
DATA actsign<>+8(SB)/8, $0x8000000080000000
DATA actsign<>+16(SB)/8, $0x8000000080000000
DATA actsign<>+24(SB)/8, $0x8000000080000000
GLOBL actsign<>(SB), RODATA|NOPTR, $32

// 1, eight times
DATA actone<>+0(SB)/8, $0x3f8000003f800000
DATA actone<>+8(SB)/8, $0x3f8000003f800000
DATA actone<>+16(SB)/8, $0x3f8000003f800000
DATA actone<>+24(SB)/8, $0x3f8000003f800000
GLOBL actone<>(SB), RODATA|NOPTR, $32

// 2, eight times
DATA acttwo<>+0(SB)/8, $0x4000000040000000
DATA acttwo<>+8(SB)/8, $0x4000000040000000
DATA acttwo<>+16(SB)/8, $0x4000000040000000
DATA acttwo<>+24(SB)/8, $0x4000000040000000
GLOBL acttwo<>(SB), RODATA|NOPTR, $32

// 1/2, eight times
DATA acthalf<>+0(SB)/8, $0x3f0000003f000000
DATA acthalf<>+8(SB)/8, $0x3f0000003f000000
DATA acthalf<>+16(SB)/8, $0x3f0000003f000000
DATA acthalf<>+24(SB)/8, $0x3f0000003f000000
GLOBL acthalf<>(SB), RODATA|NOPTR, $32

// 6, eight times
DATA actsix<>+0(SB)/8, $0x40c0000040c00000
DATA actsix<>+8(SB)/8, $0x40c0000040c00000
DATA actsix<>+16(SB)/8, $0x40c0000040c00000
DATA actsix<>+24(SB)/8, $0x40c0000040c00000
GLOBL actsix<>(SB), RODATA|NOPTR, $32

// log2(e), eight times
DATA actlog2e<>+0(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actlog2e<>+8(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actlog2e<>+16(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actlog2e<>+24(SB)/8, $0x3fb8aa3b3fb8aa3b
GLOBL actlog2e<>(SB), RODATA|NOPTR, $32

// expC1, eight times
DATA actc1<>+0(SB)/8, $0x3f3180003f318000
DATA actc1<>+8(SB)/8, $0x3f3180003f318000
DATA actc1<>+16(SB)/8, $0x3f3180003f318000
DATA actc1<>+24(SB)/8, $0x3f3180003f318000
GLOBL actc1<>(SB), RODATA|NOPTR, $32

// expC2, eight times
DATA actc2<>+0(SB)/8, $0xb95e8083b95e8083
DATA actc2<>+8(SB)/8, $0xb95e8083b95e8083
DATA actc2<>+16(SB)/8, $0xb95e8083b95e8083
DATA actc2<>+24(SB)/8, $0xb95e8083b95e8083
GLOBL actc2<>(SB), RODATA|NOPTR, $32

// expP0, eight times
DATA actp0<>+0(SB)/8, $0x3950696739506967
DATA actp0<>+8(SB)/8, $0x3950696739506967
DATA actp0<>+16(SB)/8, $0x3950696739506967
DATA actp0<>+24(SB)/8, $0x3950696739506967
GLOBL actp0<>(SB), RODATA|NOPTR, $32

// expP1, eight times
DATA actp1<>+0(SB)/8, $0x3ab743ce3ab743ce
DATA actp1<>+8(SB)/8, $0x3ab743ce3ab743ce
DATA actp1<>+16(SB)/8, $0x3ab743ce3ab743ce
DATA actp1<>+24(SB)/8, $0x3ab743ce3ab743ce
GLOBL actp1<>(SB), RODATA|NOPTR, $32

// expP2, eight times
DATA actp2<>+0(SB)/8, $0x3c0889083c088908
DATA actp2<>+8(SB)/8, $0x3c0889083c088908
DATA actp2<>+16(SB)/8, $0x3c0889083c088908
DATA actp2<>+24(SB)/8, $0x3c0889083c088908
GLOBL actp2<>(SB), RODATA|NOPTR, $32

// expP3, eight times
DATA actp3<>+0(SB)/8, $0x3d2aa9c13d2aa9c1
DATA actp3<>+8(SB)/8, $0x3d2aa9c13d2aa9c1
DATA actp3<>+16(SB)/8, $0x3d2aa9c13d2aa9c1
DATA actp3<>+24(SB)/8, $0x3d2aa9c13d2aa9c1
GLOBL actp3<>(SB), RODATA|NOPTR, $32

// expP4, eight times
DATA actp4<>+0(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA actp4<>+8(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA actp4<>+16(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA actp4<>+24(SB)/8, $0x3e2aaaaa3e2aaaaa
GLOBL actp4<>(SB), RODATA|NOPTR, $32

// expP5, eight times
DATA actp5<>+0(SB)/8, $0x3f0000003f000000
DATA actp5<>+8(SB)/8, $0x3f0000003f000000
DATA actp5<>+16(SB)/8, $0x3f0000003f000000
DATA actp5<>+24(SB)/8, $0x3f0000003f000000
GLOBL actp5<>(SB), RODATA|NOPTR, $32

// tanhQ0, eight times
DATA actq0<>+0(SB)/8, $0xbbbaf0eabbbaf0ea
DATA actq0<>+8(SB)/8, $0xbbbaf0eabbbaf0ea
DATA actq0<>+16(SB)/8, $0xbbbaf0eabbbaf0ea
DATA actq0<>+24(SB)/8, $0xbbbaf0eabbbaf0ea
GLOBL actq0<>(SB), RODATA|NOPTR, $32

// tanhQ1, eight times
DATA actq1<>+0(SB)/8, $0x3ca9134e3ca9134e
DATA actq1<>+8(SB)/8, $0x3ca9134e3ca9134e
DATA actq1<>+16(SB)/8, $0x3ca9134e3ca9134e
DATA actq1<>+24(SB)/8, $0x3ca9134e3ca9134e
GLOBL actq1<>(SB), RODATA|NOPTR, $32

// tanhQ2, eight times
DATA actq2<>+0(SB)/8, $0xbd5c1e2dbd5c1e2d
DATA actq2<>+8(SB)/8, $0xbd5c1e2dbd5c1e2d
DATA actq2<>+16(SB)/8, $0xbd5c1e2dbd5c1e2d
DATA actq2<>+24(SB)/8, $0xbd5c1e2dbd5c1e2d
GLOBL actq2<>(SB), RODATA|NOPTR, $32

// tanhQ3, eight times
DATA actq3<>+0(SB)/8, $0x3e0883933e088393
DATA actq3<>+8(SB)/8, $0x3e0883933e088393
DATA actq3<>+16(SB)/8, $0x3e0883933e088393
DATA actq3<>+24(SB)/8, $0x3e0883933e088393
GLOBL actq3<>(SB), RODATA|NOPTR, $32

// tanhQ4, eight times
DATA actq4<>+0(SB)/8, $0xbeaaaa99beaaaa99
DATA actq4<>+8(SB)/8, $0xbeaaaa99beaaaa99
DATA actq4<>+16(SB)/8, $0xbeaaaa99beaaaa99
DATA actq4<>+24(SB)/8, $0xbeaaaa99beaaaa99
GLOBL actq4<>(SB), RODATA|NOPTR, $32

// tanhSmall, eight times
DATA actsmall<>+0(SB)/8, $0x3f2000003f200000
DATA actsmall<>+8(SB)/8, $0x3f2000003f200000
DATA actsmall<>+16(SB)/8, $0x3f2000003f200000
DATA actsmall<>+24(SB)/8, $0x3f2000003f200000
GLOBL actsmall<>(SB), RODATA|NOPTR, $32

// tanhBig, eight times
DATA actten<>+0(SB)/8, $0x4120000041200000
DATA actten<>+8(SB)/8, $0x4120000041200000
DATA actten<>+16(SB)/8, $0x4120000041200000
DATA actten<>+24(SB)/8, $0x4120000041200000
GLOBL actten<>(SB), RODATA|NOPTR, $32

// sigmoidBig, eight times
DATA actbig<>+0(SB)/8, $0x42ae999a42ae999a
DATA actbig<>+8(SB)/8, $0x42ae999a42ae999a
DATA actbig<>+16(SB)/8, $0x42ae999a42ae999a
DATA actbig<>+24(SB)/8, $0x42ae999a42ae999a
GLOBL actbig<>(SB), RODATA|NOPTR, $32

// exponent bias (int32), eight times
DATA act127<>+0(SB)/8, $0x0000007f0000007f
DATA act127<>+8(SB)/8, $0x0000007f0000007f
DATA act127<>+16(SB)/8, $0x0000007f0000007f
DATA act127<>+24(SB)/8, $0x0000007f0000007f
GLOBL act127<>(SB), RODATA|NOPTR, $32

// 1/15, 1/13, …, 1/3 as Go rounds them (softplus32's series).

// actr15, eight times
DATA actr15<>+0(SB)/8, $0x3d8888893d888889
DATA actr15<>+8(SB)/8, $0x3d8888893d888889
DATA actr15<>+16(SB)/8, $0x3d8888893d888889
DATA actr15<>+24(SB)/8, $0x3d8888893d888889
GLOBL actr15<>(SB), RODATA|NOPTR, $32

// actr13, eight times
DATA actr13<>+0(SB)/8, $0x3d9d89d93d9d89d9
DATA actr13<>+8(SB)/8, $0x3d9d89d93d9d89d9
DATA actr13<>+16(SB)/8, $0x3d9d89d93d9d89d9
DATA actr13<>+24(SB)/8, $0x3d9d89d93d9d89d9
GLOBL actr13<>(SB), RODATA|NOPTR, $32

// actr11, eight times
DATA actr11<>+0(SB)/8, $0x3dba2e8c3dba2e8c
DATA actr11<>+8(SB)/8, $0x3dba2e8c3dba2e8c
DATA actr11<>+16(SB)/8, $0x3dba2e8c3dba2e8c
DATA actr11<>+24(SB)/8, $0x3dba2e8c3dba2e8c
GLOBL actr11<>(SB), RODATA|NOPTR, $32

// actr9, eight times
DATA actr9<>+0(SB)/8, $0x3de38e393de38e39
DATA actr9<>+8(SB)/8, $0x3de38e393de38e39
DATA actr9<>+16(SB)/8, $0x3de38e393de38e39
DATA actr9<>+24(SB)/8, $0x3de38e393de38e39
GLOBL actr9<>(SB), RODATA|NOPTR, $32

// actr7, eight times
DATA actr7<>+0(SB)/8, $0x3e1249253e124925
DATA actr7<>+8(SB)/8, $0x3e1249253e124925
DATA actr7<>+16(SB)/8, $0x3e1249253e124925
DATA actr7<>+24(SB)/8, $0x3e1249253e124925
GLOBL actr7<>(SB), RODATA|NOPTR, $32

// actr5, eight times
DATA actr5<>+0(SB)/8, $0x3e4ccccd3e4ccccd
DATA actr5<>+8(SB)/8, $0x3e4ccccd3e4ccccd
DATA actr5<>+16(SB)/8, $0x3e4ccccd3e4ccccd
DATA actr5<>+24(SB)/8, $0x3e4ccccd3e4ccccd
GLOBL actr5<>(SB), RODATA|NOPTR, $32

// actr3, eight times
DATA actr3<>+0(SB)/8, $0x3eaaaaab3eaaaaab
DATA actr3<>+8(SB)/8, $0x3eaaaaab3eaaaaab
DATA actr3<>+16(SB)/8, $0x3eaaaaab3eaaaaab
DATA actr3<>+24(SB)/8, $0x3eaaaaab3eaaaaab
GLOBL actr3<>(SB), RODATA|NOPTR, $32

// EXP32 sets O to exp32(V) lane by lane (activation.go: the same float32
// operations in the same order), N, R and T are scratch; V is kept.
#define EXP32(V, O, N, R, T) \
	VMULPS actlog2e<>(SB), V, N \
	VADDPS acthalf<>(SB), N, N \
	VROUNDPS $9, N, N \
	VMULPS actc1<>(SB), N, T \
	VSUBPS T, V, R \
	VMULPS actc2<>(SB), N, T \
	VSUBPS T, R, R \
	VMULPS actp0<>(SB), R, O \
	VADDPS actp1<>(SB), O, O \
	VMULPS R, O, O \
	VADDPS actp2<>(SB), O, O \
	VMULPS R, O, O \
	VADDPS actp3<>(SB), O, O \
	VMULPS R, O, O \
	VADDPS actp4<>(SB), O, O \
	VMULPS R, O, O \
	VADDPS actp5<>(SB), O, O \
	VMULPS R, R, T \
	VMULPS T, O, O \
	VADDPS R, O, O \
	VADDPS actone<>(SB), O, O \
	VCVTPS2DQ N, N \
	VPADDD act127<>(SB), N, N \
	VPSLLD $23, N, N \
	VMULPS N, O, O

// EXPNEGABS sets E to exp32(−min(|X|, 87.3)), zeroed in the lanes where
// |X| ≥ 87.3 (the sigmoid's and the softplus's small term); it uses Y1, Y2
// and Y4–Y8 as scratch and keeps X.
#define EXPNEGABS(X, E) \
	VANDPS actabs<>(SB), X, Y1 \
	VMINPS actbig<>(SB), Y1, Y4 \
	VCMPPS $1, actbig<>(SB), Y1, Y2 \
	VXORPS actsign<>(SB), Y4, Y4 \
	EXP32(Y4, E, Y5, Y6, Y8) \
	VANDPS Y2, E, E


// func clampAVX2(y, x *float32, n int, lo, hi, z float32)
//
// For i < n, a multiple of 8: y[i] = min(max(x[i], lo), hi) as Go's min
// and max compute it, for lo and hi not NaN and hi not −0: MAXPS and
// MINPS return their second source, x, for NaN and for two zeros, and
// adding z (+0 when lo is +0, else −0) turns the −0 that max(−0, +0)
// must not give into +0 and leaves every other value as it is.
TEXT ·clampAVX2(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS lo+24(FP), Y4
	VBROADCASTSS hi+28(FP), Y5
	VBROADCASTSS z+32(FP), Y6
	SHRQ $3, CX
	JZ cdone

cloop:
	VMOVUPS (SI), Y0
	VMAXPS Y0, Y4, Y0
	VADDPS Y6, Y0, Y0
	VMINPS Y0, Y5, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ cloop

cdone:
	VZEROUPPER
	RET

// func hardAVX2(y, x *float32, n int, a, b float32, swish bool)
//
// For i < n, a multiple of 8: t = a·x[i] + b (HardSigmoid) or
// x[i]/a + b (HardSwish, a = 6), then t = min(max(t, 0), 1) as Go
// computes it (see clampAVX2: z = +0), and y[i] = t, or x[i]·t for
// HardSwish.
TEXT ·hardAVX2(SB), NOSPLIT, $0-33
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y4
	VBROADCASTSS b+28(FP), Y5
	MOVBLZX swish+32(FP), AX
	VXORPS Y6, Y6, Y6
	VMOVUPS actone<>(SB), Y7
	SHRQ $3, CX
	JZ hdone
	TESTQ AX, AX
	JNZ sloop

hloop:
	VMOVUPS (SI), Y0
	VMULPS Y4, Y0, Y1
	VADDPS Y5, Y1, Y1
	VMAXPS Y1, Y6, Y1
	VADDPS Y6, Y1, Y1
	VMINPS Y1, Y7, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ hloop
	JMP hdone

sloop:
	VMOVUPS (SI), Y0
	VDIVPS Y4, Y0, Y1
	VADDPS Y5, Y1, Y1
	VMAXPS Y1, Y6, Y1
	VADDPS Y6, Y1, Y1
	VMINPS Y1, Y7, Y1
	VMULPS Y1, Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ sloop

hdone:
	VZEROUPPER
	RET

// func tanhAVX2(y, x *float32, n int)
//
// For i < n, a multiple of 8: y[i] = tanh32(x[i]), both branches computed
// on |x| and the one for its range kept, then x's sign set; NaN lanes
// take x.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ tdone

tloop:
	VMOVUPS (SI), Y0
	VANDPS actabs<>(SB), Y0, Y1
	// Below 0.625: ((((q0·z + q1)·z + q2)·z + q3)·z + q4)·z·a + a, z = a².
	VMULPS Y1, Y1, Y2
	VMULPS actq0<>(SB), Y2, Y3
	VADDPS actq1<>(SB), Y3, Y3
	VMULPS Y2, Y3, Y3
	VADDPS actq2<>(SB), Y3, Y3
	VMULPS Y2, Y3, Y3
	VADDPS actq3<>(SB), Y3, Y3
	VMULPS Y2, Y3, Y3
	VADDPS actq4<>(SB), Y3, Y3
	VMULPS Y2, Y3, Y3
	VMULPS Y1, Y3, Y3
	VADDPS Y1, Y3, Y3
	// Above: 1 − 2/(e + 1), e = exp32(2·min(a, 10)).
	VMINPS actten<>(SB), Y1, Y4
	VADDPS Y4, Y4, Y4
	EXP32(Y4, Y7, Y5, Y6, Y8)
	VADDPS actone<>(SB), Y7, Y7
	VMOVUPS acttwo<>(SB), Y8
	VDIVPS Y7, Y8, Y8
	VMOVUPS actone<>(SB), Y9
	VSUBPS Y8, Y9, Y9
	VCMPPS $1, actsmall<>(SB), Y1, Y10
	VBLENDVPS Y10, Y3, Y9, Y9
	VANDPS actsign<>(SB), Y0, Y11
	VORPS Y11, Y9, Y9
	VCMPPS $3, Y0, Y0, Y12
	VBLENDVPS Y12, Y0, Y9, Y9
	VMOVUPS Y9, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ tloop

tdone:
	VZEROUPPER
	RET

// func sigmoidAVX2(y, x *float32, n int)
//
// For i < n, a multiple of 8: y[i] = sigmoid32(x[i]): e = exp32(−min(|x|,
// 87.3)), zeroed where |x| ≥ 87.3, then 1/(1 + e) for x ≥ 0 and e/(1 + e)
// for x < 0; NaN lanes take x.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y13, Y13, Y13
	SHRQ $3, CX
	JZ gdone

gloop:
	VMOVUPS (SI), Y0
	EXPNEGABS(Y0, Y7)
	VADDPS actone<>(SB), Y7, Y8
	VMOVUPS actone<>(SB), Y9
	VDIVPS Y8, Y9, Y9
	VDIVPS Y8, Y7, Y10
	VCMPPS $1, Y13, Y0, Y12
	VBLENDVPS Y12, Y10, Y9, Y9
	VCMPPS $3, Y0, Y0, Y12
	VBLENDVPS Y12, Y0, Y9, Y9
	VMOVUPS Y9, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ gloop

gdone:
	VZEROUPPER
	RET

// BINLOOP runs y[i] = a op b over n/8 vectors (CX), a and b each either
// a vector loaded from SI / DX (advanced) or a broadcast value: sa and sb
// (R8, R9) are 1 for a vector, 0 for the value at the start.
#define BINLOOP(OP, VV, BS, BSL, AS, ASL) \
	CMPQ R8, $0 \
	JEQ AS \
	CMPQ R9, $0 \
	JEQ BS \
VV: \
	VMOVUPS (SI), Y0 \
	OP (DX), Y0, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $32, DI \
	DECQ CX \
	JNZ VV \
	JMP bdone \
BS: \
	VBROADCASTSS (DX), Y1 \
BSL: \
	VMOVUPS (SI), Y0 \
	OP Y1, Y0, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DI \
	DECQ CX \
	JNZ BSL \
	JMP bdone \
AS: \
	VBROADCASTSS (SI), Y1 \
ASL: \
	OP (DX), Y1, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, DX \
	ADDQ $32, DI \
	DECQ CX \
	JNZ ASL \
	JMP bdone

// func binaryAVX2(y, a, b *float32, n int, op byte, sa, sb int)
//
// For i < n, a multiple of 8: y[i] = a[i·sa] op b[i·sb] with op '+', '-',
// '*' or '/' (one IEEE operation, as the scalar code does), sa and sb 1
// or 0 and not both 0.
TEXT ·binaryAVX2(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVBLZX op+32(FP), AX
	MOVQ sa+40(FP), R8
	MOVQ sb+48(FP), R9
	SHRQ $3, CX
	JZ bdone
	CMPB AL, $'+'
	JEQ badd
	CMPB AL, $'-'
	JEQ bsub
	CMPB AL, $'*'
	JEQ bmul
	JMP bdiv

badd:
	BINLOOP(VADDPS, addvv, addbs, addbsl, addas, addasl)

bsub:
	BINLOOP(VSUBPS, subvv, subbs, subbsl, subas, subasl)

bmul:
	BINLOOP(VMULPS, mulvv, mulbs, mulbsl, mulas, mulasl)

bdiv:
	BINLOOP(VDIVPS, divvv, divbs, divbsl, divas, divasl)

bdone:
	VZEROUPPER
	RET

// func fillAVX2(dst *float32, n int, v float32)
//
// For i < n, a multiple of 8: dst[i] = v.
TEXT ·fillAVX2(SB), NOSPLIT, $0-20
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS v+16(FP), Y0
	SHRQ $3, CX
	JZ fdone

floop:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ floop

fdone:
	VZEROUPPER
	RET

// func maxMinAVX2(y, a, b *float32, n int, isMax bool)
//
// For i < n, a multiple of 8: y[i] = max(a[i], b[i]) (isMax) or
// min(a[i], b[i]) as Go's builtins compute them: MAXPS/MINPS return their
// second source, b, for NaN and for two zeros, so lanes where a is NaN
// take a, and lanes where a = b (two zeros of either sign, or one value)
// take a AND b for max (+0 unless both are −0) and a OR b for min.
TEXT ·maxMinAVX2(SB), NOSPLIT, $0-33
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVBLZX isMax+32(FP), AX
	SHRQ $3, CX
	JZ mmdone
	TESTQ AX, AX
	JZ mnloop

mxloop:
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y1
	VMAXPS Y1, Y0, Y2
	VCMPPS $0, Y1, Y0, Y3
	VANDPS Y1, Y0, Y4
	VBLENDVPS Y3, Y4, Y2, Y2
	VCMPPS $3, Y0, Y0, Y3
	VBLENDVPS Y3, Y0, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ mxloop
	JMP mmdone

mnloop:
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y1
	VMINPS Y1, Y0, Y2
	VCMPPS $0, Y1, Y0, Y3
	VORPS Y1, Y0, Y4
	VBLENDVPS Y3, Y4, Y2, Y2
	VCMPPS $3, Y0, Y0, Y3
	VBLENDVPS Y3, Y0, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ mnloop

mmdone:
	VZEROUPPER
	RET

// func leakyAVX2(y, x *float32, n int, alpha float32)
//
// For i < n, a multiple of 8: y[i] = x[i]·alpha where x[i] < 0, else
// x[i] (NaN and −0 too), as Go's "if v < 0 { v *= alpha }".
TEXT ·leakyAVX2(SB), NOSPLIT, $0-28
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS alpha+24(FP), Y4
	VXORPS Y5, Y5, Y5
	SHRQ $3, CX
	JZ lkdone

lkloop:
	VMOVUPS (SI), Y0
	VMULPS Y4, Y0, Y1
	VCMPPS $1, Y5, Y0, Y2
	VBLENDVPS Y2, Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ lkloop

lkdone:
	VZEROUPPER
	RET

// func softplusAVX2(y, x *float32, n int)
//
// For i < n, a multiple of 8: y[i] = softplus32(x[i]): u = exp32(−min(|x|,
// 87.3)), zeroed where |x| ≥ 87.3, s = u/(2 + u), z = s², the series
// p = ((…(z/15 + 1/13)·z + …)·z + 1/3)·z + 1, then max(x, 0) + (2s)·p
// (MAXPS returns its second source, +0, for x = ±0); NaN lanes take x.
TEXT ·softplusAVX2(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y14, Y14, Y14
	SHRQ $3, CX
	JZ spdone

sploop:
	VMOVUPS (SI), Y0
	EXPNEGABS(Y0, Y7)
	VADDPS acttwo<>(SB), Y7, Y8
	VDIVPS Y8, Y7, Y9
	VMULPS Y9, Y9, Y10
	VMULPS actr15<>(SB), Y10, Y11
	VADDPS actr13<>(SB), Y11, Y11
	VMULPS Y10, Y11, Y11
	VADDPS actr11<>(SB), Y11, Y11
	VMULPS Y10, Y11, Y11
	VADDPS actr9<>(SB), Y11, Y11
	VMULPS Y10, Y11, Y11
	VADDPS actr7<>(SB), Y11, Y11
	VMULPS Y10, Y11, Y11
	VADDPS actr5<>(SB), Y11, Y11
	VMULPS Y10, Y11, Y11
	VADDPS actr3<>(SB), Y11, Y11
	VMULPS Y10, Y11, Y11
	VADDPS actone<>(SB), Y11, Y11
	VADDPS Y9, Y9, Y12
	VMULPS Y11, Y12, Y12
	VMAXPS Y14, Y0, Y13
	VADDPS Y12, Y13, Y13
	VCMPPS $3, Y0, Y0, Y3
	VBLENDVPS Y3, Y0, Y13, Y13
	VMOVUPS Y13, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ sploop

spdone:
	VZEROUPPER
	RET

// func expStoreAVX2(y, x *float32, n int, m float32) float32
//
// For n a multiple of 8 ≥ 8: the sum of e = exp32(x[i] − m), 0 where
// x[i] − m ≤ −87.3 or is NaN, in eight partial sums (lane l takes the
// values 8j + l) added as ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 +
// s7)): ExpSum's order. Unless y is nil, each term is stored in y[i].
TEXT ·expStoreAVX2(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y9
	VXORPS Y10, Y10, Y10 // the partial sums
	VMOVUPS actbig<>(SB), Y11
	VXORPS actsign<>(SB), Y11, Y11 // −87.3
	SHRQ $3, CX

etloop:
	VMOVUPS (SI), Y0
	VSUBPS Y9, Y0, Y0 // d = x − m
	VCMPPS $1, Y0, Y11, Y12 // −87.3 < d (false for NaN)
	VMAXPS Y0, Y11, Y3
	EXP32(Y3, Y7, Y5, Y6, Y8)
	VANDPS Y12, Y7, Y7
	VADDPS Y7, Y10, Y10
	ADDQ $32, SI
	TESTQ DI, DI
	JZ etnext
	VMOVUPS Y7, (DI)
	ADDQ $32, DI
etnext:
	DECQ CX
	JNZ etloop

	VEXTRACTF128 $1, Y10, X1
	VADDPS X1, X10, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// erfc<> holds erf32's constants, one float32 each (broadcast):
// P0..P5, Q1..Q5, 4, −4, 1, −1.
DATA erfc<>+0(SB)/4, $0x3f906eba // P0
DATA erfc<>+4(SB)/4, $0x3e4632ed // P1
DATA erfc<>+8(SB)/4, $0x3d5981e5 // P2
DATA erfc<>+12(SB)/4, $0x3b7e8374 // P3
DATA erfc<>+16(SB)/4, $0x39952f2f // P4
DATA erfc<>+20(SB)/4, $0x36054e31 // P5
DATA erfc<>+24(SB)/4, $0x3f013ed5 // Q1
DATA erfc<>+28(SB)/4, $0x3dec3e3f // Q2
DATA erfc<>+32(SB)/4, $0x3c7929db // Q3
DATA erfc<>+36(SB)/4, $0x3a9b656c // Q4
DATA erfc<>+40(SB)/4, $0x381cee4c // Q5
DATA erfc<>+44(SB)/4, $0x40800000 // BIG
DATA erfc<>+48(SB)/4, $0xc0800000 // NBIG
DATA erfc<>+52(SB)/4, $0x3f800000 // ONE
DATA erfc<>+56(SB)/4, $0xbf800000 // NONE
GLOBL erfc<>(SB), RODATA|NOPTR, $60

// ERFSTEP(off, R) is one Horner step of erf32's polynomials in t = a²
// (Y2): R = (R + c)·t for the constant at erfc<>+off.
#define ERFSTEP(off, R) \
	VBROADCASTSS erfc<>+off(SB), Y9 \
	VADDPS Y9, R, R \
	VMULPS Y2, R, R

// func erfAVX2(y, x *float32, n int)
//
// For i < n, a multiple of 8: y[i] = erf32(x[i]), the same operations in
// the same order (no fused multiply-adds), so bit for bit erf32's value:
// a = min(max(x, −4), 4), t = a², a·P(t)/Q(t) clamped to [−1, 1]; NaN
// lanes take x.
TEXT ·erfAVX2(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ edone
	VBROADCASTSS erfc<>+48(SB), Y10
	VBROADCASTSS erfc<>+44(SB), Y11
	VBROADCASTSS erfc<>+52(SB), Y12
	VBROADCASTSS erfc<>+56(SB), Y13

eloop:
	VMOVUPS (SI), Y0
	VMAXPS Y10, Y0, Y1
	VMINPS Y11, Y1, Y1
	VMULPS Y1, Y1, Y2
	VBROADCASTSS erfc<>+20(SB), Y3
	VMULPS Y2, Y3, Y3
	ERFSTEP(16, Y3)
	ERFSTEP(12, Y3)
	ERFSTEP(8, Y3)
	ERFSTEP(4, Y3)
	VBROADCASTSS erfc<>+0(SB), Y9
	VADDPS Y9, Y3, Y3
	VBROADCASTSS erfc<>+40(SB), Y4
	VMULPS Y2, Y4, Y4
	ERFSTEP(36, Y4)
	ERFSTEP(32, Y4)
	ERFSTEP(28, Y4)
	ERFSTEP(24, Y4)
	VADDPS Y12, Y4, Y4
	VMULPS Y3, Y1, Y5
	VDIVPS Y4, Y5, Y5
	VMAXPS Y13, Y5, Y5
	VMINPS Y12, Y5, Y5
	VCMPPS $3, Y0, Y0, Y6
	VBLENDVPS Y6, Y0, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ eloop

edone:
	VZEROUPPER
	RET
