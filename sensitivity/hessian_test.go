package sensitivity

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"

	"mpq/internal/dataset"
	"mpq/internal/engine"
)

// block returns the (l, l) block of h.
func block(h *mat.SymDense, off []int, l int) *mat.SymDense {
	n := off[l+1] - off[l]
	b := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			b.SetSym(i, j, h.At(off[l]+i, off[l]+j))
		}
	}
	return b
}

// TestExactHessian bounds the error of the finite-difference
// Hessian-vector product: for Gaussian directions v over all layers,
// max_i |(Hv)_i − (H_fd v)_i| ≤ 1e-6 + 1e-5·max|H_fd v|, where H_fd is
// gonum's finite-difference Hessian of the loss (itself accurate to about
// 1e-8). It also checks the per-layer Hutchinson term v_lᵀ(Hv)_l of a
// Rademacher probe against the same quantity from H_fd.
//
// The exact Hessian of each tiny network is built once and shared by the
// subtests hvp, hutchinson and eigen.
func TestExactHessian(t *testing.T) {
	for _, tn := range tinyNets() {
		t.Run(tn.name, func(t *testing.T) {
			m, d := tn.build(t, 16)
			h, off := exactHessian(t, m, d)
			t.Run("hvp", func(t *testing.T) { checkHVP(t, m, d, h, off) })
			t.Run("hutchinson", func(t *testing.T) { checkHutchinson(t, m, d, h, off) })
			t.Run("hutch++", func(t *testing.T) { checkHutchPP(t, m, d, h, off) })
			t.Run("exact", func(t *testing.T) { checkExactTrace(t, m, d, h, off) })
			t.Run("eigen", func(t *testing.T) { checkTopEigen(t, m, d, h, off) })
		})
	}
}

func checkHVP(t *testing.T, m *engine.Model, d *dataset.Dataset, h *mat.SymDense, off []int) {
	hv := newHVP(m, d, 5) // batches of 5, 5, 5, 1: checks the n_b/N weighting
	rng := rand.New(rand.NewPCG(5, 6))
	n := off[len(off)-1]
	v := make([][]float64, len(m.Layers))
	out := make([][]float64, len(m.Layers))
	for l := range m.Layers {
		v[l] = make([]float64, m.Layers[l].Params)
		out[l] = make([]float64, m.Layers[l].Params)
	}
	for trial := range 4 {
		if trial < 3 {
			for l := range v {
				for j := range v[l] {
					v[l][j] = rng.NormFloat64()
				}
			}
		} else {
			rademacher(v, 3, 0)
		}
		if _, err := hv.apply(context.Background(), v, out, false); err != nil {
			t.Fatal(err)
		}
		flat := make([]float64, 0, n)
		for _, vl := range v {
			flat = append(flat, vl...)
		}
		want := mat.NewVecDense(n, nil)
		want.MulVec(h, mat.NewVecDense(n, flat))
		scale := mat.Norm(want, math.Inf(1))
		worst := 0.0
		for l := range out {
			for j, got := range out[l] {
				worst = math.Max(worst, math.Abs(got-want.AtVec(off[l]+j)))
			}
		}
		if worst > 1e-6+1e-5*scale {
			t.Errorf("trial %d: max |Hv − H_fd v| = %.3g (max |H_fd v| = %.3g)", trial, worst, scale)
		}
		if trial == 3 {
			for l := range out {
				got, exp := dot(v[l], out[l]), 0.0
				for j := range v[l] {
					exp += v[l][j] * want.AtVec(off[l]+j)
				}
				if math.Abs(got-exp) > 1e-6+1e-5*math.Abs(exp) {
					t.Errorf("layer %d: v_lᵀ(Hv)_l = %.9g, exact %.9g", l, got, exp)
				}
			}
		}
	}
}

