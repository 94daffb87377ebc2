package kernel

import "unsafe"

// GemmWork is the scratch memory of a single-threaded GEMM: the packed
// blocks of A and B and a tile for the edges of C. The zero value is ready
// to use; a GemmWork grows on demand and, reused, makes GemmWork.Gemm
// allocation-free. A GemmWork must not be used by two calls at once.
type GemmWork[T Float] struct {
	a    []T // packed mc×kc block of A: panels of mr rows, kc steps of mr values
	b    []T // packed kc×nc block of B: panels of nr columns, kc steps of nr values
	tile []T // mr×nr tile for the partial tiles at the bottom and right edges of C
}

// Gemm is the package-level Gemm on the calling goroutine only, with w's
// buffers: it never starts goroutines, and once w has grown to the sizes
// involved it does not allocate. The convolutions' workers multiply with
// it, so that their parallelism over images is not nested inside
// parallelism within a GEMM.
func (w *GemmWork[T]) Gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	p := gemmProblem[T]{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	arch := gemmArchFor[T]()
	gemmBlocked(arch, w, &p, planGemm(arch, &p))
}

// gemmProblem holds the arguments of one checked, non-trivial GEMM:
// m, n, k ≥ 1 and alpha ≠ 0.
type gemmProblem[T Float] struct {
	transA, transB bool
	m, n, k        int
	alpha          T
	a              []T
	lda            int
	b              []T
	ldb            int
	beta           T
	c              []T
	ldc            int
}

// gemmPlan says which operands gemmBlocked packs. The micro-kernels read
// A in place with any strides and B in place when it is not transposed.
// Packing costs a pass over the operand; it pays off when the operand is
// reused over many tiles, and when the rows of the operand lie a multiple
// of 2 KiB (B) or 4 KiB (A) apart: the kc rows of a kc×nr panel of B read
// in place would then fall into one or two sets of the 8-way L1 cache and
// evict each other (on this Zen 3 machine a 1024×1024 float32 product runs
// at half speed with B in place), as would the mr rows of a panel of A
// together with B's panel.
type gemmPlan struct {
	packA, packB bool
}

// packAMinN is the number of columns of C from which planGemm packs A: a
// panel of A is read once per nr columns, and below this size the reads
// in place cost less than the pass that packing takes.
const packAMinN = 1024

// planGemm chooses the packing for p.
func planGemm[T Float](arch *gemmArch[T], p *gemmProblem[T]) gemmPlan {
	var z T
	size := int(unsafe.Sizeof(z))
	return gemmPlan{
		packA: p.n >= packAMinN || p.lda*size%4096 == 0,
		packB: p.transB || p.ldb*size%2048 == 0,
	}
}

// gemmBlocked runs the GotoBLAS/BLIS loop nest on the calling goroutine:
// for each kc×nc block of B, for each mc×kc block of A, the macro-kernel
// sweeps the block of C tile by tile. Blocks are packed as plan says (B
// must be packed when transposed); the first block along k applies beta,
// the others accumulate.
func gemmBlocked[T Float](arch *gemmArch[T], w *GemmWork[T], p *gemmProblem[T], plan gemmPlan) {
	mr, nr := arch.mr, arch.nr
	m, n, k := p.m, p.n, p.k
	// Split k and m into blocks of near-equal size: 300 = 150+150 rather
	// than 256+44, so that no block is left with too short a loop.
	kc := ceilDiv(k, ceilDiv(k, arch.kc))
	mc := roundUp(ceilDiv(m, ceilDiv(m, arch.mc)), mr)
	nc := min(arch.nc, roundUp(n, nr))
	if plan.packA {
		w.a = grow(w.a, mc*kc)
	}
	if plan.packB {
		w.b = grow(w.b, kc*nc)
	} else {
		// Only the partial panel at the right edge is packed.
		w.b = grow(w.b, kc*nr)
	}
	w.tile = grow(w.tile, mr*nr)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			if plan.packB {
				packB(w.b, p.transB, p.b, p.ldb, pc, jc, kb, nb, nr)
			} else if nb%nr != 0 {
				j := nb - nb%nr
				packB(w.b, false, p.b, p.ldb, pc, jc+j, kb, nb-j, nr)
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				if plan.packA {
					packA(w.a, p.transA, p.a, p.lda, ic, pc, mb, kb, mr)
				}
				macroKernel(arch, w, p, plan, ic, jc, pc, mb, nb, kb, beta)
			}
		}
	}
}

