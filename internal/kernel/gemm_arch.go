package kernel

import "unsafe"

//go:generate go run ./internal/gemmgen

// microKernel computes the r×nr tile C = alpha·A·B + beta·C of one GEMM
// block, where r ≤ mr is fixed by the kernel (gemmArch.kernels[r]):
// element (i, l) of A is at a[l·aStep + i·aRow] (a packed panel has
// aStep = mr and aRow = 1; A read in place has aStep = 1 and aRow = lda,
// or aStep = lda and aRow = 1 when transposed); B is a k×nr panel with nr
// contiguous values per step and ldb elements between steps (packed:
// ldb = nr); c points to the tile's top-left element in a row-major matrix
// with leading dimension ldc. When beta is 0, C is written without being
// read. k ≥ 1. The amd64 kernels are in assembly (gemm_*_amd64.s, made by
// internal/gemmgen); generic ones are in gemm_generic.go.
type microKernel[T Float] func(k int, a *T, aStep, aRow int, b *T, ldb int, c *T, ldc int, alpha, beta T)

// indKernel is a microKernel that reads step l of B at b + off[l]
// (elements) instead of b + l·ldb: the rows of an implicit im2col matrix,
// read in place (implicitGemm).
type indKernel[T Float] func(k int, a *T, aStep, aRow int, b *T, off *int, c *T, ldc int, alpha, beta T)

// gemmArch is one implementation of the GEMM micro-kernel together with
// the block sizes of the loops around it (K. Goto, R. van de Geijn,
// "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 34(3),
// 2008; F. Van Zee, R. van de Geijn, "BLIS: A Framework for Rapidly
// Instantiating BLAS Functionality", ACM TOMS 41(3), 2015):
//
//   - mr×nr is the tile of C that the micro-kernel keeps in registers;
//   - kc is the depth of a block: a kc×nr panel of packed B stays in the
//     L1 cache while the micro-kernel sweeps the rows of A;
//   - mc×kc is the block of packed A, sized for the L2 cache;
//   - kc×nc is the block of packed B, sized for the L3 cache.
//
// kernels[r] is the micro-kernel for tiles of r rows, 1 ≤ r ≤ mr, and
// ind[r] its indirect twin (nil: implicitGemm packs B instead).
//
// Values of gemmArch are built once by the package's variable
// initialisation and never modified.
type gemmArch[T Float] struct {
	name       string
	mr, nr     int
	mc, kc, nc int
	kernels    []microKernel[T]
	ind        []indKernel[T]
}

// gemmArchs32 and gemmArchs64 list the micro-kernels this CPU can run,
// fastest first; the last is always the generic one.
var (
	gemmArchs32 = append(asmArchs32(), genericArch[float32]())
	gemmArchs64 = append(asmArchs64(), genericArch[float64]())
)

// gemmArchsFor returns the usable micro-kernels for T, fastest first.
// Named float types share the layout, and so the kernels, of their
// underlying type.
func gemmArchsFor[T Float]() []*gemmArch[T] {
	if is32[T]() {
		return *(*[]*gemmArch[T])(unsafe.Pointer(&gemmArchs32))
	}
	return *(*[]*gemmArch[T])(unsafe.Pointer(&gemmArchs64))
}

// gemmArchFor returns the fastest usable micro-kernel for T.
func gemmArchFor[T Float]() *gemmArch[T] { return gemmArchsFor[T]()[0] }

// ptr returns a pointer to s[i] for a micro-kernel.
func ptr[T Float](s []T, i int) *T { return &s[i] }
