package engine

import (
	"fmt"
	"math"
	"slices"

	"mpq/internal/graph"
)

// binStep is Add, Sub, Mul or Div with numpy broadcasting.
type binStep[T Float] struct {
	stepIO
	op     byte // '+', '-', '*', '/'
	same   bool // both operands have the output's shape
	ia, ib []int
}

func (s *binStep[T]) forward(st *state[T]) {
	a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.out[0]]
	if s.same {
		st.parallel(len(y), 1<<15, ewJob[T]{kind: ewBinary, op: s.op, a: a, b: b, y: y})
		return
	}
	ia, ib := s.ia, s.ib
	switch s.op {
	case '+':
		for i := range y {
			y[i] = a[ia[i]] + b[ib[i]]
		}
	case '-':
		for i := range y {
			y[i] = a[ia[i]] - b[ib[i]]
		}
	case '*':
		for i := range y {
			y[i] = a[ia[i]] * b[ib[i]]
		}
	default:
		for i := range y {
			y[i] = a[ia[i]] / b[ib[i]]
		}
	}
}

func (s *binStep[T]) backward(st *state[T]) {
	a, b, g := st.data[s.in[0]], st.data[s.in[1]], st.grad[s.out[0]]
	ga, gb := st.grad[s.in[0]], st.grad[s.in[1]]
	for i, gy := range g {
		ai, bi := i, i
		if !s.same {
			ai, bi = s.ia[i], s.ib[i]
		}
		switch s.op {
		case '+':
			if ga != nil {
				ga[ai] += gy
			}
			if gb != nil {
				gb[bi] += gy
			}
		case '-':
			if ga != nil {
				ga[ai] += gy
			}
			if gb != nil {
				gb[bi] -= gy
			}
		case '*':
			if ga != nil {
				ga[ai] += gy * b[bi]
			}
			if gb != nil {
				gb[bi] += gy * a[ai]
			}
		default:
			if ga != nil {
				ga[ai] += gy / b[bi]
			}
			if gb != nil {
				gb[bi] -= gy * a[ai] / (b[bi] * b[bi])
			}
		}
	}
}

func (c *compiler[T]) binary() (stepper[T], [][]int, error) {
	if !c.has(1) {
		return nil, nil, fmt.Errorf("%s needs two inputs", c.node.Op)
	}
	a, b := c.shape(0), c.shape(1)
	y, err := broadcastShape(a, b)
	if err != nil {
		return nil, nil, err
	}
	s := &binStep[T]{op: map[string]byte{"Add": '+', "Sub": '-', "Mul": '*', "Div": '/'}[c.node.Op]}
	s.same = slices.Equal(a, y) && slices.Equal(b, y)
	if !s.same {
		s.ia, s.ib = broadcastIndex(a, y), broadcastIndex(b, y)
	}
	return s, [][]int{y}, nil
}

// unaryStep is an activation function.
type unaryStep[T Float] struct {
	stepIO
	op          string
	alpha, beta T // LeakyRelu alpha; HardSigmoid alpha, beta; Clip min, max
	lo, hi      T
}

func (s *unaryStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	st.parallel(len(x), 1<<14, ewJob[T]{kind: ewUnary, unary: s, a: x, y: y})
}

func (s *unaryStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	x, y, gy := st.data[s.in[0]], st.data[s.out[0]], st.grad[s.out[0]]
	st.parallel(len(x), 1<<14, ewJob[T]{kind: ewUnaryGrad, unary: s, a: x, b: y, c: gy, y: gx})
}

