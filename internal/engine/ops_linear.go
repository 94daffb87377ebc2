package engine

import (
	"fmt"
	"maps"
	"slices"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

func (s *convStep[T]) setLayer(l int)    { s.layer = l }
func (s *gemmStep[T]) setLayer(l int)    { s.layer = l }
func (s *matmulStep[T]) setLayer(l int)  { s.layer = l }
func (s *matmulStep[T]) setWeightFirst() { s.weightFirst = true }

// convStep is a 2-D convolution (kernel.ConvForward), optionally with its
// input fake-quantized on the fly.
type convStep[T Float] struct {
	stepIO
	g     kernel.Conv2D
	n     int
	layer int  // quantizable layer index, -1 if none
	relu  bool // a Relu runs inside (program.fuseRelu)
	work  []*kernel.ConvWork[T]
	// Integer arithmetic (integer.go).
	qwork  []*kernel.QConvWork
	qscale []float32
}

func (s *convStep[T]) forward(st *state[T]) {
	var bias []T
	if len(s.in) > 2 && s.in[2] >= 0 {
		bias = st.data[s.in[2]]
	}
	if s.forwardInteger(st, bias) {
		return
	}
	if s.work == nil {
		s.work = make([]*kernel.ConvWork[T], kernel.Workers())
		for i := range s.work {
			s.work[i] = kernel.NewConvWork[T](s.g)
		}
	}
	conv := kernel.ConvForward[T]
	if s.relu {
		conv = kernel.ConvForwardReLU[T]
	}
	conv(st.team(), s.g, s.n, st.data[s.in[0]], st.data[s.in[1]], bias, st.data[s.out[0]], st.inQuant(s.layer), s.work)
}

func (s *convStep[T]) backward(st *state[T]) {
	var db []T
	if len(s.in) > 2 && s.in[2] >= 0 {
		db = st.grad[s.in[2]]
	}
	dx, dw := st.grad[s.in[0]], st.grad[s.in[1]]
	if dx == nil && dw == nil && db == nil {
		return
	}
	// The kernel overwrites; gradients accumulate, so go through scratch
	// where the destination may already hold a contribution.
	kernel.ConvBackward(st.team(), s.g, s.n, st.data[s.in[0]], st.data[s.in[1]], st.grad[s.out[0]],
		st.scratchFor(dx, 0), st.scratchFor(dw, 1), st.scratchFor(db, 2), s.work)
	st.accumulate(dx, 0)
	st.accumulate(dw, 1)
	st.accumulate(db, 2)
}

func (c *compiler[T]) conv() (stepper[T], [][]int, error) {
	n := c.node
	x, w := c.shape(0), c.shape(1)
	if !c.has(1) {
		return nil, nil, fmt.Errorf("Conv has no weight input")
	}
	oneD := len(x) == 3 && len(w) == 3
	if oneD {
		var err error
		if n, err = lift1D(n); err != nil {
			return nil, nil, err
		}
		x, w = []int{x[0], x[1], 1, x[2]}, []int{w[0], w[1], 1, w[2]}
	}
	if len(x) != 4 || len(w) != 4 {
		return nil, nil, fmt.Errorf("mpq runs 1-D and 2-D convolutions only (input %s, weight %s): %w", graph.ShapeString(c.shape(0)), graph.ShapeString(c.shape(1)), ErrShape)
	}
	group := int(n.AttrInt("group", 1))
	if group < 1 || x[1]%group != 0 || w[0]%group != 0 || x[1]/group != w[1] {
		return nil, nil, fmt.Errorf("input %s with %d groups does not fit weight %s: %w", graph.ShapeString(c.shape(0)), group, graph.ShapeString(c.shape(1)), ErrShape)
	}
	if c.has(2) {
		if b := c.shape(2); graph.NumElements(b) != w[0] {
			return nil, nil, fmt.Errorf("bias %s does not fit %d output channels: %w", graph.ShapeString(b), w[0], ErrShape)
		}
	}
	ks := n.AttrInts("kernel_shape")
	if ks != nil && (len(ks) != 2 || int(ks[0]) != w[2] || int(ks[1]) != w[3]) {
		return nil, nil, fmt.Errorf("kernel_shape %v disagrees with weight %s: %w", c.node.AttrInts("kernel_shape"), graph.ShapeString(c.shape(1)), ErrShape)
	}
	geo, err := window2D(n, x[2], x[3], w[2], w[3])
	if err != nil {
		return nil, nil, err
	}
	g := kernel.Conv2D{C: x[1], H: x[2], W: x[3], M: w[0], KH: w[2], KW: w[3],
		StrideH: geo.sh, StrideW: geo.sw, PadTop: geo.pt, PadLeft: geo.pl, PadBottom: geo.pb, PadRight: geo.pr,
		DilH: geo.dh, DilW: geo.dw, Group: group}
	if err := g.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%v: %w", err, ErrShape)
	}
	y := []int{x[0], w[0], g.OutH(), g.OutW()}
	if oneD {
		y = []int{x[0], w[0], g.OutW()}
	}
	return &convStep[T]{g: g, n: x[0], layer: -1}, [][]int{y}, nil
}

