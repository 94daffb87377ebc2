package engine_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

const repo = "../.."

type golden struct {
	Logits   [][]float64 `json:"logits_first64"`
	Labels   []int       `json:"labels_first64"`
	Accuracy float64     `json:"accuracy"`
	Loss     float64     `json:"loss"`
	Samples  int         `json:"samples"`
	Correct  int         `json:"correct"`
}

func loadMNISTTest(t testing.TB, m *engine.Model) *dataset.Dataset {
	t.Helper()
	d, err := dataset.Load(dataset.Source{Format: "idx",
		Images: "t10k-images-idx3-ubyte.gz", Labels: "t10k-labels-idx1-ubyte.gz"}, filepath.Join(repo, "testdata/mnist"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(m.SampleShape()); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(dataset.Transform{Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}, 1); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGoldenLogits checks every shipped model (and the search benchmark's)
// against PyTorch: logits of the first 64 test images within 1e-4, and the
// exact test accuracy.
func TestGoldenLogits(t *testing.T) {
	for _, name := range []string{"mlp", "lenet", "resnet", "resnet_bn", "mlp4", "cnn4", "mlp4x", "mlp3h", "cnn3h", "mlp4h", "mlp4j", "mlp4k"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(repo, "testdata/golden", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var gold golden
			if err := json.Unmarshal(raw, &gold); err != nil {
				t.Fatal(err)
			}
			m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			d := loadMNISTTest(t, m)
			s := engine.NewSession[float32](m)
			b := d.BatchAt(0, 64)
			logits, err := s.Forward(b.X, 64)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, row := range gold.Logits {
				for j, v := range row {
					worst = max(worst, math.Abs(float64(logits[i*m.Classes+j])-v))
				}
			}
			if worst > 1e-4 {
				t.Errorf("logits differ from PyTorch's by up to %.3g, want ≤ 1e-4", worst)
			}
			if testing.Short() {
				return
			}
			correct, sum := 0, 0.0
			for _, b := range d.Batches(256) {
				logits, err := s.Forward(b.X, b.Len())
				if err != nil {
					t.Fatal(err)
				}
				l, c, err := engine.CrossEntropy(logits, m.Classes, b.Labels)
				if err != nil {
					t.Fatal(err)
				}
				correct += c
				sum += l
			}
			if correct != gold.Correct {
				t.Errorf("%d of %d correct, PyTorch has %d", correct, d.Len(), gold.Correct)
			}
			if loss := sum / float64(d.Len()); math.Abs(loss-gold.Loss) > 1e-5 {
				t.Errorf("loss %.7f, PyTorch has %.7f", loss, gold.Loss)
			}
		})
	}
}

// TestChunk checks Session.Chunk: an MLP's batches of 128 run whole or in
// halves; a CNN's run in even chunks of 8 to 64 samples; and a batch run
// chunk by chunk gives bit for bit the logits of the whole batch.
func TestChunk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		whole bool // batches of 128 run in chunks of at least 64
	}{{"mlp", true}, {"lenet", false}, {"resnet", false}, {"cnn3h", false}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", tc.name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			d := loadMNISTTest(t, m)
			s := engine.NewInferenceSessionWorkers[float32](m, 1)
			for _, n := range []int{1, 7, 128, 301} {
				c, err := s.Chunk(n)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case c < 1 || c > n:
					t.Fatalf("Chunk(%d) = %d", n, c)
				case tc.whole && c < min(n, 64):
					t.Errorf("Chunk(%d) = %d, want at least %d", n, c, min(n, 64))
				case !tc.whole && n >= 128 && (c < 8 || c > 64):
					t.Errorf("Chunk(%d) = %d, want 8–64", n, c)
				case c < n && (n+c-1)/c*c-n >= (n+c-1)/c:
					t.Errorf("Chunk(%d) = %d: uneven chunks", n, c)
				}
				b := d.BatchAt(0, n)
				whole, err := s.Forward(b.X, n)
				if err != nil {
					t.Fatal(err)
				}
				whole = append([]float32(nil), whole...)
				per := len(b.X) / n
				for a := 0; a < n; a += c {
					e := min(n, a+c)
					got, err := s.Forward(b.X[a*per:e*per], e-a)
					if err != nil {
						t.Fatal(err)
					}
					for i, v := range got {
						if w := whole[a*m.Classes+i]; v != w {
							t.Fatalf("batch %d in chunks of %d: logit %d of sample %d is %v, whole batch %v", n, c, i%m.Classes, a+i/m.Classes, v, w)
						}
					}
				}
			}
		})
	}
}

// TestExportVariants checks the ways of exporting a classifier that
// scripts/make_export_variants.py writes: a fixed batch (1 and 64), whose
// x.view(x.size(0), -1) became a Reshape to the constant [B, 1568], run at
// batch sizes 8 and 3; a Softmax head, whose probabilities must not be
// taken for logits; and a fully convolutional head with [N, 10, 1, 1]
// logits. Each gives PyTorch's logits and cross-entropy.
func TestExportVariants(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/golden/export_variants.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gold map[string]json.RawMessage
	if err := json.Unmarshal(raw, &gold); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, golden string }{
		{"static_b1", ""}, {"static_b64", ""}, {"softmax_head", ""}, {"conv_head", "conv_head_"},
	} {
		var want [][]float64
		var wantLoss float64
		if err := json.Unmarshal(gold[tc.golden+"logits_first8"], &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(gold[tc.golden+"loss_first8"], &wantLoss); err != nil {
			t.Fatal(err)
		}
		m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", tc.name+".onnx"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.Classes != 10 {
			t.Fatalf("%s: %d classes, want 10", tc.name, m.Classes)
		}
		d := loadMNISTTest(t, m)
		for _, n := range []int{8, 3} {
			b := d.BatchAt(0, n)
			logits, err := engine.NewInferenceSession[float32](m).Forward(b.X, n)
			if err != nil {
				t.Fatalf("%s at batch %d: %v", tc.name, n, err)
			}
			for i := range n {
				for j, w := range want[i] {
					if got := float64(logits[i*m.Classes+j]); math.Abs(got-w) > 1e-4 {
						t.Fatalf("%s at batch %d: sample %d logit %d is %v, PyTorch %v", tc.name, n, i, j, got, w)
					}
				}
			}
			if n != 8 {
				continue
			}
			sum, _, err := engine.CrossEntropy(logits, m.Classes, b.Labels)
			if err != nil {
				t.Fatal(err)
			}
			if loss := sum / 8; math.Abs(loss-wantLoss) > 1e-5 {
				t.Errorf("%s: cross-entropy %.7f, PyTorch %.7f", tc.name, loss, wantLoss)
			}
		}
	}
}
