package engine

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

// The recurrent ops as torch.onnx exports nn.LSTM, nn.GRU and nn.RNN
// (opset 7 to 14 semantics, layout 0: X is sequence × batch × features;
// batch_first modules add Transposes around them), forward and backward
// through time. Each is a quantizable layer whose weight is [W | R]
// (fuseRecurrent) and whose input is X, fake-quantized as a Conv's; the
// hidden and cell states stay in floating point, and the step runs in
// floating point in every plan (no integer kernels).

type rnnKind int

const (
	rnnPlain rnnKind = iota // RNN: h' = act(x Wᵀ + h Rᵀ + Wb + Rb)
	rnnGRU                  // gates z, r, h
	rnnLSTM                 // gates i, o, f, c
)

type rnnStep[T Float] struct {
	stepIO
	kind                        rnnKind
	seq, batch, feat, hid, dirs int
	gates                       int  // per hidden unit: 1, 3 or 4
	rev                         bool // direction reverse
	lbr                         bool // GRU linear_before_reset
	relu                        bool // RNN with Relu instead of Tanh
	hasB, hasH0, hasC0          bool
	// fused is set when input 1 is [W | R] (fuseRecurrent) and input 2
	// absent; ldw and ldr are the row strides of W and R.
	fused                       bool
	ldw, ldr                    int
	layer                       int // the quantizable layer whose input is X, -1 if none
	qx, usedX                   []T // the fake-quantized input, and the input the gates saw
	rh                          []T // r ⊙ h of a GRU step, for the gradient of R
	acts, cells, hs, zeros, tmp []T
	dg, dh, dc, dtmp            []T
	// h0c and c0c, when set, are constant initial states of one sample
	// per direction (dirs × hid), from a fixed-batch export.
	h0c, c0c []T
	init     [2][]T
}

// batchInvariant returns the directions × hidden state of a constant
// directions × B × hidden initial state whose B rows are equal per
// direction, ok=false when they are not.
func batchInvariant[T Float](v []float64, sh []int) ([]T, bool) {
	dirs, b, hid := sh[0], sh[1], sh[2]
	out := make([]T, dirs*hid)
	for d := range dirs {
		row := v[d*b*hid : d*b*hid+hid]
		for k := 1; k < b; k++ {
			if !slices.Equal(row, v[(d*b+k)*hid:(d*b+k+1)*hid]) {
				return nil, false
			}
		}
		for j, x := range row {
			out[d*hid+j] = T(x)
		}
	}
	return out, true
}

