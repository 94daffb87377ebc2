//go:build !purego && !noasm

package kernel

//go:noescape
func quantizeCodesAVX2(dst *uint8, src *float32, n int, scale, zp, lo, hi float32)

//go:noescape
func reluAVX2(dst *float32, src *float32, n int)

// reluAsm sets dst[i] = max(src[i], 0) for the first len(dst) rounded
// down to a multiple of 8 values and returns how many it did, 0 on CPUs
// without AVX2.
func reluAsm(dst, src []float32) int {
	n := len(dst) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = src[n-1]
	reluAVX2(&dst[0], &src[0], n)
	return n
}

//go:noescape
func fakeQuantAVX2(dst *float32, src *float32, n int, scale, zp, lo, hi float32)

// fakeQuantAsm sets dst[i] = q.Apply(src[i]) for the first len(dst)
// rounded down to a multiple of 8 values and returns how many it did, 0 on
// CPUs without AVX2.
func fakeQuantAsm(dst, src []float32, q *FakeQuant[float32]) int {
	n := len(dst) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = src[n-1]
	fakeQuantAVX2(&dst[0], &src[0], n, q.Scale, q.ZP, q.Lo, q.Hi)
	return n
}

//go:noescape
func dequantRowAVX2(dst *float32, acc *int32, n int, corr int32, scale, bias float32)

// quantizeCodesAsm quantizes the first len(dst) rounded down to a multiple
// of 8 values of src into dst (quantizeCodes with stride 1) and returns how
// many it did, 0 on CPUs without AVX2.
func quantizeCodesAsm(dst []uint8, src []float32, q *FakeQuant[float32]) int {
	n := len(dst) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = src[n-1]
	quantizeCodesAVX2(&dst[0], &src[0], n, q.Scale, q.ZP, q.Lo, q.Hi)
	return n
}

// dequantRowAsm is dequantRow for the first len(dst) rounded down to a
// multiple of 8 values; it returns how many it did, 0 on CPUs without
// AVX2.
func dequantRowAsm(dst []float32, acc []int32, corr int32, scale, bias float32) int {
	n := len(dst) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = acc[n-1]
	dequantRowAVX2(&dst[0], &acc[0], n, corr, scale, bias)
	return n
}

//go:noescape
func dequantRowsAVX2(dst *float32, acc *int32, rows, vecs, dstStride, srcStride int, corr int32, scale, bias float32)

//go:noescape
func dequantTileTAVX2(y *float32, ldy int, tile *int32, corr *int32, scale, bias *float32, cols int)

// dequantTileTAsm writes a full tile's dequantized sums transposed (the
// qlinear epilogue: 8 channels of each of cols ≤ 16 samples, y rows ldy
// apart) on CPUs with AVX2 and reports whether it did.
func dequantTileTAsm(y []float32, ldy int, tile []int32, corr []int32, scale, bias []float32, cols int) bool {
	if !hasAVX2() || cols < 1 || cols > 16 || len(tile) < 8*16 || len(corr) < 8 || len(scale) < 8 || len(bias) < 8 || len(y) < (cols-1)*ldy+8 {
		return false
	}
	dequantTileTAVX2(&y[0], ldy, &tile[0], &corr[0], &scale[0], &bias[0], cols)
	return true
}

// dequantRowsAsm is dequantRows in whole vectors on CPUs with AVX2; it
// reports whether it ran.
func dequantRowsAsm(dst []float32, acc []int32, rows, n, srcStride int, corr int32, scale, bias float32) bool {
	if !hasAVX2() {
		return false
	}
	vecs := ceilDiv(n, 8)
	// Bounds of what the assembly touches.
	_ = dst[(rows-1)*n+vecs*8-1]
	_ = acc[(rows-1)*srcStride+vecs*8-1]
	dequantRowsAVX2(&dst[0], &acc[0], rows, vecs, n, srcStride, corr, scale, bias)
	return true
}

//go:noescape
func dequantBlocksAVX512(dst *float32, acc *int32, blocks, rows, n, ld, lb int, rowSum *int32, zp int32, scale, bias *float32, floor float32)

// dequantBlocksAsm dequantizes the sums of blocks output channels, rows
// rows of n each, into dst (see dequantBlocksAVX512) and reports whether
// it could: AVX-512 with VL (masked rows) only. With relu it stores
// max(·, 0) as Relu does.
func dequantBlocksAsm(dst []float32, acc []int32, blocks, rows, n, ld, lb int, rowSum []int32, zp int32, scale, bias []float32, relu bool) bool {
	if !hasShortMasks() {
		return false
	}
	// Bounds of what the assembly touches.
	_ = dst[blocks*rows*n-1]
	_ = acc[(blocks-1)*lb+(rows-1)*ld+n-1]
	_, _, _ = rowSum[blocks-1], scale[blocks-1], bias[blocks-1]
	dequantBlocksAVX512(&dst[0], &acc[0], blocks, rows, n, ld, lb, &rowSum[0], zp, &scale[0], &bias[0], floorFor(relu))
	return true
}

//go:noescape
func depthwise3x3AVX2(dst *float32, src *float32, n, wp int, k *float32, b float32)

// depthwise3x3Asm is depthwise3x3Wide for the first len(dst) rounded down
// to a multiple of 8 wide columns; it returns how many it did, 0 on CPUs
// without AVX2.
func depthwise3x3Asm(dst, src []float32, wp int, k []float32, b float32) int {
	n := len(dst) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = src[n-1+2*wp+2]
	_ = k[8]
	depthwise3x3AVX2(&dst[0], &src[0], n, wp, &k[0], b)
	return n
}
