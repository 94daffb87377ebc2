package kernel

import (
	"encoding/binary"
	"fmt"
)

// Integer layers: float32 activations are quantized to uint8 codes, the
// codes are multiplied by the weight codes exactly in int32, and the sums
// are dequantized back to float32, as a deployment runtime does:
//
//	acc[m, p] = Σ_k w[m, k]·(x_q[k, p] − ZP) = Σ_k w[m, k]·x_q[k, p] − ZP·Σ_k w[m, k]
//	y[m, p]   = float32(acc[m, p])·scale[m] + bias[m]
//
// with scale[m] = s_w[m]·s_x chosen by the caller. The row sums Σ_k w are
// computed once when the weights are packed; padding of a convolution
// holds the code ZP, which stands for 0. Both sums are exact (see
// qgemm.go), so acc is the exact integer, and the dequantization is the
// same three float32 roundings (conversion, product, sum) in every build:
// the result does not depend on the CPU, the micro-kernel or the number
// of workers.

// quantCode returns the code of x under q: clamp(roundHalfEven(x/Scale) +
// ZP, Lo, Hi), the integer whose (code − ZP)·Scale is q.Apply(x). NaN,
// which has no code, maps to ZP.
func quantCode(x float32, q *FakeQuant[float32]) uint8 {
	v := float32(roundHalfEven(float64(x/q.Scale))) + q.ZP
	v = min(max(v, q.Lo), q.Hi)
	if v != v {
		return uint8(q.ZP)
	}
	return uint8(v)
}

// quantizeCodes sets dst[i] to the code of src[off + i·stride] under q.
func quantizeCodes(dst []uint8, src []float32, off, stride int, q *FakeQuant[float32]) {
	if len(dst) == 0 {
		return
	}
	src = src[off : off+(len(dst)-1)*stride+1]
	if stride == 1 {
		src = src[:len(dst)]
		done := quantizeCodesAsm(dst, src, q)
		if t := len(dst) - 8; done > 0 && done < len(dst) {
			// The last 8 values again, overlapping the vectors done (dst
			// holds codes, src floats: they never share memory).
			quantizeCodesAsm(dst[t:], src[t:], q)
			done = len(dst)
		}
		for i, v := range src[done:] {
			dst[done+i] = quantCode(v, q)
		}
		return
	}
	for i := range dst {
		dst[i] = quantCode(src[i*stride], q)
	}
}

// copyStridedU8 sets dst[i] = src[off + i·stride].
func copyStridedU8(dst, src []uint8, off, stride int) {
	if stride == 1 {
		copy(dst, src[off:off+len(dst)])
		return
	}
	for i := range dst {
		dst[i] = src[off+i*stride]
	}
}

// checkQInput panics unless q quantizes to uint8 codes.
func checkQInput(op string, q *FakeQuant[float32]) {
	if q == nil {
		panic(fmt.Sprintf("kernel: %s: no input quantizer", op))
	}
	q.check(op)
	if q.Lo < 0 || q.Hi > 255 {
		panic(fmt.Sprintf("kernel: %s: codes [%v, %v] do not fit uint8", op, q.Lo, q.Hi))
	}
}

// dequantRow sets dst[i] = float32(acc[i] − corr)·scale + bias.
func dequantRow(dst []float32, acc []int32, corr int32, scale, bias float32) {
	acc = acc[:len(dst)]
	done := dequantRowAsm(dst, acc, corr, scale, bias)
	if t := len(dst) - 8; done > 0 && done < len(dst) {
		// The last 8 values again, overlapping (dst and acc never share
		// memory).
		dequantRowAsm(dst[t:], acc[t:], corr, scale, bias)
		done = len(dst)
	}
	for i, v := range acc[done:] {
		dst[done+i] = float32(float32(v-corr)*scale) + bias
	}
}

// QConvWork is the scratch memory of one worker of QConvForward. It grows
// on demand; reused, it makes QConvForward allocation-free apart from its
// parallel loop. A QConvWork must not be used by two calls at once.
type QConvWork struct {
	codes  []uint8 // the codes of one image, C×H×W
	x      []uint8 // one padded, phase-split image of activation codes
	acc    []int32 // one group's sums over the wide columns
	off    []int   // per row of a group's im2col matrix, in pairs: its offset in x
	pg     padGeom // the layout of offFor
	offFor Conv2D

	// x holds the padding of fillFor with the code fillZP when filled.
	filled  bool
	fillFor Conv2D
	fillZP  uint8

	dense QLinearWork // a dense convolution's (Conv2D.dense) in work[0]
	zero  []float32   // the bias of a convolution without one

	phases phaseCache // the phase places of the last layout (qpadImage, qconvMontage)

	setups    []paddedSetup // the last layouts computed, offFor's among them
	nextSetup int           // the entry of setups to replace next
}

