package kernel

import "unsafe"

// Batched wide columns. An image's wide columns in the padded layout
// (conv_padded.go) number nw = (OH−1)·Wq + OW, and the GEMM computes them
// in whole tiles of nr: a 4×4 output (nw = 19 on a 7×7 input with stride
// 2) fills 19 of the 32 columns of an AVX-512 tile, and the work done is
// 1.7× the work needed. convBatchPadded gathers the wide rows of several
// images side by side, image i at columns [i·nw, (i+1)·nw), so that only
// the last tile of the batch is partial, and runs one GEMM over them. The
// gather is one more copy of each im2col row (K·nw values an image), so
// it pays only where the tile waste is large against it (batchImages).

// batchBytes bounds the gathered columns of one batch and its output
// over the wide columns: about a quarter of a core's L2 cache each.
const batchBytes = 256 << 10

// batchImages returns how many images convBatchPadded should gather per
// GEMM for g, at most n, or 0 where convImagePadded, one image at a
// time, does less work. A batch saves the tile waste of each image,
// M/Group·(roundUp(nw, nr) − nw) multiply-adds, and copies its K·nw
// values of the im2col matrix once more; it is chosen when the saving is
// more than batchCopyCost multiply-adds per value copied.
//
// BenchmarkConvPaths (float32, AVX-512, nr = 32): cnn4's 16→32 on 7×7
// stride 2 saves 21.9 per value and runs 1.19–1.33× batched; resnet's
// 1×1 32→32 on 7×7 saves 9.8, 1.13–1.2×; resnet's 16→32 on 14×14
// stride 2 saves 5.2 and runs 0.91×, cnn4's 8→16 on 14×14 saves 2.6,
// 0.97×; LeNet's and the stems save less than 1.2 and run 0.6–0.8×.
func batchImages[T Float](g Conv2D, d convDims, n int) int {
	if n < 2 || !(usePadded(g) || g.pointwise()) {
		return 0
	}
	arch := gemmArchFor[T]()
	pg := padGeomFor(g, d, 0)
	waste := roundUp(pg.nw, arch.nr) - pg.nw
	if d.mg*waste <= batchCopyCost*pg.nw {
		return 0
	}
	var z T
	size := int(unsafe.Sizeof(z))
	per := (d.k + d.mg) * pg.nw * size
	return max(1, min(n, batchBytes/per))
}

// batchCopyCost is the cost of gathering one value of the im2col matrix,
// in multiply-adds of the GEMM (batchImages).
const batchCopyCost = 8

// convBatchPadded convolves the nb images of x (nb·C·H·W values, y
// nb·M·OH·OW) on the calling goroutine: each image is padded (and
// fake-quantized) as by convImagePadded, its im2col rows over its wide
// columns are gathered into wk.col at columns [i·nw, (i+1)·nw), one
// implicit GEMM per group multiplies the batch, and the epilogue copies
// each image's valid columns, plus the bias (and the ReLU), into y.
func convBatchPadded[T Float](g Conv2D, d convDims, nb int, x, w, bias, y []T, q *FakeQuant[T], wk *ConvWork[T], relu bool) {
	pg, _ := convPaddedSetup(g, d, wk)
	arch := gemmArchFor[T]()
	kk := len(wk.taps)
	n := nb * pg.nw
	// At least 8 columns past the last, which placeRows may spill
	// into when a run is shorter than a vector.
	ld := roundUp(n+8, arch.nr)
	wk.col = grow(wk.col, g.Group*d.k*ld)
	col := wk.col
	if cap(wk.boff) < d.k {
		wk.boff = make([]int, d.k)
	}
	wk.boff = wk.boff[:d.k]
	for l := range wk.boff { // K values: nothing against the batch's work
		wk.boff[l] = l * ld
	}
	imgIn, imgOut := g.C*d.hw, g.M*d.p
	for i := range nb {
		padInput(g, pg, x[i*imgIn:(i+1)*imgIn], q, wk)
		// Row c·KH·KW + t of the im2col matrix is the run of tap t
		// in channel c: one placeRows call per tap for all channels.
		for t, o := range wk.taps {
			dst := col[t*ld+i*pg.nw : ((g.C-1)*kk+t+1)*ld]
			placeRows(dst, wk.pad[o:], g.C, pg.nw, kk*ld, pg.cs, 1)
		}
	}
	wk.wide = grow(wk.wide, d.mg*ld)
	for gi := range g.Group {
		implicitGemm(arch, &wk.gemm, d.mg, n, d.k, w[gi*d.mg*d.k:(gi+1)*d.mg*d.k], col[gi*d.k*ld:], wk.boff, wk.wide, ld)
		var b []T
		if bias != nil {
			b = bias[gi*d.mg : (gi+1)*d.mg]
		}
		for i := range nb {
			yi := y[i*imgOut+gi*d.mg*d.p : i*imgOut+(gi+1)*d.mg*d.p]
			biasRows(yi, wk.wide[i*pg.nw:], d.mg*d.oh, d.ow, pg.wq, ld, b, d.oh, relu)
		}
	}
}
