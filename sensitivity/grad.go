package sensitivity

import (
	"context"
	"fmt"
	"math"
	"sync"

	"mpq/internal/dataset"
	"mpq/internal/engine"
)

// lossGrad evaluates the mean cross-entropy over a data subset and its
// gradient with respect to the layer weights, in float64, on its own
// Session. It is not safe for concurrent use.
type lossGrad struct {
	sess  *engine.Session[float64]
	data  *dataset.Dataset
	batch int
	x     []float64 // the current batch's inputs in float64
	only  int       // ≥ 0: eval wants this layer's gradient alone (the backward pass stops there)
	// suffix is true while eval changes layer only's weight alone: then
	// each batch reruns only the steps that weight reaches, from the
	// frontier kept in pre (see engine.Session.ForwardSuffix).
	suffix bool
	pre    prefix
}

// prefix holds, for one layer, the values each batch of the subset feeds
// into the steps that layer's weight reaches. They do not change while
// only that weight does, so a block Hessian-vector product runs the layers
// before it once per layer instead of twice per product.
type prefix struct {
	layer int           // the layer they are for, -1 for none
	saved [][][]float64 // per batch, appended by the layer's first product
	off   bool          // the layer's frontier is over maxPrefixBytes: not kept
}

// maxPrefixBytes bounds one lossGrad's kept frontier (float64 values over
// the whole subset): 1,024 samples of a 16×28×28 activation take 51 MB.
const maxPrefixBytes = 512 << 20

func newLossGrad(m *engine.Model, data *dataset.Dataset, batch int) *lossGrad {
	s := engine.NewSession[float64](m)
	s.SkipInputGradient() // the weights' gradients are all it reads
	return &lossGrad{sess: s, data: data, batch: batch, only: -1, pre: prefix{layer: -1}}
}

// batches runs a forward and a backward pass over each batch of the subset
// and calls fn after each, with the batch and the session holding its
// gradients. It checks ctx before every batch.
func (lg *lossGrad) batches(ctx context.Context, fn func(b dataset.Batch, loss float64) error) error {
	for i, b := range lg.data.Batches(lg.batch) {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := b.Len()
		if lg.suffix && i < len(lg.pre.saved) {
			if _, err := lg.sess.ForwardSuffix(lg.only, n, lg.pre.saved[i]); err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
		} else {
			lg.x = toFloat64(lg.x, b.X)
			if _, err := lg.sess.Forward(lg.x, n); err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
			if lg.suffix {
				saved, err := lg.sess.Frontier(lg.only, nil)
				if err != nil {
					return fmt.Errorf("batch %d: %w", i, err)
				}
				lg.pre.saved = append(lg.pre.saved, saved)
			}
		}
		var loss float64
		var err error
		if lg.only >= 0 {
			loss, err = lg.sess.BackwardLayer(b.Labels, lg.only)
		} else {
			loss, err = lg.sess.Backward(b.Labels)
		}
		if err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		if err := fn(b, loss); err != nil {
			return err
		}
	}
	return nil
}

// eval makes layer l compute with w[l] (the model's own weight when w[l]
// is nil, or w itself is nil) and returns the mean loss over the subset; for
// every l with g[l] != nil it writes the gradient of that loss with respect
// to layer l's weight into g[l]. The engine's loss is the mean over a batch,
// so each batch's gradient enters with weight n_b/N.
func (lg *lossGrad) eval(ctx context.Context, w, g [][]float64) (float64, error) {
	for l := range lg.sess.Model().Layers {
		var wl []float64
		if w != nil {
			wl = w[l]
		}
		lg.sess.SetWeight(l, wl)
	}
	lg.only = -1
	for l, gl := range g {
		clear(gl)
		if gl != nil {
			if lg.only == -1 {
				lg.only = l
			} else {
				lg.only = -2
			}
		}
	}
	lg.only = max(lg.only, -1)
	lg.suffix = lg.useSuffix(w)
	defer func() { lg.only, lg.suffix = -1, false }()
	total := float64(lg.data.Len())
	sum := 0.0
	err := lg.batches(ctx, func(b dataset.Batch, loss float64) error {
		f := float64(b.Len()) / total
		sum += loss * f
		for l, gl := range g {
			if gl == nil {
				continue
			}
			for j, v := range lg.sess.WeightGrad(l) {
				gl[j] += f * v
			}
		}
		return nil
	})
	return sum, err
}

