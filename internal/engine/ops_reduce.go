package engine

import (
	"fmt"
	"math"
	"slices"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

// reduceStep is ReduceMean, ReduceSum, ReduceMax or ReduceMin (and
// GlobalMaxPool) over a block of adjacent axes: the input seen as outer ×
// n × inner, the output as outer × inner. Its items for the Team are
// output elements, each reducing n inputs, so that ranges touch disjoint
// inputs in both passes.
type reduceStep[T Float] struct {
	stepIO
	outer, n, inner int
	scale           float64 // 1/n for ReduceMean, 1 for ReduceSum
	// extreme is +1 for ReduceMax, −1 for ReduceMin, 0 for the sums.
	extreme int
	// norm is '1' for ReduceL1 (Σ|x|), '2' for ReduceL2 (√Σx², as
	// F.normalize exports), 's' for ReduceSumSquare (Σx²), 'e' for
	// ReduceLogSumExp (log Σ eˣ, torch.logsumexp), 0 otherwise.
	norm byte
}

func (s *reduceStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	st.parallel(len(y), s.chunk(), ewJob[T]{kind: ewForward, k: s, a: x, y: y})
}

func (s *reduceStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	x, y, gy := st.data[s.in[0]], st.data[s.out[0]], st.grad[s.out[0]]
	st.parallel(len(y), s.chunk(), ewJob[T]{kind: ewBackward, k: s, a: x, b: y, c: gy, y: gx})
}

// chunk is the least number of outputs worth a range of their own.
func (s *reduceStep[T]) chunk() int { return max(1, (1<<14)/max(s.n, 1)) }

// forwardRange sets the outputs [lo, hi), summing in float64 (float32
// sums and means over contiguous rows: kernel.PlaneMeans). A maximum
// or minimum is NaN where any of its inputs is (as in PyTorch's amax).
func (s *reduceStep[T]) forwardRange(x, y []T, lo, hi int) {
	if s.extreme != 0 {
		for j := lo; j < hi; j++ {
			o, in := j/s.inner, j%s.inner
			base := o*s.n*s.inner + in
			if s.inner == 1 {
				// A contiguous row: four running extremes in flight. Where
				// the result is neither NaN nor zero its value has one
				// bit pattern, whichever element it came from, so it is
				// the loop's; a NaN (whose payload) or a zero (whose
				// sign) goes through the loop below.
				if m := extreme4(x[base:base+s.n], s.extreme > 0); m == m && m != 0 {
					y[j] = m
					continue
				}
			}
			m := x[base]
			for k := 1; k < s.n; k++ {
				v := x[base+k*s.inner]
				if v != v || (s.extreme > 0 && v > m) || (s.extreme < 0 && v < m) {
					m = v
				}
				if m != m {
					break
				}
			}
			y[j] = m
		}
		return
	}
	if s.norm == 'e' {
		for j := lo; j < hi; j++ {
			o, in := j/s.inner, j%s.inner
			base := o*s.n*s.inner + in
			y[j] = T(logSumExp(x, base, s.n, s.inner))
		}
		return
	}
	if _, f32 := any(x).([]float32); f32 && s.inner == 1 && s.norm == 0 {
		// Sums and means of contiguous float32 rows (x.mean(-1), x.mean((2,
		// 3))): one vectorized pass, in float32 with eight partial sums as
		// global average pooling does, where the loop below spent 3–4
		// cycles a value on float64 conversions.
		kernel.PlaneMeans(y[lo:hi], x[lo*s.n:hi*s.n], s.n, T(s.scale))
		return
	}
	for j := lo; j < hi; j++ {
		o, in := j/s.inner, j%s.inner
		base := o*s.n*s.inner + in
		sum := 0.0
		for k := 0; k < s.n; k++ {
			v := float64(x[base+k*s.inner])
			switch s.norm {
			case '1':
				v = math.Abs(v)
			case '2', 's':
				v *= v
			}
			sum += v
		}
		if s.norm == '2' {
			sum = math.Sqrt(sum)
		}
		y[j] = T(sum * s.scale)
	}
}

// backwardRange spreads the gradient of the outputs [lo, hi) over their
// inputs: evenly for the sums, and for a maximum or minimum evenly over
// the inputs equal to it (PyTorch's amax/amin rule for ties).
func (s *reduceStep[T]) backwardRange(x, y, gy, gx []T, lo, hi int) {
	if s.extreme != 0 {
		for j := lo; j < hi; j++ {
			o, in := j/s.inner, j%s.inner
			base := o*s.n*s.inner + in
			ties := 0
			for k := 0; k < s.n; k++ {
				if x[base+k*s.inner] == y[j] {
					ties++
				}
			}
			if ties == 0 {
				continue // a NaN maximum: no input equals it
			}
			g := gy[j] / T(ties)
			for k := 0; k < s.n; k++ {
				if x[base+k*s.inner] == y[j] {
					gx[base+k*s.inner] += g
				}
			}
		}
		return
	}
	if s.norm == 'e' {
		// ∂/∂xₖ log Σ eˣ = e^(xₖ − y): the softmax of the reduced inputs.
		for j := lo; j < hi; j++ {
			o, in := j/s.inner, j%s.inner
			base := o*s.n*s.inner + in
			g, yj := float64(gy[j]), float64(y[j])
			for k := 0; k < s.n; k++ {
				i := base + k*s.inner
				gx[i] += T(g * math.Exp(float64(x[i])-yj))
			}
		}
		return
	}
	if s.norm != 0 {
		for j := lo; j < hi; j++ {
			o, in := j/s.inner, j%s.inner
			base := o*s.n*s.inner + in
			g := float64(gy[j])
			if s.norm == '2' {
				if y[j] == 0 {
					continue // √ is not differentiable at 0; PyTorch's norm gives 0 there too
				}
				g /= float64(y[j])
			}
			for k := 0; k < s.n; k++ {
				v := float64(x[base+k*s.inner])
				switch s.norm {
				case '1':
					if v > 0 {
						gx[base+k*s.inner] += T(g)
					} else if v < 0 {
						gx[base+k*s.inner] -= T(g)
					}
				case '2':
					gx[base+k*s.inner] += T(g * v)
				case 's':
					gx[base+k*s.inner] += T(2 * g * v)
				}
			}
		}
		return
	}
	scale := T(s.scale)
	for j := lo; j < hi; j++ {
		o, in := j/s.inner, j%s.inner
		base := o*s.n*s.inner + in
		g := gy[j] * scale
		for k := 0; k < s.n; k++ {
			gx[base+k*s.inner] += g
		}
	}
}

// extreme4 is the maximum (max) or minimum of row, n ≥ 1, in four
// running extremes (values 4j + l), NaN where any value is; which of −0
// and +0 it returns on a tie of zeros is not the first one's.
func extreme4[T Float](row []T, isMax bool) T {
	a := row[0]
	b, c, e := a, a, a
	n4 := len(row) / 4 * 4
	for i := 0; i < n4; i += 4 {
		q := row[i : i+4 : i+4]
		if isMax {
			a, b, c, e = max(a, q[0]), max(b, q[1]), max(c, q[2]), max(e, q[3])
		} else {
			a, b, c, e = min(a, q[0]), min(b, q[1]), min(c, q[2]), min(e, q[3])
		}
	}
	for _, v := range row[n4:] {
		if isMax {
			a = max(a, v)
		} else {
			a = min(a, v)
		}
	}
	if isMax {
		return max(a, b, c, e)
	}
	return min(a, b, c, e)
}

// logSumExp is log Σₖ e^x[base+k·stride] over n values, shifted by their
// maximum so that no term overflows, in float64 (float32 terms and sums
// for float32 values with stride 1: kernel.ExpSum); +Inf or NaN where the
// maximum is.
func logSumExp[T Float](x []T, base, n, stride int) float64 {
	m := math.Inf(-1)
	for k := 0; k < n; k++ {
		v := float64(x[base+k*stride])
		if v != v {
			return v
		}
		m = max(m, v)
	}
	if math.IsInf(m, 0) {
		return m
	}
	if stride == 1 {
		// Contiguous (the reduced axes last): kernel.ExpSum, vectorized
		// for float32.
		return m + math.Log(kernel.ExpSum(x[base:base+n], T(m)))
	}
	sum := 0.0
	for k := 0; k < n; k++ {
		sum += math.Exp(float64(x[base+k*stride]) - m)
	}
	return m + math.Log(sum)
}

// reduce plans ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceL1,
// ReduceL2, ReduceSumSquare or ReduceLogSumExp: constant
// axes from the attribute (ReduceSum before opset 13, the others before 18)
// or input 1, keepdims, noop_with_empty_axes (opset 18).
func (c *compiler[T]) reduce() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	axes64, err := c.axes()
	if err != nil {
		return nil, nil, err
	}
	if len(axes64) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) != 0 {
			c.aliasOf = c.ins[0]
			return nil, [][]int{slices.Clone(x)}, nil
		}
		for i := range x {
			axes64 = append(axes64, int64(i))
		}
	}
	var axes []int
	for _, a := range axes64 {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return nil, nil, err
		}
		if slices.Contains(axes, ax) {
			return nil, nil, fmt.Errorf("axis %d is listed twice in %v: %w", a, axes64, ErrShape)
		}
		axes = append(axes, ax)
	}
	slices.Sort(axes)
	first, last := axes[0], axes[len(axes)-1]
	if last-first+1 != len(axes) {
		return nil, nil, fmt.Errorf("%s over axes %v of %s, which are not adjacent, is not supported", n.Op, axes64, graph.ShapeString(x))
	}
	s := &reduceStep[T]{outer: graph.NumElements(x[:first]), n: graph.NumElements(x[first : last+1]), inner: graph.NumElements(x[last+1:]), scale: 1}
	switch n.Op {
	case "ReduceMean":
		s.scale = 1 / float64(s.n)
	case "ReduceMax":
		s.extreme = 1
	case "ReduceMin":
		s.extreme = -1
	case "ReduceL1":
		s.norm = '1'
	case "ReduceL2":
		s.norm = '2'
	case "ReduceSumSquare":
		s.norm = 's'
	case "ReduceLogSumExp":
		s.norm = 'e'
	}
	if s.n == 0 && (s.extreme != 0 || s.norm == 'e') {
		return nil, nil, fmt.Errorf("%s over an empty axis of %s has no value: %w", n.Op, graph.ShapeString(x), ErrShape)
	}
	var y []int
	for i, d := range x {
		switch {
		case i < first || i > last:
			y = append(y, d)
		case n.AttrInt("keepdims", 1) != 0:
			y = append(y, 1)
		}
	}
	if y == nil {
		y = []int{}
	}
	return s, [][]int{y}, nil
}

