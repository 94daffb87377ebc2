package kernel

import "unsafe"

// ConvForward computes the 2-D convolution y = conv(x, w) + bias over a
// batch of n images (ONNX Conv).
//
//	x:    n × C × H × W
//	w:    M × C/Group × KH × KW
//	bias: M, or nil for none
//	y:    n × M × OH × OW, overwritten
//
// When q is not nil, every input value is fake-quantized by q.Apply; the
// zeros of the padding stay 0. The weights are used as given. Each input
// value is quantized once, as the image is copied into the padded layout
// or the im2col matrix (or, where im2col windows overlap, into ConvWork
// scratch first).
//
// work holds one ConvWork per worker (see NewConvWork); ConvForward uses
// min(len(work), t.Workers()) goroutines of t. With at least as many images as
// workers each worker convolves whole images: it copies each into the
// padded layout of conv_padded.go and runs a single-threaded GEMM per
// group whose panels are packed from it, or, where usePadded says im2col
// is cheaper, builds the im2col matrix. With fewer images the im2col and
// the GEMM of each image are split across the workers. Depthwise
// convolutions (Group = C = M) use a direct loop over (image, channel)
// planes instead. 1×1 stride-1 unpadded convolutions go through the
// padded layout too (a plain copy of the image), so that the bias and the
// ReLU come in the GEMM's epilogue; only an image split across workers is
// multiplied in place. Dense convolutions (a filter as large as the
// unpadded image, 1×1 outputs) are one GEMM over blocks of the batch.
//
// ConvForward panics with a "kernel: ..." message when g is invalid, a
// slice has the wrong length, work is empty, or q has a non-positive scale
// or a zero point outside [Lo, Hi]. y must not overlap the other slices.
func ConvForward[T Float](t *Team, g Conv2D, n int, x, w, bias, y []T, q *FakeQuant[T], work []*ConvWork[T]) {
	convForward("ConvForward", t, g, n, x, w, bias, y, q, work, false)
}

// ConvForwardReLU is ConvForward followed by y = max(y, 0) (NaN stays NaN,
// like Relu), applied to each image (or depthwise plane) as soon as it is
// computed, while it is still in cache, instead of in a separate pass over
// the batch: an ONNX Conv whose only consumer is a Relu.
func ConvForwardReLU[T Float](t *Team, g Conv2D, n int, x, w, bias, y []T, q *FakeQuant[T], work []*ConvWork[T]) {
	convForward("ConvForwardReLU", t, g, n, x, w, bias, y, q, work, true)
}

func convForward[T Float](op string, t *Team, g Conv2D, n int, x, w, bias, y []T, q *FakeQuant[T], work []*ConvWork[T], relu bool) {
	workers := checkConvArgs(op, t, g, n, work)
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

	job := teamJob[convJob[T]](t, slotConvForward)
	*job = convJob[T]{g: g, d: g.dims(), x: x, w: w, bias: bias, y: y, q: q, work: work, relu: relu}
	defer func() { *job = convJob[T]{} }()
	if g.depthwise() {
		// Each (image, channel) plane is independent; about 16k
		// multiply-adds per range keeps the goroutines worth their cost.
		job.depthwise = true
		parallelFor(t, n*g.C, 1+(1<<14)/(d.p*g.KH*g.KW), workers, job)
		return
	}
	if g.dense() {
		// Blocks of at least 16 images: one GEMM per block.
		job.dense = true
		parallelFor(t, n, 16, workers, job)
		return
	}
	if workers == 1 || n >= workers {
		parallelFor(t, n, 1, workers, job)
		return
	}
	for img := range n {
		yi := y[img*g.M*d.p : (img+1)*g.M*d.p]
		convImageShared(t, g, d, workers, x[img*g.C*d.hw:(img+1)*g.C*d.hw], w, bias, yi, q, work)
		if relu {
			Relu(yi, yi)
		}
	}
}

// convJob is the Ranger of ConvForward over images, or over (image,
// channel) planes of a depthwise convolution.
type convJob[T Float] struct {
	g             Conv2D
	d             convDims
	x, w, bias, y []T
	q             *FakeQuant[T]
	work          []*ConvWork[T]
	depthwise     bool
	dense         bool // g.dense(): images [lo, hi) in one GEMM
	relu          bool // ConvForwardReLU
}

