package engine

import (
	"fmt"
	"math"
	"slices"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

// binStep is Add, Sub, Mul, Div, Max or Min with numpy broadcasting.
type binStep[T Float] struct {
	stepIO
	op     byte // '+', '-', '*', '/', 'M' (Max), 'm' (Min)
	same   bool // both operands have the output's shape
	relu   bool // a Relu runs inside (same shapes, '+'; program.fuseRelu)
	ia, ib []int
	// With broadcasting, the output splits into blocks of run values
	// (run ≥ 8) in each of which an operand is a vector (stride 1) or one
	// broadcast value (stride 0): block j reads a from offA[j] with
	// stride sa and b from offB[j] with stride sb (blocks).
	run        int
	sa, sb     int
	offA, offB []int
}

// blocks sets s.run, s.sa, s.sb, s.offA and s.offB for operands of
// shapes a and b broadcast to y, from the trailing dimensions of y over
// which each operand either has y's extents (a vector) or only ones (one
// value), as many as there are; s.run stays 0 when their values number
// fewer than 8, where the index loop is as fast.
func (s *binStep[T]) blocks(a, b, y []int) {
	r := len(y)
	dim := func(x []int, d int) int {
		if j := len(x) - r + d; j >= 0 {
			return x[j]
		}
		return 1
	}
	vecA, oneA, vecB, oneB := true, true, true, true
	k, run := r, 1
	for d := r - 1; d >= 0; d-- {
		va, oa := vecA && dim(a, d) == y[d], oneA && dim(a, d) == 1
		vb, ob := vecB && dim(b, d) == y[d], oneB && dim(b, d) == 1
		if !(va || oa) || !(vb || ob) {
			break
		}
		vecA, oneA, vecB, oneB = va, oa, vb, ob
		k, run = d, run*y[d]
	}
	if k == r || run < 8 || (oneA && oneB) {
		return
	}
	s.run, s.sa, s.sb = run, 1, 1
	if !vecA {
		s.sa = 0
	}
	if !vecB {
		s.sb = 0
	}
	for j := 0; j < len(s.ia); j += run {
		s.offA = append(s.offA, s.ia[j])
		s.offB = append(s.offB, s.ib[j])
	}
}

func (s *binStep[T]) forward(st *state[T]) {
	a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.out[0]]
	if s.same {
		op := s.op
		if s.relu {
			op = 'r'
		}
		st.parallel(len(y), 1<<15, ewJob[T]{kind: ewBinary, op: op, a: a, b: b, y: y})
		return
	}
	s.broadcast(a, b, y)
}

// broadcast sets y = a op b for operands of other shapes than y's.
func (s *binStep[T]) broadcast(a, b, y []T) {
	if s.run > 0 {
		for j, oa := range s.offA {
			ob := s.offB[j]
			kernel.Binary(s.op, y[j*s.run:(j+1)*s.run], a[oa:], b[ob:], s.sa, s.sb)
		}
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
	case '/':
		for i := range y {
			y[i] = a[ia[i]] / b[ib[i]]
		}
	case 'M':
		for i := range y {
			y[i] = max(a[ia[i]], b[ib[i]])
		}
	default:
		for i := range y {
			y[i] = min(a[ia[i]], b[ib[i]])
		}
	}
}

