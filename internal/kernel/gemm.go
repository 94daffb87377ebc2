package kernel

import (
	"sync"
	"unsafe"
)

// gemmMPQ is mpq's own Gemm (see Gemm for the contract): the blocked
// algorithm of gemmBlocked with the fastest micro-kernel this CPU runs,
// split over up to Workers() goroutines when the product is large enough to
// repay them.
func gemmMPQ[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	p := gemmProblem[T]{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	workers := Workers()
	if m*n*k < gemmParallelMin {
		workers = 1
	}
	gemmParallel(gemmArchFor[T](), workers, &p)
}

// gemmParallelMin is the number of multiply-adds below which Gemm stays on
// the calling goroutine: about 20 µs of work, several times the cost of
// starting and joining a goroutine.
const gemmParallelMin = 1 << 19

// gemmParallel splits p into up to workers independent GEMMs over disjoint
// columns of C (or rows, when C is taller than wide), aligned to the
// micro-tile, and runs them concurrently with pooled GemmWork values. Each
// part packs its own blocks: with two to four parts the duplicated packing
// of the shared operand costs a few percent, less than the barriers that
// sharing packed blocks would need.
func gemmParallel[T Float](arch *gemmArch[T], workers int, p *gemmProblem[T]) {
	byCols := p.n >= p.m
	units, unit := ceilDiv(p.m, arch.mr), arch.mr
	if byCols {
		units, unit = ceilDiv(p.n, arch.nr), arch.nr
	}
	// At least four micro-tiles per part: each part packs the whole of the
	// shared operand, which must stay small next to its share of the work.
	parts := min(workers, units/4)
	if parts <= 1 {
		w := getGemmWork[T]()
		gemmBlocked(arch, w, p, planGemm(arch, p))
		putGemmWork(w)
		return
	}
	parallelFor(parts, 1, parts, func(_, lo, hi int) {
		for part := lo; part < hi; part++ {
			q := *p
			from, to := part*units/parts*unit, (part+1)*units/parts*unit
			if byCols {
				to = min(to, p.n)
				q.n = to - from
				q.c = p.c[from:]
				if p.transB {
					q.b = p.b[from*p.ldb:]
				} else {
					q.b = p.b[from:]
				}
			} else {
				to = min(to, p.m)
				q.m = to - from
				q.c = p.c[from*p.ldc:]
				if p.transA {
					q.a = p.a[from:]
				} else {
					q.a = p.a[from*p.lda:]
				}
			}
			w := getGemmWork[T]()
			gemmBlocked(arch, w, &q, planGemm(arch, &q))
			putGemmWork(w)
		}
	})
}

// The pools of GemmWork that Gemm draws its packing buffers from, one per
// memory layout (named float types share them). They are the package's
// only mutable package-level state: Gemm's callers own no scratch memory,
// and the pools keep repeated large products from allocating and zeroing
// megabytes of packing buffers each time.
var gemmPool32, gemmPool64 sync.Pool

func gemmPool[T Float]() *sync.Pool {
	if is32[T]() {
		return &gemmPool32
	}
	return &gemmPool64
}

func getGemmWork[T Float]() *GemmWork[T] {
	if w, ok := gemmPool[T]().Get().(unsafe.Pointer); ok {
		return (*GemmWork[T])(w)
	}
	return new(GemmWork[T])
}

func putGemmWork[T Float](w *GemmWork[T]) { gemmPool[T]().Put(unsafe.Pointer(w)) }

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