// Range convolves images (planes) [lo, hi) as worker wi.
func (j *convJob[T]) Range(wi, lo, hi int) {
	if j.depthwise {
		if !j.relu {
			depthwiseForward(j.g, j.d, j.x, j.w, j.bias, j.y, j.q, j.work[wi], lo, hi)
			return
		}
		// A few planes at a time, so that the ReLU finds them in cache.
		const planes = 16
		for a := lo; a < hi; a += planes {
			b := min(a+planes, hi)
			depthwiseForward(j.g, j.d, j.x, j.w, j.bias, j.y, j.q, j.work[wi], a, b)
			ys := j.y[a*j.d.p : b*j.d.p]
			Relu(ys, ys)
		}
		return
	}
	g, d := j.g, j.d
	if j.dense {
		denseForward(g, d, j.x[lo*d.k:hi*d.k], j.w, j.bias, j.y[lo*g.M:hi*g.M], j.q, j.work[wi], j.relu)
		return
	}
	if nb := batchImages[T](g, d, hi-lo); nb > 0 {
		for a := lo; a < hi; a += nb {
			b := min(a+nb, hi)
			convBatchPadded(g, d, b-a, j.x[a*g.C*d.hw:b*g.C*d.hw], j.w, j.bias, j.y[a*g.M*d.p:b*g.M*d.p], j.q, j.work[wi], j.relu)
		}
		return
	}
	for img := lo; img < hi; img++ {
		yi := j.y[img*g.M*d.p : (img+1)*g.M*d.p]
		if !convImage(g, d, j.x[img*g.C*d.hw:(img+1)*g.C*d.hw], j.w, j.bias, yi, j.q, j.work[wi], j.relu) && j.relu {
			Relu(yi, yi)
		}
	}
}

// denseForward convolves the images of x (a batch of any size) with a
// dense convolution (Conv2D.dense): each output pixel is the dot product
// of a filter with a whole image, so the batch's outputs (images × M, the
// NCHW layout of 1×1 outputs) are x·wᵀ + bias, one GEMM with the images
// as rows (fake-quantized first with q), instead of one matrix-vector
// product per image.
func denseForward[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], relu bool) {
	n := len(x) / d.k
	if q != nil {
		wk.qx = grow(wk.qx, len(x))
		quantizeTo(wk.qx[:len(x)], x, q)
		x = wk.qx[:len(x)]
	}
	for img := range n {
		fillBias(y[img*g.M:(img+1)*g.M], bias, 1)
	}
	wk.gemm.Gemm(false, true, n, g.M, d.k, 1, x, d.k, w, d.k, 1, y, g.M)
	if relu {
		Relu(y, y)
	}
}

// columns returns the im2col matrix of the image x for the worker wk,
// building it in wk unless g is pointwise and unquantized, in which case
// x itself is that matrix.
func columns[T Float](g Conv2D, d convDims, x []T, q *FakeQuant[T], wk *ConvWork[T]) []T {
	if q != nil && prequantize(g) {
		wk.qx = grow(wk.qx, len(x))
		quantizeTo(wk.qx, x, q)
		x, q = wk.qx, nil
	}
	if q == nil && g.pointwise() {
		return x
	}
	wk.col = grow(wk.col, g.C*g.KH*g.KW*d.p)
	im2col(g, d, x, wk.col, q, 0, g.C)
	return wk.col
}

// shortRow is the image width below which fake-quantizing row by row
// while padding would leave most values to the scalar tail of the vector
// quantizer: narrower images are quantized in one sweep first.
const shortRow = 64

// quantizeTo sets dst[i] = q.Apply(src[i]).
func quantizeTo[T Float](dst, src []T, q *FakeQuant[T]) {
	FakeQuantSlice(dst[:len(src)], src, q)
}

// Relu sets dst[i] = max(src[i], 0) for every i < len(dst) (NaN stays
// NaN), with AVX2 for float32 where the CPU has it. src must be at least
// as long as dst; the two may be the same slice.
func Relu[T Float](dst, src []T) {
	src = src[:len(dst)]
	done := 0
	switch d := any(dst).(type) {
	case []float32:
		done = reluAsm(d, any(src).([]float32))
	case []float64:
		done = relu64Asm(d, any(src).([]float64))
	}
	for i, v := range src[done:] {
		if v < 0 {
			v = 0
		}
		dst[done+i] = v
	}
}