// biasOf returns bias, or m zeros for a convolution that has none.
func (wk *QConvWork) biasOf(bias []float32, m int) []float32 {
	if bias != nil {
		return bias
	}
	if len(wk.zero) < m {
		wk.zero = make([]float32, m)
	}
	return wk.zero[:m]
}

// sums returns wk's buffer for n int32 sums, with eight more past them:
// dequantRows may read past the last one.
func (wk *QConvWork) sums(n int) []int32 {
	if cap(wk.acc) < n+8 {
		wk.acc = make([]int32, n+8)
	}
	return wk.acc[:n+8]
}

// QConvForward computes the 2-D convolution of a batch of n float32
// images x (n × C × H × W) in integer arithmetic: each input value is
// quantized to its code under q, the codes of each window are multiplied
// by the weight codes w (g.M × C/Group·KH·KW, packed in g.Group groups)
// with exact int32 sums, and each sum is dequantized as
//
//	y[m, p] = float32(Σ_k w[m, k]·(x_q − q.ZP))·scale[m] + bias[m]
//
// into y (n × M × OH × OW, overwritten); bias may be nil. With w the
// codes of a symmetric weight quantizer with per-channel scales s_w and
// scale[m] = s_w[m]·q.Scale, y is the convolution of the fake-quantized
// input by the fake-quantized weights, up to float32 rounding.
//
// Images are quantized into a padded layout (padding holds the code
// q.ZP) and never expanded into an im2col matrix: the micro-kernels read
// the rows of the implicit one in place (conv_padded.go). work holds one
// QConvWork per worker; the batch is split into ranges of whole images.
// A dense convolution (a filter as large as the unpadded image) is the
// fully connected layer QLinearForward over the batch.
//
// QConvForward panics with a "kernel: ..." message when g is invalid, w
// does not match g, a slice has the wrong length, work is empty, or q is
// nil, unusable or has codes outside [0, 255].
func QConvForward(t *Team, g Conv2D, n int, x []float32, w *QWeights, q *FakeQuant[float32], scale, bias, y []float32, work []*QConvWork) {
	qconvForward("QConvForward", t, g, n, x, w, q, scale, bias, y, work, false)
}

// QConvForwardReLU is QConvForward followed by y = max(y, 0), applied to
// each image as soon as it is computed (see ConvForwardReLU).
func QConvForwardReLU(t *Team, g Conv2D, n int, x []float32, w *QWeights, q *FakeQuant[float32], scale, bias, y []float32, work []*QConvWork) {
	qconvForward("QConvForwardReLU", t, g, n, x, w, q, scale, bias, y, work, true)
}

func qconvForward(op string, t *Team, g Conv2D, n int, x []float32, w *QWeights, q *FakeQuant[float32], scale, bias, y []float32, work []*QConvWork, relu bool) {
	if err := g.Validate(); err != nil {
		panic(fmt.Sprintf("kernel: %s: %v", op, err))
	}
	d := g.dims()
	if w == nil || w.M != g.M || w.K != d.k || w.Group != g.Group {
		panic(fmt.Sprintf("kernel: %s: weights do not match %d×%d in %d groups", op, g.M, d.k, g.Group))
	}
	checkQInput(op, q)
	checkLen(op, "x", x, n*g.C*d.hw, false)
	checkLen(op, "scale", scale, g.M, false)
	checkLen(op, "bias", bias, g.M, true)
	checkLen(op, "y", y, n*g.M*d.p, false)
	workers := min(len(work), t.Workers())
	if workers < 1 || n < 0 {
		panic(fmt.Sprintf("kernel: %s: no QConvWork or negative batch", op))
	}
	for i, wk := range work[:workers] {
		if wk == nil {
			panic(fmt.Sprintf("kernel: %s: work[%d] is nil", op, i))
		}
	}
	if n == 0 {
		return
	}
	if g.dense() {
		QLinearForward(t, n, x, w, q, scale, bias, y, &work[0].dense)
		if relu {
			Relu(y, y)
		}
		return
	}
	job := teamJob[qconvJob](t, slotQConv)
	*job = qconvJob{g: g, d: d, x: x, w: w, q: q, scale: scale, bias: bias, y: y, work: work, relu: relu}
	parallelFor(t, n, 1, workers, job)
	*job = qconvJob{}
}

