package search

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mpq/evaluator"
	"mpq/internal/config"
)

type plansGolden []struct {
	Name     string                    `json:"name"`
	Plan     map[string]map[string]int `json:"plan"`
	Accuracy float64                   `json:"accuracy"`
	Loss     float64                   `json:"loss"`
}

// TestQuantizedMatchesPyTorch evaluates the plans of
// testdata/golden/<model>.plans.json (made by scripts/fakequant_torch.py,
// which implements mpq's quantization semantics in PyTorch) and compares
// accuracies: within 0.3 points, 1 point for plans with 2- or 3-bit layers.
// resnet_bn (BatchNorm kept) must match the folded export's numbers.
func TestQuantizedMatchesPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("full test-set evaluations")
	}
	for _, tc := range []struct{ model, golden string }{{"mlp", "mlp"}, {"lenet", "lenet"}, {"resnet", "resnet"}, {"resnet_bn", "resnet"}} {
		t.Run(tc.model, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "testdata", "golden", tc.golden+".plans.json"))
			if err != nil {
				t.Fatal(err)
			}
			var gold plansGolden
			if err := json.Unmarshal(raw, &gold); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(filepath.Join("..", "configs", tc.model+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			ws, err := OpenWorkspace(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			calib, err := ws.Calibrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := ws.Evaluator(calib, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range gold {
				doc, _ := json.Marshal(map[string]any{"layers": g.Plan})
				if d, ok := g.Plan["default"]; ok {
					doc, _ = json.Marshal(map[string]any{"default": d})
				}
				plan, err := evaluator.ParsePlan(doc, g.Name, ws.Model, -1)
				if err != nil {
					t.Fatal(err)
				}
				res, err := ev.Evaluate(ctx, plan)
				if err != nil {
					t.Fatal(err)
				}
				tol := 0.003
				if strings.Contains(g.Name, "2") || strings.Contains(g.Name, "3") {
					tol = 0.01
				}
				t.Logf("%s: mpq %.4f (loss %.4f), PyTorch %.4f (loss %.4f)", g.Name, res.Accuracy, res.Loss, g.Accuracy, g.Loss)
				if math.Abs(res.Accuracy-g.Accuracy) > tol {
					t.Errorf("%s: accuracy %.4f, PyTorch %.4f (tolerance %.3f)", g.Name, res.Accuracy, g.Accuracy, tol)
				}
			}
		})
	}
}
