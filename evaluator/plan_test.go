package evaluator_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"mpq/evaluator"
	"mpq/internal/onnxio"
	"mpq/internal/quant"
)

func TestParsePlan(t *testing.T) {
	m, err := onnxio.LoadModel(filepath.Join("..", "testdata", "models", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := evaluator.ParsePlan([]byte(`
default: {weight_bits: 4, activation_bits: 8}
layers:
  /conv1/Conv: {weight_bits: 8}
  fc3.weight: {weight_bits: 2, activation_bits: 4, weight_quantizer: ternary}
`), "plan.yaml", m, -1)
	if err != nil {
		t.Fatal(err)
	}
	want := []evaluator.LayerSpec{
		{WeightBits: 8, ActivationBits: 8, WeightQuantizer: quant.Uniform},
		{WeightBits: 4, ActivationBits: 8, WeightQuantizer: quant.Uniform},
		{WeightBits: 4, ActivationBits: 8, WeightQuantizer: quant.Uniform},
		{WeightBits: 4, ActivationBits: 8, WeightQuantizer: quant.Uniform},
		{WeightBits: 2, ActivationBits: 4, WeightQuantizer: quant.Ternary},
	}
	for i := range want {
		if p[i] != want[i] {
			t.Errorf("layer %d: %+v, want %+v", i, p[i], want[i])
		}
	}
	c := evaluator.CostOf(m, p)
	// conv1 150×8 + (2400+48000+10080)×4 + fc3 840×2 (ternary)
	if wantSize := int64(150*8 + (2400+48000+10080)*4 + 840*2); c.SizeBits != wantSize {
		t.Errorf("size %d bits, want %d", c.SizeBits, wantSize)
	}
	// BOPs: conv1 117600×8×8 + (240000+48000+10080)×4×8 + 840×2×4
	if wantBops := int64(117600*64 + (240000+48000+10080)*32 + 840*8); c.BOPs != wantBops {
		t.Errorf("BOPs %d, want %d", c.BOPs, wantBops)
	}

	for _, tc := range []struct{ name, doc, want string }{
		{"unknown layer", "layers: {conv9: {weight_bits: 4}}", `layer "conv9" is not a quantizable layer`},
		{"bits out of range", "layers: {/conv1/Conv: {weight_bits: 17}}", "weight_bits 17: want 1–16, or 32"},
		{"zero activation bits", "default: {activation_bits: 0}", "activation_bits 0"},
		{"unknown key", "layers: {/conv1/Conv: {wieght_bits: 4}}", "plan.yaml:1"},
		{"unknown quantizer", "default: {weight_quantizer: magic}", "magic"},
		{"empty", "", "the file is empty"},
		{"plans file without trial", "study: s\nplans: [{trial: 1, layers: {}}, {trial: 2, layers: {}}]", "pick one with --trial N"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evaluator.ParsePlan([]byte(tc.doc), "plan.yaml", m, -1)
			if err == nil || !errors.Is(err, evaluator.ErrPlan) && !strings.Contains(err.Error(), "plan") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}