// rnn plans LSTM, GRU and RNN.
func (c *compiler[T]) rnn() (stepper[T], [][]int, error) {
	n := c.node
	s := &rnnStep[T]{kind: map[string]rnnKind{"RNN": rnnPlain, "GRU": rnnGRU, "LSTM": rnnLSTM}[n.Op], layer: -1}
	s.gates = [...]int{1, 3, 4}[s.kind]
	x := c.shape(0)
	if layout := n.AttrInt("layout", 0); layout != 0 {
		return nil, nil, fmt.Errorf("layout %d is not supported (torch.onnx writes layout 0: sequence first)", layout)
	}
	if len(x) != 3 {
		return nil, nil, fmt.Errorf("input X has shape %s, want sequence × batch × features: %w", graph.ShapeString(x), ErrShape)
	}
	s.seq, s.batch, s.feat = x[0], x[1], x[2]
	if s.seq == 0 {
		return nil, nil, fmt.Errorf("input X has shape %s: an empty sequence: %w", graph.ShapeString(x), ErrShape)
	}
	if _, ok := n.Attrs["clip"]; ok {
		return nil, nil, fmt.Errorf("the clip attribute is not supported")
	}
	if n.AttrInt("input_forget", 0) != 0 {
		return nil, nil, fmt.Errorf("input_forget=1 (coupled input and forget gates) is not supported")
	}
	switch dir := n.AttrString("direction", "forward"); dir {
	case "forward", "reverse":
		s.dirs, s.rev = 1, dir == "reverse"
	case "bidirectional":
		s.dirs = 2
	default:
		return nil, nil, fmt.Errorf("direction %q is not forward, reverse or bidirectional", dir)
	}
	var wShape, rShape []int
	if a, ok := n.Attrs[fusedWR]; ok {
		// One weight [W | R] (fuseRecurrent): the node's layer weight.
		sh := c.shape(1)
		if len(sh) != 2 || sh[1] <= int(a.Int) || int(a.Int) != s.feat {
			return nil, nil, fmt.Errorf("the fused weight has shape %s for input X %s: %w", graph.ShapeString(sh), graph.ShapeString(x), ErrShape)
		}
		s.fused = true
		h := sh[1] - s.feat
		if sh[0] != s.dirs*s.gates*h {
			return nil, nil, fmt.Errorf("W and R have %d rows in all for hidden size %d (R's columns), want %d direction(s) × %d gates × %d: %w", sh[0], h, s.dirs, s.gates, h, ErrShape)
		}
		wShape = []int{s.dirs, s.gates * h, s.feat}
		rShape = []int{s.dirs, s.gates * h, h}
	} else {
		w, r := c.constIn(1), c.constIn(2)
		if w == nil || r == nil || !w.DType.IsFloat() || !r.DType.IsFloat() {
			return nil, nil, fmt.Errorf("the weights W and R must be float constants (initializers)")
		}
		wShape, rShape = w.Shape, r.Shape
	}
	if len(rShape) != 3 || rShape[0] != s.dirs || rShape[1]%s.gates != 0 {
		return nil, nil, fmt.Errorf("R has shape %s, want %d × %d·hidden × hidden: %w", graph.ShapeString(rShape), s.dirs, s.gates, ErrShape)
	}
	s.hid = rShape[2]
	gh := s.gates * s.hid
	if hs := n.AttrInt("hidden_size", int64(s.hid)); hs != int64(s.hid) || rShape[1] != gh {
		return nil, nil, fmt.Errorf("R has shape %s but hidden_size is %d: %w", graph.ShapeString(rShape), hs, ErrShape)
	}
	if !slices.Equal(wShape, []int{s.dirs, gh, s.feat}) {
		return nil, nil, fmt.Errorf("W has shape %s, want %s for input X %s: %w", graph.ShapeString(wShape), graph.ShapeString([]int{s.dirs, gh, s.feat}), graph.ShapeString(x), ErrShape)
	}
	s.ldw, s.ldr = s.feat, s.hid
	if s.fused {
		s.ldw, s.ldr = s.feat+s.hid, s.feat+s.hid
	}
	if c.has(3) {
		b := c.constIn(3)
		if b == nil || !b.DType.IsFloat() {
			return nil, nil, fmt.Errorf("the bias B must be a float constant (initializer)")
		}
		if !slices.Equal(b.Shape, []int{s.dirs, 2 * gh}) {
			return nil, nil, fmt.Errorf("B has shape %s, want %s: %w", graph.ShapeString(b.Shape), graph.ShapeString([]int{s.dirs, 2 * gh}), ErrShape)
		}
		s.hasB = true
	}
	if c.has(4) {
		sl := c.constIn(4)
		if sl == nil {
			return nil, nil, fmt.Errorf("sequence_lens computed from data (packed sequences) are not supported")
		}
		for _, v := range sl.Ints() {
			if v != int64(s.seq) {
				return nil, nil, fmt.Errorf("sequence_lens %v: sequences shorter than the input's %d steps (packed sequences) are not supported", sl.Ints(), s.seq)
			}
		}
	}
	state := []int{s.dirs, s.batch, s.hid}
	for i, name := range []string{5: "initial_h", 6: "initial_c"} {
		if i < 5 || !c.has(i) {
			continue
		}
		if i == 6 && s.kind != rnnLSTM {
			return nil, nil, fmt.Errorf("%s has %d inputs; input %d is not defined for it", n.Op, len(n.Inputs), i)
		}
		sh := c.shape(i)
		if t := c.constIn(i); t != nil && len(sh) == 3 && sh[0] == s.dirs && sh[2] == s.hid && sh[1] != s.batch && sh[1] == c.p.staticBatch {
			// A model exported with a fixed batch B holds its initial
			// state as a constant for B samples (zeros, when the module
			// was called without one): the same state for every sample
			// serves any batch.
			v, ok := batchInvariant[T](t.Floats(), sh)
			if !ok {
				return nil, nil, fmt.Errorf("%s is a constant for the export's fixed batch of %d that differs from sample to sample; export with dynamic_axes on the batch", name, sh[1])
			}
			if i == 5 {
				s.h0c = v
			} else {
				s.c0c = v
			}
			continue
		}
		if !slices.Equal(sh, state) {
			return nil, nil, fmt.Errorf("%s has shape %s, want %s: %w", name, graph.ShapeString(sh), graph.ShapeString(state), ErrShape)
		}
	}
	s.hasH0, s.hasC0 = c.has(5) && s.h0c == nil, c.has(6) && s.c0c == nil
	if c.has(7) {
		return nil, nil, fmt.Errorf("peephole weights P are not supported")
	}
	want := [...][]string{{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}}[s.kind]
	if acts := n.AttrStrings("activations"); acts != nil {
		ok := len(acts) == len(want)*s.dirs
		for i := 0; ok && i < len(acts); i++ {
			a, def := acts[i], want[i%len(want)]
			switch {
			case a == def:
			case s.kind == rnnPlain && a == "Relu" && (i == 0 || s.relu):
				s.relu = true
			default:
				ok = false
			}
		}
		if ok && s.kind == rnnPlain && s.dirs == 2 && acts[0] != acts[1] {
			ok = false
		}
		if !ok {
			return nil, nil, fmt.Errorf("activations %v are not supported (mpq runs the defaults %v per direction%s)", acts, want, map[bool]string{true: ", or Relu", false: ""}[s.kind == rnnPlain])
		}
	}
	s.lbr = n.AttrInt("linear_before_reset", 0) != 0
	y := []int{s.seq, s.dirs, s.batch, s.hid}
	shapes := [][]int{y, state}
	if s.kind == rnnLSTM {
		shapes = append(shapes, state)
	}
	if len(n.Outputs) > len(shapes) {
		return nil, nil, fmt.Errorf("%s has %d outputs, at most %d are defined", n.Op, len(n.Outputs), len(shapes))
	}
	per := s.dirs * s.seq * s.batch
	s.acts = make([]T, per*gh)
	s.cells = make([]T, per*s.hid)
	s.hs = make([]T, per*s.hid)
	s.zeros = make([]T, s.batch*s.hid)
	s.tmp = make([]T, s.batch*s.hid)
	return s, shapes[:len(n.Outputs)], nil
}