// checkHutchinson compares the Hutchinson estimate after many probes
// with the exact block traces, within four standard errors, and the
// Hessian-diagonal estimate with the exact diagonal within five of its
// per-element standard errors (Var[v_j(Hv)_j] = Σ_{k≠j} H_jk²).
func checkHutchinson(t *testing.T, m *engine.Model, d *dataset.Dataset, h *mat.SymDense, off []int) {
	const probes = 2000
	tab, err := Analyze(context.Background(), m, d, Options{Estimator: SharedProbes, MinSamples: probes, MaxSamples: probes, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for l, r := range tab.Layers {
		exact := mat.Trace(block(h, off, l))
		if r.Samples != probes {
			t.Errorf("layer %d: %d samples, want %d", l, r.Samples, probes)
		}
		if math.Abs(r.HessianTrace-exact) > 4*r.HessianTraceStderr+1e-9 {
			t.Errorf("layer %d: trace %.6g ± %.2g, exact %.6g", l, r.HessianTrace, r.HessianTraceStderr, exact)
		}
		for j, got := range tab.HessianDiag[l] {
			row := off[l] + j
			v := 0.0
			for k := range off[len(off)-1] {
				if k != row {
					v += h.At(row, k) * h.At(row, k)
				}
			}
			if se := math.Sqrt(v / probes); math.Abs(got-h.At(row, row)) > 5*se+1e-7 {
				t.Errorf("layer %d: diag[%d] = %.6g, exact %.6g (stderr %.2g)", l, j, got, h.At(row, row), se)
			}
		}
	}
}

// checkHutchPP compares Hutch++ with a sketch smaller than each block
// (so every layer goes through the sketch and the projected remainder)
// with the exact block traces, within four standard errors, and checks
// that the diagonal estimate sums to the trace and is close to the exact
// diagonal.
func checkHutchPP(t *testing.T, m *engine.Model, d *dataset.Dataset, h *mat.SymDense, off []int) {
	const probes = 1000
	tab, err := Analyze(context.Background(), m, d, Options{Sketch: 3, Tolerance: 1e-15, MinSamples: 2, MaxSamples: probes, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for l, r := range tab.Layers {
		b := block(h, off, l)
		exact := mat.Trace(b)
		if r.TraceExact || r.Samples != 6+probes {
			t.Errorf("layer %d: %d samples (exact %v), want the sketch's 6 and %d probes", l, r.Samples, r.TraceExact, probes)
		}
		if math.Abs(r.HessianTrace-exact) > 4*r.HessianTraceStderr+1e-9 {
			t.Errorf("layer %d: trace %.6g ± %.2g, exact %.6g", l, r.HessianTrace, r.HessianTraceStderr, exact)
		}
		sum, worst, scale := 0.0, 0.0, 0.0
		for j, got := range tab.HessianDiag[l] {
			sum += got
			worst = math.Max(worst, math.Abs(got-b.At(j, j)))
			scale = math.Max(scale, math.Abs(b.At(j, j)))
		}
		if math.Abs(sum-r.HessianTrace) > 1e-9*math.Max(1, math.Abs(exact)) {
			t.Errorf("layer %d: diagonal sums to %.9g, trace %.9g", l, sum, r.HessianTrace)
		}
		if worst > 0.1*scale {
			t.Errorf("layer %d: diagonal off by %.3g (largest element %.3g)", l, worst, scale)
		}
	}
}

// checkExactTrace checks that layers no larger than the default sketch's
// cost are measured exactly: trace and diagonal to finite-difference
// precision, with a standard error of zero.
func checkExactTrace(t *testing.T, m *engine.Model, d *dataset.Dataset, h *mat.SymDense, off []int) {
	tab, err := Analyze(context.Background(), m, d, Options{Sketch: 30, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for l, r := range tab.Layers {
		b := block(h, off, l)
		if !r.TraceExact || r.HessianTraceStderr != 0 || r.Samples != b.SymmetricDim() {
			t.Fatalf("layer %d (%d weights): exact %v, stderr %g, %d samples: want an exact trace", l, b.SymmetricDim(), r.TraceExact, r.HessianTraceStderr, r.Samples)
		}
		if exact := mat.Trace(b); math.Abs(r.HessianTrace-exact) > 1e-6*math.Max(1, math.Abs(exact)) {
			t.Errorf("layer %d: trace %.9g, exact %.9g", l, r.HessianTrace, exact)
		}
		for j, got := range tab.HessianDiag[l] {
			if math.Abs(got-b.At(j, j)) > 1e-6*math.Max(1, math.Abs(b.At(j, j))) {
				t.Errorf("layer %d: diag[%d] = %.9g, exact %.9g", l, j, got, b.At(j, j))
			}
		}
	}
}

// checkTopEigen compares the Lanczos estimate with gonum's symmetric
// eigendecomposition of each exact diagonal block: the eigenvalue of
// largest magnitude, to 1e-6 relative. (The estimate carries the
// finite-difference error, about 1e-9 relative, so a tolerance below that
// is never met.)
func checkTopEigen(t *testing.T, m *engine.Model, d *dataset.Dataset, h *mat.SymDense, off []int) {
	tab, err := Analyze(context.Background(), m, d, Options{Methods: []string{Eigen}, EigenIters: 1000, EigenTolerance: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	for l, r := range tab.Layers {
		var es mat.EigenSym
		if !es.Factorize(block(h, off, l), false) {
			t.Fatal("eigendecomposition failed")
		}
		vals := es.Values(nil)
		top, second := 0.0, 0.0
		for _, v := range vals {
			if math.Abs(v) > math.Abs(top) {
				top, second = v, top
			} else if math.Abs(v) > math.Abs(second) {
				second = v
			}
		}
		if math.Abs(r.TopEigenvalue-top) > 1e-6*math.Abs(top)+1e-9 {
			t.Errorf("layer %d: Lanczos %.9g after %d iterations, eigendecomposition %.9g (next %.3g)", l, r.TopEigenvalue, r.EigenIters, top, second)
		}
	}
}

// TestFisherTrace compares the empirical Fisher trace with per-sample
// gradients from gonum's finite differences of each sample's loss.
func TestFisherTrace(t *testing.T) {
	for _, tn := range tinyNets() {
		t.Run(tn.name, func(t *testing.T) {
			m, d := tn.build(t, 8)
			tab, err := Analyze(context.Background(), m, d, Options{Methods: []string{Fisher}})
			if err != nil {
				t.Fatal(err)
			}
			w, off := flatWeights(m)
			want := make([]float64, len(m.Layers))
			for i := range d.Len() {
				one := &dataset.Dataset{X: d.Sample(i), Labels: d.Labels[i : i+1], Shape: d.Shape}
				g := fd.Gradient(nil, lossAt(t, m, one), w, &fd.Settings{Formula: fd.Central, Step: 1e-6})
				for l := range m.Layers {
					for _, v := range g[off[l]:off[l+1]] {
						want[l] += v * v / float64(d.Len())
					}
				}
			}
			for l, r := range tab.Layers {
				if math.Abs(r.FisherTrace-want[l]) > 1e-6*want[l]+1e-9 {
					t.Errorf("layer %d: fisher trace %.9g, finite differences %.9g", l, r.FisherTrace, want[l])
				}
			}
		})
	}
}

// TestActivationTrace checks the activation Fisher trace against an
// independent computation: for a Gemm or MatMul layer, ∂ℓ_i/∂a = δ_i·W
// (δ_i the gradient of the layer's output, W as the layer applies it); for
// a layer reading the model input, finite differences of the loss in the
// input. In residual-sigmoid the MatMul's input is also read by the Add:
// the trace must be the one through the MatMul alone.
func TestActivationTrace(t *testing.T) {
	for _, tn := range tinyNets() {
		t.Run(tn.name, func(t *testing.T) {
			m, d := tn.build(t, 8)
			tab, err := Analyze(context.Background(), m, d, Options{Methods: []string{Activation}, ActivationBits: []int{4, 8, 32}})
			if err != nil {
				t.Fatal(err)
			}
			s := engine.NewSession[float64](m)
			want := make([]float64, len(m.Layers))
			for i := range d.Len() {
				x := toFloat64(nil, d.Sample(i))
				if _, err := s.Forward(x, 1); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Backward(d.Labels[i : i+1]); err != nil {
					t.Fatal(err)
				}
				for l, layer := range m.Layers {
					var g []float64
					switch {
					case layer.Input == m.Input:
						f := func(xv []float64) float64 {
							z, err := engine.NewSession[float64](m).Forward(xv, 1)
							if err != nil {
								t.Fatal(err)
							}
							sum, _, _ := engine.CrossEntropy(z, m.Classes, d.Labels[i:i+1])
							return sum
						}
						g = fd.Gradient(nil, f, x, &fd.Settings{Formula: fd.Central, Step: 1e-6})
					case layer.Op == "Gemm" || layer.Op == "MatMul":
						delta := s.Grad(outputOf(t, m, layer.Name))
						w := s.FloatWeight(l)
						rows, cols := layer.Shape[0], layer.Shape[1]
						if layer.ChannelAxis == 0 { // y = a·Wᵀ: ∂a_k = Σ_c δ_c W[c,k]
							g = make([]float64, cols)
							for c := range rows {
								for k := range cols {
									g[k] += delta[c] * w[c*cols+k]
								}
							}
						} else { // y = a·W: ∂a_k = Σ_c W[k,c] δ_c
							g = make([]float64, rows)
							for k := range rows {
								for c := range cols {
									g[k] += w[k*cols+c] * delta[c]
								}
							}
						}
					default:
						t.Fatalf("no oracle for layer %q", layer.Name)
					}
					want[l] += dot(g, g) / float64(d.Len())
				}
			}
			for l, r := range tab.Layers {
				if math.Abs(r.ActivationTrace-want[l]) > 1e-6*want[l]+1e-12 {
					t.Errorf("layer %q: activation trace %.9g, want %.9g", r.Name, r.ActivationTrace, want[l])
				}
				if r.ActOmega[32] != 0 || !(r.ActOmega[4] > r.ActOmega[8]) || !(r.ActOmega[8] > 0) {
					t.Errorf("layer %q: activation Ω %v: want Ω(4) > Ω(8) > Ω(32) = 0", r.Name, r.ActOmega)
				}
			}
		})
	}
}

// outputOf returns the output of the node named name.
func outputOf(t testing.TB, m *engine.Model, name string) string {
	t.Helper()
	for _, n := range m.Graph.Nodes {
		if n.Name == name {
			return n.Outputs[0]
		}
	}
	t.Fatalf("no node %q", name)
	return ""
}

// TestStepCalibration checks the finite-difference step chosen on shipped
// models with their 1024-image subsets, and that it is needed: LeNet's
// probe estimates do not depend on η from 1e-7 to 1e-9 and calibration
// keeps 1e-8; on the small ResNet, perturbations of η = 1e-8 still cross
// ReLU kinks (the first probe gives 156.8 for /down/Conv at 1e-8 and 540.25
// at 1e-9 to 1e-11, PyTorch's value), so calibration goes down to 1e-9.
// At η = 1e-5 both are off by more than 10 %. Long mode only.
func TestStepCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a dozen Hessian-vector products on 1024 images")
	}
	for _, tc := range []struct {
		model string
		want  float64
	}{{"lenet", 1e-8}, {"resnet", 1e-9}} {
		t.Run(tc.model, func(t *testing.T) {
			m := loadShipped(t, tc.model)
			d := mnistTrain(t, m, 1024)
			h := newHVP(m, d, DefaultBatch)
			v := make([][]float64, len(m.Layers))
			hv := make([][]float64, len(m.Layers))
			for l := range m.Layers {
				v[l] = make([]float64, m.Layers[l].Params)
				hv[l] = make([]float64, m.Layers[l].Params)
			}
			rademacher(v, 0, 0)
			_, stable, err := h.calibrate(context.Background(), v, hv)
			if err != nil {
				t.Fatal(err)
			}
			if !stable || math.Abs(h.eta-tc.want) > 1e-3*tc.want {
				t.Fatalf("calibrated η = %g (stable %v), want %g", h.eta, stable, tc.want)
			}
			ref := make([]float64, len(v))
			for l := range v {
				ref[l] = dot(v[l], hv[l])
			}
			at := func(eta float64) []float64 {
				h.eta = eta
				if _, err := h.apply(context.Background(), v, hv, false); err != nil {
					t.Fatal(err)
				}
				out := make([]float64, len(v))
				for l := range v {
					out[l] = dot(v[l], hv[l])
				}
				return out
			}
			worst := func(x []float64) float64 {
				w := 0.0
				for l := range x {
					w = math.Max(w, math.Abs(x[l]-ref[l])/math.Abs(ref[l]))
				}
				return w
			}
			if tc.model == "lenet" {
				for _, eta := range []float64{1e-7, 1e-9} {
					if w := worst(at(eta)); w > 1e-5 {
						t.Errorf("η = %g differs from η = %g by %.2g", eta, tc.want, w)
					}
				}
			} else if w := worst(at(tc.want * stepFactor)); w < 0.1 {
				t.Errorf("η = %g is within %.2g of η = %g: no kink to avoid (reconsider the test)", tc.want*stepFactor, w, tc.want)
			}
			if w := worst(at(1e-5)); w < 0.1 {
				t.Errorf("η = 1e-5 is within %.2g of η = %g", w, tc.want)
			}
		})
	}
}
