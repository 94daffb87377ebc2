package evaluator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"mpq/internal/engine"
	"mpq/internal/quant"
)

// FloatBits marks a layer (or its input) kept in floating point.
const FloatBits = quant.FloatBits

// LayerSpec is one layer's quantization: weight and input-activation
// bitwidths (32 = float), the weight quantizer and, optionally, the
// activation calibration method.
type LayerSpec struct {
	WeightBits      int          `json:"weight_bits" yaml:"weight_bits"`
	ActivationBits  int          `json:"activation_bits" yaml:"activation_bits"`
	WeightQuantizer quant.Method `json:"weight_quantizer" yaml:"weight_quantizer"`
	Calibration     string       `json:"calibration,omitempty" yaml:"calibration,omitempty"`
}

// Float is the unquantized layer.
var floatSpec = LayerSpec{WeightBits: FloatBits, ActivationBits: FloatBits, WeightQuantizer: quant.Uniform}

// Plan gives every layer of a model its LayerSpec, indexed like Model.Layers.
type Plan []LayerSpec

// FloatPlan returns the plan that quantizes nothing.
func FloatPlan(m *engine.Model) Plan {
	p := make(Plan, len(m.Layers))
	for i := range p {
		p[i] = floatSpec
	}
	return p
}

// UniformPlan returns the plan with every layer at wbits/abits, uniform.
func UniformPlan(m *engine.Model, wbits, abits int) Plan {
	p := make(Plan, len(m.Layers))
	for i := range p {
		p[i] = LayerSpec{WeightBits: wbits, ActivationBits: abits, WeightQuantizer: quant.Uniform}
	}
	return p
}

// Key is a canonical string of the plan, equal for equal plans.
func (p Plan) Key() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, "%s/%d/%d", s.WeightQuantizer, s.WeightBits, s.ActivationBits)
		if s.Calibration != "" {
			b.WriteString("/" + s.Calibration)
		}
	}
	return b.String()
}

// Validate checks every entry's bits and quantizer.
func (p Plan) Validate(m *engine.Model) error {
	if len(p) != len(m.Layers) {
		return fmt.Errorf("plan: %d entries for a model with %d layers", len(p), len(m.Layers))
	}
	for i, s := range p {
		if err := s.validate(); err != nil {
			return fmt.Errorf("plan: layer %q: %w", m.Layers[i].Name, err)
		}
	}
	return nil
}

func validBits(b int) bool { return (b >= 1 && b <= quant.MaxBits) || b == FloatBits }

func (s LayerSpec) validate() error {
	if !validBits(s.WeightBits) {
		return fmt.Errorf("weight_bits %d: want 1–16, or 32 for float", s.WeightBits)
	}
	if !validBits(s.ActivationBits) {
		return fmt.Errorf("activation_bits %d: want 1–16, or 32 for float", s.ActivationBits)
	}
	if _, err := quant.ParseMethod(string(s.WeightQuantizer)); err != nil {
		return err
	}
	if s.Calibration != "" && !slices.Contains(CalibrationMethods(), s.Calibration) {
		return fmt.Errorf("calibration %q: want one of %s", s.Calibration, strings.Join(CalibrationMethods(), ", "))
	}
	return nil
}

// specEntry is a plan-file entry; absent fields inherit from default.
type specEntry struct {
	WeightBits      *int    `yaml:"weight_bits"`
	ActivationBits  *int    `yaml:"activation_bits"`
	WeightQuantizer *string `yaml:"weight_quantizer"`
	Calibration     *string `yaml:"calibration"`
}

// planDoc is a plan file: a single plan (default + layers), or an exported
// plans file (study, objectives, plans) from which one trial is picked.
type planDoc struct {
	Default    *specEntry           `yaml:"default"`
	Layers     map[string]specEntry `yaml:"layers"`
	Study      string               `yaml:"study"`
	Objectives []string             `yaml:"objectives"`
	Plans      []exportedPlan       `yaml:"plans"`
}

type exportedPlan struct {
	Trial      int                  `yaml:"trial"`
	Provenance string               `yaml:"provenance"`
	Accuracy   float64              `yaml:"accuracy"`
	Loss       float64              `yaml:"loss"`
	SizeBits   int64                `yaml:"size_bits"`
	BOPs       int64                `yaml:"bops"`
	Layers     map[string]specEntry `yaml:"layers"`
}

// ErrPlan marks a plan file that cannot be used.
var ErrPlan = errors.New("invalid plan")

// planError is a plan file's YAML problems, one per line, each as
// "file:line: invalid plan: what".
type planError struct{ msg string }

func (e *planError) Error() string { return e.msg }
func (e *planError) Unwrap() error { return ErrPlan }

