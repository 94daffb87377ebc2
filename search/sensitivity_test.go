package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"mpq/internal/config"
	"mpq/internal/quant"
	"mpq/sensitivity"
	"mpq/store"
)

// sensRepo is the repository root.
func sensRepo() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// sensConfig returns a small LeNet study config in a temporary folder.
func sensConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	r := sensRepo()
	yaml := fmt.Sprintf(`model: %s/testdata/models/lenet.onnx
data:
  train: {format: idx, images: %[1]s/testdata/mnist/t10k-images-idx3-ubyte.gz, labels: %[1]s/testdata/mnist/t10k-labels-idx1-ubyte.gz}
  test:  {format: idx, images: %[1]s/testdata/mnist/t10k-images-idx3-ubyte.gz, labels: %[1]s/testdata/mnist/t10k-labels-idx1-ubyte.gz}
  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
sensitivity: {split: train, count: 24, batch: 12, min_samples: 2, max_samples: 2}
search:
  weight_bits: [2, 4]
  activation_bits: [8]
%s`, r, extra)
	path := filepath.Join(t.TempDir(), "study.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestSensitivityOptions(t *testing.T) {
	cfg := sensConfig(t, `  weight_quantizers: [uniform]
  layers:
    /fc1/Gemm: {weight_bits: [3, 8], weight_quantizers: [pow2, uniform]}
    /conv1/Conv: {activation_bits: [4]}
`)
	o, err := SensitivityOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 4, 3, 8}; !reflect.DeepEqual(o.WeightBits, want) {
		t.Errorf("weight bits %v, want %v", o.WeightBits, want)
	}
	if want := []int{8, 4}; !reflect.DeepEqual(o.ActivationBits, want) {
		t.Errorf("activation bits %v, want %v", o.ActivationBits, want)
	}
	if want := []quant.Method{quant.Uniform, quant.Pow2}; !reflect.DeepEqual(o.Quantizers, want) {
		t.Errorf("quantizers %v, want %v", o.Quantizers, want)
	}
	if o.MaxSamples != 2 || o.Batch != 12 || o.Seed != 0 {
		t.Errorf("options %+v", o)
	}
	// Two activation bitwidths to choose from: the activation traces price
	// them in the Ω table.
	if want := []string{config.SensitivityHutchinson, config.SensitivityEigen, config.SensitivityFisher, sensitivity.Activation}; !reflect.DeepEqual(o.Methods, want) {
		t.Errorf("methods %v, want %v", o.Methods, want)
	}
	o, err = SensitivityOptions(sensConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{config.SensitivityHutchinson, config.SensitivityEigen, config.SensitivityFisher}; !reflect.DeepEqual(o.Methods, want) {
		t.Errorf("one activation bitwidth: methods %v, want %v", o.Methods, want)
	}
}

// TestRunSensitivityCache runs the analysis twice against one store: the
// second run must come from the cache and equal the first; without a store
// nothing is cached; a damaged blob is recomputed and replaced.
func TestRunSensitivityCache(t *testing.T) {
	ctx := context.Background()
	cfg := sensConfig(t, "")
	ws, err := OpenWorkspace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "study.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	calls := 0
	first, cached, err := RunSensitivity(ctx, ws, st, func(sensitivity.Progress) { calls++ })
	if err != nil || cached {
		t.Fatalf("first run: cached %v, error %v", cached, err)
	}
	if calls == 0 {
		t.Error("no progress reported")
	}
	second, cached, err := RunSensitivity(ctx, ws, st, nil)
	if err != nil || !cached {
		t.Fatalf("second run: cached %v, error %v", cached, err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Error("the cached table differs from the computed one")
	}
	if _, cached, err := RunSensitivity(ctx, ws, nil, nil); err != nil || cached {
		t.Fatalf("without a store: cached %v, error %v", cached, err)
	}

	if err := st.PutBlob(ctx, SensitivityKind, first.Key, []byte(`{"layers": []}`)); err != nil {
		t.Fatal(err)
	}
	third, cached, err := RunSensitivity(ctx, ws, st, nil)
	if err != nil || cached || third.Check(ws.Model) != nil {
		t.Fatalf("stale blob: cached %v, error %v", cached, err)
	}
	if _, cached, _ := RunSensitivity(ctx, ws, st, nil); !cached {
		t.Error("the stale blob was not replaced")
	}

	// Other settings, other key.
	cfg2 := sensConfig(t, "")
	cfg2.Sensitivity.MaxSamples = 3
	ws2, err := OpenWorkspace(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if _, cached, err := RunSensitivity(ctx, ws2, st, nil); err != nil || cached {
		t.Fatalf("changed settings: cached %v, error %v", cached, err)
	}

	// A closed store: the analysis still succeeds, with a cache error.
	st.Close()
	tab, _, err := RunSensitivity(ctx, ws, st, nil)
	if tab == nil || !errors.Is(err, ErrSensitivityCache) {
		t.Fatalf("closed store: table %v, error %v", tab != nil, err)
	}
}
