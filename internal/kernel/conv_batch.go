package kernel

import "unsafe"

// Batched wide columns. An image's wide columns in the padded layout
// (conv_padded.go) number nw = (OH−1)·Wq + OW, and the GEMM computes them
// in whole tiles of nr: a 4×4 output (nw = 19 on a 7×7 input with stride
// 2) fills 19 of the 32 columns of an AVX-512 tile, and the work done is
// 1.7× the work needed. convBatchPadded places several images side by
// side in one wide image, a montage, whose padded layout holds all of
// their wide columns, so that only the batch's last tile is partial, and
// runs one GEMM and one epilogue call per group for all of them.

// smallWidth and smallImage bound the wide columns and the implicit
// im2col matrix (values) of an image that batchImages places in
// montages.
const (
	smallWidth = 256
	smallImage = 24 << 10
)

// batchBytes bounds the padded montage of one batch and its output over
// the wide columns: about a quarter of a core's L2 cache.
const batchBytes = 256 << 10

// batchImages returns how many images convBatchPadded should place per
// montage for g, at most n, or 0 where convImagePadded, one image at a
// time, is used: for fewer than two images, convolutions that do not go
// through the padded layout, and large images. A montage copies the same
// values as the images one by one and multiplies no more columns; it
// saves the tile waste and the per-image calls of small images, and
// costs cache locality on large ones: it is used where an image has at
// most smallWidth wide columns and its implicit im2col matrix (K·nw) at
// most smallImage values, with as many images as fit in batchBytes.
//
// BenchmarkConvPaths (float32, AVX-512, one worker, batch 256) against
// one image at a time, nw and K·nw: cnn4's 16→32 on 7×7 stride 2 (19,
// 2.7k) 1.55×, its 1→8 on 28×28 stride 2 (209, 1.9k) 1.15×, LeNet's 6→16
// 5×5 on 14×14 (136, 20k) 1.15×, resnet's 1×1 (49, 1.6k) 1.0–1.15×, its
// 16→32 stride 2 (55, 7.9k) 1.06–1.10×, its stem (209, 1.9k) 0.95–1.11×;
// outside the bounds, LeNet's 1→6 5×5 on 28×28 (668, 17k) 0.97–0.98× and
// resnet's 16→16 on 14×14 (222, 32k) 0.98–1.0×.
func batchImages[T Float](g Conv2D, d convDims, n int) int {
	if n < 2 || !(usePadded(g) || g.pointwise()) || !montageSafe(g) {
		return 0
	}
	if nw := padGeomFor(g, d, 0).nw; nw > smallWidth || d.k*nw > smallImage {
		return 0
	}
	var z T
	size := int(unsafe.Sizeof(z))
	_, wi := montage(g, 1)
	hp := g.H + g.PadTop + g.PadBottom
	per := (g.C*hp*wi + d.mg*d.oh*wi/g.StrideW) * size
	if nb := min(n, batchBytes/per); nb >= 2 {
		return nb
	}
	return 0
}

// montage returns the geometry of nb images of g side by side in one
// wide image (each image with its left and right padding, rounded up to
// a whole number of strides, wi columns apart, and no padding of its
// own at the sides) and wi. Output column ow of image i is column
// i·wi/StrideW + ow of the montage's output, computed from image i's
// values alone: its window spans no more than the image's padded width.
func montage(g Conv2D, nb int) (Conv2D, int) {
	wi := roundUp(g.W+g.PadLeft+g.PadRight, g.StrideW)
	m := g
	m.W, m.PadLeft, m.PadRight = nb*wi, 0, 0
	return m, wi
}

// montageSafe reports whether the rows of g's phase split can be placed
// side by side in a montage: with AVX2 but not AVX-512 masks, a row
// shorter than 8 values is placed as a whole vector whose spill could
// reach an image placed before it, so montages then need longer rows.
func montageSafe(g Conv2D) bool {
	return hasShortMasks() || !hasAVX2() || g.W/g.StrideW >= 8
}