func (s *binStep[T]) backward(st *state[T]) {
	a, b, g := st.data[s.in[0]], st.data[s.in[1]], st.grad[s.out[0]]
	ga, gb := st.grad[s.in[0]], st.grad[s.in[1]]
	if ga == nil && gb == nil {
		return
	}
	if s.same {
		binGrad(s.op, g, a, b, ga, gb, 1, 1)
		return
	}
	if s.run > 0 {
		// Per block an operand is a vector (stride 1) or one value
		// (stride 0, whose gradient is the block's sum).
		for j, oa := range s.offA {
			ob := s.offB[j]
			var gaj, gbj []T
			if ga != nil {
				gaj = ga[oa:]
			}
			if gb != nil {
				gbj = gb[ob:]
			}
			binGrad(s.op, g[j*s.run:(j+1)*s.run], a[oa:], b[ob:], gaj, gbj, s.sa, s.sb)
		}
		return
	}
	// Short runs: element by element through the index maps.
	for i := range g {
		ai, bi := s.ia[i], s.ib[i]
		var gai, gbi []T
		if ga != nil {
			gai = ga[ai : ai+1]
		}
		if gb != nil {
			gbi = gb[bi : bi+1]
		}
		binGrad(s.op, g[i:i+1], a[ai:ai+1], b[bi:bi+1], gai, gbi, 1, 1)
	}
}

// binGrad adds the gradients of y = a op b over one run of outputs (their
// gradient g) to ga and gb (each nil when not wanted): operand x is read,
// and its gradient written, at x[k·sx] for output k, sx 1 (a vector) or 0
// (one value broadcast over the run). The op is chosen once per run, so
// that the loops are plain.
func binGrad[T Float](op byte, g, a, b, ga, gb []T, sa, sb int) {
	n := len(g)
	switch op {
	case '+', '-':
		sign := T(1)
		if op == '-' {
			sign = -1
		}
		if ga != nil {
			addScaled(ga[:1+(n-1)*sa], g, sa, 1)
		}
		if gb != nil {
			addScaled(gb[:1+(n-1)*sb], g, sb, sign)
		}
	case '*':
		if ga != nil {
			mulAdd(ga[:1+(n-1)*sa], g, b[:1+(n-1)*sb], sa, sb)
		}
		if gb != nil {
			mulAdd(gb[:1+(n-1)*sb], g, a[:1+(n-1)*sa], sb, sa)
		}
	case '/':
		for k, gy := range g {
			bv := b[k*sb]
			if ga != nil {
				ga[k*sa] += gy / bv
			}
			if gb != nil {
				gb[k*sb] -= gy * a[k*sa] / (bv * bv)
			}
		}
	default:
		for k, gy := range g {
			// The larger (Max) or smaller (Min) operand takes the
			// gradient; a tie splits it, as PyTorch does.
			fa := T(0)
			switch av, bv := a[k*sa], b[k*sb]; {
			case av == bv:
				fa = 0.5
			case (av > bv) == (op == 'M'):
				fa = 1
			}
			if ga != nil {
				ga[k*sa] += gy * fa
			}
			if gb != nil {
				gb[k*sb] += gy * (1 - fa)
			}
		}
	}
}

// addScaled adds sign·g to dst (stride 1) or sign·Σg to dst[0] (stride 0).
func addScaled[T Float](dst, g []T, stride int, sign T) {
	if stride == 0 {
		sum := T(0)
		for _, v := range g {
			sum += v
		}
		dst[0] += sign * sum
		return
	}
	dst = dst[:len(g)]
	if sign == 1 {
		for k, v := range g {
			dst[k] += v
		}
		return
	}
	for k, v := range g {
		dst[k] -= v
	}
}

// mulAdd adds g ⊙ o to dst, each of dst and o a vector (stride 1) or one
// value (stride 0): dst[k·sd] += g[k]·o[k·so].
func mulAdd[T Float](dst, g, o []T, sd, so int) {
	switch {
	case sd == 1 && so == 1:
		dst, o = dst[:len(g)], o[:len(g)]
		for k, v := range g {
			dst[k] += v * o[k]
		}
	case sd == 1:
		ov := o[0]
		dst = dst[:len(g)]
		for k, v := range g {
			dst[k] += v * ov
		}
	case so == 1:
		o = o[:len(g)]
		sum := T(0)
		for k, v := range g {
			sum += v * o[k]
		}
		dst[0] += sum
	default:
		sum := T(0)
		for _, v := range g {
			sum += v
		}
		dst[0] += sum * o[0]
	}
}

