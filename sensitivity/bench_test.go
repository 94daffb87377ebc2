package sensitivity

import (
	"context"
	"os"
	"testing"

	"mpq/internal/onnxio"
)

// The benchmarks use the shipped LeNet and the first 1024 MNIST training
// images: the default sensitivity subset of configs/lenet.yaml.

// BenchmarkHutchinsonSample times one Hutchinson probe: one Hessian-vector
// product over the subset (two float64 gradients, run concurrently).
func BenchmarkHutchinsonSample(b *testing.B) {
	m := loadShipped(b, "lenet")
	d := mnistTrain(b, m, 1024)
	h := newHVP(m, d, DefaultBatch)
	v := make([][]float64, len(m.Layers))
	hv := make([][]float64, len(m.Layers))
	for l := range m.Layers {
		v[l] = make([]float64, m.Layers[l].Params)
		hv[l] = make([]float64, m.Layers[l].Params)
	}
	ctx := context.Background()
	k := 0
	cpu := cpuTime()
	for b.Loop() {
		rademacher(v, 0, k)
		k++
		if _, err := h.apply(ctx, v, hv, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(d.Len()*b.N)/b.Elapsed().Seconds(), "images/s")
}

func benchMethod(b *testing.B, opt Options) {
	m := loadShipped(b, "lenet")
	d := mnistTrain(b, m, 1024)
	cpu := cpuTime()
	for b.Loop() {
		if _, err := Analyze(context.Background(), m, d, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkFisher times the empirical Fisher trace (1024 per-sample
// gradients) plus the baseline forward pass.
func BenchmarkFisher(b *testing.B) { benchMethod(b, Options{Methods: []string{Fisher}}) }

// BenchmarkActivation times the activation traces and Ω.
func BenchmarkActivation(b *testing.B) {
	benchMethod(b, Options{Methods: []string{Activation}, ActivationBits: []int{4, 8}})
}

// BenchmarkPerturbation times the measured perturbation at 2, 4 and 8 bit
// weights and 8-bit inputs (20 forward passes of the subset).
func BenchmarkPerturbation(b *testing.B) {
	benchMethod(b, Options{Methods: []string{Perturbation}, WeightBits: []int{2, 4, 8}, ActivationBits: []int{8}})
}

// BenchmarkBlockProduct times one Hessian-vector product on each layer's
// block of the shipped LeNet (or of the MNIST model MPQ_BENCH_MODEL names,
// an ONNX file) over 512 images, the unit Hutch++ and the eigenvalue spend
// their time in: the forward pass reruns only the steps the layer's weight
// reaches, from the kept frontier.
func BenchmarkBlockProduct(b *testing.B) {
	m := loadShipped(b, "lenet")
	if path := os.Getenv("MPQ_BENCH_MODEL"); path != "" {
		var err error
		if m, err = onnxio.LoadModel(path); err != nil {
			b.Fatal(err)
		}
	}
	d := mnistTrain(b, m, 512)
	h := newHVP(m, d, DefaultBatch)
	bh := newBlockHVP(h)
	ctx := context.Background()
	for l, layer := range m.Layers {
		b.Run(layer.Name, func(b *testing.B) {
			x := make([]float64, layer.Params)
			out := make([]float64, layer.Params)
			rademacher([][]float64{x}, 0, l)
			if err := bh.apply(ctx, l, x, out, false); err != nil { // keeps the frontier
				b.Fatal(err)
			}
			cpu := cpuTime()
			for b.Loop() {
				if err := bh.apply(ctx, l, x, out, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}
