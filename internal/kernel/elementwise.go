package kernel

// Add sets y[i] = a[i] + b[i] for every i < len(y), then, with relu,
// y[i] = max(y[i], 0) as Relu does (NaN stays NaN, −0 stays −0): ONNX
// Add, or an Add whose only consumer is a Relu (a residual block's), in
// one pass. AVX2 for float32 where the CPU has it; the results are those
// of the scalar loop, bit for bit. a and b must be at least as long as y;
// y may be either of them.
func Add[T Float](y, a, b []T, relu bool) {
	a, b = a[:len(y)], b[:len(y)]
	done := 0
	if ys, ok := any(y).([]float32); ok {
		done = addAsm(ys, any(a).([]float32), any(b).([]float32), relu)
	}
	if relu {
		for i := done; i < len(y); i++ {
			v := a[i] + b[i]
			if v < 0 {
				v = 0
			}
			y[i] = v
		}
		return
	}
	for i := done; i < len(y); i++ {
		y[i] = a[i] + b[i]
	}
}

// biasRows is the epilogue of a convolution through the padded layout:
// dst[r·width + i] = src[(r/per)·lb + (r mod per)·ld + i] + bias[r/per]
// for r < rows, i < width (zero for a nil bias), then, with relu,
// max(·, 0) as Relu does: rows come in blocks of per (one output channel),
// ld apart within a block and lb ≥ per·ld from block to block. A zero
// bias leaves every value as it is, −0 too: the sum is formed as
// x − (0 − b), which is x + b for b ≠ 0 and x for b = ±0. AVX2 for
// float32 where the CPU has it, bit for bit the scalar loop.
func biasRows[T Float](dst, src []T, rows, width, ld, lb int, bias []T, per int, relu bool) {
	if rows == 0 || width == 0 {
		return
	}
	var zero [1]T
	if bias == nil {
		if per < rows { // block by block, each with the one zero
			for r := 0; r < rows; r += per {
				n := min(per, rows-r)
				biasRows(dst[r*width:], src[r/per*lb:], n, width, ld, n*ld, nil, n, relu)
			}
			return
		}
		bias = zero[:]
	}
	last := (rows - 1) / per
	_ = bias[last]
	dst = dst[:rows*width]
	src = src[:last*lb+(rows-1-last*per)*ld+width]
	done := 0
	if d, ok := any(dst).([]float32); ok {
		done = biasRowsAsm(d, any(src).([]float32), rows, width, ld, lb, any(bias).([]float32), per, relu)
	}
	for r := done; r < rows; r++ {
		c := 0 - bias[r/per]
		out := dst[r*width : (r+1)*width]
		at := r/per*lb + r%per*ld
		for i, v := range src[at : at+width] {
			v -= c
			if relu && v < 0 {
				v = 0
			}
			out[i] = v
		}
	}
}

// placeRows sets dst[r·ldd + i] = src[r·lds + i·stride] for r < rows,
// i < n: the rows of one phase plane of the padded layout (padImage).
// dst runs to the end of the plane: what lies past each row's n values in
// it is padding, which must stay zero, or rows placed later. AVX2 for
// float32 with stride 1 or 2 where the CPU has it.
func placeRows[T Float](dst, src []T, rows, n, ldd, lds, stride int) {
	placeBlocks(dst, src, 1, rows, n, ldd, lds, stride, 0, 0, len(dst))
}

// PlaneMeans sets dst[p] to the sum of the plane src[p·n:(p+1)·n] times
// scale, for every p < len(dst) (global average pooling with scale =
// 1/n). The sum's order is fixed, and the same on every CPU: eight
// partial sums take the values 8j + l, l < 8, and are added as ((s0 +
// s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), then the last n mod 8
// values one by one. AVX2 for float32 where the CPU has it.
func PlaneMeans[T Float](dst, src []T, n int, scale T) {
	if len(dst) == 0 {
		return
	}
	src = src[:len(dst)*n]
	if d, ok := any(dst).([]float32); ok && n > 0 && planeMeansAsm(d, any(src).([]float32), n, any(scale).(float32)) {
		return
	}
	planeMeansGo(dst, src, n, scale)
}

// planeMeansGo is PlaneMeans in Go.
func planeMeansGo[T Float](dst, src []T, n int, scale T) {
	for i := range dst {
		p := src[i*n : (i+1)*n]
		j := n / 8 * 8
		sum := sum8(p)
		for _, v := range p[j:] {
			sum += v
		}
		dst[i] = sum * scale
	}
}

// placePair places the two column phases of a stride-2 phase row in one
// pass, fake-quantizing the values by q when q is not nil, and reports
// whether it could (float32 on CPUs with AVX-512 masks, rows of at most 16
// values; otherwise the caller places the two planes with placeBlocks):
// for block b < blocks and row r < rows, the values of src[b·bs + r·lds:]
// go alternately to dstA[b·bd + r·ldd:] (nA of them, the first, third, …)
// and dstB[b·bd + r·ldd:] (nB, the second, fourth, …), with nA − 1 ≤ nB
// ≤ nA. It reads each value of the image row once, where two placeBlocks
// calls read it twice.
func placePair[T Float](dstA, dstB, src []T, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[T]) bool {
	d, ok := any(dstA).([]float32)
	if !ok || blocks == 0 || rows == 0 {
		return false
	}
	return placePairAsm(d, any(dstB).([]float32), any(src).([]float32), blocks, rows, nA, nB, ldd, lds, bd, bs, any(q).(*FakeQuant[float32]))
}

// placeBlocks is placeRows for blocks of rows, one call for a phase plane
// of every channel: block b < blocks places its rows from src[b·bs:] into
// dst[b·bd:], whose plane runs span values from there.
func placeBlocks[T Float](dst, src []T, blocks, rows, n, ldd, lds, stride, bd, bs, span int) {
	if blocks == 0 || rows == 0 || n == 0 {
		return
	}
	last := blocks - 1
	_ = dst[last*bd+span-1]
	_ = src[last*bs+(rows-1)*lds+(n-1)*stride]
	done := 0
	if d, ok := any(dst).([]float32); ok {
		done = placeRowsAsm(d, any(src).([]float32), blocks, rows, n, ldd, lds, stride, bd, bs, span)
	}
	if done == rows {
		return
	}
	for b := range blocks {
		for r := done; r < rows; r++ {
			out := dst[b*bd+r*ldd : b*bd+r*ldd+n]
			in := src[b*bs+r*lds:]
			for i := range out {
				out[i] = in[i*stride]
			}
		}
	}
}