// lift1D returns a copy of a 1-D Conv, ConvTranspose, MaxPool or
// AveragePool node whose window attributes are those of the same operation
// in 2-D over a feature map of height 1 (N×C×L seen as N×C×1×L, the same
// values in the same order): kernel_shape, strides and dilations get a
// leading 1, output_padding a leading 0, pads [b, e] become [0, b, 0, e];
// auto_pad carries over, as padding the height
// of a 1-high window over a 1-high map adds nothing.
func lift1D(n *graph.Node) (*graph.Node, error) {
	out := *n
	out.Attrs = maps.Clone(n.Attrs)
	for _, name := range []string{"kernel_shape", "strides", "dilations"} {
		if v := n.AttrInts(name); v != nil {
			if len(v) != 1 {
				return nil, fmt.Errorf("%s %v on a 1-D input: want one value: %w", name, v, ErrShape)
			}
			out.Attrs[name] = graph.Attr{Kind: graph.AttrInts, Ints: []int64{1, v[0]}}
		}
	}
	if p := n.AttrInts("pads"); p != nil {
		if len(p) != 2 {
			return nil, fmt.Errorf("pads %v on a 1-D input: want two values: %w", p, ErrShape)
		}
		out.Attrs["pads"] = graph.Attr{Kind: graph.AttrInts, Ints: []int64{0, p[0], 0, p[1]}}
	}
	if p := n.AttrInts("output_padding"); p != nil { // ConvTranspose
		if len(p) != 1 {
			return nil, fmt.Errorf("output_padding %v on a 1-D input: want one value: %w", p, ErrShape)
		}
		out.Attrs["output_padding"] = graph.Attr{Kind: graph.AttrInts, Ints: []int64{0, p[0]}}
	}
	return &out, nil
}

// window is a resolved 2-D sliding window (strides, pads, dilations).
type window struct{ sh, sw, pt, pl, pb, pr, dh, dw int }

// window2D resolves strides, dilations, pads and auto_pad for a 2-D window
// of kh×kw over h×w.
func window2D(n *graph.Node, h, w, kh, kw int) (window, error) {
	g := window{sh: 1, sw: 1, dh: 1, dw: 1}
	if s := n.AttrInts("strides"); s != nil {
		if len(s) != 2 || s[0] < 1 || s[1] < 1 {
			return g, fmt.Errorf("strides %v: want two positive values: %w", s, ErrShape)
		}
		g.sh, g.sw = int(s[0]), int(s[1])
	}
	if d := n.AttrInts("dilations"); d != nil {
		if len(d) != 2 || d[0] < 1 || d[1] < 1 {
			return g, fmt.Errorf("dilations %v: want two positive values: %w", d, ErrShape)
		}
		g.dh, g.dw = int(d[0]), int(d[1])
	}
	switch ap := n.AttrString("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		if p := n.AttrInts("pads"); p != nil {
			if len(p) != 4 || slices.ContainsFunc(p, func(v int64) bool { return v < 0 }) {
				return g, fmt.Errorf("pads %v: want four non-negative values: %w", p, ErrShape)
			}
			g.pt, g.pl, g.pb, g.pr = int(p[0]), int(p[1]), int(p[2]), int(p[3])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i, dim := range []int{h, w} {
			k := []int{kh, kw}[i]
			s := []int{g.sh, g.sw}[i]
			d := []int{g.dh, g.dw}[i]
			out := (dim + s - 1) / s
			total := max(0, (out-1)*s+(k-1)*d+1-dim)
			lo, hi := total/2, total-total/2
			if ap == "SAME_LOWER" {
				lo, hi = hi, lo
			}
			if i == 0 {
				g.pt, g.pb = lo, hi
			} else {
				g.pl, g.pr = lo, hi
			}
		}
	default:
		return g, fmt.Errorf("auto_pad %q is not supported", ap)
	}
	return g, nil
}

