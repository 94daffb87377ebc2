package evaluator_test

import (
	"errors"
	"path/filepath"
	"testing"

	"mpq/evaluator"
	"mpq/internal/onnxio"
)

// FuzzParsePlan feeds arbitrary plan files (and --trial values) to the plan
// loader for the shipped LeNet: it must never panic, every error must wrap
// ErrPlan, and a plan it accepts must be valid for the model. Seeds: the
// documented forms here and testdata/fuzz/FuzzParsePlan/.
func FuzzParsePlan(f *testing.F) {
	m, err := onnxio.LoadModel(filepath.Join("..", "testdata", "models", "lenet.onnx"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("default: {weight_bits: 8, activation_bits: 8}\nlayers:\n  /conv1/Conv: {weight_bits: 4}\n  fc3.weight: {weight_bits: 2, activation_bits: 4, weight_quantizer: ternary}\n"), -1)
	f.Add([]byte(`{"default": {"weight_bits": 4}, "layers": {"/fc1/Gemm": {"weight_bits": 32, "calibration": "mse"}}}`), -1)
	f.Add([]byte("study: s\nobjectives: [accuracy, size_bits]\nplans:\n- trial: 3\n  layers: {conv1.weight: {weight_bits: 2}}\n- trial: 7\n  layers: {}\n"), 7)
	f.Add([]byte("layers:\n  a: &x {weight_bits: 4}\n  b: *x\n"), -1)
	f.Add([]byte("layers: {/conv1/Conv: {weight_bits: 4}, conv1.weight: {weight_bits: 2}}"), -1)
	f.Fuzz(func(t *testing.T, data []byte, trial int) {
		p, err := evaluator.ParsePlan(data, "fuzz.yaml", m, trial)
		if err != nil {
			if !errors.Is(err, evaluator.ErrPlan) {
				t.Fatalf("error %q does not wrap ErrPlan", err)
			}
			return
		}
		if err := p.Validate(m); err != nil {
			t.Fatalf("accepted plan is invalid: %v", err)
		}
		_ = p.Key()
		_ = evaluator.CostOf(m, p)
	})
}
