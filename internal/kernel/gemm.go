package kernel

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

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
// Gemm may run several goroutines for large products. It panics with a
// "kernel: ..." message on bad dimensions, leading dimensions or slice
// lengths.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	tA, tB := blasTrans(transA), blasTrans(transB)
	var impl gonum.Implementation
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

// checkGemm panics unless the arguments describe a valid GEMM.
func checkGemm(transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("kernel: Gemm with negative dimension")
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	if lda < max(1, colsA) {
		panic("kernel: Gemm with bad lda")
	}
	if ldb < max(1, colsB) {
		panic("kernel: Gemm with bad ldb")
	}
	if ldc < max(1, n) {
		panic("kernel: Gemm with bad ldc")
	}
	if m == 0 || n == 0 {
		return
	}
	if k > 0 {
		if lenA < (rowsA-1)*lda+colsA {
			panic("kernel: Gemm with short a")
		}
		if lenB < (rowsB-1)*ldb+colsB {
			panic("kernel: Gemm with short b")
		}
	}
	if lenC < (m-1)*ldc+n {
		panic("kernel: Gemm with short c")
	}
}

// scaleRows sets the m×n matrix C to beta·C, writing zeros when beta is 0.
func scaleRows[T Float](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
