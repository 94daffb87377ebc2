//go:build !purego && !noasm

package kernel

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Block sizes for a core with 32–48 KiB of L1 data cache and 512 KiB or
// more of L2 (AMD Zen 2–4, Intel Skylake and later): a kc×nr panel of B
// takes 16 KiB, an mc×kc block of A 144–256 KiB.
var (
	avx2Arch32   = &gemmArch[float32]{name: "avx2", mr: 6, nr: 16, mc: 144, kc: 256, nc: 4080, kernels: sgemmAVX2Kernels, ind: sgemmAVX2IndKernels}
	avx2Arch64   = &gemmArch[float64]{name: "avx2", mr: 6, nr: 8, mc: 96, kc: 256, nc: 4080, kernels: dgemmAVX2Kernels, ind: dgemmAVX2IndKernels}
	avx512Arch32 = &gemmArch[float32]{name: "avx512", mr: 8, nr: 32, mc: 128, kc: 256, nc: 4096, kernels: sgemmAVX512Kernels, ind: sgemmAVX512IndKernels}
	avx512Arch64 = &gemmArch[float64]{name: "avx512", mr: 8, nr: 16, mc: 96, kc: 256, nc: 4096, kernels: dgemmAVX512Kernels, ind: dgemmAVX512IndKernels}
)

func hasAVX2() bool   { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }
func hasAVX512() bool { return hasAVX2() && cpu.X86.HasAVX512F }

// hasShortMasks reports whether the masked short-row kernels
// (placeShortAVX512, placeShortU8AVX512) can run: AVX-512 masks on 128-
// and 256-bit vectors, with byte masks.
func hasShortMasks() bool {
	return hasAVX512() && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW
}

// hasVNNI reports whether the CPU runs the EVEX VPDPWSSD on 256-bit
// registers (AVX512_VNNI with AVX512VL).
func hasVNNI() bool {
	return hasAVX512() && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI
}

func asmArchs32() []*gemmArch[float32] {
	var s []*gemmArch[float32]
	if hasAVX512() {
		s = append(s, avx512Arch32)
	}
	if hasAVX2() {
		s = append(s, avx2Arch32)
	}
	return s
}

// asmQArchs returns the integer micro-kernels in assembly this CPU runs,
// fastest first.
func asmQArchs() []*qArchT {
	var s []*qArchT
	if hasVNNI() {
		a := &qArchT{name: "avx512vnni", kernels: qgemmVNNIKernels}
		if cpu.X86.HasAVX512BW { // the quads' byte interleaving on X16–X25
			a.quads = &qgemmVNNIBKernels
		}
		s = append(s, a)
	}
	if hasAVX2() {
		s = append(s, &qArchT{name: "avx2", kernels: qgemmAVX2Kernels})
	}
	return s
}

func asmArchs64() []*gemmArch[float64] {
	var s []*gemmArch[float64]
	if hasAVX512() {
		s = append(s, avx512Arch64)
	}
	if hasAVX2() {
		s = append(s, avx2Arch64)
	}
	return s
}

//go:noescape
func transposeF32x8AVX2(dst *float32, ldd int, src *float32, lds int, blocks int)

//go:noescape
func transposeF64x4AVX2(dst *float64, ldd int, src *float64, lds int, blocks int)

// packCols8Asm is packCols8 in assembly for the first steps of the panel,
// a multiple of 8 (float32) or 4 (float64); it returns how many steps it
// packed, 0 on CPUs without AVX2.
func packCols8Asm[T Float](d, b []T, ldb, kb, nr int) int {
	if !hasAVX2() {
		return 0
	}
	block := 4
	if is32[T]() {
		block = 8
	}
	steps := kb / block * block
	if steps == 0 {
		return 0
	}
	// Bounds of what the assembly touches.
	_ = d[(steps-1)*nr+7]
	_ = b[7*ldb+steps-1]
	if is32[T]() {
		transposeF32x8AVX2((*float32)(unsafe.Pointer(&d[0])), nr, (*float32)(unsafe.Pointer(&b[0])), ldb, steps/8)
		return steps
	}
	transposeF64x4AVX2((*float64)(unsafe.Pointer(&d[0])), nr, (*float64)(unsafe.Pointer(&b[0])), ldb, steps/4)
	transposeF64x4AVX2((*float64)(unsafe.Pointer(&d[4])), nr, (*float64)(unsafe.Pointer(&b[4*ldb])), ldb, steps/4)
	return steps
}
