package kernel

import "unsafe"

// This file holds the convolutions that never build the im2col matrix:
// each image is copied once into a zero-padded, phase-split layout in
// which every row of the im2col matrix is a contiguous run, so that GEMM
// panels can be packed straight from the image (forward) and the
// backward products read the image in place.
//
// The layout. Let Hp×Wp be the padded input and sh×sw the strides. The
// padded plane of each channel is split into sh·sw phase planes of
// Hq×Wq = ⌈Hp/sh⌉×⌈Wp/sw⌉: padded pixel (ih, iw) goes to phase plane
// (ih mod sh)·sw + (iw mod sw), at row ⌊ih/sh⌋ and column ⌊iw/sw⌋. With
// stride 1 there is one phase plane, the padded plane itself. Output
// pixel (oh, ow) is given the "wide" column j = oh·Wq + ow; kernel tap
// (kh, kw) reads padded pixel (oh·sh + kh·DilH, ow·sw + kw·DilW), which
// lies in the phase plane of (kh·DilH mod sh, kw·DilW mod sw) at row
// oh + ⌊kh·DilH/sh⌋ and column ow + ⌊kw·DilW/sw⌋: at offset
// tap(kh, kw) + j from the start of the channel, where tap does not
// depend on the pixel. So row (c, kh, kw) of the im2col matrix, over the
// wide columns, is the contiguous run starting at c·cs + tap(kh, kw).
//
// Wide columns with ow ≥ OW (the last Wq − OW of each output row but the
// last) are not outputs: they read whatever follows and are dropped.
// Every read of a valid output stays inside its channel, and reads of
// dropped columns stay inside the buffer thanks to a slack of zeros at
// its end, so no bounds logic is needed in the inner loops. The cost is
// (Wq − OW)/Wq wasted columns, ≈ (KW−1)·DilW/(sw·Wq) of the work.

// padGeom is the padded, phase-split layout of one image of a Conv2D.
type padGeom struct {
	hp, wp int // padded input
	hq, wq int // one phase plane
	plane  int // hq·wq
	cs     int // distance between channels: sh·sw·plane
	nw     int // wide columns: (OH−1)·wq + OW
	slack  int // zero elements after the last channel
	size   int // C·cs + slack
}

// padGeomFor returns the layout of g with slack elements of zeros after
// the last channel.
func padGeomFor(g Conv2D, d convDims, slack int) padGeom {
	hp, wp := g.H+g.PadTop+g.PadBottom, g.W+g.PadLeft+g.PadRight
	hq, wq := ceilDiv(hp, g.StrideH), ceilDiv(wp, g.StrideW)
	plane := hq * wq
	cs := g.StrideH * g.StrideW * plane
	return padGeom{hp: hp, wp: wp, hq: hq, wq: wq, plane: plane, cs: cs,
		nw: (d.oh-1)*wq + d.ow, slack: slack, size: g.C*cs + slack}
}

// tapOffsets sets off[t] for each kernel tap t = kh·KW + kw to its offset
// from the start of a channel in the layout pg.
func tapOffsets(g Conv2D, pg padGeom, off []int) {
	for kh := range g.KH {
		rh := kh * g.DilH
		for kw := range g.KW {
			rw := kw * g.DilW
			phase := (rh%g.StrideH)*g.StrideW + rw%g.StrideW
			off[kh*g.KW+kw] = phase*pg.plane + rh/g.StrideH*pg.wq + rw/g.StrideW
		}
	}
}

