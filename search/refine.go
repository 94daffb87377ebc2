package search

import (
	"math"
	"math/rand/v2"
	"slices"

	"mpq/internal/pareto"
)

// The auto sampler's refinement is Bayesian optimisation: a Gaussian
// process (C. E. Rasmussen, C. K. I. Williams. Gaussian Processes for
// Machine Learning. MIT Press, 2006) models the plans' log error rate, and
// the next plan maximises the expected hypervolume improvement (M.
// Emmerich, K. Giannakoglou, B. Naujoks. Single- and multiobjective
// evolutionary optimization assisted by Gaussian random field metamodels.
// IEEE Transactions on Evolutionary Computation 10(4):421–439, 2006). A
// plan's cost is known exactly, so in two objectives the expectation is a
// sum over the front's stairs of one-dimensional expected shortfalls, in
// closed form for the log-normal error rate.

// guide is what the auto sampler knows beyond the objective vectors: the
// exact cost of any plan, how the quality objective is read, and the
// study's constraints. seed sets it from the runner.
type guide struct {
	// costs returns a point's cost objectives (the objective vector's
	// entries after the first), in study order.
	costs func(Point) []float64
	// accuracy is true when the first objective is −accuracy (badness =
	// error rate = 1 + obj), false for loss (badness = loss).
	accuracy bool
	// maxBadness, when finite, is the accuracy-drop constraint as a
	// badness bound; maxCosts bound the costs (+Inf: none).
	maxBadness float64
	maxCosts   []float64
	// refCost is the widest plan's costs: the hypervolume's reference.
	refCost []float64
	// omega, when not nil, is a plan's sensitivity-predicted loss increase
	// (HAWQ's Σ Ω): the process's prior for plans unlike any tried.
	omega func(Point) float64
}

// The reference accuracies of the refinement's hypervolume improvement,
// as drops below the best accuracy found (error-rate points; for loss,
// multiples of the best loss over 40). The user's reference point is
// unknown, so improvements are summed over several levels, each relative
// to the hypervolume already reached at that level. Two proposals in three
// look at the near-lossless end of the front, within 4 points of the best
// plan (where users deploy from, and where plans differ by a few tenths of
// a point), the third at the whole front's shape.
var (
	fineLevels   = []float64{0.005, 0.01, 0.015, 0.02, 0.03, 0.04}
	coarseLevels = []float64{0.08, 0.16, 0.32, 1}
)

// coarseEvery: every coarseEvery-th proposal uses the coarse levels.
const coarseEvery = 3

// gpModel is a Gaussian process over points, fitted to standardised log
// badness. Its kernel is a weighted sum of one exponential kernel per
// parameter (an additive model whose weights say how much each layer's
// choice matters: automatic relevance determination) and one exponential
// kernel over the weighted sum of per-parameter distances (interactions), plus
// noise: the part of a plan's accuracy no smooth model predicts, like the
// few hundredths of a point an activation bitwidth changes by chance.
// Bitwidth choices are ordinal (distance = difference of positions /
// (choices − 1)), quantizers categorical.
type gpModel struct {
	sp        *Space
	x         []Point
	f         []float64 // standardised prior feature of each point (nil: none)
	n         int
	mean, std float64
	h         gpHyper
	e1        [][]float64 // per parameter, exp(−distance/ℓ₁) by index difference
	alpha     []float64
	chol      []float64 // lower Cholesky factor, row-major n×n
}

// gpHyper are the kernel's hyperparameters.
type gpHyper struct {
	w     []float64 // additive weight per parameter
	joint float64   // weight of the joint kernel
	l1    float64   // length scale of the per-parameter kernels
	r     []float64 // inverse length scale per parameter of the joint kernel
	prior float64   // weight of the linear kernel on the prior feature
	noise float64
}

func (h gpHyper) clone() gpHyper {
	h.w = slices.Clone(h.w)
	h.r = slices.Clone(h.r)
	return h
}

func (sp *Space) paramDistance(j, a, b int) float64 {
	p := sp.params[j]
	if a == b {
		return 0
	}
	if p.kind == 'q' || p.n < 2 {
		return 1
	}
	return math.Abs(float64(a-b)) / float64(p.n-1)
}

