//go:build openblas

package kernel

// This file replaces Gemm with OpenBLAS's, through gonum's cgo binding,
// when mpq is built with the openblas tag: the speed reference for
// mpq's own GEMM in BenchmarkGemmCompare. It needs cgo and the OpenBLAS
// shared library and headers (Debian: libopenblas-dev); the package
// internal/openblas links it.

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"mpq/internal/kernel/internal/openblas"
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C with OpenBLAS. The
// contract is that of the default build's Gemm (gemm_mpq.go), which this
// build keeps as gemmMPQ. OpenBLAS runs its own threads: t is unused.
func Gemm[T Float](_ *Team, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemmOpenBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmOpenBLAS calls cblas_sgemm or cblas_dgemm after mpq's own argument
// checks and quick returns, so that it panics and treats degenerate sizes
// exactly as gemmMPQ does.
func gemmOpenBLAS[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	tA, tB := blasTrans(transA), blasTrans(transB)
	var impl netlib.Implementation
	a32, a64 := views(a)
	b32, b64 := views(b)
	c32, c64 := views(c)
	if is32[T]() {
		impl.Sgemm(tA, tB, m, n, k, float32(alpha), a32, lda, b32, ldb, float32(beta), c32, ldc)
	} else {
		impl.Dgemm(tA, tB, m, n, k, float64(alpha), a64, lda, b64, ldb, float64(beta), c64, ldc)
	}
}

// blasTrans converts a transpose flag to gonum's enumeration.
func blasTrans(trans bool) blas.Transpose {
	if trans {
		return blas.Trans
	}
	return blas.NoTrans
}

// setOpenBLASThreads sets the number of threads OpenBLAS uses: 1 to
// compare with GemmWork.Gemm, Workers() (its default on this machine, one
// per core) to compare with Gemm.
func setOpenBLASThreads(n int) { openblas.SetThreads(n) }