// useSuffix reports whether eval, about to compute layer lg.only's
// gradient alone with weights w, can rerun that layer's suffix: no other
// layer's weight is replaced, and the layer's frontier is (or can be)
// kept. It resets the kept frontier when the layer changes.
func (lg *lossGrad) useSuffix(w [][]float64) bool {
	l := lg.only
	if l < 0 {
		return false
	}
	for k, wk := range w {
		if k != l && wk != nil {
			return false
		}
	}
	if lg.pre.layer != l {
		lg.pre = prefix{layer: l}
		per, err := lg.sess.FrontierSize(l)
		if err != nil || per == 0 || float64(per)*float64(lg.data.Len())*8 > maxPrefixBytes {
			lg.pre.off = true
		}
	}
	return !lg.pre.off
}

func toFloat64(dst []float64, x []float32) []float64 {
	if cap(dst) < len(x) {
		dst = make([]float64, len(x))
	}
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = float64(v)
	}
	return dst
}

// hvpStep is the first relative finite-difference step tried, η: the
// weights of the perturbed layers S move by h·v with h = η·‖w_S‖/‖v_S‖, so
// ‖h·v‖ = η·‖w_S‖ (√n_S times less for the eigenvalue's Lanczos vectors,
// see hvp.step).
// calibrate lowers η by factors of stepFactor, down to minStep, until the
// products stop depending on it; the package documentation ("Hessian-vector
// products") explains why.
const (
	hvpStep    = 1e-8
	minStep    = 1e-11
	stepFactor = 10
	// stepAgreement is the largest relative change of a layer's probe
	// estimate between η and η/stepFactor for which η is kink-free: far
	// above the rounding error at the steps tried (below 1e-5 on the
	// shipped models) and far below the effect of a kink (above 1e-2).
	stepAgreement = 1e-4
)

// hvp computes Hessian-vector products of the subset loss with respect to
// the layer weights by central differences of float64 gradients. The two
// gradients run concurrently on two Sessions.
type hvp struct {
	w      [][]float64 // every layer's weight, float64
	ev     [2]*lossGrad
	wp, wm [][]float64 // perturbed weights
	gp, gm [][]float64 // gradients at w+hv and w−hv
	eta    float64
}

func newHVP(m *engine.Model, data *dataset.Dataset, batch int) *hvp {
	h := &hvp{eta: hvpStep}
	for i := range h.ev {
		h.ev[i] = newLossGrad(m, data, batch)
	}
	n := len(m.Layers)
	h.w = make([][]float64, n)
	h.wp, h.wm = make([][]float64, n), make([][]float64, n)
	h.gp, h.gm = make([][]float64, n), make([][]float64, n)
	for l := range m.Layers {
		h.w[l] = h.ev[0].sess.FloatWeight(l)
	}
	return h
}

// step returns h for direction v (nil blocks are not perturbed): for a
// random direction h = η·‖w_S‖/‖v_S‖, so that the weights move by a fraction
// η of their norm (for a Rademacher probe, by η·rms(w) each); for a
// direction aligned with the data (aligned: the Lanczos vectors of the top
// eigenvalue) √n_S times less. A random-sign move δ changes a layer's
// pre-activations by about ‖δ‖‖x‖/√n, but the top eigenvector of H_ll lines
// up with the layer's inputs x and changes them by about ‖δ‖‖x‖: without
// the factor it would cross ReLU and MaxPool kinks that the probes avoid.
func (h *hvp) step(v [][]float64, aligned bool) float64 {
	var ww, vv float64
	n := 0
	for l, vl := range v {
		if vl == nil {
			continue
		}
		n += len(vl)
		for j, x := range vl {
			vv += x * x
			ww += h.w[l][j] * h.w[l][j]
		}
	}
	if vv == 0 {
		return 0
	}
	if ww == 0 {
		ww = vv // all-zero weights: perturb by η in absolute terms
	}
	step := h.eta * math.Sqrt(ww/vv)
	if aligned {
		step /= math.Sqrt(float64(n))
	}
	return step
}