// layerNormStep is LayerNormalization (opset 17) over rows of d values (the
// axes from axis on): y = (x − μ)/√(σ² + ε)·γ + β with the row's mean μ and
// (biased) variance σ², computed in float64. Its items for the Team are rows.
type layerNormStep[T Float] struct {
	stepIO
	rows, d     int
	eps         float64
	scale, bias []T // d values each; bias is nil when absent
	// perRow, when positive, makes this InstanceNormalization: rows are
	// channels, row r's being r mod perRow, and scale and bias hold d
	// values per channel (its scalar, repeated).
	perRow int
	// mean and rstd hold each row's μ and 1/√(σ² + ε) from the last
	// forward pass, for the backward pass.
	mean, rstd []float64
}

func (s *layerNormStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	st.parallel(s.rows, s.chunk(), ewJob[T]{kind: ewForward, k: s, a: x, y: y})
}

func (s *layerNormStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	x, y, gy := st.data[s.in[0]], st.data[s.out[0]], st.grad[s.out[0]]
	st.parallel(s.rows, s.chunk(), ewJob[T]{kind: ewBackward, k: s, a: x, b: y, c: gy, y: gx})
}

func (s *layerNormStep[T]) chunk() int { return max(1, (1<<13)/max(s.d, 1)) }

