package kernel

import "gonum.org/v1/gonum/blas/gonum"

// Tile sizes of gemmSerial. gonum v0.17.0 multiplies serially when C has
// fewer than 4 blocks of 64×64 (blockSize and minParBlock in
// blas/gonum/gonum.go); a 64×192 tile has 3, so every call below stays on
// the calling goroutine and allocates nothing. TestConvForwardAllocs fails
// if a gonum upgrade changes that. Tiling k as well keeps a 256×192 panel
// of B in L2 while the rows of A stream past it.
const (
	gemmTileM = 64
	gemmTileN = 192
	gemmTileK = 256
)

// gemmSerial is Gemm on the calling goroutine only: the convolution workers
// call it so that they neither spawn goroutines nor allocate. It hands
// gonum's serial kernels (assembly axpy and dot on amd64) tiles small
// enough that they never go parallel. Measured against a cache-blocked loop
// over gonum's level-1 Saxpy/Sdot it is as fast on large products and up
// to 1.5× faster on the small ones of LeNet-sized convolutions, whose cost
// is dominated by call overhead.
func gemmSerial[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
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
	for i0 := 0; i0 < m; i0 += gemmTileM {
		mt := min(gemmTileM, m-i0)
		for j0 := 0; j0 < n; j0 += gemmTileN {
			nt := min(gemmTileN, n-j0)
			co := i0*ldc + j0
			for l0 := 0; l0 < k; l0 += gemmTileK {
				kt := min(gemmTileK, k-l0)
				ao, bo := i0*lda+l0, l0*ldb+j0
				if transA {
					ao = l0*lda + i0
				}
				if transB {
					bo = j0*ldb + l0
				}
				bt := beta
				if l0 > 0 {
					bt = 1
				}
				if is32[T]() {
					impl.Sgemm(tA, tB, mt, nt, kt, float32(alpha), a32[ao:], lda, b32[bo:], ldb, float32(bt), c32[co:], ldc)
				} else {
					impl.Dgemm(tA, tB, mt, nt, kt, float64(alpha), a64[ao:], lda, b64[bo:], ldb, float64(bt), c64[co:], ldc)
				}
			}
		}
	}
}
