//go:build !purego && !noasm

package kernel

import "math"

//go:noescape
func addAVX2(y, a, b *float32, n int, floor float32)

//go:noescape
func placeRowsAVX2(dst, src *float32, rows, n, ldd, lds, stride int)

//go:noescape
func placeRowsU8AVX2(dst, src *uint8, rows, n, ldd, lds, stride int, pad uint8)

//go:noescape
func placeShortAVX512(dst, src *float32, rows, n, ldd, lds, stride int)

//go:noescape
func placePairAVX512(dstA, dstB, src *float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32])

//go:noescape
func placePairU8AVX512(dstA, dstB *uint8, src *float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32])

//go:noescape
func planeMeansAVX2(dst, src *float32, planes, n int, scale float32)

//go:noescape
func placePairWideAVX512(dstA, dstB, src *float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32])

//go:noescape
func placeShortU8AVX512(dst, src *uint8, rows, n, ldd, lds, stride int)

//go:noescape
func maxPool2x2AVX2(dst, src *float32, n, w int)

//go:noescape
func biasRowsAVX2(dst, src *float32, rows, width, ld int, bias *float32, per, skip int, floor float32)

// floorFor is the lower bound the AVX2 kernels take with VMAXPS (which
// returns its second source, the value, for NaN and for two zeros): 0 for
// a ReLU, −∞ (no bound) otherwise.
func floorFor(relu bool) float32 {
	if relu {
		return 0
	}
	return float32(math.Inf(-1))
}

// addAsm does Add's first len(y) rounded down to a multiple of 8 values and
// returns how many, 0 on CPUs without AVX2.
func addAsm(y, a, b []float32, relu bool) int {
	n := len(y) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_, _ = a[n-1], b[n-1]
	addAVX2(&y[0], &a[0], &b[0], n, floorFor(relu))
	return n
}

// biasRowsAsm does the first rows of biasRows (bounds already checked)
// and returns how many, 0 on CPUs without AVX2: all of them when width ≥ 8,
// otherwise those whose 8-value load and spilling store stay inside src
// and dst with the spill landing in a later row.
func biasRowsAsm(dst, src []float32, rows, width, ld, lb int, bias []float32, per int, relu bool) int {
	if !hasAVX2() {
		return 0
	}
	need := max(width, 8)
	k := rows
	for k > 0 && ((k-1)/per*lb+(k-1)%per*ld+need > len(src) || (k-1)*width+need > len(dst)) {
		k--
	}
	if k > 0 {
		biasRowsAVX2(&dst[0], &src[0], k, width, ld, &bias[0], per, 4*(lb-per*ld), floorFor(relu))
	}
	return k
}

// vectorRows returns how many leading rows of a row kernel with vectors of
// lanes values can do in whole vectors, rows being n values at a pitch of
// ldd in dst and n·stride values at a pitch of lds in src: all of them
// whose reads stay inside src when n ≥ lanes (the last vector overlaps
// the one before instead of running past the row, and reads n·stride
// values in all), otherwise those whose one vector, reading lanes·stride
// values and writing lanes, stays inside src and dst. Rows are done in
// order, so a qualifying row's spill lands on padding or on later rows.
func vectorRows(lenDst, lenSrc, rows, n, ldd, lds, stride, lanes int) int {
	needSrc, needDst := lanes*stride, lanes
	if n >= lanes {
		needSrc, needDst = n*stride, n
	}
	if lenSrc < needSrc || lenDst < needDst {
		return 0
	}
	return min(rows, (lenSrc-needSrc)/lds+1, (lenDst-needDst)/ldd+1)
}

// placeRowsAsm does the first rows of every block of placeBlocks (bounds
// already checked) and returns how many, the same for every block, 0 on
// CPUs without AVX2 or for strides other than 1 and 2. Its 8-lane loads
// read up to 8·stride values from the start of a vector, so a row
// qualifies when those reads stay inside src (as far as the last block
// has it); with n < 8 its one store writes 8 values, zeros past the n-th,
// so the row must also have 8 places left in its block's span of dst
// (the rest of its plane).
//
// With AVX-512 (VL), rows shorter than 8 go through masked loads and
// stores instead, which stay inside every row: all rows qualify.
func placeRowsAsm(dst, src []float32, blocks, rows, n, ldd, lds, stride, bd, bs, span int) int {
	if !hasAVX2() || (stride != 1 && stride != 2) {
		return 0
	}
	if n < 8 && hasShortMasks() {
		for b := range blocks {
			placeShortAVX512(&dst[b*bd], &src[b*bs], rows, n, ldd, lds, stride)
		}
		return rows
	}
	k := vectorRows(span, len(src)-(blocks-1)*bs, rows, n, ldd, lds, stride, 8)
	if k > 0 {
		for b := range blocks {
			placeRowsAVX2(&dst[b*bd], &src[b*bs], k, n, ldd, lds, stride)
		}
	}
	return k
}

