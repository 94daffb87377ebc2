package engine

import (
	"fmt"
	"math"
	"slices"

	"mpq/internal/graph"
)

// resizeStep is Resize (F.interpolate, nn.Upsample) in mode nearest or
// linear: each output element is a weighted sum of at most 2ʳ inputs (one
// for nearest), over the block of axes from the first one the resize
// changes; the axes before it (batch, usually channels) are copied
// through, and its items for the Team are their planes. The taps of one
// block are planned once: output element j of a plane reads the inputs
// idx[off[j]:off[j+1]] with weights w[off[j]:off[j+1]].
type resizeStep[T Float] struct {
	stepIO
	inB, outB int // block sizes of input and output
	off, idx  []int32
	w         []T
	// sep, when set, replaces the tap lists of a block of one or two axes
	// (a 1-D or 2-D spatial resize) by separable per-axis tables: output
	// (i, j) of a plane is Σ h[i]ₐ·w[j]_b·x(hIdx[i]ₐ, wIdx[j]_b) over a, b ∈
	// {0, 1}, a missing second tap having weight 0.
	sep *sepTaps[T]
}

// sepTaps are the two-tap tables of a separable 2-D resize: per output
// row, two input rows and their weights; per output column, two input
// columns and theirs. inW is the input's row length.
type sepTaps[T Float] struct {
	inW, outH, outW int
	h0, h1, w0, w1  []int32
	hw0, hw1        []T
	ww0, ww1        []T
	nearest         bool // every second weight is 0: copy instead
}

func (s *resizeStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	st.parallel(len(y)/max(s.outB, 1), s.chunk(), ewJob[T]{kind: ewForward, k: s, a: x, y: y})
}

func (s *resizeStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	x, y, gy := st.data[s.in[0]], st.data[s.out[0]], st.grad[s.out[0]]
	st.parallel(len(y)/max(s.outB, 1), s.chunk(), ewJob[T]{kind: ewBackward, k: s, a: x, b: y, c: gy, y: gx})
}

// chunk is the least number of planes worth a range of their own.
func (s *resizeStep[T]) chunk() int { return max(1, (1<<14)/max(len(s.idx), s.outB, 1)) }

// forwardRange computes the planes [lo, hi).
func (s *resizeStep[T]) forwardRange(x, y []T, lo, hi int) {
	if t := s.sep; t != nil {
		for p := lo; p < hi; p++ {
			xs, ys := x[p*s.inB:(p+1)*s.inB], y[p*s.outB:(p+1)*s.outB]
			for i := range t.outH {
				row := ys[i*t.outW : (i+1)*t.outW]
				r0 := xs[int(t.h0[i])*t.inW : (int(t.h0[i])+1)*t.inW]
				if t.nearest {
					for j := range row {
						row[j] = r0[t.w0[j]]
					}
					continue
				}
				r1 := xs[int(t.h1[i])*t.inW : (int(t.h1[i])+1)*t.inW]
				a0, a1 := t.hw0[i], t.hw1[i]
				for j := range row {
					j0, j1 := t.w0[j], t.w1[j]
					b0, b1 := t.ww0[j], t.ww1[j]
					row[j] = a0*(b0*r0[j0]+b1*r0[j1]) + a1*(b0*r1[j0]+b1*r1[j1])
				}
			}
		}
		return
	}
	for p := lo; p < hi; p++ {
		xs, ys := x[p*s.inB:(p+1)*s.inB], y[p*s.outB:(p+1)*s.outB]
		for j := range ys {
			var v T
			for t := s.off[j]; t < s.off[j+1]; t++ {
				v += s.w[t] * xs[s.idx[t]]
			}
			ys[j] = v
		}
	}
}