// forwardRange normalizes the rows [lo, hi).
func (s *layerNormStep[T]) forwardRange(x, y []T, lo, hi int) {
	d := float64(s.d)
	for r := lo; r < hi; r++ {
		xs, ys := x[r*s.d:(r+1)*s.d], y[r*s.d:(r+1)*s.d]
		mu := sum4(xs, 0, false) / d
		rstd := 1 / math.Sqrt(sum4(xs, mu, true)/d+s.eps)
		s.mean[r], s.rstd[r] = mu, rstd
		gs, bs := s.affine(r)
		gs, ys = gs[:len(xs)], ys[:len(xs)]
		if bs == nil {
			for i, v := range xs {
				ys[i] = T((float64(v) - mu) * rstd * float64(gs[i]))
			}
			continue
		}
		bs = bs[:len(xs)]
		for i, v := range xs {
			ys[i] = T((float64(v)-mu)*rstd*float64(gs[i]) + float64(bs[i]))
		}
	}
}

// sum4 is Σ x, or Σ (x − mu)² with sq, over xs in float64, in
// four partial sums held in variables (values 4j, 4j+1, 4j+2, 4j+3, added
// as (s0 + s1) + (s2 + s3), then the tail in order): four additions in
// flight, where one chain of float64 additions took 3 cycles a value.
func sum4[T Float](xs []T, mu float64, sq bool) float64 {
	var a, b, c, e float64
	n4 := len(xs) / 4 * 4
	for i := 0; i < n4; i += 4 {
		q := xs[i : i+4 : i+4]
		v0, v1, v2, v3 := float64(q[0]), float64(q[1]), float64(q[2]), float64(q[3])
		if sq {
			v0, v1, v2, v3 = (v0-mu)*(v0-mu), (v1-mu)*(v1-mu), (v2-mu)*(v2-mu), (v3-mu)*(v3-mu)
		}
		a += v0
		b += v1
		c += v2
		e += v3
	}
	sum := (a + b) + (c + e)
	for _, v := range xs[n4:] {
		w := float64(v)
		if sq {
			w = (w - mu) * (w - mu)
		}
		sum += w
	}
	return sum
}