// qconvJob is the Ranger of QConvForward over images.
type qconvJob struct {
	g              Conv2D
	d              convDims
	x              []float32
	w              *QWeights
	q              *FakeQuant[float32]
	scale, bias, y []float32
	work           []*QConvWork
	relu           bool // QConvForwardReLU
}

// Range convolves images [lo, hi) as worker wi.
func (j *qconvJob) Range(wi, lo, hi int) {
	g, d := j.g, j.d
	if nb := qbatchImages(g, d, hi-lo); nb > 0 {
		for a := lo; a < hi; a += nb {
			b := min(a+nb, hi)
			yb := j.y[a*g.M*d.p : b*g.M*d.p]
			if !qconvMontage(g, d, b-a, j.x[a*g.C*d.hw:b*g.C*d.hw], j.w, j.q, j.scale, j.bias, yb, j.work[wi], j.relu) && j.relu {
				Relu(yb, yb)
			}
		}
		return
	}
	for img := lo; img < hi; img++ {
		yi := j.y[img*g.M*d.p : (img+1)*g.M*d.p]
		done := qconvImage(g, d, j.x[img*g.C*d.hw:(img+1)*g.C*d.hw], j.w, j.q, j.scale, j.bias, yi, j.work[wi], j.relu)
		if j.relu && !done {
			Relu(yi, yi)
		}
	}
}

// qconvSetup returns the padded layout of g for one image and the offsets
// of the rows of a group's implicit im2col matrix, padded to whole quads
// (qRows: the rows past K read row 0, times a zero weight), cached in wk
// for repeated calls with the same geometry. It checks once that every
// read of the micro-kernels stays inside the padded image.
func qconvSetup(g Conv2D, d convDims, wk *QConvWork) (padGeom, []int) {
	if wk.offFor == g && len(wk.off) == qRows(d.k) {
		return wk.pg, wk.off
	}
	// The last few layouts are kept, as by convPaddedSetup, for montages
	// of alternating widths.
	for _, s := range wk.setups {
		if s.g == g {
			wk.offFor, wk.off, wk.pg = g, s.off, s.pg
			return wk.pg, wk.off
		}
	}
	pg := padGeomFor(g, d, paddedSlack)
	kk := g.KH * g.KW
	taps := make([]int, kk)
	tapOffsets(g, pg, taps)
	off := make([]int, qRows(d.k))
	maxOff := 0
	for c := range d.cg {
		for t, o := range taps {
			off[c*kk+t] = c*pg.cs + o
			maxOff = max(maxOff, c*pg.cs+o)
		}
	}
	// The last group's rows, read over all wide columns rounded up to
	// whole panels.
	if last := (g.Group-1)*d.cg*pg.cs + maxOff + roundUp(pg.nw, qNR); last > pg.size {
		panic(fmt.Sprintf("kernel: padded layout of %d values too short for reads up to %d", pg.size, last))
	}
	st := paddedSetup{g: g, pg: pg, off: off}
	if len(wk.setups) < setupCache {
		wk.setups = append(wk.setups, st)
	} else {
		wk.setups[wk.nextSetup] = st
		wk.nextSetup = (wk.nextSetup + 1) % setupCache
	}
	wk.offFor, wk.off, wk.pg = g, off, pg
	return pg, off
}

// qconvImage convolves one image on the calling goroutine and reports
// whether it applied the ReLU too (asked for with relu: the AVX-512
// dequantization does it as it stores; otherwise it is left to the
// caller).
func qconvImage(g Conv2D, d convDims, x []float32, w *QWeights, q *FakeQuant[float32], scale, bias, y []float32, wk *QConvWork, relu bool) bool {
	pg, off := qconvSetup(g, d, wk)
	xq := qpadImage(g, pg, x, q, wk)
	nwr := roundUp(pg.nw, qNR)
	acc, b := wk.sums(d.mg*nwr), wk.biasOf(bias, g.M)
	for gi := range g.Group {
		qgemmGroup(w, gi, xq[gi*d.cg*pg.cs:], off, acc, nwr)
		relu = dequantGroup(y, acc, gi, d, pg.wq, nwr, w, int32(q.ZP), scale, b, relu)
	}
	return relu
}

