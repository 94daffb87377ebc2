package search

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"mpq/internal/config"
	"mpq/internal/dataset"
	"mpq/internal/quant"
	"mpq/sensitivity"
	"mpq/store"
)

// SensitivityKind is the store blob kind of cached sensitivity tables.
const SensitivityKind = "sensitivity"

// ErrSensitivityCache marks a failure to read or write the sensitivity
// cache. RunSensitivity returns it together with a valid table: the
// analysis itself succeeded.
var ErrSensitivityCache = errors.New("search: sensitivity cache")

// SensitivityOptions returns the sensitivity options a config asks for: the
// sensitivity section's settings and methods (plus the activation traces
// when the search chooses between activation bitwidths), its subset's batch
// size and seed (0 when the subset has none) for the probes, and for the Ω
// table every weight bitwidth, activation bitwidth and weight quantizer the
// search may choose, per-layer overrides included.
func SensitivityOptions(cfg *config.Config) (sensitivity.Options, error) {
	s := cfg.Sensitivity
	o := sensitivity.Options{
		Estimator: s.Estimator, Sketch: s.Sketch,
		Tolerance: s.Tolerance, MinSamples: s.MinSamples, MaxSamples: s.MaxSamples,
		EigenIters: s.EigenIters, EigenTolerance: s.EigenTolerance,
		Batch: s.Batch, Methods: slices.Clone(s.Methods),
		WeightBits: slices.Clone(cfg.Search.WeightBits), ActivationBits: slices.Clone(cfg.Search.ActivationBits),
	}
	if s.Seed != nil {
		o.Seed = *s.Seed
	}
	names := slices.Clone(cfg.Search.WeightQuantizers)
	layers := make([]string, 0, len(cfg.Search.Layers))
	for name := range cfg.Search.Layers {
		layers = append(layers, name)
	}
	slices.Sort(layers)
	for _, name := range layers {
		l := cfg.Search.Layers[name]
		o.WeightBits = append(o.WeightBits, l.WeightBits...)
		o.ActivationBits = append(o.ActivationBits, l.ActivationBits...)
		names = append(names, l.WeightQuantizers...)
	}
	for _, n := range names {
		m, err := quant.ParseMethod(n)
		if err != nil {
			return o, fmt.Errorf("search: weight quantizer: %w", err)
		}
		if !slices.Contains(o.Quantizers, m) {
			o.Quantizers = append(o.Quantizers, m)
		}
	}
	// Only the activation traces price activation bitwidths in the Ω
	// table: without them the seeding knapsack sees every activation choice
	// as free and may seed the narrowest.
	if acts := slices.Compact(slices.Sorted(slices.Values(o.ActivationBits))); len(acts) > 1 && !slices.Contains(o.Methods, sensitivity.Activation) {
		o.Methods = append(o.Methods, sensitivity.Activation)
	}
	return o, nil
}

// SubsetDescription describes a data subset for the cache key: the
// config's description of it (split, count, seed or first) and a SHA-256 of
// its contents after the transform (inputs, labels and shape), so that a
// changed file, transform or split definition changes the key.
func SubsetDescription(s config.Subset, d *dataset.Dataset) string {
	h := sha256.New()
	var b [8]byte
	for _, v := range d.X {
		binary.LittleEndian.PutUint32(b[:4], math.Float32bits(v))
		h.Write(b[:4])
	}
	for _, l := range d.Labels {
		binary.LittleEndian.PutUint64(b[:], uint64(l))
		h.Write(b[:])
	}
	for _, s := range d.Shape {
		binary.LittleEndian.PutUint64(b[:], uint64(s))
		h.Write(b[:])
	}
	pick := "first"
	if s.Seed != nil {
		pick = fmt.Sprintf("seed %d", *s.Seed)
	}
	return fmt.Sprintf("split %s, %d samples (%s), data sha256 %s", s.Split, d.Len(), pick, hex.EncodeToString(h.Sum(nil)))
}

// RunSensitivity returns the sensitivity table of the workspace's model on
// the config's sensitivity subset. With a store, the table is cached under
// (SensitivityKind, sensitivity.Key(model hash, subset, options)): a cached
// table that fits the model is returned with cached = true, and a computed
// one is stored. st may be nil: no caching.
//
// A cache that cannot be read or written does not stop the analysis: the
// table is then returned together with an error wrapping
// ErrSensitivityCache.
func RunSensitivity(ctx context.Context, ws *Workspace, st *store.Store, progress func(sensitivity.Progress)) (*sensitivity.Table, bool, error) {
	opt, data, key, err := sensitivityKey(ws)
	if err != nil {
		return nil, false, err
	}
	opt.Progress = progress
	var cacheErr error
	if st != nil {
		blob, ok, err := st.Blob(ctx, SensitivityKind, key)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			cacheErr = fmt.Errorf("%w: %w", ErrSensitivityCache, err)
		case ok:
			var t sensitivity.Table
			// A blob that does not decode or fit the model is stale:
			// recompute and overwrite it.
			if json.Unmarshal(blob, &t) == nil && t.Check(ws.Model) == nil {
				t.Key = key
				return &t, true, nil
			}
		}
	}
	t, err := sensitivity.Analyze(ctx, ws.Model, data, opt)
	if err != nil {
		return nil, false, err
	}
	t.Key = key
	if st != nil && cacheErr == nil {
		blob, err := json.Marshal(t)
		if err != nil {
			return t, false, fmt.Errorf("%w: encoding the table: %w", ErrSensitivityCache, err)
		}
		if err := st.PutBlob(ctx, SensitivityKind, key, blob); err != nil {
			cacheErr = fmt.Errorf("%w: %w", ErrSensitivityCache, err)
		}
	}
	return t, false, cacheErr
}

// sensitivityKey returns the options, the data subset and the cache key of
// the workspace config's sensitivity analysis.
func sensitivityKey(ws *Workspace) (sensitivity.Options, *dataset.Dataset, string, error) {
	opt, err := SensitivityOptions(ws.Config)
	if err != nil {
		return opt, nil, "", err
	}
	sub := ws.Config.Sensitivity.Subset
	data, err := ws.Subset(sub)
	if err != nil {
		return opt, nil, "", err
	}
	return opt, data, sensitivity.Key(ws.ModelHash, SubsetDescription(sub, data), opt), nil
}

// CachedSensitivity returns the sensitivity table stored for the workspace
// config (as RunSensitivity caches it), without computing one: false when
// the store holds none that fits the model.
func CachedSensitivity(ctx context.Context, ws *Workspace, st *store.Store) (*sensitivity.Table, bool, error) {
	_, _, key, err := sensitivityKey(ws)
	if err != nil {
		return nil, false, err
	}
	blob, ok, err := st.Blob(ctx, SensitivityKind, key)
	if err != nil || !ok {
		return nil, false, err
	}
	var t sensitivity.Table
	if json.Unmarshal(blob, &t) != nil || t.Check(ws.Model) != nil {
		return nil, false, nil
	}
	t.Key = key
	return &t, true, nil
}
