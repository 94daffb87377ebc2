package report

import (
	"slices"
	"testing"

	"mpq/sensitivity"
)

func TestSensitivityChart(t *testing.T) {
	layers := []sensitivity.LayerResult{
		{Name: "a", Params: 10, HessianTrace: -20, FisherTrace: 5, TopEigenvalue: -3, ActivationTrace: 8, ActivationSize: 4,
			Perturbation: map[int]sensitivity.Perturb{2: {DLoss: 0.5}, 8: {DLoss: 0.01}}},
		{Name: "b", Params: 100, HessianTrace: 10, FisherTrace: 50, TopEigenvalue: 2, ActivationTrace: 1, ActivationSize: 0,
			Perturbation: map[int]sensitivity.Perturb{2: {DLoss: 0.1}, 8: {DLoss: 0}}},
	}
	for _, tc := range []struct {
		name    string
		methods []string
		series  []string
		values  [][]float64
	}{
		{"hutchinson", []string{sensitivity.Hutchinson}, []string{"Hessian trace / weights"}, [][]float64{{2, 0.1}}},
		{"all", sensitivity.Methods(), []string{"Hessian trace / weights", "Fisher trace / weights", "activation trace / input values"},
			[][]float64{{2, 0.1}, {0.5, 0.5}, {2, 0}}},
		{"eigen only", []string{sensitivity.Eigen}, []string{"|top Hessian eigenvalue|"}, [][]float64{{3, 2}}},
		{"perturbation only", []string{sensitivity.Perturbation}, []string{"loss increase, weights at 2 bits"}, [][]float64{{0.5, 0.1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &sensitivity.Table{Layers: layers, Settings: sensitivity.Settings{Methods: tc.methods, WeightBits: []int{8, 2}}}
			c := SensitivityChart(tab)
			if !slices.Equal(c.Categories, []string{"a", "b"}) {
				t.Errorf("categories %v", c.Categories)
			}
			var names []string
			for i, s := range c.Series {
				names = append(names, s.Name)
				if i < len(tc.values) && !slices.Equal(s.Values, tc.values[i]) {
					t.Errorf("series %q: %v, want %v", s.Name, s.Values, tc.values[i])
				}
			}
			if !slices.Equal(names, tc.series) {
				t.Errorf("series %v, want %v", names, tc.series)
			}
			if err := c.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}