// macroKernel multiplies the mb×kb block of A at (ic, pc) by the kb×nb
// block of B at (pc, jc) into the block of C at (ic, jc), one mr×nr tile
// at a time: each panel of B is used by every panel of A before the next.
// Tiles at the bottom edge use the kernel for their number of rows; tiles
// at the right edge go through w.tile.
func macroKernel[T Float](arch *gemmArch[T], w *GemmWork[T], p *gemmProblem[T], plan gemmPlan, ic, jc, pc, mb, nb, kb int, beta T) {
	mr, nr := arch.mr, arch.nr
	c, ldc, alpha := p.c, p.ldc, p.alpha
	for jr := 0; jr < nb; jr += nr {
		nrr := min(nr, nb-jr)
		var bp *T
		ldb := nr
		switch {
		case plan.packB:
			bp = ptr(w.b, jr*kb)
		case nrr == nr:
			bp, ldb = ptr(p.b, pc*p.ldb+jc+jr), p.ldb
		default:
			bp = ptr(w.b, 0)
		}
		for ir := 0; ir < mb; ir += mr {
			mrr := min(mr, mb-ir)
			kern := arch.kernels[mrr]
			var ap *T
			aStep, aRow := mr, 1
			switch {
			case plan.packA:
				ap = ptr(w.a, ir*kb)
			case p.transA:
				ap, aStep = ptr(p.a, pc*p.lda+ic+ir), p.lda
			default:
				ap, aStep, aRow = ptr(p.a, (ic+ir)*p.lda+pc), 1, p.lda
			}
			ci := (ic+ir)*ldc + jc + jr
			if nrr == nr {
				kern(kb, ap, aStep, aRow, bp, ldb, ptr(c, ci), ldc, alpha, beta)
				continue
			}
			kern(kb, ap, aStep, aRow, bp, ldb, ptr(w.tile, 0), nr, alpha, 0)
			storeTile(c[ci:], ldc, w.tile, nr, mrr, nrr, beta)
		}
	}
}

// storeTile sets the mrr×nrr corner of C (at c, leading dimension ldc) to
// that of a micro-kernel's tile (leading dimension nr) plus beta·C, as the
// kernel itself does for a full tile: the edges of the matrix.
func storeTile[T Float](c []T, ldc int, tile []T, nr, mrr, nrr int, beta T) {
	for i := range mrr {
		dst := c[i*ldc : i*ldc+nrr]
		src := tile[i*nr : i*nr+nrr]
		if beta == 0 {
			copy(dst, src)
			continue
		}
		for j, v := range src {
			dst[j] = v + beta*dst[j]
		}
	}
}

// packA copies the mb×kb block of op(A) at (i0, l0) into dst as panels of
// mr rows: element (i, l) of panel q is at dst[q·mr·kb + l·mr + i]. The
// last panel may have fewer rows; the slots of the missing ones are left
// as they were.
func packA[T Float](dst []T, transA bool, a []T, lda, i0, l0, mb, kb, mr int) {
	for q := 0; q < mb; q += mr {
		rows := min(mr, mb-q)
		d := dst[q*kb : q*kb+mr*kb]
		switch {
		case transA:
			// op(A)(i, l) = a[l·lda + i]: each step is contiguous.
			packSteps(d, a[l0*lda+i0+q:], lda, kb, rows, mr)
		case rows == 6 && mr == 6:
			packRows6(d, a[(i0+q)*lda+l0:], lda, kb)
		case rows == 8 && mr == 8:
			packRows8(d, a[(i0+q)*lda+l0:], lda, kb)
		case rows == 4 && mr == 4:
			packRows4(d, a[(i0+q)*lda+l0:], lda, kb)
		default:
			for i := range rows {
				src := a[(i0+q+i)*lda+l0 : (i0+q+i)*lda+l0+kb]
				dd := d[i:]
				for l, v := range src {
					dd[l*mr] = v
				}
			}
		}
	}
}