// apply writes (Hv)_l into out[l] for every l with out[l] != nil. v[l] ==
// nil means v is zero on layer l; aligned selects the step for directions
// aligned with the data (see step). It returns the loss at w+hv and w−hv
// averaged (the loss at w to O(h²)).
func (h *hvp) apply(ctx context.Context, v, out [][]float64, aligned bool) (float64, error) {
	step := h.step(v, aligned)
	for l := range h.w {
		h.wp[l], h.wm[l] = nil, nil
		if v[l] != nil {
			h.wp[l] = resize(h.wp[l], len(h.w[l]))
			h.wm[l] = resize(h.wm[l], len(h.w[l]))
			for j, x := range h.w[l] {
				h.wp[l][j] = x + step*v[l][j]
				h.wm[l][j] = x - step*v[l][j]
			}
		}
		h.gp[l], h.gm[l] = nil, nil
		if out[l] != nil {
			h.gp[l] = resize(h.gp[l], len(h.w[l]))
			h.gm[l] = resize(h.gm[l], len(h.w[l]))
		}
	}
	if step == 0 {
		for _, o := range out {
			clear(o)
		}
		return 0, nil
	}
	var (
		wg           sync.WaitGroup
		lossP, lossM float64
		errP, errM   error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		lossM, errM = h.ev[1].eval(ctx, h.wm, h.gm)
	}()
	lossP, errP = h.ev[0].eval(ctx, h.wp, h.gp)
	wg.Wait()
	if errP != nil {
		return 0, errP
	}
	if errM != nil {
		return 0, errM
	}
	inv := 1 / (2 * step)
	for l, o := range out {
		if o == nil {
			continue
		}
		gp, gm := h.gp[l], h.gm[l]
		for j := range o {
			o[j] = (gp[j] - gm[j]) * inv
		}
	}
	return (lossP + lossM) / 2, nil
}

// calibrate chooses the step η for the subset and returns probe v's
// product Hv at that step in hv, with the loss. Starting at hvpStep, it
// compares each layer's v_lᵀ(Hv)_l at η and at η/stepFactor; the first η at
// which all layers agree within stepAgreement (relative, with a floor of
// 1e-6 of the largest estimate) is kept. Kinks make the products depend on
// η, rounding barely does (both gradients round almost alike), so agreement
// means that no kink lies within reach of the perturbation. If no pair
// agrees before minStep, the smallest step is kept and stable is false.
func (h *hvp) calibrate(ctx context.Context, v, hv [][]float64) (loss float64, stable bool, err error) {
	probe := func(out [][]float64) (float64, []float64, error) {
		loss, err := h.apply(ctx, v, out, false)
		est := make([]float64, len(v))
		for l := range v {
			est[l] = dot(v[l], out[l])
		}
		return loss, est, err
	}
	alt := make([][]float64, len(hv))
	for l := range hv {
		alt[l] = make([]float64, len(hv[l]))
	}
	h.eta = hvpStep
	loss, est, err := probe(hv)
	if err != nil {
		return 0, false, err
	}
	for h.eta/stepFactor >= minStep*(1-1e-9) {
		eta := h.eta
		h.eta = eta / stepFactor
		loss2, est2, err := probe(alt)
		if err != nil {
			return 0, false, err
		}
		h.eta = eta
		scale := 0.0
		for _, x := range est2 {
			scale = math.Max(scale, math.Abs(x))
		}
		agree := true
		for l := range est {
			if math.Abs(est[l]-est2[l]) > stepAgreement*math.Abs(est2[l])+1e-6*scale {
				agree = false
			}
		}
		if agree {
			return loss, true, nil
		}
		h.eta = eta / stepFactor
		for l := range hv {
			hv[l], alt[l] = alt[l], hv[l]
		}
		loss, est = loss2, est2
	}
	return loss, false, nil
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
