package search

import (
	"context"
	"math"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/engine"
	"mpq/internal/pareto"
	"mpq/internal/quant"
	"mpq/sensitivity"
)

// widest is the plan with every layer at its highest bitwidths.
func (sp *Space) widest() evaluator.Plan {
	pt := make(Point, len(sp.params))
	for j, p := range sp.params {
		if p.kind != 'q' {
			pt[j] = p.n - 1
		}
	}
	return sp.Plan(pt)
}

// narrowest is the plan with every layer at its lowest bitwidths.
func (sp *Space) narrowest() evaluator.Plan { return sp.Plan(make(Point, len(sp.params))) }

// layerOption is one (weight bits, activation bits, quantizer) choice of a
// layer.
type layerOption struct{ w, a, q int }

// predictedFront solves the multiple-choice knapsack exactly: per layer, each
// option costs its share of the first cost objective and is predicted to add
// Ω_w(l, q, b_w) + Ω_a(l, b_a) to the loss (HAWQ-v2/v3); the result is the
// Pareto front of (cost, predicted loss increase), thinned to k plans
// spread evenly in cost.
func predictedFront(sp *Space, t *sensitivity.Table, m *engine.Model, costName string, k int) []evaluator.Plan {
	groups := make([][]pareto.Option, len(sp.Layers))
	opts := make([][]layerOption, len(sp.Layers))
	for l, lc := range sp.Layers {
		layer := m.Layers[l]
		row := t.Layers[l]
		for wi, wb := range lc.WeightBits {
			for ai, ab := range lc.ActivationBits {
				for qi, q := range lc.Quantizers {
					eb := int64(quant.EffectiveBits(quant.WeightSpec{Method: q, Bits: wb}))
					cost := float64(int64(layer.Params) * eb)
					if costName == config.ObjectiveBops {
						cost = float64(layer.MACs*eb*int64(ab) + layer.StateMACs*eb*evaluator.FloatBits)
					}
					pen := 0.0
					if wb != evaluator.FloatBits {
						pen += row.Omega[q][wb]
					}
					if ab != evaluator.FloatBits {
						pen += row.ActOmega[ab]
					}
					groups[l] = append(groups[l], pareto.Option{Cost: cost, Penalty: pen})
					opts[l] = append(opts[l], layerOption{wi, ai, qi})
				}
			}
		}
	}
	front := pareto.MCKFront(groups, 4000)
	var plans []evaluator.Plan
	for _, sol := range pareto.Spread(front, k) {
		plan := make(evaluator.Plan, len(sp.Layers))
		for l, c := range sol.Choice {
			o := opts[l][c]
			lc := sp.Layers[l]
			plan[l] = evaluator.LayerSpec{WeightBits: lc.WeightBits[o.w], ActivationBits: lc.ActivationBits[o.a], WeightQuantizer: lc.Quantizers[o.q]}
		}
		plans = append(plans, plan)
	}
	return plans
}

// omegaOf is a plan's sensitivity-predicted loss increase, Σ over layers
// of Ω_w(l, q, b_w) + Ω_a(l, b_a) (HAWQ-v2/v3), as the knapsack prices it.
func omegaOf(t *sensitivity.Table, p evaluator.Plan) float64 {
	sum := 0.0
	for l, s := range p {
		row := t.Layers[l]
		if s.WeightBits != evaluator.FloatBits {
			sum += row.Omega[s.WeightQuantizer][s.WeightBits]
		}
		if s.ActivationBits != evaluator.FloatBits {
			sum += row.ActOmega[s.ActivationBits]
		}
	}
	return sum
}

// newGuide gives the auto sampler the plans' exact costs, the study's
// constraints and (with a sensitivity table) the predicted loss increase.
func (r *runner) newGuide(t *sensitivity.Table) *guide {
	g := &guide{accuracy: r.objs.primary == config.ObjectiveAccuracy, maxBadness: math.Inf(1), refCost: r.objs.costs(r.objs.ref)}
	g.costs = func(pt Point) []float64 { return r.objs.costs(evaluator.CostOf(r.ws.Model, r.space.Plan(pt))) }
	if t != nil {
		g.omega = func(pt Point) float64 { return omegaOf(t, r.space.Plan(pt)) }
	}
	if g.accuracy && r.objs.maxDrop != nil {
		g.maxBadness = 1 - (r.objs.baseline - *r.objs.maxDrop)
	}
	for _, n := range r.objs.names {
		bound := math.Inf(1)
		switch {
		case n == config.ObjectiveSizeBits && r.objs.maxSize != nil && *r.objs.maxSize > 0:
			bound = *r.objs.maxSize
		case n == config.ObjectiveBops && r.objs.maxBops != nil && *r.objs.maxBops > 0:
			bound = *r.objs.maxBops
		case n != config.ObjectiveSizeBits && n != config.ObjectiveBops:
			continue
		}
		g.maxCosts = append(g.maxCosts, bound)
	}
	return g
}

// seed hands the auto sampler its guide (on every run, resumed ones too)
// and enqueues, on a study that has no trials yet, the widest and the
// narrowest plans and (with a sensitivity table) the knapsack's predicted
// front, so they run first.
func (r *runner) seed(ctx context.Context, t *sensitivity.Table) error {
	if s, ok := r.study.RelativeSampler.(*Sampler); ok && r.cfg.Search.Sampler == config.SamplerAuto {
		s.setGuide(r.newGuide(t))
	}
	var plans []evaluator.Plan
	if r.cfg.Search.Sampler == config.SamplerAuto {
		plans = append(plans, r.space.widest(), r.space.narrowest())
		if t != nil {
			costName := config.ObjectiveSizeBits
			for _, n := range r.objs.names {
				if n == config.ObjectiveSizeBits || n == config.ObjectiveBops {
					costName = n
					break
				}
			}
			k := min(max(r.opt.Trials/3, 4), 24)
			plans = append(plans, predictedFront(r.space, t, r.ws.Model, costName, k)...)
		}
	}
	r.seedKeys = map[string]bool{}
	var pts []Point
	for _, p := range plans {
		pt, ok := r.space.PointOf(p)
		if !ok || r.seedKeys[p.Key()] {
			continue
		}
		r.seedKeys[p.Key()] = true
		pts = append(pts, pt)
	}
	trials, err := r.study.GetTrials()
	if err != nil || len(trials) > 0 || r.space.NumParams() == 0 {
		return err
	}
	for _, pt := range pts {
		if err := r.study.EnqueueTrial(r.space.Internal(pt)); err != nil {
			return err
		}
	}
	r.logf("seeded %d plans (widest, narrowest and the sensitivity-predicted front)", len(pts))
	return nil
}
