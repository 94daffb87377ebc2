package search

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/c-bata/goptuna"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/engine"
	"mpq/internal/quant"
)

// LayerChoices are the options one layer may take.
type LayerChoices struct {
	Name           string
	WeightBits     []int
	ActivationBits []int
	Quantizers     []quant.Method
}

// Space is the search space: per layer, the weight bitwidths, input
// activation bitwidths and weight quantizers the search may choose. Each
// layer dimension with more than one choice is one goptuna categorical
// parameter named "w/<layer>", "a/<layer>" or "q/<layer>".
type Space struct {
	Layers []LayerChoices
	params []param
}

type param struct {
	name  string
	layer int
	kind  byte // 'w', 'a' or 'q'
	n     int  // number of choices
}

// NewSpace builds the space of cfg's search section over m's layers.
// Per-layer overrides may name a layer by node or weight initializer name.
func NewSpace(m *engine.Model, s config.Search) (*Space, error) {
	sp := &Space{Layers: make([]LayerChoices, len(m.Layers))}
	qs, err := parseQuantizers(s.WeightQuantizers, "search.weight_quantizers")
	if err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		sp.Layers[i] = LayerChoices{Name: l.Name, WeightBits: uniqueSorted(s.WeightBits), ActivationBits: uniqueSorted(s.ActivationBits), Quantizers: qs}
	}
	for name, o := range s.Layers {
		i, ok := m.Layer(name)
		if !ok {
			return nil, fmt.Errorf("search.layers: %q is not a quantizable layer of the model (its layers: %s; see `mpq inspect`)", name, strings.Join(m.LayerNames(), ", "))
		}
		if len(o.WeightBits) > 0 {
			sp.Layers[i].WeightBits = uniqueSorted(o.WeightBits)
		}
		if len(o.ActivationBits) > 0 {
			sp.Layers[i].ActivationBits = uniqueSorted(o.ActivationBits)
		}
		if len(o.WeightQuantizers) > 0 {
			if sp.Layers[i].Quantizers, err = parseQuantizers(o.WeightQuantizers, "search.layers."+name+".weight_quantizers"); err != nil {
				return nil, err
			}
		}
	}
	for i, l := range sp.Layers {
		if len(l.WeightBits) == 0 || len(l.ActivationBits) == 0 || len(l.Quantizers) == 0 {
			return nil, fmt.Errorf("search: layer %q has an empty set of choices", l.Name)
		}
		if n := len(l.WeightBits); n > 1 {
			sp.params = append(sp.params, param{"w/" + l.Name, i, 'w', n})
		}
		if n := len(l.ActivationBits); n > 1 {
			sp.params = append(sp.params, param{"a/" + l.Name, i, 'a', n})
		}
		if n := len(l.Quantizers); n > 1 {
			sp.params = append(sp.params, param{"q/" + l.Name, i, 'q', n})
		}
	}
	return sp, nil
}

func parseQuantizers(names []string, key string) ([]quant.Method, error) {
	if len(names) == 0 {
		return []quant.Method{quant.Uniform}, nil
	}
	var out []quant.Method
	for _, n := range names {
		m, err := quant.ParseMethod(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

func uniqueSorted(v []int) []int {
	out := slices.Clone(v)
	slices.Sort(out)
	return slices.Compact(out)
}

// NumParams is the number of searched dimensions.
func (sp *Space) NumParams() int { return len(sp.params) }

// Size is the number of distinct plans in the space (as a float: it can be huge).
func (sp *Space) Size() float64 {
	s := 1.0
	for _, p := range sp.params {
		s *= float64(p.n)
	}
	return s
}

func (sp *Space) choices(p param) []string {
	l := sp.Layers[p.layer]
	var out []string
	switch p.kind {
	case 'w':
		for _, b := range l.WeightBits {
			out = append(out, strconv.Itoa(b))
		}
	case 'a':
		for _, b := range l.ActivationBits {
			out = append(out, strconv.Itoa(b))
		}
	default:
		for _, q := range l.Quantizers {
			out = append(out, string(q))
		}
	}
	return out
}

// Distributions is the goptuna search space.
func (sp *Space) Distributions() map[string]interface{} {
	d := make(map[string]interface{}, len(sp.params))
	for _, p := range sp.params {
		d[p.name] = goptuna.CategoricalDistribution{Choices: sp.choices(p)}
	}
	return d
}

// Point is a plan as one choice index per parameter.
type Point []int

// Plan turns a point into a bitwidth plan.
func (sp *Space) Plan(pt Point) evaluator.Plan {
	plan := make(evaluator.Plan, len(sp.Layers))
	for i, l := range sp.Layers {
		plan[i] = evaluator.LayerSpec{WeightBits: l.WeightBits[0], ActivationBits: l.ActivationBits[0], WeightQuantizer: l.Quantizers[0]}
	}
	for j, p := range sp.params {
		l := sp.Layers[p.layer]
		switch p.kind {
		case 'w':
			plan[p.layer].WeightBits = l.WeightBits[pt[j]]
		case 'a':
			plan[p.layer].ActivationBits = l.ActivationBits[pt[j]]
		default:
			plan[p.layer].WeightQuantizer = l.Quantizers[pt[j]]
		}
	}
	return plan
}

// PointOf is the inverse of Plan; ok is false when the plan is not in the space.
func (sp *Space) PointOf(plan evaluator.Plan) (Point, bool) {
	pt := make(Point, len(sp.params))
	for j, p := range sp.params {
		l, s := sp.Layers[p.layer], plan[p.layer]
		var i int
		switch p.kind {
		case 'w':
			i = slices.Index(l.WeightBits, s.WeightBits)
		case 'a':
			i = slices.Index(l.ActivationBits, s.ActivationBits)
		default:
			i = slices.Index(l.Quantizers, s.WeightQuantizer)
		}
		if i < 0 {
			return nil, false
		}
		pt[j] = i
	}
	return pt, true
}

// Internal converts a point to goptuna's internal representation (choice
// indices), as EnqueueTrial and relative samplers use.
func (sp *Space) Internal(pt Point) map[string]float64 {
	m := make(map[string]float64, len(pt))
	for j, p := range sp.params {
		m[p.name] = float64(pt[j])
	}
	return m
}

// FromInternal reads a point from a trial's internal parameters; ok is false
// when one is missing or out of range.
func (sp *Space) FromInternal(params map[string]float64) (Point, bool) {
	pt := make(Point, len(sp.params))
	for j, p := range sp.params {
		v, ok := params[p.name]
		if !ok || v < 0 || int(v) >= p.n {
			return nil, false
		}
		pt[j] = int(v)
	}
	return pt, true
}

// Key is a canonical string of a point.
func (pt Point) Key() string {
	var b strings.Builder
	for i, v := range pt {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}

// Enumerate returns the i-th point in mixed-radix order (the last parameter
// varies fastest).
func (sp *Space) Enumerate(i int) Point {
	pt := make(Point, len(sp.params))
	for j := len(sp.params) - 1; j >= 0; j-- {
		pt[j] = i % sp.params[j].n
		i /= sp.params[j].n
	}
	return pt
}

// suggest asks the trial for every parameter and returns the point.
func (sp *Space) suggest(t goptuna.Trial) (Point, error) {
	pt := make(Point, len(sp.params))
	for j, p := range sp.params {
		choices := sp.choices(p)
		v, err := t.SuggestCategorical(p.name, choices)
		if err != nil {
			return nil, err
		}
		pt[j] = slices.Index(choices, v)
	}
	return pt, nil
}
