package sensitivity

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/mat"
)

// eigenResult is one layer's top eigenvalue and the Hessian-vector products
// it took.
type eigenResult struct {
	value float64
	iters int
}

// maxLanczosFloats bounds the memory of the Lanczos basis kept for
// reorthogonalization (n_l values per iteration): 2^24 float64s, 128 MiB.
// Layers too large for it run without reorthogonalization, which delays
// nothing for the extreme eigenvalue but may repeat it among the Ritz values.
const maxLanczosFloats = 1 << 24

// topEigen estimates, for every layer, the eigenvalue of largest magnitude
// of its diagonal Hessian block H_ll, the sensitivity of HAWQ-v1 (Dong,
// Yao, Gholami, Mahoney and Keutzer, ICCV 2019), which finds it by power
// iteration. topEigen runs the Lanczos iteration instead (Lanczos 1950;
// Golub and Van Loan, "Matrix Computations", §10.1), from the same seeded
// Gaussian start and with the same stopping rule: after each product
// H_ll q_k it takes the extreme eigenvalue of largest magnitude of the
// tridiagonal matrix T_k (a Rayleigh–Ritz value), and stops when it changed
// by at most tol·|λ| or after iters products. For the same number of
// products Lanczos is never worse than power iteration — its Krylov space
// contains the power iterate — and converges much faster when the top two
// eigenvalues are close (Kuczyński and Woźniakowski 1992): on the shipped
// LeNet's fc1 with 1024 images, power iteration (PyTorch's, in
// scripts/hessian_torch.py) takes 64 products to stop at 1e-5, Lanczos 9,
// and Lanczos's value is the larger, hence closer (both approach λ_max from
// below). At a minimum the eigenvalue of largest magnitude is the
// largest; at a saddle it may be a negative one, reported with its sign.
// The basis is reorthogonalized fully (twice, "twice is enough") while it
// fits in maxLanczosFloats.
func topEigen(ctx context.Context, h *hvp, opt *Options, report func(Progress)) ([]eigenResult, error) {
	n := len(h.w)
	out := make([]eigenResult, n)
	v := make([][]float64, n)
	hv := make([][]float64, n)
	start := time.Now()
	// Progress counts products against the budget of all layers, an upper
	// bound: layers that converge early leave their rest unused.
	total, budget := 0, n*opt.EigenIters
	for l := range n {
		size := len(h.w[l])
		rng := rand.New(rand.NewPCG(opt.Seed, 0xE16E^uint64(l)))
		q := make([]float64, size)
		for j := range q {
			q[j] = rng.NormFloat64()
		}
		normalize(q)
		clear(v)
		clear(hv)
		w := make([]float64, size)
		v[l], hv[l] = q, w
		keep := size*opt.EigenIters <= maxLanczosFloats
		var (
			basis       [][]float64
			alpha, beta []float64
			prev        []float64
			lambda      = math.NaN()
			betaPrev    float64
			es          mat.EigenSym
			iters       int
		)
		for it := 1; it <= opt.EigenIters; it++ {
			if _, err := h.apply(ctx, v, hv, true); err != nil {
				return nil, fmt.Errorf("sensitivity: eigenvalue of layer %d, iteration %d: %w", l, it, err)
			}
			iters = it
			total++
			a := dot(q, w)
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return nil, fmt.Errorf("sensitivity: eigenvalue of layer %d: non-finite Hessian-vector product", l)
			}
			for j := range w {
				w[j] -= a * q[j]
				if prev != nil {
					w[j] -= betaPrev * prev[j]
				}
			}
			if keep {
				basis = append(basis, append([]float64(nil), q...))
				for range 2 {
					for _, b := range basis {
						c := dot(b, w)
						for j := range w {
							w[j] -= c * b[j]
						}
					}
				}
			}
			alpha = append(alpha, a)
			k := len(alpha)
			tridiag := mat.NewSymDense(k, nil)
			for i := range k {
				tridiag.SetSym(i, i, alpha[i])
				if i+1 < k {
					tridiag.SetSym(i, i+1, beta[i])
				}
			}
			if !es.Factorize(tridiag, false) {
				return nil, fmt.Errorf("sensitivity: eigenvalue of layer %d: the %d×%d Lanczos matrix has no eigendecomposition", l, k, k)
			}
			values := es.Values(nil)
			theta := values[len(values)-1] // ascending: the largest ...
			if math.Abs(values[0]) > math.Abs(theta) {
				theta = values[0] // ... or the most negative
			}
			report(Progress{Phase: Eigen, Layer: l, Layers: n, Sample: total, Samples: budget, Elapsed: time.Since(start)})
			b := math.Sqrt(dot(w, w))
			converged := math.Abs(theta-lambda) <= opt.EigenTolerance*math.Abs(theta)
			lambda = theta
			// β = 0: the Krylov space is invariant and θ is exact.
			if converged || b <= 1e-14*math.Max(math.Abs(a), math.Abs(theta)) || it == opt.EigenIters {
				break
			}
			beta = append(beta, b)
			betaPrev = b
			// prev ← q, q ← w/β, and w becomes the next product's buffer.
			if prev == nil {
				prev = make([]float64, size)
			}
			copy(prev, q)
			for j := range q {
				q[j] = w[j] / b
			}
		}
		out[l] = eigenResult{value: lambda, iters: iters}
		budget -= opt.EigenIters - iters
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
