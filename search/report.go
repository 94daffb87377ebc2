package search

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/c-bata/goptuna"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/pareto"
	"mpq/internal/planfile"
	"mpq/internal/report"
	"mpq/store"
)

// StudyReport gathers the data of the workspace config's study for a report
// (internal/report draws it): trial counts, every finished trial's result,
// the Pareto front (as ExportPlans returns it, sorted by size), the fp32
// baseline and the sensitivity table when the study stored them, and the
// hypervolume of the accepted plans after each trial, against the reference
// point the search reports progress with (accuracy 0 and the widest plan's
// costs). It computes nothing expensive: no evaluation, no sensitivity
// analysis.
func StudyReport(ctx context.Context, ws *Workspace, st *store.Store) (*report.Study, error) {
	cfg := ws.Config
	d, err := loadStudyData(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	sp, err := NewSpace(ws.Model, cfg.Search)
	if err != nil {
		return nil, err
	}
	s := &report.Study{Name: d.name, Storage: st.DSN(), Objectives: d.objectives, Layers: ws.Model.LayerNames(),
		Complete: d.complete, Pruned: d.pruned, Failed: d.failed, Running: d.running, Waiting: d.waiting,
		Version: Version, Constraints: describeConstraints(cfg.Search.Constraints)}
	e := cfg.Evaluation
	s.Evaluation = fmt.Sprintf("split %s, %d samples", e.Split, e.Count)
	if e.Count == 0 {
		s.Evaluation = fmt.Sprintf("split %s, all samples", e.Split)
	}

	base, ok, err := storedBaseline(ctx, ws, st)
	if err != nil {
		return nil, err
	}
	if ok {
		fp := evaluator.CostOf(ws.Model, evaluator.FloatPlan(ws.Model))
		s.Baseline = &report.Baseline{Accuracy: base.Accuracy, Loss: base.Loss, SizeBits: fp.SizeBits, BOPs: fp.BOPs}
		s.Evaluation = fmt.Sprintf("split %s, %d samples", e.Split, base.Samples)
		if drop := cfg.Search.Constraints.MaxAccuracyDrop; drop != nil {
			floor := base.Accuracy - *drop
			s.MinAccuracy = &floor
		}
	}

	for _, r := range d.results {
		switch d.state[r.TrialID] {
		case goptuna.TrialStateComplete, goptuna.TrialStatePruned:
		default:
			continue
		}
		s.Trials = append(s.Trials, report.Trial{Number: r.TrialNumber, Provenance: r.Provenance, Accuracy: r.Accuracy,
			Loss: r.Loss, SizeBits: r.SizeBits, BOPs: r.BOPs, Samples: r.Samples, Pruned: r.Pruned || d.state[r.TrialID] == goptuna.TrialStatePruned,
			Feasible: r.Feasible})
	}

	set, err := d.export(ws, st.DSN(), ExportOptions{})
	switch {
	case errors.Is(err, ErrNoPlan):
	case err != nil:
		return nil, err
	default:
		s.Front = set.Plans
	}
	slices.SortStableFunc(s.Front, func(a, b planfile.Plan) int {
		if c := cmp.Compare(a.SizeBits, b.SizeBits); c != 0 {
			return c
		}
		return cmp.Compare(b.Accuracy, a.Accuracy)
	})

	if t, ok, err := CachedSensitivity(ctx, ws, st); err != nil {
		return nil, err
	} else if ok {
		s.Sensitivity = t
	}

	o := newObjectives(cfg, baselineAccuracy(s), ws.Model, sp)
	o.names = d.objectives
	ref := o.reference()
	for i, n := range o.names {
		if math.IsInf(ref[i], 1) && n == config.ObjectiveLoss {
			if s.Baseline == nil {
				ref = nil
				s.HVNote = "no hypervolume: the loss objective's reference is twice the fp32 loss, which the study has not measured"
				break
			}
			ref[i] = 2 * s.Baseline.Loss
			s.HVNote = fmt.Sprintf("the search's reference for loss is unbounded, so the report uses twice the fp32 loss (%.6g)", ref[i])
		}
	}
	if ref != nil {
		s.HVReference = ref
		s.HVBox = hvBox(o.names, ref)
		s.Hypervolume = d.hypervolume(ref)
	}
	return s, nil
}

// baselineAccuracy is the fp32 accuracy, or 0 when it is unknown.
func baselineAccuracy(s *report.Study) float64 {
	if s.Baseline == nil {
		return 0
	}
	return s.Baseline.Accuracy
}

// storedBaseline returns the fp32 result the search stored for the
// config's evaluation subset; false when there is none.
func storedBaseline(ctx context.Context, ws *Workspace, st *store.Store) (evaluator.Result, bool, error) {
	var res evaluator.Result
	e := ws.Config.Evaluation
	data, err := ws.Subset(e)
	if err != nil {
		return res, false, err
	}
	blob, ok, err := st.Blob(ctx, baselineKind, blobKey(ws.ModelHash, SubsetDescription(e, data)))
	if err != nil || !ok {
		return res, false, err
	}
	if json.Unmarshal(blob, &res) != nil || res.Samples == 0 {
		return res, false, nil
	}
	return res, true, nil
}

// hypervolume returns, after each finished trial in trial order, the
// hypervolume of the accepted results so far.
func (d *studyData) hypervolume(ref []float64) []report.HVPoint {
	var out []report.HVPoint
	var front [][]float64
	hv := 0.0
	for _, r := range d.results {
		st := d.state[r.TrialID]
		if st != goptuna.TrialStateComplete && st != goptuna.TrialStatePruned {
			continue
		}
		if d.completed(r) && r.Feasible {
			v := d.vector(r)
			dominated := false
			for _, f := range front {
				if pareto.Dominates(f, v) || equal(f, v) {
					dominated = true
					break
				}
			}
			if !dominated {
				// Keep only the front: the hypervolume is the same and
				// stays cheap over long studies.
				pts := append(front, v)
				front = nil
				for _, i := range pareto.Front(pts) {
					front = append(front, pts[i])
				}
				hv = pareto.Hypervolume(front, ref)
			}
		}
		out = append(out, report.HVPoint{Trial: r.TrialNumber, Value: hv})
	}
	return out
}

func equal(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// hvBox is the volume between the reference point and the ideal point
// (accuracy 1, loss and costs 0).
func hvBox(names []string, ref []float64) float64 {
	v := 1.0
	for i, n := range names {
		ideal := 0.0
		if n == config.ObjectiveAccuracy {
			ideal = -1
		}
		v *= ref[i] - ideal
	}
	return v
}

func describeConstraints(c config.Constraints) []string {
	var out []string
	if c.MaxAccuracyDrop != nil {
		out = append(out, fmt.Sprintf("accuracy at most %.4g points below fp32 (max_accuracy_drop %g)", 100**c.MaxAccuracyDrop, *c.MaxAccuracyDrop))
	}
	if c.MaxSizeBits != nil {
		out = append(out, fmt.Sprintf("size at most %.0f bits (%.1f KiB)", *c.MaxSizeBits, *c.MaxSizeBits/8192))
	}
	if c.MaxBops != nil {
		out = append(out, fmt.Sprintf("at most %.4g BOPs per sample", *c.MaxBops))
	}
	return out
}