// backwardRange adds the planes [lo, hi) of the gradient: each output's
// gradient goes back to the inputs it read, by their weights. Planes
// touch disjoint inputs, so ranges run in parallel.
func (s *resizeStep[T]) backwardRange(_, _, gy, gx []T, lo, hi int) {
	if t := s.sep; t != nil {
		for p := lo; p < hi; p++ {
			gxs, gys := gx[p*s.inB:(p+1)*s.inB], gy[p*s.outB:(p+1)*s.outB]
			for i := range t.outH {
				row := gys[i*t.outW : (i+1)*t.outW]
				r0 := gxs[int(t.h0[i])*t.inW : (int(t.h0[i])+1)*t.inW]
				if t.nearest {
					for j, g := range row {
						r0[t.w0[j]] += g
					}
					continue
				}
				r1 := gxs[int(t.h1[i])*t.inW : (int(t.h1[i])+1)*t.inW]
				a0, a1 := t.hw0[i], t.hw1[i]
				for j, g := range row {
					j0, j1 := t.w0[j], t.w1[j]
					b0, b1 := t.ww0[j]*g, t.ww1[j]*g
					r0[j0] += a0 * b0
					r0[j1] += a0 * b1
					r1[j0] += a1 * b0
					r1[j1] += a1 * b1
				}
			}
		}
		return
	}
	for p := lo; p < hi; p++ {
		gxs, gys := gx[p*s.inB:(p+1)*s.inB], gy[p*s.outB:(p+1)*s.outB]
		for j, g := range gys {
			for t := s.off[j]; t < s.off[j+1]; t++ {
				gxs[s.idx[t]] += s.w[t] * g
			}
		}
	}
}

// resizeTap is one input an output coordinate reads along one axis.
type resizeTap struct {
	i int
	w float64
}

// resize plans Resize (opsets 10 to 19): mode nearest (nearest_mode
// round_prefer_floor, round_prefer_ceil, floor, ceil) or linear, the
// coordinate transformations half_pixel, pytorch_half_pixel,
// align_corners, asymmetric and tf_half_pixel_for_nn, output size from
// constant scales or sizes. Inputs are clamped to the edge, as in the
// ONNX reference and PyTorch.
func (c *compiler[T]) resize() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	mode := n.AttrString("mode", "nearest")
	if mode != "nearest" && mode != "linear" {
		return nil, nil, fmt.Errorf("Resize mode %q is not supported (nearest, linear)", mode)
	}
	if n.AttrInt("antialias", 0) != 0 {
		return nil, nil, fmt.Errorf("Resize with antialias is not supported")
	}
	if n.AttrInts("axes") != nil {
		return nil, nil, fmt.Errorf("Resize with the axes attribute is not supported; export with opset_version ≤ 17")
	}
	coord := n.AttrString("coordinate_transformation_mode", "half_pixel")
	nearest := n.AttrString("nearest_mode", "round_prefer_floor")
	var scales []float64
	var sizes []int64
	if c.opset < 11 {
		// Opset 10: Resize(X, scales), asymmetric.
		coord = "asymmetric"
		if t := c.constIn(1); t != nil {
			scales = t.Floats()
		}
		if scales == nil {
			return nil, nil, fmt.Errorf("Resize scales must be constant")
		}
	} else {
		if t := c.constIn(2); t != nil && t.Len() > 0 {
			scales = t.Floats()
		}
		if t := c.constIn(3); t != nil && t.Len() > 0 {
			sizes = t.Ints()
		}
		if scales == nil && sizes == nil {
			return nil, nil, fmt.Errorf("Resize needs constant scales or sizes (an output size computed from data is not supported)")
		}
	}
	if b := c.p.staticBatch; b > 0 && b != c.p.batch && len(sizes) > 0 && sizes[0] == int64(b) && len(x) > 0 && x[0] == c.p.batch {
		// A model exported with a fixed batch B (its sizes folded to
		// constants, as onnx-simplifier does) resizes [B, ...]: that B
		// is the batch, as for Reshape.
		sizes = slices.Clone(sizes)
		sizes[0] = int64(c.p.batch)
	}
	if len(scales) > 0 && len(sizes) > 0 {
		return nil, nil, fmt.Errorf("Resize has both scales and sizes; ONNX allows one")
	}
	if (scales != nil && len(scales) != len(x)) || (sizes != nil && len(sizes) != len(x)) {
		return nil, nil, fmt.Errorf("Resize scales %v / sizes %v do not fit rank %d: %w", scales, sizes, len(x), ErrShape)
	}
	y := make([]int, len(x))
	scale := make([]float64, len(x))
	for d := range x {
		if sizes != nil {
			if sizes[d] < 0 || sizes[d] > 1<<24 {
				return nil, nil, fmt.Errorf("Resize size %d: %w", sizes[d], ErrShape)
			}
			y[d] = int(sizes[d])
			scale[d] = float64(y[d]) / float64(x[d])
		} else {
			if !(scales[d] > 0) || scales[d] > 1<<12 {
				return nil, nil, fmt.Errorf("Resize scale %v: want a positive scale: %w", scales[d], ErrShape)
			}
			scale[d] = scales[d]
			y[d] = int(math.Floor(float64(x[d]) * scales[d]))
		}
	}
	if err := checkShape(y); err != nil {
		return nil, nil, fmt.Errorf("Resize: %w", err)
	}
	if graph.NumElements(x) == 0 || graph.NumElements(y) == 0 {
		return nil, nil, fmt.Errorf("Resize of %s to %s: empty tensors are not supported: %w", graph.ShapeString(x), graph.ShapeString(y), ErrShape)
	}
	// Each axis's taps; the block starts at the first axis that is not
	// the identity.
	taps := make([][][]resizeTap, len(x))
	first := len(x)
	for d := range x {
		t, err := axisTaps(x[d], y[d], scale[d], mode, coord, nearest)
		if err != nil {
			return nil, nil, err
		}
		taps[d] = t
		if first == len(x) && !identityTaps(t, x[d]) {
			first = d
		}
	}
	if first == len(x) {
		c.aliasOf = c.ins[0]
		return nil, [][]int{y}, nil
	}
	s := &resizeStep[T]{inB: graph.NumElements(x[first:]), outB: graph.NumElements(y[first:])}
	if len(x)-first <= 2 {
		hTaps := [][]resizeTap{{{0, 1}}} // a 1-D block is one row
		if len(x)-first == 2 {
			hTaps = taps[first]
		}
		s.sep = newSepTaps[T](hTaps, taps[len(x)-1], x[len(x)-1], mode == "nearest")
		return s, [][]int{y}, nil
	}
	total := 1
	for d := first; d < len(x); d++ {
		most := 0
		for _, t := range taps[d] {
			most = max(most, len(t))
		}
		total *= most
	}
	if total > 1<<len(x) || int64(total)*int64(s.outB) > maxElements {
		return nil, nil, fmt.Errorf("Resize of %s to %s is too large to plan: %w", graph.ShapeString(x), graph.ShapeString(y), ErrShape)
	}
	s.off = make([]int32, 0, s.outB+1)
	s.off = append(s.off, 0)
	inStr := strides(x[first:])
	ys := y[first:]
	at := make([]int, len(ys))
	type acc struct {
		i int
		w float64
	}
	terms := []acc{{0, 1}}
	for range s.outB {
		terms = terms[:1]
		terms[0] = acc{0, 1}
		for d, k := range at {
			var next []acc
			for _, t := range terms {
				for _, tp := range taps[first+d][k] {
					next = append(next, acc{t.i + tp.i*inStr[d], t.w * tp.w})
				}
			}
			terms = next
		}
		for _, t := range terms {
			if t.w != 0 {
				s.idx = append(s.idx, int32(t.i))
				s.w = append(s.w, T(t.w))
			}
		}
		s.off = append(s.off, int32(len(s.idx)))
		advance(at, ys)
	}
	return s, [][]int{y}, nil
}