// forwardRange sets y = f(x) over [lo, hi).
func (s *unaryStep[T]) forwardRange(x, y []T, lo, hi int) {
	xs, ys := x[lo:hi], y[lo:hi]
	switch s.op {
	case "Relu":
		for i, v := range xs {
			ys[i] = max(v, 0)
		}
	case "LeakyRelu":
		for i, v := range xs {
			if v < 0 {
				v *= s.alpha
			}
			ys[i] = v
		}
	case "Clip":
		for i, v := range xs {
			ys[i] = min(max(v, s.lo), s.hi)
		}
	case "Sigmoid":
		for i, v := range xs {
			ys[i] = T(1 / (1 + math.Exp(-float64(v))))
		}
	case "Tanh":
		for i, v := range xs {
			ys[i] = T(math.Tanh(float64(v)))
		}
	case "HardSigmoid":
		for i, v := range xs {
			ys[i] = min(max(s.alpha*v+s.beta, 0), 1)
		}
	case "HardSwish":
		for i, v := range xs {
			ys[i] = v * min(max(v/6+0.5, 0), 1)
		}
	}
}

// backwardRange adds gy·f'(x) to gx over [lo, hi), where y = f(x).
func (s *unaryStep[T]) backwardRange(x, y, gy, gx []T, lo, hi int) {
	for i := lo; i < hi; i++ {
		v, g := x[i], gy[i]
		switch s.op {
		case "Relu":
			if v > 0 {
				gx[i] += g
			}
		case "LeakyRelu":
			if v > 0 {
				gx[i] += g
			} else {
				gx[i] += g * s.alpha
			}
		case "Clip":
			if v >= s.lo && v <= s.hi {
				gx[i] += g
			}
		case "Sigmoid":
			gx[i] += g * y[i] * (1 - y[i])
		case "Tanh":
			gx[i] += g * (1 - y[i]*y[i])
		case "HardSigmoid":
			if t := s.alpha*v + s.beta; t > 0 && t < 1 {
				gx[i] += g * s.alpha
			}
		case "HardSwish":
			switch {
			case v >= 3:
				gx[i] += g
			case v > -3:
				gx[i] += g * (v/3 + 0.5)
			}
		}
	}
}

// binaryRange sets y[i] = a[i] op b[i] for i in [lo, hi).
func binaryRange[T Float](op byte, a, b, y []T, lo, hi int) {
	switch op {
	case '+':
		for i := lo; i < hi; i++ {
			y[i] = a[i] + b[i]
		}
	case '-':
		for i := lo; i < hi; i++ {
			y[i] = a[i] - b[i]
		}
	case '*':
		for i := lo; i < hi; i++ {
			y[i] = a[i] * b[i]
		}
	default:
		for i := lo; i < hi; i++ {
			y[i] = a[i] / b[i]
		}
	}
}

func (c *compiler[T]) unary() (stepper[T], [][]int, error) {
	n := c.node
	s := &unaryStep[T]{op: n.Op}
	switch n.Op {
	case "LeakyRelu":
		s.alpha = T(n.AttrFloat("alpha", 0.01))
	case "HardSigmoid":
		s.alpha, s.beta = T(n.AttrFloat("alpha", 0.2)), T(n.AttrFloat("beta", 0.5))
	case "Clip":
		lo, hi := math.Inf(-1), math.Inf(1)
		if c.opset < 11 {
			lo, hi = n.AttrFloat("min", lo), n.AttrFloat("max", hi)
		}
		for i, dst := range []*float64{&lo, &hi} {
			if c.has(i + 1) {
				t := c.constIn(i + 1)
				if t == nil || len(t.Floats()) != 1 {
					return nil, nil, fmt.Errorf("Clip bounds must be constant scalars")
				}
				*dst = t.Floats()[0]
			}
		}
		s.lo, s.hi = T(lo), T(hi)
	}
	return s, [][]int{slices.Clone(c.shape(0))}, nil
}

// softmaxStep is Softmax or LogSoftmax over one axis (opset ≥ 13) or over
// the flattened trailing dimensions (opset < 13).
type softmaxStep[T Float] struct {
	stepIO
	log               bool
	outer, dim, inner int
}

