package kernel

// gemmMPQ is mpq's own Gemm (see Gemm for the contract): the blocked
// algorithm of gemmBlocked with the fastest micro-kernel this CPU runs,
// split over up to t.Workers() goroutines when the product is large enough
// to repay them, with the packing buffers of t's workers.
func gemmMPQ[T Float](t *Team, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	workers := t.Workers()
	if m*n*k < gemmParallelMin {
		workers = 1
	}
	job := teamJob[gemmJob[T]](t, slotGemm)
	job.p = gemmProblem[T]{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	gemmParallel(t, gemmArchFor[T](), workers, job)
	*job = gemmJob[T]{}
}

// gemmParallelMin is the number of multiply-adds below which Gemm stays on
// the calling goroutine: about 20 µs of work, several times the cost of
// handing work to another goroutine and joining it.
const gemmParallelMin = 1 << 19

// gemmJob is one Gemm split over parts: the Ranger of gemmParallel.
type gemmJob[T Float] struct {
	t            *Team
	arch         *gemmArch[T]
	p            gemmProblem[T]
	parts, units int
	unit         int
	byCols       bool
}

// gemmParallel splits job.p into up to workers independent GEMMs over
// disjoint columns of C (or rows, when C is taller than wide), aligned to
// the micro-tile, and runs them concurrently, each with the GemmWork of
// its worker in t. Each part packs its own blocks: with two to four parts
// the duplicated packing of the shared operand costs a few percent, less
// than the barriers that sharing packed blocks would need.
func gemmParallel[T Float](t *Team, arch *gemmArch[T], workers int, job *gemmJob[T]) {
	p := &job.p
	byCols := p.n >= p.m
	units, unit := ceilDiv(p.m, arch.mr), arch.mr
	if byCols {
		units, unit = ceilDiv(p.n, arch.nr), arch.nr
	}
	// At least four micro-tiles per part: each part packs the whole of the
	// shared operand, which must stay small next to its share of the work.
	parts := min(workers, units/4)
	if parts <= 1 {
		gemmBlocked(arch, gemmWork[T](t, 0), p, planGemm(arch, p))
		return
	}
	job.t, job.arch, job.parts, job.units, job.unit, job.byCols = t, arch, parts, units, unit, byCols
	parallelFor(t, parts, 1, parts, job)
}

// Range runs parts [lo, hi) as worker w.
func (job *gemmJob[T]) Range(w, lo, hi int) {
	p, parts, units, unit := &job.p, job.parts, job.units, job.unit
	for part := lo; part < hi; part++ {
		q := *p
		from, to := part*units/parts*unit, (part+1)*units/parts*unit
		if job.byCols {
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
		gemmBlocked(job.arch, gemmWork[T](job.t, w), &q, planGemm(job.arch, &q))
	}
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
