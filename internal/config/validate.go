package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"

	"mpq/internal/dataset"
)

// Validate checks every value, and that the model and data files exist. It
// reports all problems at once as an *Error, each with the file, the line
// where the file has one, and the key path. It expects the defaults that
// Parse fills in: on a Config built in code, set counts, batches, methods
// and the search settings first.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.model()
	v.data()
	v.subset(&c.Evaluation, "evaluation")
	v.subset(&c.Calibration.Subset, "calibration")
	v.subset(&c.Sensitivity.Subset, "sensitivity")
	v.calibration()
	v.sensitivity()
	v.study()
	v.search()
	return v.ps.err()
}

type validator struct {
	c  *Config
	ps problems
}

// add records a problem with the value at key path.
func (v *validator) add(path, format string, args ...any) {
	line := v.c.line(path)
	where := v.c.file()
	if line > 0 {
		where = fmt.Sprintf("%s:%d", where, line)
	}
	v.ps = append(v.ps, problem{line, fmt.Sprintf("%s: %s: %s", where, path, fmt.Sprintf(format, args...))})
}

// file checks that the file named at key path exists.
func (v *validator) file(path, p string) {
	resolved := v.c.Resolve(p)
	st, err := os.Stat(resolved)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.add(path, "file %s does not exist; check the path; relative paths are resolved against the config file's folder (%s)", resolved, v.c.Dir)
	case err != nil:
		v.add(path, "%v", err)
	case st.IsDir():
		v.add(path, "%s is a folder, not a file", resolved)
	}
}

func (v *validator) model() {
	if v.c.Model == "" {
		v.add("model", "missing; give the path of the ONNX model file")
		return
	}
	v.file("model", v.c.Model)
}

func (v *validator) data() {
	d := v.c.Data
	if len(d.Splits) == 0 {
		v.add("data", "no data splits; add one such as test: {format: idx, images: t10k-images-idx3-ubyte.gz, labels: t10k-labels-idx1-ubyte.gz}")
	}
	for _, name := range slices.Sorted(maps.Keys(d.Splits)) {
		src := d.Splits[name]
		src.Split = name
		path := "data." + name
		if err := src.Validate(); err != nil {
			var se *dataset.SourceError
			if errors.As(err, &se) {
				v.add(path+"."+se.Key, "%s", se.Msg)
			} else {
				v.add(path, "%v", err)
			}
			continue
		}
		for _, f := range src.Files() {
			v.file(path+"."+f[0], f[1])
		}
	}
	t := d.Transform
	if math.IsNaN(t.Scale) || math.IsInf(t.Scale, 0) || t.Scale < 0 {
		v.add("data.transform.scale", "%v; it must be a positive number (1/255 = 0.00392156862745098 maps bytes to [0, 1])", t.Scale)
	}
	for i, m := range t.Mean {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			v.add(fmt.Sprintf("data.transform.mean[%d]", i), "%v; a mean must be a finite number", m)
		}
	}
	for i, s := range t.Std {
		if math.IsNaN(s) || math.IsInf(s, 0) || s <= 0 {
			v.add(fmt.Sprintf("data.transform.std[%d]", i), "%v; a standard deviation must be a positive number", s)
		}
	}
	if len(t.Mean) > 1 && len(t.Std) > 1 && len(t.Mean) != len(t.Std) {
		v.add("data.transform", "mean has %d values but std has %d; give one value per channel (or one for all) to each", len(t.Mean), len(t.Std))
	}
}

func (v *validator) subset(s *Subset, section string) {
	c := v.c
	// A default split of calibration or sensitivity is another section's
	// split, checked there.
	_, ok := c.Data.Splits[s.Split]
	if !ok && len(c.Data.Splits) > 0 && (section == "evaluation" || c.has(section+".split")) {
		have := strings.Join(slices.Sorted(maps.Keys(c.Data.Splits)), ", ")
		if c.has(section + ".split") {
			v.add(section+".split", "split %q is not in data (it has: %s); name one of them or add it to data", s.Split, have)
		} else {
			v.add(section+".split", "not given, and the default split %q is not in data (it has: %s); set %s.split", s.Split, have, section)
		}
	}
	if s.Count < 0 || (s.Count == 0 && (c.has(section+".count") || section != "evaluation")) {
		v.add(section+".count", "%d; a count must be at least 1", s.Count)
	}
	if s.Batch < 1 {
		v.add(section+".batch", "%d; a batch must hold at least 1 sample", s.Batch)
	}
}

func (v *validator) calibration() {
	cal := v.c.Calibration
	v.oneOf("calibration.method", cal.Method, CalibrationMethods())
	if p := cal.Percentile; math.IsNaN(p) || p <= 0 || p > 100 {
		v.add("calibration.percentile", "%v; a percentile must be in (0, 100], such as 99.99", p)
	}
}

func (v *validator) sensitivity() {
	s := v.c.Sensitivity
	v.oneOf("sensitivity.estimator", s.Estimator, []string{"hutch++", "hutchinson"})
	v.atLeast1("sensitivity.sketch", s.Sketch)
	v.positive("sensitivity.tolerance", s.Tolerance)
	v.positive("sensitivity.eigen_tolerance", s.EigenTolerance)
	v.atLeast1("sensitivity.min_samples", s.MinSamples)
	v.atLeast1("sensitivity.eigen_iters", s.EigenIters)
	if s.MaxSamples < max(s.MinSamples, 1) {
		v.add("sensitivity.max_samples", "%d; it must be at least 1 and at least min_samples (%d)", s.MaxSamples, s.MinSamples)
	}
	v.names("sensitivity.methods", s.Methods, SensitivityMethods())
}