func (s *softmaxStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	for o := 0; o < s.outer; o++ {
		for in := 0; in < s.inner; in++ {
			base := o*s.dim*s.inner + in
			mx := math.Inf(-1)
			for d := 0; d < s.dim; d++ {
				mx = max(mx, float64(x[base+d*s.inner]))
			}
			sum := 0.0
			for d := 0; d < s.dim; d++ {
				sum += math.Exp(float64(x[base+d*s.inner]) - mx)
			}
			if s.log {
				lse := mx + math.Log(sum)
				for d := 0; d < s.dim; d++ {
					y[base+d*s.inner] = T(float64(x[base+d*s.inner]) - lse)
				}
			} else {
				for d := 0; d < s.dim; d++ {
					y[base+d*s.inner] = T(math.Exp(float64(x[base+d*s.inner])-mx) / sum)
				}
			}
		}
	}
}

func (s *softmaxStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	y, gy := st.data[s.out[0]], st.grad[s.out[0]]
	for o := 0; o < s.outer; o++ {
		for in := 0; in < s.inner; in++ {
			base := o*s.dim*s.inner + in
			var dot T
			for d := 0; d < s.dim; d++ {
				j := base + d*s.inner
				if s.log {
					dot += gy[j]
				} else {
					dot += gy[j] * y[j]
				}
			}
			for d := 0; d < s.dim; d++ {
				j := base + d*s.inner
				if s.log {
					gx[j] += gy[j] - T(math.Exp(float64(y[j])))*dot
				} else {
					gx[j] += y[j] * (gy[j] - dot)
				}
			}
		}
	}
}

func (c *compiler[T]) softmax() (stepper[T], [][]int, error) {
	x := c.shape(0)
	r := len(x)
	def := int64(-1)
	if c.opset < 13 {
		def = 1
	}
	axis, err := normAxis(c.node.AttrInt("axis", def), r)
	if err != nil {
		return nil, nil, err
	}
	s := &softmaxStep[T]{log: c.node.Op == "LogSoftmax"}
	if c.opset < 13 {
		s.outer, s.dim, s.inner = graph.NumElements(x[:axis]), graph.NumElements(x[axis:]), 1
	} else {
		s.outer, s.dim, s.inner = graph.NumElements(x[:axis]), x[axis], graph.NumElements(x[axis+1:])
	}
	return s, [][]int{slices.Clone(x)}, nil
}

// concatStep joins its inputs along one axis.
type concatStep[T Float] struct {
	stepIO
	outer int
	block []int // per input: elements per outer index
}

func (s *concatStep[T]) forward(st *state[T]) {
	y := st.data[s.out[0]]
	off := 0
	for o := 0; o < s.outer; o++ {
		for j, in := range s.in {
			b := s.block[j]
			copy(y[off:off+b], st.data[in][o*b:(o+1)*b])
			off += b
		}
	}
}

func (s *concatStep[T]) backward(st *state[T]) {
	gy := st.grad[s.out[0]]
	off := 0
	for o := 0; o < s.outer; o++ {
		for j, in := range s.in {
			b := s.block[j]
			if g := st.grad[in]; g != nil {
				dst := g[o*b : (o+1)*b]
				for i, v := range gy[off : off+b] {
					dst[i] += v
				}
			}
			off += b
		}
	}
}

func (c *compiler[T]) concat() (stepper[T], [][]int, error) {
	x := c.shape(0)
	axis, err := normAxis(c.node.AttrInt("axis", 0), len(x))
	if err != nil {
		return nil, nil, err
	}
	y := slices.Clone(x)
	y[axis] = 0
	s := &concatStep[T]{outer: graph.NumElements(x[:axis])}
	for i := range c.ins {
		sh := c.shape(i)
		if sh == nil || len(sh) != len(x) {
			return nil, nil, fmt.Errorf("input %d has shape %s, rank differs from %s: %w", i, graph.ShapeString(sh), graph.ShapeString(x), ErrShape)
		}
		for d := range sh {
			if d != axis && sh[d] != x[d] {
				return nil, nil, fmt.Errorf("input %d has shape %s, which does not fit %s off axis %d: %w", i, graph.ShapeString(sh), graph.ShapeString(x), axis, ErrShape)
			}
		}
		y[axis] += sh[axis]
		s.block = append(s.block, graph.NumElements(sh[axis:]))
	}
	return s, [][]int{y}, nil
}