// dequantGroup dequantizes group gi's sums in acc (one row of nwr per
// output channel, the image's wide columns wq apart) into the image y,
// with the ReLU when relu is set and the AVX-512 epilogue runs; it
// reports whether the ReLU was applied. b is the bias (zeros for none).
func dequantGroup(y []float32, acc []int32, gi int, d convDims, wq, nwr int, w *QWeights, zp int32, scale, b []float32, relu bool) bool {
	m0, m1 := gi*d.mg, (gi+1)*d.mg
	if dequantBlocksAsm(y[m0*d.p:m1*d.p], acc, d.mg, d.oh, d.ow, wq, nwr, w.rowSum[m0:m1], zp, scale[m0:m1], b[m0:m1], relu) {
		return relu
	}
	for m := m0; m < m1; m++ {
		// The rows may spill into the outputs that follow in this
		// image, which are written after them.
		dequantRows(y[m*d.p:], acc[(m-m0)*nwr:], d.oh, d.ow, wq, zp*w.rowSum[m], scale[m], b[m])
	}
	return false
}

// qgemmGroup multiplies group gi's weight panels by the nwr wide columns
// (a multiple of qNR) whose rows start at base + off[l], into acc (one
// row of nwr sums per output channel of the group), with the fastest
// micro-kernels the CPU has.
func qgemmGroup(w *QWeights, gi int, base []uint8, off []int, acc []int32, nwr int) {
	arch := qArch()
	if arch.quads != nil {
		for pi := range w.qpg {
			rows := min(qQuadMR, w.M/w.Group-pi*qQuadMR)
			quad := w.quadPanel(gi, pi)
			arch.quads[rows](w.kq, &quad[0], &base[0], &off[0], &acc[pi*qQuadMR*nwr], nwr, nwr/qNR)
		}
		return
	}
	for pi := range w.ppg {
		rows := min(qMR, w.M/w.Group-pi*qMR)
		panel := w.panel(gi, pi)
		arch.kernels[rows](w.kp, &panel[0], &base[0], &off[0], &acc[pi*qMR*nwr], nwr, nwr/qNR)
	}
}

// padded returns wk's buffer for the padded layout pg of g (an image's,
// or a montage's) with its padding holding the code zp: written only
// when the layout or the zero point changed since the last call.
func (wk *QConvWork) padded(g Conv2D, pg padGeom, zp uint8) []uint8 {
	if cap(wk.x) < pg.size {
		wk.x = make([]uint8, pg.size)
		wk.filled = false
	}
	xq := wk.x[:pg.size]
	if !wk.filled || wk.fillFor != g || wk.fillZP != zp {
		fillBytes(xq, zp)
		wk.filled, wk.fillFor, wk.fillZP = true, g, zp
	}
	return xq
}

// qpadImage returns the codes of the image x under q in the padded layout
// pg, in wk. The padding (and slack) holds the code of 0, q.ZP, and is
// written only when the layout or the zero point changed since the last
// call: the interior is all that differs from image to image.
func qpadImage(g Conv2D, pg padGeom, x []float32, q *FakeQuant[float32], wk *QConvWork) []uint8 {
	zp := uint8(q.ZP)
	xq := wk.padded(g, pg, zp)
	hw := g.H * g.W
	if g.StrideH == 1 && g.StrideW == 1 && pg.wp == g.W && pg.hp == g.H {
		// Unpadded: the layout is the image itself.
		quantizeCodes(xq[:g.C*hw], x, 0, 1, q)
		return xq
	}
	if placePairsU8(g, pg, phasePairs(g, pg, &wk.phases), x, xq, 0, q) {
		return xq
	}
	// Quantize the image in one pass (vectorized), then place the rows.
	if cap(wk.codes) < len(x) {
		wk.codes = make([]uint8, len(x))
	}
	codes := wk.codes[:len(x)]
	quantizeCodes(codes, x, 0, 1, q)
	// The rows' places, as in padImage.
	for _, p := range phasePlaces(g, pg, &wk.phases) {
		placeBlocksU8(xq[p.base:], codes[p.first:], g.C, p.rows, p.n, pg.wq, g.StrideH*g.W, g.StrideW, pg.cs, hw, p.end-p.base, zp)
	}
	return xq
}

