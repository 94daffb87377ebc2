package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"mpq/internal/dataset"
)

// Config is a study config. Parse and Load fill in the defaults.
type Config struct {
	// Path is the config file as given to Load or Parse; Dir is its folder,
	// absolute, against which relative paths resolve.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`

	// Model is the ONNX model file. Required.
	Model string `yaml:"model"`
	// Data holds the data splits and the input transform. Required.
	Data Data `yaml:"data"`
	// Evaluation is the held-out subset that scores each trial.
	Evaluation Subset `yaml:"evaluation"`
	// Calibration is the subset that calibrates activation ranges.
	Calibration Calibration `yaml:"calibration"`
	// Sensitivity is the subset and settings of the sensitivity pass.
	Sensitivity Sensitivity `yaml:"sensitivity"`
	// Study names the study and where it is stored.
	Study Study `yaml:"study"`
	// Search is the search space and budget.
	Search Search `yaml:"search"`

	// lines maps key paths (search.weight_bits[2]) to their line in the
	// file; set holds the paths given a non-null value.
	lines map[string]int
	set   map[string]bool
}

// Data holds the splits by name (train, test, val, ...) and the transform
// applied to every split's inputs.
type Data struct {
	// Transform normalises inputs: x ← (x·scale − mean[c]) / std[c].
	Transform dataset.Transform `yaml:"transform,omitempty"`
	// Splits maps a split name to its files; any key except transform.
	Splits map[string]dataset.Source `yaml:",inline"`
}

// Subset picks samples from a split.
type Subset struct {
	// Split names an entry of data.
	Split string `yaml:"split,omitempty"`
	// Count is the number of samples; 0 (only when not given) means the
	// whole split for evaluation.
	Count int `yaml:"count,omitempty"`
	// Seed, when given, draws Count samples at random with this seed;
	// otherwise the first Count samples in file order are used.
	Seed *uint64 `yaml:"seed,omitempty"`
	// Batch is the number of samples per forward pass.
	Batch int `yaml:"batch,omitempty"`

	// section names the config section, for error messages; auto records
	// that Count is a default rather than the user's.
	section string
	auto    bool
}

// Calibration is the subset and method that calibrate activation ranges.
type Calibration struct {
	Subset `yaml:",inline"`
	// Method is minmax, percentile or mse.
	Method string `yaml:"method,omitempty"`
	// Percentile is the percentile of |x| kept by method percentile, in
	// (0, 100].
	Percentile float64 `yaml:"percentile,omitempty"`
}

// Sensitivity is the subset and settings of the sensitivity pass.
type Sensitivity struct {
	Subset `yaml:",inline"`
	// Estimator is the Hessian-trace estimator: hutch++ (default; Hutch++
	// on each layer's block) or hutchinson (one shared probe over all
	// layers per product, as HAWQ-v2 and PyHessian do).
	Estimator string `yaml:"estimator,omitempty"`
	// Sketch is the Hutch++ sketch size per layer.
	Sketch int `yaml:"sketch,omitempty"`
	// Tolerance stops the Hutchinson trace estimate when its relative
	// change falls below it.
	Tolerance float64 `yaml:"tolerance,omitempty"`
	// MinSamples and MaxSamples bound the number of Hutchinson probes.
	MinSamples int `yaml:"min_samples,omitempty"`
	MaxSamples int `yaml:"max_samples,omitempty"`
	// EigenIters and EigenTolerance bound the power iteration for the top
	// Hessian eigenvalue.
	EigenIters     int     `yaml:"eigen_iters,omitempty"`
	EigenTolerance float64 `yaml:"eigen_tolerance,omitempty"`
	// Methods lists the sensitivity measures to compute (see Methods).
	Methods []string `yaml:"methods,omitempty,flow"`
}

// Study names the study and its storage.
type Study struct {
	// Name identifies the study inside the storage.
	Name string `yaml:"name,omitempty"`
	// Storage is a DSN: sqlite://relative/or/abs/path.db or
	// postgres://user@host/db (postgresql:// too).
	Storage string `yaml:"storage,omitempty"`
}

