package search

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/c-bata/goptuna"

	"mpq/internal/config"
	"mpq/internal/pareto"
	"mpq/internal/planfile"
	"mpq/internal/quant"
	"mpq/store"
)

// ExportOptions choose the plans ExportPlans returns. The filters are
// bounds on the measured values; a nil filter is no bound.
type ExportOptions struct {
	// All returns every accepted plan, not only the Pareto front.
	All bool
	// Best returns only the most accurate plan within the filters (ties:
	// the cheapest, as the plans are sorted), chosen among all accepted
	// plans whether or not All is set.
	Best bool

	MaxSizeBits *float64 // size_bits ≤ MaxSizeBits
	MaxBops     *float64 // bops ≤ MaxBops
	MinAccuracy *float64 // accuracy ≥ MinAccuracy (a fraction)
}

// ErrNoPlan marks an export that found no plan to return.
var ErrNoPlan = errors.New("search: no plan to export")

// ExportPlans returns the plans of the workspace config's study: by default
// the Pareto front over the study's objectives.
//
// The candidates are the accepted plans: trials in state COMPLETE (so never
// pruned or failed ones, nor ones still running) whose result satisfied the
// study's constraints, one per distinct plan (a plan that several trials
// drew is listed under its first trial). Their accuracy was measured on the
// whole evaluation subset. The filters are applied to the candidates before
// the front is taken, so they act as extra constraints: the result is the
// front of the plans that pass them. Plans are sorted by cost — the first
// cost objective, ties by the next, then size_bits and bops — then by
// decreasing accuracy and by trial number.
//
// A study name the database does not hold is an error that wraps
// store.ErrStudyNotFound and names the studies it holds; finding no plan is
// an error that wraps ErrNoPlan.
func ExportPlans(ctx context.Context, ws *Workspace, st *store.Store, opt ExportOptions) (*planfile.Set, error) {
	d, err := loadStudyData(ctx, ws.Config, st)
	if err != nil {
		return nil, err
	}
	return d.export(ws, st.DSN(), opt)
}

// export selects the plans of d as ExportPlans describes; dsn names the
// database in errors.
func (d *studyData) export(ws *Workspace, dsn string, opt ExportOptions) (*planfile.Set, error) {
	sp, err := NewSpace(ws.Model, ws.Config.Search)
	if err != nil {
		return nil, err
	}
	cand := d.accepted()
	if len(cand) == 0 {
		return nil, fmt.Errorf("%w: study %q in %s has no completed trial within its constraints (%d complete, %d pruned, %d failed, %d running); run more trials with `mpq search`, or relax search.constraints",
			ErrNoPlan, d.name, dsn, d.complete, d.pruned, d.failed, d.running)
	}
	kept := filterResults(cand, opt)
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w: none of the %d accepted plans of study %q passes %s (they span %s)",
			ErrNoPlan, len(cand), d.name, describeFilters(opt), describeRange(cand))
	}
	var picked []store.TrialResult
	switch {
	case opt.Best:
		best := slices.Clone(kept)
		slices.SortStableFunc(best, func(a, b store.TrialResult) int {
			if a.Accuracy != b.Accuracy {
				return -cmp.Compare(a.Accuracy, b.Accuracy)
			}
			return d.costOrder(a, b)
		})
		picked = best[:1]
	case opt.All:
		picked = kept
	default:
		picked = d.front(kept)
	}
	picked = slices.Clone(picked)
	slices.SortStableFunc(picked, d.costOrder)
	set := &planfile.Set{Study: d.name, Objectives: slices.Clone(d.objectives)}
	for _, l := range sp.Layers {
		info := planfile.LayerInfo{Name: l.Name}
		for _, q := range l.Quantizers {
			info.Quantizers = append(info.Quantizers, string(q))
		}
		set.Model = append(set.Model, info)
	}
	for _, r := range picked {
		p, err := exportedPlan(r, ws.Model.LayerNames())
		if err != nil {
			return nil, err
		}
		set.Plans = append(set.Plans, p)
	}
	return set, nil
}

