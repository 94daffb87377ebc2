package search

import (
	"slices"

	"mpq/internal/config"
)

// LoadInputs reads and checks the data the study will use: the evaluation
// and calibration subsets and, when the search needs the sensitivity
// analysis (sampler auto, or a kmeans-hessian quantizer), the sensitivity
// subset. The splits stay loaded for the run. Run calls it before it writes
// anything, and `mpq search` before it opens the study database, so broken
// data (non-finite values, a shape the model does not take, labels out of
// range, counts beyond the split) fails the command with the database left
// as it was.
func (w *Workspace) LoadInputs() error {
	c := w.Config
	subsets := []config.Subset{c.Evaluation, c.Calibration.Subset}
	if c.Search.Sampler == config.SamplerAuto || usesKMeansHessian(c.Search) {
		subsets = append(subsets, c.Sensitivity.Subset)
	}
	for _, s := range subsets {
		if _, err := w.Subset(s); err != nil {
			return err
		}
	}
	return nil
}

// usesKMeansHessian reports whether the search may pick the kmeans-hessian
// quantizer, which needs the Hessian diagonal of the sensitivity analysis.
func usesKMeansHessian(s config.Search) bool {
	if slices.Contains(s.WeightQuantizers, config.QuantizerKMeansHessian) {
		return true
	}
	for _, l := range s.Layers {
		if slices.Contains(l.WeightQuantizers, config.QuantizerKMeansHessian) {
			return true
		}
	}
	return false
}