// backwardRange adds the gradient of the rows [lo, hi): with x̂ the
// normalized row and ĝ = gy·γ, gx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/√(σ² + ε).
func (s *layerNormStep[T]) backwardRange(x, _, gy, gx []T, lo, hi int) {
	d := float64(s.d)
	for r := lo; r < hi; r++ {
		xs, gys, gxs := x[r*s.d:(r+1)*s.d], gy[r*s.d:(r+1)*s.d], gx[r*s.d:(r+1)*s.d]
		mu, rstd := s.mean[r], s.rstd[r]
		gs, _ := s.affine(r)
		m1, m2 := 0.0, 0.0
		for i, v := range xs {
			g := float64(gys[i]) * float64(gs[i])
			m1 += g
			m2 += g * (float64(v) - mu) * rstd
		}
		m1, m2 = m1/d, m2/d
		for i, v := range xs {
			g := float64(gys[i]) * float64(gs[i])
			h := (float64(v) - mu) * rstd
			gxs[i] += T(rstd * (g - m1 - h*m2))
		}
	}
}

// affine returns the scale and bias (nil when absent) of row r's values.
func (s *layerNormStep[T]) affine(r int) (scale, bias []T) {
	if s.perRow == 0 {
		return s.scale, s.bias
	}
	c := r % s.perRow
	scale = s.scale[c*s.d : (c+1)*s.d]
	if s.bias != nil {
		bias = s.bias[c*s.d : (c+1)*s.d]
	}
	return scale, bias
}

