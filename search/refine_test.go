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
	x := distinctPoints(rand.New(rand.NewPCG(5, 6)), 20)
	var y, extra []float64
	for _, p := range x {
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

// TestGPPriorFeature checks the kernel with the sensitivity prior feature
// (a linear kernel on it beside the additive and joint ones): its Gram
// matrix over a whole small space is positive definite, and predict's mean
// and variance are the Gaussian-process posterior computed from kernel
// directly, k(p, p) + noise − k*ᵀ K⁻¹ k* (so the variance never needs its
// floor). Before the fix the feature's term sat inside the joint kernel's
// exponent, which is not a valid kernel: variances came out negative and
// means far outside the data.
func TestGPPriorFeature(t *testing.T) {
	sp := &Space{params: []param{{"w/a", 0, 'w', 4}, {"a/a", 0, 'a', 2}, {"w/b", 1, 'w', 4}, {"a/b", 1, 'a', 2}}}
	// The feature is a smooth, increasing function of the bits removed,
	// standardised to [−1, 1]; the target adds an interaction it misses.
	feat := func(p Point) float64 { return 1 - float64(p[0]+p[2]+p[1]+p[3])/4 }
	f := func(p Point) float64 { return 2*feat(p) + 0.3*float64(p[0]*p[2])/9 }
	x := distinctPoints(rand.New(rand.NewPCG(7, 8)), 14)
	var y, extra, fx []float64
	for i, p := range x {
		y = append(y, f(p))
		fx = append(fx, feat(p))
		extra = append(extra, 0.01*float64((i+1)%2))
	}
	fitted := fitGP(sp, x, y, extra, fx)
	if fitted == nil {
		t.Fatal("no fit")
	}
	n := int(sp.Size())
	for _, prior := range []float64{fitted.h.prior, 4} {
		h := fitted.h.clone()
		h.prior = prior
		g := &gpModel{sp: sp, x: x, f: fx, n: len(x), mean: fitted.mean, std: fitted.std, h: h}
		g.setL1(h.l1)
		z := make([]float64, len(y))
		for i, v := range y {
			z[i] = (v - g.mean) / g.std
		}
		if math.IsInf(g.factor(z, extra), -1) {
			t.Fatalf("prior weight %g: training covariance not positive definite", prior)
		}
		gram := make([]float64, n*n)
		for i := range n {
			for j := range n {
				a, b := sp.Enumerate(i), sp.Enumerate(j)
				gram[i*n+j] = g.kernel(a, b, feat(a), feat(b))
			}
			gram[i*n+i] += 1e-9
		}
		if !cholesky(gram, n) {
			t.Fatalf("prior weight %g: the kernel's Gram matrix over the space is not positive semidefinite", prior)
		}
		k := make([]float64, len(x)*len(x))
		for i := range x {
			for j := range x {
				k[i*len(x)+j] = g.kernel(x[i], x[j], fx[i], fx[j])
			}
			k[i*len(x)+i] += h.noise + extra[i]/(g.std*g.std)
		}
		if !cholesky(k, len(x)) {
			t.Fatal("training covariance refused")
		}
		for i := range n {
			p := sp.Enumerate(i)
			ks := make([]float64, len(x))
			for j := range x {
				ks[j] = g.kernel(p, x[j], feat(p), fx[j])
			}
			alpha := slices.Clone(z)
			solveLower(k, len(x), alpha)
			solveUpper(k, len(x), alpha)
			mean := 0.0
			for j := range x {
				mean += ks[j] * alpha[j]
			}
			solveLower(k, len(x), ks)
			v := g.kernel(p, p, feat(p), feat(p)) + h.noise
			for _, e := range ks {
				v -= e * e
			}
			wantMu, wantSd := g.mean+g.std*mean, g.std*math.Sqrt(v)
			mu, sd := g.predict(p, feat(p))
			if v < h.noise*(1-1e-9) || math.Abs(mu-wantMu) > 1e-9*(1+math.Abs(wantMu)) || math.Abs(sd-wantSd) > 1e-9*(1+wantSd) {
				t.Fatalf("prior weight %g, %v: predict %.6g ± %.6g, posterior %.6g ± %.6g (variance %.3g, noise %.3g)", prior, p, mu, sd, wantMu, wantSd, v, h.noise)
			}
		}
	}
}

// distinctPoints draws n distinct points of the 4×2×4×2 space the GP tests
// use.
func distinctPoints(rng *rand.Rand, n int) []Point {
	var x []Point
	seen := map[string]bool{}
	for len(x) < n {
		p := Point{rng.IntN(4), rng.IntN(2), rng.IntN(4), rng.IntN(2)}
		if !seen[p.Key()] {
			seen[p.Key()] = true
			x = append(x, p)
		}
	}
	return x
}
