package engine_test

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

// TestForwardSuffix checks, on every layer of the shipped models (a chain,
// residual CNNs with BatchNorm kept and folded) and of the zoo's models
// with branches, that rerunning a layer's suffix from a saved frontier
// gives bit for bit the logits and the layer's weight gradient of a full
// Forward and Backward with the perturbed weight, and that BackwardLayer
// after a full Forward gives Backward's gradient bit for bit. Between
// saving and rerunning, another input runs through the session, so a
// frontier that is not restored, or a step missing from the suffix, shows.
func TestForwardSuffix(t *testing.T) {
	dir, man := readZooManifest(t)
	files := []string{}
	for _, name := range []string{"mlp", "lenet", "resnet", "resnet_bn", "cnn4"} {
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
			if len(m.Layers) == 0 {
				t.Skip("no layers")
			}
			n := m.InputShape[0]
			if n < 1 {
				n = 3
			}
			per := 1
			for _, d := range m.SampleShape() {
				per *= d
			}
			rng := rand.New(rand.NewPCG(7, uint64(len(file))))
			x := make([]float64, n*per)
			other := make([]float64, n*per)
			for i := range x {
				x[i] = rng.NormFloat64()
				other[i] = rng.NormFloat64()
			}
			labels := make([]int, n)
			for i := range labels {
				labels[i] = rng.IntN(m.Classes)
			}
			s := engine.NewSession[float64](m)
			for l, layer := range m.Layers {
				s.SetWeight(l, nil)
				if _, err := s.Forward(x, n); err != nil {
					t.Fatal(err)
				}
				saved, err := s.Frontier(l, nil)
				if err != nil {
					t.Fatal(err)
				}
				if saved == nil {
					continue
				}
				w := slices.Clone(s.FloatWeight(l))
				for j := range w {
					w[j] += 0.05 * rng.NormFloat64()
				}
				s.SetWeight(l, w)
				logits, err := s.Forward(x, n)
				if err != nil {
					t.Fatal(err)
				}
				want := slices.Clone(logits)
				if _, err := s.Backward(labels); err != nil {
					t.Fatal(err)
				}
				wantG := slices.Clone(s.WeightGrad(l))
				if _, err := s.BackwardLayer(labels, l); err != nil {
					t.Fatal(err)
				}
				if g := s.WeightGrad(l); !slices.Equal(g, wantG) {
					t.Fatalf("layer %s: BackwardLayer's gradient differs from Backward's", layer.Name)
				}
				if _, err := s.Forward(other, n); err != nil {
					t.Fatal(err)
				}
				got, err := s.ForwardSuffix(l, n, saved)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("layer %s: suffix logits differ from a full forward pass", layer.Name)
				}
				if _, err := s.BackwardLayer(labels, l); err != nil {
					t.Fatal(err)
				}
				if g := s.WeightGrad(l); !slices.Equal(g, wantG) {
					t.Fatalf("layer %s: gradient after the suffix differs from a full pass's", layer.Name)
				}
			}
		})
	}
}

// TestForwardSuffixErrors checks the misuse errors.
func TestForwardSuffixErrors(t *testing.T) {
	m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewSession[float64](m)
	if _, err := s.Frontier(0, nil); err == nil {
		t.Fatal("Frontier before Forward: no error")
	}
	if _, err := s.ForwardSuffix(1, 2, nil); err == nil {
		t.Fatal("ForwardSuffix with no saved values: no error")
	}
	if _, err := s.ForwardSuffix(1, 2, [][]float64{{1, 2}}); err == nil {
		t.Fatal("ForwardSuffix with a short saved value: no error")
	}
}
