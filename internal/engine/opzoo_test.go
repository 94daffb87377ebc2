package engine_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

// readZooManifest returns the operator zoo's directory and manifest.
func readZooManifest(t *testing.T) (string, zooManifest) {
	t.Helper()
	dir := filepath.Join(repo, "testdata/opzoo")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man zooManifest
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	return dir, man
}

// zooBatch64 returns zoo model name's input batch in float64 and its labels.
func zooBatch64(t *testing.T, dir, name string) ([]float64, []int) {
	t.Helper()
	x32 := readNPY[float32](t, filepath.Join(dir, name+".input.npy"))
	labels64 := readNPY[int64](t, filepath.Join(dir, name+".labels.npy"))
	x := make([]float64, len(x32))
	for i, v := range x32 {
		x[i] = float64(v)
	}
	labels := make([]int, len(labels64))
	for i, v := range labels64 {
		labels[i] = int(v)
	}
	return x, labels
}

// TestOpZoo runs small PyTorch exports covering every supported op (made by
// scripts/make_opzoo.py) and compares outputs, loss and weight gradients with
// PyTorch's.
func TestOpZoo(t *testing.T) {
	dir, man := readZooManifest(t)
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

// TestOpZooLargeBatch runs the activation and normalization models of the
// zoo on a batch large enough that every step splits its work over the
// session's workers, and checks logits and input gradients against the
// same samples run one at a time (where nothing is split).
func TestOpZooLargeBatch(t *testing.T) {
	dir, _ := readZooManifest(t)
	for _, name := range []string{"activations_smooth", "activations_math", "prelu", "layernorm_op13", "layernorm_op17"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(dir, name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			per := 1
			for _, d := range m.SampleShape() {
				per *= d
			}
			const n = 4096
			rng := rand.New(rand.NewPCG(5, 6))
			x := make([]float64, n*per)
			for i := range x {
				x[i] = rng.NormFloat64() * 2
			}
			labels := make([]int, n)
			for i := range labels {
				labels[i] = rng.IntN(m.Classes)
			}
			big := engine.NewSession[float64](m)
			defer big.Close()
			logits, err := big.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := big.Backward(labels); err != nil {
				t.Fatal(err)
			}
			gx := big.Grad(m.Input)
			one := engine.NewSession[float64](m)
			defer one.Close()
			k := m.Classes
			for i := 0; i < n; i += 61 {
				l1, err := one.Forward(x[i*per:(i+1)*per], 1)
				if err != nil {
					t.Fatal(err)
				}
				for j, v := range l1 {
					if d := math.Abs(v - logits[i*k+j]); d > 1e-12*max(1, math.Abs(v)) {
						t.Fatalf("sample %d logit %d: %g in a batch of %d, %g alone", i, j, logits[i*k+j], n, v)
					}
				}
				if _, err := one.Backward(labels[i : i+1]); err != nil {
					t.Fatal(err)
				}
				for j, v := range one.Grad(m.Input) {
					// The batch loss is the mean: its gradient is 1/n of the sample's.
					if d := math.Abs(v - n*gx[i*per+j]); d > 1e-9*max(1, math.Abs(v)) {
						t.Fatalf("sample %d d/dx[%d]: %g in a batch of %d (×n), %g alone", i, j, n*gx[i*per+j], n, v)
					}
				}
			}
		})
	}
}

// TestFoldBatchNormAfterConvTranspose checks that the BatchNormalizations
// the exporter leaves after ConvTranspose (convt_bn: grouped 2-D, 1-D) are
// folded into them, as after Conv, so that the quantized weights are the
// folded ones a deployment runs; TestOpZoo checks the outputs.
func TestFoldBatchNormAfterConvTranspose(t *testing.T) {
	m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/opzoo/convt_bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Graph.Nodes {
		if n.Op == "BatchNormalization" {
			t.Fatalf("BatchNormalization %q was not folded", n.Label())
		}
	}
	for _, l := range m.Layers {
		if l.Op == "ConvTranspose" && l.Bias == "" {
			t.Fatalf("layer %q has no folded bias", l.Name)
		}
	}
}