// padImage writes the C×H×W image x, fake-quantized by q when q is not
// nil, into dst in the layout pg. The padding and the slack must be zeros:
// padImage writes them when borders is true, and otherwise leaves them as
// they are, since they do not change from image to image. Each input
// value is read once.
func padImage[T Float](g Conv2D, pg padGeom, x, dst []T, q *FakeQuant[T], borders bool, pc *phaseCache) {
	hw := g.H * g.W
	dst = dst[:pg.size]
	if borders {
		clear(dst)
	}
	// Stride-2 rows of at most 16 values: both column phases at once.
	if placePairs(g, pg, phasePairs(g, pg, pc), x, dst, 0, q) {
		return
	}
	// A phase plane is filled top to bottom in every channel by one
	// placeBlocks call.
	rowStep := g.StrideH * g.W
	for _, p := range phasePlaces(g, pg, pc) {
		if q == nil {
			placeBlocks(dst[p.base:], x[p.first:], g.C, p.rows, p.n, pg.wq, rowStep, g.StrideW, pg.cs, hw, p.end-p.base)
			continue
		}
		for c := range g.C {
			ch := dst[c*pg.cs : (c+1)*pg.cs]
			src := x[c*hw+p.first:]
			for r := range p.rows {
				copyStrided(ch[p.base+r*pg.wq:p.base+r*pg.wq+p.n], src[r*rowStep:], 0, g.StrideW, q)
			}
		}
	}
}

// phasePlace is where the input rows of one phase plane go in the padded
// layout, the same in every channel: offsets from the channel's start.
type phasePlace struct {
	base  int // the first row's place in the layout
	end   int // the end of the phase plane in the layout
	first int // the first input value placed, in the image
	rows  int // rows placed, StrideH·W apart in the image, wq apart in the layout
	n     int // values per row, StrideW apart in the image
}

// phasePlaces returns the place of each phase plane of the layout pg
// that receives input values of an image of g (padImage, qpadImage and
// the montages), computed once per geometry and layout into c. Input
// columns iw with (iw + PadLeft) mod sw = pw land in phase plane pw, at
// consecutive columns from (iw0 + PadLeft)/sw; input rows ih with
// (ih + PadTop) mod sh = ph land in phase ph·sw + pw, at consecutive rows
// from (ih0 + PadTop)/sh.
func phasePlaces(g Conv2D, pg padGeom, c *phaseCache) []phasePlace {
	if c.g == g && c.pg == pg && c.places != nil {
		return c.places
	}
	c.g, c.pg, c.places, c.pairs = g, pg, c.places[:0], c.pairs[:0]
	sh, sw := g.StrideH, g.StrideW
	for pw := range sw {
		iw0 := ((pw-g.PadLeft)%sw + sw) % sw
		if iw0 >= g.W {
			continue
		}
		col := (iw0 + g.PadLeft) / sw
		n := (g.W - iw0 + sw - 1) / sw
		for ph := range sh {
			ih0 := ((ph-g.PadTop)%sh + sh) % sh
			if ih0 >= g.H {
				continue
			}
			c.places = append(c.places, phasePlace{
				base:  (ph*sw+pw)*pg.plane + (ih0+g.PadTop)/sh*pg.wq + col,
				end:   (ph*sw + pw + 1) * pg.plane,
				first: ih0*g.W + iw0,
				rows:  (g.H - ih0 + sh - 1) / sh,
				n:     n,
			})
		}
	}
	// With a column stride of 2, the places of phase column 1 follow those
	// of column 0 in the same order of phase rows: places i and i + n/2
	// take the even and the odd values of the same input rows.
	if half := len(c.places) / 2; sw == 2 && half > 0 && len(c.places) == 2*half {
		for i := range half {
			a, b := c.places[i], c.places[i+half]
			if b.first < a.first {
				a, b = b, a
			}
			if b.first != a.first+1 || a.rows != b.rows {
				c.pairs = c.pairs[:0]
				break
			}
			c.pairs = append(c.pairs, phasePair{a, b})
		}
	}
	return c.places
}

// phasePair is two phase planes of a layout with a column stride of 2
// that receive the even (a) and the odd (b) values of the same rows of
// the image, a's first value just before b's.
type phasePair struct{ a, b phasePlace }

// phasePairs returns the places of phasePlaces as pairs, for placePair,
// or nil where the column stride is not 2 or a plane has no partner (an
// image one column wide).
func phasePairs(g Conv2D, pg padGeom, c *phaseCache) []phasePair {
	phasePlaces(g, pg, c)
	if len(c.pairs) == 0 {
		return nil
	}
	return c.pairs
}

