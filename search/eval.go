package search

import (
	"context"
	"slices"

	"mpq/evaluator"
	"mpq/internal/quant"
)

// PlanResult is a plan's measured quality and cost.
type PlanResult struct {
	Accuracy     float64 `json:"accuracy"`
	Loss         float64 `json:"loss"`
	SizeBits     int64   `json:"size_bits"`
	BOPs         int64   `json:"bops"`
	Samples      int     `json:"samples"`
	OverheadBits int64   `json:"overhead_bits"`
	Compression  float64 `json:"compression"`
}

// needsCalibration reports whether any layer of p quantizes its input.
func needsCalibration(p evaluator.Plan) bool {
	for _, s := range p {
		if s.ActivationBits != evaluator.FloatBits {
			return true
		}
	}
	return false
}

// usesHessian reports whether a quantized layer of p uses Hessian-weighted
// k-means.
func usesHessian(p evaluator.Plan) bool {
	return slices.ContainsFunc(p, func(s evaluator.LayerSpec) bool {
		return s.WeightQuantizer == quant.KMeansHessian && s.WeightBits != evaluator.FloatBits
	})
}

// EvaluatePlan calibrates (when the plan quantizes activations) and scores p
// on the workspace's evaluation subset.
func EvaluatePlan(ctx context.Context, ws *Workspace, p evaluator.Plan) (PlanResult, error) {
	if err := p.Validate(ws.Model); err != nil {
		return PlanResult{}, err
	}
	var calib *evaluator.Calibration
	if needsCalibration(p) {
		var err error
		if calib, err = ws.Calibrate(ctx); err != nil {
			return PlanResult{}, err
		}
	}
	var weights *evaluator.WeightCache
	if usesHessian(p) {
		// Hessian-weighted k-means needs the Hessian diagonal the search
		// used: the study's cached sensitivity table (computed and cached
		// when the store has none).
		weights = evaluator.NewWeightCache(ws.Model)
		if err := hessianInto(ctx, ws, weights); err != nil {
			return PlanResult{}, err
		}
	}
	ev, err := ws.Evaluator(calib, weights)
	if err != nil {
		return PlanResult{}, err
	}
	r, err := ev.Evaluate(ctx, p)
	if err != nil {
		return PlanResult{}, err
	}
	c := evaluator.CostOf(ws.Model, p)
	return PlanResult{Accuracy: r.Accuracy, Loss: r.Loss, SizeBits: c.SizeBits, BOPs: c.BOPs, Samples: r.Samples,
		OverheadBits: c.OverheadBits, Compression: c.Compression}, nil
}
