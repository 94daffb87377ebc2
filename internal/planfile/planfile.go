package planfile

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Set is a plans file: the plans of one study.
type Set struct {
	Study      string   `json:"study" yaml:"study"`
	Objectives []string `json:"objectives" yaml:"objectives,flow"`
	Plans      []Plan   `json:"plans" yaml:"plans"`
	// Model lists the model's quantizable layers in order, with the weight
	// quantizers the study could choose for each. It is not written to YAML
	// or JSON; the CSV writer takes its columns from it (when it is empty,
	// from the plans).
	Model []LayerInfo `json:"-" yaml:"-"`
}

// LayerInfo is one quantizable layer of the model.
type LayerInfo struct {
	Name       string
	Quantizers []string // the weight quantizers the search space offers
}

// Plan is one trial's plan with what the study measured for it.
type Plan struct {
	Trial      int     `json:"trial" yaml:"trial"`
	Provenance string  `json:"provenance" yaml:"provenance"`
	Accuracy   float64 `json:"accuracy" yaml:"accuracy"`
	Loss       float64 `json:"loss" yaml:"loss"`
	SizeBits   int64   `json:"size_bits" yaml:"size_bits"`
	BOPs       int64   `json:"bops" yaml:"bops"`
	Layers     Layers  `json:"layers" yaml:"layers"`
}

// Layer is one layer's entry of a plan.
type Layer struct {
	Name            string
	WeightBits      int
	ActivationBits  int
	WeightQuantizer string
}

// Layers is a plan's layers in model order. It is written as a mapping from
// layer name to {weight_bits, activation_bits, weight_quantizer}, keeping the
// order.
type Layers []Layer

// Lookup returns the entry of the named layer.
func (ls Layers) Lookup(name string) (Layer, bool) {
	for _, l := range ls {
		if l.Name == name {
			return l, true
		}
	}
	return Layer{}, false
}

// spec is a layer entry as written.
type spec struct {
	WeightBits      int    `json:"weight_bits" yaml:"weight_bits"`
	ActivationBits  int    `json:"activation_bits" yaml:"activation_bits"`
	WeightQuantizer string `json:"weight_quantizer" yaml:"weight_quantizer"`
}

func (l Layer) spec() spec {
	return spec{WeightBits: l.WeightBits, ActivationBits: l.ActivationBits, WeightQuantizer: l.WeightQuantizer}
}

// MarshalJSON writes the layers as an object in order.
func (ls Layers) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(l.Name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(l.spec())
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object of layer entries, keeping their order.
func (ls *Layers) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("planfile: layers: want an object of layer name → {weight_bits, activation_bits, weight_quantizer}")
	}
	out := Layers{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var s spec
		if err := dec.Decode(&s); err != nil {
			return fmt.Errorf("planfile: layer %q: %w", name, err)
		}
		if _, dup := out.Lookup(name); dup {
			return fmt.Errorf("planfile: layer %q is listed twice", name)
		}
		out = append(out, Layer{Name: name, WeightBits: s.WeightBits, ActivationBits: s.ActivationBits, WeightQuantizer: s.WeightQuantizer})
	}
	*ls = out
	return nil
}

// MarshalYAML writes the layers as a mapping in order, each entry on one
// line in flow style.
func (ls Layers) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, l := range ls {
		var v yaml.Node
		if err := v.Encode(l.spec()); err != nil {
			return nil, err
		}
		v.Style = yaml.FlowStyle
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: l.Name}, &v)
	}
	return n, nil
}

// UnmarshalYAML reads a mapping of layer entries, keeping their order.
func (ls *Layers) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("planfile: line %d: layers: want a mapping of layer name → {weight_bits, activation_bits, weight_quantizer}", n.Line)
	}
	out := Layers{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		var s spec
		if err := n.Content[i+1].Decode(&s); err != nil {
			return fmt.Errorf("planfile: layer %q: %w", name, err)
		}
		if _, dup := out.Lookup(name); dup {
			return fmt.Errorf("planfile: line %d: layer %q is listed twice", n.Content[i].Line, name)
		}
		out = append(out, Layer{Name: name, WeightBits: s.WeightBits, ActivationBits: s.ActivationBits, WeightQuantizer: s.WeightQuantizer})
	}
	*ls = out
	return nil
}

