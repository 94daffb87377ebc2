package search

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"mpq/internal/config"
	"mpq/store"
)

// studyConfig writes a small MLP study config into a temporary folder.
func studyConfig(t *testing.T, sampler string, extra string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yml := strings.NewReplacer("ROOT", root, "SAMPLER", sampler).Replace(`model: ROOT/testdata/models/mlp.onnx
data:
  train: {format: idx, images: ROOT/testdata/mnist/train-images-idx3-ubyte.gz, labels: ROOT/testdata/mnist/train-labels-idx1-ubyte.gz}
  test:  {format: idx, images: ROOT/testdata/mnist/t10k-images-idx3-ubyte.gz, labels: ROOT/testdata/mnist/t10k-labels-idx1-ubyte.gz}
  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
evaluation:  {split: test, count: 1024}
calibration: {split: train, count: 256, method: minmax}
sensitivity: {split: train, count: 128, seed: 0, max_samples: 12, min_samples: 4}
study: {name: mlp-test, storage: sqlite://study.db}
search:
  weight_bits: [2, 4, 8]
  activation_bits: [4, 8]
  objectives: [accuracy, size_bits]
  trials: 12
  seed: 3
  sampler: SAMPLER
  workers: 2
`) + extra
	path := filepath.Join(dir, "study.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runStudy(t *testing.T, path string, opt Options) (*Summary, *store.Store) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenWorkspace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sum, err := Run(ctx, ws, st, opt)
	if err != nil {
		t.Fatal(err)
	}
	return sum, st
}

func TestRunAutoAndResume(t *testing.T) {
	path := studyConfig(t, "auto", "")
	sum, st := runStudy(t, path, Options{})
	if got := sum.Complete + sum.Pruned; got != 12 {
		t.Fatalf("%d finished trials, want 12", got)
	}
	if len(sum.Front) == 0 {
		t.Fatal("empty Pareto front")
	}
	rs, err := st.TrialResults(context.Background(), "mlp-test")
	if err != nil {
		t.Fatal(err)
	}
	seeds := 0
	nums := map[int]bool{}
	for _, r := range rs {
		if nums[r.TrialNumber] {
			t.Fatalf("trial number %d recorded twice", r.TrialNumber)
		}
		nums[r.TrialNumber] = true
		if r.Provenance == store.ProvenanceSeed {
			seeds++
		}
	}
	if seeds < 3 {
		t.Errorf("%d seeded trials, want the widest, narrowest and knapsack plans", seeds)
	}
	// The front is sorted by size and non-dominated.
	for i := 1; i < len(sum.Front); i++ {
		a, b := sum.Front[i-1], sum.Front[i]
		if a.SizeBits > b.SizeBits || a.Accuracy >= b.Accuracy {
			t.Errorf("front not sorted/non-dominated at %d: %+v then %+v", i, a, b)
		}
	}
	st.Close()
	// Resume with a higher target: the earlier trials stay as they were.
	sum2, st2 := runStudy(t, path, Options{Trials: 16})
	if got := sum2.Complete + sum2.Pruned; got != 16 {
		t.Fatalf("after resuming: %d finished trials, want 16", got)
	}
	rs2, err := st2.TrialResults(context.Background(), "mlp-test")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int]store.TrialResult{}
	for _, r := range rs2 {
		byID[r.TrialID] = r
	}
	for _, r := range rs {
		if got := byID[r.TrialID]; got.Accuracy != r.Accuracy || got.ConfigKey != r.ConfigKey {
			t.Errorf("trial %d changed on resume", r.TrialNumber)
		}
	}
	study, err := goptuna.LoadStudy("mlp-test", goptuna.StudyOptionStorage(st2.Storage()), goptuna.StudyOptionLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	trials, _ := study.GetTrials()
	for _, tr := range trials {
		if tr.State == goptuna.TrialStateRunning || tr.State == goptuna.TrialStateWaiting {
			t.Errorf("trial %d left %s", tr.Number, tr.State)
		}
	}
}

func TestRunRefusesChangedConfig(t *testing.T) {
	path := studyConfig(t, "random", "")
	runStudy(t, path, Options{Trials: 3})
	raw, _ := os.ReadFile(path)
	changed := strings.Replace(string(raw), "weight_bits: [2, 4, 8]", "weight_bits: [2, 3, 4, 8]", 1)
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenWorkspace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = Run(context.Background(), ws, st, Options{Trials: 3})
	if err == nil || !strings.Contains(err.Error(), "was started with a different config") {
		t.Fatalf("err = %v, want a refusal naming the changed config", err)
	}
}

func TestExhaustiveCoversSpace(t *testing.T) {
	path := studyConfig(t, "exhaustive", "")
	raw, _ := os.ReadFile(path)
	small := strings.Replace(string(raw), "weight_bits: [2, 4, 8]", "weight_bits: [4, 8]", 1)
	small = strings.Replace(small, "activation_bits: [4, 8]", "activation_bits: [8]", 1)
	if err := os.WriteFile(path, []byte(small), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, st := runStudy(t, path, Options{Trials: 100})
	if got := sum.Complete + sum.Pruned; got != 8 {
		t.Fatalf("%d trials, want all 8 plans of the space", got)
	}
	rs, _ := st.TrialResults(context.Background(), "mlp-test")
	keys := map[string]bool{}
	for _, r := range rs {
		keys[r.ConfigKey] = true
	}
	if len(keys) != 8 {
		t.Fatalf("%d distinct plans evaluated, want 8", len(keys))
	}
}
