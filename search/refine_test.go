package search

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"mpq/internal/pareto"
)

// TestExpectedShortfall checks E[(level − e^T)⁺], T ~ N(mu, sd²), against
// a midpoint-rule integral over the normal density.
func TestExpectedShortfall(t *testing.T) {
	for _, tc := range []struct{ level, mu, sd float64 }{
		{0.03, math.Log(0.03), 0.1},
		{0.03, math.Log(0.05), 0.3},
		{0.5, math.Log(0.1), 1},
		{0.02, math.Log(0.2), 0.05},
		{1, 0, 2},
	} {
		const steps = 200000
		lo, hi := tc.mu-12*tc.sd, tc.mu+12*tc.sd
		dx := (hi - lo) / steps
		want := 0.0
		for i := range steps {
			x := lo + (float64(i)+0.5)*dx
			dens := math.Exp(-0.5*((x-tc.mu)/tc.sd)*((x-tc.mu)/tc.sd)) / (tc.sd * math.Sqrt(2*math.Pi))
			want += math.Max(0, tc.level-math.Exp(x)) * dens * dx
		}
		got := expectedShortfall(tc.level, tc.mu, tc.sd)
		if math.Abs(got-want) > 1e-9+1e-6*want {
			t.Errorf("level %g, N(%g, %g²): %.10g, integral %.10g", tc.level, tc.mu, tc.sd, got, want)
		}
	}
	if got := expectedShortfall(0.1, math.Log(0.05), 0); math.Abs(got-0.05) > 1e-15 {
		t.Errorf("sd 0: %g, want 0.05", got)
	}
}

// TestStairs checks the staircase hypervolume against pareto.Hypervolume,
// and the expected improvement of a certain point (sd → 0) against the
// difference of hypervolumes with and without it.
func TestStairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + rng.IntN(12)
		var pts [][2]float64
		var asSlices [][]float64
		for range n {
			p := [2]float64{float64(rng.IntN(20)), 0.01 + rng.Float64()*0.5}
			pts = append(pts, p)
			asSlices = append(asSlices, []float64{p[0], p[1]})
		}
		refC, refB := 18.5, 0.3
		st := staircase(slices.Clone(pts))
		ref := []float64{refC, refB}
		hv := pareto.Hypervolume(asSlices, ref)
		if got := hvStairs(st, refC, refB); math.Abs(got-hv) > 1e-12 {
			t.Fatalf("trial %d: stairs hypervolume %g, pareto.Hypervolume %g", trial, got, hv)
		}
		c, b := float64(rng.IntN(22)), 0.01+rng.Float64()*0.5
		want := pareto.Hypervolume(append(slices.Clone(asSlices), []float64{c, b}), ref) - hv
		if got := ehvi(st, c, math.Log(b), 1e-15, refC, refB); math.Abs(got-want) > 1e-9 {
			t.Fatalf("trial %d: improvement of (%g, %g) %g, hypervolume difference %g (stairs %v)", trial, c, b, got, want, st)
		}
	}
}

func TestCholeskySolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 7
	a := make([]float64, n*n)
	m := make([]float64, n*n)
	for i := range m {
		m[i] = rng.NormFloat64()
	}
	for i := range n { // a = m mᵀ + I
		for j := range n {
			for k := range n {
				a[i*n+j] += m[i*n+k] * m[j*n+k]
			}
		}
		a[i*n+i]++
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	l := slices.Clone(a)
	if !cholesky(l, n) {
		t.Fatal("positive definite matrix refused")
	}
	x := slices.Clone(b)
	solveLower(l, n, x)
	solveUpper(l, n, x)
	for i := range n {
		s := 0.0
		for j := range n {
			s += a[i*n+j] * x[j]
		}
		if math.Abs(s-b[i]) > 1e-10 {
			t.Fatalf("row %d: (A x) = %g, b = %g", i, s, b[i])
		}
	}
	if cholesky([]float64{1, 2, 2, 1}, 2) {
		t.Error("indefinite matrix accepted")
	}
}

// TestGPLearnsRelevance fits the process to an additive function of two
// of four parameters: it must predict unseen points well, find the two
// irrelevant parameters irrelevant, and give the same fit twice.
func TestGPLearnsRelevance(t *testing.T) {
	sp := &Space{params: []param{{"w/a", 0, 'w', 4}, {"a/a", 0, 'a', 2}, {"w/b", 1, 'w', 4}, {"a/b", 1, 'a', 2}}}
	f := func(p Point) float64 { return []float64{2, 1, 0.5, 0}[p[0]] + []float64{1.5, 0.7, 0.2, 0}[p[2]] }
	rng := rand.New(rand.NewPCG(5, 6))
	var x []Point
	var y, extra []float64
	seen := map[string]bool{}
	for len(x) < 20 {
		p := Point{rng.IntN(4), rng.IntN(2), rng.IntN(4), rng.IntN(2)}
		if seen[p.Key()] {
			continue
		}
		seen[p.Key()] = true
		x = append(x, p)
		y = append(y, f(p))
		extra = append(extra, 0)
	}
	g := fitGP(sp, x, y, extra, nil)
	if g == nil {
		t.Fatal("no fit")
	}
	for i := range int(sp.Size()) {
		p := sp.Enumerate(i)
		mu, sd := g.predict(p, 0)
		if math.Abs(mu-f(p)) > 0.15 {
			t.Errorf("%v: predicted %.3f ± %.3f, true %.3f", p, mu, sd, f(p))
		}
	}
	if g.h.w[1] > 0.05*g.h.w[0] || g.h.w[3] > 0.05*g.h.w[2] {
		t.Errorf("additive weights %v: the activation parameters should be irrelevant", g.h.w)
	}
	g2 := fitGP(sp, x, y, extra, nil)
	if !slices.Equal(g.alpha, g2.alpha) {
		t.Error("two fits of the same data differ")
	}
}