// pairsFit reports whether placePairs will place an image whose layout
// has the pairs given (placePairAsm's conditions).
func pairsFit[T Float](pairs []phasePair) bool {
	var z T
	_, f32 := any(z).(float32)
	return f32 && len(pairs) > 0 && hasShortMasks() && pairs[0].a.n <= 16
}

// placePairs places (and fake-quantizes, when q is not nil) the image x
// of g into dst, the layout pg, pair by pair, and reports whether it
// could; the image's place in dst may be col columns on (a montage).
// It places everything or nothing.
func placePairs[T Float](g Conv2D, pg padGeom, pairs []phasePair, x, dst []T, col int, q *FakeQuant[T]) bool {
	if len(pairs) == 0 {
		return false
	}
	// The pairs of a layout differ in rows only: the first tells for all.
	for i, p := range pairs {
		if !placePair(dst[p.a.base+col:], dst[p.b.base+col:], x[p.a.first:], g.C, p.a.rows, p.a.n, p.b.n, pg.wq, g.StrideH*g.W, pg.cs, g.H*g.W, q) && i == 0 {
			return false
		}
	}
	return true
}

// phaseCache holds the phase places of the last geometry and layout
// phasePlaces computed them for: the integer divisions behind them were
// 3 % of a small CNN's evaluation profile when done for every image.
type phaseCache struct {
	g      Conv2D
	pg     padGeom
	places []phasePlace
	pairs  []phasePair
}

// padFor prepares wk.pad for one image (or montage) of g and reports
// whether its padding must be written: the buffer is new, or last held
// another layout. The buffer of the layout before is kept as a spare and
// swapped back when its layout returns, so that montages alternating
// between a full chunk and the last one clear neither.
func (wk *ConvWork[T]) padFor(g Conv2D, pg padGeom) bool {
	if wk.padGeo == g && len(wk.pad) == pg.size {
		return false
	}
	if wk.spareGeo == g && len(wk.spare) == pg.size {
		wk.pad, wk.spare = wk.spare, wk.pad
		wk.padGeo, wk.spareGeo = wk.spareGeo, wk.padGeo
		return false
	}
	wk.pad, wk.spare = wk.spare, wk.pad
	wk.spareGeo = wk.padGeo
	wk.pad = grow(wk.pad, pg.size)
	wk.padGeo = g
	return true
}

// unpadImage copies the interior of the padded image src (layout pg) into
// the C×H×W image dx: the adjoint of padImage, where padding receives
// gradient that is dropped. It walks the phase planes as padImage does
// (phasePlaces), reading each plane's rows contiguously.
func unpadImage[T Float](g Conv2D, pg padGeom, src, dx []T, pc *phaseCache) {
	hw := g.H * g.W
	rowStep := g.StrideH * g.W
	sw := g.StrideW
	for _, p := range phasePlaces(g, pg, pc) {
		for c := range g.C {
			ch := src[c*pg.cs : (c+1)*pg.cs]
			out := dx[c*hw+p.first:]
			for r := range p.rows {
				row := ch[p.base+r*pg.wq : p.base+r*pg.wq+p.n]
				dst := out[r*rowStep:]
				if sw == 1 {
					copy(dst, row)
					continue
				}
				for k, v := range row {
					dst[k*sw] = v
				}
			}
		}
	}
}

// usePadded reports whether ConvForward and ConvBackward use the padded
// layout for g rather than im2col. Depthwise convolutions have their own
// kernel and pointwise ones multiply the image in place (backward) or a
// copy of it in the padded layout (forward: convImage). For the others
// the padded layout wins when the im2col matrix is larger than the image
// (windows overlap: the padded copy is the smaller one), unless its wasted
// wide columns, which grow with KW·DilW/(StrideW·Wq), make up more than a
// third of the work, as when a kernel nearly as wide as the input slides
// over a small image.
func usePadded(g Conv2D) bool {
	if g.depthwise() || g.pointwise() {
		return false
	}
	d := g.dims()
	if g.KH*g.KW*d.p < d.hw {
		return false // strided 1×1 and the like: im2col copies less
	}
	pg := padGeomFor(g, d, 0)
	return 2*pg.nw <= 3*d.p
}