// output returns output j's data, nil when the node does not have it.
func (s *rnnStep[T]) output(st *state[T], j int) []T {
	if j >= len(s.out) || s.out[j] < 0 {
		return nil
	}
	return st.data[s.out[j]]
}

func (s *rnnStep[T]) outGrad(st *state[T], j int) []T {
	if j >= len(s.out) || s.out[j] < 0 {
		return nil
	}
	return st.grad[s.out[j]]
}

// at returns the time step processed k-th in direction d (the second
// direction of a bidirectional op runs backwards in time).
func (s *rnnStep[T]) at(d, k int) int {
	if d == 1 || s.rev {
		return s.seq - 1 - k
	}
	return k
}

// slot returns the [batch × width] block of buf for direction d, time t.
func (s *rnnStep[T]) slot(buf []T, d, t, width int) []T {
	o := ((d*s.seq + t) * s.batch) * width
	return buf[o : o+s.batch*width]
}

// prev returns the hidden and cell state before time step k of direction d.
func (s *rnnStep[T]) prev(st *state[T], d, k int) (h, c []T) {
	if k > 0 {
		t := s.at(d, k-1)
		return s.slot(s.hs, d, t, s.hid), s.slot(s.cells, d, t, s.hid)
	}
	h, c = s.zeros, s.zeros
	bh := s.batch * s.hid
	if s.hasH0 {
		h = st.data[s.in[5]][d*bh : (d+1)*bh]
	}
	if s.hasC0 {
		c = st.data[s.in[6]][d*bh : (d+1)*bh]
	}
	if s.h0c != nil || s.c0c != nil {
		// One sample's constant state, repeated over the batch.
		h, c = s.fill(s.h0c, d, h, 0), s.fill(s.c0c, d, c, 1)
	}
	return h, c
}

