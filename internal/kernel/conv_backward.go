package kernel

// ConvBackward computes the gradients of a loss L through ConvForward
// without fake quantization (as a straight-through estimator would), given
// dy = ∂L/∂y (n × M × OH × OW):
//
//	dx: ∂L/∂x, n × C × H × W, overwritten; nil skips it
//	dw: ∂L/∂w summed over the batch, M × C/Group × KH × KW, overwritten; nil skips it
//	db: ∂L/∂bias summed over the batch, M, overwritten; nil skips it
//
// work holds one ConvWork per worker, as for ConvForward. The batch is split
// into contiguous ranges, one per worker; each worker accumulates its
// weight and bias gradients in its own ConvWork and the results are summed
// in worker order, so for a fixed number of workers the result is deterministic.
// With fewer images than workers, fewer workers run. Where usePaddedBackward
// says so, each image runs two GEMMs per kernel tap on its padded layout
// (conv_padded.go); otherwise it builds the im2col matrix, runs
// dW += dY·colᵀ and dcol = Wᵀ·dY, and folds dcol back with col2im.
//
// ConvBackward panics with a "kernel: ..." message when g is invalid, a
// slice has the wrong length or work is empty. The outputs must not
// overlap the inputs or each other.
func ConvBackward[T Float](t *Team, g Conv2D, n int, x, w, dy, dx, dw, db []T, work []*ConvWork[T]) {
	const op = "ConvBackward"
	workers := checkConvArgs(op, t, g, n, work)
	d := g.dims()
	checkLen(op, "x", x, n*g.C*d.hw, false)
	checkLen(op, "w", w, g.M*d.k, false)
	checkLen(op, "dy", dy, n*g.M*d.p, false)
	checkLen(op, "dx", dx, n*g.C*d.hw, true)
	checkLen(op, "dw", dw, g.M*d.k, true)
	checkLen(op, "db", db, g.M, true)
	if n == 0 {
		clear(dw)
		clear(db)
		return
	}

	job := teamJob[convBackJob[T]](t, slotConvBackward)
	*job = convBackJob[T]{g: g, d: d, x: x, w: w, dy: dy, dx: dx, needW: dw != nil, needB: db != nil, work: work}
	var used int
	if g.depthwise() {
		job.depthwise = true
		used = parallelFor(t, n*g.C, 1+(1<<14)/(d.p*g.KH*g.KW), workers, job)
	} else {
		job.padded = usePaddedBackward(g)
		used = parallelFor(t, n, 1, workers, job)
	}
	*job = convBackJob[T]{}

	// Sum the per-worker accumulators in worker order.
	if dw != nil {
		copy(dw, work[0].dw)
		for _, wk := range work[1:used] {
			for i, v := range wk.dw {
				dw[i] += v
			}
		}
	}
	if db != nil {
		copy(db, work[0].db)
		for _, wk := range work[1:used] {
			for i, v := range wk.db {
				db[i] += v
			}
		}
	}
}

// ConvBackwardData computes only dx = ∂L/∂x of ConvBackward (n × C × H ×
// W, overwritten) from dy: the transposed convolution of dy by w, which is
// also the forward pass of a ConvTranspose whose input is dy. It reads no
// input image.
func ConvBackwardData[T Float](t *Team, g Conv2D, n int, w, dy, dx []T, work []*ConvWork[T]) {
	const op = "ConvBackwardData"
	workers := checkConvArgs(op, t, g, n, work)
	d := g.dims()
	checkLen(op, "w", w, g.M*d.k, false)
	checkLen(op, "dy", dy, n*g.M*d.p, false)
	checkLen(op, "dx", dx, n*g.C*d.hw, false)
	if n == 0 {
		return
	}
	job := teamJob[convBackJob[T]](t, slotConvBackward)
	*job = convBackJob[T]{g: g, d: d, w: w, dy: dy, dx: dx, work: work}
	if g.depthwise() {
		job.depthwise = true
		parallelFor(t, n*g.C, 1+(1<<14)/(d.p*g.KH*g.KW), workers, job)
	} else {
		job.padded = usePaddedBackward(g)
		parallelFor(t, n, 1, workers, job)
	}
	*job = convBackJob[T]{}
}

// convBackJob is the Ranger of ConvBackward over images, or over (image,
// channel) planes of a depthwise convolution.
type convBackJob[T Float] struct {
	g                 Conv2D
	d                 convDims
	x, w, dy, dx      []T
	needW, needB      bool
	work              []*ConvWork[T]
	depthwise, padded bool
}

// Range runs the backward pass of images (planes) [lo, hi) as worker wi.
func (j *convBackJob[T]) Range(wi, lo, hi int) {
	switch {
	case j.depthwise:
		depthwiseBackward(j.g, j.d, j.x, j.w, j.dy, j.dx, j.needW, j.needB, j.work[wi], lo, hi)
	case j.padded:
		convBackwardPadded(j.g, j.d, j.x, j.w, j.dy, j.dx, j.needW, j.needB, j.work[wi], lo, hi)
	default:
		convBackwardImages(j.g, j.d, j.x, j.w, j.dy, j.dx, j.needW, j.needB, j.work[wi], lo, hi)
	}
}

// startGrads sizes and zeroes the gradient accumulators of wk.
func startGrads[T Float](wk *ConvWork[T], nw, nb int, needW, needB bool) {
	if needW {
		wk.dw = grow(wk.dw, nw)
		clear(wk.dw)
	}
	if needB {
		wk.db = grow(wk.db, nb)
		clear(wk.db)
	}
}