// exportedPlan turns a stored result into a plans-file entry, its layers in
// model order.
func exportedPlan(r store.TrialResult, layers []string) (planfile.Plan, error) {
	p := planfile.Plan{Trial: r.TrialNumber, Provenance: r.Provenance, Accuracy: r.Accuracy, Loss: r.Loss,
		SizeBits: int64(r.SizeBits), BOPs: int64(r.BOPs)}
	for _, name := range layers {
		c, ok := r.Plan[name]
		if !ok {
			return p, fmt.Errorf("search: trial %d's stored plan has no entry for layer %q: the study was run on a different model than the config's", r.TrialNumber, name)
		}
		q := c.WeightQuantizer
		if q == "" {
			q = string(quant.Uniform)
		}
		p.Layers = append(p.Layers, planfile.Layer{Name: name, WeightBits: c.WeightBits, ActivationBits: c.ActivationBits, WeightQuantizer: q})
	}
	if len(r.Plan) != len(layers) {
		for name := range r.Plan {
			if !slices.Contains(layers, name) {
				return p, fmt.Errorf("search: trial %d's stored plan names layer %q, which the config's model does not have: the study was run on a different model", r.TrialNumber, name)
			}
		}
	}
	return p, nil
}

// studyData is what the store holds about one study.
type studyData struct {
	name       string
	objectives []string
	results    []store.TrialResult // ordered by trial number
	state      map[int]goptuna.TrialState

	complete, pruned, failed, running, waiting int
}

// loadStudyData reads the study cfg names: its trials, their states and
// results. The objectives are those the study was started with (its stored
// metadata), else the config's.
func loadStudyData(ctx context.Context, cfg *config.Config, st *store.Store) (*studyData, error) {
	name := cfg.Study.Name
	storage := st.Storage()
	id, err := storage.GetStudyIDFromName(name)
	if errors.Is(err, store.ErrStudyNotFound) {
		return nil, noStudyError(ctx, cfg, st)
	}
	if err != nil {
		return nil, fmt.Errorf("search: study %q in %s: %w", name, st.DSN(), err)
	}
	trials, err := storage.GetAllTrials(id)
	if err != nil {
		return nil, fmt.Errorf("search: reading the trials of study %q in %s: %w", name, st.DSN(), err)
	}
	d := &studyData{name: name, objectives: cfg.Search.Objectives, state: make(map[int]goptuna.TrialState, len(trials))}
	for _, t := range trials {
		d.state[t.ID] = t.State
		switch t.State {
		case goptuna.TrialStateComplete:
			d.complete++
		case goptuna.TrialStatePruned:
			d.pruned++
		case goptuna.TrialStateFail:
			d.failed++
		case goptuna.TrialStateRunning:
			d.running++
		case goptuna.TrialStateWaiting:
			d.waiting++
		}
	}
	meta, ok, err := st.StudyMeta(ctx, name)
	if err != nil {
		return nil, err
	}
	if ok && len(meta.Objectives) > 0 {
		d.objectives = meta.Objectives
	}
	if len(d.objectives) == 0 {
		d.objectives = []string{config.ObjectiveAccuracy, config.ObjectiveSizeBits}
	}
	if d.results, err = st.TrialResults(ctx, name); err != nil {
		return nil, err
	}
	return d, nil
}

// noStudyError says that the config's study is not in the database and
// which studies are.
func noStudyError(ctx context.Context, cfg *config.Config, st *store.Store) error {
	var names []string
	if list, err := st.Studies(ctx); err == nil {
		for _, s := range list {
			names = append(names, fmt.Sprintf("%q", s.Name))
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("search: study %q is not in %s, which holds no study yet: run `mpq search -c %s` first: %w",
			cfg.Study.Name, st.DSN(), cfg.Path, store.ErrStudyNotFound)
	}
	return fmt.Errorf("search: study %q is not in %s, which holds %s: run `mpq search -c %s` first, or set study.name to one of those: %w",
		cfg.Study.Name, st.DSN(), strings.Join(names, ", "), cfg.Path, store.ErrStudyNotFound)
}

// OpenStudyStore opens the study database cfg names for reading a study
// that a search has written: unlike OpenStore, it does not create a missing
// SQLite file, and says to run the search first.
func OpenStudyStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	s, err := cfg.Storage()
	if err != nil {
		return nil, err
	}
	if s.Driver == "sqlite" {
		path, _, _ := strings.Cut(s.DSN, "?")
		if path != ":memory:" {
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("search: there is no study database %s (study.storage of %s): run `mpq search -c %s` first: %w",
					path, cfg.Path, cfg.Path, store.ErrStudyNotFound)
			}
		}
	}
	return OpenStore(ctx, cfg)
}