// placePairsU8 is placePairs for the integer path: the image x of g is
// quantized under q into codes in dst, the layout pg, col columns on,
// pair by pair (placePairU8Asm). It reports whether it could, and places
// everything or nothing.
func placePairsU8(g Conv2D, pg padGeom, pairs []phasePair, x []float32, dst []uint8, col int, q *FakeQuant[float32]) bool {
	if len(pairs) == 0 {
		return false
	}
	// The pairs of a layout differ in rows only: the first tells for all.
	for i, p := range pairs {
		if !placePairU8Asm(dst[p.a.base+col:], dst[p.b.base+col:], x[p.a.first:], g.C, p.a.rows, p.a.n, p.b.n, pg.wq, g.StrideH*g.W, pg.cs, g.H*g.W, q) && i == 0 {
			return false
		}
	}
	return true
}

// placeBlocksU8 is placeBlocks for codes, whose padding holds the zero
// point's code pad instead of zeros.
func placeBlocksU8(dst, src []uint8, blocks, rows, n, ldd, lds, stride, bd, bs, span int, pad uint8) {
	if blocks == 0 || rows == 0 || n == 0 {
		return
	}
	last := blocks - 1
	_ = dst[last*bd+span-1]
	_ = src[last*bs+(rows-1)*lds+(n-1)*stride]
	done := placeRowsU8Asm(dst, src, blocks, rows, n, ldd, lds, stride, bd, bs, span, pad)
	if done == rows {
		return
	}
	for b := range blocks {
		for r := done; r < rows; r++ {
			copyStridedU8(dst[b*bd+r*ldd:b*bd+r*ldd+n], src[b*bs+r*lds:], 0, stride)
		}
	}
}

// fillBytes sets every byte of s to v.
func fillBytes(s []uint8, v uint8) {
	if len(s) == 0 {
		return
	}
	s[0] = v
	for i := 1; i < len(s); i *= 2 {
		copy(s[i:], s[:i])
	}
}

// dequantRows dequantizes rows rows of n sums, srcStride apart in acc,
// into rows of dst, n apart: dst[r·n + i] = float32(acc[r·srcStride + i] −
// corr)·scale + bias. Rows are written in whole vectors of 8 where dst and
// acc extend far enough, up to 7 values past their end: the values of dst
// past row rows−1 are clobbered unless the caller writes them afterwards.
func dequantRows(dst []float32, acc []int32, rows, n, srcStride int, corr int32, scale, bias float32) {
	// Rows [0, whole) can be done in whole vectors.
	span := roundUp(n, 8)
	whole := 0
	if len(dst) >= span && len(acc) >= span {
		whole = min(rows, (len(dst)-span)/n+1, (len(acc)-span)/srcStride+1)
	}
	if whole > 0 && dequantRowsAsm(dst, acc, whole, n, srcStride, corr, scale, bias) {
		if whole == rows {
			return // acc may end before the stride after the last row
		}
		dst, acc, rows = dst[whole*n:], acc[whole*srcStride:], rows-whole
	}
	for r := range rows {
		dequantRow(dst[r*n:(r+1)*n], acc[r*srcStride:], corr, scale, bias)
	}
}

// QLinearWork is the scratch memory of QLinearForward. It grows on demand
// and must not be used by two calls at once.
type QLinearWork struct {
	codes []uint8 // the codes of the batch, n × K
	xt    []uint8 // the same, transposed: K rows of the samples
	off   []int   // offset of each row of xt, in pairs
	tiles []int32 // per worker: a qMR×qNR tile of sums
	corr  []int32 // per output: ZP·Σ_k w[m, k]
	zeros []float32
}

