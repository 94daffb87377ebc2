package evaluator

import (
	"mpq/internal/engine"
	"mpq/internal/quant"
)

// Cost is a plan's price.
type Cost struct {
	// SizeBits = Σ params × weight bits (binary counts 1, ternary 2, float 32).
	SizeBits int64 `json:"size_bits"`
	// BOPs = Σ MACs per sample × weight bits × activation bits; a
	// recurrent layer's products with its hidden state, which stays in
	// floating point, count 32 activation bits.
	BOPs int64 `json:"bops"`
	// OverheadBits counts the quantization parameters stored beside the
	// weights: per-channel scales, codebooks, activation scale and zero point
	// (32 bits each).
	OverheadBits int64 `json:"overhead_bits"`
	// Compression is the fp32 weight size over SizeBits.
	Compression float64 `json:"compression"`
}

// CostOf prices plan p on model m.
func CostOf(m *engine.Model, p Plan) Cost {
	var c Cost
	var fp int64
	for i, l := range m.Layers {
		s := p[i]
		wb := int64(quant.EffectiveBits(quant.WeightSpec{Method: s.WeightQuantizer, Bits: s.WeightBits}))
		ab := int64(s.ActivationBits)
		c.SizeBits += int64(l.Params) * wb
		c.BOPs += l.MACs*wb*ab + l.StateMACs*wb*FloatBits
		fp += int64(l.Params) * 32
		if s.WeightBits != FloatBits {
			switch s.WeightQuantizer {
			case quant.KMeans, quant.KMeansHessian:
				c.OverheadBits += (int64(1) << s.WeightBits) * 32
			case quant.Pow2:
				c.OverheadBits += 2 * 32
			default:
				c.OverheadBits += int64(l.Channels) * 32
			}
		}
		if s.ActivationBits != FloatBits {
			c.OverheadBits += 2 * 32
		}
	}
	if c.SizeBits > 0 {
		c.Compression = float64(fp) / float64(c.SizeBits)
	}
	return c
}