func (c *compiler[T]) binary() (stepper[T], [][]int, error) {
	if !c.has(1) || len(c.ins) > 2 {
		return nil, nil, fmt.Errorf("%s with %d inputs is not supported; mpq runs it on two", c.node.Op, len(c.ins))
	}
	a, b := c.shape(0), c.shape(1)
	y, err := broadcastShape(a, b)
	if err != nil {
		return nil, nil, err
	}
	s := &binStep[T]{op: map[string]byte{"Add": '+', "Sub": '-', "Mul": '*', "Div": '/', "Max": 'M', "Min": 'm'}[c.node.Op]}
	s.same = slices.Equal(a, y) && slices.Equal(b, y)
	if !s.same {
		s.ia, s.ib = broadcastIndex(a, y), broadcastIndex(b, y)
		s.blocks(a, b, y)
	}
	return s, [][]int{y}, nil
}

// unaryStep is an activation function: y = f(x) element by element, f one
// of the ops unary() accepts with the parameters below.
type unaryStep[T Float] struct {
	stepIO
	op string
	// alpha is the alpha of LeakyRelu, Elu, Celu, ThresholdedRelu and Selu,
	// HardSigmoid's slope and Pow's exponent; beta is HardSigmoid's offset
	// and Selu's gamma.
	alpha, beta T
	lo, hi      T    // Clip min, max
	tanh        bool // Gelu: the tanh approximation
	// slope is PRelu's slope broadcast to one sample: element i of the
	// batch uses slope[i % len(slope)].
	slope []T
}

func (s *unaryStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	st.parallel(len(x), 1<<14, ewJob[T]{kind: ewForward, k: s, a: x, y: y})
}

func (s *unaryStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	x, y, gy := st.data[s.in[0]], st.data[s.out[0]], st.grad[s.out[0]]
	st.parallel(len(x), 1<<14, ewJob[T]{kind: ewBackward, k: s, a: x, b: y, c: gy, y: gx})
}

// Constants of the Erf and Gelu formulas.
const (
	sqrt2OverPi   = 0.7978845608028654 // √(2/π)
	invSqrt2      = 0.7071067811865476 // 1/√2
	invSqrt2Pi    = 0.3989422804014327 // 1/√(2π)
	twoOverSqrtPi = 1.1283791670955126 // 2/√π, erf′(0)
	geluCubic     = 0.044715
)

