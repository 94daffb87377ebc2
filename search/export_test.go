package search

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/planfile"
	"mpq/store"
)

// exportStudy runs the small MLP study of studyConfig (sensitivity seeding,
// pruning on quarters of 1024 evaluation samples) and returns its workspace
// and store.
func exportStudy(t *testing.T, extra string) (*Workspace, *store.Store) {
	t.Helper()
	path := studyConfig(t, "auto", extra)
	runStudy(t, path, Options{Trials: 14})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenWorkspace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStudyStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return ws, st
}

// TestExport runs one real study with an accuracy constraint that rejects
// some plans, and exports its plans.
func TestExport(t *testing.T) {
	ws, st := exportStudy(t, "  constraints: {max_accuracy_drop: 0.01}\n")
	t.Run("round trip", func(t *testing.T) { testExportRoundTrip(t, ws, st) })
	t.Run("filters", func(t *testing.T) { testExportFilters(t, ws, st) })
}

// TestExportHessianKMeans round-trips plans whose layers may use
// Hessian-weighted k-means, which needs the study's Hessian diagonal when
// `mpq eval` re-evaluates them.
func TestExportHessianKMeans(t *testing.T) {
	if testing.Short() {
		t.Skip("a second study with k-means codebooks")
	}
	ws, st := exportStudy(t, "  weight_quantizers: [uniform, kmeans-hessian]\n")
	testExportRoundTrip(t, ws, st)
	all, err := ExportPlans(context.Background(), ws, st, ExportOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	uses := 0
	for _, p := range all.Plans {
		for _, l := range p.Layers {
			if l.WeightQuantizer == "kmeans-hessian" && l.WeightBits != 32 {
				uses++
			}
		}
	}
	if uses == 0 {
		t.Fatal("no exported plan uses kmeans-hessian: the test checks nothing")
	}
}

// testExportRoundTrip exports the front and every accepted plan as YAML and
// JSON, reads each plan back the way `mpq eval --plan FILE --trial N` does
// (evaluator.ParsePlan, then EvaluatePlan) and checks that it reproduces the
// stored accuracy, loss, size and BOPs exactly.
func testExportRoundTrip(t *testing.T, ws *Workspace, st *store.Store) {
	ctx := context.Background()
	front, err := ExportPlans(ctx, ws, st, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := ExportPlans(ctx, ws, st, ExportOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(front.Plans) == 0 || len(all.Plans) < len(front.Plans) {
		t.Fatalf("%d front plans, %d accepted plans", len(front.Plans), len(all.Plans))
	}
	checkExported(t, st, all)
	// The front is non-dominated in (accuracy, size) and sorted by size.
	for i := 1; i < len(front.Plans); i++ {
		a, b := front.Plans[i-1], front.Plans[i]
		if a.SizeBits > b.SizeBits || a.Accuracy >= b.Accuracy {
			t.Errorf("front not sorted or dominated at %d: trial %d (%d bits, %v) then trial %d (%d bits, %v)",
				i, a.Trial, a.SizeBits, a.Accuracy, b.Trial, b.SizeBits, b.Accuracy)
		}
	}
	for _, p := range all.Plans {
		for _, q := range all.Plans {
			if q.Accuracy > p.Accuracy && q.SizeBits <= p.SizeBits || q.Accuracy >= p.Accuracy && q.SizeBits < p.SizeBits {
				if _, onFront := findPlan(front, p.Trial); onFront {
					t.Errorf("trial %d is on the front but trial %d dominates it", p.Trial, q.Trial)
				}
			}
		}
	}

	evaluated := 0
	for _, format := range []string{planfile.YAML, planfile.JSON} {
		var buf bytes.Buffer
		if err := planfile.Write(&buf, all, format); err != nil {
			t.Fatal(err)
		}
		for _, p := range all.Plans {
			plan, err := evaluator.ParsePlan(buf.Bytes(), "plans."+format, ws.Model, p.Trial)
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			if format == planfile.JSON {
				continue // the same plans as the YAML file: evaluate once
			}
			got, err := EvaluatePlan(ctx, ws, plan)
			if err != nil {
				t.Fatal(err)
			}
			evaluated++
			if got.Accuracy != p.Accuracy || got.Loss != p.Loss || got.SizeBits != p.SizeBits || got.BOPs != p.BOPs {
				t.Errorf("trial %d re-evaluates to accuracy %v, loss %v, %d bits, %d BOPs; stored %v, %v, %d, %d",
					p.Trial, got.Accuracy, got.Loss, got.SizeBits, got.BOPs, p.Accuracy, p.Loss, p.SizeBits, p.BOPs)
			}
		}
	}
	t.Logf("%d front plans, %d accepted plans re-evaluated exactly", len(front.Plans), evaluated)
	if evaluated != len(all.Plans) {
		t.Fatalf("evaluated %d of %d plans", evaluated, len(all.Plans))
	}
}

func findPlan(s *planfile.Set, trial int) (planfile.Plan, bool) {
	for _, p := range s.Plans {
		if p.Trial == trial {
			return p, true
		}
	}
	return planfile.Plan{}, false
}

// checkExported checks that every exported plan is a COMPLETE, unpruned,
// feasible trial, listed once, with every layer of the model.
func checkExported(t *testing.T, st *store.Store, s *planfile.Set) {
	t.Helper()
	ctx := context.Background()
	rs, err := st.TrialResults(ctx, s.Study)
	if err != nil {
		t.Fatal(err)
	}
	study, err := goptuna.LoadStudy(s.Study, goptuna.StudyOptionStorage(st.Storage()), goptuna.StudyOptionLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	trials, err := study.GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	state := map[int]goptuna.TrialState{}
	for _, tr := range trials {
		state[tr.Number] = tr.State
	}
	byNumber := map[int]store.TrialResult{}
	for _, r := range rs {
		byNumber[r.TrialNumber] = r
	}
	seen := map[int]bool{}
	for _, p := range s.Plans {
		r := byNumber[p.Trial]
		switch {
		case seen[p.Trial]:
			t.Errorf("trial %d exported twice", p.Trial)
		case state[p.Trial] != goptuna.TrialStateComplete || r.Pruned || !r.Feasible:
			t.Errorf("trial %d exported in state %s (pruned %v, feasible %v)", p.Trial, state[p.Trial], r.Pruned, r.Feasible)
		case len(p.Layers) != len(s.Model):
			t.Errorf("trial %d: %d layers, the model has %d", p.Trial, len(p.Layers), len(s.Model))
		case r.Accuracy != p.Accuracy || r.Loss != p.Loss:
			t.Errorf("trial %d: exported accuracy %v loss %v, stored %v %v", p.Trial, p.Accuracy, p.Loss, r.Accuracy, r.Loss)
		}
		seen[p.Trial] = true
	}
}

// testExportFilters checks the filters, --best and the errors for a missing
// study and for filters nothing passes.
func testExportFilters(t *testing.T, ws *Workspace, st *store.Store) {
	ctx := context.Background()
	all, err := ExportPlans(ctx, ws, st, ExportOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	checkExported(t, st, all)
	if len(all.Plans) < 2 {
		t.Skipf("only %d accepted plans: nothing to filter", len(all.Plans))
	}
	mid := all.Plans[len(all.Plans)/2]
	size := float64(mid.SizeBits)
	for _, tc := range []struct {
		name string
		opt  ExportOptions
		keep func(planfile.Plan) bool
	}{
		{"max size", ExportOptions{All: true, MaxSizeBits: &size}, func(p planfile.Plan) bool { return float64(p.SizeBits) <= size }},
		{"max bops", ExportOptions{All: true, MaxBops: ptr(float64(mid.BOPs))}, func(p planfile.Plan) bool { return p.BOPs <= mid.BOPs }},
		{"min accuracy", ExportOptions{All: true, MinAccuracy: &mid.Accuracy}, func(p planfile.Plan) bool { return p.Accuracy >= mid.Accuracy }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExportPlans(ctx, ws, st, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, p := range all.Plans {
				if tc.keep(p) {
					want++
					if _, ok := findPlan(got, p.Trial); !ok {
						t.Errorf("trial %d passes the filter but is missing", p.Trial)
					}
				}
			}
			if len(got.Plans) != want {
				t.Errorf("%d plans, want %d", len(got.Plans), want)
			}
		})
	}
	t.Run("best", func(t *testing.T) {
		got, err := ExportPlans(ctx, ws, st, ExportOptions{Best: true, MaxSizeBits: &size})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Plans) != 1 {
			t.Fatalf("%d plans, want 1", len(got.Plans))
		}
		b := got.Plans[0]
		for _, p := range all.Plans {
			if float64(p.SizeBits) <= size && (p.Accuracy > b.Accuracy || p.Accuracy == b.Accuracy && p.SizeBits < b.SizeBits) {
				t.Errorf("best is trial %d (%v, %d bits) but trial %d (%v, %d bits) is better", b.Trial, b.Accuracy, b.SizeBits, p.Trial, p.Accuracy, p.SizeBits)
			}
		}
	})
	t.Run("nothing passes", func(t *testing.T) {
		_, err := ExportPlans(ctx, ws, st, ExportOptions{MinAccuracy: ptr(1.5)})
		if !errors.Is(err, ErrNoPlan) || !strings.Contains(err.Error(), "--min-accuracy 1.5") {
			t.Fatalf("err = %v, want ErrNoPlan naming the filter", err)
		}
	})
	t.Run("unknown study", func(t *testing.T) {
		cfg := *ws.Config
		cfg.Study.Name = "no-such-study"
		other, err := OpenWorkspace(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ExportPlans(ctx, other, st, ExportOptions{})
		if !errors.Is(err, store.ErrStudyNotFound) || !strings.Contains(err.Error(), `"mlp-test"`) || !strings.Contains(err.Error(), "mpq search") {
			t.Fatalf("err = %v, want ErrStudyNotFound naming the existing study and mpq search", err)
		}
	})
	t.Run("no database", func(t *testing.T) {
		cfg := *ws.Config
		cfg.Study.Storage = "sqlite://missing.db"
		_, err := OpenStudyStore(ctx, &cfg)
		if !errors.Is(err, store.ErrStudyNotFound) || !strings.Contains(err.Error(), "missing.db") {
			t.Fatalf("err = %v, want ErrStudyNotFound naming the file", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