// fill returns direction d's row of the one-sample state v repeated over
// the batch (in scratch buffer k), or h when v is nil.
func (s *rnnStep[T]) fill(v []T, d int, h []T, k int) []T {
	if v == nil {
		return h
	}
	buf := &s.init[k]
	*buf = grow(*buf, s.batch*s.hid)
	row := v[d*s.hid : (d+1)*s.hid]
	for b := range s.batch {
		copy((*buf)[b*s.hid:(b+1)*s.hid], row)
	}
	return *buf
}

func (s *rnnStep[T]) forward(st *state[T]) {
	x := st.data[s.in[0]]
	if q := st.inQuant(s.layer); q != nil {
		s.qx = grow(s.qx, len(x))
		st.parallel(len(x), 1<<14, ewJob[T]{kind: ewQuantize, q: q, a: x, y: s.qx})
		x = s.qx
	}
	s.usedX = x
	H, gh, B := s.hid, s.gates*s.hid, s.batch
	for d := range s.dirs {
		wd, rd := s.weights(st.data, d)
		acts := s.acts[d*s.seq*B*gh : (d+1)*s.seq*B*gh]
		kernel.Gemm(st.team(), false, true, s.seq*B, gh, s.feat, 1, x, s.feat, wd, s.ldw, 0, acts, gh)
		var wb, rb []T
		if s.hasB {
			bd := st.data[s.in[3]][d*2*gh : (d+1)*2*gh]
			wb, rb = bd[:gh], bd[gh:]
			// Both biases go into the gates' sums, except the GRU's
			// candidate-gate recurrent bias, which sits inside r ⊙ (…).
			nb := gh
			if s.kind == rnnGRU {
				nb = 2 * H
			}
			for row := 0; row < len(acts); row += gh {
				a := acts[row : row+gh]
				for j := range a {
					a[j] += wb[j]
				}
				for j := range nb {
					a[j] += rb[j]
				}
			}
		}
		for k := range s.seq {
			t := s.at(d, k)
			hp, cp := s.prev(st, d, k)
			g := s.slot(s.acts, d, t, gh)
			hs, cs := s.slot(s.hs, d, t, H), s.slot(s.cells, d, t, H)
			switch s.kind {
			case rnnPlain:
				kernel.Gemm(st.team(), false, true, B, H, H, 1, hp, H, rd, s.ldr, 1, g, H)
				if s.relu {
					for i, v := range g {
						g[i] = max(v, 0)
					}
				} else {
					kernel.Tanh(g, g)
				}
				copy(hs, g)
			case rnnLSTM:
				// The activations run over whole rows (kernel.Sigmoid and
				// kernel.Tanh: vector code in float32, math in float64).
				kernel.Gemm(st.team(), false, true, B, gh, H, 1, hp, H, rd, s.ldr, 1, g, gh)
				for b := range B {
					gb := g[b*gh : (b+1)*gh]
					kernel.Sigmoid(gb[:3*H], gb[:3*H])
					kernel.Tanh(gb[3*H:], gb[3*H:])
					cb, hb, pb := cs[b*H:(b+1)*H], hs[b*H:(b+1)*H], cp[b*H:(b+1)*H]
					for j := range H {
						cb[j] = gb[2*H+j]*pb[j] + gb[j]*gb[3*H+j]
					}
					kernel.Tanh(hb, cb)
					for j := range H {
						hb[j] *= gb[H+j]
					}
				}
			case rnnGRU:
				// z and r: x Wᵀ + h Rᵀ (+ both biases, added above).
				kernel.Gemm(st.team(), false, true, B, 2*H, H, 1, hp, H, rd, s.ldr, 1, g, gh)
				for b := range B {
					gb := g[b*gh : (b+1)*gh]
					kernel.Sigmoid(gb[:2*H], gb[:2*H])
				}
				// cs holds the candidate's recurrent term: h R_hᵀ + Rb_h
				// (linear_before_reset, PyTorch's form) or (r ⊙ h) R_hᵀ + Rb_h.
				src := hp
				if !s.lbr {
					src = s.tmp
					for b := range B {
						for j := range H {
							src[b*H+j] = g[b*gh+H+j] * hp[b*H+j]
						}
					}
				}
				kernel.Gemm(st.team(), false, true, B, H, H, 1, src, H, rd[2*H*s.ldr:], s.ldr, 0, cs, H)
				for b := range B {
					gb, cb := g[b*gh:(b+1)*gh], cs[b*H:(b+1)*H]
					a := gb[2*H:]
					for j := range H {
						if rb != nil {
							cb[j] += rb[2*H+j]
						}
						if s.lbr {
							a[j] += gb[H+j] * cb[j]
						} else {
							a[j] += cb[j]
						}
					}
					kernel.Tanh(a, a)
					hb, pb := hs[b*H:(b+1)*H], hp[b*H:(b+1)*H]
					for j := range H {
						z := gb[j]
						hb[j] = (1-z)*a[j] + z*pb[j]
					}
				}
			}
			if y := s.output(st, 0); y != nil {
				// Y is sequence × directions × batch × hidden.
				o := (t*s.dirs + d) * B * H
				copy(y[o:o+B*H], hs)
			}
		}
		last := s.at(d, s.seq-1)
		if yh := s.output(st, 1); yh != nil {
			copy(yh[d*B*H:(d+1)*B*H], s.slot(s.hs, d, last, H))
		}
		if yc := s.output(st, 2); yc != nil {
			copy(yc[d*B*H:(d+1)*B*H], s.slot(s.cells, d, last, H))
		}
	}
}