// gemmStep is ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C.
type gemmStep[T Float] struct {
	stepIO
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	cIdx           []int // broadcast index of C per element of Y, nil if C is absent
	layer          int
	qa             []T // scratch for the fake-quantized A
	usedA          []T
	qwork          kernel.QLinearWork
	qscale         []float32
}

func (s *gemmStep[T]) forward(st *state[T]) {
	if s.forwardInteger(st) {
		return
	}
	a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.out[0]]
	if q := st.inQuant(s.layer); q != nil {
		if s.qa == nil {
			s.qa = make([]T, len(a))
		}
		st.parallel(len(a), 1<<14, ewJob[T]{kind: ewQuantize, q: q, a: a, y: s.qa})
		a = s.qa
	}
	s.usedA = a
	beta := T(0)
	if s.cIdx != nil {
		c := st.data[s.in[2]]
		for i, ci := range s.cIdx {
			y[i] = s.beta * c[ci]
		}
		beta = 1
	}
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	kernel.Gemm(st.team(), s.transA, s.transB, s.m, s.n, s.k, s.alpha, a, lda, b, ldb, beta, y, s.n)
}

func (s *gemmStep[T]) backward(st *state[T]) {
	a, b, dy := s.usedA, st.data[s.in[1]], st.grad[s.out[0]]
	m, n, k, al := s.m, s.n, s.k, s.alpha
	if da := st.grad[s.in[0]]; da != nil {
		switch {
		case !s.transA && !s.transB:
			kernel.Gemm(st.team(), false, true, m, k, n, al, dy, n, b, n, 1, da, k)
		case !s.transA && s.transB:
			kernel.Gemm(st.team(), false, false, m, k, n, al, dy, n, b, k, 1, da, k)
		case s.transA && !s.transB:
			kernel.Gemm(st.team(), false, true, k, m, n, al, b, n, dy, n, 1, da, m)
		default:
			kernel.Gemm(st.team(), true, true, k, m, n, al, b, k, dy, n, 1, da, m)
		}
	}
	if db := st.grad[s.in[1]]; db != nil {
		switch {
		case !s.transB && !s.transA:
			kernel.Gemm(st.team(), true, false, k, n, m, al, a, k, dy, n, 1, db, n)
		case !s.transB && s.transA:
			kernel.Gemm(st.team(), false, false, k, n, m, al, a, m, dy, n, 1, db, n)
		case s.transB && !s.transA:
			kernel.Gemm(st.team(), true, false, n, k, m, al, dy, n, a, k, 1, db, k)
		default:
			kernel.Gemm(st.team(), true, true, n, k, m, al, dy, n, a, m, 1, db, k)
		}
	}
	if s.cIdx != nil {
		if dc := st.grad[s.in[2]]; dc != nil {
			for i, ci := range s.cIdx {
				dc[ci] += s.beta * dy[i]
			}
		}
	}
}

func (c *compiler[T]) gemm() (stepper[T], [][]int, error) {
	n := c.node
	a, b := c.shape(0), c.shape(1)
	if !c.has(1) || len(a) != 2 || len(b) != 2 {
		return nil, nil, fmt.Errorf("Gemm needs 2-D A and B (got %s and %s): %w", graph.ShapeString(a), graph.ShapeString(b), ErrShape)
	}
	s := &gemmStep[T]{transA: n.AttrInt("transA", 0) != 0, transB: n.AttrInt("transB", 0) != 0,
		alpha: T(n.AttrFloat("alpha", 1)), beta: T(n.AttrFloat("beta", 1)), layer: -1}
	s.m, s.k = a[0], a[1]
	if s.transA {
		s.m, s.k = a[1], a[0]
	}
	kb, nb := b[0], b[1]
	if s.transB {
		kb, nb = b[1], b[0]
	}
	if kb != s.k {
		return nil, nil, fmt.Errorf("A %s and B %s do not multiply (transA=%v, transB=%v): %w", graph.ShapeString(a), graph.ShapeString(b), s.transA, s.transB, ErrShape)
	}
	s.n = nb
	y := []int{s.m, s.n}
	if c.has(2) {
		cs := c.shape(2)
		bs, err := broadcastShape(y, cs)
		if err != nil || !slices.Equal(bs, y) {
			return nil, nil, fmt.Errorf("C %s does not broadcast to %s: %w", graph.ShapeString(cs), graph.ShapeString(y), ErrShape)
		}
		s.cIdx = broadcastIndex(cs, y)
	}
	return s, [][]int{y}, nil
}