// ReluBackward adds gy[i] to gx[i] wherever x[i] > 0, with AVX2 where the
// CPU has it (bit for bit the scalar loop: elsewhere gx is untouched, not
// added zero). x and gy must be at least as long as gx.
func ReluBackward[T Float](gx, x, gy []T) {
	x, gy = x[:len(gx)], gy[:len(gx)]
	done := reluBackAsm(gx, x, gy)
	for i, v := range x[done:] {
		if v > 0 {
			gx[done+i] += gy[done+i]
		}
	}
}

// FakeQuantSlice sets dst[i] = q.Apply(src[i]) for every i < len(dst),
// with AVX2 for float32 where the CPU has it (bit for bit the same
// results). src must be at least as long as dst.
func FakeQuantSlice[T Float](dst, src []T, q *FakeQuant[T]) {
	src = src[:len(dst)]
	done := 0
	if d32, ok := any(dst).([]float32); ok {
		s32, q32 := any(src).([]float32), any(q).(*FakeQuant[float32])
		done = fakeQuantAsm(d32, s32, q32)
		if t := len(d32) - 8; done > 0 && done < len(d32) && !overlap(d32, s32) {
			// The last 8 values again, overlapping the vectors done: the
			// same inputs give the same bits.
			fakeQuantAsm(d32[t:], s32[t:], q32)
			done = len(d32)
		}
	}
	for i, v := range src[done:] {
		dst[done+i] = q.Apply(v)
	}
}

// overlap reports whether the memory of a and b overlaps.
func overlap[T any](a, b []T) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	var z T
	size := unsafe.Sizeof(z)
	pa, pb := uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&b[0]))
	return pa < pb+uintptr(len(b))*size && pb < pa+uintptr(len(a))*size
}

// fillBias sets every row of the M × P image y to its bias, or to 0.
func fillBias[T Float](y, bias []T, p int) {
	if bias == nil {
		clear(y)
		return
	}
	for m, b := range bias {
		row := y[m*p : (m+1)*p]
		done := 0
		if r, ok := any(row).([]float32); ok {
			done = fillAsm(r, float32(b))
		}
		for i := range row[done:] {
			row[done+i] = b
		}
	}
}

// convImage convolves one image on the calling goroutine and reports
// whether it applied the ReLU too (asked for with relu: the padded layout
// does it in its epilogue, the im2col path leaves it to the caller).
func convImage[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], relu bool) bool {
	// A pointwise image goes through the padded layout too (for 1×1
	// unpadded, the image itself plus a zero slack): one copy, fake-
	// quantizing, replaces filling y with the bias and a ReLU pass, and
	// the GEMM stores whole tiles (1.45× on resnet's 32×32 on 7×7,
	// BenchmarkConvPaths).
	if usePadded(g) || g.pointwise() {
		convImagePadded(g, d, x, w, bias, y, q, wk, relu)
		return relu
	}
	convImageIm2col(g, d, x, w, bias, y, q, wk)
	return false
}

// convImageIm2col convolves one image on the calling goroutine through its
// im2col matrix.
func convImageIm2col[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T]) {
	col := columns(g, d, x, q, wk)
	fillBias(y, bias, d.p)
	for gi := range g.Group {
		wk.gemm.Gemm(false, false, d.mg, d.p, d.k,
			1, w[gi*d.mg*d.k:(gi+1)*d.mg*d.k], d.k,
			col[gi*d.k*d.p:(gi+1)*d.k*d.p], d.p,
			1, y[gi*d.mg*d.p:(gi+1)*d.mg*d.p], d.p)
	}
}