// newSepTaps builds the two-tap tables of a separable resize from each
// axis's taps (one or two per output coordinate).
func newSepTaps[T Float](hTaps, wTaps [][]resizeTap, inW int, nearest bool) *sepTaps[T] {
	t := &sepTaps[T]{inW: inW, outH: len(hTaps), outW: len(wTaps), nearest: nearest}
	two := func(taps [][]resizeTap) (i0, i1 []int32, w0, w1 []T) {
		for _, tp := range taps {
			a, b := tp[0], tp[0]
			b.w = 0
			if len(tp) > 1 {
				b = tp[1]
			}
			i0, i1 = append(i0, int32(a.i)), append(i1, int32(b.i))
			w0, w1 = append(w0, T(a.w)), append(w1, T(b.w))
		}
		return
	}
	t.h0, t.h1, t.hw0, t.hw1 = two(hTaps)
	t.w0, t.w1, t.ww0, t.ww1 = two(wTaps)
	return t
}

// identityTaps reports whether taps read input i, whole, for output i.
func identityTaps(taps [][]resizeTap, in int) bool {
	if len(taps) != in {
		return false
	}
	for i, t := range taps {
		if len(t) != 1 || t[0].i != i || t[0].w != 1 {
			return false
		}
	}
	return true
}

// axisTaps returns, for each of the out coordinates of one axis, the
// inputs it reads and their weights.
func axisTaps(in, out int, scale float64, mode, coord, nearest string) ([][]resizeTap, error) {
	taps := make([][]resizeTap, out)
	for o := range taps {
		var xo float64
		switch coord {
		case "half_pixel":
			xo = (float64(o)+0.5)/scale - 0.5
		case "pytorch_half_pixel":
			if out > 1 {
				xo = (float64(o)+0.5)/scale - 0.5
			}
		case "align_corners":
			if out > 1 {
				xo = float64(o) * float64(in-1) / float64(out-1)
			}
		case "asymmetric":
			xo = float64(o) / scale
		case "tf_half_pixel_for_nn":
			xo = (float64(o) + 0.5) / scale
		default:
			return nil, fmt.Errorf("Resize coordinate_transformation_mode %q is not supported (half_pixel, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn)", coord)
		}
		clamp := func(i int) int { return min(max(i, 0), in-1) }
		if mode == "nearest" {
			var i int
			switch nearest {
			case "round_prefer_floor":
				if xo == math.Floor(xo)+0.5 {
					i = int(math.Floor(xo))
				} else {
					i = int(math.Round(xo))
				}
			case "round_prefer_ceil":
				i = int(math.Round(xo))
				if xo == math.Floor(xo)+0.5 {
					i = int(math.Ceil(xo))
				}
			case "floor":
				i = int(math.Floor(xo))
			case "ceil":
				i = int(math.Ceil(xo))
			default:
				return nil, fmt.Errorf("Resize nearest_mode %q is not supported (round_prefer_floor, round_prefer_ceil, floor, ceil)", nearest)
			}
			taps[o] = []resizeTap{{clamp(i), 1}}
			continue
		}
		lo := math.Floor(xo)
		f := xo - lo
		i0, i1 := clamp(int(lo)), clamp(int(lo)+1)
		switch {
		case f == 0 || i0 == i1:
			taps[o] = []resizeTap{{i0, 1}}
		default:
			taps[o] = []resizeTap{{i0, 1 - f}, {i1, f}}
		}
	}
	return taps, nil
}

