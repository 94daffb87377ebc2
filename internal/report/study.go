package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"mpq/internal/planfile"
	"mpq/sensitivity"
)

// Study is the data of a study report (`mpq report`): everything its charts
// and its HTML page show, as plain values. search.StudyReport builds it.
type Study struct {
	Name        string
	Storage     string   // where the study is stored (password hidden)
	Objectives  []string // in study order; the first is the quality
	Constraints []string // the study's constraints, for people to read
	Evaluation  string   // the evaluation subset, for people to read
	Version     string   // the mpq version that wrote the report

	// Trials by state, as goptuna counts them.
	Complete, Pruned, Failed, Running, Waiting int

	// Baseline is the fp32 model; nil when the study has not measured it.
	Baseline *Baseline
	// MinAccuracy is the accuracy the constraints require (the baseline's
	// minus max_accuracy_drop); nil without such a constraint.
	MinAccuracy *float64

	// Layers are the model's quantizable layers, in order.
	Layers []string
	// Trials are the finished trials that have a result, by trial number.
	Trials []Trial
	// Front is the Pareto front over the study's objectives (accepted
	// plans only), sorted by size.
	Front []planfile.Plan

	// Sensitivity is the study's stored sensitivity table; nil if none.
	Sensitivity *sensitivity.Table

	// Hypervolume is the hypervolume of the accepted results after each
	// finished trial, against HVReference (the objective vector the search
	// uses, accuracy negated). HVBox is the volume of the box between
	// HVReference and the ideal point (accuracy 1, loss and costs 0), to
	// express the hypervolume as a fraction of it. HVNote explains a
	// reference point that differs from the search's.
	Hypervolume []HVPoint
	HVReference []float64
	HVBox       float64
	HVNote      string
}

// Baseline is the fp32 model's measurements and cost.
type Baseline struct {
	Accuracy float64
	Loss     float64
	SizeBits int64
	BOPs     int64
}

// Trial is one finished trial's result.
type Trial struct {
	Number     int
	Provenance string // "seed", "sampler", "enqueued-retry", ...
	Accuracy   float64
	Loss       float64
	SizeBits   float64
	BOPs       float64
	Samples    int
	// Pruned trials stopped early: Accuracy is over Samples only.
	Pruned bool
	// Feasible is false for a completed trial that violates the study's
	// constraints.
	Feasible bool
}

// HVPoint is the hypervolume after a trial.
type HVPoint struct {
	Trial int
	Value float64
}

// Provenances with their own marker; others are drawn as sampler trials.
const (
	provSeed    = "seed"
	provSampler = "sampler"
	provRetry   = "enqueued-retry"
)

// kib is the size in KiB of a size in bits.
func kib(bits float64) float64 { return bits / 8 / 1024 }

// opsScale returns the divisor and unit prefix that keep operation counts up
// to max readable.
func opsScale(max float64) (float64, string) {
	switch {
	case max >= 1e10:
		return 1e9, "G"
	case max >= 1e7:
		return 1e6, "M"
	case max >= 1e4:
		return 1e3, "k"
	}
	return 1, ""
}

