package sensitivity

import (
	"context"
	"fmt"
	"math"
	"time"
)

// SplitMix64 constants (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014).
const (
	splitMixGamma = 0x9E3779B97F4A7C15
	splitMixMul1  = 0xBF58476D1CE4E5B9
	splitMixMul2  = 0x94D049BB133111EB
)

// mix64 is SplitMix64's output function.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= splitMixMul1
	z ^= z >> 27
	z *= splitMixMul2
	return z ^ z>>31
}

// rademacher fills the blocks of v (the layer weights in layer order, seen
// as one concatenated vector) with Hutchinson probe number probe (from 0):
// element j is +1 when bit j mod 64 of word j/64 is set and −1 otherwise,
// where word i is output i+1 of a SplitMix64 stream seeded with output
// probe+1 of a SplitMix64 stream seeded with seed:
//
//	word(i) = mix64(mix64(seed + γ·(probe+1)) + γ·(i+1))
//
// The generator is counter-based, so any probe can be drawn on its own,
// and scripts/hessian_torch.py reproduces it bit for bit in numpy: mpq and
// the PyTorch reference can be run on identical probes.
func rademacher(v [][]float64, seed uint64, probe int) {
	base := mix64(seed + splitMixGamma*uint64(probe+1))
	j := 0
	var word uint64
	for _, vl := range v {
		for i := range vl {
			if j%64 == 0 {
				word = mix64(base + splitMixGamma*uint64(j/64+1))
			}
			if word>>(j%64)&1 != 0 {
				vl[i] = 1
			} else {
				vl[i] = -1
			}
			j++
		}
	}
}

// ConvergenceWindow is the number of consecutive probes over which a
// layer's running mean must stay within Options.Tolerance to stop. A single probe is
// not enough: the change of the mean after probe k is (x_k − m_{k−1})/k,
// which is small by chance whenever x_k happens to land near the mean
// (PyHessian's one-probe rule then stops after a handful of probes with a
// standard error of tens of percent).
const ConvergenceWindow = 5

// runningMean is Welford's online mean and variance (Welford 1962; Knuth,
// TAOCP vol. 2, §4.2.2) with the stopping rule of the Hutchinson loop.
type runningMean struct {
	n      int
	mean   float64
	m2     float64
	stable int // consecutive probes whose relative change was within tolerance
	done   bool
}

// add adds x and updates the stopping state: after at least minSamples
// probes the estimate is converged once |Δmean| ≤ tol·|mean| held for
// ConvergenceWindow consecutive probes. The denominator is |mean|, never
// the signed mean (a negative or zero trace must not make every change look
// small, the bug of NNCF issue 2155); a mean of exactly zero converges only
// on exactly zero changes, which is what an all-zero block produces.
func (r *runningMean) add(x float64, tol float64, minSamples int) {
	r.addOffset(x, 0, tol, minSamples)
}

// addOffset is add for an estimate offset+mean (the Hutch++ sketch's exact
// part plus the running mean of the remainder): the relative change is
// taken against |offset + mean|.
func (r *runningMean) addOffset(x, offset float64, tol float64, minSamples int) {
	r.n++
	d := x - r.mean
	r.mean += d / float64(r.n)
	r.m2 += d * (x - r.mean)
	change := math.Abs(d / float64(r.n))
	if r.n > 1 && change <= tol*math.Abs(offset+r.mean) {
		r.stable++
	} else {
		r.stable = 0
	}
	if r.n >= minSamples && r.stable >= ConvergenceWindow {
		r.done = true
	}
}

// stderr is the standard error of the mean (0 with fewer than two samples).
func (r *runningMean) stderr() float64 {
	if r.n < 2 {
		return 0
	}
	return math.Sqrt(r.m2 / float64(r.n-1) / float64(r.n))
}

// hutchinsonResult is the Hutchinson phase's output.
type hutchinsonResult struct {
	stable bool // the step calibration found a kink-free step
	traces []runningMean
	diag   [][]float64 // per layer: mean of v ⊙ Hv over all probes
	probes int
	loss   float64 // mean loss over the ± evaluations: L(w) + O(h²)

	// Hutch++ only (nil for shared probes): per layer, the sketch's exact
	// part of the trace, whether the trace was measured exactly, and the
	// Hessian-vector products spent.
	sketch   []float64
	exact    []bool
	products []int
}

// layer returns layer l's trace estimate, its standard error and the
// samples behind it: probes for shared probes, Hessian-vector products of
// the layer's block for Hutch++.
func (r *hutchinsonResult) layer(l int) (mean, stderr float64, samples int) {
	t := &r.traces[l]
	if r.sketch == nil {
		return t.mean, t.stderr(), t.n
	}
	return r.sketch[l] + t.mean, t.stderr(), r.products[l]
}

// hutchinson estimates every layer's Hessian trace Tr(H_ll) with
// Rademacher probes v drawn over all layers at once (Hutchinson 1990;
// HAWQ-v2, Dong et al. 2020; PyHessian, Yao et al. 2020):
//
//	Tr(H_ll) = E[v_lᵀ (Hv)_l]
//
// because E[v vᵀ] = I makes the cross-block terms v_lᵀ H_lk v_k vanish in
// expectation. One probe costs one Hessian-vector product, i.e. two
// gradients of the subset loss. The Hessian diagonal comes for free:
// diag(H) = E[v ⊙ Hv] (Bekas, Kokiopoulou and Saad 2007); it is averaged
// over every probe drawn, including those after a layer's trace converged.
func hutchinson(ctx context.Context, h *hvp, opt *Options, report func(Progress)) (*hutchinsonResult, error) {
	n := len(h.w)
	v := make([][]float64, n)
	hv := make([][]float64, n)
	res := &hutchinsonResult{traces: make([]runningMean, n), diag: make([][]float64, n)}
	for l, w := range h.w {
		v[l] = make([]float64, len(w))
		hv[l] = make([]float64, len(w))
		res.diag[l] = make([]float64, len(w))
	}
	start := time.Now()
	lossSum := 0.0
	for k := 0; k < opt.MaxSamples; k++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rademacher(v, opt.Seed, k)
		var (
			loss float64
			err  error
		)
		if k == 0 {
			// The first probe also chooses the step.
			loss, res.stable, err = h.calibrate(ctx, v, hv)
		} else {
			loss, err = h.apply(ctx, v, hv, false)
		}
		if err != nil {
			return nil, fmt.Errorf("sensitivity: hutchinson probe %d: %w", k+1, err)
		}
		lossSum += loss
		res.probes++
		converged := 0
		for l := range v {
			dot := 0.0
			for j, x := range v[l] {
				p := x * hv[l][j]
				dot += p
				res.diag[l][j] += p
			}
			if math.IsNaN(dot) || math.IsInf(dot, 0) {
				return nil, fmt.Errorf("sensitivity: hutchinson probe %d: layer %d: non-finite Hessian-vector product (the loss overflows near the model's weights)", k+1, l)
			}
			if t := &res.traces[l]; !t.done {
				t.add(dot, opt.Tolerance, opt.MinSamples)
			}
			if res.traces[l].done {
				converged++
			}
		}
		report(Progress{Phase: Hutchinson, Layer: converged, Layers: n, Sample: k + 1, Samples: opt.MaxSamples, Elapsed: time.Since(start)})
		if converged == n {
			break
		}
	}
	inv := 1 / float64(res.probes)
	for _, d := range res.diag {
		for j := range d {
			d[j] *= inv
		}
	}
	res.loss = lossSum * inv
	return res, nil
}