// TestDedupCopiesAreLayers loads a PyTorch export of deep-copied modules
// left at their equal initial values (nn.TransformerEncoder's two layers,
// a copied Linear block), whose copies torch.onnx feeds through Identity
// nodes of one initializer: every copy is its own layer, as it is its own
// parameter in PyTorch, with its own gradient.
func TestDedupCopiesAreLayers(t *testing.T) {
	dir, _ := readZooManifest(t)
	m, err := onnxio.LoadModel(filepath.Join(dir, "dedup_copies.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// Per encoder layer: the packed in-projection and linear1/linear2
	// (MatMul), out_proj (Gemm); then the two blocks and the head.
	if len(m.Layers) != 11 {
		t.Fatalf("%d layers (%v), want 11", len(m.Layers), m.LayerNames())
	}
	seen := map[string]bool{}
	for _, l := range m.Layers {
		if seen[l.Weight] {
			t.Fatalf("weight %q serves two layers", l.Weight)
		}
		seen[l.Weight] = true
	}
	x64, labels := zooBatch64(t, dir, "dedup_copies")
	s := engine.NewSession[float64](m)
	if _, err := s.Forward(x64, len(labels)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backward(labels); err != nil {
		t.Fatal(err)
	}
	a, b := s.WeightGrad(0), s.WeightGrad(4) // the two encoder layers' in-projections
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("in-projection gradients of %d and %d values", len(a), len(b))
	}
	same := true
	for i := range a {
		same = same && a[i] == b[i]
	}
	if same {
		t.Fatal("the two encoder layers' in-projections have one gradient")
	}
}

// TestRecurrentFixedBatch runs the recurrent model exported with a fixed
// batch of 4 (its LSTM's and RNN's zero initial states are constants for 4
// samples, expanded to the input's batch) one sample at a time and at
// batch 7, against PyTorch's outputs for the 4 samples.
func TestRecurrentFixedBatch(t *testing.T) {
	dir, _ := readZooManifest(t)
	m, err := onnxio.LoadModel(filepath.Join(dir, "recurrent_fixed4.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x := readNPY[float32](t, filepath.Join(dir, "recurrent_fixed4.input.npy"))
	want := readNPY[float32](t, filepath.Join(dir, "recurrent_fixed4.output.npy"))
	per, k := len(x)/4, m.Classes
	check := func(got []float32, samples []int) {
		t.Helper()
		for i, smp := range samples {
			for j := range k {
				w := want[smp*k+j]
				if d := math.Abs(float64(got[i*k+j] - w)); d > 1e-4*max(1, math.Abs(float64(w))) {
					t.Fatalf("batch of %d, sample %d logit %d: %g, PyTorch %g", len(samples), smp, j, got[i*k+j], w)
				}
			}
		}
	}
	s := engine.NewSession[float32](m)
	defer s.Close()
	for i := range 4 {
		got, err := s.Forward(x[i*per:(i+1)*per], 1)
		if err != nil {
			t.Fatal(err)
		}
		check(got, []int{i})
	}
	seven := []int{3, 1, 0, 2, 2, 1, 3}
	var x7 []float32
	for _, i := range seven {
		x7 = append(x7, x[i*per:(i+1)*per]...)
	}
	got, err := s.Forward(x7, 7)
	if err != nil {
		t.Fatal(err)
	}
	check(got, seven)
}

// TestSkipInputGradient checks that a session told to skip the input's
// gradient leaves it nil and computes the same weight gradients, bit for
// bit, as one that computes it, on models whose first layer is a Gemm, a
// MatMul and a Conv.
func TestSkipInputGradient(t *testing.T) {
	dir, _ := readZooManifest(t)
	for _, name := range []string{"gemm_matmul", "conv_variants", "recurrent"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(dir, name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			x, labels := zooBatch64(t, dir, name)
			run := func(skip bool) *engine.Session[float64] {
				s := engine.NewSession[float64](m)
				if skip {
					s.SkipInputGradient()
				}
				if _, err := s.Forward(x, len(labels)); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Backward(labels); err != nil {
					t.Fatal(err)
				}
				return s
			}
			full, skip := run(false), run(true)
			if full.Grad(m.Input) == nil || skip.Grad(m.Input) != nil {
				t.Fatalf("input gradient: %d values computing it, %d skipping it", len(full.Grad(m.Input)), len(skip.Grad(m.Input)))
			}
			for l := range m.Layers {
				a, b := full.WeightGrad(l), skip.WeightGrad(l)
				for i := range a {
					if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
						t.Fatalf("layer %s d/dw[%d]: %g computing the input's gradient, %g skipping it", m.Layers[l].Name, i, a[i], b[i])
					}
				}
			}
		})
	}
}

// TestRecurrentLayers checks the recurrent ops' layers in the operator-zoo
// model (a 2-layer nn.LSTM, a bidirectional nn.GRU and an nn.RNN): each
// node is one layer whose weight is [W | R] row by row, the file's W and R
// come back from it (SplitWR), its MACs count the input's products
// and StateMACs the hidden state's, and the file's graph is not changed.
func TestRecurrentLayers(t *testing.T) {
	dir, _ := readZooManifest(t)
	path := filepath.Join(dir, "recurrent.onnx")
	g, err := onnxio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	seq := 5 // the model's input is batch × 5 steps × 6 features
	want := map[string]struct{ dirs, gates, feat, hid int }{
		"LSTM": {1, 4, 0, 7}, "GRU": {2, 3, 7, 5}, "RNN": {1, 1, 10, 4},
	}
	found := map[string]int{}
	for l, layer := range m.Layers {
		w, ok := want[layer.Op]
		if !ok {
			continue
		}
		found[layer.Op]++
		r := layer.Recurrent
		if r == nil {
			t.Fatalf("layer %s (%s): no Recurrent", layer.Name, layer.Op)
		}
		fw, fr := g.Init[r.W], g.Init[r.R]
		if fw == nil || fr == nil {
			t.Fatalf("layer %s: W %q or R %q is not an initializer of the file", layer.Name, r.W, r.R)
		}
		feat := fw.Shape[2]
		if w.feat != 0 && feat != w.feat {
			t.Errorf("layer %s: %d features, want %d", layer.Name, feat, w.feat)
		}
		rows := w.dirs * w.gates * w.hid
		if !slices.Equal(layer.Shape, []int{rows, feat + w.hid}) || layer.Channels != rows || layer.ChannelAxis != 0 ||
			r.Dirs != w.dirs || r.Features != feat || r.Hidden != w.hid || layer.Params != fw.Len()+fr.Len() {
			t.Errorf("layer %s: shape %v, %d channels on axis %d, %+v, %d params", layer.Name, layer.Shape, layer.Channels, layer.ChannelAxis, *r, layer.Params)
		}
		gw, gr := engine.SplitWR(r, m.Graph.Init[layer.Weight].Floats())
		if !slices.Equal(gw, fw.Floats()) || !slices.Equal(gr, fr.Floats()) {
			t.Errorf("layer %s: [W | R] does not split into the file's W and R", layer.Name)
		}
		if layer.MACs != int64(seq*rows*feat) || layer.StateMACs != int64(seq*rows*w.hid) {
			t.Errorf("layer %s: %d MACs and %d state MACs, want %d and %d", layer.Name, layer.MACs, layer.StateMACs, seq*rows*feat, seq*rows*w.hid)
		}
		for _, name := range []string{layer.Name, layer.Weight, r.W, r.R} {
			if li, ok := m.Layer(name); !ok || li != l {
				t.Errorf("layer %s is not found by the name %q", layer.Name, name)
			}
		}
	}
	if found["LSTM"] != 2 || found["GRU"] != 1 || found["RNN"] != 1 {
		t.Fatalf("recurrent layers %v, want 2 LSTM, 1 GRU, 1 RNN", found)
	}
	if fl := m.FloatWeights(); len(fl) != 0 {
		t.Errorf("float weights %v: the recurrent weights are layers", fl)
	}
	for _, n := range g.Nodes {
		if _, ok := want[n.Op]; ok && (n.Input(2) == "" || len(n.Attrs) > 0 && n.Attrs["mpq_fused_wr"].Kind != 0) {
			t.Fatalf("node %s of the file's graph was rewritten", n.Label())
		}
	}
}
