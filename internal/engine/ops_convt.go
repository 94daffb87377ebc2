package engine

import (
	"fmt"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

func (s *convTransposeStep[T]) setLayer(l int) { s.layer = l }

// convTransposeStep is ConvTranspose (nn.ConvTranspose1d/2d): the
// transposed convolution of x (N × C × H × W) by w (C × M/group × KH × KW).
// It is the data gradient of the convolution g whose input has the
// ConvTranspose's output geometry (M channels, OH × OW) and whose output
// has its input's (C channels, H × W), with the same weight tensor as that
// convolution's (C output channels of M/group inputs each). So its forward
// pass is kernel.ConvBackwardData over g, and its backward pass the
// convolution g itself (for x) and g's weight gradient with the roles of
// input and output gradient swapped (for w).
type convTransposeStep[T Float] struct {
	stepIO
	g     kernel.Conv2D
	n     int
	layer int
	work  []*kernel.ConvWork[T]
	qx    []T // the fake-quantized input
	usedX []T
}

func (s *convTransposeStep[T]) workers() []*kernel.ConvWork[T] {
	if s.work == nil {
		s.work = make([]*kernel.ConvWork[T], kernel.Workers())
		for i := range s.work {
			s.work[i] = kernel.NewConvWork[T](s.g)
		}
	}
	return s.work
}

func (s *convTransposeStep[T]) forward(st *state[T]) {
	x, w, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.out[0]]
	if q := st.inQuant(s.layer); q != nil {
		s.qx = grow(s.qx, len(x))
		st.parallel(len(x), 1<<14, ewJob[T]{kind: ewQuantize, q: q, a: x, y: s.qx})
		x = s.qx
	}
	s.usedX = x
	kernel.ConvBackwardData(st.team(), s.g, s.n, w, x, y, s.workers())
	if len(s.in) > 2 && s.in[2] >= 0 {
		bias, p := st.data[s.in[2]], s.g.H*s.g.W
		for img := range s.n {
			for c, b := range bias {
				plane := y[(img*s.g.C+c)*p : (img*s.g.C+c+1)*p]
				for i := range plane {
					plane[i] += b
				}
			}
		}
	}
}

func (s *convTransposeStep[T]) backward(st *state[T]) {
	dx, dw := st.grad[s.in[0]], st.grad[s.in[1]]
	var db []T
	if len(s.in) > 2 && s.in[2] >= 0 {
		db = st.grad[s.in[2]]
	}
	gy := st.grad[s.out[0]]
	if dx != nil {
		// dx = the convolution g of gy (straight through the input quantizer).
		sx := st.scratchFor(dx, 0)
		kernel.ConvForward(st.team(), s.g, s.n, gy, st.data[s.in[1]], nil, sx, nil, s.workers())
		st.accumulate(dx, 0)
	}
	if dw != nil {
		// g's weight gradient, g's input being gy and its output gradient x.
		kernel.ConvBackward(st.team(), s.g, s.n, gy, st.data[s.in[1]], s.usedX, nil, st.scratchFor(dw, 1), nil, s.workers())
		st.accumulate(dw, 1)
	}
	if db != nil {
		p := s.g.H * s.g.W
		for img := range s.n {
			for c := range db {
				var sum T
				for _, v := range gy[(img*s.g.C+c)*p : (img*s.g.C+c+1)*p] {
					sum += v
				}
				db[c] += sum
			}
		}
	}
}