func (s *rnnStep[T]) backward(st *state[T]) {
	gx := st.grad[s.in[0]]
	var gh0, gc0 []T
	if s.hasH0 {
		gh0 = st.grad[s.in[5]]
	}
	if s.hasC0 {
		gc0 = st.grad[s.in[6]]
	}
	var gw []T
	if s.fused {
		gw = st.grad[s.in[1]]
	}
	if gx == nil && gh0 == nil && gc0 == nil && gw == nil {
		return
	}
	H, gh, B := s.hid, s.gates*s.hid, s.batch
	bh := B * H
	s.dg = grow(s.dg, s.seq*B*gh)
	s.dh, s.dc, s.dtmp = grow(s.dh, bh), grow(s.dc, bh), grow(s.dtmp, bh)
	gy, gyh, gyc := s.outGrad(st, 0), s.outGrad(st, 1), s.outGrad(st, 2)
	for d := range s.dirs {
		wd, rd := s.weights(st.data, d)
		var gwd, grd []T
		if gw != nil {
			gwd, grd = s.weights(st.grad, d)
		}
		dh, dc := s.dh, s.dc
		clear(dh)
		clear(dc)
		if gyh != nil {
			copy(dh, gyh[d*bh:(d+1)*bh])
		}
		if gyc != nil {
			copy(dc, gyc[d*bh:(d+1)*bh])
		}
		for k := s.seq - 1; k >= 0; k-- {
			t := s.at(d, k)
			if gy != nil {
				o := (t*s.dirs + d) * bh
				for i, v := range gy[o : o+bh] {
					dh[i] += v
				}
			}
			hp, cp := s.prev(st, d, k)
			g := s.slot(s.acts, d, t, gh)
			dg := s.dg[t*B*gh : (t+1)*B*gh]
			cs := s.slot(s.cells, d, t, H)
			switch s.kind {
			case rnnPlain:
				for i, h := range g {
					if s.relu {
						if h > 0 {
							dg[i] = dh[i]
						} else {
							dg[i] = 0
						}
					} else {
						dg[i] = dh[i] * (1 - h*h)
					}
				}
				kernel.Gemm(st.team(), false, false, B, H, H, 1, dg, H, rd, s.ldr, 0, dh, H)
			case rnnLSTM:
				for b := range B {
					gb, db := g[b*gh:(b+1)*gh], dg[b*gh:(b+1)*gh]
					for j := range H {
						i, o, f, cc := gb[j], gb[H+j], gb[2*H+j], gb[3*H+j]
						tc := T(math.Tanh(float64(cs[b*H+j])))
						dhv := dh[b*H+j]
						dcv := dc[b*H+j] + dhv*o*(1-tc*tc)
						db[j] = dcv * cc * i * (1 - i)
						db[H+j] = dhv * tc * o * (1 - o)
						db[2*H+j] = dcv * cp[b*H+j] * f * (1 - f)
						db[3*H+j] = dcv * i * (1 - cc*cc)
						dc[b*H+j] = dcv * f
					}
				}
				kernel.Gemm(st.team(), false, false, B, H, gh, 1, dg, gh, rd, s.ldr, 0, dh, H)
			case rnnGRU:
				// dtmp: the gradient of the candidate's recurrent term cs.
				for b := range B {
					gb, db := g[b*gh:(b+1)*gh], dg[b*gh:(b+1)*gh]
					for j := range H {
						z, rr, hh := gb[j], gb[H+j], gb[2*H+j]
						dhv := dh[b*H+j]
						da := dhv * (1 - z) * (1 - hh*hh)
						db[j] = dhv * (hp[b*H+j] - hh) * z * (1 - z)
						db[2*H+j] = da
						if s.lbr {
							db[H+j] = da * cs[b*H+j] * rr * (1 - rr)
							s.dtmp[b*H+j] = da * rr
						} else {
							s.dtmp[b*H+j] = da
						}
						dh[b*H+j] = dhv * z
					}
				}
				if s.lbr {
					kernel.Gemm(st.team(), false, false, B, H, H, 1, s.dtmp, H, rd[2*H*s.ldr:], s.ldr, 1, dh, H)
				} else {
					// d(r ⊙ h) = da R_h, into tmp; then r's and h's shares.
					kernel.Gemm(st.team(), false, false, B, H, H, 1, s.dtmp, H, rd[2*H*s.ldr:], s.ldr, 0, s.tmp, H)
					for b := range B {
						gb, db := g[b*gh:(b+1)*gh], dg[b*gh:(b+1)*gh]
						for j := range H {
							rr, drh := gb[H+j], s.tmp[b*H+j]
							db[H+j] = drh * hp[b*H+j] * rr * (1 - rr)
							dh[b*H+j] += drh * rr
						}
					}
				}
				kernel.Gemm(st.team(), false, false, B, H, 2*H, 1, dg, gh, rd, s.ldr, 1, dh, H)
			}
			if grd != nil {
				s.recurrentGrad(st, grd, dg, hp, g)
			}
		}
		if gh0 != nil {
			for i, v := range dh {
				gh0[d*bh+i] += v
			}
		}
		if gc0 != nil {
			for i, v := range dc {
				gc0[d*bh+i] += v
			}
		}
		if gx != nil {
			// Straight through the input quantizer, as the other layers.
			kernel.Gemm(st.team(), false, false, s.seq*B, s.feat, gh, 1, s.dg, gh, wd, s.ldw, 1, gx, s.feat)
		}
		if gwd != nil {
			// dW += Σ_t dgₜᵀ xₜ over the whole sequence at once.
			kernel.Gemm(st.team(), true, false, gh, s.feat, s.seq*B, 1, s.dg, gh, s.usedX, s.feat, 1, gwd, s.ldw)
		}
	}
}