// usePaddedBackward reports whether ConvBackward uses the padded layout
// for g. Its backward pass runs two GEMMs per kernel tap, of C/Group
// columns (weight gradient) and rows (input gradient): with fewer than
// eight channels per group, a fraction of one micro-tile, im2col's two
// GEMMs over the whole matrix are faster.
func usePaddedBackward(g Conv2D) bool {
	return usePadded(g) && g.C/g.Group >= 8
}

// paddedSlack is the number of zeros after the last channel of a padded
// image: a full panel of the widest micro-kernel (32 values) read from
// the last wide column.
const paddedSlack = 32

// convPaddedSetup returns the layout of g and the offset of each row
// (c, kh, kw) of one group's im2col matrix from the start of the group,
// cached in wk for repeated calls with the same geometry.
//
// The last few layouts are kept (setupCache of them), so that a worker
// whose montages (conv_batch.go) alternate between two widths, a full
// chunk and the last one, does not allocate.
func convPaddedSetup[T Float](g Conv2D, d convDims, wk *ConvWork[T]) (padGeom, []int) {
	if wk.offFor == g && wk.off != nil {
		return wk.pg, wk.off
	}
	for _, s := range wk.setups {
		if s.g == g {
			wk.offFor, wk.off, wk.taps, wk.pg = g, s.off, s.taps, s.pg
			return wk.pg, wk.off
		}
	}
	pg := padGeomFor(g, d, paddedSlack)
	kk := g.KH * g.KW
	taps := make([]int, kk)
	tapOffsets(g, pg, taps)
	off := make([]int, d.k)
	for c := range d.cg {
		for t, o := range taps {
			off[c*kk+t] = c*pg.cs + o
		}
	}
	s := paddedSetup{g: g, pg: pg, off: off, taps: taps}
	if len(wk.setups) < setupCache {
		wk.setups = append(wk.setups, s)
	} else {
		wk.setups[wk.nextSetup] = s
		wk.nextSetup = (wk.nextSetup + 1) % setupCache
	}
	wk.offFor, wk.off, wk.taps, wk.pg = g, off, taps, pg
	return pg, off
}

// setupCache is the number of padded layouts a ConvWork keeps.
const setupCache = 4

// paddedSetup is one cached padded layout (convPaddedSetup).
type paddedSetup struct {
	g         Conv2D
	pg        padGeom
	off, taps []int
}

// convImagePadded convolves one image through the padded layout on the
// calling goroutine: pad (and fake-quantize) the image, multiply each
// group's weights by its implicit im2col matrix into wide columns, and
// copy the valid columns, plus the bias, into y (then, with relu, their
// ReLU: ConvForwardReLU).
func convImagePadded[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], relu bool) {
	pg, off := convPaddedSetup(g, d, wk)
	padInput(g, pg, x, q, wk)
	multiplyPadded(g, d, pg, off, 1, 0, w, bias, y, wk, relu)
}

// multiplyPadded runs the GEMM and epilogue of convImagePadded and
// convBatchPadded: wk.pad holds nb images in the layout pg (image i's
// wide columns start at column i·colStep), one implicit GEMM per group
// multiplies all of them, and each image's valid columns, plus the bias
// (and the ReLU), are copied into its part of y.
func multiplyPadded[T Float](g Conv2D, d convDims, pg padGeom, off []int, nb, colStep int, w, bias, y []T, wk *ConvWork[T], relu bool) {
	arch := gemmArchFor[T]()
	ldw := wideStride(pg, d.oh, arch.nr)
	wk.wide = grow(wk.wide, d.mg*ldw)
	imgOut := g.M * d.p
	for gi := range g.Group {
		implicitGemm(arch, &wk.gemm, d.mg, pg.nw, d.k, w[gi*d.mg*d.k:(gi+1)*d.mg*d.k], wk.pad[gi*d.cg*pg.cs:], off, wk.wide, ldw)
		var b []T
		if bias != nil {
			b = bias[gi*d.mg : (gi+1)*d.mg]
		}
		for i := range nb {
			yi := y[i*imgOut+gi*d.mg*d.p : i*imgOut+(gi+1)*d.mg*d.p]
			biasRows(yi, wk.wide[i*colStep:], d.mg*d.oh, d.ow, pg.wq, ldw, b, d.oh, relu)
		}
	}
}

