package engine

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

// poolStep is MaxPool or AveragePool over 2-D windows.
type poolStep[T Float] struct {
	stepIO
	p      kernel.Pool2D
	n      int
	max    bool
	argmax []int32
	// forwardOnly: an inference session's step, whose MaxPool need not
	// record where each maximum came from.
	forwardOnly bool
}

func (s *poolStep[T]) forward(st *state[T]) {
	if s.max {
		if s.forwardOnly {
			kernel.MaxPoolForward(st.team(), s.p, s.n, st.data[s.in[0]], st.data[s.out[0]], nil)
			return
		}
		if s.argmax == nil {
			s.argmax = make([]int32, len(st.data[s.out[0]]))
		}
		kernel.MaxPoolForward(st.team(), s.p, s.n, st.data[s.in[0]], st.data[s.out[0]], s.argmax)
		return
	}
	kernel.AvgPoolForward(st.team(), s.p, s.n, st.data[s.in[0]], st.data[s.out[0]])
}

func (s *poolStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	tmp := st.scratchFor(gx, 0)
	if s.max {
		kernel.MaxPoolBackward(st.team(), s.p, s.n, st.grad[s.out[0]], s.argmax, tmp)
	} else {
		kernel.AvgPoolBackward(st.team(), s.p, s.n, st.grad[s.out[0]], tmp)
	}
	st.accumulate(gx, 0)
}

func (c *compiler[T]) pool() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	oneD := len(x) == 3
	if oneD {
		var err error
		if n, err = lift1D(n); err != nil {
			return nil, nil, err
		}
		x = []int{x[0], x[1], 1, x[2]}
	}
	var y5 []int // a 3-D pool's input shape, run as a 2-D one (lift3D)
	if len(x) == 5 {
		var err error
		x5 := x
		if n, x, err = lift3D(n, x); err != nil {
			return nil, nil, err
		}
		y5 = x5
	}
	if len(x) != 4 {
		return nil, nil, fmt.Errorf("mpq pools 1-D and 2-D feature maps only (input %s): %w", graph.ShapeString(x), ErrShape)
	}
	ks := n.AttrInts("kernel_shape")
	if len(ks) != 2 || ks[0] < 1 || ks[1] < 1 {
		return nil, nil, fmt.Errorf("kernel_shape %v: want two positive values: %w", ks, ErrShape)
	}
	w, err := window2D(n, x[2], x[3], int(ks[0]), int(ks[1]))
	if err != nil {
		return nil, nil, err
	}
	p := kernel.Pool2D{C: x[1], H: x[2], W: x[3], KH: int(ks[0]), KW: int(ks[1]), StrideH: w.sh, StrideW: w.sw,
		PadTop: w.pt, PadLeft: w.pl, PadBottom: w.pb, PadRight: w.pr, DilH: w.dh, DilW: w.dw,
		CeilMode: n.AttrInt("ceil_mode", 0) != 0, CountIncludePad: n.AttrInt("count_include_pad", 0) != 0}
	if p.OutH() < 1 || p.OutW() < 1 {
		return nil, nil, fmt.Errorf("a %dx%d window does not fit the %dx%d input: %w", ks[0], ks[1], x[2], x[3], ErrShape)
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, nil, fmt.Errorf("MaxPool's Indices output is not supported")
	}
	y := []int{x[0], x[1], p.OutH(), p.OutW()}
	if oneD {
		y = []int{x[0], x[1], p.OutW()}
	}
	if y5 != nil {
		// Back to five dimensions: with C and D merged (x[1] = C·D) H and
		// W were pooled; otherwise D was, and the merged H·W kept its size.
		// (With D = 1 the two agree.)
		if x[1] != y5[1] {
			y = []int{y5[0], y5[1], y5[2], p.OutH(), p.OutW()}
		} else {
			y = []int{y5[0], y5[1], p.OutH(), y5[3], y5[4]}
		}
	}
	return &poolStep[T]{p: p, n: x[0], max: n.Op == "MaxPool"}, [][]int{y}, nil
}

// gapStep is GlobalAveragePool: N×C×H×W → N×C×1×1.
type gapStep[T Float] struct {
	stepIO
	nc, hw int
}