// recurrentGrad adds one time step's share of the gradient of R, dgᵀ h
// (with h the state before the step; for the GRU's candidate rows, the
// state the candidate's recurrent term multiplied: h or r ⊙ h), to grd,
// one direction's rows of R (row stride s.ldr).
func (s *rnnStep[T]) recurrentGrad(st *state[T], grd, dg, hp, g []T) {
	H, gh, B := s.hid, s.gates*s.hid, s.batch
	if s.kind != rnnGRU {
		kernel.Gemm(st.team(), true, false, gh, H, B, 1, dg, gh, hp, H, 1, grd, s.ldr)
		return
	}
	kernel.Gemm(st.team(), true, false, 2*H, H, B, 1, dg, gh, hp, H, 1, grd, s.ldr)
	src := hp
	if !s.lbr {
		s.rh = grow(s.rh, B*H)
		for b := range B {
			for j := range H {
				s.rh[b*H+j] = g[b*gh+H+j] * hp[b*H+j]
			}
		}
		src = s.rh
	}
	kernel.Gemm(st.team(), true, false, H, H, B, 1, s.dtmp, H, src, H, 1, grd[2*H*s.ldr:], s.ldr)
}

// weights returns direction d's rows of W and R in vals (the values or
// their gradients): row strides s.ldw and s.ldr.
func (s *rnnStep[T]) weights(vals [][]T, d int) (wd, rd []T) {
	gh := s.gates * s.hid
	w := vals[s.in[1]]
	if s.fused {
		o := d * gh * s.ldw
		return w[o:], w[o+s.feat:]
	}
	return w[d*gh*s.feat:], vals[s.in[2]][d*gh*s.hid:]
}