// wideStride returns the distance between two output channels' wide
// columns for the layout pg, oh output rows and GEMM tiles of nr columns:
// a whole number of wide rows, at least oh, so that the GEMM can store
// the last tile of each channel whole (at least roundUp(nw, nr)).
func wideStride(pg padGeom, oh, nr int) int {
	return max(oh, ceilDiv(roundUp(pg.nw, nr), pg.wq)) * pg.wq
}

// padInput writes the image x, fake-quantized by q when q is not nil,
// into wk.pad in the layout pg (convPaddedSetup).
func padInput[T Float](g Conv2D, pg padGeom, x []T, q *FakeQuant[T], wk *ConvWork[T]) {
	borders := wk.padFor(g, pg)
	n := g.C * g.H * g.W
	switch {
	case g.pointwise(): // the layout is the image itself, then the zero slack
		if q != nil {
			quantizeTo(wk.pad[:n], x[:n], q)
		} else {
			copy(wk.pad[:n], x[:n])
		}
		if borders {
			clear(wk.pad[n:pg.size])
		}
	case q != nil && pairsFit[T](phasePairs(g, pg, &wk.phases)):
		padImage(g, pg, x, wk.pad, q, borders, &wk.phases) // quantized as placed
	case q != nil && (g.W < shortRow || g.StrideW > 1):
		wk.qx = grow(wk.qx, n)
		quantizeTo(wk.qx, x[:n], q)
		padImage(g, pg, wk.qx, wk.pad, nil, borders, &wk.phases)
	default:
		padImage(g, pg, x, wk.pad, q, borders, &wk.phases)
	}
}

// implicitGemm sets the m×n matrix C (leading dimension ldc ≥ n) to A·B, where A
// is m×k row-major (leading dimension k) and B is given by rows:
// B(l, j) = src[off[l] + j]. It runs the blocked loops of gemmBlocked on
// the calling goroutine, packing each kc×nc block of B from those rows:
// each step of a panel is one contiguous run of nr values. src must hold
// off[l] + roundUp(n, nr) values for every l. Columns [n, ldc) of C are
// scratch: when ldc ≥ roundUp(n, nr) the indirect kernels store the last
// tile of each row whole, over them, instead of through a tile buffer.
func implicitGemm[T Float](arch *gemmArch[T], w *GemmWork[T], m, n, k int, a, src []T, off []int, c []T, ldc int) {
	mr, nr := arch.mr, arch.nr
	var z T
	size := int(unsafe.Sizeof(z))
	kc := ceilDiv(k, ceilDiv(k, arch.kc))
	mc := roundUp(ceilDiv(m, ceilDiv(m, arch.mc)), mr)
	// A block of B of about 128 KiB stays in the L2 cache while every
	// block of A sweeps it.
	nc := min(arch.nc, roundUp(n, nr), max(nr, (128<<10)/(kc*size)/nr*nr))
	p := gemmProblem[T]{m: m, n: n, k: k, alpha: 1, a: a, lda: k, c: c, ldc: ldc}
	plan := gemmPlan{packA: n >= packAMinN || k*size%4096 == 0, packB: true}
	if plan.packA {
		w.a = grow(w.a, mc*kc)
	}
	w.tile = grow(w.tile, mr*nr)
	if arch.ind != nil {
		implicitGemmInd(arch, w, &p, plan, src, off, kc, mc)
		return
	}
	w.b = grow(w.b, kc*nc)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			var beta T
			if pc > 0 {
				beta = 1
			}
			packRowsAt(w.b, src, off[pc:pc+kb], jc, nb, nr)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				if plan.packA {
					packA(w.a, false, a, k, ic, pc, mb, kb, mr)
				}
				macroKernel(arch, w, &p, plan, ic, jc, pc, mb, nb, kb, beta)
			}
		}
	}
}