func (g *gpModel) setL1(l1 float64) {
	g.h.l1 = l1
	g.e1 = make([][]float64, len(g.sp.params))
	for j, p := range g.sp.params {
		g.e1[j] = make([]float64, p.n)
		for k := range p.n {
			g.e1[j][k] = math.Exp(-g.sp.paramDistance(j, 0, k) / l1)
		}
	}
}

func (g *gpModel) kernel(a, b Point, fa, fb float64) float64 {
	sum, add := 0.0, g.h.prior*fa*fb
	for j := range a {
		d := a[j] - b[j]
		if d < 0 {
			d = -d
		}
		if g.sp.params[j].kind == 'q' && d > 0 {
			d = 1
		}
		add += g.h.w[j] * g.e1[j][d]
		sum += g.h.r[j] * g.sp.paramDistance(j, a[j], b[j])
	}
	return add + g.h.joint*math.Exp(-sum)
}

func (g *gpModel) feat(i int) float64 {
	if g.f == nil {
		return 0
	}
	return g.f[i]
}

// factor builds and factors the training covariance with g's
// hyperparameters and returns the log marginal likelihood of z (−Inf when
// the matrix is not positive definite).
func (g *gpModel) factor(z, extra []float64) float64 {
	n := g.n
	k := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			v := g.kernel(g.x[i], g.x[j], g.feat(i), g.feat(j))
			k[i*n+j], k[j*n+i] = v, v
		}
		k[i*n+i] += g.h.noise + extra[i]/(g.std*g.std)
	}
	if !cholesky(k, n) {
		return math.Inf(-1)
	}
	alpha := slices.Clone(z)
	solveLower(k, n, alpha)
	ll := 0.0
	for i := 0; i < n; i++ {
		ll -= 0.5*alpha[i]*alpha[i] + math.Log(k[i*n+i])
	}
	solveUpper(k, n, alpha)
	g.alpha, g.chol = alpha, k
	return ll
}