var (
	lineRE      = regexp.MustCompile(`^line (\d+): `)
	fieldRE     = regexp.MustCompile(`^field (\S+) not found in type evaluator\.(\w+)$`)
	unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+) (?:`([^`]*)` )?into (\\S+)$")
	definedRE   = regexp.MustCompile(`^(mapping key ".*" already defined at) line (\d+)$`)
)

// planKeys says which keys each part of a plan file takes.
var planKeys = map[string]string{
	"planDoc":      "a plan file has default and layers (a plans file from `mpq export` has study, objectives and plans)",
	"specEntry":    "a layer takes weight_bits, activation_bits, weight_quantizer and calibration",
	"exportedPlan": "an exported plan has trial, provenance, accuracy, loss, size_bits, bops and layers",
}

// planYAMLError rewrites yaml.v3's decoding errors in the plan file's terms
// rather than Go's.
func planYAMLError(name string, err error) error {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for i, l := range lines {
		where := name
		if m := lineRE.FindStringSubmatch(l); m != nil {
			where, l = name+":"+m[1], l[len(m[0]):]
		}
		switch m := fieldRE.FindStringSubmatch(l); {
		case m != nil:
			l = fmt.Sprintf("unknown key %q; %s", m[1], planKeys[m[2]])
		case unmarshalRE.MatchString(l):
			m := unmarshalRE.FindStringSubmatch(l)
			got := map[string]string{"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
				"seq": "a list", "map": "a mapping", "null": "nothing"}[m[1]]
			if m[2] != "" {
				got = fmt.Sprintf("%s (%s)", got, m[2])
			}
			l = fmt.Sprintf("expected %s, got %s", yamlKind(m[3]), got)
		case definedRE.MatchString(l):
			l = definedRE.ReplaceAllString(l, "$1 line $2; keep one")
		}
		lines[i] = fmt.Sprintf("%s: %v: %s", where, ErrPlan, l)
	}
	return &planError{strings.Join(lines, "\n")}
}

// yamlKind names what a Go type expects in YAML terms.
func yamlKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map[") || strings.HasPrefix(goType, "evaluator."):
		return "a mapping"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "string"):
		return "a string"
	}
	return goType
}

// LoadPlan reads a plan file (YAML or JSON) for model m. For a plans file
// exported by `mpq export`, trial picks the plan (-1: the file must hold
// exactly one). Layers are named by node name or weight initializer name;
// layers the file does not name get its default entry, or stay float.
func LoadPlan(path string, m *engine.Model, trial int) (Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w (check the --plan path)", path, err)
	}
	return ParsePlan(data, path, m, trial)
}

// ParsePlan is LoadPlan on bytes; name prefixes errors.
func ParsePlan(data []byte, name string, m *engine.Model, trial int) (Plan, error) {
	var doc planDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: the file is empty", name, ErrPlan)
		}
		return nil, planYAMLError(name, err)
	}
	layers, def := doc.Layers, doc.Default
	if doc.Plans != nil || doc.Study != "" {
		if doc.Layers != nil || doc.Default != nil {
			return nil, fmt.Errorf("%s: %w: the file mixes a plans list with top-level layers", name, ErrPlan)
		}
		var picked *exportedPlan
		switch {
		case trial < 0 && len(doc.Plans) == 1:
			picked = &doc.Plans[0]
		case trial < 0:
			nums := make([]string, len(doc.Plans))
			for i, p := range doc.Plans {
				nums[i] = fmt.Sprint(p.Trial)
			}
			return nil, fmt.Errorf("%s: %w: the file holds %d plans (trials %s); pick one with --trial N", name, ErrPlan, len(doc.Plans), strings.Join(nums, ", "))
		default:
			for i := range doc.Plans {
				if doc.Plans[i].Trial == trial {
					picked = &doc.Plans[i]
				}
			}
			if picked == nil {
				return nil, fmt.Errorf("%s: %w: no plan for trial %d in the file", name, ErrPlan, trial)
			}
		}
		layers = picked.Layers
	} else if trial >= 0 {
		return nil, fmt.Errorf("%s: %w: --trial %d given, but the file is a single plan, not an exported plans file", name, ErrPlan, trial)
	}
	base := floatSpec
	if def != nil {
		var err error
		if base, err = def.apply(floatSpec); err != nil {
			return nil, fmt.Errorf("%s: %w: default: %v", name, ErrPlan, err)
		}
	}
	p := make(Plan, len(m.Layers))
	for i := range p {
		p[i] = base
	}
	seen := map[int]string{}
	names := make([]string, 0, len(layers))
	for k := range layers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		i, ok := m.Layer(k)
		if !ok {
			return nil, fmt.Errorf("%s: %w: layer %q is not a quantizable layer of the model (its layers: %s; see `mpq inspect`)", name, ErrPlan, k, strings.Join(m.LayerNames(), ", "))
		}
		if prev, dup := seen[i]; dup {
			return nil, fmt.Errorf("%s: %w: layers %q and %q name the same layer", name, ErrPlan, prev, k)
		}
		seen[i] = k
		s, err := layers[k].apply(base)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: layer %q: %v", name, ErrPlan, k, err)
		}
		p[i] = s
	}
	return p, nil
}

func (e specEntry) apply(base LayerSpec) (LayerSpec, error) {
	s := base
	if e.WeightBits != nil {
		s.WeightBits = *e.WeightBits
	}
	if e.ActivationBits != nil {
		s.ActivationBits = *e.ActivationBits
	}
	if e.WeightQuantizer != nil {
		m, err := quant.ParseMethod(*e.WeightQuantizer)
		if err != nil {
			return s, err
		}
		s.WeightQuantizer = m
	}
	if e.Calibration != nil {
		s.Calibration = *e.Calibration
	}
	return s, s.validate()
}
