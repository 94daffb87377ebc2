package engine_test

import (
	"path/filepath"
	"testing"

	"mpq/internal/engine"
	"mpq/internal/onnxio"
)

var shippedModels = []string{"mlp", "lenet", "resnet", "resnet_bn"}

// BenchmarkForward measures float32 inference at batch 256 on each shipped
// model (images/s is reported as a metric).
func BenchmarkForward(b *testing.B) {
	for _, name := range shippedModels {
		b.Run(name, func(b *testing.B) {
			m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", name+".onnx"))
			if err != nil {
				b.Fatal(err)
			}
			d := loadMNISTTest(b, m)
			x := d.BatchAt(0, 256).X
			s := engine.NewSession[float32](m)
			if _, err := s.Forward(x, 256); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				if _, err := s.Forward(x, 256); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "images/s")
			if c := cpuTime() - cpu; c > 0 {
				b.ReportMetric(float64(256*b.N)/c.Seconds(), "cpu-images/s")
			}
		})
	}
}

// BenchmarkBackward measures a float64 forward+backward at batch 256.
func BenchmarkBackward(b *testing.B) {
	for _, name := range shippedModels[:3] {
		b.Run(name, func(b *testing.B) {
			m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/models", name+".onnx"))
			if err != nil {
				b.Fatal(err)
			}
			d := loadMNISTTest(b, m)
			bt := d.BatchAt(0, 256)
			x := make([]float64, len(bt.X))
			for i, v := range bt.X {
				x[i] = float64(v)
			}
			s := engine.NewSession[float64](m)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				if _, err := s.Forward(x, 256); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Backward(bt.Labels); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "images/s")
			if c := cpuTime() - cpu; c > 0 {
				b.ReportMetric(float64(256*b.N)/c.Seconds(), "cpu-images/s")
			}
		})
	}
}
