package report

import (
	"fmt"
	"math"
	"slices"

	"mpq/sensitivity"
)

// SensitivityChart returns the bar chart of a sensitivity table: for each
// layer, on a log axis, the curvature per weight that multiplies ‖ΔW‖² in
// the Ω table — |Tr(H_l)|/n_l (hutchinson) and Tr(F_l)/n_l (fisher) — and
// the activation trace per input value (activation). A table with none of
// these shows the top eigenvalue's magnitude (eigen) or, failing that, the
// loss increase of the lowest measured weight bitwidth (perturbation).
func SensitivityChart(t *sensitivity.Table) *BarChart {
	c := &BarChart{Title: "Layer sensitivity", XLabel: "layer", YLabel: "per weight (log scale)", Log: true}
	n := len(t.Layers)
	for _, r := range t.Layers {
		c.Categories = append(c.Categories, r.Name)
	}
	series := func(name string, f func(r sensitivity.LayerResult) float64) {
		s := Series{Name: name, Values: make([]float64, n)}
		for i, r := range t.Layers {
			s.Values[i] = f(r)
		}
		c.Series = append(c.Series, s)
	}
	if t.Has(sensitivity.Hutchinson) {
		series("Hessian trace / weights", func(r sensitivity.LayerResult) float64 {
			return math.Abs(r.HessianTrace) / float64(r.Params)
		})
	}
	if t.Has(sensitivity.Fisher) {
		series("Fisher trace / weights", func(r sensitivity.LayerResult) float64 {
			return r.FisherTrace / float64(r.Params)
		})
	}
	if t.Has(sensitivity.Activation) {
		series("activation trace / input values", func(r sensitivity.LayerResult) float64 {
			if r.ActivationSize == 0 {
				return 0
			}
			return r.ActivationTrace / float64(r.ActivationSize)
		})
	}
	if len(c.Series) > 0 {
		return c
	}
	if t.Has(sensitivity.Eigen) {
		c.YLabel = "|top eigenvalue| (log scale)"
		series("|top Hessian eigenvalue|", func(r sensitivity.LayerResult) float64 { return math.Abs(r.TopEigenvalue) })
		return c
	}
	if t.Has(sensitivity.Perturbation) && len(t.Settings.WeightBits) > 0 {
		b := slices.Min(t.Settings.WeightBits)
		c.YLabel = "loss increase (log scale)"
		series(fmt.Sprintf("loss increase, weights at %d bits", b), func(r sensitivity.LayerResult) float64 {
			return r.Perturbation[b].DLoss
		})
	}
	return c
}