// TradeoffChart returns the accuracy-versus-cost scatter of every trial, with
// the front, the fp32 baseline and the accuracy constraint. cost is
// "size_bits" (drawn in KiB) or "bops".
func (s *Study) TradeoffChart(cost string) *ScatterChart {
	c := &ScatterChart{YLabel: "top-1 accuracy (%)", YScale: 100}
	x := func(size, bops float64) float64 { return kib(size) }
	switch cost {
	case "bops":
		hi := 0.0
		for _, t := range s.Trials {
			hi = math.Max(hi, t.BOPs)
		}
		div, prefix := opsScale(hi)
		c.Title = fmt.Sprintf("Study %s: accuracy vs bit operations", s.Name)
		unit := map[string]string{"": "", "k": ", thousands", "M": ", millions", "G": ", billions"}[prefix]
		c.XLabel = fmt.Sprintf("bit operations per sample%s (BOPs = Σ MACs × weight bits × activation bits)", unit)
		x = func(size, bops float64) float64 { return bops / div }
	default:
		c.Title = fmt.Sprintf("Study %s: accuracy vs weight size", s.Name)
		c.XLabel = "weight size (KiB; 1 KiB = 8192 bits)"
	}
	groups := map[string]*PointGroup{}
	var order []string
	add := func(key string, g PointGroup, p Point) {
		if groups[key] == nil {
			g := g
			groups[key] = &g
			order = append(order, key)
		}
		groups[key].Points = append(groups[key].Points, p)
	}
	for _, t := range s.Trials {
		p := Point{X: x(t.SizeBits, t.BOPs), Y: t.Accuracy}
		kind := t.Provenance
		if kind != provSeed && kind != provRetry {
			kind = provSampler
		}
		switch {
		case t.Pruned:
			add("pruned", PointGroup{Name: "pruned (accuracy on part of the data)", Mark: MarkPruned}, p)
		case !t.Feasible:
			add("violating/"+kind, PointGroup{Name: legendName(kind) + ", violates constraints", Mark: markOf(kind), Hollow: true}, p)
		default:
			add(kind, PointGroup{Name: legendName(kind), Mark: markOf(kind)}, p)
		}
	}
	slices.SortStableFunc(order, func(a, b string) int { return groupRank(a) - groupRank(b) })
	for _, k := range order {
		c.Groups = append(c.Groups, *groups[k])
	}
	for _, p := range s.Front {
		c.Front = append(c.Front, Point{X: x(float64(p.SizeBits), float64(p.BOPs)), Y: p.Accuracy})
	}
	slices.SortFunc(c.Front, func(a, b Point) int {
		if a.X != b.X {
			return cmpFloat(a.X, b.X)
		}
		return cmpFloat(b.Y, a.Y)
	})
	c.YMin = s.accuracyFloor()
	c.FrontName = "Pareto front (" + strings.Join(s.Objectives, ", ") + ")"
	if s.Baseline != nil {
		c.Lines = append(c.Lines, HLine{Name: fmt.Sprintf("fp32 baseline (%.2f %%)", 100*s.Baseline.Accuracy), Y: s.Baseline.Accuracy})
	}
	if s.MinAccuracy != nil {
		c.Lines = append(c.Lines, HLine{Name: fmt.Sprintf("accuracy constraint (≥ %.2f %%)", 100**s.MinAccuracy), Y: *s.MinAccuracy, Dotted: true})
	}
	return c
}

// accuracyFloor returns the bottom of the accuracy axis that zooms on the
// completed trials, the baseline and, when it is near them, the accuracy
// constraint (pruned trials far below are left out), or nil when every
// trial fits without zooming or none completed.
func (s *Study) accuracyFloor() *float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	all := math.Inf(1)
	for _, t := range s.Trials {
		all = math.Min(all, t.Accuracy)
		hi = math.Max(hi, t.Accuracy)
		if !t.Pruned {
			lo = math.Min(lo, t.Accuracy)
		}
	}
	if math.IsInf(lo, 1) {
		return nil
	}
	if b := baselineOf(s); b != nil {
		lo, hi = math.Min(lo, *b), math.Max(hi, *b)
	}
	// The accuracy constraint joins the view when it is near the trials;
	// far below them it would squeeze the front into a thin band.
	if m := s.MinAccuracy; m != nil && *m >= lo-math.Max(hi-lo, 0.005) {
		lo = math.Min(lo, *m)
	}
	span := math.Max(hi-lo, 0.005)
	floor := math.Max(lo-0.3*span, 0)
	if floor <= all {
		return nil
	}
	return &floor
}