// packSteps sets d[l·mr + i] = a[l·lda + i] for i < rows and l < kb. Steps
// of a full panel of the assembly kernels (24 to 64 bytes) are copied as
// arrays of at most 32 bytes, which compile to a few moves where copy
// would call memmove.
func packSteps[T Float](d, a []T, lda, kb, rows, mr int) {
	d = d[:kb*mr]
	a = a[:(kb-1)*lda+rows]
	size := unsafe.Sizeof(d[0])
	if rows == mr {
		switch uintptr(mr) * size {
		case 24:
			for l := range kb {
				*(*[24]byte)(unsafe.Pointer(&d[l*mr])) = *(*[24]byte)(unsafe.Pointer(&a[l*lda]))
			}
			return
		case 32:
			for l := range kb {
				*(*[32]byte)(unsafe.Pointer(&d[l*mr])) = *(*[32]byte)(unsafe.Pointer(&a[l*lda]))
			}
			return
		case 48:
			for l := range kb {
				copy48(unsafe.Pointer(&d[l*mr]), unsafe.Pointer(&a[l*lda]))
			}
			return
		case 64:
			for l := range kb {
				copy64(unsafe.Pointer(&d[l*mr]), unsafe.Pointer(&a[l*lda]))
			}
			return
		}
	}
	for l := range kb {
		copy(d[l*mr:l*mr+rows], a[l*lda:l*lda+rows])
	}
}

// packRows6 interleaves the first kb values of six rows of a, lda apart,
// into d: d[6l+i] = a[i·lda+l]. packRows4 and packRows8 do the same for
// four and eight rows.
func packRows6[T Float](d, a []T, lda, kb int) {
	r0 := a[:kb]
	r1 := a[lda : lda+kb]
	r2 := a[2*lda : 2*lda+kb]
	r3 := a[3*lda : 3*lda+kb]
	r4 := a[4*lda : 4*lda+kb]
	r5 := a[5*lda : 5*lda+kb]
	d = d[:6*kb]
	for l := range r0 {
		dd := d[6*l : 6*l+6 : 6*l+6]
		dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
	}
}

func packRows8[T Float](d, a []T, lda, kb int) {
	r0 := a[:kb]
	r1 := a[lda : lda+kb]
	r2 := a[2*lda : 2*lda+kb]
	r3 := a[3*lda : 3*lda+kb]
	r4 := a[4*lda : 4*lda+kb]
	r5 := a[5*lda : 5*lda+kb]
	r6 := a[6*lda : 6*lda+kb]
	r7 := a[7*lda : 7*lda+kb]
	d = d[:8*kb]
	for l := range r0 {
		dd := d[8*l : 8*l+8 : 8*l+8]
		dd[0], dd[1], dd[2], dd[3] = r0[l], r1[l], r2[l], r3[l]
		dd[4], dd[5], dd[6], dd[7] = r4[l], r5[l], r6[l], r7[l]
	}
}

func packRows4[T Float](d, a []T, lda, kb int) {
	r0 := a[:kb]
	r1 := a[lda : lda+kb]
	r2 := a[2*lda : 2*lda+kb]
	r3 := a[3*lda : 3*lda+kb]
	d = d[:4*kb]
	for l := range r0 {
		dd := d[4*l : 4*l+4 : 4*l+4]
		dd[0], dd[1], dd[2], dd[3] = r0[l], r1[l], r2[l], r3[l]
	}
}

// packB copies the kb×nb block of op(B) at (l0, j0) into dst as panels of
// nr columns: element (l, j) of panel q is at dst[q·nr·kb + l·nr + j].
// Columns past nb in the last panel are zero.
func packB[T Float](dst []T, transB bool, b []T, ldb, l0, j0, kb, nb, nr int) {
	for q := 0; q < nb; q += nr {
		cols := min(nr, nb-q)
		d := dst[q*kb : q*kb+nr*kb]
		switch {
		case !transB && cols == nr:
			packRowsCopy(d, b[l0*ldb+j0+q:], ldb, kb, nr)
		case !transB:
			for l := range kb {
				off := (l0+l)*ldb + j0 + q
				copy(d[l*nr:l*nr+cols], b[off:off+cols])
			}
		case cols%4 == 0:
			// op(B)(l, j) = b[j·ldb + l]: eight or four columns at a time.
			j := 0
			for ; j+8 <= cols; j += 8 {
				packCols8(d[j:], b[(j0+q+j)*ldb+l0:], ldb, kb, nr)
			}
			if j < cols {
				packCols4(d[j:], b[(j0+q+j)*ldb+l0:], ldb, kb, nr)
			}
		default:
			for j := range cols {
				src := b[(j0+q+j)*ldb+l0 : (j0+q+j)*ldb+l0+kb]
				dd := d[j:]
				for l, v := range src {
					dd[l*nr] = v
				}
			}
		}
		if cols < nr {
			for l := range kb {
				clear(d[l*nr+cols : l*nr+nr])
			}
		}
	}
}

