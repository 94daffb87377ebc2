package evaluator_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mpq/evaluator"
	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

func mnistTest(b testing.TB, m *engine.Model, n int) *dataset.Dataset {
	d, err := dataset.Load(dataset.Source{Format: "idx", Images: "t10k-images-idx3-ubyte.gz", Labels: "t10k-labels-idx1-ubyte.gz"}, filepath.Join("..", "testdata", "mnist"))
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Fit(m.SampleShape()); err != nil {
		b.Fatal(err)
	}
	if err := d.Apply(dataset.Transform{Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}, 1); err != nil {
		b.Fatal(err)
	}
	sub, err := d.First(n)
	if err != nil {
		b.Fatal(err)
	}
	return sub
}

// BenchmarkEvaluate measures evaluation (batch 256, 2,560 images per op)
// of each shipped model: fp32, w8a8 and a mixed plan fake-quantized, and
// w8a8 and the mixed plan in integer arithmetic (int-w8a8, int-mixed;
// evaluator.WithIntegerArithmetic).
func BenchmarkEvaluate(b *testing.B) {
	for _, name := range []string{"mlp", "lenet", "resnet"} {
		m, err := onnxio.LoadModel(filepath.Join("..", "testdata", "models", name+".onnx"))
		if err != nil {
			b.Fatal(err)
		}
		data := mnistTest(b, m, 2560)
		calib, err := evaluator.Calibrate(context.Background(), m, data, evaluator.MinMax, 0, 256)
		if err != nil {
			b.Fatal(err)
		}
		mixed := evaluator.UniformPlan(m, 4, 8)
		for i := range mixed {
			mixed[i].WeightBits = []int{2, 3, 4, 8}[i%4]
			mixed[i].ActivationBits = []int{4, 6, 8}[i%3]
		}
		for _, pc := range []struct {
			name string
			plan evaluator.Plan
			opts []evaluator.Option
		}{
			{"fp32", evaluator.FloatPlan(m), nil},
			{"w8a8", evaluator.UniformPlan(m, 8, 8), nil},
			{"mixed", mixed, nil},
			{"int-w8a8", evaluator.UniformPlan(m, 8, 8), []evaluator.Option{evaluator.WithIntegerArithmetic()}},
			{"int-mixed", mixed, []evaluator.Option{evaluator.WithIntegerArithmetic()}},
		} {
			b.Run(name+"/"+pc.name, func(b *testing.B) { benchEvaluate(b, m, data, calib, pc.plan, pc.opts...) })
		}
	}
}

// benchEvaluate times Evaluate of plan on data (after one untimed run),
// reporting its throughput and allocations.
func benchEvaluate(b *testing.B, m *engine.Model, data *dataset.Dataset, calib *evaluator.Calibration, plan evaluator.Plan, opts ...evaluator.Option) {
	ev, err := evaluator.New(m, data, 256, calib, nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ev.Evaluate(ctx, plan); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		if _, err := ev.Evaluate(ctx, plan); err != nil {
			b.Fatal(err)
		}
	}
	reportThroughput(b, data.Len(), cpuTime()-cpu)
}

// reportThroughput reports images/s, wall time, and cpu-images/s, images per
// CPU-second of the process (all goroutines), for b.N operations of
// perOp images that used cpu.
func reportThroughput(b *testing.B, perOp int, cpu time.Duration) {
	b.ReportMetric(float64(perOp*b.N)/b.Elapsed().Seconds(), "images/s")
	if cpu > 0 {
		b.ReportMetric(float64(perOp*b.N)/cpu.Seconds(), "cpu-images/s")
	}
}

// BenchmarkEvaluateONNX is BenchmarkEvaluate's fp32, w8a8 and int-w8a8
// on any MNIST classifier: MPQ_BENCH_ONNX names the .onnx file (the
// benchmark is skipped without it). scripts/bench_forward.sh runs it on
// the files it is given.
func BenchmarkEvaluateONNX(b *testing.B) {
	path := os.Getenv("MPQ_BENCH_ONNX")
	if path == "" {
		b.Skip("MPQ_BENCH_ONNX is not set")
	}
	m, err := onnxio.LoadModel(path)
	if err != nil {
		b.Fatal(err)
	}
	data := mnistTest(b, m, 2560)
	calib, err := evaluator.Calibrate(context.Background(), m, data, evaluator.MinMax, 0, 256)
	if err != nil {
		b.Fatal(err)
	}
	for _, pc := range []struct {
		name string
		plan evaluator.Plan
		opts []evaluator.Option
	}{
		{"fp32", evaluator.FloatPlan(m), nil},
		{"w8a8", evaluator.UniformPlan(m, 8, 8), nil},
		{"int-w8a8", evaluator.UniformPlan(m, 8, 8), []evaluator.Option{evaluator.WithIntegerArithmetic()}},
	} {
		b.Run(pc.name, func(b *testing.B) { benchEvaluate(b, m, data, calib, pc.plan, pc.opts...) })
	}
}

// TestEvaluateAllocs checks that an evaluator that has run a plan once
// allocates nothing when it runs it again: fp32, fake-quant and integer,
// on LeNet and on cnn4, whose small layers go through montages whose
// widths alternate between a worker's full chunks and its last one.
func TestEvaluateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, name := range []string{"lenet", "cnn4"} {
		m, err := onnxio.LoadModel(filepath.Join("..", "testdata", "models", name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		data := mnistTest(t, m, 2560)
		calib, err := evaluator.Calibrate(context.Background(), m, data, evaluator.MinMax, 0, 256)
		if err != nil {
			t.Fatal(err)
		}
		for _, pc := range []struct {
			name string
			plan evaluator.Plan
			opts []evaluator.Option
		}{
			{"fp32", evaluator.FloatPlan(m), nil},
			{"w8a8", evaluator.UniformPlan(m, 8, 8), nil},
			{"int-w8a8", evaluator.UniformPlan(m, 8, 8), []evaluator.Option{evaluator.WithIntegerArithmetic()}},
		} {
			// Batches of 250 (the last of 60) make parts and chunks of
			// several sizes.
			ev, err := evaluator.New(m, data, 250, calib, nil, pc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			run := func() {
				if _, err := ev.Evaluate(context.Background(), pc.plan); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if a := testing.AllocsPerRun(2, run); a != 0 {
				t.Errorf("%s %s: %v allocations per evaluation, want 0", name, pc.name, a)
			}
		}
	}
}