// softplus is log(1 + eˣ), computed without overflow.
func softplus(x float64) float64 { return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

// sigmoid is 1/(1 + e⁻ˣ).
func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// forwardRange sets y = f(x) over [lo, hi).
func (s *unaryStep[T]) forwardRange(x, y []T, lo, hi int) {
	xs, ys := x[lo:hi], y[lo:hi]
	a := float64(s.alpha)
	switch s.op {
	case "Relu":
		kernel.Relu(ys, xs)
	case "LeakyRelu":
		kernel.LeakyRelu(ys, xs, s.alpha)
	case "PRelu":
		per := len(s.slope)
		for i, v := range xs {
			if v < 0 {
				v *= s.slope[(lo+i)%per]
			}
			ys[i] = v
		}
	case "ThresholdedRelu":
		for i, v := range xs {
			if v <= s.alpha {
				v = 0
			}
			ys[i] = v
		}
	case "Clip":
		kernel.Clamp(ys, xs, s.lo, s.hi)
	case "Sigmoid":
		kernel.Sigmoid(ys, xs)
	case "Tanh":
		kernel.Tanh(ys, xs)
	case "HardSigmoid":
		kernel.HardSigmoid(ys, xs, s.alpha, s.beta)
	case "HardSwish":
		kernel.HardSwish(ys, xs)
	case "Elu":
		kernel.Elu(ys, xs, s.alpha)
	case "Selu":
		kernel.Selu(ys, xs, s.alpha, s.beta)
	case "Celu":
		for i, v := range xs {
			if v < 0 {
				v = T(a * math.Expm1(float64(v)/a))
			}
			ys[i] = v
		}
	case "Softplus":
		kernel.Softplus(ys, xs)
	case "Softsign":
		for i, v := range xs {
			ys[i] = v / (1 + abs(v))
		}
	case "Mish":
		kernel.Mish(ys, xs)
	case "Erf":
		kernel.Erf(ys, xs)
	case "Gelu":
		if s.tanh {
			for i, v := range xs {
				u := float64(v)
				ys[i] = T(0.5 * u * (1 + math.Tanh(sqrt2OverPi*(u+geluCubic*u*u*u))))
			}
			break
		}
		for i, v := range xs {
			u := float64(v)
			ys[i] = T(0.5 * u * math.Erfc(-u*invSqrt2))
		}
	case "Exp":
		for i, v := range xs {
			ys[i] = T(math.Exp(float64(v)))
		}
	case "Log":
		for i, v := range xs {
			ys[i] = T(math.Log(float64(v)))
		}
	case "Sqrt":
		for i, v := range xs {
			ys[i] = T(math.Sqrt(float64(v)))
		}
	case "Abs":
		for i, v := range xs {
			ys[i] = abs(v)
		}
	case "Neg":
		for i, v := range xs {
			ys[i] = -v
		}
	case "Not":
		for i, v := range xs {
			ys[i] = 0
			if v == 0 {
				ys[i] = 1
			}
		}
	case "CastBool":
		for i, v := range xs {
			ys[i] = 0
			if v != 0 {
				ys[i] = 1
			}
		}
	case "Sign":
		for i, v := range xs {
			switch {
			case v > 0:
				ys[i] = 1
			case v < 0:
				ys[i] = -1
			default:
				ys[i] = v // 0, −0 or NaN, as torch.sign
			}
		}
	case "Reciprocal":
		for i, v := range xs {
			ys[i] = 1 / v
		}
	case "Floor":
		for i, v := range xs {
			ys[i] = T(math.Floor(float64(v)))
		}
	case "Ceil":
		for i, v := range xs {
			ys[i] = T(math.Ceil(float64(v)))
		}
	case "Round":
		for i, v := range xs {
			ys[i] = T(math.RoundToEven(float64(v))) // ONNX and torch.round: halves to even
		}
	case "Sin":
		for i, v := range xs {
			ys[i] = T(math.Sin(float64(v)))
		}
	case "Cos":
		for i, v := range xs {
			ys[i] = T(math.Cos(float64(v)))
		}
	case "Pow":
		switch s.alpha {
		case 1:
			copy(ys, xs)
		case 2:
			for i, v := range xs {
				ys[i] = v * v
			}
		case 3:
			for i, v := range xs {
				ys[i] = v * v * v
			}
		case 0.5:
			for i, v := range xs {
				ys[i] = T(math.Sqrt(float64(v)))
			}
		case 0.75:
			// nn.LocalResponseNorm's default β: x^¾ = √x·√√x, within an
			// ulp of math.Pow in float64 and several times faster.
			for i, v := range xs {
				r := math.Sqrt(float64(v))
				ys[i] = T(r * math.Sqrt(r))
			}
		default:
			for i, v := range xs {
				ys[i] = T(math.Pow(float64(v), a))
			}
		}
	}
}

// backwardRange adds gy·f'(x) to gx over [lo, hi), where y = f(x).
func (s *unaryStep[T]) backwardRange(x, y, gy, gx []T, lo, hi int) {
	xs, ys, gys, gxs := x[lo:hi], y[lo:hi], gy[lo:hi], gx[lo:hi]
	a := float64(s.alpha)
	switch s.op {
	case "Relu":
		kernel.ReluBackward(gxs, xs, gys)
	case "LeakyRelu":
		for i, v := range xs {
			if v > 0 {
				gxs[i] += gys[i]
			} else {
				gxs[i] += gys[i] * s.alpha
			}
		}
	case "PRelu":
		per := len(s.slope)
		for i, v := range xs {
			if v > 0 {
				gxs[i] += gys[i]
			} else {
				gxs[i] += gys[i] * s.slope[(lo+i)%per]
			}
		}
	case "ThresholdedRelu":
		for i, v := range xs {
			if v > s.alpha {
				gxs[i] += gys[i]
			}
		}
	case "Clip":
		for i, v := range xs {
			if v >= s.lo && v <= s.hi {
				gxs[i] += gys[i]
			}
		}
	case "Sigmoid":
		for i, v := range ys {
			gxs[i] += gys[i] * v * (1 - v)
		}
	case "Tanh":
		for i, v := range ys {
			gxs[i] += gys[i] * (1 - v*v)
		}
	case "HardSigmoid":
		for i, v := range xs {
			if t := s.alpha*v + s.beta; t > 0 && t < 1 {
				gxs[i] += gys[i] * s.alpha
			}
		}
	case "HardSwish":
		for i, v := range xs {
			switch {
			case v >= 3:
				gxs[i] += gys[i]
			case v > -3:
				gxs[i] += gys[i] * (v/3 + 0.5)
			}
		}
	case "Elu":
		for i, v := range xs {
			if v > 0 {
				gxs[i] += gys[i]
			} else {
				gxs[i] += gys[i] * T(a*math.Exp(float64(v)))
			}
		}
	case "Selu":
		for i, v := range xs {
			if v > 0 {
				gxs[i] += gys[i] * s.beta
			} else {
				gxs[i] += gys[i] * T(float64(s.beta)*a*math.Exp(float64(v)))
			}
		}
	case "Celu":
		for i, v := range xs {
			if v > 0 {
				gxs[i] += gys[i]
			} else {
				gxs[i] += gys[i] * T(math.Exp(float64(v)/a))
			}
		}
	case "Softplus":
		for i, v := range xs {
			gxs[i] += gys[i] * T(sigmoid(float64(v)))
		}
	case "Softsign":
		for i, v := range xs {
			d := 1 + abs(v)
			gxs[i] += gys[i] / (d * d)
		}
	case "Mish":
		// d/dx x·tanh(sp(x)) = tanh(sp(x)) + x·(1 − tanh²(sp(x)))·σ(x)
		for i, v := range xs {
			u := float64(v)
			t := math.Tanh(softplus(u))
			gxs[i] += gys[i] * T(t+u*(1-t*t)*sigmoid(u))
		}
	case "Erf":
		for i, v := range xs {
			u := float64(v)
			gxs[i] += gys[i] * T(twoOverSqrtPi*math.Exp(-u*u))
		}
	case "Gelu":
		if s.tanh {
			// y = x/2·(1 + tanh(k(x + c·x³))):
			// y' = (1 + t)/2 + x/2·(1 − t²)·k·(1 + 3c·x²)
			for i, v := range xs {
				u := float64(v)
				t := math.Tanh(sqrt2OverPi * (u + geluCubic*u*u*u))
				gxs[i] += gys[i] * T(0.5*(1+t)+0.5*u*(1-t*t)*sqrt2OverPi*(1+3*geluCubic*u*u))
			}
			break
		}
		// y = x·Φ(x): y' = Φ(x) + x·φ(x)
		for i, v := range xs {
			u := float64(v)
			gxs[i] += gys[i] * T(0.5*math.Erfc(-u*invSqrt2)+u*invSqrt2Pi*math.Exp(-0.5*u*u))
		}
	case "Exp":
		for i, v := range ys {
			gxs[i] += gys[i] * v
		}
	case "Log":
		for i, v := range xs {
			gxs[i] += gys[i] / v
		}
	case "Sqrt":
		for i, v := range ys {
			gxs[i] += gys[i] / (2 * v)
		}
	case "Abs":
		for i, v := range xs {
			switch {
			case v > 0:
				gxs[i] += gys[i]
			case v < 0:
				gxs[i] -= gys[i]
			}
		}
	case "Neg":
		for i := range xs {
			gxs[i] -= gys[i]
		}
	case "Sign", "Not", "CastBool", "Floor", "Ceil", "Round":
		// Piecewise constant: no gradient (PyTorch's too; training a
		// binarized network needs a straight-through estimator, which is
		// not in the exported graph).
	case "Sin":
		for i, v := range xs {
			gxs[i] += gys[i] * T(math.Cos(float64(v)))
		}
	case "Cos":
		for i, v := range xs {
			gxs[i] -= gys[i] * T(math.Sin(float64(v)))
		}
	case "Reciprocal":
		for i, v := range ys {
			gxs[i] -= gys[i] * v * v
		}
	case "Pow":
		switch s.alpha {
		case 0:
		case 1:
			for i := range xs {
				gxs[i] += gys[i]
			}
		case 2:
			for i, v := range xs {
				gxs[i] += gys[i] * 2 * v
			}
		case 3:
			for i, v := range xs {
				gxs[i] += gys[i] * 3 * v * v
			}
		case 0.75:
			for i, v := range xs {
				gxs[i] += gys[i] * T(0.75/math.Sqrt(math.Sqrt(float64(v))))
			}
		default:
			for i, v := range xs {
				gxs[i] += gys[i] * T(a*math.Pow(float64(v), a-1))
			}
		}
	}
}

// abs is |v|.
func abs[T Float](v T) T {
	if v < 0 {
		return -v
	}
	return v
}

// binaryRange sets y[i] = a[i] op b[i] for i in [lo, hi); op 'r' is an
// Add followed by a Relu (a fused Relu, program.fuseRelu).
func binaryRange[T Float](op byte, a, b, y []T, lo, hi int) {
	switch op {
	case '+':
		kernel.Add(y[lo:hi], a[lo:hi], b[lo:hi], false)
	case 'r': // Add, then Relu, in one pass
		kernel.Add(y[lo:hi], a[lo:hi], b[lo:hi], true)
	default:
		kernel.Binary(op, y[lo:hi], a[lo:hi], b[lo:hi], 1, 1)
	}
}

func (c *compiler[T]) unary() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	y := slices.Clone(x)
	s := &unaryStep[T]{op: n.Op}
	switch n.Op {
	case "LeakyRelu":
		s.alpha = T(n.AttrFloat("alpha", 0.01))
	case "HardSigmoid":
		s.alpha, s.beta = T(n.AttrFloat("alpha", 0.2)), T(n.AttrFloat("beta", 0.5))
	case "Elu", "Celu", "ThresholdedRelu":
		s.alpha = T(n.AttrFloat("alpha", 1))
		if n.Op == "Celu" && s.alpha == 0 {
			return nil, nil, fmt.Errorf("Celu alpha 0")
		}
	case "Selu":
		// The defaults are the float32 values of the constants of
		// Klambauer et al. (2017), as ONNX states them.
		s.alpha, s.beta = T(n.AttrFloat("alpha", 1.67326319217681884765625)), T(n.AttrFloat("gamma", 1.05070102214813232421875))
	case "Gelu":
		switch ap := n.AttrString("approximate", "none"); ap {
		case "none":
		case "tanh":
			s.tanh = true
		default:
			return nil, nil, fmt.Errorf("Gelu approximate=%q is not supported (none, tanh)", ap)
		}
	case "PRelu":
		slope, err := c.preluSlope()
		if err != nil {
			return nil, nil, err
		}
		s.slope = slope
	case "Pow":
		t := c.constIn(1)
		if t == nil || t.Len() != 1 {
			return nil, nil, fmt.Errorf("Pow needs a constant scalar exponent (as in x.pow(2) or x ** 0.5); mpq cannot run an exponent %q computed from data or holding several values", n.Input(1))
		}
		var err error
		if y, err = broadcastShape(x, t.Shape); err != nil {
			return nil, nil, err
		}
		s.alpha = T(t.Floats()[0])
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
	return s, [][]int{y}, nil
}

// preluSlope returns PRelu's constant slope broadcast to one sample of its
// input (its batch axis must not vary).
func (c *compiler[T]) preluSlope() ([]T, error) {
	x := c.shape(0)
	t := c.constIn(1)
	if t == nil {
		return nil, fmt.Errorf("PRelu slope %q must be a constant (an initializer)", c.node.Input(1))
	}
	if len(x) == 0 {
		return nil, fmt.Errorf("PRelu input is a scalar: %w", ErrShape)
	}
	sh := t.Shape
	for len(sh) >= len(x) && len(sh) > 0 && sh[0] == 1 {
		sh = sh[1:]
	}
	if len(sh) >= len(x) {
		return nil, fmt.Errorf("PRelu slope of shape %s varies along the batch axis of the input %s: %w", graph.ShapeString(t.Shape), graph.ShapeString(x), ErrShape)
	}
	return expandConst[T](t.Floats(), sh, x[1:])
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
	st.parallel(s.outer*s.inner, s.chunk(), ewJob[T]{kind: ewForward, k: s, a: x, y: y})
}

func (s *softmaxStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	x, y, gy := st.data[s.in[0]], st.data[s.out[0]], st.grad[s.out[0]]
	st.parallel(s.outer*s.inner, s.chunk(), ewJob[T]{kind: ewBackward, k: s, a: x, b: y, c: gy, y: gx})
}

// chunk is the least number of rows worth a range of their own.
func (s *softmaxStep[T]) chunk() int { return max(1, (1<<13)/max(s.dim, 1)) }

// forwardRange computes the rows [lo, hi) (row r: outer index r / inner,
// inner index r % inner), in float64, with one exponential per element:
// the softmax keeps e^(x−max) in y and divides it by the row's sum. A
// contiguous row of float32 values with a finite maximum takes float32
// exponentials and sums (kernel.ExpStore, ExpSum), the rest in float64.
func (s *softmaxStep[T]) forwardRange(x, y []T, lo, hi int) {
	for r := lo; r < hi; r++ {
		base := (r/s.inner)*s.dim*s.inner + r%s.inner
		mx := math.Inf(-1)
		for d := 0; d < s.dim; d++ {
			mx = max(mx, float64(x[base+d*s.inner]))
		}
		if s.inner == 1 && !math.IsInf(mx, 0) && mx == mx {
			// A contiguous row: kernel.ExpSum and ExpStore (float32 terms
			// and sums, vectorized, for float32 values).
			row, out := x[base:base+s.dim], y[base:base+s.dim]
			if s.log {
				lse := mx + math.Log(kernel.ExpSum(row, T(mx)))
				for d, v := range row {
					out[d] = T(float64(v) - lse)
				}
				continue
			}
			inv := 1 / kernel.ExpStore(out, row, T(mx))
			for d, e := range out {
				out[d] = T(float64(e) * inv)
			}
			continue
		}
		sum := 0.0
		if s.log {
			for d := 0; d < s.dim; d++ {
				sum += math.Exp(float64(x[base+d*s.inner]) - mx)
			}
			lse := mx + math.Log(sum)
			for d := 0; d < s.dim; d++ {
				y[base+d*s.inner] = T(float64(x[base+d*s.inner]) - lse)
			}
			continue
		}
		for d := 0; d < s.dim; d++ {
			e := math.Exp(float64(x[base+d*s.inner]) - mx)
			y[base+d*s.inner] = T(e)
			sum += e
		}
		inv := 1 / sum
		for d := 0; d < s.dim; d++ {
			y[base+d*s.inner] = T(float64(y[base+d*s.inner]) * inv)
		}
	}
}

// backwardRange adds the gradient of the rows [lo, hi): gx = y ⊙ (gy − ⟨gy, y⟩)
// for the softmax, gy − e^y·Σgy for the log-softmax.
func (s *softmaxStep[T]) backwardRange(_, y, gy, gx []T, lo, hi int) {
	for r := lo; r < hi; r++ {
		base := (r/s.inner)*s.dim*s.inner + r%s.inner
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

// splitStep cuts its input along one axis into its outputs: the input seen
// as outer blocks, each holding every output's block in turn.
type splitStep[T Float] struct {
	stepIO
	outer int
	block []int // per output: elements per outer index
}

func (s *splitStep[T]) forward(st *state[T]) {
	x := st.data[s.in[0]]
	off := 0
	for o := 0; o < s.outer; o++ {
		for j, out := range s.out {
			b := s.block[j]
			if out >= 0 {
				copy(st.data[out][o*b:(o+1)*b], x[off:off+b])
			}
			off += b
		}
	}
}

func (s *splitStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	off := 0
	for o := 0; o < s.outer; o++ {
		for j, out := range s.out {
			b := s.block[j]
			if out >= 0 && st.grad[out] != nil {
				dst := gx[off : off+b]
				for i, v := range st.grad[out][o*b : (o+1)*b] {
					dst[i] += v
				}
			}
			off += b
		}
	}
}

// split plans Split: the sizes from input 1 (opset 13 on), the split
// attribute (before 13), or equal parts, one per output (the last one
// smaller when num_outputs, opset 18, does not divide the axis).
func (c *compiler[T]) split() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	axis, err := normAxis(n.AttrInt("axis", 0), len(x))
	if err != nil {
		return nil, nil, err
	}
	parts := len(n.Outputs)
	var sizes []int64
	switch {
	case c.has(1):
		t := c.constIn(1)
		if t == nil {
			return nil, nil, fmt.Errorf("split sizes computed from data are not supported")
		}
		sizes = t.Ints()
	case n.AttrInts("split") != nil:
		sizes = n.AttrInts("split")
	default:
		k, ceil := parts, false
		if v := n.AttrInt("num_outputs", 0); v > 0 {
			k, ceil = int(v), true
		}
		if k == 0 {
			return nil, nil, fmt.Errorf("Split has no outputs")
		}
		dim := x[axis]
		each := dim / k
		if ceil {
			each = (dim + k - 1) / k
		} else if dim%k != 0 {
			return nil, nil, fmt.Errorf("axis %d of %s does not split into %d equal parts: %w", axis, graph.ShapeString(x), k, ErrShape)
		}
		for j := range k {
			sizes = append(sizes, int64(max(0, min(each, dim-j*each))))
		}
	}
	if len(sizes) != len(n.Outputs) {
		return nil, nil, fmt.Errorf("Split into %d sizes %v but %d outputs: %w", len(sizes), sizes, len(n.Outputs), ErrShape)
	}
	total := int64(0)
	for _, v := range sizes {
		if v < 0 {
			return nil, nil, fmt.Errorf("negative split size in %v: %w", sizes, ErrShape)
		}
		total += v
	}
	if total != int64(x[axis]) {
		return nil, nil, fmt.Errorf("split sizes %v add up to %d, not axis %d of %s: %w", sizes, total, axis, graph.ShapeString(x), ErrShape)
	}
	inner := graph.NumElements(x[axis+1:])
	s := &splitStep[T]{outer: graph.NumElements(x[:axis])}
	shapes := make([][]int, len(sizes))
	for j, v := range sizes {
		shapes[j] = slices.Clone(x)
		shapes[j][axis] = int(v)
		s.block = append(s.block, int(v)*inner)
	}
	return s, shapes, nil
}