func (s *gapStep[T]) forward(st *state[T]) {
	kernel.PlaneMeans(st.data[s.out[0]][:s.nc], st.data[s.in[0]], s.hw, 1/T(s.hw))
}

func (s *gapStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	gy := st.grad[s.out[0]]
	inv := 1 / T(s.hw)
	for i := 0; i < s.nc; i++ {
		g := gy[i] * inv
		row := gx[i*s.hw : (i+1)*s.hw]
		for j := range row {
			row[j] += g
		}
	}
}

func (c *compiler[T]) globalAvgPool() (stepper[T], [][]int, error) {
	x := c.shape(0)
	y, err := globalPoolShape(x)
	if err != nil {
		return nil, nil, err
	}
	return &gapStep[T]{nc: x[0] * x[1], hw: graph.NumElements(x[2:])}, [][]int{y}, nil
}

// globalPoolShape returns the output shape of a global pooling of x: its
// spatial axes (2 on) kept as 1s.
func globalPoolShape(x []int) ([]int, error) {
	if len(x) < 3 {
		return nil, fmt.Errorf("input %s has no spatial dimensions: %w", graph.ShapeString(x), ErrShape)
	}
	y := slices.Clone(x)
	for i := 2; i < len(y); i++ {
		y[i] = 1
	}
	return y, nil
}

// bnStep is inference-mode BatchNormalization (one not folded into a Conv):
// y = (x − mean)·γ/√(var+ε) + β per channel (axis 1).
type bnStep[T Float] struct {
	stepIO
	n, c, inner int
	scale, bias []T
}

func (s *bnStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	for i := 0; i < s.n*s.c; i++ {
		ch := i % s.c
		a, b := s.scale[ch], s.bias[ch]
		xs, ys := x[i*s.inner:(i+1)*s.inner], y[i*s.inner:(i+1)*s.inner]
		for j, v := range xs {
			ys[j] = v*a + b
		}
	}
}

func (s *bnStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	gy := st.grad[s.out[0]]
	for i := 0; i < s.n*s.c; i++ {
		a := s.scale[i%s.c]
		gs, gd := gy[i*s.inner:(i+1)*s.inner], gx[i*s.inner:(i+1)*s.inner]
		for j, v := range gs {
			gd[j] += v * a
		}
	}
}

func (c *compiler[T]) batchNorm() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	if len(x) < 2 {
		return nil, nil, fmt.Errorf("input %s has no channel axis: %w", graph.ShapeString(x), ErrShape)
	}
	if n.AttrInt("training_mode", 0) != 0 || (len(n.Outputs) > 1 && slices.ContainsFunc(n.Outputs[1:], func(s string) bool { return s != "" })) {
		return nil, nil, fmt.Errorf("BatchNormalization in training mode is not supported; export the model with model.eval()")
	}
	var p [4][]float64
	for i := range p {
		t := c.constIn(i + 1)
		if t == nil {
			return nil, nil, fmt.Errorf("BatchNormalization input %d must be constant", i+1)
		}
		if t.Len() != x[1] {
			return nil, nil, fmt.Errorf("BatchNormalization input %d has %d values for %d channels: %w", i+1, t.Len(), x[1], ErrShape)
		}
		p[i] = t.Floats()
	}
	eps := n.AttrFloat("epsilon", 1e-5)
	s := &bnStep[T]{n: x[0], c: x[1], inner: graph.NumElements(x[2:]), scale: make([]T, x[1]), bias: make([]T, x[1])}
	for ch := 0; ch < x[1]; ch++ {
		a := p[0][ch] / math.Sqrt(p[3][ch]+eps)
		s.scale[ch] = T(a)
		s.bias[ch] = T(p[1][ch] - p[2][ch]*a)
	}
	return s, [][]int{slices.Clone(x)}, nil
}

// qdqStep is QuantizeLinear (to integers held in floats) or DequantizeLinear
// on activations, per tensor. Its backward pass is the straight-through
// estimator.
type qdqStep[T Float] struct {
	stepIO
	quant      bool
	scale, zp  T
	qmin, qmax T
}

func (s *qdqStep[T]) forward(st *state[T]) {
	x, y := st.data[s.in[0]], st.data[s.out[0]]
	if s.quant {
		for i, v := range x {
			y[i] = min(max(T(math.RoundToEven(float64(v/s.scale)))+s.zp, s.qmin), s.qmax)
		}
		return
	}
	for i, v := range x {
		y[i] = (v - s.zp) * s.scale
	}
}