// implicitGemmInd is implicitGemm with micro-kernels that read the rows
// of B in place, at src + off[l] + j: no packing of B. For each block of
// kc steps and mc rows of A, every nr-column panel of B (kc rows of nr
// values from the image, which stays in the L1 or L2 cache) is swept by
// every mr-row panel of the block of A.
func implicitGemmInd[T Float](arch *gemmArch[T], w *GemmWork[T], p *gemmProblem[T], plan gemmPlan, src []T, off []int, kc, mc int) {
	mr, nr := arch.mr, arch.nr
	m, n, k, a, c, ldc := p.m, p.n, p.k, p.a, p.c, p.ldc
	whole := ldc >= roundUp(n, nr) // the last tile of a row fits inside ldc
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		var beta T
		if pc > 0 {
			beta = 1
		}
		o := &off[pc]
		for ic := 0; ic < m; ic += mc {
			mb := min(mc, m-ic)
			if plan.packA {
				packA(w.a, false, a, k, ic, pc, mb, kb, mr)
			}
			for jr := 0; jr < n; jr += nr {
				nrr := min(nr, n-jr)
				bp := &src[jr]
				for ir := 0; ir < mb; ir += mr {
					mrr := min(mr, mb-ir)
					kern := arch.ind[mrr]
					ap, aStep, aRow := ptr(a, (ic+ir)*k+pc), 1, k
					if plan.packA {
						ap, aStep, aRow = ptr(w.a, ir*kb), mr, 1
					}
					ci := (ic+ir)*ldc + jr
					if nrr == nr || whole {
						kern(kb, ap, aStep, aRow, bp, o, ptr(c, ci), ldc, 1, beta)
						continue
					}
					kern(kb, ap, aStep, aRow, bp, o, ptr(w.tile, 0), nr, 1, 0)
					storeTile(c[ci:], ldc, w.tile, nr, mrr, nrr, beta)
				}
			}
		}
	}
}

// packRowsAt packs the block of B with rows off and columns [j0, j0+nb)
// into dst as panels of nr columns, B(l, j) = src[off[l] + j]: element
// (l, j) of panel q is at dst[q·nr·kb + l·nr + j]. Every panel is copied
// whole, the last one past column nb too (its extra columns are dropped
// by the macro-kernel), so each step is a fixed-size copy.
func packRowsAt[T Float](dst, src []T, off []int, j0, nb, nr int) {
	kb := len(off)
	var z T
	for q := 0; q < nb; q += nr {
		d := dst[q*kb : q*kb+nr*kb]
		s := src[j0+q:]
		switch uintptr(nr) * unsafe.Sizeof(z) {
		case 64:
			for l, o := range off {
				copy64(unsafe.Pointer(&d[l*nr]), unsafe.Pointer(&s[o : o+nr][0]))
			}
		case 128:
			for l, o := range off {
				copy128(unsafe.Pointer(&d[l*nr]), unsafe.Pointer(&s[o : o+nr][0]))
			}
		default:
			for l, o := range off {
				copy(d[l*nr:l*nr+nr], s[o:o+nr])
			}
		}
	}
}

