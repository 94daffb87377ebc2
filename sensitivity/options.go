package sensitivity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"mpq/internal/quant"
)

// The sensitivity measures Options.Methods may list.
const (
	Hutchinson   = "hutchinson"   // per-layer Hessian trace (HAWQ-v2) and Ω table
	Eigen        = "eigen"        // per-layer top Hessian eigenvalue (HAWQ-v1)
	Fisher       = "fisher"       // per-layer empirical Fisher trace
	Activation   = "activation"   // Fisher trace of each layer's input activation and its Ω
	Perturbation = "perturbation" // measured one-layer-at-a-time quantization
)

// Methods returns every measure, in the order Analyze runs them.
func Methods() []string {
	return []string{Hutchinson, Eigen, Fisher, Activation, Perturbation}
}

// Loss names the loss every measure differentiates: the mean cross-entropy
// of the logits over the subset. It is part of the cache key.
const Loss = "mean-cross-entropy"

// Defaults applied by Options.withDefaults to zero fields. They match the
// config package's defaults.
const (
	DefaultTolerance      = 1e-3
	DefaultMinSamples     = 10
	DefaultMaxSamples     = 200
	DefaultEigenIters     = 100
	DefaultEigenTolerance = 1e-3
	DefaultBatch          = 256
)

// SessionBudget bounds the bytes of values and gradients one gradient
// Session holds for a batch: Analyze runs smaller batches than Options.Batch
// when a sample's values would not fit (engine.Model.BatchWithin).
const SessionBudget = 768 << 20

// ErrOptions marks invalid Options.
var ErrOptions = errors.New("sensitivity: invalid options")

// Options configures Analyze. The zero value of each field selects its
// default.
type Options struct {
	// Tolerance stops a layer's Hutchinson estimate once its running mean
	// has changed by at most Tolerance·|mean| at each of the last
	// ConvergenceWindow probes (default 1e-3).
	Tolerance float64
	// MinSamples and MaxSamples bound the Hutchinson probes per layer
	// (defaults 10 and 200).
	MinSamples, MaxSamples int
	// EigenIters and EigenTolerance bound the iteration for the top
	// eigenvalue: it stops when the estimate changes by at most
	// EigenTolerance·|λ| (defaults 100 and 1e-3).
	EigenIters     int
	EigenTolerance float64
	// Estimator is the trace estimator: HutchPP (default: Hutch++ on each
	// layer's block) or SharedProbes (the classic one-probe-for-all-layers
	// Hutchinson of HAWQ-v2 and PyHessian).
	Estimator string
	// Sketch is the Hutch++ sketch size per layer (default DefaultSketch);
	// ignored by SharedProbes.
	Sketch int
	// Seed seeds the Rademacher probes and the eigenvalue iterations' starts.
	Seed uint64
	// Batch is the number of samples per forward pass (default 256). It
	// changes nothing but rounding.
	Batch int
	// Methods lists the measures to compute (default [hutchinson]; the
	// config's default adds eigen and fisher).
	Methods []string
	// WeightBits are the weight bitwidths of the Ω table and of the
	// perturbation measurement (default [2 4 8]); ActivationBits likewise
	// for activations (default [8]). 32 means float.
	WeightBits, ActivationBits []int
	// Quantizers are the weight quantizers of the Ω table (default
	// [uniform]). The perturbation measurement always uses uniform.
	Quantizers []quant.Method
	// Progress, when not nil, is called as work proceeds, from one
	// goroutine at a time. It must return quickly.
	Progress func(Progress)

	// budget replaces SessionBudget when set (tests).
	budget int64
}

// Progress reports how far Analyze has come.
type Progress struct {
	// Phase is the measure being computed (one of Methods()).
	Phase string
	// Layer is the number of layers finished in this phase (converged, in
	// the Hutchinson phase); Layers is the number of layers.
	Layer, Layers int
	// Sample and Samples count the phase's units of work: block
	// Hessian-vector products (Hutch++, with Samples an upper bound) or
	// probes (shared probes, with Samples = MaxSamples), Lanczos iterations of all
	// layers (eigen, with Samples the iterations left possible), data
	// samples (fisher, activation) or measurements (perturbation).
	Sample, Samples int
	// Elapsed is the time spent in this phase so far.
	Elapsed time.Duration
}

// ETA estimates the time left in the phase from the fraction of Samples
// done (an upper bound for Hutchinson, where layers may converge early);
// zero when nothing is done yet.
func (p Progress) ETA() time.Duration {
	if p.Sample <= 0 || p.Samples <= p.Sample {
		return 0
	}
	return time.Duration(float64(p.Elapsed) * float64(p.Samples-p.Sample) / float64(p.Sample))
}

// has reports whether o asks for method m.
func (o *Options) has(m string) bool { return slices.Contains(o.Methods, m) }