// convTranspose plans a 1-D or 2-D ConvTranspose: strides, pads,
// dilations, output_padding and group; auto_pad NOTSET or VALID.
func (c *compiler[T]) convTranspose() (stepper[T], [][]int, error) {
	n := c.node
	x, w := c.shape(0), c.shape(1)
	if !c.has(1) {
		return nil, nil, fmt.Errorf("ConvTranspose has no weight input")
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
		return nil, nil, fmt.Errorf("mpq runs 1-D and 2-D transposed convolutions only (input %s, weight %s): %w", graph.ShapeString(c.shape(0)), graph.ShapeString(c.shape(1)), ErrShape)
	}
	if n.AttrInts("output_shape") != nil {
		return nil, nil, fmt.Errorf("ConvTranspose with output_shape is not supported; export with output_padding (PyTorch's default)")
	}
	if ap := n.AttrString("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "" && ap != "VALID" {
		return nil, nil, fmt.Errorf("ConvTranspose auto_pad %q is not supported (NOTSET, VALID)", ap)
	}
	group := int(n.AttrInt("group", 1))
	if group < 1 || x[1] != w[0] || w[0]%group != 0 {
		return nil, nil, fmt.Errorf("input %s with %d groups does not fit ConvTranspose weight %s (input channels × output channels/group × kernel): %w", graph.ShapeString(c.shape(0)), group, graph.ShapeString(c.shape(1)), ErrShape)
	}
	m := w[1] * group
	if c.has(2) {
		if b := c.shape(2); graph.NumElements(b) != m {
			return nil, nil, fmt.Errorf("bias %s does not fit %d output channels: %w", graph.ShapeString(b), m, ErrShape)
		}
	}
	if ks := n.AttrInts("kernel_shape"); ks != nil && (len(ks) != 2 || int(ks[0]) != w[2] || int(ks[1]) != w[3]) {
		return nil, nil, fmt.Errorf("kernel_shape %v disagrees with weight %s: %w", c.node.AttrInts("kernel_shape"), graph.ShapeString(c.shape(1)), ErrShape)
	}
	geo, err := window2D(n, x[2], x[3], w[2], w[3])
	if err != nil {
		return nil, nil, err
	}
	outPad := []int64{0, 0}
	if op := n.AttrInts("output_padding"); op != nil {
		if len(op) != 2 || op[0] < 0 || op[1] < 0 {
			return nil, nil, fmt.Errorf("output_padding %v: want two non-negative values: %w", op, ErrShape)
		}
		outPad = op
	}
	if int(outPad[0]) >= max(geo.sh, geo.dh) || int(outPad[1]) >= max(geo.sw, geo.dw) {
		return nil, nil, fmt.Errorf("output_padding %v must be smaller than the stride or the dilation: %w", outPad, ErrShape)
	}
	oh := (x[2]-1)*geo.sh - geo.pt - geo.pb + geo.dh*(w[2]-1) + int(outPad[0]) + 1
	ow := (x[3]-1)*geo.sw - geo.pl - geo.pr + geo.dw*(w[3]-1) + int(outPad[1]) + 1
	if oh < 1 || ow < 1 {
		return nil, nil, fmt.Errorf("ConvTranspose of %s by %s gives an empty output (%d × %d): %w", graph.ShapeString(c.shape(0)), graph.ShapeString(c.shape(1)), oh, ow, ErrShape)
	}
	// The convolution this is the transpose of: input M × oh × ow, output
	// C × H × W, weight C × M/group × KH × KW.
	g := kernel.Conv2D{C: m, H: oh, W: ow, M: x[1], KH: w[2], KW: w[3],
		StrideH: geo.sh, StrideW: geo.sw, PadTop: geo.pt, PadLeft: geo.pl, PadBottom: geo.pb, PadRight: geo.pr,
		DilH: geo.dh, DilW: geo.dw, Group: group}
	if err := g.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%v: %w", err, ErrShape)
	}
	if g.OutH() != x[2] || g.OutW() != x[3] {
		return nil, nil, fmt.Errorf("ConvTranspose of %s by %s: the output %d × %d does not map back onto the input (a bug in mpq's geometry): %w", graph.ShapeString(c.shape(0)), graph.ShapeString(c.shape(1)), oh, ow, ErrShape)
	}
	y := []int{x[0], m, oh, ow}
	if oneD {
		y = []int{x[0], m, ow}
	}
	return &convTransposeStep[T]{g: g, n: x[0], layer: -1}, [][]int{y}, nil
}