// QLinearForward computes the fully connected layer y = dequant(x_q·wᵀ) in
// integer arithmetic for a batch of n float32 rows x (n × K): each value
// is quantized to its code under q, multiplied by the weight codes w
// (M × K, one group) with exact int32 sums, and
//
//	y[j, m] = float32(Σ_k w[m, k]·(x_q[j, k] − q.ZP))·scale[m] + bias[m]
//
// is written into y (n × M, overwritten); bias may be nil. The columns of
// the batch are split over up to Workers() goroutines.
//
// QLinearForward panics with a "kernel: ..." message when a slice has the
// wrong length, w has groups, or q is nil, unusable or has codes outside
// [0, 255].
func QLinearForward(t *Team, n int, x []float32, w *QWeights, q *FakeQuant[float32], scale, bias, y []float32, work *QLinearWork) {
	const op = "QLinearForward"
	if w == nil || w.Group != 1 || n < 0 || work == nil {
		panic(fmt.Sprintf("kernel: %s: needs ungrouped weights, a batch and a QLinearWork", op))
	}
	checkQInput(op, q)
	m, k := w.M, w.K
	checkLen(op, "x", x, n*k, false)
	checkLen(op, "scale", scale, m, false)
	checkLen(op, "bias", bias, m, true)
	checkLen(op, "y", y, n*m, false)
	if n == 0 {
		return
	}
	ldx := roundUp(n, qNR)
	if cap(work.xt) < k*ldx {
		work.xt = make([]uint8, k*ldx)
	}
	xt := work.xt[:k*ldx]
	if cap(work.codes) < n*k {
		work.codes = make([]uint8, n*k)
	}
	codes := work.codes[:n*k]
	if len(work.off) != qRows(k) || (k > 1 && work.off[1] != ldx) {
		work.off = make([]int, qRows(k))
		for l := range k {
			work.off[l] = l * ldx
		}
	}
	off := work.off
	panels := ldx / qNR
	minChunk := 1 + (1<<16)/(m*k*qNR)
	if len(work.tiles) < t.Workers()*qTileRows*qNR {
		work.tiles = make([]int32, t.Workers()*qTileRows*qNR)
	}
	// The epilogue's per-output constants: the zero-point correction, and
	// a zero bias when there is none.
	if cap(work.corr) < m {
		work.corr = make([]int32, m)
		work.zeros = make([]float32, m)
	}
	corr := work.corr[:m]
	for r := range corr {
		corr[r] = int32(q.ZP) * w.rowSum[r]
	}
	if bias == nil {
		bias = work.zeros[:m]
	}
	job := teamJob[qlinearJob](t, slotQLinear)
	*job = qlinearJob{n: n, m: m, k: k, ldx: ldx, x: x, w: w, q: q, scale: scale, bias: bias, y: y, codes: codes, xt: xt, off: off, tiles: work.tiles, corr: corr}
	parallelFor(t, panels, minChunk, t.Workers(), job)
	*job = qlinearJob{}
}

// transposeCodes sets xt[l·ldx + j] = codes[j·k + l] for samples
// j0 ≤ j < j1 and l < k: 8 samples × 8 codes at a time as eight 64-bit
// words whose bytes are transposed in three rounds of masked swaps (the
// off-diagonal 4×4 blocks, then 2×2, then single bytes), the rest byte by
// byte.
func transposeCodes(xt []uint8, ldx int, codes []uint8, k, j0, j1 int) {
	le := binary.LittleEndian
	j := j0
	for ; j+8 <= j1; j += 8 {
		l := 0
		for ; l+8 <= k; l += 8 {
			// Eight variables, not an array: an array would stay in memory.
			b := codes[j*k+l:]
			r0, r1, r2, r3 := le.Uint64(b), le.Uint64(b[k:]), le.Uint64(b[2*k:]), le.Uint64(b[3*k:])
			r4, r5, r6, r7 := le.Uint64(b[4*k:]), le.Uint64(b[5*k:]), le.Uint64(b[6*k:]), le.Uint64(b[7*k:])
			const m32, m16, m8 = 0x00000000ffffffff, 0x0000ffff0000ffff, 0x00ff00ff00ff00ff
			t := (r0>>32 ^ r4) & m32
			r0, r4 = r0^t<<32, r4^t
			t = (r1>>32 ^ r5) & m32
			r1, r5 = r1^t<<32, r5^t
			t = (r2>>32 ^ r6) & m32
			r2, r6 = r2^t<<32, r6^t
			t = (r3>>32 ^ r7) & m32
			r3, r7 = r3^t<<32, r7^t
			t = (r0>>16 ^ r2) & m16
			r0, r2 = r0^t<<16, r2^t
			t = (r1>>16 ^ r3) & m16
			r1, r3 = r1^t<<16, r3^t
			t = (r4>>16 ^ r6) & m16
			r4, r6 = r4^t<<16, r6^t
			t = (r5>>16 ^ r7) & m16
			r5, r7 = r5^t<<16, r7^t
			t = (r0>>8 ^ r1) & m8
			r0, r1 = r0^t<<8, r1^t
			t = (r2>>8 ^ r3) & m8
			r2, r3 = r2^t<<8, r3^t
			t = (r4>>8 ^ r5) & m8
			r4, r5 = r4^t<<8, r5^t
			t = (r6>>8 ^ r7) & m8
			r6, r7 = r6^t<<8, r7^t
			d := xt[l*ldx+j:]
			le.PutUint64(d, r0)
			le.PutUint64(d[ldx:], r1)
			le.PutUint64(d[2*ldx:], r2)
			le.PutUint64(d[3*ldx:], r3)
			le.PutUint64(d[4*ldx:], r4)
			le.PutUint64(d[5*ldx:], r5)
			le.PutUint64(d[6*ldx:], r6)
			le.PutUint64(d[7*ldx:], r7)
		}
		for ; l < k; l++ {
			dst := xt[l*ldx+j : l*ldx+j+8]
			for jj := range dst {
				dst[jj] = codes[(j+jj)*k+l]
			}
		}
	}
	if j < j1 {
		for l := range k {
			dst := xt[l*ldx+j : l*ldx+j1]
			for jj := range dst {
				dst[jj] = codes[(j+jj)*k+l]
			}
		}
	}
}