// convBatchPadded convolves the nb images of x (nb·C·H·W values, y
// nb·M·OH·OW) on the calling goroutine as one montage (montage): each
// image is placed (fake-quantized first when q is not nil) into the
// padded layout of the montage, one implicit GEMM per group multiplies
// all their wide columns, and the epilogue copies each image's valid
// columns, plus the bias (and the ReLU), into y. The montage's wide
// columns are the images' own, with no more columns dropped, so only the
// batch's last tile is partial. g must be montageSafe.
func convBatchPadded[T Float](g Conv2D, d convDims, nb int, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], relu bool) {
	gm, wi := montage(g, nb)
	pg, off := convPaddedSetup(gm, gm.dims(), wk)
	if wk.padFor(gm, pg) {
		clear(wk.pad) // the padding of a new layout; placing leaves it zero
	}
	imgIn := g.C * d.hw
	hw, rowStep := d.hw, g.StrideH*g.W
	// Image i's phase planes are image 0's, i·wi/StrideW columns on:
	// the image's places in the montage's layout.
	places := phasePlaces(g, pg, &wk.phases)
	pairs := phasePairs(g, pg, &wk.phases)
	for i := range nb {
		xi := x[i*imgIn : (i+1)*imgIn]
		col := i * wi / g.StrideW
		if placePairs(g, pg, pairs, xi, wk.pad, col, q) {
			continue
		}
		if q != nil {
			wk.qx = grow(wk.qx, imgIn)
			quantizeTo(wk.qx, xi, q)
			xi = wk.qx
		}
		for _, p := range places {
			placeBlocks(wk.pad[p.base+col:], xi[p.first:], g.C, p.rows, p.n, pg.wq, rowStep, g.StrideW, pg.cs, hw, p.end-p.base-col)
		}
	}
	multiplyPadded(g, d, pg, off, nb, wi/g.StrideW, w, bias, y, wk, relu)
}

// qbatchImages is batchImages for QConvForward: how many images
// qconvMontage should place per montage for g, at most n, or 0 where
// qconvImage, one image at a time, is used. The integer tiles are 16
// columns wide, so an image wastes less of them than of float32's 32,
// and montages pay only where a third of an image's tiles is waste:
// cnn4's 16→32 on 7×7 stride 2 (19 wide columns in 32) ran 1.07–1.11×
// in them, resnet's and LeNet's layers and cnn4's others (under a
// quarter wasted) 0.93–1.03× (one worker, batch 256, montages of 13,
// alternating runs). Montages of codes need rows of 16 on CPUs with AVX2
// but not AVX-512 masks (qmontageSafe).
func qbatchImages(g Conv2D, d convDims, n int) int {
	if n < 2 || g.dense() || !qmontageSafe(g) {
		return 0
	}
	nw := padGeomFor(g, d, 0).nw
	if tiles := roundUp(nw, qNR); 3*(tiles-nw) < tiles || d.k*nw > smallImage {
		return 0
	}
	_, wi := montage(g, 1)
	hp := g.H + g.PadTop + g.PadBottom
	per := g.C*hp*wi + 4*d.mg*d.oh*wi/g.StrideW // codes, and int32 sums
	if nb := min(n, batchBytes/per); nb >= 2 {
		return nb
	}
	return 0
}

// qmontageSafe is montageSafe for codes, whose short rows AVX2 places as
// 16-byte vectors.
func qmontageSafe(g Conv2D) bool {
	return hasShortMasks() || !hasAVX2() || g.W/g.StrideW >= 16
}

// qconvMontage is convBatchPadded for QConvForward: the nb images of x
// are quantized into the padded layout of their montage (padding holds
// the code q.ZP), the weight panels multiply all their wide columns at
// once, and each image's sums are dequantized into y. It reports whether
// it applied the ReLU (see qconvImage). g must be qmontageSafe.
func qconvMontage(g Conv2D, d convDims, nb int, x []float32, w *QWeights, q *FakeQuant[float32], scale, bias, y []float32, wk *QConvWork, relu bool) bool {
	gm, wi := montage(g, nb)
	pg, off := qconvSetup(gm, gm.dims(), wk)
	zp := uint8(q.ZP)
	xq := wk.padded(gm, pg, zp)
	imgIn, imgOut := g.C*d.hw, g.M*d.p
	if cap(wk.codes) < imgIn {
		wk.codes = make([]uint8, imgIn)
	}
	codes := wk.codes[:imgIn]
	places := phasePlaces(g, pg, &wk.phases)
	pairs := phasePairs(g, pg, &wk.phases)
	for i := range nb {
		col := i * wi / g.StrideW
		if placePairsU8(g, pg, pairs, x[i*imgIn:(i+1)*imgIn], xq, col, q) {
			continue
		}
		quantizeCodes(codes, x[i*imgIn:(i+1)*imgIn], 0, 1, q)
		for _, p := range places {
			placeBlocksU8(xq[p.base+col:], codes[p.first:], g.C, p.rows, p.n, pg.wq, g.StrideH*g.W, g.StrideW, pg.cs, d.hw, p.end-p.base-col, zp)
		}
	}
	nwr := roundUp(pg.nw, qNR)
	acc, b := wk.sums(d.mg*nwr), wk.biasOf(bias, g.M)
	done := relu
	for gi := range g.Group {
		qgemmGroup(w, gi, xq[gi*d.cg*pg.cs:], off, acc, nwr)
		for i := range nb {
			yi := y[i*imgOut : (i+1)*imgOut]
			done = dequantGroup(yi, acc[i*wi/g.StrideW:], gi, d, pg.wq, nwr, w, int32(q.ZP), scale, b, relu) && done
		}
	}
	return done
}