// packRowsCopy sets d[l·nr + j] = b[l·ldb + j] for j < nr and l < kb.
// Rows of 64 or 128 bytes, those of the assembly kernels' panels, are
// copied as 32-byte arrays (copy64, copy128), which compile to a few
// vector moves where copy would call memmove.
func packRowsCopy[T Float](d, b []T, ldb, kb, nr int) {
	d = d[:kb*nr]
	b = b[:(kb-1)*ldb+nr]
	switch uintptr(nr) * unsafe.Sizeof(d[0]) {
	case 64:
		for l := range kb {
			copy64(unsafe.Pointer(&d[l*nr]), unsafe.Pointer(&b[l*ldb]))
		}
	case 128:
		for l := range kb {
			copy128(unsafe.Pointer(&d[l*nr]), unsafe.Pointer(&b[l*ldb]))
		}
	default:
		for l := range kb {
			copy(d[l*nr:l*nr+nr], b[l*ldb:l*ldb+nr])
		}
	}
}

// packCols8 sets d[l·nr + j] = b[j·ldb + l] for j < 8 and l < kb.
func packCols8[T Float](d, b []T, ldb, kb, nr int) {
	r0 := b[:kb]
	r1 := b[ldb : ldb+kb]
	r2 := b[2*ldb : 2*ldb+kb]
	r3 := b[3*ldb : 3*ldb+kb]
	r4 := b[4*ldb : 4*ldb+kb]
	r5 := b[5*ldb : 5*ldb+kb]
	r6 := b[6*ldb : 6*ldb+kb]
	r7 := b[7*ldb : 7*ldb+kb]
	d = d[:(kb-1)*nr+8]
	for l := packCols8Asm(d, b, ldb, kb, nr); l < kb; l++ {
		dd := d[l*nr : l*nr+8 : l*nr+8]
		dd[0], dd[1], dd[2], dd[3] = r0[l], r1[l], r2[l], r3[l]
		dd[4], dd[5], dd[6], dd[7] = r4[l], r5[l], r6[l], r7[l]
	}
}

// packCols4 sets d[l·nr + j] = b[j·ldb + l] for j < 4 and l < kb.
func packCols4[T Float](d, b []T, ldb, kb, nr int) {
	r0 := b[:kb]
	r1 := b[ldb : ldb+kb]
	r2 := b[2*ldb : 2*ldb+kb]
	r3 := b[3*ldb : 3*ldb+kb]
	for l := range r0 {
		dd := d[l*nr : l*nr+4 : l*nr+4]
		dd[0], dd[1], dd[2], dd[3] = r0[l], r1[l], r2[l], r3[l]
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// copy48, copy64 and copy128 copy 48, 64 and 128 bytes from src to dst,
// which must not overlap. They move arrays of at most 32 bytes: the
// compiler copies those with vector moves, larger arrays through memmove.
func copy48(dst, src unsafe.Pointer) {
	*(*[32]byte)(dst) = *(*[32]byte)(src)
	*(*[16]byte)(unsafe.Add(dst, 32)) = *(*[16]byte)(unsafe.Add(src, 32))
}

func copy64(dst, src unsafe.Pointer) {
	d, s := (*[2][32]byte)(dst), (*[2][32]byte)(src)
	d[0] = s[0]
	d[1] = s[1]
}

func copy128(dst, src unsafe.Pointer) {
	d, s := (*[4][32]byte)(dst), (*[4][32]byte)(src)
	d[0] = s[0]
	d[1] = s[1]
	d[2] = s[2]
	d[3] = s[3]
}