// cumSumStep is CumSum along one axis (torch.cumsum): the input seen as
// outer × n × inner; its items for the Team are the outer × inner lines.
type cumSumStep[T Float] struct {
	stepIO
	outer, n, inner    int
	exclusive, reverse bool
}

func (s *cumSumStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	st.parallel(s.outer*s.inner, max(1, (1<<14)/max(s.n, 1)), ewJob[T]{kind: ewForward, k: s, a: x, y: y})
}

func (s *cumSumStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	x, y, gy := st.data[s.in[0]], st.data[s.out[0]], st.grad[s.out[0]]
	st.parallel(s.outer*s.inner, max(1, (1<<14)/max(s.n, 1)), ewJob[T]{kind: ewBackward, k: s, a: x, b: y, c: gy, y: gx})
}

// scan runs the cumulative sum of the lines [lo, hi) of src into dst
// (adding to it with add), forwards or in reverse.
func (s *cumSumStep[T]) scan(src, dst []T, lo, hi int, reverse, add bool) {
	for l := lo; l < hi; l++ {
		base := (l/s.inner)*s.n*s.inner + l%s.inner
		var sum T
		for k := range s.n {
			if reverse {
				k = s.n - 1 - k
			}
			i := base + k*s.inner
			v := src[i]
			if !s.exclusive {
				sum += v
			}
			if add {
				dst[i] += sum
			} else {
				dst[i] = sum
			}
			if s.exclusive {
				sum += v
			}
		}
	}
}

func (s *cumSumStep[T]) forwardRange(x, y []T, lo, hi int) { s.scan(x, y, lo, hi, s.reverse, false) }

// backwardRange adds the gradient: yᵢ sums the xₖ up to i (or from i), so
// ∂L/∂xₖ sums ∂L/∂yᵢ the other way, with the same exclusivity.
func (s *cumSumStep[T]) backwardRange(_, _, gy, gx []T, lo, hi int) {
	s.scan(gy, gx, lo, hi, !s.reverse, true)
}

// cumSum plans CumSum with a constant axis (input 1).
func (c *compiler[T]) cumSum() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	t := c.constIn(1)
	if t == nil || t.Len() != 1 {
		return nil, nil, fmt.Errorf("CumSum needs a constant scalar axis")
	}
	ax, err := normAxis(t.Ints()[0], len(x))
	if err != nil {
		return nil, nil, err
	}
	s := &cumSumStep[T]{outer: graph.NumElements(x[:ax]), n: x[ax], inner: graph.NumElements(x[ax+1:]),
		exclusive: n.AttrInt("exclusive", 0) != 0, reverse: n.AttrInt("reverse", 0) != 0}
	return s, [][]int{slices.Clone(x)}, nil
}