// The formats Write accepts.
const (
	YAML = "yaml"
	JSON = "json"
	CSV  = "csv"
)

// Formats lists the formats Write accepts.
func Formats() []string { return []string{YAML, JSON, CSV} }

// FormatOf returns the format a file name's extension names (.yaml, .yml,
// .json, .csv); false for any other extension.
func FormatOf(path string) (string, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return YAML, true
	case ".json":
		return JSON, true
	case ".csv":
		return CSV, true
	}
	return "", false
}

// Write writes s to w in format (YAML, JSON or CSV).
func Write(w io.Writer, s *Set, format string) error {
	for _, p := range s.Plans {
		for _, v := range []struct {
			name string
			x    float64
		}{{"accuracy", p.Accuracy}, {"loss", p.Loss}} {
			if math.IsNaN(v.x) || math.IsInf(v.x, 0) {
				return fmt.Errorf("planfile: trial %d: %s %v is not a finite number and cannot be written", p.Trial, v.name, v.x)
			}
		}
	}
	var err error
	switch format {
	case YAML:
		err = writeYAML(w, s)
	case JSON:
		err = writeJSON(w, s)
	case CSV:
		err = writeCSV(w, s)
	default:
		return fmt.Errorf("planfile: format %q: use one of %s", format, strings.Join(Formats(), ", "))
	}
	if err != nil {
		return fmt.Errorf("planfile: writing %s: %w", format, err)
	}
	return nil
}

func writeYAML(w io.Writer, s *Set) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return err
	}
	return enc.Close()
}

func writeJSON(w io.Writer, s *Set) error {
	out := *s
	if out.Objectives == nil {
		out.Objectives = []string{}
	}
	if out.Plans == nil {
		out.Plans = []Plan{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// column is one per-layer CSV column.
type column struct {
	layer string
	kind  byte // 'w', 'a' or 'q'
}

// csvColumns returns the per-layer columns: weight and activation bits for
// every layer, and the weight quantizer where the study could choose one
// other than uniform (or, without Model, where a plan uses one).
func csvColumns(s *Set) []column {
	type info struct {
		name      string
		quantizer bool
	}
	var layers []info
	if len(s.Model) > 0 {
		for _, l := range s.Model {
			q := len(l.Quantizers) > 1 || len(l.Quantizers) == 1 && l.Quantizers[0] != "uniform"
			layers = append(layers, info{l.Name, q})
		}
	} else {
		idx := map[string]int{}
		for _, p := range s.Plans {
			for _, l := range p.Layers {
				i, ok := idx[l.Name]
				if !ok {
					i = len(layers)
					idx[l.Name] = i
					layers = append(layers, info{name: l.Name})
				}
				if l.WeightQuantizer != "" && l.WeightQuantizer != "uniform" {
					layers[i].quantizer = true
				}
			}
		}
	}
	var cols []column
	for _, l := range layers {
		cols = append(cols, column{l.name, 'w'}, column{l.name, 'a'})
		if l.quantizer {
			cols = append(cols, column{l.name, 'q'})
		}
	}
	return cols
}

func writeCSV(w io.Writer, s *Set) error {
	cols := csvColumns(s)
	header := []string{"trial", "provenance", "accuracy", "loss", "size_bits", "bops"}
	suffix := map[byte]string{'w': ".weight_bits", 'a': ".activation_bits", 'q': ".weight_quantizer"}
	for _, c := range cols {
		header = append(header, c.layer+suffix[c.kind])
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, p := range s.Plans {
		row := []string{strconv.Itoa(p.Trial), p.Provenance, formatFloat(p.Accuracy), formatFloat(p.Loss),
			strconv.FormatInt(p.SizeBits, 10), strconv.FormatInt(p.BOPs, 10)}
		for _, c := range cols {
			l, ok := p.Layers.Lookup(c.layer)
			switch {
			case !ok:
				row = append(row, "")
			case c.kind == 'w':
				row = append(row, strconv.Itoa(l.WeightBits))
			case c.kind == 'a':
				row = append(row, strconv.Itoa(l.ActivationBits))
			default:
				row = append(row, l.WeightQuantizer)
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// formatFloat is the shortest decimal that parses back to x exactly.
func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
