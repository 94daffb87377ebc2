package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
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

	mu     sync.Mutex
	splits map[string]*dataset.Dataset
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
		return nil, fmt.Errorf("split %q: %w", name, err)
	}
	if err := d.Apply(w.Config.Data.Transform, w.channels()); err != nil {
		return nil, fmt.Errorf("data.transform on split %q: %w", name, err)
	}
	if err := d.CheckLabels(w.Model.Classes); err != nil {
		return nil, fmt.Errorf("split %q: %w", name, err)
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

// Evaluator returns an evaluator on the config's evaluation subset.
func (w *Workspace) Evaluator(calib *evaluator.Calibration, cache *evaluator.WeightCache) (*evaluator.Evaluator, error) {
	d, err := w.Subset(w.Config.Evaluation)
	if err != nil {
		return nil, err
	}
	return evaluator.New(w.Model, d, w.Config.Evaluation.Batch, calib, cache)
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