// completed reports whether r is the result of a trial in state COMPLETE
// that was evaluated on the whole subset.
func (d *studyData) completed(r store.TrialResult) bool {
	return d.state[r.TrialID] == goptuna.TrialStateComplete && !r.Pruned
}

// accepted returns the completed results within the study's constraints,
// one per plan (the earliest trial's).
func (d *studyData) accepted() []store.TrialResult {
	var out []store.TrialResult
	seen := map[string]bool{}
	for _, r := range d.results {
		if d.completed(r) && r.Feasible && !seen[r.ConfigKey] {
			seen[r.ConfigKey] = true
			out = append(out, r)
		}
	}
	return out
}

// vector is r's objective vector (all minimised; accuracy negated), from
// its raw metrics.
func (d *studyData) vector(r store.TrialResult) []float64 {
	v := make([]float64, len(d.objectives))
	for i, n := range d.objectives {
		switch n {
		case config.ObjectiveAccuracy:
			v[i] = -r.Accuracy
		case config.ObjectiveLoss:
			v[i] = r.Loss
		case config.ObjectiveSizeBits:
			v[i] = r.SizeBits
		case config.ObjectiveBops:
			v[i] = r.BOPs
		}
	}
	return v
}

// front returns the non-dominated results of rs over the study objectives.
func (d *studyData) front(rs []store.TrialResult) []store.TrialResult {
	pts := make([][]float64, len(rs))
	for i, r := range rs {
		pts[i] = d.vector(r)
	}
	var out []store.TrialResult
	for _, i := range pareto.Front(pts) {
		out = append(out, rs[i])
	}
	return out
}

// costOrder orders results by the study's cost objectives in order, then
// size_bits and bops, then decreasing accuracy, then trial number.
func (d *studyData) costOrder(a, b store.TrialResult) int {
	keys := slices.Clone(d.objectives[1:])
	for _, k := range []string{config.ObjectiveSizeBits, config.ObjectiveBops} {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		var x, y float64
		switch k {
		case config.ObjectiveSizeBits:
			x, y = a.SizeBits, b.SizeBits
		case config.ObjectiveBops:
			x, y = a.BOPs, b.BOPs
		default:
			continue
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(b.Accuracy, a.Accuracy); c != 0 {
		return c
	}
	return cmp.Compare(a.TrialNumber, b.TrialNumber)
}

func filterResults(rs []store.TrialResult, opt ExportOptions) []store.TrialResult {
	var out []store.TrialResult
	for _, r := range rs {
		if opt.MaxSizeBits != nil && r.SizeBits > *opt.MaxSizeBits ||
			opt.MaxBops != nil && r.BOPs > *opt.MaxBops ||
			opt.MinAccuracy != nil && r.Accuracy < *opt.MinAccuracy {
			continue
		}
		out = append(out, r)
	}
	return out
}

func describeFilters(opt ExportOptions) string {
	var parts []string
	if opt.MaxSizeBits != nil {
		parts = append(parts, fmt.Sprintf("--max-size-bits %g", *opt.MaxSizeBits))
	}
	if opt.MaxBops != nil {
		parts = append(parts, fmt.Sprintf("--max-bops %g", *opt.MaxBops))
	}
	if opt.MinAccuracy != nil {
		parts = append(parts, fmt.Sprintf("--min-accuracy %g", *opt.MinAccuracy))
	}
	return strings.Join(parts, " and ")
}

// describeRange gives the range of accuracy, size and BOPs of rs.
func describeRange(rs []store.TrialResult) string {
	lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, r := range rs {
		for i, v := range []float64{r.Accuracy, r.SizeBits, r.BOPs} {
			lo[i], hi[i] = math.Min(lo[i], v), math.Max(hi[i], v)
		}
	}
	return fmt.Sprintf("accuracy %.6g–%.6g, size_bits %.0f–%.0f, bops %.0f–%.0f", lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
}
