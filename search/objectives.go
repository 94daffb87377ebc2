package search

import (
	"math"
	"slices"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/engine"
)

// objectives turns a plan's metrics into the study's minimised objective
// vector (accuracy is negated) and its constraint violation.
type objectives struct {
	names    []string
	primary  string // accuracy or loss
	baseline float64
	maxDrop  *float64
	maxSize  *float64
	maxBops  *float64
	ref      evaluator.Cost // the all-widest plan's cost, for normalising
}

func newObjectives(cfg *config.Config, baseline float64, m *engine.Model, sp *Space) objectives {
	o := objectives{names: cfg.Search.Objectives, baseline: baseline,
		maxDrop: cfg.Search.Constraints.MaxAccuracyDrop, maxSize: cfg.Search.Constraints.MaxSizeBits, maxBops: cfg.Search.Constraints.MaxBops}
	if len(o.names) == 0 {
		o.names = []string{config.ObjectiveAccuracy, config.ObjectiveSizeBits}
	}
	o.primary = o.names[0]
	o.ref = evaluator.CostOf(m, sp.widest())
	return o
}

func (o objectives) has(name string) bool { return slices.Contains(o.names, name) }

// costs returns the plan's cost objectives in study order.
func (o objectives) costs(c evaluator.Cost) []float64 {
	var out []float64
	for _, n := range o.names {
		switch n {
		case config.ObjectiveSizeBits:
			out = append(out, float64(c.SizeBits))
		case config.ObjectiveBops:
			out = append(out, float64(c.BOPs))
		}
	}
	return out
}

func (o objectives) vector(acc, loss float64, c evaluator.Cost) []float64 {
	out := make([]float64, len(o.names))
	for i, n := range o.names {
		switch n {
		case config.ObjectiveAccuracy:
			out[i] = -acc
		case config.ObjectiveLoss:
			out[i] = loss
		case config.ObjectiveSizeBits:
			out[i] = float64(c.SizeBits)
		case config.ObjectiveBops:
			out[i] = float64(c.BOPs)
		}
	}
	return out
}

// violation is the total constraint violation, each term normalised (the
// accuracy drop in accuracy units, costs relative to their bound).
func (o objectives) violation(acc float64, c evaluator.Cost) float64 {
	v := 0.0
	if o.maxDrop != nil {
		v += math.Max(0, (o.baseline-acc)-*o.maxDrop)
	}
	if o.maxSize != nil && *o.maxSize > 0 {
		v += math.Max(0, float64(c.SizeBits)/(*o.maxSize)-1)
	}
	if o.maxBops != nil && *o.maxBops > 0 {
		v += math.Max(0, float64(c.BOPs)/(*o.maxBops)-1)
	}
	return v
}

// scalar is the single value goptuna records for a trial. For the
// single-objective TPE sampler it is what TPE minimises: the costs relative
// to the widest plan, plus the accuracy loss (or the loss) — with a
// constraint on the accuracy drop, the accuracy term is replaced by a steep
// penalty on the violation, so TPE looks for the cheapest plan within it.
// For the other samplers it is the primary objective, for display.
func (o objectives) scalar(sampler string, acc, loss float64, c evaluator.Cost, viol float64) float64 {
	if sampler != config.SamplerTPE {
		if o.primary == config.ObjectiveLoss {
			return loss
		}
		return -acc
	}
	s := 0.0
	refs := o.costs(o.ref)
	for i, v := range o.costs(c) {
		if refs[i] > 0 {
			s += v / refs[i]
		}
	}
	if o.maxDrop != nil || o.maxSize != nil || o.maxBops != nil {
		return s + 100*viol
	}
	if o.primary == config.ObjectiveLoss {
		return s + loss
	}
	return s - acc
}

// reference is the hypervolume reference point used for progress reports:
// accuracy 0 (or twice the baseline loss) and the widest plan's costs.
func (o objectives) reference() []float64 {
	ref := make([]float64, len(o.names))
	for i, n := range o.names {
		switch n {
		case config.ObjectiveAccuracy:
			ref[i] = 0
		case config.ObjectiveLoss:
			ref[i] = math.Inf(1)
		case config.ObjectiveSizeBits:
			ref[i] = float64(o.ref.SizeBits) * 1.0001
		case config.ObjectiveBops:
			ref[i] = float64(o.ref.BOPs) * 1.0001
		}
	}
	return ref
}