func (v *validator) study() {
	if v.c.Study.Name == "" {
		v.add("study.name", "empty; name the study")
	}
	if _, msg := parseStorage(v.c.Study.Storage, v.c.Dir); msg != "" {
		v.add("study.storage", "%s", msg)
	}
}

func (v *validator) search() {
	s := v.c.Search
	v.bits("search.weight_bits", s.WeightBits)
	v.bits("search.activation_bits", s.ActivationBits)
	v.objectives(s.Objectives)
	v.constraints(s.Constraints)
	v.atLeast1("search.trials", s.Trials)
	v.atLeast1("search.workers", s.Workers)
	v.oneOf("search.sampler", s.Sampler, Samplers())
	if s.Timeout < 0 {
		v.add("search.timeout", "%v; a timeout must not be negative (leave it out for none)", s.Timeout)
	}
	v.names("search.weight_quantizers", s.WeightQuantizers, WeightQuantizers())
	for _, name := range slices.Sorted(maps.Keys(s.Layers)) {
		l, path := s.Layers[name], "search.layers."+name
		if name == "" {
			v.add(path, "a layer name is empty")
		}
		if l.WeightBits == nil && l.ActivationBits == nil && l.WeightQuantizers == nil && !v.c.has(path+".weight_bits") &&
			!v.c.has(path+".activation_bits") && !v.c.has(path+".weight_quantizers") {
			v.add(path, "overrides nothing; give weight_bits, activation_bits or weight_quantizers")
		}
		if l.WeightBits != nil || v.c.has(path+".weight_bits") {
			v.bits(path+".weight_bits", l.WeightBits)
		}
		if l.ActivationBits != nil || v.c.has(path+".activation_bits") {
			v.bits(path+".activation_bits", l.ActivationBits)
		}
		if l.WeightQuantizers != nil || v.c.has(path+".weight_quantizers") {
			v.names(path+".weight_quantizers", l.WeightQuantizers, WeightQuantizers())
		}
	}
}

// bits checks a set of bitwidths: non-empty, each 1–16 or 32, no repeats.
func (v *validator) bits(path string, bits []int) {
	if len(bits) == 0 {
		v.add(path, "empty; list at least one bitwidth, such as [4, 8]")
	}
	for i, b := range bits {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case (b < 1 || b > 16) && b != 32:
			v.add(p, "%d is not a supported bitwidth; use 1 to 16, or 32 for float", b)
		case slices.Contains(bits[:i], b):
			v.add(p, "%d is listed twice", b)
		}
	}
}

func (v *validator) objectives(objs []string) {
	const path = "search.objectives"
	if len(objs) == 0 {
		v.add(path, "empty; use [accuracy, size_bits]")
	}
	for i, o := range objs {
		p := fmt.Sprintf("%s[%d]", path, i)
		quality := o == ObjectiveAccuracy || o == ObjectiveLoss
		switch {
		case !slices.Contains(Objectives(), o):
			v.add(p, "%q is not an objective; use %s", o, strings.Join(Objectives(), ", "))
		case slices.Contains(objs[:i], o):
			v.add(p, "%q is listed twice", o)
		case i == 0 && !quality:
			v.add(p, "%q cannot come first; the first objective is the quality, accuracy or loss, and the rest are costs", o)
		case i > 0 && quality:
			v.add(p, "%q can only be the first objective; the rest are costs (size_bits, bops)", o)
		}
	}
}

func (v *validator) constraints(c Constraints) {
	if p := c.MaxAccuracyDrop; p != nil && (math.IsNaN(*p) || *p < 0 || *p > 1) {
		v.add("search.constraints.max_accuracy_drop", "%v; it is a fraction of accuracy in [0, 1] (0.02 is two points)", *p)
	}
	if p := c.MaxSizeBits; p != nil {
		v.positive("search.constraints.max_size_bits", *p)
	}
	if p := c.MaxBops; p != nil {
		v.positive("search.constraints.max_bops", *p)
	}
}

// names checks a non-empty list of distinct names from valid.
func (v *validator) names(path string, names, valid []string) {
	if len(names) == 0 {
		v.add(path, "empty; list at least one of %s", strings.Join(valid, ", "))
	}
	for i, n := range names {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !slices.Contains(valid, n):
			v.add(p, "%q is not one of %s", n, strings.Join(valid, ", "))
		case slices.Contains(names[:i], n):
			v.add(p, "%q is listed twice", n)
		}
	}
}

func (v *validator) oneOf(path, value string, valid []string) {
	if !slices.Contains(valid, value) {
		v.add(path, "%q is not one of %s", value, strings.Join(valid, ", "))
	}
}

func (v *validator) positive(path string, x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
		v.add(path, "%v; it must be a positive number", x)
	}
}

func (v *validator) atLeast1(path string, n int) {
	if n < 1 {
		v.add(path, "%d; it must be at least 1", n)
	}
}