// layerNorm plans LayerNormalization with constant scale and bias, which
// broadcast to the normalized axes; the gradient flows to x only.
func (c *compiler[T]) layerNorm() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	if slices.ContainsFunc(n.Outputs[min(1, len(n.Outputs)):], func(s string) bool { return s != "" }) {
		return nil, nil, fmt.Errorf("LayerNormalization's Mean and InvStdDev outputs are not supported (a training export); export the model with model.eval()")
	}
	axis, err := normAxis(n.AttrInt("axis", -1), len(x))
	if err != nil {
		return nil, nil, err
	}
	norm := x[axis:]
	s := &layerNormStep[T]{rows: graph.NumElements(x[:axis]), d: graph.NumElements(norm), eps: n.AttrFloat("epsilon", 1e-5)}
	for i, dst := range []*[]T{&s.scale, &s.bias} {
		if !c.has(i + 1) {
			continue
		}
		t := c.constIn(i + 1)
		if t == nil {
			return nil, nil, fmt.Errorf("LayerNormalization input %d (%q) must be a constant (an initializer)", i+1, n.Input(i+1))
		}
		if *dst, err = expandConst[T](t.Floats(), t.Shape, norm); err != nil {
			return nil, nil, fmt.Errorf("LayerNormalization input %d: %w", i+1, err)
		}
	}
	if s.scale == nil {
		return nil, nil, fmt.Errorf("LayerNormalization has no scale input")
	}
	s.mean, s.rstd = make([]float64, s.rows), make([]float64, s.rows)
	return s, [][]int{slices.Clone(x)}, nil
}

// globalMaxPool plans GlobalMaxPool: the maximum over the spatial axes
// (2 on) of each sample and channel, kept as 1s.
func (c *compiler[T]) globalMaxPool() (stepper[T], [][]int, error) {
	x := c.shape(0)
	y, err := globalPoolShape(x)
	if err != nil {
		return nil, nil, err
	}
	n := graph.NumElements(x[2:])
	if n == 0 {
		return nil, nil, fmt.Errorf("GlobalMaxPool of the empty input %s: %w", graph.ShapeString(x), ErrShape)
	}
	return &reduceStep[T]{outer: x[0] * x[1], n: n, inner: 1, scale: 1, extreme: 1}, [][]int{y}, nil
}

// instanceNorm plans InstanceNormalization: each channel of each sample
// (axis 1) normalized over the spatial axes, then scaled and shifted per
// channel by constant inputs (how PyTorch exports GroupNorm, between two
// Reshapes, and InstanceNorm2d).
func (c *compiler[T]) instanceNorm() (stepper[T], [][]int, error) {
	x := c.shape(0)
	if len(x) < 3 {
		return nil, nil, fmt.Errorf("input %s has no spatial dimensions: %w", graph.ShapeString(x), ErrShape)
	}
	ch := x[1]
	s := &layerNormStep[T]{rows: x[0] * ch, d: graph.NumElements(x[2:]), eps: c.node.AttrFloat("epsilon", 1e-5), perRow: ch}
	if s.d == 0 {
		return nil, nil, fmt.Errorf("InstanceNormalization of the empty input %s: %w", graph.ShapeString(x), ErrShape)
	}
	for i, dst := range []*[]T{&s.scale, &s.bias} {
		t := c.constIn(i + 1)
		if t == nil {
			return nil, nil, fmt.Errorf("InstanceNormalization input %d (%q) must be a constant (an initializer)", i+1, c.node.Input(i+1))
		}
		v := t.Floats()
		if len(v) != ch {
			return nil, nil, fmt.Errorf("InstanceNormalization input %d has %d values for %d channels: %w", i+1, len(v), ch, ErrShape)
		}
		*dst = make([]T, ch*s.d)
		for k, f := range v {
			row := (*dst)[k*s.d : (k+1)*s.d]
			for j := range row {
				row[j] = T(f)
			}
		}
	}
	s.mean, s.rstd = make([]float64, s.rows), make([]float64, s.rows)
	return s, [][]int{slices.Clone(x)}, nil
}