// Search is the search space and budget.
type Search struct {
	// WeightBits and ActivationBits are the bitwidths to choose from, each
	// 1–16 or 32.
	WeightBits     []int `yaml:"weight_bits,omitempty,flow"`
	ActivationBits []int `yaml:"activation_bits,omitempty,flow"`
	// Objectives: the first (accuracy, maximised, or loss, minimised) is
	// the quality; the rest (size_bits, bops) are costs, minimised.
	Objectives []string `yaml:"objectives,omitempty,flow"`
	// Constraints bound the accepted plans.
	Constraints Constraints `yaml:"constraints,omitempty"`
	// Trials is the number of plans to evaluate.
	Trials int `yaml:"trials,omitempty"`
	// Seed seeds the samplers.
	Seed uint64 `yaml:"seed,omitempty"`
	// Sampler is auto, tpe, random or exhaustive.
	Sampler string `yaml:"sampler,omitempty"`
	// Workers is the number of trials evaluated at once.
	Workers int `yaml:"workers,omitempty"`
	// Timeout, when positive, stops the search after this long ("2h").
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Layers overrides the choices for single layers, by layer name.
	Layers map[string]Layer `yaml:"layers,omitempty"`
	// WeightQuantizers are the weight quantizers to choose from.
	WeightQuantizers []string `yaml:"weight_quantizers,omitempty,flow"`
}

// Constraints bound the plans a study accepts; a nil field is no bound.
type Constraints struct {
	// MaxAccuracyDrop is the largest accepted drop of accuracy below the
	// float model's, as a fraction (0.02 is two points).
	MaxAccuracyDrop *float64 `yaml:"max_accuracy_drop,omitempty"`
	// MaxSizeBits bounds the total weight size in bits.
	MaxSizeBits *float64 `yaml:"max_size_bits,omitempty"`
	// MaxBops bounds the bit operations of one inference.
	MaxBops *float64 `yaml:"max_bops,omitempty"`
}

// Layer overrides the search choices of one layer; an empty field keeps the
// study-wide choices.
type Layer struct {
	WeightBits       []int    `yaml:"weight_bits,omitempty,flow"`
	ActivationBits   []int    `yaml:"activation_bits,omitempty,flow"`
	WeightQuantizers []string `yaml:"weight_quantizers,omitempty,flow"`
}

// Names accepted by the config.
const (
	ObjectiveAccuracy = "accuracy"
	ObjectiveLoss     = "loss"
	ObjectiveSizeBits = "size_bits"
	ObjectiveBops     = "bops"

	SamplerAuto       = "auto"
	SamplerTPE        = "tpe"
	SamplerRandom     = "random"
	SamplerExhaustive = "exhaustive"

	CalibrationMinMax     = "minmax"
	CalibrationPercentile = "percentile"
	CalibrationMSE        = "mse"

	SensitivityHutchinson   = "hutchinson"   // Hessian trace, HAWQ-v2
	SensitivityEigen        = "eigen"        // top Hessian eigenvalue, HAWQ-v1
	SensitivityFisher       = "fisher"       // empirical Fisher trace
	SensitivityActivation   = "activation"   // activation traces
	SensitivityPerturbation = "perturbation" // measured one layer at a time

	QuantizerUniform       = "uniform"
	QuantizerBinary        = "binary"
	QuantizerTernary       = "ternary"
	QuantizerKMeans        = "kmeans"
	QuantizerKMeansHessian = "kmeans-hessian"
	QuantizerPow2          = "pow2"
)

// Objectives returns the accepted objective names.
func Objectives() []string {
	return []string{ObjectiveAccuracy, ObjectiveLoss, ObjectiveSizeBits, ObjectiveBops}
}

// Samplers returns the accepted sampler names.
func Samplers() []string {
	return []string{SamplerAuto, SamplerTPE, SamplerRandom, SamplerExhaustive}
}

// CalibrationMethods returns the accepted calibration methods.
func CalibrationMethods() []string {
	return []string{CalibrationMinMax, CalibrationPercentile, CalibrationMSE}
}

// SensitivityMethods returns the accepted sensitivity methods.
func SensitivityMethods() []string {
	return []string{SensitivityHutchinson, SensitivityEigen, SensitivityFisher, SensitivityActivation, SensitivityPerturbation}
}

// WeightQuantizers returns the accepted weight quantizers.
func WeightQuantizers() []string {
	return []string{QuantizerUniform, QuantizerBinary, QuantizerTernary, QuantizerKMeans, QuantizerKMeansHessian, QuantizerPow2}
}

// Defaults.
const (
	DefaultBatch            = 256
	DefaultCalibrationCount = 512
	DefaultSensitivityCount = 1024
	DefaultPercentile       = 99.99
	DefaultEstimator        = "hutch++"
	DefaultSketch           = 10
	DefaultTolerance        = 1e-3
	DefaultMinSamples       = 10
	DefaultMaxSamples       = 200
	DefaultEigenIters       = 100
	DefaultEigenTolerance   = 1e-3
	DefaultTrials           = 100
	DefaultWorkers          = 1
)

