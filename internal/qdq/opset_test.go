package qdq_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"mpq/evaluator"
	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/onnxio"
	"mpq/internal/qdq"
	"mpq/internal/quant"
)

// load returns a model from ONNX bytes.
func load(t *testing.T, src []byte) *engine.Model {
	t.Helper()
	g, err := onnxio.Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// logitsOf runs plan p on data (the fake-quantized evaluation), and the
// export of p as a plain float model, and returns both logits.
func logitsOf(t *testing.T, src []byte, m *engine.Model, data *dataset.Dataset, p evaluator.Plan, calib *evaluator.Calibration) (want, got []float32, res *qdq.Result) {
	t.Helper()
	qs, err := evaluator.Quantization(m, p, calib, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = qdq.Export(src, m, layers(qs), qdq.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	em := load(t, res.Model)
	ev, err := evaluator.New(m, data, data.Len(), calib, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want, err = ev.Logits(p, data.X, data.Len()); err != nil {
		t.Fatal(err)
	}
	eev, err := evaluator.New(em, data, data.Len(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = eev.Logits(evaluator.FloatPlan(em), data.X, data.Len()); err != nil {
		t.Fatal(err)
	}
	return want, got, res
}

func maxDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	return diff, scale
}

// TestOpZooExports exports every operator-zoo model (opsets 11, 13, 14 and
// 17; Gemm with transB=0 and MatMul, whose channels are axis 1; BatchNorm
// kept; Softmax heads) unquantized and at w4a4, and compares the files'
// logits in mpq's runtime with the source model's and the fake-quantized
// evaluation's.
func TestOpZooExports(t *testing.T) {
	dir := filepath.Join(repo, "testdata", "opzoo")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct {
		Models []struct {
			Name  string `json:"name"`
			File  string `json:"file"`
			Opset int    `json:"opset"`
		} `json:"models"`
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, z := range man.Models {
		t.Run(z.Name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, z.File))
			if err != nil {
				t.Fatal(err)
			}
			m := load(t, src)
			data, err := dataset.Load(dataset.Source{Format: "npy", Inputs: z.Name + ".input.npy", Labels: z.Name + ".labels.npy"}, dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := data.Fit(m.SampleShape()); err != nil {
				t.Fatal(err)
			}
			calib, err := evaluator.Calibrate(ctx, m, data, evaluator.MinMax, 0, data.Len())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []evaluator.Plan{evaluator.FloatPlan(m), evaluator.UniformPlan(m, 4, 4)} {
				want, got, res := logitsOf(t, src, m, data, p, calib)
				if res.Opset != max(int64(z.Opset), 13) || res.SourceOpset != int64(z.Opset) {
					t.Errorf("opset %d → %d, want %d → %d", res.SourceOpset, res.Opset, z.Opset, max(z.Opset, 13))
				}
				diff, scale := maxDiff(want, got)
				if diff > 1e-4*max(1, scale) {
					t.Errorf("plan %s: logits differ by %g (max |logit| %g)", p.Key(), diff, scale)
				}
			}
		})
	}
}

// mutate decodes src, applies f and encodes the result.
func mutate(t *testing.T, src []byte, f func(*onnx.ModelProto)) []byte {
	t.Helper()
	var mp onnx.ModelProto
	if err := proto.Unmarshal(src, &mp); err != nil {
		t.Fatal(err)
	}
	f(&mp)
	out, err := proto.Marshal(&mp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func setOpset(mp *onnx.ModelProto, v int64) {
	for _, op := range mp.OpsetImport {
		if op.Domain == "" {
			op.Version = v
		}
	}
}

// opset11Head appends, at opset 11, what changed meaning at 13:
// Unsqueeze/Squeeze with axes attributes, Dropout with a ratio attribute and
// a LogSoftmax over the input flattened at axis 1, to the MLP's logits. With
// known=false the LogSoftmax's shapes are not declared, so the export must
// keep the flattening semantics with Flatten/Reshape.
func opset11Head(t *testing.T, known bool) []byte {
	src, err := os.ReadFile(filepath.Join(repo, "testdata", "models", "mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return mutate(t, src, func(mp *onnx.ModelProto) {
		setOpset(mp, 11)
		g := mp.Graph
		ints := func(name string, v ...int64) *onnx.AttributeProto {
			return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: v}
		}
		g.Node = append(g.Node,
			&onnx.NodeProto{Name: "unsq", OpType: "Unsqueeze", Input: []string{"logits"}, Output: []string{"u"}, Attribute: []*onnx.AttributeProto{ints("axes", 2)}},
			&onnx.NodeProto{Name: "sq", OpType: "Squeeze", Input: []string{"u"}, Output: []string{"s"}, Attribute: []*onnx.AttributeProto{ints("axes", 2)}},
			&onnx.NodeProto{Name: "drop", OpType: "Dropout", Input: []string{"s"}, Output: []string{"d"},
				Attribute: []*onnx.AttributeProto{{Name: "ratio", Type: onnx.AttributeProto_FLOAT, F: 0.25}}},
			&onnx.NodeProto{Name: "logsoftmax", OpType: "LogSoftmax", Input: []string{"d"}, Output: []string{"logp"}})
		g.Output[0].Name = "logp"
		if !known {
			// Behind an Identity, neither the LogSoftmax's input nor its
			// output has a declared shape.
			g.Node[len(g.Node)-1].Output[0] = "logp_raw"
			g.Node = append(g.Node, &onnx.NodeProto{Name: "id", OpType: "Identity", Input: []string{"logp_raw"}, Output: []string{"logp"}})
		}
	})
}

func TestOpsetUpgrade(t *testing.T) {
	ctx := context.Background()
	var data *dataset.Dataset
	for _, known := range []bool{true, false} {
		src := opset11Head(t, known)
		m := load(t, src)
		if data == nil {
			data = mnist(t, m, 64)
		}
		calib, err := evaluator.Calibrate(ctx, m, data, evaluator.MinMax, 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		p := evaluator.UniformPlan(m, 8, 8)
		p[1] = evaluator.LayerSpec{WeightQuantizer: quant.Uniform, WeightBits: 4, ActivationBits: 4}
		want, got, res := logitsOf(t, src, m, data, p, calib)
		if diff, scale := maxDiff(want, got); diff > 1e-5*max(1, scale) {
			t.Errorf("known rank %v: log-probabilities differ by %g", known, diff)
		}
		if res.SourceOpset != 11 || res.Opset != 13 {
			t.Errorf("opset %d → %d", res.SourceOpset, res.Opset)
		}
		var mp onnx.ModelProto
		if err := proto.Unmarshal(res.Model, &mp); err != nil {
			t.Fatal(err)
		}
		ops := []string{}
		for _, n := range mp.Graph.Node {
			ops = append(ops, n.OpType)
			for _, a := range n.Attribute {
				if a.Name == "axes" || a.Name == "ratio" {
					t.Errorf("node %s (%s) keeps attribute %s", n.Name, n.OpType, a.Name)
				}
			}
		}
		if hasFlatten := strings.Contains(strings.Join(ops, " "), "Flatten LogSoftmax Reshape"); hasFlatten == known {
			t.Errorf("known rank %v: ops %v", known, ops)
		}
	}
}

func TestOpsetRefused(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repo, "testdata", "models", "mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    func(*onnx.ModelProto)
		want []string
	}{
		{"opset 10", func(mp *onnx.ModelProto) { setOpset(mp, 10) }, []string{"opset 10", "opset_version=13"}},
		{"HardSwish at 11", func(mp *onnx.ModelProto) {
			setOpset(mp, 11)
			mp.Graph.Node[1].OpType = "HardSwish"
		}, []string{"HardSwish", mp0(src).Graph.Node[1].Name, "opset_version=13"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mutate(t, src, tc.f)
			m := load(t, b)
			_, err := qdq.Export(b, m, make([]qdq.Layer, len(m.Layers)), qdq.Options{})
			if !errors.Is(err, qdq.ErrOpset) {
				t.Fatalf("err = %v, want ErrOpset", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func mp0(src []byte) *onnx.ModelProto {
	var mp onnx.ModelProto
	if err := proto.Unmarshal(src, &mp); err != nil {
		panic(err)
	}
	return &mp
}

// TestONNXChecker runs scripts/check_qdq.py (onnx.checker.check_model with
// full_check, and the structural checks) on exports of every operator-zoo
// model and of the shipped models, when Debian's /usr/bin/python3 has the
// onnx package; it skips otherwise.
func TestONNXChecker(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import onnx, numpy").Run(); err != nil {
		t.Skipf("%s with onnx and numpy is not available: %v", python, err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	var files []string
	exportTo := func(path, name string, data *dataset.Dataset) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m := load(t, src)
		if err := data.Fit(m.SampleShape()); err != nil {
			t.Fatal(err)
		}
		calib, err := evaluator.Calibrate(ctx, m, data, evaluator.MinMax, 0, data.Len())
		if err != nil {
			t.Fatal(err)
		}
		p := make(evaluator.Plan, len(m.Layers))
		for i := range p {
			p[i] = specCycle[i%len(specCycle)]
		}
		qs, err := evaluator.Quantization(m, p, calib, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := qdq.Export(src, m, layers(qs), qdq.Options{Version: "test", Source: filepath.Base(path)})
		if err != nil {
			t.Fatal(err)
		}
		paths := qdq.PathsFor(filepath.Join(dir, name+".qdq.onnx"))
		if err := res.Write(paths); err != nil {
			t.Fatal(err)
		}
		files = append(files, paths.Model)
	}
	zoo := filepath.Join(repo, "testdata", "opzoo")
	entries, err := filepath.Glob(filepath.Join(zoo, "*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range entries {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		data, err := dataset.Load(dataset.Source{Format: "npy", Inputs: name + ".input.npy", Labels: name + ".labels.npy"}, zoo)
		if err != nil {
			t.Fatal(err)
		}
		exportTo(path, name, data)
	}
	images := testImages(t)
	for _, name := range []string{"mlp", "lenet", "resnet_bn"} {
		d, err := images.First(64)
		if err != nil {
			t.Fatal(err)
		}
		exportTo(filepath.Join(repo, "testdata", "models", name+".onnx"), name, d)
	}
	files = append(files, opset11File(t, dir))
	args := append([]string{filepath.Join(repo, "scripts", "check_qdq.py"), "--images", "0"}, files...)
	out, err := exec.Command(python, args...).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("check_qdq.py: %v", err)
	}
	if n := strings.Count(string(out), "checker (full_check): ok"); n != len(files) {
		t.Errorf("%d of %d files pass the checker", n, len(files))
	}
}

// opset11File writes the export of the opset-11 head (Squeeze/Unsqueeze,
// Dropout and LogSoftmax converted) to dir.
func opset11File(t *testing.T, dir string) string {
	src := opset11Head(t, false)
	m := load(t, src)
	res, err := qdq.Export(src, m, layersOfPlan(t, m, evaluator.UniformPlan(m, 4, 32)), qdq.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "opset11_head.qdq.onnx")
	if err := res.Write(qdq.PathsFor(path)); err != nil {
		t.Fatal(err)
	}
	return path
}

func layersOfPlan(t *testing.T, m *engine.Model, p evaluator.Plan) []qdq.Layer {
	t.Helper()
	qs, err := evaluator.Quantization(m, p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return layers(qs)
}