// addRowSums adds the sum of each P-long row of dy (M × P) to db.
func addRowSums[T Float](db, dy []T, p int) {
	for m := range db {
		var s T
		for _, v := range dy[m*p : (m+1)*p] {
			s += v
		}
		db[m] += s
	}
}

// convBackwardImages runs the backward pass of images [lo, hi) on the
// calling goroutine, accumulating weight and bias gradients in wk.
func convBackwardImages[T Float](g Conv2D, d convDims, x, w, dy, dx []T, needW, needB bool, wk *ConvWork[T], lo, hi int) {
	startGrads(wk, g.M*d.k, g.M, needW, needB)
	pointwise := g.pointwise()
	for img := lo; img < hi; img++ {
		dyi := dy[img*g.M*d.p : (img+1)*g.M*d.p]
		var col, dcol []T
		if needW {
			col = columns(g, d, x[img*g.C*d.hw:(img+1)*g.C*d.hw], nil, wk)
		}
		if dx != nil {
			if pointwise {
				dcol = dx[img*g.C*d.hw : (img+1)*g.C*d.hw]
			} else {
				wk.dcol = grow(wk.dcol, g.C*g.KH*g.KW*d.p)
				dcol = wk.dcol
			}
		}
		for gi := range g.Group {
			dyg := dyi[gi*d.mg*d.p : (gi+1)*d.mg*d.p]
			if needW {
				// dW_g += dY_g · col_gᵀ
				wk.gemm.Gemm(false, true, d.mg, d.k, d.p,
					1, dyg, d.p,
					col[gi*d.k*d.p:(gi+1)*d.k*d.p], d.p,
					1, wk.dw[gi*d.mg*d.k:(gi+1)*d.mg*d.k], d.k)
			}
			if dx != nil {
				// dcol_g = W_gᵀ · dY_g
				wk.gemm.Gemm(true, false, d.k, d.p, d.mg,
					1, w[gi*d.mg*d.k:(gi+1)*d.mg*d.k], d.k,
					dyg, d.p,
					0, dcol[gi*d.k*d.p:(gi+1)*d.k*d.p], d.p)
			}
		}
		if dx != nil && !pointwise {
			dxi := dx[img*g.C*d.hw : (img+1)*g.C*d.hw]
			clear(dxi)
			col2im(g, d, dcol, dxi)
		}
		if needB {
			addRowSums(wk.db, dyi, d.p)
		}
	}
}

// depthwiseBackward runs the backward pass of the (image, channel) planes
// [lo, hi) of a depthwise convolution directly, accumulating weight and
// bias gradients in wk.
func depthwiseBackward[T Float](g Conv2D, d convDims, x, w, dy, dx []T, needW, needB bool, wk *ConvWork[T], lo, hi int) {
	kk := g.KH * g.KW
	startGrads(wk, g.C*kk, g.C, needW, needB)
	for idx := lo; idx < hi; idx++ {
		c := idx % g.C
		dyp := dy[idx*d.p : (idx+1)*d.p]
		if dx != nil {
			dxp := dx[idx*d.hw : (idx+1)*d.hw]
			clear(dxp)
			depthwiseData(g, d, dyp, w[c*kk:(c+1)*kk], dxp)
		}
		if needW {
			depthwiseFilter(g, d, x[idx*d.hw:(idx+1)*d.hw], dyp, wk.dw[c*kk:(c+1)*kk])
		}
		if needB {
			addRowSums(wk.db[c:c+1], dyp, d.p)
		}
	}
}

// depthwiseData adds the gradient with respect to one input plane, given
// the output gradient dyp and the kernel k, to dxp.
func depthwiseData[T Float](g Conv2D, d convDims, dyp, k, dxp []T) {
	for kw := range g.KW {
		offW := kw*g.DilW - g.PadLeft
		lo, hi := validRange(d.ow, g.StrideW, offW, g.W)
		if lo == hi {
			continue
		}
		base := lo*g.StrideW + offW
		for kh := range g.KH {
			wv := k[kh*g.KW+kw]
			for oh := range d.oh {
				ih := oh*g.StrideH - g.PadTop + kh*g.DilH
				if ih < 0 || ih >= g.H {
					continue
				}
				src := dyp[oh*d.ow+lo : oh*d.ow+hi]
				dst := dxp[ih*g.W+base:]
				if g.StrideW == 1 {
					dst = dst[:len(src)]
					for i, v := range src {
						dst[i] += wv * v
					}
					continue
				}
				for i, v := range src {
					dst[i*g.StrideW] += wv * v
				}
			}
		}
	}
}

// depthwiseFilter adds the gradient with respect to one KH×KW kernel,
// given its input plane xp and output gradient dyp, to dk.
func depthwiseFilter[T Float](g Conv2D, d convDims, xp, dyp, dk []T) {
	for kw := range g.KW {
		offW := kw*g.DilW - g.PadLeft
		lo, hi := validRange(d.ow, g.StrideW, offW, g.W)
		if lo == hi {
			continue
		}
		base := lo*g.StrideW + offW
		for kh := range g.KH {
			var s T
			for oh := range d.oh {
				ih := oh*g.StrideH - g.PadTop + kh*g.DilH
				if ih < 0 || ih >= g.H {
					continue
				}
				gy := dyp[oh*d.ow+lo : oh*d.ow+hi]
				src := xp[ih*g.W+base:]
				if g.StrideW == 1 {
					src = src[:len(gy)]
					for i, v := range gy {
						s += v * src[i]
					}
					continue
				}
				for i, v := range gy {
					s += v * src[i*g.StrideW]
				}
			}
			dk[kh*g.KW+kw] += s
		}
	}
}
