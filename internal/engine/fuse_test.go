package engine_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"mpq/internal/engine"
	"mpq/internal/kernel"
	"mpq/internal/onnxio"
)

// TestInferenceSession checks that an inference session (Conv+Relu fused)
// computes bit for bit what a plain session does, in float, fake-quantized
// (8-bit weights and inputs) and integer arithmetic, on the shipped and
// benchmark CNNs and every zoo model: the logits and every layer's input.
// It also checks that the backward and suffix methods refuse, and that
// the fusion happens on the models where it should (lenet's two Conv+Relu
// pairs; fusing none would pass the comparisons).
func TestInferenceSession(t *testing.T) {
	dir, man := readZooManifest(t)
	files := []string{}
	for _, name := range []string{"mlp", "lenet", "resnet", "resnet_bn", "cnn4", "cnn3h"} {
		files = append(files, filepath.Join(repo, "testdata/models", name+".onnx"))
	}
	for _, z := range man.Models {
		files = append(files, filepath.Join(dir, z.File))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m, err := onnxio.LoadModel(file)
			if err != nil {
				t.Fatal(err)
			}
			n := m.InputShape[0]
			if n < 1 {
				n = 5
			}
			per := 1
			for _, d := range m.SampleShape() {
				per *= d
			}
			rng := rand.New(rand.NewPCG(11, uint64(len(file))))
			x := make([]float32, n*per)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			plain, fused := engine.NewSession[float32](m), engine.NewInferenceSession[float32](m)
			// Batch n: whole images per worker; batch 1 (when the model
			// allows it): one image split across the workers.
			batches := []int{n}
			if m.InputShape[0] < 1 {
				batches = append(batches, 1)
			}
			compare := func(mode string) {
				t.Helper()
				for _, b := range batches {
					want, err := plain.Forward(x[:b*per], b)
					if err != nil {
						t.Fatal(err)
					}
					got, err := fused.Forward(x[:b*per], b)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(math32bits(got), math32bits(want)) {
						t.Fatalf("%s, batch %d: logits differ: %v, want %v", mode, b, got, want)
					}
					for l, layer := range m.Layers {
						if !slices.Equal(math32bits(fused.LayerInput(l)), math32bits(plain.LayerInput(l))) {
							t.Fatalf("%s, batch %d: layer %q's input differs", mode, b, layer.Name)
						}
					}
				}
			}
			compare("float")
			if len(m.Layers) == 0 {
				return
			}
			// Fake quantization: 8-bit weights, inputs over their range.
			for l := range m.Layers {
				lo, hi := 0.0, 0.0
				for _, v := range plain.LayerInput(l) {
					lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
				}
				s := (hi - lo) / 255
				if s == 0 {
					s = 1
				}
				q := &kernel.FakeQuant[float32]{Scale: float32(s), ZP: float32(math.RoundToEven(-lo / s)), Lo: 0, Hi: 255}
				_, _, deq := symmetricCodes(m, l)
				for _, ss := range []*engine.Session[float32]{plain, fused} {
					ss.SetWeight(l, deq)
					ss.SetInputQuant(l, q)
				}
			}
			compare("fake-quant")
			integer := false
			for l := range m.Layers {
				codes, scales, _ := symmetricCodes(m, l)
				iw, err := engine.NewIntegerWeights(m, l, codes, scales)
				if err != nil {
					continue
				}
				for _, ss := range []*engine.Session[float32]{plain, fused} {
					if err := ss.SetIntegerLayer(l, iw); err != nil {
						t.Fatal(err)
					}
				}
				integer = true
			}
			if integer {
				compare("integer")
			}
			if _, err := fused.Backward(make([]int, n)); err == nil {
				t.Error("Backward on an inference session: no error")
			}
			if _, err := fused.FrontierSize(0); err == nil {
				t.Error("FrontierSize on an inference session: no error")
			}
			if _, err := fused.Frontier(0, nil); err == nil {
				t.Error("Frontier on an inference session: no error")
			}
			if _, err := fused.ForwardSuffix(0, n, nil); err == nil {
				t.Error("ForwardSuffix on an inference session: no error")
			}
		})
	}
}

// math32bits returns the bit patterns of v, so that NaNs compare equal.
func math32bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}
