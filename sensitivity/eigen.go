package sensitivity

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// eigenResult is one layer's power iteration.
type eigenResult struct {
	value float64
	iters int
}

// topEigen runs power iteration on every layer's diagonal Hessian block
// H_ll (HAWQ-v1, Dong et al. 2019): from a seeded Gaussian start v,
// repeatedly v ← H_ll v/‖H_ll v‖, with the Rayleigh quotient λ = vᵀH_ll v
// (‖v‖ = 1) as the estimate. It stops when |λ_k − λ_{k−1}| ≤ tol·|λ_k| or
// after iters products. Power iteration converges to the eigenvalue of
// largest magnitude, which at a minimum is the largest one; at a saddle it
// may be a negative one, and it is reported with its sign.
func topEigen(ctx context.Context, h *hvp, opt *Options, report func(Progress)) ([]eigenResult, error) {
	n := len(h.w)
	out := make([]eigenResult, n)
	v := make([][]float64, n)
	hv := make([][]float64, n)
	start := time.Now()
	// Progress counts iterations against the budget of all layers, an
	// upper bound: layers that converge early leave their rest unused.
	total, budget := 0, n*opt.EigenIters
	for l := range n {
		rng := rand.New(rand.NewPCG(opt.Seed, 0xE16E^uint64(l)))
		vl := make([]float64, len(h.w[l]))
		for j := range vl {
			vl[j] = rng.NormFloat64()
		}
		normalize(vl)
		clear(v)
		clear(hv)
		v[l] = vl
		hv[l] = make([]float64, len(vl))
		lambda := math.NaN()
		for it := 1; it <= opt.EigenIters; it++ {
			if _, err := h.apply(ctx, v, hv, true); err != nil {
				return nil, fmt.Errorf("sensitivity: eigenvalue of layer %d, iteration %d: %w", l, it, err)
			}
			q := dot(v[l], hv[l])
			if math.IsNaN(q) || math.IsInf(q, 0) {
				return nil, fmt.Errorf("sensitivity: eigenvalue of layer %d: non-finite Hessian-vector product", l)
			}
			out[l] = eigenResult{value: q, iters: it}
			total++
			report(Progress{Phase: Eigen, Layer: l, Layers: n, Sample: total, Samples: budget, Elapsed: time.Since(start)})
			if math.Abs(q-lambda) <= opt.EigenTolerance*math.Abs(q) {
				break
			}
			lambda = q
			if normalize(hv[l]) == 0 {
				break // H_ll v = 0: v is in the null space, λ = 0
			}
			v[l], hv[l] = hv[l], v[l]
		}
		budget -= opt.EigenIters - out[l].iters
	}
	report(Progress{Phase: Eigen, Layer: n, Layers: n, Sample: total, Samples: total, Elapsed: time.Since(start)})
	return out, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

// normalize scales x to unit norm and returns its former norm (x is left
// alone when that is zero).
func normalize(x []float64) float64 {
	n := math.Sqrt(dot(x, x))
	if n == 0 {
		return 0
	}
	for i := range x {
		x[i] /= n
	}
	return n
}