// placePairAsm does placePair with AVX-512 masks and reports whether it
// could: rows of both phases at most 16 values (one or two 16-value
// vectors hold the image row's part they take).
func placePairAsm(dstA, dstB, src []float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32]) bool {
	if !hasShortMasks() || nA > 16 || nB < 1 || nB > nA || nA > nB+1 {
		return false
	}
	last := blocks - 1
	_ = dstA[last*bd+(rows-1)*ldd+nA-1]
	_ = dstB[last*bd+(rows-1)*ldd+nB-1]
	_ = src[last*bs+(rows-1)*lds+max(2*nA-1, 2*nB)-1]
	if nA <= 8 && nB <= 8 {
		placePairAVX512(&dstA[0], &dstB[0], &src[0], blocks, rows, nA, nB, ldd, lds, bd, bs, q)
	} else {
		placePairWideAVX512(&dstA[0], &dstB[0], &src[0], blocks, rows, nA, nB, ldd, lds, bd, bs, q)
	}
	return true
}

// placePairU8Asm is placePairAsm for the integer path: the values are
// quantized to their codes under q.
func placePairU8Asm(dstA, dstB []uint8, src []float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32]) bool {
	if !hasShortMasks() || nA > 8 || nB > 8 || nB < 1 || nB > nA || nA > nB+1 {
		return false
	}
	last := blocks - 1
	_ = dstA[last*bd+(rows-1)*ldd+nA-1]
	_ = dstB[last*bd+(rows-1)*ldd+nB-1]
	_ = src[last*bs+(rows-1)*lds+max(2*nA-1, 2*nB)-1]
	placePairU8AVX512(&dstA[0], &dstB[0], &src[0], blocks, rows, nA, nB, ldd, lds, bd, bs, q)
	return true
}

// planeMeansAsm does PlaneMeans for float32 and reports whether it could
// (CPUs with AVX2).
func planeMeansAsm(dst, src []float32, n int, scale float32) bool {
	if !hasAVX2() {
		return false
	}
	_ = src[len(dst)*n-1]
	planeMeansAVX2(&dst[0], &src[0], len(dst), n, scale)
	return true
}

// placeRowsU8Asm is placeRowsAsm for codes: 16-byte vectors, and short
// rows stored whole with the padding code past their end.
func placeRowsU8Asm(dst, src []uint8, blocks, rows, n, ldd, lds, stride, bd, bs, span int, pad uint8) int {
	if !hasAVX2() || (stride != 1 && stride != 2) {
		return 0
	}
	if n < 16 && hasShortMasks() {
		// Masked: the padding after each row keeps its code.
		for b := range blocks {
			placeShortU8AVX512(&dst[b*bd], &src[b*bs], rows, n, ldd, lds, stride)
		}
		return rows
	}
	k := vectorRows(span, len(src)-(blocks-1)*bs, rows, n, ldd, lds, stride, 16)
	if k > 0 {
		for b := range blocks {
			placeRowsU8AVX2(&dst[b*bd], &src[b*bs], k, n, ldd, lds, stride, pad)
		}
	}
	return k
}

// maxPool2x2Asm sets out[j] to the maximum of the 2×2 window at column 2j
// of the two rows in src (row length w), as maxPool2x2Range's scan does,
// and reports whether it could: float32, at least 4 outputs, AVX2.
func maxPool2x2Asm[T Float](out, src []T, w int) bool {
	o, ok := any(out).([]float32)
	if !ok || len(o) < 4 || !hasAVX2() {
		return false
	}
	s := any(src).([]float32)
	_ = s[w+2*len(o)-1]
	maxPool2x2AVX2(&o[0], &s[0], len(o), w)
	return true
}
