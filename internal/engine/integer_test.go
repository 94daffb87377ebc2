package engine_test

import (
	"math"
	"path/filepath"
	"testing"

	"mpq/internal/engine"
	"mpq/internal/kernel"
	"mpq/internal/onnxio"
)

// symmetricCodes quantizes layer l's weight with 8-bit symmetric
// per-output-channel codes, in the initializer's layout, and returns the
// codes, the scales and the dequantized weight code·scale as float32.
func symmetricCodes(m *engine.Model, l int) ([]int8, []float64, []float32) {
	layer := m.Layers[l]
	w := m.Graph.Init[layer.Weight].Floats()
	rows, k := layer.Channels, layer.Params/layer.Channels
	at := func(c, i int) int { // index of channel c's i-th weight
		if layer.ChannelAxis == 1 {
			return i*rows + c
		}
		return c*k + i
	}
	codes, scales, deq := make([]int8, len(w)), make([]float64, rows), make([]float32, len(w))
	for c := range rows {
		for i := range k {
			scales[c] = math.Max(scales[c], math.Abs(w[at(c, i)])/127)
		}
		for i := range k {
			j := at(c, i)
			if scales[c] > 0 {
				codes[j] = int8(math.RoundToEven(w[j] / scales[c]))
			}
			deq[j] = float32(float64(codes[j]) * scales[c])
		}
	}
	return codes, scales, deq
}

// TestIntegerLayers runs models covering Conv (groups, depthwise, strides,
// pads), Gemm (transB 0 and 1, alpha, beta, bias broadcast) and MatMul
// (constant and batched inputs) with every layer in integer arithmetic and
// compares the logits with the same quantization done in float32 (fake
// quantization): they differ by float32 rounding only.
func TestIntegerLayers(t *testing.T) {
	for _, path := range []string{"testdata/opzoo/conv_variants.onnx", "testdata/opzoo/gemm_matmul.onnx", "testdata/opzoo/opset11_cnn.onnx", "testdata/models/lenet.onnx"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(repo, path))
			if err != nil {
				t.Fatal(err)
			}
			var x []float32
			if filepath.Base(filepath.Dir(path)) == "opzoo" {
				x = readNPY[float32](t, filepath.Join(repo, path[:len(path)-len(".onnx")]+".input.npy"))
			} else {
				x = loadMNISTTest(t, m).BatchAt(0, 64).X
			}
			per := 1
			for _, d := range m.SampleShape() {
				per *= d
			}
			n := len(x) / per
			// Input quantizers from the float ranges, 8-bit asymmetric.
			ref := engine.NewSession[float32](m)
			if _, err := ref.Forward(x, n); err != nil {
				t.Fatal(err)
			}
			quants := make([]kernel.FakeQuant[float32], len(m.Layers))
			for l := range m.Layers {
				lo, hi := 0.0, 0.0
				for _, v := range ref.LayerInput(l) {
					lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
				}
				s := (hi - lo) / 255
				quants[l] = kernel.FakeQuant[float32]{Scale: float32(s), ZP: float32(math.RoundToEven(-lo / s)), Lo: 0, Hi: 255}
			}
			fake, integer := engine.NewSession[float32](m), engine.NewSession[float32](m)
			for l := range m.Layers {
				codes, scales, deq := symmetricCodes(m, l)
				iw, err := engine.NewIntegerWeights(m, l, codes, scales)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []*engine.Session[float32]{fake, integer} {
					s.SetWeight(l, deq)
					s.SetInputQuant(l, &quants[l])
				}
				if err := integer.SetIntegerLayer(l, iw); err != nil {
					t.Fatal(err)
				}
			}
			want, err := fake.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := integer.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			for l, ran := range integer.IntegerLayers() {
				if !ran {
					t.Errorf("layer %q did not run in integers", m.Layers[l].Name)
				}
			}
			scale := 1.0
			for _, v := range want {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*scale {
					t.Fatalf("logit %d: integer %g, fake-quant %g", i, got[i], want[i])
				}
			}
			if _, err := integer.Backward(make([]int, n)); err == nil {
				t.Error("Backward after an integer Forward: no error")
			}
			// Turned off, the layers compute in float again.
			for l := range m.Layers {
				if err := integer.SetIntegerLayer(l, nil); err != nil {
					t.Fatal(err)
				}
			}
			again, err := integer.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			for i := range again {
				if again[i] != want[i] {
					t.Fatalf("logit %d after SetIntegerLayer(nil): %g, want %g", i, again[i], want[i])
				}
			}
		})
	}
}

func TestIntegerLayerErrors(t *testing.T) {
	m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models/lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	codes, scales, _ := symmetricCodes(m, 0)
	iw, err := engine.NewIntegerWeights(m, 0, codes, scales)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.NewSession[float64](m).SetIntegerLayer(0, iw); err == nil {
		t.Error("float64 session accepted integer weights")
	}
	if err := engine.NewSession[float32](m).SetIntegerLayer(1, iw); err == nil {
		t.Error("layer 1 accepted layer 0's integer weights")
	}
	codes[3] = -128
	if _, err := engine.NewIntegerWeights(m, 0, codes, scales); err == nil {
		t.Error("code −128 accepted")
	}
	if _, err := engine.NewIntegerWeights(m, 0, codes[1:], scales); err == nil {
		t.Error("short codes accepted")
	}
}