// cholesky factors the symmetric positive definite n×n matrix a in place
// (lower triangle); ok is false when it is not positive definite.
func cholesky(a []float64, n int) bool {
	for j := 0; j < n; j++ {
		s := a[j*n+j]
		for k := 0; k < j; k++ {
			s -= a[j*n+k] * a[j*n+k]
		}
		if s <= 0 {
			return false
		}
		d := math.Sqrt(s)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	return true
}

// solveLower solves L y = b in place.
func solveLower(l []float64, n int, b []float64) {
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// solveUpper solves Lᵀ x = b in place.
func solveUpper(l []float64, n int, b []float64) {
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// fitGP fits the process to targets y at points x (extra: per-point
// additional noise variance in y's units; f: a standardised prior feature
// per point, or nil). The hyperparameters maximise
// the marginal likelihood by coordinate search: from a fixed start, each in
// turn is scaled by ¼, ½, 2 or 4 while that helps, for three sweeps. The
// fit depends only on its inputs, so proposals stay reproducible.
func fitGP(sp *Space, x []Point, y, extra, f []float64) *gpModel {
	n := len(x)
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(n)
	std := 0.0
	for _, v := range y {
		std += (v - mean) * (v - mean)
	}
	std = math.Sqrt(std / float64(n))
	if std < 1e-9 {
		std = 1
	}
	z := make([]float64, n)
	for i, v := range y {
		z[i] = (v - mean) / std
	}
	P := len(sp.params)
	h := gpHyper{w: make([]float64, P), r: make([]float64, P), joint: 0.5, l1: 1, noise: 0.01}
	if f != nil {
		h.prior = 0.5
	}
	for j := range h.w {
		h.w[j] = 0.5 / float64(P)
		h.r[j] = 1
	}
	g := &gpModel{sp: sp, x: x, f: f, n: n, mean: mean, std: std, h: h}
	g.setL1(h.l1)
	bestLL := g.factor(z, extra)
	best := g.h.clone()
	type knob struct {
		get      func(*gpHyper) *float64
		lo, hi   float64
		isLength bool
	}
	var knobs []knob
	for j := range P {
		knobs = append(knobs, knob{get: func(h *gpHyper) *float64 { return &h.w[j] }, lo: 1e-4, hi: 10},
			knob{get: func(h *gpHyper) *float64 { return &h.r[j] }, lo: 1e-3, hi: 20})
	}
	knobs = append(knobs,
		knob{get: func(h *gpHyper) *float64 { return &h.joint }, lo: 1e-4, hi: 10},
		knob{get: func(h *gpHyper) *float64 { return &h.l1 }, lo: 0.05, hi: 20, isLength: true},
		knob{get: func(h *gpHyper) *float64 { return &h.noise }, lo: 1e-4, hi: 1})
	if f != nil {
		knobs = append(knobs, knob{get: func(h *gpHyper) *float64 { return &h.prior }, lo: 1e-4, hi: 10})
	}
	for range 3 {
		for _, k := range knobs {
			for _, f := range []float64{4, 2, 0.5, 0.25} {
				h := best.clone()
				v := k.get(&h)
				*v *= f
				if *v < k.lo || *v > k.hi {
					continue
				}
				g.h = h
				if k.isLength {
					g.setL1(h.l1)
				}
				if ll := g.factor(z, extra); ll > bestLL+1e-9 {
					bestLL, best = ll, h.clone()
				}
				if k.isLength {
					g.setL1(best.l1)
				}
			}
		}
	}
	g.h = best
	g.setL1(best.l1)
	if math.IsInf(g.factor(z, extra), -1) {
		return nil
	}
	return g
}

// refit returns the process with g's hyperparameters and standardisation
// fitted to other data.
func (g *gpModel) refit(x []Point, y, extra, f []float64) *gpModel {
	h := &gpModel{sp: g.sp, x: x, f: f, n: len(x), mean: g.mean, std: g.std, h: g.h, e1: g.e1}
	z := make([]float64, len(y))
	for i, v := range y {
		z[i] = (v - g.mean) / g.std
	}
	if math.IsInf(h.factor(z, extra), -1) {
		return nil
	}
	return h
}

// predict returns the mean and standard deviation of a new observation at
// p, in y's units.
func (g *gpModel) predict(p Point, fp float64) (float64, float64) {
	ks := make([]float64, g.n)
	mu := 0.0
	for i, xi := range g.x {
		ks[i] = g.kernel(p, xi, fp, g.feat(i))
		mu += ks[i] * g.alpha[i]
	}
	solveLower(g.chol, g.n, ks)
	prior := g.h.joint + g.h.noise + g.h.prior*fp*fp
	for _, w := range g.h.w {
		prior += w
	}
	v := prior
	for _, e := range ks {
		v -= e * e
	}
	v = math.Max(v, g.h.noise)
	return g.mean + g.std*mu, g.std * math.Sqrt(v)
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// expectedShortfall is E[(level − e^T)⁺] for T ~ N(mu, sd²): the expected
// amount by which a badness modelled as log-normal falls below level.
func expectedShortfall(level, mu, sd float64) float64 {
	if level <= 0 {
		return 0
	}
	if sd < 1e-12 {
		return math.Max(0, level-math.Exp(mu))
	}
	ll := math.Log(level)
	return level*normCDF((ll-mu)/sd) - math.Exp(mu+sd*sd/2)*normCDF((ll-mu-sd*sd)/sd)
}

// step is one stair of the current front: from cost c on, the best
// badness is b.
type step struct{ c, b float64 }

// staircase returns the front of (cost, badness) points as steps of
// increasing cost and decreasing badness.
func staircase(pts [][2]float64) []step {
	slices.SortFunc(pts, func(a, b [2]float64) int {
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		if a[1] < b[1] {
			return -1
		} else if a[1] > b[1] {
			return 1
		}
		return 0
	})
	var out []step
	for _, p := range pts {
		if len(out) == 0 || p[1] < out[len(out)-1].b {
			out = append(out, step{p[0], p[1]})
		}
	}
	return out
}

// hvStairs is the hypervolume of the stairs below (refC, refB).
func hvStairs(st []step, refC, refB float64) float64 {
	hv := 0.0
	for i, s := range st {
		if s.c >= refC || s.b >= refB {
			continue
		}
		end := refC
		if i+1 < len(st) {
			end = math.Min(end, st[i+1].c)
		}
		hv += (end - s.c) * (refB - s.b)
	}
	return hv
}

// ehvi is the expected hypervolume improvement of a point of cost c whose
// log badness is N(mu, sd²), over the stairs, below (refC, refB): the
// integral over costs from c to refC of the expected shortfall below the
// level the stairs reach there.
func ehvi(st []step, c, mu, sd, refC, refB float64) float64 {
	if c >= refC {
		return 0
	}
	level, k := refB, 0
	for ; k < len(st) && st[k].c <= c; k++ {
		level = math.Min(refB, st[k].b)
	}
	total, start := 0.0, c
	for ; k < len(st) && st[k].c < refC; k++ {
		total += (st[k].c - start) * expectedShortfall(level, mu, sd)
		start, level = st[k].c, math.Min(refB, st[k].b)
	}
	return total + (refC-start)*expectedShortfall(level, mu, sd)
}

// maxGPPoints bounds the trials the process is fitted to (the best ones by
// non-domination rank, then the most recent others): the fit is cubic in
// their number.
const maxGPPoints = 160

// refine proposes the untaken point with the largest expected hypervolume
// improvement, summed over the reference levels and each taken relative to
// the hypervolume reached there, under a Gaussian process fitted to the
// finished trials (pruned ones with extra noise). Pending trials (running
// in other workers) count as finished at their predicted value (the
// "kriging believer"), so that workers do not chase the same improvement.
// Candidates are the neighbours of the best plans (one parameter set to any
// choice, or two moved one step) and random points (see candidates), never
// a taken one or one beyond a cost constraint. ok is false when the
// study is not one quality and one cost objective, or too little is known.
func (s *Sampler) refine(rng *rand.Rand, done []observed, taken map[string]bool, pending []Point, levels []float64) (Point, bool) {
	g := s.guide
	if g == nil || len(done) < 4 || len(done[0].obj) != 2 || len(g.refCost) != 1 {
		return nil, false
	}
	badness := func(q float64) float64 {
		if g.accuracy {
			q++
		}
		return math.Max(q, 1e-6)
	}
	var stairsPts [][2]float64
	bestB := math.Inf(1)
	for _, o := range done {
		if o.feasible {
			b := badness(o.obj[0])
			stairsPts = append(stairsPts, [2]float64{o.obj[1], b})
			bestB = math.Min(bestB, b)
		}
	}
	if math.IsInf(bestB, 1) {
		return nil, false
	}
	fit := done
	if len(fit) > maxGPPoints {
		idx := order(done)
		keep := slices.Clone(idx[:maxGPPoints*3/4])
		rest := slices.Clone(idx[maxGPPoints*3/4:])
		slices.Sort(rest)
		keep = append(keep, rest[len(rest)-(maxGPPoints-len(keep)):]...)
		slices.Sort(keep)
		fit = make([]observed, len(keep))
		for i, k := range keep {
			fit[i] = done[k]
		}
	}
	x := make([]Point, 0, len(fit)+len(pending))
	y := make([]float64, 0, len(fit)+len(pending))
	extra := make([]float64, 0, len(fit)+len(pending))
	for _, o := range fit {
		x = append(x, o.pt)
		y = append(y, math.Log(badness(o.obj[0])))
		e := 0.0
		if o.pruned {
			e = 0.05 * 0.05 // a partial evaluation: roughly ±5 % of the badness
		}
		extra = append(extra, e)
	}
	feature := s.priorFeature()
	var f []float64
	if feature != nil {
		for _, p := range x {
			f = append(f, feature(p))
		}
	}
	gp := fitGP(s.space, x, y, extra, f)
	if gp == nil {
		return nil, false
	}
	if len(pending) > 0 {
		for _, p := range pending {
			fp := 0.0
			if feature != nil {
				fp = feature(p)
				f = append(f, fp)
			}
			mu, _ := gp.predict(p, fp)
			x = append(x, p)
			y = append(y, mu)
			extra = append(extra, 0)
			c := g.costs(p)
			if c[0] <= g.maxCosts[0] && math.Exp(mu) <= g.maxBadness {
				stairsPts = append(stairsPts, [2]float64{c[0], math.Exp(mu)})
			}
		}
		if gp = gp.refit(x, y, extra, f); gp == nil {
			return nil, false
		}
	}
	st := staircase(stairsPts)
	refC := g.refCost[0] * 1.0001
	type ref struct{ b, hv float64 }
	var refs []ref
	for _, d := range levels {
		rb := bestB + d
		if !g.accuracy {
			rb = bestB * (1 + 40*d)
		}
		rb = math.Min(rb, g.maxBadness)
		if len(refs) > 0 && rb <= refs[len(refs)-1].b {
			continue
		}
		hv := hvStairs(st, refC, rb)
		// Before a level holds any plan, an improvement there counts as
		// much as one of a hundredth of the level's span.
		floor := (refC - st[0].c) * (rb - bestB) * 0.01
		refs = append(refs, ref{rb, math.Max(hv, floor)})
	}
	if len(refs) == 0 {
		return nil, false
	}
	best, bestScore := Point(nil), 0.0
	for _, pt := range s.candidates(rng, done) {
		if taken[pt.Key()] {
			continue
		}
		c := g.costs(pt)
		if slices.ContainsFunc(c, func(v float64) bool { return v >= refC }) {
			continue
		}
		feasible := true
		for i, v := range c {
			if v > g.maxCosts[i] {
				feasible = false
			}
		}
		if !feasible {
			continue
		}
		fp := 0.0
		if feature != nil {
			fp = feature(pt)
		}
		mu, sd := gp.predict(pt, fp)
		total := 0.0
		for _, r := range refs {
			total += ehvi(st, c[0], mu, sd, refC, r.b) / r.hv
		}
		if total > bestScore {
			best, bestScore = pt, total
		}
	}
	return best, best != nil
}

// priorFeature returns the process's prior feature, log(Σ Ω + ε) with ε a
// hundredth of the narrowest plan's Σ Ω, standardised over the space's
// extremes (so that it does not depend on the trials), or nil without a
// sensitivity table.
func (s *Sampler) priorFeature() func(Point) float64 {
	om := s.guide.omega
	if om == nil {
		return nil
	}
	narrow := om(make(Point, len(s.space.params)))
	widest := make(Point, len(s.space.params))
	for j, p := range s.space.params {
		widest[j] = p.n - 1
	}
	eps := 0.01*narrow + 1e-12
	lo, hi := math.Log(om(widest)+eps), math.Log(narrow+eps)
	mid, half := (lo+hi)/2, (hi-lo)/2
	if half <= 0 {
		return nil
	}
	return func(p Point) float64 { return (math.Log(om(p)+eps) - mid) / half }
}

// candidates lists the points refine scores: the neighbourhood of the
// non-dominated and next-best feasible plans (one parameter set to any
// other choice; for non-dominated plans also two parameters moved one step)
// and 256 random points. Scoring the whole of a small space instead did
// worse: far from the tried plans the process's optimism draws proposals
// into plans that are not worth a trial. The list may hold taken points
// and repeats.
func (s *Sampler) candidates(rng *rand.Rand, done []observed) []Point {
	sp := s.space
	var feas [][]float64
	var idx []int
	for i, o := range done {
		if o.feasible {
			feas = append(feas, o.obj)
			idx = append(idx, i)
		}
	}
	var out []Point
	if len(feas) > 0 {
		ranks := pareto.Ranks(feas)
		for k, i := range idx {
			if ranks[k] > 1 {
				continue
			}
			base := done[i].pt
			for j, p := range sp.params {
				for v := 0; v < p.n; v++ {
					if v != base[j] {
						pt := slices.Clone(base)
						pt[j] = v
						out = append(out, pt)
					}
				}
			}
			if ranks[k] > 0 {
				continue
			}
			for j1 := range sp.params {
				for j2 := j1 + 1; j2 < len(sp.params); j2++ {
					for _, d1 := range []int{-1, 1} {
						for _, d2 := range []int{-1, 1} {
							a, b := base[j1]+d1, base[j2]+d2
							if a < 0 || b < 0 || a >= sp.params[j1].n || b >= sp.params[j2].n {
								continue
							}
							pt := slices.Clone(base)
							pt[j1], pt[j2] = a, b
							out = append(out, pt)
						}
					}
				}
			}
		}
	}
	for range 256 {
		out = append(out, s.randomPoint(rng))
	}
	return out
}
