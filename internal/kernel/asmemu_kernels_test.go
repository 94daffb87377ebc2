package kernel

import (
	"fmt"
	"math"
	"testing"
	"unsafe"
)

func unsafeSlice[T Float](p *T, n int) []T { return unsafe.Slice(p, n) }

// asmKernelSpec names the micro-kernels of one ISA and element type in an
// assembly file made by internal/gemmgen.
type asmKernelSpec struct {
	file, prefix string
	mr, nr       int
}

var (
	asmSpecs32 = []asmKernelSpec{{"gemm_avx2_amd64.s", "sgemmAVX2", 6, 16}, {"gemm_avx512_amd64.s", "sgemmAVX512", 8, 32}}
	asmSpecs64 = []asmKernelSpec{{"gemm_avx2_amd64.s", "dgemmAVX2", 6, 8}, {"gemm_avx512_amd64.s", "dgemmAVX512", 8, 16}}
)

// emulatedArch returns a gemmArch whose kernels interpret the assembly of
// spec, with small blocks so that the driver's loops take several turns.
func emulatedArch[T Float](t *testing.T, spec asmKernelSpec) *gemmArch[T] {
	funcs := parseAsmFile(t, spec.file)
	arch := &gemmArch[T]{name: "emulated-" + spec.prefix, mr: spec.mr, nr: spec.nr, mc: 2 * spec.mr, kc: 7, nc: 2 * spec.nr, kernels: make([]microKernel[T], spec.mr+1)}
	for r := 1; r <= spec.mr; r++ {
		f := funcs[fmt.Sprintf("%sx%d", spec.prefix, r)]
		if f == nil {
			t.Fatalf("%s: no kernel %sx%d", spec.file, spec.prefix, r)
		}
		arch.kernels[r] = emulatedKernel[T](f, r, spec.nr)
	}
	return arch
}

// TestMicroKernelsEmulated runs every assembly micro-kernel in the
// interpreter on each layout of A the driver uses, several depths
// (around the unrolling by 4), alpha and beta (beta = 0 with NaN in C),
// and compares with naiveGemm.
func TestMicroKernelsEmulated(t *testing.T) {
	t.Run("float32", func(t *testing.T) {
		for _, s := range asmSpecs32 {
			testMicroKernels(t, emulatedArch[float32](t, s), 2e-6)
		}
	})
	t.Run("float64", func(t *testing.T) {
		for _, s := range asmSpecs64 {
			testMicroKernels(t, emulatedArch[float64](t, s), 1e-14)
		}
	})
}

// testMicroKernels checks each kernel of arch against naiveGemm.
func testMicroKernels[T Float](t *testing.T, arch *gemmArch[T], tol float64) {
	r := newRand(7)
	nr := arch.nr
	for rows := 1; rows <= arch.mr; rows++ {
		for _, k := range []int{1, 3, 4, 5, 9} {
			for layout := range 3 {
				for _, ab := range [][2]float64{{1, 0}, {-0.5, 1}, {1, 0.75}} {
					alpha, beta := ab[0], ab[1]
					// A stored for the layout: packed (k×mr), in place
					// row-major (rows×lda) or transposed (k×lda).
					var aStep, aRow int
					var aSrc []float64
					var tA bool
					switch layout {
					case 0:
						aStep, aRow = arch.mr, 1
						aSrc = randSlice(r, k*arch.mr)
						tA = true
					case 1:
						aStep, aRow = 1, k+2
						aSrc = randSlice(r, rows*(k+2))
					case 2:
						aStep, aRow = rows+3, 1
						aSrc = randSlice(r, k*(rows+3))
						tA = true
					}
					lda := aRow
					if tA {
						lda = aStep
					}
					ldb, ldc := nr+5, nr+3
					bSrc := randSlice(r, k*ldb)
					cSrc := randSlice(r, rows*ldc)
					if beta == 0 {
						for i := range cSrc {
							cSrc[i] = math.NaN()
						}
					}
					roundTo[T](aSrc)
					roundTo[T](bSrc)
					roundTo[T](cSrc)
					want, scale := naiveGemm(tA, false, rows, nr, k, alpha, aSrc, lda, bSrc, ldb, beta, cSrc, ldc)
					c := fromF64[T](cSrc)
					a, b := fromF64[T](aSrc), fromF64[T](bSrc)
					arch.kernels[rows](k, &a[0], aStep, aRow, &b[0], ldb, &c[0], ldc, T(alpha), T(beta))
					name := fmt.Sprintf("%s x%d k=%d layout %d alpha %v beta %v", arch.name, rows, k, layout, alpha, beta)
					for i := range rows {
						for j := range ldc {
							got, w := float64(c[i*ldc+j]), want[i*ldc+j]
							if j >= nr {
								if got != cSrc[i*ldc+j] && !(math.IsNaN(got) && math.IsNaN(cSrc[i*ldc+j])) {
									t.Fatalf("%s: C[%d,%d] past the tile was written", name, i, j)
								}
								continue
							}
							if d := math.Abs(got - w); !(d <= tol*scale[i*ldc+j]) {
								t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i, j, got, w)
							}
						}
					}
				}
			}
		}
	}
}

// TestGemmEmulated runs the blocked driver, with every packing plan, on
// the interpreted kernels of each ISA: on machines without AVX-512 this
// is the only test of the AVX-512 kernels inside the driver. Shapes are
// those of TestGemm small enough for the interpreter.
func TestGemmEmulated(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow: interprets assembly, on one goroutine")
	}
	var small [][3]int
	for _, s := range gemmShapes() {
		if s[0]*s[1]*s[2] <= 33*33*7 {
			small = append(small, s)
		}
	}
	t.Run("float32", func(t *testing.T) {
		fns := map[string]gemmFunc[float32]{}
		for _, s := range asmSpecs32 {
			arch := emulatedArch[float32](t, s)
			for _, plan := range []gemmPlan{{true, true}, {false, false}} {
				fns[fmt.Sprintf("%s/packA=%v,packB=%v", arch.name, plan.packA, plan.packB)] = blockedFunc(nil, arch, new(GemmWork[float32]), plan, 1)
			}
		}
		testGemmShapes(t, 3e-6, fns, small)
	})
	t.Run("float64", func(t *testing.T) {
		fns := map[string]gemmFunc[float64]{}
		for _, s := range asmSpecs64 {
			arch := emulatedArch[float64](t, s)
			for _, plan := range []gemmPlan{{true, true}, {false, false}} {
				fns[fmt.Sprintf("%s/packA=%v,packB=%v", arch.name, plan.packA, plan.packB)] = blockedFunc(nil, arch, new(GemmWork[float64]), plan, 1)
			}
		}
		testGemmShapes(t, 1e-13, fns, small)
	})
}
