package qdq_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
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

var repo = filepath.Join("..", "..")

// testImages returns the MNIST test images, normalised as the configs do.
func testImages(t testing.TB) *dataset.Dataset {
	t.Helper()
	d, err := dataset.Load(dataset.Source{Format: "idx", Images: "t10k-images-idx3-ubyte.gz", Labels: "t10k-labels-idx1-ubyte.gz"}, filepath.Join(repo, "testdata", "mnist"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(dataset.Transform{Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}, 1); err != nil {
		t.Fatal(err)
	}
	return d
}

// first returns the first n images of d shaped for m (sharing d's memory).
func first(t testing.TB, d *dataset.Dataset, m *engine.Model, n int) *dataset.Dataset {
	t.Helper()
	sub, err := d.First(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Fit(m.SampleShape()); err != nil {
		t.Fatal(err)
	}
	return sub
}

// mnist returns the first n test images shaped for m.
func mnist(t testing.TB, m *engine.Model, n int) *dataset.Dataset {
	t.Helper()
	return first(t, testImages(t), m, n)
}

// layers turns evaluator's quantization into Export's input (what package
// search does).
func layers(qs []evaluator.LayerQuant) []qdq.Layer {
	out := make([]qdq.Layer, len(qs))
	for i, q := range qs {
		out[i] = qdq.Layer{WeightBits: q.Spec.WeightBits, ActivationBits: q.Spec.ActivationBits, Method: q.Spec.WeightQuantizer,
			Weight: q.Weight, Scales: q.Scales, Codes: q.Codes}
		if in := q.Input; in != nil {
			out[i].Input = &qdq.Activation{Bits: in.Bits, Scale: in.Scale32(), ZeroPoint: in.ZeroPoint, Min: in.Range.Min, Max: in.Range.Max, Calibration: in.Method}
		}
	}
	return out
}

// specCycle is a mix of every representation: int8 weights at 2, 4, 6 and
// 8 bits, codebook quantizers stored as floats, a 16-bit layer, float
// layers, and 4- and 8-bit inputs (clipped and not).
var specCycle = []evaluator.LayerSpec{
	{WeightQuantizer: quant.Uniform, WeightBits: 4, ActivationBits: 8},
	{WeightQuantizer: quant.KMeans, WeightBits: 3, ActivationBits: 4},
	{WeightQuantizer: quant.Binary, WeightBits: 1, ActivationBits: 8},
	{WeightQuantizer: quant.Uniform, WeightBits: 2, ActivationBits: 4},
	{WeightQuantizer: quant.Uniform, WeightBits: 8, ActivationBits: 4},
	{WeightQuantizer: quant.Pow2, WeightBits: 4, ActivationBits: 8},
	{WeightQuantizer: quant.Ternary, WeightBits: 2, ActivationBits: 4},
	{WeightQuantizer: quant.Uniform, WeightBits: 16, ActivationBits: 16},
	{WeightQuantizer: quant.Uniform, WeightBits: 32, ActivationBits: 8},
	{WeightQuantizer: quant.Uniform, WeightBits: 6, ActivationBits: 32},
}

func cyclePlan(m *engine.Model, offset int) evaluator.Plan {
	p := make(evaluator.Plan, len(m.Layers))
	for i := range p {
		p[i] = specCycle[(i+offset)%len(specCycle)]
	}
	return p
}

type exported struct {
	res   *qdq.Result
	quant []evaluator.LayerQuant
	model *engine.Model // the exported file in mpq's runtime
}

func export(t *testing.T, name string, m *engine.Model, p evaluator.Plan, calib *evaluator.Calibration) exported {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repo, "testdata", "models", name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	qs, err := evaluator.Quantization(m, p, calib, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qdq.Export(src, m, layers(qs), qdq.Options{Version: "test", Source: name + ".onnx"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnxio.Decode(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	em, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	return exported{res: res, quant: qs, model: em}
}

// TestExportReproducesFakeQuant exports mixed plans of every shipped model
// and runs the files in mpq's runtime as plain float models: accuracy within
// 0.1 point of the fake-quantized evaluation on 1000 test images (250 with
// -short), logits
// equal up to float32 rounding of the dequantized weights, int8 codes within
// the plan's range. The calibration uses only 64 images, so that the test
// images often exceed the calibrated ranges and the Clip in front of
// sub-8-bit inputs matters.
func TestExportReproducesFakeQuant(t *testing.T) {
	ctx := context.Background()
	images := testImages(t)
	for _, name := range []string{"mlp", "lenet", "resnet", "resnet_bn"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.LoadModel(filepath.Join(repo, "testdata", "models", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			n := 1000
			if testing.Short() {
				n = 250
			}
			data := first(t, images, m, n)
			cd, err := data.First(64)
			if err != nil {
				t.Fatal(err)
			}
			calib, err := evaluator.Calibrate(ctx, m, cd, evaluator.MinMax, 0, 64)
			if err != nil {
				t.Fatal(err)
			}
			offsets := []int{0, 5} // every spec once
			if len(m.Layers) < 5 {
				offsets = []int{0, 3, 6, 9}
			}
			for _, offset := range offsets {
				p := cyclePlan(m, offset)
				x := export(t, name, m, p, calib)
				ev, err := evaluator.New(m, data, 250, calib, nil)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ev.Evaluate(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				eev, err := evaluator.New(x.model, data, 250, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := eev.Evaluate(ctx, evaluator.FloatPlan(x.model))
				if err != nil {
					t.Fatal(err)
				}
				fq, err := ev.Logits(p, data.X[:250*data.SampleLen()], 250)
				if err != nil {
					t.Fatal(err)
				}
				ql, err := eev.Logits(evaluator.FloatPlan(x.model), data.X[:250*data.SampleLen()], 250)
				if err != nil {
					t.Fatal(err)
				}
				diff, scale := 0.0, 0.0
				for i := range fq {
					diff = max(diff, math.Abs(float64(fq[i]-ql[i])))
					scale = max(scale, math.Abs(float64(fq[i])))
				}
				t.Logf("plan %d %s: fake-quant accuracy %.4f loss %.6f, exported %.4f loss %.6f, max |Δlogit| %.2g (max |logit| %.3g)",
					offset, p.Key(), want.Accuracy, want.Loss, got.Accuracy, got.Loss, diff, scale)
				if d := math.Abs(got.Accuracy - want.Accuracy); d > 0.001 {
					t.Errorf("plan %d: exported accuracy %.4f, fake-quantized %.4f", offset, got.Accuracy, want.Accuracy)
				}
				// Inputs at 9–16 bits stay float in the file (a tiny
				// change that a 2-bit layer downstream may turn into a
				// different code): only the accuracy is compared then.
				// Everything else agrees up to float32 rounding of the
				// dequantized weights.
				wide := slices.ContainsFunc(p, func(s evaluator.LayerSpec) bool { return s.ActivationBits > 8 && s.ActivationBits < 32 })
				if tol := 1e-4 * max(1, scale); diff > tol && !wide {
					t.Errorf("plan %d: logits differ by %g (tolerance %g)", offset, diff, tol)
				}
				checkFile(t, x, p)
				if offset == 0 {
					clipped(t, m, data, x)
				}
			}
		})
	}
}

// checkFile checks the file's structure: opset, no BatchNormalization left,
// int8 codes within ±(2^(b−1)−1) and equal to evaluator's, Clip only in
// front of sub-8-bit inputs.
func checkFile(t *testing.T, x exported, p evaluator.Plan) {
	t.Helper()
	var mp onnx.ModelProto
	if err := proto.Unmarshal(x.res.Model, &mp); err != nil {
		t.Fatal(err)
	}
	for _, op := range mp.GetOpsetImport() {
		if op.GetDomain() == "" && op.GetVersion() < 13 {
			t.Errorf("opset %d", op.GetVersion())
		}
	}
	inits := map[string]*onnx.TensorProto{}
	for _, ti := range mp.GetGraph().GetInitializer() {
		inits[ti.GetName()] = ti
	}
	ops := map[string]int{}
	for _, n := range mp.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	if ops["BatchNormalization"] > 0 {
		t.Errorf("%d BatchNormalization nodes left", ops["BatchNormalization"])
	}
	wantQ, wantClip, wantDQ := 0, 0, 0
	for i, s := range p {
		d := x.res.Layers[i]
		q := x.quant[i]
		if s.ActivationBits <= 8 {
			wantQ++
			wantDQ++
			if s.ActivationBits < 8 {
				wantClip++
			}
		}
		if q.Codes == nil {
			continue
		}
		wantDQ++
		if d.Weight == nil || d.Weight.Dtype != "int8" {
			t.Fatalf("layer %s: weight %+v, want int8", d.Layer, d.Weight)
		}
		ti := inits[d.Weight.IntegerTensor]
		if ti == nil || ti.GetDataType() != int32(onnx.TensorProto_INT8) {
			t.Fatalf("layer %s: no int8 initializer %q", d.Layer, d.Weight.IntegerTensor)
		}
		lim := int8(1<<(s.WeightBits-1) - 1)
		for j, b := range ti.GetRawData() {
			c := int8(b)
			if c > lim || c < -lim {
				t.Fatalf("layer %s: code %d outside ±%d", d.Layer, c, lim)
			}
			if c != q.Codes[j] {
				t.Fatalf("layer %s: code %d is %d, evaluator's is %d", d.Layer, j, c, q.Codes[j])
			}
		}
		sc := inits[d.Weight.IntegerTensor[:len(d.Weight.IntegerTensor)-len("_quantized")]+"_scale"]
		if sc == nil {
			t.Fatalf("layer %s: no scale initializer", d.Layer)
		}
		for c := range q.Scales {
			got := math.Float32frombits(binary.LittleEndian.Uint32(sc.GetRawData()[4*c:]))
			if want := float32(q.Scales[c]); got != want && !(want == 0 && got == 1) {
				t.Fatalf("layer %s: scale %d is %v, want %v", d.Layer, c, got, want)
			}
		}
	}
	if ops["QuantizeLinear"] != wantQ || ops["DequantizeLinear"] != wantDQ || ops["Clip"] != wantClip {
		t.Errorf("QuantizeLinear %d, DequantizeLinear %d, Clip %d; want %d, %d, %d", ops["QuantizeLinear"], ops["DequantizeLinear"], ops["Clip"], wantQ, wantDQ, wantClip)
	}
}

// TestBatchNormExportMatchesFolded exports the same plan from resnet_bn
// (BatchNormalization kept) and resnet (folded by PyTorch): the int8 codes,
// weight scales and input quantizers are the same numbers.
func TestBatchNormExportMatchesFolded(t *testing.T) {
	ctx := context.Background()
	var runs [2]exported
	images := testImages(t)
	for i, name := range []string{"resnet", "resnet_bn"} {
		m, err := onnxio.LoadModel(filepath.Join(repo, "testdata", "models", name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		calib, err := evaluator.Calibrate(ctx, m, first(t, images, m, 128), evaluator.MinMax, 0, 128)
		if err != nil {
			t.Fatal(err)
		}
		p := evaluator.UniformPlan(m, 4, 8)
		p[1].WeightBits, p[2].ActivationBits = 8, 4
		runs[i] = export(t, name, m, p, calib)
	}
	a, b := runs[0], runs[1]
	for l := range a.quant {
		qa, qb := a.quant[l], b.quant[l]
		if !slices.Equal(qa.Codes, qb.Codes) || !slices.Equal(qa.Scales, qb.Scales) {
			t.Errorf("layer %s: codes or scales differ between resnet and resnet_bn", a.res.Layers[l].Layer)
		}
		if *qa.Input != *qb.Input {
			t.Errorf("layer %s: input quantizer %+v vs %+v", a.res.Layers[l].Layer, *qa.Input, *qb.Input)
		}
		if a.res.Layers[l].Node != b.res.Layers[l].Node {
			t.Errorf("layer %d: nodes %q and %q", l, a.res.Layers[l].Node, b.res.Layers[l].Node)
		}
	}
}

// clipped checks that the test exercises the Clip in front of sub-8-bit
// inputs: some of the test images' layer inputs (in the fp32 model) lie
// beyond the grid calibrated on 64 other images.
func clipped(t *testing.T, m *engine.Model, data *dataset.Dataset, x exported) {
	t.Helper()
	s := engine.NewSession[float32](m)
	n := 250
	if _, err := s.Forward(data.X[:n*data.SampleLen()], n); err != nil {
		t.Fatal(err)
	}
	total := 0
	for l, d := range x.res.Layers {
		if d.Input == nil || d.Input.Clip == nil {
			continue
		}
		for _, v := range s.LayerInput(l) {
			if float64(v) > d.Input.Clip[1] || float64(v) < d.Input.Clip[0] {
				total++
			}
		}
	}
	t.Logf("%d sub-8-bit layer inputs of %d images lie outside their Clip range", total, n)
	if total == 0 {
		t.Errorf("no input exceeds the calibrated range: the Clip is not exercised")
	}
}

// TestClipMatters shows what the Clip in front of a sub-8-bit input is
// for: with ranges calibrated on 8 images, the file reproduces mpq's
// logits, and the same file without its Clip nodes (uint8 saturating at
// 255 instead of 2^b−1) does not.
func TestClipMatters(t *testing.T) {
	name := "lenet"
	m, err := onnxio.LoadModel(filepath.Join(repo, "testdata", "models", name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	data := mnist(t, m, 250)
	cd, err := data.First(8)
	if err != nil {
		t.Fatal(err)
	}
	calib, err := evaluator.Calibrate(context.Background(), m, cd, evaluator.MinMax, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	p := evaluator.UniformPlan(m, 8, 4)
	x := export(t, name, m, p, calib)
	ev, err := evaluator.New(m, data, data.Len(), calib, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ev.Logits(p, data.X, data.Len())
	if err != nil {
		t.Fatal(err)
	}
	run := func(src []byte) []float32 {
		em := load(t, src)
		e, err := evaluator.New(em, data, data.Len(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		y, err := e.Logits(evaluator.FloatPlan(em), data.X, data.Len())
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	noClip := mutate(t, x.res.Model, func(mp *onnx.ModelProto) {
		rename := map[string]string{}
		mp.Graph.Node = slices.DeleteFunc(mp.Graph.Node, func(n *onnx.NodeProto) bool {
			if n.OpType == "Clip" {
				rename[n.Output[0]] = n.Input[0]
				return true
			}
			return false
		})
		for _, n := range mp.Graph.Node {
			for i, in := range n.Input {
				if r, ok := rename[in]; ok {
					n.Input[i] = r
				}
			}
		}
	})
	with, _ := maxDiff(want, run(x.res.Model))
	without, _ := maxDiff(want, run(noClip))
	t.Logf("max |Δlogit| with Clip %g, without %g", with, without)
	if with > 1e-4 || without < 1e-2 {
		t.Errorf("with Clip the logits differ by %g (want ~0), without by %g (want clearly more)", with, without)
	}
}