// withDefaults returns o with defaults filled in and the lists sorted and
// deduplicated, or an error wrapping ErrOptions.
func (o Options) withDefaults() (Options, error) {
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.MinSamples == 0 {
		o.MinSamples = DefaultMinSamples
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.Estimator == "" {
		o.Estimator = HutchPP
	}
	o.Estimator = strings.ToLower(strings.TrimSpace(o.Estimator))
	if !slices.Contains(Estimators(), o.Estimator) {
		return o, fmt.Errorf("%w: unknown estimator %q (valid: %s)", ErrOptions, o.Estimator, strings.Join(Estimators(), ", "))
	}
	if o.Sketch == 0 {
		o.Sketch = DefaultSketch
	}
	if o.Sketch < 0 {
		return o, fmt.Errorf("%w: sketch %d must not be negative", ErrOptions, o.Sketch)
	}
	if o.Estimator == SharedProbes {
		o.Sketch = 0
	}
	if o.EigenIters == 0 {
		o.EigenIters = DefaultEigenIters
	}
	if o.EigenTolerance == 0 {
		o.EigenTolerance = DefaultEigenTolerance
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if len(o.Methods) == 0 {
		o.Methods = []string{Hutchinson}
	}
	if len(o.WeightBits) == 0 {
		o.WeightBits = []int{2, 4, 8}
	}
	if len(o.ActivationBits) == 0 {
		o.ActivationBits = []int{8}
	}
	if len(o.Quantizers) == 0 {
		o.Quantizers = []quant.Method{quant.Uniform}
	}
	switch {
	case !(o.Tolerance > 0) || math.IsInf(o.Tolerance, 0):
		return o, fmt.Errorf("%w: tolerance %v must be positive", ErrOptions, o.Tolerance)
	case !(o.EigenTolerance > 0) || math.IsInf(o.EigenTolerance, 0):
		return o, fmt.Errorf("%w: eigen tolerance %v must be positive", ErrOptions, o.EigenTolerance)
	case o.MinSamples < 1 || o.MaxSamples < o.MinSamples:
		return o, fmt.Errorf("%w: min samples %d and max samples %d: want 1 ≤ min ≤ max", ErrOptions, o.MinSamples, o.MaxSamples)
	case o.EigenIters < 1:
		return o, fmt.Errorf("%w: eigen iterations %d must be at least 1", ErrOptions, o.EigenIters)
	case o.Batch < 1:
		return o, fmt.Errorf("%w: batch %d must be at least 1", ErrOptions, o.Batch)
	}
	methods := make([]string, 0, len(o.Methods))
	for _, m := range o.Methods {
		m = strings.ToLower(strings.TrimSpace(m))
		if !slices.Contains(Methods(), m) {
			return o, fmt.Errorf("%w: unknown method %q (valid: %s)", ErrOptions, m, strings.Join(Methods(), ", "))
		}
		methods = append(methods, m)
	}
	// Canonical order: the order Analyze runs them.
	o.Methods = nil
	for _, m := range Methods() {
		if slices.Contains(methods, m) {
			o.Methods = append(o.Methods, m)
		}
	}
	for _, bits := range [][]int{o.WeightBits, o.ActivationBits} {
		for _, b := range bits {
			if b != quant.FloatBits && (b < 1 || b > quant.MaxBits) {
				return o, fmt.Errorf("%w: bitwidth %d (want 1..%d, or %d for float)", ErrOptions, b, quant.MaxBits, quant.FloatBits)
			}
		}
	}
	o.WeightBits = sortedUnique(o.WeightBits)
	o.ActivationBits = sortedUnique(o.ActivationBits)
	qs := make([]quant.Method, 0, len(o.Quantizers))
	for _, q := range o.Quantizers {
		m, err := quant.ParseMethod(string(q))
		if err != nil {
			return o, fmt.Errorf("%w: %w", ErrOptions, err)
		}
		if !slices.Contains(qs, m) {
			qs = append(qs, m)
		}
	}
	o.Quantizers = qs
	return o, nil
}

func sortedUnique(v []int) []int {
	out := slices.Clone(v)
	slices.Sort(out)
	return slices.Compact(out)
}

// keyVersion changes whenever an algorithm change alters the numbers, so
// that cached tables from older versions are not reused. Version 2:
// calibrated finite-difference step, Lanczos eigenvalues. Version 3: the
// estimator (Hutch++ per block by default) and its sketch size.
const keyVersion = 3

// Key returns the cache key of a table: a SHA-256 over the model's hash, a
// description of the data subset (split, count, seed), the loss and every
// setting that changes the numbers. Equal inputs give equal keys; list
// settings are compared as sets. Invalid options give the key of their
// defaults-filled form as far as it can be built.
func Key(modelHash, subset string, opt Options) string {
	o, err := opt.withDefaults()
	if err != nil {
		o = opt // still a stable function of the input
	}
	type keyed struct {
		Version        int      `json:"version"`
		Model          string   `json:"model"`
		Subset         string   `json:"subset"`
		Loss           string   `json:"loss"`
		Estimator      string   `json:"estimator"`
		Sketch         int      `json:"sketch"`
		Tolerance      float64  `json:"tolerance"`
		MinSamples     int      `json:"min_samples"`
		MaxSamples     int      `json:"max_samples"`
		EigenIters     int      `json:"eigen_iters"`
		EigenTolerance float64  `json:"eigen_tolerance"`
		Seed           uint64   `json:"seed"`
		Batch          int      `json:"batch"`
		Methods        []string `json:"methods"`
		WeightBits     []int    `json:"weight_bits"`
		ActivationBits []int    `json:"activation_bits"`
		Quantizers     []string `json:"quantizers"`
	}
	qs := make([]string, len(o.Quantizers))
	for i, q := range o.Quantizers {
		qs[i] = string(q)
	}
	slices.Sort(qs)
	k := keyed{keyVersion, modelHash, subset, Loss, o.Estimator, o.Sketch, o.Tolerance, o.MinSamples, o.MaxSamples,
		o.EigenIters, o.EigenTolerance, o.Seed, o.Batch, o.Methods, o.WeightBits, o.ActivationBits, qs}
	b, err := json.Marshal(k)
	if err != nil {
		// Only non-finite floats fail to marshal; fold them in as text.
		b = fmt.Appendf(nil, "%+v", k)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
