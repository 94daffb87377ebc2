package engine

import (
	"errors"
	"fmt"
	"unsafe"

	"mpq/internal/kernel"
)

// ErrNotInteger marks a layer that cannot compute in integer arithmetic.
var ErrNotInteger = errors.New("engine: layer cannot run in integer arithmetic")

// IntegerWeights is a layer's weight as signed integer codes with one
// scale per output channel (ŵ = code·scale), packed for the integer
// kernels. It is immutable and may be shared by any number of Sessions.
type IntegerWeights struct {
	layer  int
	w      *kernel.QWeights
	scales []float64
}

// NewIntegerWeights packs layer l's weight codes, given in the weight
// initializer's layout, each in [−127, 127] (a symmetric quantizer of at
// most 8 bits), with the scale of each output channel. It returns an error
// wrapping ErrNotInteger when the layer cannot run in integer arithmetic
// (a Gemm reading its input transposed, or an inner dimension above
// kernel.QMaxDepth), and an error for codes or scales that do not fit the
// layer.
func NewIntegerWeights(m *Model, l int, codes []int8, scales []float64) (*IntegerWeights, error) {
	if l < 0 || l >= len(m.Layers) {
		return nil, fmt.Errorf("engine: no layer %d", l)
	}
	layer := m.Layers[l]
	if len(codes) != layer.Params || len(scales) != layer.Channels {
		return nil, fmt.Errorf("engine: layer %q: %d codes and %d scales for %d weights in %d channels", layer.Name, len(codes), len(scales), layer.Params, layer.Channels)
	}
	node := m.Graph.Nodes[layer.node]
	if !m.IntegerOp(l) {
		return nil, fmt.Errorf("layer %q: the integer kernels do not run its %s: %w", layer.Name, node.Op, ErrNotInteger)
	}
	rows := layer.Channels
	k := layer.Params / rows
	if k > kernel.QMaxDepth {
		return nil, fmt.Errorf("layer %q: %d inputs per output exceed the exact int32 depth %d: %w", layer.Name, k, kernel.QMaxDepth, ErrNotInteger)
	}
	for i, c := range codes {
		if c == -128 {
			return nil, fmt.Errorf("engine: layer %q: weight code %d is −128; symmetric codes lie in [−127, 127]", layer.Name, i)
		}
	}
	rowMajor := codes
	if layer.ChannelAxis == 1 {
		// K × M (Gemm without transB, MatMul): make it M × K.
		rowMajor = make([]int8, len(codes))
		for r := range k {
			for c := range rows {
				rowMajor[c*k+r] = codes[r*rows+c]
			}
		}
	}
	groups := 1
	if node.Op == "Conv" {
		groups = int(node.AttrInt("group", 1))
	}
	return &IntegerWeights{layer: l, w: kernel.PackQWeights(rows, k, groups, rowMajor), scales: append([]float64(nil), scales...)}, nil
}

// IntegerOp reports whether the integer kernels run layer l's op as it is
// written: a Conv, a Gemm that does not read its input transposed, or a
// MatMul x @ W (not W @ x, a ConvTranspose or an Einsum, which stay in
// floating point).
func (m *Model) IntegerOp(l int) bool {
	node := m.Graph.Nodes[m.Layers[l].node]
	switch node.Op {
	case "Conv":
		return true
	case "MatMul":
		return !m.Layers[l].WeightFirst
	case "Gemm":
		return node.AttrInt("transA", 0) == 0
	}
	return false
}

// outScales sets dst[m] = float32(scales[m]·sx·alpha), the factor that
// dequantizes an integer sum of output channel m, and returns dst.
func (iw *IntegerWeights) outScales(dst []float32, sx float32, alpha float64) []float32 {
	if len(dst) != len(iw.scales) {
		dst = make([]float32, len(iw.scales))
	}
	for m, s := range iw.scales {
		dst[m] = float32(s * float64(sx) * alpha)
	}
	return dst
}

