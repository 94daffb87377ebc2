package search

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/pareto"
	"mpq/store"
)

// The search-quality benchmark (issue 5, item 10).
//
// testdata/hvbench/<case>.yaml is a study config; <case>.exhaustive.json.gz
// holds every plan of its search space evaluated with the real evaluator on
// the config's evaluation subset: the ground truth. The benchmark runs the
// real search (Run, with a SQLite store, seeding, samplers, dominance
// pruning and the plan cache) but answers each evaluation from the table
// through Options.evaluate, replaying the partial results the evaluator
// would have reported on its way through the evaluation subset, so that
// early stopping prunes exactly the trials it would prune on the real
// evaluator. The runs are unconstrained (the configs set no constraints).
// The score is the hypervolume of each run's front of completed, unpruned
// trials in (−accuracy, size in bits), as a fraction of the exhaustive
// front's, with the reference point at the all-8-bit plan's size and
// accuracy 0.95 (the near-lossless region) or 0.5.
//
//	go test ./search -run TestExhaustiveTables -update-exhaustive -timeout 0   # remake the tables
//	MPQ_HVBENCH=1 MPQ_HVBENCH_OUT=hv.md go test ./search -run TestHVBench -v -timeout 0
//
// scripts/hvbench.sh runs the second.

var updateExhaustive = flag.Bool("update-exhaustive", false, "TestExhaustiveTables: evaluate every plan of each testdata/hvbench case and rewrite its table (slow)")

// hvCases are the benchmark's models, as testdata/hvbench/<name>.yaml.
var hvCases = []string{"mlp", "mlp4", "cnn4", "mlp4x", "mlp3h", "cnn3h", "mlp4h", "mlp4j", "mlp4k"}

// hvSamplers are the compared samplers: seeded multi-objective (auto),
// unseeded multi-objective (mo: MOTPE without seeding or local search),
// goptuna's single-objective TPE on a scalarisation, and random.
var hvSamplers = []string{"auto", "mo", config.SamplerTPE, config.SamplerRandom}

// hvRefAccuracies are the accuracies of the two reference points.
var hvRefAccuracies = []float64{0.95, 0.5}

func hvDir() string { return filepath.Join(sensRepo(), "testdata", "hvbench") }

// exhaustiveTable is a case's ground truth: every plan of its search space
// with the evaluator's results.
type exhaustiveTable struct {
	Model       string `json:"model"`
	ModelSHA256 string `json:"model_sha256"`
	// Evaluation describes the evaluation subset (SubsetDescription).
	Evaluation string `json:"evaluation"`
	// Samples is the subset's size and Chunk the step at which the search
	// asks for partial results.
	Samples int             `json:"samples"`
	Chunk   int             `json:"chunk"`
	Layers  []string        `json:"layers"`
	Plans   []exhaustiveRow `json:"plans,omitempty"`

	byKey map[string]*exhaustiveRow
}

// exhaustiveRow is one plan: its key (evaluator.Plan.Key), results, cost
// and the running results at every multiple of the table's chunk.
type exhaustiveRow struct {
	Plan     string       `json:"plan"`
	Accuracy float64      `json:"accuracy"`
	Loss     float64      `json:"loss"`
	Correct  int          `json:"correct"`
	SizeBits int64        `json:"size_bits"`
	BOPs     int64        `json:"bops"`
	Partial  []partialRow `json:"partial"`
}

// partialRow is a running result, written as [samples, correct, loss].
type partialRow struct {
	Samples int
	Correct int
	Loss    float64
}

func (p partialRow) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.Samples, p.Correct, round6(p.Loss)})
}

func (p *partialRow) UnmarshalJSON(b []byte) error {
	var v [3]float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.Samples, p.Correct, p.Loss = int(v[0]), int(v[1]), v[2]
	return nil
}

// round6 keeps 6 significant digits: losses are stored for the record
// (pruning reads accuracies), and the tables stay small.
func round6(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 6, 64), 64)
	return v
}