func (s *rnnStep[T]) setLayer(l int) { s.layer = l }

// fusedWR is the attribute fuseRecurrent sets on the recurrent nodes it
// rewrites: their input 1 is then [W | R] and input 2 is empty. Its Int
// is the number of input features (W's columns), its Strings the names of
// the file's W and R.
const fusedWR = "mpq_fused_wr"

// fuseRecurrent returns g with each LSTM, GRU and RNN whose W and R are
// float initializers that no other node reads taking one weight instead:
// the (directions·gates·hidden) × (features + hidden) matrix [W | R], row
// (d, g) holding direction d's gate unit g's weights over the input and
// over the previous hidden state. The gate's pre-activation is one linear
// map of [x; h], and that matrix is the node's quantizable layer weight
// (one row per output channel). g is not modified.
func fuseRecurrent(g *graph.Graph) *graph.Graph {
	uses := map[string]int{}
	taken := map[string]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			uses[in]++
		}
		for _, o := range n.Outputs {
			taken[o] = true
		}
	}
	for _, in := range g.Inputs {
		taken[in.Name] = true
	}
	var out *graph.Graph
	for i, n := range g.Nodes {
		if n.Op != "LSTM" && n.Op != "GRU" && n.Op != "RNN" || n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		if _, done := n.Attrs[fusedWR]; done {
			continue
		}
		wn, rn := n.Input(1), n.Input(2)
		w, okW := g.Init[wn]
		r, okR := g.Init[rn]
		if !okW || !okR || !w.DType.IsFloat() || !r.DType.IsFloat() || uses[wn] != 1 || uses[rn] != 1 || wn == rn ||
			len(w.Shape) != 3 || len(r.Shape) != 3 || w.Shape[0] != r.Shape[0] || w.Shape[1] != r.Shape[1] {
			continue // left to the op, which names what does not fit
		}
		rows, f, h := w.Shape[0]*w.Shape[1], w.Shape[2], r.Shape[2]
		wv, rv := w.Floats(), r.Floats()
		wr := make([]float64, rows*(f+h))
		for k := range rows {
			copy(wr[k*(f+h):], wv[k*f:(k+1)*f])
			copy(wr[k*(f+h)+f:], rv[k*h:(k+1)*h])
		}
		name := wn + "+" + rn
		for j := 1; taken[name] || g.Init[name] != nil; j++ {
			name = fmt.Sprintf("%s+%s_%d", wn, rn, j)
		}
		taken[name] = true
		if out == nil {
			c := *g
			c.Init = maps.Clone(g.Init)
			c.Nodes = slices.Clone(g.Nodes)
			c.InitOrder = slices.Clone(g.InitOrder)
			out = &c
		}
		delete(out.Init, wn)
		delete(out.Init, rn)
		out.Init[name] = &graph.Tensor{Name: name, DType: w.DType, Shape: []int{rows, f + h}, Float: wr}
		for j, iname := range out.InitOrder {
			if iname == wn {
				out.InitOrder[j] = name
			}
		}
		out.InitOrder = slices.DeleteFunc(out.InitOrder, func(s string) bool { return s == rn })
		c := *n
		c.Inputs = slices.Clone(n.Inputs)
		c.Inputs[1], c.Inputs[2] = name, ""
		c.Attrs = maps.Clone(n.Attrs)
		if c.Attrs == nil {
			c.Attrs = map[string]graph.Attr{}
		}
		c.Attrs[fusedWR] = graph.Attr{Kind: graph.AttrInt, Int: int64(f), Strings: []string{wn, rn}}
		out.Nodes[i] = &c
	}
	if out == nil {
		return g
	}
	return out
}
