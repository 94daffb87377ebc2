package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sync"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/onnxio"
	"mpq/store"
)

// Workspace is a loaded config: the model and its data splits, each split
// read once and normalised by the config's transform.
type Workspace struct {
	Config    *config.Config
	Model     *engine.Model
	ModelHash string

	mu      sync.Mutex
	splits  map[string]*dataset.Dataset
	evalSet *dataset.Dataset // the evaluation subset in evaluation order
}

// OpenWorkspace loads cfg's model.
func OpenWorkspace(cfg *config.Config) (*Workspace, error) {
	path := cfg.Resolve(cfg.Model)
	m, err := onnxio.LoadModel(path)
	if err != nil {
		return nil, err
	}
	h, err := fileHash(path)
	if err != nil {
		return nil, err
	}
	return &Workspace{Config: cfg, Model: m, ModelHash: h, splits: map[string]*dataset.Dataset{}}, nil
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("model %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// channels is the channel count the transform's mean/std index: the input's
// axis 1 for image inputs (N×C×H×W); for flat inputs one channel, or one per
// feature when mean or std lists a value per feature.
func (w *Workspace) channels() int {
	s := w.Model.InputShape
	if len(s) >= 3 {
		return s[1]
	}
	t := w.Config.Data.Transform
	if n := max(len(t.Mean), len(t.Std)); n > 1 {
		return n
	}
	return 1
}

// Split returns the named split, fitted to the model and normalised.
func (w *Workspace) Split(name string) (*dataset.Dataset, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.splits[name]; ok {
		return d, nil
	}
	d, err := w.Config.LoadSplit(name)
	if err != nil {
		return nil, err
	}
	if err := d.Fit(w.Model.SampleShape()); err != nil {
		return nil, err // d's name says the split and the file
	}
	if err := d.Apply(w.Config.Data.Transform, w.channels()); err != nil {
		return nil, fmt.Errorf("data.transform on split %q: %w", name, err)
	}
	if err := d.CheckLabels(w.Model.Classes); err != nil {
		return nil, err
	}
	w.splits[name] = d
	return d, nil
}

// Subset returns the samples a config subset (evaluation, calibration,
// sensitivity) names.
func (w *Workspace) Subset(s config.Subset) (*dataset.Dataset, error) {
	d, err := w.Split(s.Split)
	if err != nil {
		return nil, err
	}
	return s.Take(d)
}

// Calibrate runs the config's activation calibration.
func (w *Workspace) Calibrate(ctx context.Context) (*evaluator.Calibration, error) {
	c := w.Config.Calibration
	d, err := w.Subset(c.Subset)
	if err != nil {
		return nil, err
	}
	return evaluator.Calibrate(ctx, w.Model, d, c.Method, c.Percentile, c.Batch)
}

// Evaluator returns an evaluator on the config's evaluation subset, which
// it visits in a fixed shuffled order (the same on every run and machine).
// The search stops hopeless plans early on a prefix of the subset, and the
// prefix of a split in file order is no fair sample of it: MNIST's first
// test images are harder than the rest (the shipped MLP scores 0.958 on the
// first 2,560 and 0.973 on all 10,000), which pruned near-lossless plans
// that beat the front. The order changes no accuracy and the mean loss only
// in its last bits.
func (w *Workspace) Evaluator(calib *evaluator.Calibration, cache *evaluator.WeightCache) (*evaluator.Evaluator, error) {
	d, err := w.evaluationSet()
	if err != nil {
		return nil, err
	}
	return evaluator.New(w.Model, d, w.Config.Evaluation.Batch, calib, cache)
}

// evalOrderSeed seeds the evaluation order.
const evalOrderSeed = 0x6d7071 // "mpq"

// evaluationSet returns the evaluation subset in its evaluation order,
// made once per workspace.
func (w *Workspace) evaluationSet() (*dataset.Dataset, error) {
	w.mu.Lock()
	d := w.evalSet
	w.mu.Unlock()
	if d != nil {
		return d, nil
	}
	sub, err := w.Subset(w.Config.Evaluation)
	if err != nil {
		return nil, err
	}
	d = shuffled(sub, evalOrderSeed)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.evalSet == nil {
		w.evalSet = d
	}
	return w.evalSet, nil
}

// shuffled returns a copy of d with its samples in a pseudo-random order
// fixed by seed (Fisher–Yates over PCG, whose stream is specified).
func shuffled(d *dataset.Dataset, seed uint64) *dataset.Dataset {
	n, s := d.Len(), d.SampleLen()
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	for i := n - 1; i > 0; i-- {
		j := int(rng.Uint64() % uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	out := &dataset.Dataset{Name: d.Name, X: make([]float32, 0, n*s), Labels: make([]int, 0, n), Shape: slices.Clone(d.Shape)}
	for _, i := range perm {
		out.X = append(out.X, d.X[i*s:(i+1)*s]...)
		out.Labels = append(out.Labels, d.Labels[i])
	}
	return out
}

// OpenStore opens the study database cfg names (study.storage; a relative
// SQLite path resolves against the config file's folder).
func OpenStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	s, err := cfg.Storage()
	if err != nil {
		return nil, err
	}
	dsn := s.DSN
	if s.Driver == "sqlite" {
		dsn = "sqlite://" + s.DSN // s.DSN is absolute (sqlite:///abs) or :memory:
	}
	return store.Open(ctx, dsn)
}