// convImageShared convolves one image with all workers: quantization and
// im2col split over input values and channels, then the GEMM split over
// output channels. It uses the buffers of work[0], and the GEMM buffers of
// each worker's ConvWork.
func convImageShared[T Float](t *Team, g Conv2D, d convDims, workers int, x, w, bias, y []T, q *FakeQuant[T], work []*ConvWork[T]) {
	wk := work[0]
	job := teamJob[convSharedJob[T]](t, slotConvShared)
	*job = convSharedJob[T]{g: g, d: d, x: x, w: w, q: q, work: work}
	defer func() { *job = convSharedJob[T]{} }()
	if q != nil && prequantize(g) {
		wk.qx = grow(wk.qx, len(x))
		job.col, job.stage = wk.qx, stageQuantize
		parallelFor(t, len(x), 1<<14, workers, job)
		x, q = wk.qx, nil
		job.x, job.q = x, q
	}
	col := x
	if q != nil || !g.pointwise() {
		wk.col = grow(wk.col, g.C*g.KH*g.KW*d.p)
		col = wk.col
		job.col, job.stage = col, stageIm2col
		parallelFor(t, g.C, 1+(1<<15)/(g.KH*g.KW*d.p), workers, job)
	}
	fillBias(y, bias, d.p)
	job.col, job.y, job.stage = col, y, stageGemm
	parallelFor(t, g.M, 1+(1<<16)/(d.p*d.k), workers, job)
}

// The stages of convImageShared.
const (
	stageQuantize = iota
	stageIm2col
	stageGemm
)

// convSharedJob is the Ranger of one stage of convImageShared.
type convSharedJob[T Float] struct {
	g       Conv2D
	d       convDims
	x, w, y []T
	col     []T // the quantized image, im2col matrix or GEMM operand
	q       *FakeQuant[T]
	work    []*ConvWork[T]
	stage   int
}

// Range runs items [lo, hi) of the current stage as worker wi.
func (j *convSharedJob[T]) Range(wi, lo, hi int) {
	g, d := j.g, j.d
	switch j.stage {
	case stageQuantize:
		quantizeTo(j.col[lo:hi], j.x[lo:hi], j.q)
	case stageIm2col:
		im2col(g, d, j.x, j.col, j.q, lo, hi)
	default:
		// Rows [lo, hi) of y may span several groups.
		for m := lo; m < hi; {
			gi := m / d.mg
			end := min(hi, (gi+1)*d.mg)
			j.work[wi].gemm.Gemm(false, false, end-m, d.p, d.k,
				1, j.w[m*d.k:end*d.k], d.k,
				j.col[gi*d.k*d.p:(gi+1)*d.k*d.p], d.p,
				1, j.y[m*d.p:end*d.p], d.p)
			m = end
		}
	}
}

// depthwiseForward convolves the (image, channel) planes [lo, hi) of a
// depthwise convolution directly: each plane is copied, fake-quantized
// when q is not nil, into a zero-padded plane in wk, so that the inner
// loops need no bounds logic.
func depthwiseForward[T Float](g Conv2D, d convDims, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], lo, hi int) {
	kk := g.KH * g.KW
	hp, wp := g.H+g.PadTop+g.PadBottom, g.W+g.PadLeft+g.PadRight
	wk.col = grow(wk.col, hp*wp)
	padded := wk.col[:hp*wp]
	clear(padded) // the padding; each plane overwrites the interior
	interior := padded[g.PadTop*wp+g.PadLeft:]
	for idx := lo; idx < hi; idx++ {
		c := idx % g.C
		plane := x[idx*d.hw : (idx+1)*d.hw]
		pq := q
		if q != nil && g.W < shortRow {
			wk.qx = grow(wk.qx, d.hw)
			quantizeTo(wk.qx, plane, q)
			plane, pq = wk.qx, nil
		}
		if pq == nil {
			placeRows(interior, plane, g.H, g.W, wp, g.W, 1)
		} else {
			for ih := range g.H {
				copyStrided(interior[ih*wp:ih*wp+g.W], plane[ih*g.W:], 0, 1, pq)
			}
		}
		var b T
		if bias != nil {
			b = bias[c]
		}
		depthwisePadded(g, d, padded, wp, w[c*kk:(c+1)*kk], y[idx*d.p:(idx+1)*d.p], b, wk)
	}
}

