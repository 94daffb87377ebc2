package engine_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"codeberg.org/sbinet/npyio"
	"codeberg.org/sbinet/npyio/npz"

	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

type zooManifest struct {
	Models []struct {
		Name     string   `json:"name"`
		File     string   `json:"file"`
		Opset    int      `json:"opset"`
		Ops      []string `json:"ops"`
		Labels   bool     `json:"labels"`
		Grads    bool     `json:"grads"`
		GradKeys []string `json:"grad_keys"`
		Loss     float64  `json:"loss"`
	} `json:"models"`
}

func readNPY[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var v []T
	if err := npyio.Read(f, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestOpZoo runs small PyTorch exports covering every supported op (made by
// scripts/make_opzoo.py) and compares outputs, loss and weight gradients with
// PyTorch's.
func TestOpZoo(t *testing.T) {
	dir := filepath.Join(repo, "testdata/opzoo")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man zooManifest
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	for _, z := range man.Models {
		t.Run(z.Name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(dir, z.File))
			if err != nil {
				t.Fatal(err)
			}
			x := readNPY[float32](t, filepath.Join(dir, z.Name+".input.npy"))
			want := readNPY[float32](t, filepath.Join(dir, z.Name+".output.npy"))
			per := 1
			for _, d := range m.SampleShape() {
				per *= d
			}
			n := len(x) / per
			x64 := make([]float64, len(x))
			for i, v := range x {
				x64[i] = float64(v)
			}
			s32 := engine.NewSession[float32](m)
			got, err := s32.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d outputs, PyTorch has %d", len(got), len(want))
			}
			scale := 1.0
			for _, v := range want {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*scale {
					t.Fatalf("output[%d] = %g, PyTorch %g", i, got[i], want[i])
				}
			}
			if !z.Grads {
				return
			}
			labels64 := readNPY[int64](t, filepath.Join(dir, z.Name+".labels.npy"))
			labels := make([]int, len(labels64))
			for i, v := range labels64 {
				labels[i] = int(v)
			}
			s64 := engine.NewSession[float64](m)
			if _, err := s64.Forward(x64, n); err != nil {
				t.Fatal(err)
			}
			loss, err := s64.Backward(labels)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(loss-z.Loss) > 1e-4*max(1, math.Abs(z.Loss)) {
				t.Errorf("loss %g, PyTorch %g", loss, z.Loss)
			}
			f, err := os.Open(filepath.Join(dir, z.Name+".grads.npz"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			r, err := npz.NewReader(f, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range z.GradKeys {
				l, ok := m.Layer(key)
				if !ok {
					t.Errorf("gradient for %q: no such layer", key)
					continue
				}
				var gw []float32
				if err := r.Read(key+".npy", &gw); err != nil {
					if err := r.Read(key, &gw); err != nil {
						t.Fatalf("%s: %v", key, err)
					}
				}
				g := s64.WeightGrad(l)
				gs := 1e-3
				for _, v := range gw {
					gs = max(gs, math.Abs(float64(v)))
				}
				for i := range g {
					if d := math.Abs(g[i] - float64(gw[i])); d > 1e-3*gs {
						t.Fatalf("d loss/d %s [%d] = %g, PyTorch %g", key, i, g[i], gw[i])
					}
				}
			}
		})
	}
}
