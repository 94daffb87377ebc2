package pareto

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Sinks keep the compiler from discarding benchmarked results.
var (
	sinkFloat float64
	sinkFront []Solution
)

// spherePoints returns n mutually non-dominated points on the positive unit
// sphere in d objectives, the usual worst case for hypervolume.
func spherePoints(rng *rand.Rand, n, d int) [][]float64 {
	pts := make([][]float64, n)
	for i := range pts {
		p := make([]float64, d)
		norm := 0.0
		for k := range p {
			p[k] = math.Abs(rng.NormFloat64())
			norm += p[k] * p[k]
		}
		for k := range p {
			p[k] /= math.Sqrt(norm)
		}
		pts[i] = p
	}
	return pts
}

func benchmarkHypervolume(b *testing.B, n, d int) {
	rng := rand.New(rand.NewPCG(7, uint64(n*10+d)))
	pts := spherePoints(rng, n, d)
	ref := make([]float64, d)
	for k := range ref {
		ref[k] = 1.1
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkFloat = Hypervolume(pts, ref)
	}
}

func BenchmarkHypervolume2D1000(b *testing.B) { benchmarkHypervolume(b, 1000, 2) }
func BenchmarkHypervolume3D200(b *testing.B)  { benchmarkHypervolume(b, 200, 3) }
func BenchmarkHypervolume4D50(b *testing.B)   { benchmarkHypervolume(b, 50, 4) }

func benchmarkContributions(b *testing.B, n, d int) {
	rng := rand.New(rand.NewPCG(8, uint64(n*10+d)))
	pts := spherePoints(rng, n, d)
	ref := make([]float64, d)
	for k := range ref {
		ref[k] = 1.1
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkFloat = Contributions(pts, ref)[0]
	}
}

func BenchmarkContributions2D1000(b *testing.B) { benchmarkContributions(b, 1000, 2) }
func BenchmarkContributions3D100(b *testing.B)  { benchmarkContributions(b, 100, 3) }

func benchmarkMCKFront(b *testing.B, groups, options, maxPoints int) {
	rng := rand.New(rand.NewPCG(9, uint64(groups*100+options)))
	sizes := make([]int, groups)
	for g := range sizes {
		sizes[g] = options
	}
	gs := hawqGroups(rng, sizes)
	b.ReportAllocs()
	for b.Loop() {
		sinkFront = MCKFront(gs, maxPoints)
	}
	b.ReportMetric(float64(len(sinkFront)), "points")
}

func BenchmarkMCKFront40x8(b *testing.B)         { benchmarkMCKFront(b, 40, 8, 0) }
func BenchmarkMCKFront100x4(b *testing.B)        { benchmarkMCKFront(b, 100, 4, 0) }
func BenchmarkMCKFront100x4Cap1000(b *testing.B) { benchmarkMCKFront(b, 100, 4, 1000) }

func BenchmarkMCKBudget100x4(b *testing.B) {
	rng := rand.New(rand.NewPCG(10, 0))
	sizes := make([]int, 100)
	for g := range sizes {
		sizes[g] = 4
	}
	gs := hawqGroups(rng, sizes)
	budget := 0.0
	for _, opts := range gs {
		budget += opts[1].Cost // about 3 bits per weight on average
	}
	b.ReportAllocs()
	for b.Loop() {
		sol, _ := MCKBudget(gs, budget)
		sinkFloat = sol.Penalty
	}
}