// searchChunk is the step at which runner.evaluate asks for partial
// results (growing quarters, whole batches); the oracle refuses any other.
func searchChunk(cfg *config.Config, n int) int {
	batch := max(cfg.Evaluation.Batch, 1)
	return ((n/4 + batch - 1) / batch) * batch
}

// makeExhaustive evaluates every plan of ws's search space, calibrated and
// evaluated exactly as Run does.
func makeExhaustive(ctx context.Context, t *testing.T, ws *Workspace) (*exhaustiveTable, error) {
	sp, err := NewSpace(ws.Model, ws.Config.Search)
	if err != nil {
		return nil, err
	}
	calib, err := ws.Calibrate(ctx)
	if err != nil {
		return nil, err
	}
	ev, err := ws.Evaluator(calib, evaluator.NewWeightCache(ws.Model))
	if err != nil {
		return nil, err
	}
	data, err := ws.Subset(ws.Config.Evaluation)
	if err != nil {
		return nil, err
	}
	n := ev.Samples()
	tb := &exhaustiveTable{Model: filepath.Base(ws.Config.Model), ModelSHA256: ws.ModelHash,
		Evaluation: SubsetDescription(ws.Config.Evaluation, data), Samples: n, Chunk: searchChunk(ws.Config, n),
		Layers: ws.Model.LayerNames()}
	total := int(sp.Size())
	start := time.Now()
	for i := range total {
		plan := sp.Plan(sp.Enumerate(i))
		var parts []partialRow
		res, err := ev.EvaluatePartial(ctx, plan, tb.Chunk, func(p evaluator.Result) bool {
			if p.Samples < n {
				parts = append(parts, partialRow{p.Samples, p.Correct, p.Loss})
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		c := evaluator.CostOf(ws.Model, plan)
		tb.Plans = append(tb.Plans, exhaustiveRow{Plan: plan.Key(), Accuracy: res.Accuracy, Loss: round6(res.Loss), Correct: res.Correct,
			SizeBits: c.SizeBits, BOPs: c.BOPs, Partial: parts})
		if (i+1)%64 == 0 || i+1 == total {
			t.Logf("%d/%d plans, %s", i+1, total, time.Since(start).Round(time.Second))
		}
	}
	return tb, nil
}

// encode writes the table, one plan per line, gzipped.
func (tb *exhaustiveTable) encode() ([]byte, error) {
	head := *tb
	head.Plans = nil
	hb, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(bytes.TrimSuffix(hb, []byte("\n}")))
	b.WriteString(",\n  \"plans\": [\n")
	for i, r := range tb.Plans {
		rb, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		b.WriteString("    ")
		b.Write(rb)
		if i < len(tb.Plans)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("  ]\n}\n")
	var z bytes.Buffer
	zw, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}

func loadExhaustive(path string) (*exhaustiveTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var tb exhaustiveTable
	if err := json.NewDecoder(zr).Decode(&tb); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tb.byKey = make(map[string]*exhaustiveRow, len(tb.Plans))
	for i := range tb.Plans {
		tb.byKey[tb.Plans[i].Plan] = &tb.Plans[i]
	}
	return &tb, nil
}

// evaluate is the oracle for Options.evaluate: it replays the plan's
// partial results, stopping where report does, as EvaluatePartial would.
func (tb *exhaustiveTable) evaluate(_ context.Context, p evaluator.Plan, chunk int, report func(evaluator.Result) bool) (evaluator.Result, error) {
	if chunk != tb.Chunk {
		return evaluator.Result{}, fmt.Errorf("hvbench: the search asks for partial results every %d samples, the table has them every %d", chunk, tb.Chunk)
	}
	row, ok := tb.byKey[p.Key()]
	if !ok {
		return evaluator.Result{}, fmt.Errorf("hvbench: plan %s is not in the table", p.Key())
	}
	for _, q := range row.Partial {
		r := evaluator.Result{Accuracy: float64(q.Correct) / float64(q.Samples), Loss: q.Loss, Samples: q.Samples, Correct: q.Correct}
		if !report(r) {
			return r, nil
		}
	}
	r := evaluator.Result{Accuracy: row.Accuracy, Loss: row.Loss, Samples: tb.Samples, Correct: row.Correct}
	report(r)
	return r, nil
}

// points returns every plan's (−accuracy, size) objective vector.
func (tb *exhaustiveTable) points() [][]float64 {
	pts := make([][]float64, len(tb.Plans))
	for i, r := range tb.Plans {
		pts[i] = []float64{-r.Accuracy, float64(r.SizeBits)}
	}
	return pts
}

// hvCase is one benchmark model with its table and a study database shared
// by its runs (so calibration, baseline and sensitivity are computed once).
type hvCase struct {
	name  string
	cfg   *config.Config
	ws    *Workspace
	table *exhaustiveTable
	st    *store.Store
	size8 float64 // the all-8-bit plan's size: the reference point's size
}

func openHVCase(t *testing.T, name string) *hvCase {
	t.Helper()
	cfg, err := config.Load(filepath.Join(hvDir(), name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenWorkspace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := loadExhaustive(filepath.Join(hvDir(), name+".exhaustive.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if tb.ModelSHA256 != ws.ModelHash {
		t.Fatalf("%s: the table was made for another model file (sha256 %.12s, now %.12s): remake it with -update-exhaustive", name, tb.ModelSHA256, ws.ModelHash)
	}
	sp, err := NewSpace(ws.Model, cfg.Search)
	if err != nil {
		t.Fatal(err)
	}
	if int(sp.Size()) != len(tb.Plans) {
		t.Fatalf("%s: the space holds %d plans, the table %d: remake it with -update-exhaustive", name, int(sp.Size()), len(tb.Plans))
	}
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "hvbench.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := ws.evaluationSet(); err != nil {
		t.Fatal(err)
	}
	size8 := float64(evaluator.CostOf(ws.Model, evaluator.UniformPlan(ws.Model, 8, 8)).SizeBits)
	return &hvCase{name: name, cfg: cfg, ws: ws, table: tb, st: st, size8: size8}
}

// run runs one study with the table as evaluator and returns its front's
// objective vectors. tag tells apart studies of the same settings.
func (c *hvCase) run(t *testing.T, sampler string, trials int, seed uint64, tag string) [][]float64 {
	t.Helper()
	cfg := *c.cfg
	cfg.Search.Sampler = sampler // "mo" is not a config value: it is set here only
	cfg.Search.Seed = seed
	cfg.Search.Trials = trials
	cfg.Search.Workers = 1
	if w, err := strconv.Atoi(os.Getenv("MPQ_HVBENCH_WORKERS")); err == nil && w > 0 {
		cfg.Search.Workers = w // not reproducible: the workers race
	}
	if d, err := strconv.ParseFloat(os.Getenv("MPQ_HVBENCH_MAXDROP"), 64); err == nil {
		cfg.Search.Constraints.MaxAccuracyDrop = &d
	}
	cfg.Study.Name = fmt.Sprintf("%s-%s-%d-seed%d%s", c.name, sampler, trials, seed, tag)
	// The runs share the loaded model and data splits; they run one at a
	// time.
	ws := &Workspace{Config: &cfg, Model: c.ws.Model, ModelHash: c.ws.ModelHash, splits: c.ws.splits, evalSet: c.ws.evalSet}
	sum, err := Run(context.Background(), ws, c.st, Options{evaluate: c.table.evaluate})
	if err != nil {
		t.Fatalf("%s: %v", cfg.Study.Name, err)
	}
	if got := sum.Complete + sum.Pruned; got != trials {
		t.Fatalf("%s: %d finished trials, want %d", cfg.Study.Name, got, trials)
	}
	pts := make([][]float64, len(sum.Front))
	for i, r := range sum.Front {
		pts[i] = []float64{-r.Accuracy, r.SizeBits}
	}
	return pts
}

// fraction is the hypervolume of pts as a fraction of the exhaustive
// front's, at the reference point (acc, all-8-bit size).
func (c *hvCase) fraction(pts [][]float64, acc float64) float64 {
	ref := []float64{-acc, c.size8}
	return pareto.Hypervolume(pts, ref) / pareto.Hypervolume(c.table.points(), ref)
}

// TestExhaustiveTables checks each case's table against the evaluator on a
// few plans (the cheapest, the dearest and one in between), or, with
// -update-exhaustive, evaluates every plan and rewrites the table.
func TestExhaustiveTables(t *testing.T) {
	for _, name := range hvCases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(hvDir(), name+".exhaustive.json.gz")
			cfg, err := config.Load(filepath.Join(hvDir(), name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			ws, err := OpenWorkspace(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if *updateExhaustive {
				tb, err := makeExhaustive(ctx, t, ws)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := tb.encode()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, raw, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if testing.Short() {
				t.Skip("evaluates plans on the full evaluation subset")
			}
			tb, err := loadExhaustive(path)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := NewSpace(ws.Model, cfg.Search)
			if err != nil {
				t.Fatal(err)
			}
			if int(sp.Size()) != len(tb.Plans) {
				t.Fatalf("the space holds %d plans, the table %d", int(sp.Size()), len(tb.Plans))
			}
			if tb.ModelSHA256 != ws.ModelHash {
				t.Fatalf("the table was made for another model file")
			}
			calib, err := ws.Calibrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := ws.Evaluator(calib, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := len(tb.Plans)
			for _, i := range []int{0, n / 2, n - 1} {
				plan := sp.Plan(sp.Enumerate(i))
				row, ok := tb.byKey[plan.Key()]
				if !ok {
					t.Fatalf("plan %s missing", plan.Key())
				}
				res, err := ev.Evaluate(ctx, plan)
				if err != nil {
					t.Fatal(err)
				}
				if res.Correct != row.Correct || math.Abs(res.Loss-row.Loss) > 1e-5*res.Loss {
					t.Errorf("%s: evaluator %d correct (loss %.6f), table %d (loss %.6f)", plan.Key(), res.Correct, res.Loss, row.Correct, row.Loss)
				}
			}
		})
	}
}

// TestHVAuto is the benchmark's quick check: on the shipped MLP, auto with
// 50 trials reaches 0.99 of the exhaustive front's hypervolume in the
// near-lossless region, and a second run with the same seed (one worker)
// proposes the same plans in the same order.
func TestHVAuto(t *testing.T) {
	if testing.Short() {
		t.Skip("two 50-trial studies (about 7 s; minutes under the race detector)")
	}
	c := openHVCase(t, "mlp")
	pts := c.run(t, "auto", 50, 1, "")
	f := c.fraction(pts, 0.95)
	t.Logf("auto, 50 trials, seed 1: hypervolume fraction %.4f (reference accuracy 0.95)", f)
	if f < 0.99 {
		t.Errorf("hypervolume fraction %.4f, want at least 0.99", f)
	}
	c.run(t, "auto", 50, 1, "-again")
	a, b := c.plans(t, "mlp-auto-50-seed1"), c.plans(t, "mlp-auto-50-seed1-again")
	if len(a) != 50 || !slices.Equal(a, b) {
		t.Errorf("two runs with seed 1 differ:\n%v\n%v", a, b)
	}
}

// TestHVBench runs every sampler at 25, 50 and 100 trials with 5 seeds on
// every case and reports the hypervolume fractions as a Markdown table
// (MPQ_HVBENCH=1; MPQ_HVBENCH_OUT=file also writes it there;
// MPQ_HVBENCH_CASES, MPQ_HVBENCH_SAMPLERS and MPQ_HVBENCH_TRIALS take
// comma-separated subsets; MPQ_HVBENCH_SEEDS=n runs seeds 1 to n instead
// of 1 to 5; MPQ_HVBENCH_WORKERS=2 runs two workers and
// MPQ_HVBENCH_MAXDROP=0.02 constrains the accuracy drop).
func TestHVBench(t *testing.T) {
	if os.Getenv("MPQ_HVBENCH") == "" {
		t.Skip("set MPQ_HVBENCH=1 to run the search-quality benchmark")
	}
	cases := hvCases
	if s := os.Getenv("MPQ_HVBENCH_CASES"); s != "" {
		cases = strings.Split(s, ",")
	}
	samplers := hvSamplers
	if s := os.Getenv("MPQ_HVBENCH_SAMPLERS"); s != "" {
		samplers = strings.Split(s, ",")
	}
	budgets := []int{25, 50, 100}
	if s := os.Getenv("MPQ_HVBENCH_TRIALS"); s != "" {
		budgets = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("MPQ_HVBENCH_TRIALS: %v", err)
			}
			budgets = append(budgets, n)
		}
	}
	seeds := []uint64{1, 2, 3, 4, 5}
	if s := os.Getenv("MPQ_HVBENCH_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("MPQ_HVBENCH_SEEDS=%q: want a positive count", s)
		}
		seeds = seeds[:0]
		for i := range n {
			seeds = append(seeds, uint64(i+1))
		}
	}
	var out strings.Builder
	for _, name := range cases {
		c := openHVCase(t, name)
		fmt.Fprintf(&out, "\n### %s (%d plans)\n\n", name, len(c.table.Plans))
		for _, acc := range hvRefAccuracies {
			all := c.table.points()
			ref := []float64{-acc, c.size8}
			front := 0
			for _, i := range pareto.Front(all) {
				if all[i][0] < ref[0] && all[i][1] < ref[1] {
					front++
				}
			}
			fmt.Fprintf(&out, "Exhaustive front inside the reference point (accuracy %.2f, %.0f bits): %d plans.\n", acc, c.size8, front)
		}
		fmt.Fprintf(&out, "\n| sampler | trials | HV fraction, ref. acc. 0.95: mean ± std (min) | ref. acc. 0.5: mean ± std (min) |\n|---|---:|---|---|\n")
		for _, sampler := range samplers {
			for _, trials := range budgets {
				fr := make([][]float64, len(hvRefAccuracies))
				for _, seed := range seeds {
					pts := c.run(t, sampler, trials, seed, "")
					for k, acc := range hvRefAccuracies {
						fr[k] = append(fr[k], c.fraction(pts, acc))
					}
				}
				fmt.Fprintf(&out, "| %s | %d |", sampler, trials)
				for k := range hvRefAccuracies {
					m, s := meanStd(fr[k])
					fmt.Fprintf(&out, " %.4f ± %.4f (%.4f) |", m, s, slices.Min(fr[k]))
				}
				out.WriteString("\n")
				t.Logf("%s %s %d: %v", name, sampler, trials, fr)
			}
		}
	}
	t.Log(out.String())
	if path := os.Getenv("MPQ_HVBENCH_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	if len(v) > 1 {
		std = math.Sqrt(std / float64(len(v)-1))
	}
	return mean, std
}

// TestTPEReproducible checks that goptuna's TPE sampler, seeded from the
// config, proposes the same plans in the same order on a second run with
// one worker.
func TestTPEReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("two 30-trial studies")
	}
	c := openHVCase(t, "mlp")
	c.run(t, "tpe", 30, 3, "")
	c.run(t, "tpe", 30, 3, "-again")
	a, b := c.plans(t, "mlp-tpe-30-seed3"), c.plans(t, "mlp-tpe-30-seed3-again")
	if len(a) != 30 || !slices.Equal(a, b) {
		t.Errorf("two runs with seed 3 differ:\n%v\n%v", a, b)
	}
}

// plans returns the configuration keys of a study's trials in trial order.
func (c *hvCase) plans(t *testing.T, study string) []string {
	t.Helper()
	rs, err := c.st.TrialResults(context.Background(), study)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rs, func(a, b store.TrialResult) int { return a.TrialNumber - b.TrialNumber })
	var keys []string
	for _, r := range rs {
		keys = append(keys, r.ConfigKey)
	}
	return keys
}
