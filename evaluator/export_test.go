package evaluator

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"mpq/internal/dataset"
	"mpq/internal/onnxio"
	"mpq/internal/quant"
)

// TestQuantizationIsWhatApplyUses checks that Quantization reports the very
// weights and input quantizers Apply gives the session, and that the int8
// codes times the scales are those weights, for channels on axis 0 (Conv,
// Gemm with transB=1, MatMul W @ x) and axis 1 (Gemm with transB=0,
// MatMul x @ W, ConvTranspose, an Einsum layer).
func TestQuantizationIsWhatApplyUses(t *testing.T) {
	for _, name := range []string{"opzoo/gemm_matmul", "opzoo/conv_variants", "models/lenet", "opzoo/conv_transpose", "opzoo/einsum", "opzoo/weight_first"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join("..", "testdata", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			per := 1
			for _, d := range m.SampleShape() {
				per *= d
			}
			x := make([]float32, 4*per)
			for i := range x {
				x[i] = float32(i%17)/8 - 1
			}
			data := &dataset.Dataset{Name: "synthetic", X: x, Labels: make([]int, 4), Shape: m.SampleShape()}
			calib, err := Calibrate(context.Background(), m, data, MinMax, 0, 4)
			if err != nil {
				t.Fatal(err)
			}
			specs := []LayerSpec{
				{WeightQuantizer: quant.Uniform, WeightBits: 4, ActivationBits: 4},
				{WeightQuantizer: quant.Uniform, WeightBits: 8, ActivationBits: 8},
				{WeightQuantizer: quant.KMeans, WeightBits: 3, ActivationBits: 32},
				{WeightQuantizer: quant.Uniform, WeightBits: 12, ActivationBits: 6},
				{WeightQuantizer: quant.Uniform, WeightBits: 32, ActivationBits: 2},
			}
			p := make(Plan, len(m.Layers))
			for i := range p {
				p[i] = specs[i%len(specs)]
			}
			ev, err := New(m, data, 4, calib, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.Apply(p); err != nil {
				t.Fatal(err)
			}
			qs, err := Quantization(m, p, calib, nil)
			if err != nil {
				t.Fatal(err)
			}
			for l, q := range qs {
				s := p[l]
				if s.WeightBits == FloatBits {
					if q.Weight != nil {
						t.Errorf("layer %d: float weight reported as quantized", l)
					}
				} else if !slices.Equal(q.Weight, ev.sess.Weight(l)) {
					t.Errorf("layer %d: weights differ from the session's", l)
				}
				if want := s.WeightQuantizer == quant.Uniform && s.WeightBits >= 2 && s.WeightBits <= 8; (q.Codes != nil) != want {
					t.Errorf("layer %d (%v/%d): codes %v", l, s.WeightQuantizer, s.WeightBits, q.Codes != nil)
				}
				if q.Codes != nil {
					layer := m.Layers[l]
					for i, c := range q.Codes {
						ch := i / (len(q.Codes) / layer.Channels)
						if layer.ChannelAxis == 1 { // K × M, or C_in × C_out × kernel
							inner := len(q.Codes) / (layer.Shape[0] * layer.Shape[1])
							ch = i / inner % layer.Shape[1]
						}
						if float32(float64(c)*q.Scales[ch]) != q.Weight[i] {
							t.Fatalf("layer %d: code %d × scale ≠ weight %d", l, c, i)
						}
					}
				}
				if s.ActivationBits == FloatBits {
					if q.Input != nil {
						t.Errorf("layer %d: float input reported as quantized", l)
					}
					continue
				}
				fq := ev.fq[l]
				if q.Input == nil || q.Input.Scale32() != fq.Scale || float32(q.Input.ZeroPoint) != fq.ZP || float32(int(1)<<q.Input.Bits-1) != fq.Hi {
					t.Errorf("layer %d: input %+v, Apply uses %+v", l, q.Input, fq)
				}
			}
		})
	}
}