// Load reads, decodes, completes and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a config strictly, fills in the defaults and validates it;
// path names the file in messages and anchors relative paths (empty: the
// working directory).
//
// Defaults: evaluation.split test, evaluation.count the whole split;
// calibration.split train when data has it, else the evaluation split;
// sensitivity.split the calibration split; counts 512 (calibration) and
// 1024 (sensitivity), clamped to the split's size when not given;
// batch 256; calibration.method minmax, percentile 99.99; sensitivity
// estimator hutch++, sketch 10, tolerance 1e-3, min_samples 10, max_samples 200, eigen_iters 100,
// eigen_tolerance 1e-3, methods [hutchinson, eigen, fisher] (the
// HAWQ table; the eigenvalue and the Fisher trace cost about a tenth of the
// traces); study.name the config file's
// base name, study.storage sqlite://<name>.db; search.weight_bits
// [2, 3, 4, 8], activation_bits [8], objectives [accuracy, size_bits],
// trials 100, sampler auto, workers 1, weight_quantizers [uniform].
func Parse(data []byte, path string) (*Config, error) {
	c, err := decode(data, path)
	if err != nil {
		return nil, err
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// newConfig returns an empty Config anchored at path.
func newConfig(path string) *Config {
	c := &Config{Path: path, lines: map[string]int{}, set: map[string]bool{}}
	abs, err := filepath.Abs(path)
	if err != nil || path == "" {
		abs, _ = filepath.Abs(".")
		abs = filepath.Join(abs, "config")
	}
	c.Dir = filepath.Dir(abs)
	return c
}

// has reports whether the file gave the key a value.
func (c *Config) has(path string) bool { return c.set[path] }

// baseName is the config file's name without folder and extension.
func (c *Config) baseName() string {
	b := filepath.Base(c.Path)
	b = strings.TrimSuffix(b, filepath.Ext(b))
	if c.Path == "" || b == "" || b == "." || b == string(filepath.Separator) {
		return "study"
	}
	return b
}

func (c *Config) applyDefaults() {
	if c.Evaluation.Split == "" {
		c.Evaluation.Split = "test"
	}
	if c.Calibration.Split == "" {
		c.Calibration.Split = c.Evaluation.Split
		if _, ok := c.Data.Splits["train"]; ok {
			c.Calibration.Split = "train"
		}
	}
	if c.Sensitivity.Split == "" {
		c.Sensitivity.Split = c.Calibration.Split
	}
	c.Evaluation.section, c.Calibration.section, c.Sensitivity.section = "evaluation", "calibration", "sensitivity"
	for _, s := range []struct {
		sub   *Subset
		count int
	}{{&c.Evaluation, 0}, {&c.Calibration.Subset, DefaultCalibrationCount}, {&c.Sensitivity.Subset, DefaultSensitivityCount}} {
		if !c.has(s.sub.section + ".count") {
			s.sub.Count, s.sub.auto = s.count, true
		}
		if !c.has(s.sub.section + ".batch") {
			s.sub.Batch = DefaultBatch
		}
	}
	setDefault(&c.Calibration.Method, CalibrationMinMax)
	if !c.has("calibration.percentile") {
		c.Calibration.Percentile = DefaultPercentile
	}
	sens := &c.Sensitivity
	setDefault(&sens.Estimator, DefaultEstimator)
	defaultNumber(c, "sensitivity.sketch", &sens.Sketch, DefaultSketch)
	defaultNumber(c, "sensitivity.tolerance", &sens.Tolerance, DefaultTolerance)
	defaultNumber(c, "sensitivity.min_samples", &sens.MinSamples, DefaultMinSamples)
	defaultNumber(c, "sensitivity.max_samples", &sens.MaxSamples, DefaultMaxSamples)
	defaultNumber(c, "sensitivity.eigen_iters", &sens.EigenIters, DefaultEigenIters)
	defaultNumber(c, "sensitivity.eigen_tolerance", &sens.EigenTolerance, DefaultEigenTolerance)
	if !c.has("sensitivity.methods") {
		sens.Methods = []string{SensitivityHutchinson, SensitivityEigen, SensitivityFisher}
	}
	setDefault(&c.Study.Name, c.baseName())
	setDefault(&c.Study.Storage, "sqlite://"+c.baseName()+".db")
	s := &c.Search
	if !c.has("search.weight_bits") {
		s.WeightBits = []int{2, 3, 4, 8}
	}
	if !c.has("search.activation_bits") {
		s.ActivationBits = []int{8}
	}
	if !c.has("search.objectives") {
		s.Objectives = []string{ObjectiveAccuracy, ObjectiveSizeBits}
	}
	if !c.has("search.weight_quantizers") {
		s.WeightQuantizers = []string{QuantizerUniform}
	}
	defaultNumber(c, "search.trials", &s.Trials, DefaultTrials)
	defaultNumber(c, "search.workers", &s.Workers, DefaultWorkers)
	setDefault(&s.Sampler, SamplerAuto)
	for name, src := range c.Data.Splits {
		src.Split = name
		c.Data.Splits[name] = src
	}
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// defaultNumber sets *p to v unless the file gave the key a value.
func defaultNumber[T int | float64](c *Config, key string, p *T, v T) {
	if !c.has(key) {
		*p = v
	}
}

// Resolve returns p resolved against the config file's folder; absolute
// and empty paths are returned as they are.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Hash returns the hex SHA-256 of the config in canonical form: marshalled
// again with the defaults filled in, so comments, formatting, key order and
// spelled-out defaults do not change it. Stored studies keep this hash, so
// the canonical form must not change: a new field needs omitempty and a
// zero value that means "as before".
func (c *Config) Hash() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		// Every value of these types marshals; failing here is a bug.
		panic(fmt.Sprintf("config: marshalling the config for its hash: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Canonical returns the canonical YAML form of the config that Hash
// fingerprints.
func (c *Config) Canonical() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", c.file(), err)
	}
	return b, nil
}

// LoadSplit loads the named data split, resolving its files against the
// config file's folder. The transform is not applied: it needs the model's
// channel count (see dataset.Dataset.Apply).
func (c *Config) LoadSplit(name string) (*dataset.Dataset, error) {
	src, ok := c.Data.Splits[name]
	if !ok {
		return nil, fmt.Errorf("config: %s: no split %q in data", c.file(), name)
	}
	src.Split = name
	return dataset.Load(src, c.Dir)
}

// Take returns the subset of d that s describes: the first Count samples,
// or Count drawn at random when Seed is set. A Count of 0 takes all of d,
// and a default Count is clamped to d's size.
func (s Subset) Take(d *dataset.Dataset) (*dataset.Dataset, error) {
	n := s.Count
	if n == 0 || (s.auto && n > d.Len()) {
		n = d.Len()
	}
	var (
		sub *dataset.Dataset
		err error
	)
	if s.Seed != nil {
		sub, err = d.Random(n, *s.Seed)
	} else {
		sub, err = d.First(n)
	}
	if err != nil && s.section != "" {
		return nil, fmt.Errorf("config: %s.count: %w", s.section, err)
	}
	return sub, err
}

// Storage is a resolved study storage.
type Storage struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// DSN is, for sqlite, the database file resolved against the config
	// folder (":memory:" as is) followed by the DSN's query, if any; for
	// postgres, the URL as written.
	DSN string
}

// Storage resolves study.storage.
func (c *Config) Storage() (Storage, error) {
	st, msg := parseStorage(c.Study.Storage, c.Dir)
	if msg != "" {
		return Storage{}, fmt.Errorf("%s: study.storage: %s", c.at("study.storage"), msg)
	}
	return st, nil
}

// parseStorage splits a storage DSN; msg says what is wrong with it.
func parseStorage(dsn, dir string) (st Storage, msg string) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return st, fmt.Sprintf("%q has no scheme; use sqlite://%s or postgres://user@host/db", dsn, dsn)
	}
	switch scheme {
	case "sqlite":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return st, fmt.Sprintf("%q names no database file; use sqlite://study.db", dsn)
		}
		if path != ":memory:" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if query != "" {
			path += "?" + query
		}
		return Storage{Driver: "sqlite", DSN: path}, ""
	case "postgres", "postgresql":
		if rest == "" || strings.HasPrefix(rest, "/") && len(rest) == 1 {
			return st, fmt.Sprintf("%q names no server or database; use postgres://user@host:5432/db", dsn)
		}
		return Storage{Driver: "postgres", DSN: dsn}, ""
	}
	return st, fmt.Sprintf("scheme %q is not supported; use sqlite, postgres or postgresql", scheme)
}