// matmulStep is numpy matmul of A (…×M×K) by B (…×K×N) with broadcast batch
// dimensions.
type matmulStep[T Float] struct {
	stepIO
	m, n, k    int
	aOff, bOff []int // per output batch: offsets into A and B
	layer      int
	// weightFirst is set for a layer W @ x: its input, fake-quantized,
	// is B.
	weightFirst bool
	qa, qb      []T
	usedA       []T
	usedB       []T
	qwork       kernel.QLinearWork
	qscale      []float32
}

func (s *matmulStep[T]) forward(st *state[T]) {
	if s.forwardInteger(st) {
		return
	}
	a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.out[0]]
	if q := st.inQuant(s.layer); q != nil {
		if s.weightFirst {
			s.qb = grow(s.qb, len(b))
			st.parallel(len(b), 1<<14, ewJob[T]{kind: ewQuantize, q: q, a: b, y: s.qb})
			b = s.qb
		} else {
			s.qa = grow(s.qa, len(a))
			st.parallel(len(a), 1<<14, ewJob[T]{kind: ewQuantize, q: q, a: a, y: s.qa})
			a = s.qa
		}
	}
	s.usedA, s.usedB = a, b
	if len(s.aOff) == 1 || s.bOff == nil {
		rows := len(y) / s.n
		kernel.Gemm(st.team(), false, false, rows, s.n, s.k, 1, a, s.k, b, s.n, 0, y, s.n)
		return
	}
	mn, mk, kn := s.m*s.n, s.m*s.k, s.k*s.n
	for i := range s.aOff {
		kernel.Gemm(st.team(), false, false, s.m, s.n, s.k, 1, a[s.aOff[i]:s.aOff[i]+mk], s.k, b[s.bOff[i]:s.bOff[i]+kn], s.n, 0, y[i*mn:(i+1)*mn], s.n)
	}
}

func (s *matmulStep[T]) backward(st *state[T]) {
	a, b, dy := s.usedA, s.usedB, st.grad[s.out[0]]
	da, db := st.grad[s.in[0]], st.grad[s.in[1]]
	if len(s.aOff) == 1 || s.bOff == nil {
		rows := len(dy) / s.n
		if da != nil {
			kernel.Gemm(st.team(), false, true, rows, s.k, s.n, 1, dy, s.n, b, s.n, 1, da, s.k)
		}
		if db != nil {
			kernel.Gemm(st.team(), true, false, s.k, s.n, rows, 1, a, s.k, dy, s.n, 1, db, s.n)
		}
		return
	}
	mn, mk, kn := s.m*s.n, s.m*s.k, s.k*s.n
	for i := range s.aOff {
		g := dy[i*mn : (i+1)*mn]
		if da != nil {
			kernel.Gemm(st.team(), false, true, s.m, s.k, s.n, 1, g, s.n, b[s.bOff[i]:s.bOff[i]+kn], s.n, 1, da[s.aOff[i]:s.aOff[i]+mk], s.k)
		}
		if db != nil {
			kernel.Gemm(st.team(), true, false, s.k, s.n, s.m, 1, a[s.aOff[i]:s.aOff[i]+mk], s.k, g, s.n, 1, db[s.bOff[i]:s.bOff[i]+kn], s.n)
		}
	}
}

func (c *compiler[T]) matmul() (stepper[T], [][]int, error) {
	a, b := c.shape(0), c.shape(1)
	if !c.has(1) || len(a) < 2 || len(b) < 2 {
		return nil, nil, fmt.Errorf("MatMul of %s by %s: mpq needs operands of rank ≥ 2: %w", graph.ShapeString(a), graph.ShapeString(b), ErrShape)
	}
	s := &matmulStep[T]{m: a[len(a)-2], k: a[len(a)-1], n: b[len(b)-1], layer: -1}
	if b[len(b)-2] != s.k {
		return nil, nil, fmt.Errorf("MatMul of %s by %s: inner dimensions differ: %w", graph.ShapeString(a), graph.ShapeString(b), ErrShape)
	}
	if len(b) == 2 {
		y := append(slices.Clone(a[:len(a)-1]), s.n)
		s.aOff = []int{0}
		return s, [][]int{y}, nil
	}
	ba, bb := a[:len(a)-2], b[:len(b)-2]
	batch, err := broadcastShape(ba, bb)
	if err != nil {
		return nil, nil, err
	}
	ia, ib := broadcastIndex(ba, batch), broadcastIndex(bb, batch)
	s.aOff = make([]int, len(ia))
	s.bOff = make([]int, len(ib))
	for i := range ia {
		s.aOff[i] = ia[i] * s.m * s.k
		s.bOff[i] = ib[i] * s.k * s.n
	}
	y := append(slices.Clone(batch), s.m, s.n)
	return s, [][]int{y}, nil
}