func (s *qdqStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	if gx == nil {
		return
	}
	f := s.scale
	if s.quant {
		f = 1 / s.scale
	}
	for i, g := range st.grad[s.out[0]] {
		gx[i] += g * f
	}
}

func (c *compiler[T]) qdq() (stepper[T], [][]int, error) {
	sc := c.constIn(1)
	if sc == nil || sc.Len() != 1 {
		return nil, nil, fmt.Errorf("%s on activations needs a constant per-tensor scale", c.node.Op)
	}
	s := &qdqStep[T]{quant: c.node.Op == "QuantizeLinear", scale: T(sc.Floats()[0]), qmin: 0, qmax: 255}
	if s.scale <= 0 || math.IsNaN(float64(s.scale)) {
		return nil, nil, fmt.Errorf("scale %v must be positive", s.scale)
	}
	if zp := c.constIn(2); zp != nil {
		if zp.Len() != 1 {
			return nil, nil, fmt.Errorf("%s on activations needs a per-tensor zero point", c.node.Op)
		}
		s.zp = T(zp.Ints()[0])
		if zp.DType == graph.Int8 {
			s.qmin, s.qmax = -128, 127
		}
	}
	return s, [][]int{slices.Clone(c.shape(0))}, nil
}

// lift3D rewrites a pool over an N×C×D×H×W input as a 2-D one when one
// side of it is untouched (kernel 1, stride 1, no padding, dilation 1):
// H and W, merged into one dimension (N×C×D×HW, pooled over D; the
// channel-window pooling of nn.LocalResponseNorm's export), or D, merged
// into the channels (N×CD×H×W). The data's layout is the same. Other 3-D
// pools are refused.
func lift3D(n *graph.Node, x []int) (*graph.Node, []int, error) {
	if ap := n.AttrString("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return nil, nil, fmt.Errorf("auto_pad %s on a 3-D pool is not supported: %w", ap, ErrShape)
	}
	get := func(name string, k int, def int64) ([]int64, error) {
		v := n.AttrInts(name)
		if v == nil {
			v = slices.Repeat([]int64{def}, k)
		}
		if len(v) != k {
			return nil, fmt.Errorf("%s %v on a 3-D input: want %d values: %w", name, v, k, ErrShape)
		}
		return v, nil
	}
	var v [4][]int64 // kernel_shape, strides, dilations, pads
	for i, name := range []string{"kernel_shape", "strides", "dilations", "pads"} {
		k, def := 3, int64(1)
		if name == "pads" {
			k, def = 6, 0
		}
		var err error
		if v[i], err = get(name, k, def); err != nil {
			return nil, nil, err
		}
	}
	ks, st, dl, pd := v[0], v[1], v[2], v[3]
	trivial := func(i int) bool { return ks[i] == 1 && st[i] == 1 && dl[i] == 1 && pd[i] == 0 && pd[i+3] == 0 }
	out := *n
	out.Attrs = maps.Clone(n.Attrs)
	set := func(i, j int) {
		out.Attrs["kernel_shape"] = graph.Attr{Kind: graph.AttrInts, Ints: []int64{ks[i], ks[j]}}
		out.Attrs["strides"] = graph.Attr{Kind: graph.AttrInts, Ints: []int64{st[i], st[j]}}
		out.Attrs["dilations"] = graph.Attr{Kind: graph.AttrInts, Ints: []int64{dl[i], dl[j]}}
		out.Attrs["pads"] = graph.Attr{Kind: graph.AttrInts, Ints: []int64{pd[i], pd[j], pd[i+3], pd[j+3]}}
	}
	switch {
	case trivial(1) && trivial(2):
		set(0, 1) // D, and the merged H·W whose window is trivial
		return &out, []int{x[0], x[1], x[2], x[3] * x[4]}, nil
	case trivial(0):
		set(1, 2)
		return &out, []int{x[0], x[1] * x[2], x[3], x[4]}, nil
	}
	return nil, nil, fmt.Errorf("mpq pools a 3-D input only when the window leaves its depth or its height and width untouched (kernel %v, strides %v): %w", ks, st, ErrShape)
}