// qlinearJob is the Ranger of QLinearForward over panels of samples.
type qlinearJob struct {
	n, m, k, ldx   int
	x              []float32
	w              *QWeights
	q              *FakeQuant[float32]
	scale, bias, y []float32
	codes, xt      []uint8
	off            []int
	tiles          []int32
	corr           []int32 // per output: the zero point's share, ZP·Σ_k w[m, k]
}

// Range quantizes and multiplies the panels [lo, hi).
func (jb *qlinearJob) Range(wi, lo, hi int) {
	n, m, k, ldx := jb.n, jb.m, jb.k, jb.ldx
	x, w, q, scale, bias, y := jb.x, jb.w, jb.q, jb.scale, jb.bias, jb.y
	codes, xt, off, corr := jb.codes, jb.xt, jb.off, jb.corr
	arch := qArch()
	// Quantize this range's samples (vectorized), then transpose
	// them into their columns of xt.
	j0, j1 := lo*qNR, min(hi*qNR, n)
	quantizeCodes(codes[j0*k:j1*k], x[j0*k:j1*k], 0, 1, q)
	transposeCodes(xt, ldx, codes, k, j0, j1)
	// A tile on the stack would escape to the heap: the kernels are
	// called through function values.
	tile := jb.tiles[wi*qTileRows*qNR : (wi+1)*qTileRows*qNR]
	for jp := lo; jp < hi; jp++ {
		j := jp * qNR
		cols := min(qNR, n-j)
		mr, panels := qMR, w.ppg
		if arch.quads != nil {
			mr, panels = qQuadMR, w.qpg
		}
		for pi := range panels {
			rows := min(mr, m-pi*mr)
			if arch.quads != nil {
				quad := w.quadPanel(0, pi)
				arch.quads[rows](w.kq, &quad[0], &xt[j], &off[0], &tile[0], qNR, 1)
			} else {
				panel := w.panel(0, pi)
				arch.kernels[rows](w.kp, &panel[0], &xt[j], &off[0], &tile[0], qNR, 1)
			}
			// Per sample, the panel's rows are consecutive outputs: a
			// full panel's tile is dequantized and transposed in
			// registers (dequantTileTAsm); otherwise y's writes run
			// along the rows and the tile (in L1) is read down its
			// columns.
			r0 := pi * mr
			if rows == qTileRows && dequantTileTAsm(y[j*m+r0:], m, tile, corr[r0:], scale[r0:], bias[r0:], cols) {
				continue
			}
			cr, sr, br := corr[r0:r0+rows], scale[r0:r0+rows], bias[r0:r0+rows]
			for jj := range cols {
				yr := y[(j+jj)*m+r0 : (j+jj)*m+r0+rows]
				for i := range yr {
					yr[i] = float32(float32(tile[i*qNR+jj]-cr[i])*sr[i]) + br[i]
				}
			}
		}
	}
}
