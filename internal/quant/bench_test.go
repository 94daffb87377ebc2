package quant

import "testing"

// Sinks keep the compiler from discarding benchmark results.
var (
	sinkF64 []float64
	sinkF32 []float32
	sinkLo  float64
)

// benchWeights times Weights on n seeded Gaussian weights in 100 channels.
func benchWeights(b *testing.B, spec WeightSpec, n int) {
	w := normals(newRand(1), n, 0.05)
	hess := make([]float64, n)
	for i := range hess {
		hess[i] = 1 + w[i]*w[i]
	}
	dst := make([]float64, n)
	b.SetBytes(int64(8 * n))
	b.ReportAllocs()
	for b.Loop() {
		if err := Weights(dst, w, 100, spec, hess); err != nil {
			b.Fatal(err)
		}
	}
	sinkF64 = dst
}

func BenchmarkUniform8_1M(b *testing.B)   { benchWeights(b, WeightSpec{Uniform, 8}, 1_000_000) }
func BenchmarkUniform4_1M(b *testing.B)   { benchWeights(b, WeightSpec{Uniform, 4}, 1_000_000) }
func BenchmarkBinary_1M(b *testing.B)     { benchWeights(b, WeightSpec{Binary, 1}, 1_000_000) }
func BenchmarkTernary_1M(b *testing.B)    { benchWeights(b, WeightSpec{Ternary, 2}, 1_000_000) }
func BenchmarkPow2_5_1M(b *testing.B)     { benchWeights(b, WeightSpec{Pow2, 5}, 1_000_000) }
func BenchmarkKMeans4_100k(b *testing.B)  { benchWeights(b, WeightSpec{KMeans, 4}, 100_000) }
func BenchmarkKMeans8_100k(b *testing.B)  { benchWeights(b, WeightSpec{KMeans, 8}, 100_000) }
func BenchmarkKMeansH4_100k(b *testing.B) { benchWeights(b, WeightSpec{KMeansHessian, 4}, 100_000) }

// benchFakeQuant32 times FakeQuant32 in place on n seeded activations.
func benchFakeQuant32(b *testing.B, n int) {
	rng := newRand(2)
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	a := AffineFromRange(-2, 3, 8)
	dst := make([]float32, n)
	b.SetBytes(int64(4 * n))
	b.ReportAllocs()
	for b.Loop() {
		FakeQuant32(dst, x, a)
	}
	sinkF32 = dst
}

func BenchmarkFakeQuant32_1M(b *testing.B) { benchFakeQuant32(b, 1_000_000) }

func BenchmarkFakeQuant64_1M(b *testing.B) {
	x := normals(newRand(2), 1<<20, 1)
	a := AffineFromRange(-2, 3, 8)
	dst := make([]float64, len(x))
	b.SetBytes(int64(8 * len(x)))
	b.ReportAllocs()
	for b.Loop() {
		FakeQuant64(dst, x, a)
	}
	sinkF64 = dst
}

// benchObserver times observing 1M activations in 64k batches and asking
// for the range.
func benchObserver(b *testing.B, newObs func() Observer) {
	rng := newRand(3)
	x := make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	b.ReportAllocs()
	for b.Loop() {
		o := newObs()
		for i := 0; i < len(x); i += 1 << 16 {
			o.Observe(x[i : i+1<<16])
		}
		sinkLo, _ = o.Range()
	}
}

func BenchmarkObserveMinMax_1M(b *testing.B) {
	benchObserver(b, func() Observer { return NewMinMax() })
}

func BenchmarkObservePercentile_1M(b *testing.B) {
	benchObserver(b, func() Observer { return NewPercentile(99.99) })
}

func BenchmarkObserveMSE4_1M(b *testing.B) {
	benchObserver(b, func() Observer { return NewMSE(4) })
}
