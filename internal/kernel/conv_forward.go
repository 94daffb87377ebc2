package kernel

// ConvForward computes the 2-D convolution y = conv(x, w) + bias over a
// batch of n images (ONNX Conv).
//
//	x:    n × C × H × W
//	w:    M × C/Group × KH × KW
//	bias: M, or nil for none
//	y:    n × M × OH × OW, overwritten
//
// When q is not nil, every input value is fake-quantized by q.Apply as it is
// read; the zeros of the padding stay 0. The weights are used as given.
//
// work holds one ConvWork per worker (see NewConvWork); ConvForward uses
// min(len(work), Workers()) goroutines. With at least as many images as
// workers each worker convolves whole images (im2col, then a
// single-threaded GEMM per group); with fewer images the im2col and the
// GEMM of each image are split across the workers. Depthwise convolutions
// (Group = C = M) use a direct loop over (image, channel) planes instead.
// 1×1 stride-1 unpadded convolutions without q skip im2col.
//
// ConvForward panics with a "kernel: ..." message when g is invalid, a
// slice has the wrong length, work is empty, or q has a non-positive scale
// or a zero point outside [Lo, Hi]. y must not overlap the other slices.
func ConvForward[T Float](g Conv2D, n int, x, w, bias, y []T, q *FakeQuant[T], work []*ConvWork[T]) {
	const op = "ConvForward"
	workers := checkConvArgs(op, g, n, work)
	d := g.dims()
	checkLen(op, "x", x, n*g.C*d.hw, false)
	checkLen(op, "w", w, g.M*d.k, false)
	checkLen(op, "bias", bias, g.M, true)
	checkLen(op, "y", y, n*g.M*d.p, false)
	if q != nil {
		q.check(op)
	}
	if n == 0 {
		return
	}

	// The single-range cases call the kernels directly: a closure handed to
	// parallelFor escapes to the heap.
	if g.depthwise() {
		// Each (image, channel) plane is independent; about 16k
		// multiply-adds per range keeps the goroutines worth their cost.
		minChunk := 1 + (1<<14)/(d.p*g.KH*g.KW)
		if chunkCount(n*g.C, minChunk, workers) == 1 {
			depthwiseForward(g, d, x, w, bias, y, q, work[0], 0, n*g.C)
			return
		}
		parallelFor(n*g.C, minChunk, workers, func(wi, lo, hi int) {
			depthwiseForward(g, d, x, w, bias, y, q, work[wi], lo, hi)
		})
		return
	}
	switch {
	case workers == 1:
		convImages(g, d, x, w, bias, y, q, work[0], 0, n)
		return
	case n >= workers:
		parallelFor(n, 1, workers, func(wi, lo, hi int) {
			convImages(g, d, x, w, bias, y, q, work[wi], lo, hi)
		})
		return
	}
	for img := range n {
		convImageShared(g, d, workers, x[img*g.C*d.hw:(img+1)*g.C*d.hw], w, bias, y[img*g.M*d.p:(img+1)*g.M*d.p], q, work[0])
	}
}

// columns returns the im2col matrix of the image x for the worker wk,
// building it in wk unless g is pointwise and unquantized, in which case
// x itself is that matrix.
func columns[T Float](g Conv2D, d convDims, x []T, q *FakeQuant[T], wk *ConvWork[T]) []T {
	if q == nil && g.pointwise() {
		return x
	}
	wk.col = grow(wk.col, g.C*g.KH*g.KW*d.p)
	im2col(g, d, x, wk.col, q, 0, g.C)
	return wk.col
}

// fillBias sets every row of the M × P image y to its bias, or to 0.
func fillBias[T Float](y, bias []T, p int) {
	if bias == nil {
		clear(y)
		return
	}
	for m, b := range bias {
		row := y[m*p : (m+1)*p]
		for i := range row {
			row[i] = b
		}
	}
}

// convImages convolves images [lo, hi) on the calling goroutine.
func convImages[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], lo, hi int) {
	for img := lo; img < hi; img++ {
		convImage(g, d, x[img*g.C*d.hw:(img+1)*g.C*d.hw], w, bias, y[img*g.M*d.p:(img+1)*g.M*d.p], q, wk)
	}
}

// convImage convolves one image on the calling goroutine.
func convImage[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T]) {
	col := columns(g, d, x, q, wk)
	fillBias(y, bias, d.p)
	for gi := range g.Group {
		gemmSerial(false, false, d.mg, d.p, d.k,
			1, w[gi*d.mg*d.k:(gi+1)*d.mg*d.k], d.k,
			col[gi*d.k*d.p:(gi+1)*d.k*d.p], d.p,
			1, y[gi*d.mg*d.p:(gi+1)*d.mg*d.p], d.p)
	}
}

// convImageShared convolves one image with all workers: im2col split over
// input channels, then the GEMM split over output channels. It uses the
// col buffer of wk only.
func convImageShared[T Float](g Conv2D, d convDims, workers int, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T]) {
	col := x
	if q != nil || !g.pointwise() {
		wk.col = grow(wk.col, g.C*g.KH*g.KW*d.p)
		col = wk.col
		minChunk := 1 + (1<<15)/(g.KH*g.KW*d.p)
		parallelFor(g.C, minChunk, workers, func(_, lo, hi int) {
			im2col(g, d, x, col, q, lo, hi)
		})
	}
	fillBias(y, bias, d.p)
	minChunk := 1 + (1<<16)/(d.p*d.k)
	parallelFor(g.M, minChunk, workers, func(_, lo, hi int) {
		// Rows [lo, hi) of y may span several groups.
		for m := lo; m < hi; {
			gi := m / d.mg / 2
			end := min(hi, (gi+1)*d.mg)
			gemmSerial(false, false, end-m, d.p, d.k,
				1, w[m*d.k:end*d.k], d.k,
				col[gi*d.k*d.p:(gi+1)*d.k*d.p], d.p,
				1, y[m*d.p:end*d.p], d.p)
			m = end
		}
	})
}

// depthwiseForward convolves the (image, channel) planes [lo, hi) of a
// depthwise convolution directly.
func depthwiseForward[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], lo, hi int) {
	kk := g.KH * g.KW
	for idx := lo; idx < hi; idx++ {
		c := idx % g.C
		plane := x[idx*d.hw : (idx+1)*d.hw]
		if q != nil {
			wk.col = grow(wk.col, d.hw)
			for i, v := range plane {
				wk.col[i] = q.Apply(v)
			}
			plane = wk.col
		}
		out := y[idx*d.p : (idx+1)*d.p]
		var b T
		if bias != nil {
			b = bias[c]
		}
		for i := range out {
			out[i] = b
		}
		depthwisePlane(g, d, plane, w[c*kk:(c+1)*kk], out)
	}
}

// depthwisePlane adds the correlation of one H×W plane with one KH×KW
// kernel to the OH×OW plane out.
func depthwisePlane[T Float](g Conv2D, d convDims, plane, k, out []T) {
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
				dst := out[oh*d.ow+lo : oh*d.ow+hi]
				src := plane[ih*g.W+base:]
				if g.StrideW == 1 {
					src = src[:len(dst)]
					for i, v := range src {
						dst[i] += wv * v
					}
					continue
				}
				for i := range dst {
					dst[i] += wv * src[i*g.StrideW]
				}
			}
		}
	}
}