func baselineOf(s *Study) *float64 {
	if s.Baseline == nil {
		return nil
	}
	return &s.Baseline.Accuracy
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func legendName(kind string) string {
	switch kind {
	case provSeed:
		return "seeded (sensitivity knapsack)"
	case provRetry:
		return "re-enqueued after a failure"
	}
	return "sampler"
}

func markOf(kind string) Mark {
	switch kind {
	case provSeed:
		return MarkSeed
	case provRetry:
		return MarkRetry
	}
	return MarkSampler
}

// groupRank orders the legend: accepted trials first, then violating, then
// pruned.
func groupRank(key string) int {
	r := map[string]int{provSeed: 0, provSampler: 1, provRetry: 2, "violating/" + provSeed: 3,
		"violating/" + provSampler: 4, "violating/" + provRetry: 5, "pruned": 6}
	return r[key]
}

// BitsChart returns the heatmap of the front's bitwidths: one row per front
// plan (smallest at the bottom), one column per layer.
func (s *Study) BitsChart() *HeatmapChart {
	c := &HeatmapChart{Title: fmt.Sprintf("Study %s: bitwidths across the Pareto front", s.Name),
		XLabel: "layer", YLabel: "front plan (trial · weight size · accuracy)", Columns: ShortNames(s.Layers)}
	for _, p := range s.Front {
		c.Rows = append(c.Rows, fmt.Sprintf("#%d · %.1f KiB · %.2f %%", p.Trial, kib(float64(p.SizeBits)), 100*p.Accuracy))
		row := make([]Cell, len(s.Layers))
		for j, name := range s.Layers {
			row[j] = Cell{WeightBits: -1, ActivationBits: -1}
			if l, ok := p.Layers.Lookup(name); ok {
				row[j] = Cell{WeightBits: l.WeightBits, ActivationBits: l.ActivationBits, Quantizer: l.WeightQuantizer}
			}
		}
		c.Cells = append(c.Cells, row)
	}
	return c
}

// HypervolumeChart returns the hypervolume after each trial, as a fraction
// of the reference box (or raw, when the box is not finite).
func (s *Study) HypervolumeChart() *LineChart {
	c := &LineChart{Title: fmt.Sprintf("Study %s: hypervolume of the accepted plans", s.Name), XLabel: "trial number",
		YLabel: "hypervolume (fraction of the reference box)", Step: true}
	scale := s.HVBox
	if !(scale > 0) || math.IsInf(scale, 0) {
		scale = 1
		c.YLabel = "hypervolume (" + strings.Join(hvUnits(s.Objectives), " × ") + ")"
	}
	for _, p := range s.Hypervolume {
		c.Points = append(c.Points, Point{X: float64(p.Trial), Y: p.Value / scale})
	}
	return c
}

func hvUnits(objs []string) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		switch o {
		case "size_bits":
			out[i] = "bits"
		case "bops":
			out[i] = "BOPs"
		default:
			out[i] = o
		}
	}
	return out
}

// StudySensitivityChart is SensitivityChart of the study's table with
// shortened layer names; nil without a table.
func (s *Study) StudySensitivityChart() *BarChart {
	if s.Sensitivity == nil || len(s.Sensitivity.Layers) == 0 {
		return nil
	}
	c := SensitivityChart(s.Sensitivity)
	c.Title = fmt.Sprintf("Study %s: layer sensitivity (%d samples)", s.Name, s.Sensitivity.Subset)
	if len(c.Series) == 0 {
		return nil
	}
	c.Categories = ShortNames(c.Categories)
	return c
}

// ShortNames abbreviates layer names for axis labels: the leading "/" and a
// trailing "/Conv", "/Gemm" or "/MatMul" are dropped, and names longer than
// 24 characters keep their end behind "…". Names that would collide keep
// their full form.
func ShortNames(names []string) []string {
	const maxLen = 24
	out := make([]string, len(names))
	for i, n := range names {
		s := strings.TrimPrefix(n, "/")
		for _, op := range []string{"/Conv", "/Gemm", "/MatMul"} {
			if t, ok := strings.CutSuffix(s, op); ok && t != "" {
				s = t
				break
			}
		}
		if r := []rune(s); len(r) > maxLen {
			s = "…" + string(r[len(r)-maxLen+1:])
		}
		out[i] = s
	}
	seen := map[string]int{}
	for _, s := range out {
		seen[s]++
	}
	for i, s := range out {
		if seen[s] > 1 || s == "" {
			out[i] = names[i]
		}
	}
	return out
}