// convBackwardPadded runs the backward pass of images [lo, hi) through the
// padded layout on the calling goroutine, accumulating weight and bias
// gradients in wk. With the output gradient of an image spread over the
// wide columns (zeros in the dropped ones), as dYw, each kernel tap t is
// a pair of plain GEMMs over the padded image read in place:
//
//	dW[:, :, t] += dYw · X_tᵀ    (X_t: the C/Group × wide-columns run of tap t)
//	dXp_t       += W[:, :, t]ᵀ · dYw
//
// where dXp is the gradient of the padded image, whose runs overlap from
// tap to tap exactly as the reads of the forward pass do; its interior is
// the gradient of x. The weights are used tap-major, W'[m][t][c], which
// wk holds for the call.
func convBackwardPadded[T Float](g Conv2D, d convDims, x, w, dy, dx []T, needW, needB bool, wk *ConvWork[T], lo, hi int) {
	startGrads(wk, g.M*d.k, g.M, needW, needB)
	pg, _ := convPaddedSetup(g, d, wk)
	taps := wk.taps
	kk := len(taps)
	if dx != nil {
		// W' = W with each row reordered tap-major: W'[m][t][c] = W[m][c][t].
		wk.wperm = grow(wk.wperm, len(w))
		permuteTaps(wk.wperm, w, d.cg, kk)
		wk.dpad = grow(wk.dpad, pg.size)
	}
	if needW {
		wk.dwperm = grow(wk.dwperm, len(w))
		clear(wk.dwperm)
	}
	wk.wide = grow(wk.wide, g.M*pg.nw)
	dyw := wk.wide
	for img := lo; img < hi; img++ {
		dyi := dy[img*g.M*d.p : (img+1)*g.M*d.p]
		for m := range g.M {
			row := dyw[m*pg.nw : (m+1)*pg.nw]
			for oh := range d.oh {
				copy(row[oh*pg.wq:], dyi[m*d.p+oh*d.ow:m*d.p+(oh+1)*d.ow])
				if oh < d.oh-1 {
					clear(row[oh*pg.wq+d.ow : (oh+1)*pg.wq])
				}
			}
		}
		if needW {
			padImage(g, pg, x[img*g.C*d.hw:(img+1)*g.C*d.hw], wk.pad, nil, wk.padFor(g, pg), &wk.phases)
		}
		if dx != nil {
			clear(wk.dpad)
		}
		for gi := range g.Group {
			dyg := dyw[gi*d.mg*pg.nw : (gi+1)*d.mg*pg.nw]
			base := gi * d.cg * pg.cs
			for t, o := range taps {
				if needW {
					wk.gemm.Gemm(false, true, d.mg, d.cg, pg.nw,
						1, dyg, pg.nw,
						wk.pad[base+o:], pg.cs,
						1, wk.dwperm[gi*d.mg*d.k+t*d.cg:], d.k)
				}
				if dx != nil {
					wk.gemm.Gemm(true, false, d.cg, pg.nw, d.mg,
						1, wk.wperm[gi*d.mg*d.k+t*d.cg:], d.k,
						dyg, pg.nw,
						1, wk.dpad[base+o:], pg.cs)
				}
			}
		}
		if dx != nil {
			unpadImage(g, pg, wk.dpad, dx[img*g.C*d.hw:(img+1)*g.C*d.hw], &wk.phases)
		}
		if needB {
			addRowSums(wk.db, dyi, d.p)
		}
	}
	if needW {
		// Back from tap-major: dW[m][c][t] = dW'[m][t][c].
		unpermuteTaps(wk.dw, wk.dwperm, d.cg, kk)
	}
}

// permuteTaps sets dst[(r·kk + t)·cg + c] = src[(r·cg + c)·kk + t] for
// every row r of a weight tensor with cg channels of kk taps.
func permuteTaps[T Float](dst, src []T, cg, kk int) {
	k := cg * kk
	for r := 0; r < len(src); r += k {
		s, dd := src[r:r+k], dst[r:r+k]
		for c := range cg {
			for t := range kk {
				dd[t*cg+c] = s[c*kk+t]
			}
		}
	}
}

// unpermuteTaps is the inverse of permuteTaps.
func unpermuteTaps[T Float](dst, src []T, cg, kk int) {
	k := cg * kk
	for r := 0; r < len(src); r += k {
		s, dd := src[r:r+k], dst[r:r+k]
		for c := range cg {
			for t := range kk {
				dd[c*kk+t] = s[t*cg+c]
			}
		}
	}
}
