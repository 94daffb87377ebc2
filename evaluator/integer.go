package evaluator

import (
	"errors"

	"mpq/internal/engine"
	"mpq/internal/quant"
)

// Option configures an Evaluator (see New).
type Option func(*Evaluator)

// WithIntegerArithmetic makes the evaluator compute every layer that
// IntegerEligible admits in integer arithmetic, as a deployment runtime
// does, instead of simulating it with fake-quantized float32: the layer's
// input is quantized to its uint8 codes, the weights are the int8 codes of
// the uniform quantizer, products are summed exactly in int32 with the
// zero point subtracted (Σ w·(x − zp) = Σ w·x − zp·Σ w), and each sum is
// dequantized with s_w[c]·s_x and the float bias. Other layers, and every
// operation between layers, stay in float32 in the same graph.
//
// The quantized values are exactly those of the fake-quant path: only the
// order and precision of the float32 accumulation differ, so predictions
// agree except where two logits are nearly tied (see the package tests).
func WithIntegerArithmetic() Option {
	return func(e *Evaluator) { e.SetIntegerArithmetic(true) }
}

// SetIntegerArithmetic turns integer arithmetic (WithIntegerArithmetic) on
// or off for the plans applied from now on, for evaluators made by others
// (search.Workspace.Evaluator).
func (e *Evaluator) SetIntegerArithmetic(on bool) { e.integer = on }

// IntegerEligible reports whether layer l of m under s can compute in
// integer arithmetic: weights and input both quantized, with at most 8
// bits, by the uniform (or binary) weight quantizer, whose codes are
// integers with one scale per output channel, and an inner dimension small
// enough for exact int32 sums, in an op the integer kernels run
// (engine.Model.IntegerOp). Non-uniform quantizers (ternary, k-means,
// power-of-two) have codebooks, not integer grids with one scale, and
// stay in floating point.
func IntegerEligible(m *engine.Model, l int, s LayerSpec) bool {
	if s.WeightBits == FloatBits || s.ActivationBits == FloatBits || s.ActivationBits > 8 {
		return false
	}
	method, err := quant.ParseMethod(string(s.WeightQuantizer))
	switch {
	case err != nil:
		return false
	case method == quant.Uniform && s.WeightBits > 8:
		return false
	case method != quant.Uniform && method != quant.Binary:
		return false
	}
	layer := m.Layers[l]
	return m.IntegerOp(l) && layer.Params/layer.Channels <= maxIntegerDepth
}

// maxIntegerDepth is kernel.QMaxDepth, the largest inner dimension whose
// int32 sums are exact, restated so that the evaluator need not import
// the kernels.
const maxIntegerDepth = (1<<31 - 1) / (127 * 255)

// IntegerLayers reports, for each layer, whether the last batch evaluated
// computed it in integer arithmetic.
func (e *Evaluator) IntegerLayers() []bool { return e.sess.IntegerLayers() }

// applyInteger sets the session's integer layers for plan p, which Apply
// has validated and whose weights and input quantizers it has set.
func (e *Evaluator) applyInteger(p Plan) error {
	for l, s := range p {
		var iw *engine.IntegerWeights
		if e.integer && IntegerEligible(e.model, l, s) {
			bits := s.WeightBits
			if m, _ := quant.ParseMethod(string(s.WeightQuantizer)); m == quant.Binary {
				bits = 1 // the binary quantizer is the uniform one at one bit
			}
			w, err := e.weights.integerWeights(l, bits)
			switch {
			case errors.Is(err, engine.ErrNotInteger):
				// The integer kernels do not run the layer's op as it is
				// written (a Gemm with transA, a ConvTranspose): it stays
				// in floating point, its input and weight fake-quantized.
			case err != nil:
				return err
			default:
				iw = w
			}
		}
		for _, ss := range e.sessions {
			if err := ss.SetIntegerLayer(l, iw); err != nil {
				return err
			}
		}
	}
	return nil
}

// integerWeights returns layer l's weight as the codes and per-channel
// scales of the uniform quantizer at bits (at one bit: the binary one),
// packed for integer arithmetic, cached like Get. The codes are those
// whose code·scale is, bit for bit, the weight Get returns before its
// conversion to float32.
func (c *WeightCache) integerWeights(l int, bits int) (*engine.IntegerWeights, error) {
	k := wkey{l, quant.Uniform, bits}
	c.mu.Lock()
	iw, ok := c.ints[k]
	c.mu.Unlock()
	if ok {
		return iw, nil
	}
	layer := c.model.Layers[l]
	w := c.model.Graph.Init[layer.Weight].Floats()
	rows := layer.Channels
	wcm := w
	if layer.ChannelAxis != 0 {
		wcm = quant.ChannelMajor(w, layer.Shape, layer.ChannelAxis)
	}
	scales := make([]float64, rows)
	quant.UniformScales(wcm, rows, bits, scales)
	codes := make([]int8, len(w))
	quant.UniformCodes(codes, wcm, rows, bits, scales)
	if layer.ChannelAxis != 0 {
		cm := codes
		codes = make([]int8, len(cm))
		quant.FromChannelMajor(codes, cm, layer.Shape, layer.ChannelAxis)
	}
	iw, err := engine.NewIntegerWeights(c.model, l, codes, scales)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.ints[k] = iw
	c.mu.Unlock()
	return iw, nil
}
