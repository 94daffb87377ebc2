package sensitivity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/graph"
)

// ErrData marks a data subset that does not fit the model.
var ErrData = errors.New("sensitivity: data does not fit the model")

// Analyze computes the sensitivity table of m's layers on data (the
// sensitivity subset, already fitted to the model and normalised) with the
// measures opt.Methods lists. The loss is the mean cross-entropy over all of
// data. Work stops at the next batch when ctx is cancelled, and Analyze
// returns ctx's error.
//
// The result is a function of m, data and opt (the seed included); the
// number of CPUs changes it only within rounding.
func Analyze(ctx context.Context, m *engine.Model, data *dataset.Dataset, opt Options) (*Table, error) {
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkData(m, data); err != nil {
		return nil, err
	}
	report := serialize(o.Progress)
	start := time.Now()
	t := &Table{
		Layers: make([]LayerResult, len(m.Layers)),
		Settings: Settings{Loss: Loss, Methods: o.Methods, Estimator: o.Estimator, Sketch: o.Sketch, Tolerance: o.Tolerance, MinSamples: o.MinSamples,
			MaxSamples: o.MaxSamples, ConvergenceWindow: ConvergenceWindow, EigenIters: o.EigenIters,
			EigenTolerance: o.EigenTolerance, Seed: o.Seed, Batch: o.Batch, WeightBits: o.WeightBits,
			ActivationBits: o.ActivationBits, Quantizers: o.Quantizers},
		Subset:    data.Len(),
		PhaseTime: map[string]time.Duration{},
	}
	for l, layer := range m.Layers {
		t.Layers[l] = LayerResult{Name: layer.Name, Params: layer.Params}
	}
	budget := int64(SessionBudget)
	if o.budget > 0 {
		budget = o.budget
	}
	if b := m.BatchWithin(o.Batch, budget, 8, true); b < o.Batch {
		// The gradient sessions keep every value of a batch and its
		// gradient in float64, and two run at once: a large model's batch
		// is capped so that memory does not grow with the configured batch.
		// Equal batches where the subset's size allows (EvenBatch).
		b = engine.EvenBatch(data.Len(), b)
		t.Notes = append(t.Notes, fmt.Sprintf("batches of %d samples instead of %d: %.1f MB of values and gradients per sample, at most %d MB per session",
			b, o.Batch, float64(m.SampleBytes(8, true))/1e6, budget>>20))
		o.Batch = b
	}
	phase := func(name string, fn func() error) error {
		t0 := time.Now()
		err := fn()
		t.PhaseTime[name] = time.Since(t0)
		return err
	}

	var base *baseline
	if err := phase("forward", func() (err error) {
		base, err = forwardBaseline(ctx, m, data, o.Batch)
		return err
	}); err != nil {
		return nil, err
	}
	t.Loss, t.Accuracy = base.loss, base.accuracy

	var h *hvp
	stable := true
	if o.has(Hutchinson) || o.has(Eigen) {
		h = newHVP(m, data, o.Batch)
	}
	if o.has(Hutchinson) {
		if err := phase(Hutchinson, func() error {
			estimate := hutchinson
			if o.Estimator == HutchPP {
				estimate = hutchPP
			}
			res, err := estimate(ctx, h, &o, report)
			if err != nil {
				return err
			}
			stable = res.stable
			for l := range t.Layers {
				r := &t.Layers[l]
				mean, stderr, samples := res.layer(l)
				r.HessianTrace, r.HessianTraceStderr, r.Samples = mean, stderr, samples
				if res.exact != nil {
					r.TraceExact = res.exact[l]
				}
				w := m.Graph.Init[m.Layers[l].Weight].Floats()
				if r.Omega, err = weightOmega(m.Layers[l], w, mean, res.diag[l], o.Quantizers, o.WeightBits); err != nil {
					return err
				}
			}
			t.HessianDiag, t.Probes = res.diag, res.probes
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if o.has(Eigen) {
		if err := phase(Eigen, func() error {
			if !o.has(Hutchinson) {
				// Choose the step with the first Hutchinson probe.
				v, hv := make([][]float64, len(h.w)), make([][]float64, len(h.w))
				for l, w := range h.w {
					v[l], hv[l] = make([]float64, len(w)), make([]float64, len(w))
				}
				rademacher(v, o.Seed, 0)
				var err error
				if _, stable, err = h.calibrate(ctx, v, hv); err != nil {
					return fmt.Errorf("sensitivity: choosing the finite-difference step: %w", err)
				}
			}
			res, err := topEigen(ctx, h, &o, report)
			if err != nil {
				return err
			}
			for l, e := range res {
				t.Layers[l].TopEigenvalue, t.Layers[l].EigenIters = e.value, e.iters
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if o.has(Fisher) {
		if err := phase(Fisher, func() error {
			res, err := fisherTrace(ctx, m, data, report)
			if err != nil {
				return err
			}
			for l, f := range res {
				t.Layers[l].FisherTrace = f
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if o.has(Activation) {
		if err := phase(Activation, func() error {
			res, err := activationTrace(ctx, m, data, o.Batch, base.ranges, o.ActivationBits, report)
			if err != nil {
				return err
			}
			for l := range t.Layers {
				r := &t.Layers[l]
				r.ActivationTrace, r.ActivationSize = res.trace[l], res.numel[l]
				r.ActOmega = make(map[int]float64, len(o.ActivationBits))
				for k, b := range o.ActivationBits {
					r.ActOmega[b] = r.ActivationTrace / float64(res.numel[l]) * res.qerr[l][k]
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if o.has(Perturbation) {
		if err := phase(Perturbation, func() error {
			w, a, err := perturbation(ctx, m, data, &o, report)
			if err != nil {
				return err
			}
			for l := range t.Layers {
				t.Layers[l].Perturbation, t.Layers[l].ActPerturbation = w[l], a[l]
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if h != nil {
		t.Settings.HVPStep = h.eta
		if !stable {
			t.Notes = append(t.Notes, fmt.Sprintf("the finite-difference Hessian-vector products still depended on the step at η = %g: "+
				"ReLU or MaxPool kinks lie very close to the weights on this subset, and the Hessian numbers may be off", h.eta))
		}
	}
	if err := t.finite(); err != nil {
		return nil, err
	}
	t.Notes = append(t.Notes, t.gradientFree()...)
	t.Elapsed = time.Since(start)
	return t, nil
}

// checkData reports whether data fits m.
func checkData(m *engine.Model, data *dataset.Dataset) error {
	if data == nil || data.Len() == 0 {
		return fmt.Errorf("%w: the sensitivity subset is empty", ErrData)
	}
	want := graph.NumElements(m.SampleShape())
	if got := data.SampleLen(); got != want {
		return fmt.Errorf("%w: samples have %d values, the model's input %s needs %d", ErrData, got, graph.ShapeString(m.InputShape), want)
	}
	if len(data.X) != data.Len()*want {
		return fmt.Errorf("%w: %d input values for %d samples of %d", ErrData, len(data.X), data.Len(), want)
	}
	if err := data.CheckLabels(m.Classes); err != nil {
		return fmt.Errorf("%w: %w", ErrData, err)
	}
	return nil
}

// serialize wraps fn so that calls from several goroutines never overlap;
// a nil fn gives a no-op.
func serialize(fn func(Progress)) func(Progress) {
	if fn == nil {
		return func(Progress) {}
	}
	var mu sync.Mutex
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		fn(p)
	}
}