// depthwisePadded sets the OH×OW plane out to b plus the correlation of
// the zero-padded plane xp (row length wp) with the KH×KW kernel k.
// wk.wide is its scratch.
func depthwisePadded[T Float](g Conv2D, d convDims, xp []T, wp int, k, out []T, b T, wk *ConvWork[T]) {
	sh, sw, dh, dw := g.StrideH, g.StrideW, g.DilH, g.DilW
	if g.KH == 3 && g.KW == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 {
		// The commonest case: one vector sweep over the wide columns
		// j = oh·wp + ow (the last wp − OW of each row but the last are
		// not outputs), then the valid columns are copied out.
		wk.wide = grow(wk.wide, (d.oh-1)*wp+d.ow)
		depthwise3x3Wide(wk.wide, xp, wp, k, b)
		biasRows(out, wk.wide, d.oh, d.ow, wp, d.oh*wp, nil, d.oh, false) // copies the valid columns
		return
	}
	if g.KH == 3 && g.KW == 3 && sh == 2 && sw == 2 && dh == 1 && dw == 1 {
		// Stride 2 (MobileNet's downsampling): the vector sweep over the
		// wide columns of the stride-1 rows 0, 2, 4, …, the columns up
		// to the last even one, then every other one copied out: four
		// times the sums, in vectors, with the same operations per sum.
		n := 2*(d.oh-1)*wp + 2*(d.ow-1) + 1
		wk.wide = grow(wk.wide, n)
		depthwise3x3Wide(wk.wide[:n], xp, wp, k, b)
		placeRows(out, wk.wide[:n], d.oh, d.ow, d.ow, 2*wp, 2)
		return
	}
	if g.KH == 3 && g.KW == 3 {
		// Strided or dilated 3×3, unrolled with the kernel in registers.
		k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
		for oh := range d.oh {
			r0 := xp[oh*sh*wp:]
			r1 := xp[(oh*sh+dh)*wp:]
			r2 := xp[(oh*sh+2*dh)*wp:]
			o := out[oh*d.ow : (oh+1)*d.ow]
			for ow := range o {
				j := ow * sw
				o[ow] = b +
					k0*r0[j] + k1*r0[j+dw] + k2*r0[j+2*dw] +
					k3*r1[j] + k4*r1[j+dw] + k5*r1[j+2*dw] +
					k6*r2[j] + k7*r2[j+dw] + k8*r2[j+2*dw]
			}
		}
		return
	}
	for oh := range d.oh {
		o := out[oh*d.ow : (oh+1)*d.ow]
		for ow := range o {
			s := b
			for kh := range g.KH {
				row := xp[(oh*sh+kh*dh)*wp+ow*sw:]
				kr := k[kh*g.KW : (kh+1)*g.KW]
				for kw, kv := range kr {
					s += kv * row[kw*dw]
				}
			}
			o[ow] = s
		}
	}
}

// depthwise3x3Wide sets dst[j] = b + Σ k[3r+c]·src[j + r·wp + c] over
// r, c < 3, every product rounded to T and the sum taken in that order
// (the explicit conversions keep the compiler from fusing multiply-adds),
// with AVX2 for float32 where the CPU has it: bit for bit the same
// results either way. src must hold len(dst) + 2·wp + 2 values.
func depthwise3x3Wide[T Float](dst, src []T, wp int, k []T, b T) {
	done := 0
	if d32, ok := any(dst).([]float32); ok {
		s32, k32, b32 := any(src).([]float32), any(k).([]float32), any(b).(float32)
		done = depthwise3x3Asm(d32, s32, wp, k32, b32)
		if t := len(d32) - 8; done > 0 && done < len(d32) {
			// The last 8 columns again, overlapping: each is computed from
			// src alone, so the columns done twice get the same bits.
			depthwise3x3Asm(d32[t:], s32[t:], wp, k32, b32)
			done = len(d32)
		}
	}
	n := len(dst)
	r0, r1, r2 := src[:n+2], src[wp:wp+n+2], src[2*wp:2*wp+n+2]
	k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
	for j := done; j < n; j++ {
		s := b + T(k0*r0[j])
		s += T(k1 * r0[j+1])
		s += T(k2 * r0[j+2])
		s += T(k3 * r1[j])
		s += T(k4 * r1[j+1])
		s += T(k5 * r1[j+2])
		s += T(k6 * r2[j])
		s += T(k7 * r2[j+1])
		s += T(k8 * r2[j+2])
		dst[j] = s
	}
}