// SetIntegerLayer makes layer l compute its forward pass in integer
// arithmetic with w, as a deployment runtime does: its input quantized to
// uint8 codes by the layer's input quantizer (SetInputQuant), exact int32
// sums of codes, dequantized to float32 (kernel.QConvForward,
// kernel.QLinearForward). It applies while the layer also has an input
// quantizer whose codes fit [0, 255]; otherwise, and when w is nil, the
// layer computes in floating point with the weight of SetWeight. Only
// float32 sessions compute in integers.
//
// Backward cannot follow a Forward that ran integer layers: integer
// arithmetic has no gradient.
func (s *Session[T]) SetIntegerLayer(l int, w *IntegerWeights) error {
	if w != nil {
		var z T
		if _, ok := any(z).(float32); !ok {
			return fmt.Errorf("engine: integer layers need a float32 session, not %T", z)
		}
		if w.layer != l {
			return fmt.Errorf("engine: integer weights of layer %d set on layer %d", w.layer, l)
		}
	}
	s.ints[l] = w
	return nil
}

// IntegerLayers reports, for each layer, whether the last Forward computed
// it in integer arithmetic.
func (s *Session[T]) IntegerLayers() []bool {
	out := make([]bool, len(s.m.Layers))
	if s.last != nil {
		copy(out, s.last.intRan)
	}
	return out
}

// integer returns layer's integer weights and input quantizer when the
// layer computes in integers, recording that it does.
func (st *state[T]) integer(layer int) (*IntegerWeights, *kernel.FakeQuant[float32]) {
	if layer < 0 {
		return nil, nil
	}
	iw, q := st.sess.ints[layer], st.sess.quant[layer]
	if iw == nil || q == nil || q.Lo < 0 || q.Hi > 255 {
		return nil, nil
	}
	st.intRan[layer] = true
	// SetIntegerLayer admits float32 sessions only.
	return iw, (*kernel.FakeQuant[float32])(unsafe.Pointer(q))
}

// f32 returns s as []float32; T is float32 (see SetIntegerLayer).
func f32[T Float](s []T) []float32 {
	if s == nil {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// forwardInteger runs the convolution in integer arithmetic when its layer
// has integer weights; it reports whether it did.
func (s *convStep[T]) forwardInteger(st *state[T], bias []T) bool {
	iw, q := st.integer(s.layer)
	if iw == nil {
		return false
	}
	if s.qwork == nil {
		s.qwork = make([]*kernel.QConvWork, kernel.Workers())
		for i := range s.qwork {
			s.qwork[i] = new(kernel.QConvWork)
		}
	}
	s.qscale = iw.outScales(s.qscale, q.Scale, 1)
	conv := kernel.QConvForward
	if s.relu {
		conv = kernel.QConvForwardReLU
	}
	conv(st.team(), s.g, s.n, f32(st.data[s.in[0]]), iw.w, q, s.qscale, f32(bias), f32(st.data[s.out[0]]), s.qwork)
	return true
}

// forwardInteger runs the Gemm in integer arithmetic when its layer has
// integer weights; it reports whether it did.
func (s *gemmStep[T]) forwardInteger(st *state[T]) bool {
	iw, q := st.integer(s.layer)
	if iw == nil {
		return false
	}
	s.qscale = iw.outScales(s.qscale, q.Scale, float64(s.alpha))
	y := st.data[s.out[0]]
	kernel.QLinearForward(st.team(), s.m, f32(st.data[s.in[0]]), iw.w, q, s.qscale, nil, f32(y), &s.qwork)
	if s.cIdx != nil {
		c := st.data[s.in[2]]
		for i, ci := range s.cIdx {
			y[i] += s.beta * c[ci]
		}
	}
	s.usedA = nil
	return true
}

// forwardInteger runs the MatMul in integer arithmetic when its layer has
// integer weights; it reports whether it did.
func (s *matmulStep[T]) forwardInteger(st *state[T]) bool {
	iw, q := st.integer(s.layer)
	if iw == nil {
		return false
	}
	s.qscale = iw.outScales(s.qscale, q.Scale, 1)
	y := st.data[s.out[0]]
	kernel.QLinearForward(st.team(), len(y)/s.n, f32(st.data[s.in[0]]), iw.w, q, s.qscale, nil, f32(y), &s.qwork)
	s.usedA = nil
	return true
}
