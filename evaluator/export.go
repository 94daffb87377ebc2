package evaluator

import (
	"fmt"
	"math"
	"slices"

	"mpq/internal/engine"
	"mpq/internal/quant"
)

// LayerQuant is how a plan quantizes one layer, with the numbers evaluation
// computes with, for exporters: the weight as the session receives it and,
// where the weight is on a uniform grid that fits int8, its integer codes and
// per-channel scales; the input's affine quantizer and the calibrated range
// it came from.
type LayerQuant struct {
	Spec LayerSpec
	// Weight is the quantized weight exactly as evaluation uses it
	// (float32, in the weight initializer's layout); nil when the weight
	// stays float.
	Weight []float32
	// Scales is set for the uniform quantizer at 2–16 bits: one scale per
	// output channel (the model's Layer.ChannelAxis indexes them). Codes is
	// set at 2–8 bits: the integer codes in the initializer's layout, within
	// ±(2^(bits−1) − 1), with Weight[i] == float32(float64(Codes[i]) ·
	// Scales[c]) exactly. An all-zero channel has scale 0 and codes 0.
	Codes  []int8
	Scales []float64
	// Input is the input-activation quantizer; nil when the input stays
	// float.
	Input *InputQuant
}

// InputQuant is a layer's input quantizer as evaluation applies it: codes
// 0..2^Bits−1, x̂ = (clamp(round(x/Scale) + ZeroPoint, 0, 2^Bits−1) −
// ZeroPoint)·Scale, computed in float32 with float32(Scale).
type InputQuant struct {
	quant.Affine
	// Range is the calibrated range the quantizer covers (before
	// AffineFromRange widens it to contain zero).
	Range Range
	// Method is the calibration method that observed Range.
	Method string
}

// Scale32 is the scale evaluation computes with.
func (q *InputQuant) Scale32() float32 { return float32(q.Scale) }

// Quantization returns every layer's quantization under plan p, computed by
// the same code evaluation uses: weights through the cache (so kmeans-hessian
// sees the cache's Hessian-diagonal estimates) and inputs through
// calib.Affine. calib may be nil when no layer quantizes its input; weights
// may be nil (a private cache is made).
func Quantization(m *engine.Model, p Plan, calib *Calibration, weights *WeightCache) ([]LayerQuant, error) {
	if err := p.Validate(m); err != nil {
		return nil, err
	}
	if weights == nil {
		weights = NewWeightCache(m)
	}
	out := make([]LayerQuant, len(p))
	for l, s := range p {
		lq := LayerQuant{Spec: s}
		if s.WeightBits != FloatBits {
			w, err := weights.Get(l, s.WeightQuantizer, s.WeightBits)
			if err != nil {
				return nil, err
			}
			lq.Weight = slices.Clone(w)
			if s.WeightQuantizer == quant.Uniform && s.WeightBits >= 2 {
				if lq.Codes, lq.Scales, err = uniformCodes(m, l, s.WeightBits, lq.Weight); err != nil {
					return nil, err
				}
			}
		}
		if s.ActivationBits != FloatBits {
			c, err := inputCalibration(m, calib, l, s)
			if err != nil {
				return nil, err
			}
			lq.Input = &InputQuant{Affine: c.Affine(l, s.ActivationBits), Range: c.Range(l, s.ActivationBits), Method: c.Method}
		}
		out[l] = lq
	}
	return out, nil
}

// inputCalibration picks the calibration layer l's input uses under spec s,
// as Evaluator.Apply does.
func inputCalibration(m *engine.Model, calib *Calibration, l int, s LayerSpec) (*Calibration, error) {
	if calib == nil {
		return nil, fmt.Errorf("evaluator: layer %q quantizes its input but no calibration was run", m.Layers[l].Name)
	}
	if s.Calibration == "" || s.Calibration == calib.Method {
		return calib, nil
	}
	alt, ok := calib.ByMethod[s.Calibration]
	if !ok {
		return nil, fmt.Errorf("evaluator: layer %q asks for %s calibration, which was not run", m.Layers[l].Name, s.Calibration)
	}
	return alt, nil
}

// uniformCodes recomputes the scales of layer l's uniform quantization at
// bits (2..16) with quant.UniformScales and its codes with UniformCodes,
// checks that they dequantize to w, the weight evaluation uses, bit for bit,
// and returns the codes in the initializer's layout when they fit int8
// (bits ≤ 8; nil otherwise) and the per-channel scales.
func uniformCodes(m *engine.Model, l, bits int, w []float32) ([]int8, []float64, error) {
	layer := m.Layers[l]
	src := m.Graph.Init[layer.Weight].Floats()
	if layer.ChannelAxis != 0 {
		src = quant.ChannelMajor(src, layer.Shape, layer.ChannelAxis)
	}
	scales := make([]float64, layer.Channels)
	quant.UniformScales(src, layer.Channels, bits, scales)
	for _, s := range scales {
		if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
			return nil, nil, fmt.Errorf("evaluator: layer %q: weight scale %v is not finite and non-negative", layer.Name, s)
		}
	}
	cm := make([]int16, len(src)) // channel-major
	quant.UniformCodes(cm, src, layer.Channels, bits, scales)
	codes := cm
	if layer.ChannelAxis != 0 {
		codes = make([]int16, len(cm))
		quant.FromChannelMajor(codes, cm, layer.Shape, layer.ChannelAxis)
	}
	lim := int16(1<<(bits-1) - 1)
	for i, q := range codes {
		c := quant.ChannelOf(i, layer.Shape, layer.ChannelAxis)
		if v := float32(float64(q) * scales[c]); v != w[i] {
			return nil, nil, fmt.Errorf("evaluator: layer %q: integer code %d × scale %v = %v, but evaluation uses %v for weight %d; the uniform quantizer and its codes disagree (a bug in mpq)", layer.Name, q, scales[c], v, w[i], i)
		}
		if q > lim || q < -lim {
			return nil, nil, fmt.Errorf("evaluator: layer %q: code %d outside ±%d (a bug in mpq)", layer.Name, q, lim)
		}
	}
	if bits > 8 {
		return nil, scales, nil
	}
	out := make([]int8, len(codes))
	for i, q := range codes {
		out[i] = int8(q)
	}
	return out, scales, nil
}

// Logits applies plan p and returns the logits (n × classes, a copy) of the
// n samples in x, in the model's input layout.
func (e *Evaluator) Logits(p Plan, x []float32, n int) ([]float32, error) {
	if err := e.Apply(p); err != nil {
		return nil, err
	}
	y, err := e.sess.Forward(x, n)
	if err != nil {
		return nil, err
	}
	return slices.Clone(y), nil
}
