//go:build !openblas

package kernel

// Gemm computes C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ as
// transA and transB say, op(A) is m×k, op(B) is k×n and C is m×n. All
// matrices are row-major with leading dimensions lda, ldb and ldc (the
// distance between the starts of consecutive rows), as in BLAS with row-major
// storage: lda ≥ max(1, k) when A is not transposed and ≥ max(1, m) when it
// is; likewise for B; ldc ≥ max(1, n).
//
// When beta is 0, C is overwritten without being read, so NaN or Inf in C do
// not propagate. When m or n is 0 nothing happens; when k is 0 or alpha is 0,
// C is only scaled by beta. C must not overlap A or B.
//
// Gemm splits large products over the workers of t, with their packing
// buffers (a nil Team starts goroutines and allocates buffers per call);
// GemmWork.Gemm is the single-threaded form. It panics with a "kernel: ..." message on bad
// dimensions, leading dimensions or slice lengths. Builds with the
// openblas tag replace it with a call to OpenBLAS (gemm_openblas.go).
func Gemm[T Float](t *Team, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemmMPQ(t, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
