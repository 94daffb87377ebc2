package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/c-bata/goptuna"

	"mpq/evaluator"
	"mpq/internal/config"
	"mpq/internal/pareto"
	"mpq/internal/quant"
	"mpq/sensitivity"
	"mpq/store"
)

// Options adjust a run beyond its config.
type Options struct {
	Trials   int  // target number of finished (completed or pruned) trials; 0: the config's
	Workers  int  // goroutines; 0: the config's
	Force    bool // resume a study whose stored config differs
	Progress func(Status)
	// Log receives one line per notable event (cache hits, seeding,
	// recovered trials); nil discards them.
	Log func(string)
	// StaleAfter is how long a RUNNING trial of another machine may go
	// without a heartbeat before it is failed and re-enqueued (default 60 s).
	StaleAfter time.Duration

	// evaluate, when set, stands in for the evaluator's EvaluatePartial.
	// Only tests set it: the search-quality benchmark answers from an
	// exhaustive table (hvbench_test.go).
	evaluate func(ctx context.Context, p evaluator.Plan, chunk int, report func(evaluator.Result) bool) (evaluator.Result, error)
}

// Status is a progress report.
type Status struct {
	Phase       string // "calibration", "sensitivity", "search", "done"
	Complete    int
	Pruned      int
	Failed      int
	Target      int
	Front       int
	Hypervolume float64
	Elapsed     time.Duration
	Last        *store.TrialResult
}

// Summary is what a finished run reports.
type Summary struct {
	Study     string
	Complete  int
	Pruned    int
	Front     []store.TrialResult
	Baseline  evaluator.Result
	Elapsed   time.Duration
	Evaluated int // evaluations this run actually computed (cache misses)
}

// Kinds of cached blobs.
const (
	calibrationKind = "calibration"
	baselineKind    = "baseline"
)

// StudyHash fingerprints what a study's results depend on: the canonical
// config with its run budget (trials, workers, timeout) left out, so a
// resumed study may raise its trial count.
func StudyHash(cfg *config.Config) string {
	c := *cfg
	c.Search.Trials, c.Search.Workers, c.Search.Timeout = 0, 0, 0
	return c.Hash()
}

// runner is one Run's shared state.
type runner struct {
	ws       *Workspace
	st       *store.Store
	opt      Options
	cfg      *config.Config
	space    *Space
	study    *goptuna.Study
	objs     objectives
	calib    *evaluator.Calibration
	weights  *evaluator.WeightCache
	seedKeys map[string]bool
	owner    string
	target   int
	started  time.Time

	claimMu sync.Mutex  // one claim at a time per process (ClaimTrial is atomic anyway; this spares the database the contention)
	locked  atomic.Bool // a worker gave up on a locked database: the others stop writing

	mu        sync.Mutex
	cache     map[string]store.TrialResult // by plan key
	evaluated int
}

func (r *runner) logf(format string, args ...any) {
	if r.opt.Log != nil {
		r.opt.Log(fmt.Sprintf(format, args...))
	}
}

func blobKey(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

// Run runs (or resumes) the study the workspace's config describes until
// the target number of trials has completed.
func Run(ctx context.Context, ws *Workspace, st *store.Store, opt Options) (*Summary, error) {
	cfg := ws.Config
	if opt.Trials <= 0 {
		opt.Trials = cfg.Search.Trials
	}
	if opt.Workers <= 0 {
		opt.Workers = max(cfg.Search.Workers, 1)
	}
	if opt.StaleAfter <= 0 {
		opt.StaleAfter = 60 * time.Second
	}
	host, _ := os.Hostname()
	r := &runner{ws: ws, st: st, opt: opt, cfg: cfg, cache: map[string]store.TrialResult{},
		owner: fmt.Sprintf("%s:%d:%s", host, os.Getpid(), pidSpace()), started: time.Now()}
	sp, err := NewSpace(ws.Model, cfg.Search)
	if err != nil {
		return nil, err
	}
	r.space = sp
	// Broken data fails the run before anything is written.
	if err := ws.LoadInputs(); err != nil {
		return nil, err
	}
	if err := r.checkMeta(ctx); err != nil {
		return nil, err
	}
	r.progress(Status{Phase: "calibration"})
	if r.calib, err = r.calibration(ctx); err != nil {
		return nil, err
	}
	baseline, err := r.baseline(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range ws.Model.FloatWeights() {
		r.logf("node %q (%s) multiplies by the constant %q (%d values), which is not a quantizable layer's weight: it stays in floating point in every plan, and size and BOPs do not count it", f.Node, f.Op, f.Name, f.Params)
	}
	r.objs = newObjectives(cfg, baseline.Accuracy, ws.Model, sp)
	r.weights = evaluator.NewWeightCache(ws.Model)
	var table *sensitivity.Table
	needHessian := slices.ContainsFunc(sp.Layers, func(l LayerChoices) bool { return slices.Contains(l.Quantizers, quant.KMeansHessian) })
	if cfg.Search.Sampler == config.SamplerAuto || needHessian {
		r.progress(Status{Phase: "sensitivity"})
		t, cached, err := RunSensitivity(ctx, ws, st, nil)
		if err != nil && !errors.Is(err, ErrSensitivityCache) {
			return nil, err
		}
		if err != nil {
			r.logf("sensitivity cache unavailable: %v", err)
		}
		if cached {
			r.logf("sensitivity table loaded from the study database")
		}
		for _, n := range t.Notes {
			r.logf("sensitivity: %s", n)
		}
		table = t
		for l, d := range t.HessianDiag {
			if d != nil {
				if err := r.weights.SetHessianDiag(l, t.ClampedDiag(l)); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := r.openStudy(); err != nil {
		return nil, err
	}
	if err := r.recover(ctx); err != nil {
		return nil, err
	}
	if err := r.seedOnce(ctx, table); err != nil {
		return nil, err
	}
	if err := r.loadCache(ctx); err != nil {
		return nil, err
	}
	target := opt.Trials
	if size := sp.Size(); size < float64(target) {
		target = int(size)
		r.logf("the space holds %d plans: the target is lowered to %d trials", target, target)
	}
	r.target = target
	r.progress(Status{Phase: "search", Target: target})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, opt.Workers)
	var wg sync.WaitGroup
	for w := 0; w < opt.Workers; w++ {
		ev, err := ws.Evaluator(r.calib, r.weights)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.work(ctx, ev, target); err != nil {
				if errors.Is(err, store.ErrLocked) {
					r.locked.Store(true) // before cancel: see runTrial
				}
				errs <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	sum, err := r.summary(ctx, baseline)
	if err != nil {
		return nil, err
	}
	r.progress(Status{Phase: "done", Complete: sum.Complete, Pruned: sum.Pruned, Target: target, Front: len(sum.Front)})
	return sum, nil
}

func (r *runner) progress(s Status) {
	if r.opt.Progress != nil {
		s.Elapsed = time.Since(r.started)
		r.opt.Progress(s)
	}
}

// checkMeta refuses to resume a study started with a different config.
func (r *runner) checkMeta(ctx context.Context) error {
	name := r.cfg.Study.Name
	hash := StudyHash(r.cfg)
	meta, ok, err := r.st.StudyMeta(ctx, name)
	if err != nil {
		return err
	}
	if ok && meta.ConfigHash != hash && !r.opt.Force {
		return fmt.Errorf("search: study %q in %s was started with a different config (hash %.12s, now %.12s); its results would not be comparable: use a new study.name, or --force to continue anyway", name, r.st.DSN(), meta.ConfigHash, hash)
	}
	yml, err := r.cfg.Canonical()
	if err != nil {
		return err
	}
	return r.st.PutStudyMeta(ctx, store.StudyMeta{Study: name, ConfigHash: hash, ConfigYAML: string(yml),
		Objectives: r.cfg.Search.Objectives, MPQVersion: Version})
}

// Version is mpq's version, recorded with every study.
const Version = "0.1.0"

func (r *runner) calibration(ctx context.Context) (*evaluator.Calibration, error) {
	c := r.cfg.Calibration
	data, err := r.ws.Subset(c.Subset)
	if err != nil {
		return nil, err
	}
	key := blobKey(r.ws.ModelHash, SubsetDescription(c.Subset, data), c.Method, strconv.FormatFloat(c.Percentile, 'g', -1, 64))
	if blob, ok, err := r.st.Blob(ctx, calibrationKind, key); err == nil && ok {
		var cal evaluator.Calibration
		if json.Unmarshal(blob, &cal) == nil && len(cal.Ranges) == len(r.ws.Model.Layers) {
			r.logf("calibration loaded from the study database")
			return &cal, nil
		}
	}
	cal, err := evaluator.Calibrate(ctx, r.ws.Model, data, c.Method, c.Percentile, c.Batch)
	if err != nil {
		return nil, err
	}
	if blob, err := json.Marshal(cal); err == nil {
		if err := r.st.PutBlob(ctx, calibrationKind, key, blob); err != nil {
			return nil, err
		}
	}
	return cal, nil
}

func (r *runner) baseline(ctx context.Context) (evaluator.Result, error) {
	e := r.cfg.Evaluation
	data, err := r.ws.Subset(e)
	if err != nil {
		return evaluator.Result{}, err
	}
	key := blobKey(r.ws.ModelHash, SubsetDescription(e, data))
	var res evaluator.Result
	if blob, ok, err := r.st.Blob(ctx, baselineKind, key); err == nil && ok && json.Unmarshal(blob, &res) == nil && res.Samples > 0 {
		return res, nil
	}
	ev, err := r.ws.Evaluator(nil, nil)
	if err != nil {
		return res, err
	}
	if res, err = ev.Evaluate(ctx, evaluator.FloatPlan(r.ws.Model)); err != nil {
		return res, err
	}
	blob, _ := json.Marshal(res)
	return res, r.st.PutBlob(ctx, baselineKind, key, blob)
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}

func (r *runner) openStudy() error {
	opts := []goptuna.StudyOption{
		goptuna.StudyOptionStorage(r.st.Storage()),
		goptuna.StudyOptionLoadIfExists(true),
		goptuna.StudyOptionDirection(goptuna.StudyDirectionMinimize),
		goptuna.StudyOptionLogger(quietLogger{}),
	}
	seed := r.cfg.Search.Seed
	switch s := r.cfg.Search.Sampler; s {
	case config.SamplerTPE:
		opts = append(opts, goptuna.StudyOptionSampler(newSeededTPE(seed)))
	default:
		mode := s
		if s == config.SamplerAuto {
			mode = "auto"
		}
		opts = append(opts,
			goptuna.StudyOptionRelativeSampler(NewSampler(r.space, mode, seed)),
			goptuna.StudyOptionDefineSearchSpace(r.space.Distributions()))
	}
	study, err := goptuna.CreateStudy(r.cfg.Study.Name, opts...)
	if errors.Is(err, store.ErrStudyExists) {
		study, err = goptuna.LoadStudy(r.cfg.Study.Name, opts...)
	}
	if err != nil {
		return fmt.Errorf("search: study %q in %s: %w", r.cfg.Study.Name, r.st.DSN(), err)
	}
	r.study = study
	return nil
}

// recover fails the RUNNING trials whose process is gone (same machine, dead
// PID) or whose heartbeat is stale (other machines), and enqueues their
// plans again.
func (r *runner) recover(ctx context.Context) error {
	trials, err := r.study.GetTrials()
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	mySpace := pidSpace()
	// A trial killed before its sampler wrote every parameter may still
	// hold the plan it was enqueued with (a seed, an earlier re-enqueue).
	requeue := func(t goptuna.FrozenTrial) error {
		params := t.InternalParams
		if _, ok := r.space.FromInternal(params); !ok {
			var fixed map[string]float64
			if json.Unmarshal([]byte(t.SystemAttrs["fixed_params"]), &fixed) != nil {
				return nil
			}
			if _, ok := r.space.FromInternal(fixed); !ok {
				return nil
			}
			params = fixed
		}
		return r.study.EnqueueTrial(params)
	}
	for _, t := range trials {
		if t.State != goptuna.TrialStateRunning {
			continue
		}
		h, rest, ok := strings.Cut(t.SystemAttrs[ownerAttr], ":")
		pidStr, space, _ := strings.Cut(rest, ":")
		pid, perr := strconv.Atoi(pidStr)
		if !ok || perr != nil || h != host || (space != "" && space != mySpace) || pid == os.Getpid() || processAlive(pid) {
			continue // alive, or not a PID of this machine: the heartbeat decides
		}
		if err := r.st.Storage().SetTrialState(t.ID, goptuna.TrialStateFail); err != nil {
			if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
				continue
			}
			return err
		}
		r.logf("trial %d was left running by a process that is gone (pid %d): failed and re-enqueued", t.Number, pid)
		if err := requeue(t); err != nil {
			return err
		}
	}
	stale, err := r.st.FailStale(ctx, r.cfg.Study.Name, r.opt.StaleAfter)
	if err != nil {
		return err
	}
	for _, t := range stale {
		r.logf("trial %d had no heartbeat for %s: failed and re-enqueued", t.Number, r.opt.StaleAfter)
		if err := requeue(t); err != nil {
			return err
		}
	}
	return nil
}

// seedOnce seeds the study while holding the database's seeding lock:
// workers started together on a new study would otherwise all find it
// empty and enqueue the seed plans once each. The lock dies with its holder;
// if it cannot be had within the store's retry budget (a holder on a
// machine that vanished without closing its connection), seeding goes ahead
// without it, at worst enqueueing some plans twice.
func (r *runner) seedOnce(ctx context.Context, table *sensitivity.Table) error {
	unlock, err := r.st.Lock(ctx, "seed:"+r.cfg.Study.Name)
	switch {
	case errors.Is(err, store.ErrLocked):
		r.logf("%v; seeding without the lock", err)
		unlock = func() {}
	case err != nil:
		return err
	}
	defer unlock()
	return r.seed(ctx, table)
}

// pidSpace names the PID namespace of this process: a hash of the kernel's
// boot ID and the namespace's inode (Linux), "" where they cannot be read.
// Two processes compare PIDs only within one space: machines, or
// containers, that share a host name do not fail each other's live trials.
func pidSpace() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(string(boot)) + " " + ns))
	return hex.EncodeToString(h[:6])
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// loadCache reads every stored result of the study: a plan evaluated once
// is never evaluated again.
func (r *runner) loadCache(ctx context.Context) error {
	rs, err := r.st.TrialResults(ctx, r.cfg.Study.Name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range rs {
		if prev, ok := r.cache[res.ConfigKey]; !ok || (prev.Pruned && !res.Pruned) {
			r.cache[res.ConfigKey] = res
		}
	}
	return nil
}

// counts returns the study's complete, pruned, failed and running trials.
func (r *runner) counts() (complete, pruned, failed, running int, err error) {
	trials, err := r.study.GetTrials()
	if err != nil {
		return
	}
	for _, t := range trials {
		switch t.State {
		case goptuna.TrialStateComplete:
			complete++
		case goptuna.TrialStatePruned:
			pruned++
		case goptuna.TrialStateFail:
			failed++
		case goptuna.TrialStateRunning:
			running++
		}
	}
	return
}

// work is one worker's trial loop: it starts trials until the study has
// target completed ones.
func (r *runner) work(ctx context.Context, ev *evaluator.Evaluator, target int) error {
	lastStale := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		complete, pruned, _, running, err := r.counts()
		if err != nil {
			return err
		}
		// Like Optuna's n_trials, the target counts finished trials:
		// completed and pruned ones.
		done := complete + pruned
		if done >= target {
			return nil
		}
		if done+running >= target {
			// Others are finishing the last trials; fail the ones whose
			// worker died, then look again.
			if time.Since(lastStale) > 5*time.Second {
				if err := r.recover(ctx); err != nil {
					return err
				}
				lastStale = time.Now()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		id, ok, err := r.claim(ctx, target)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("search: starting a trial: %w", err)
		}
		if !ok {
			continue
		}
		if err := r.runTrial(ctx, ev, id); err != nil {
			return err
		}
	}
}

// claim starts a trial unless the study already has target finished or
// running ones. Counting and claiming are one transaction in the store
// (store.ClaimTrial), so workers of several processes or machines never
// start more trials than the target between them; the claimed trial carries
// its owner (ownerAttr) from the start, so recovery can tell whether its
// worker is alive even when the process died right after the claim. ok is
// false when nothing was claimed.
func (r *runner) claim(ctx context.Context, target int) (id int, ok bool, err error) {
	r.claimMu.Lock()
	defer r.claimMu.Unlock()
	return r.st.ClaimTrial(ctx, r.study.ID, target, map[string]string{ownerAttr: r.owner})
}

// ownerAttr is the trial system attribute naming the worker that runs a
// trial, as host:pid:space (see pidSpace).
const ownerAttr = "mpq:owner"

func (r *runner) runTrial(ctx context.Context, ev *evaluator.Evaluator, id int) error {
	storage := r.study.Storage
	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-tick.C:
				_ = r.st.Heartbeat(hbCtx, id)
			}
		}
	}()
	trial := goptuna.Trial{Study: r.study, ID: id}
	state := goptuna.TrialStateFail
	value, res, objErr := 0.0, (*store.TrialResult)(nil), error(nil)
	if err := trial.CallRelativeSampler(); err != nil {
		objErr = err
	} else {
		value, res, objErr = r.objective(ctx, ev, trial)
	}
	stopHB()
	if ctx.Err() != nil && objErr != nil {
		if r.locked.Load() || errors.Is(objErr, store.ErrLocked) {
			// The run ends because the database stayed locked: writing
			// would wait out another retry budget. The trial stays
			// RUNNING for recovery (this process will be gone).
			return nil
		}
		// Interrupted: leave the trial to recovery on the next run (it is
		// failed and its plan re-enqueued), so no result is lost.
		_ = storage.SetTrialState(id, goptuna.TrialStateFail)
		if fz, err := storage.GetTrial(id); err == nil && len(fz.InternalParams) > 0 {
			_ = r.study.EnqueueTrial(fz.InternalParams)
		}
		return nil
	}
	switch {
	case objErr == nil && res != nil && res.Pruned:
		state = goptuna.TrialStatePruned
	case objErr == nil:
		state = goptuna.TrialStateComplete
	}
	err := error(nil)
	if objErr == nil {
		err = storage.SetTrialValue(id, value)
	}
	if err == nil {
		err = storage.SetTrialState(id, state)
	}
	if objErr == nil && errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
		// Another worker failed the trial while this one ran it (no
		// heartbeat for StaleAfter: a suspended laptop, a stopped
		// process) and enqueued its plan again; the stored result will
		// serve that run.
		r.logf("trial %d was failed by recovery while this worker ran it (paused for over %s?); its plan runs again from the stored result", id, r.opt.StaleAfter)
		return nil
	}
	if err != nil && objErr == nil {
		return err
	}
	_ = r.st.Release(ctx, id)
	if objErr != nil {
		return fmt.Errorf("search: trial %d: %w", id, objErr) // the cause, even if failing the trial failed too
	}
	complete, pruned, failed, _, _ := r.counts()
	front, hv := r.front(ctx)
	r.progress(Status{Phase: "search", Complete: complete, Pruned: pruned, Failed: failed, Target: r.target, Front: front, Hypervolume: hv, Last: res})
	return nil
}

// objective evaluates the trial's plan (or reuses a stored evaluation of the
// same plan) and records it.
func (r *runner) objective(ctx context.Context, ev *evaluator.Evaluator, trial goptuna.Trial) (float64, *store.TrialResult, error) {
	pt, err := r.space.suggest(trial)
	if err != nil {
		return 0, nil, err
	}
	fz, err := r.study.Storage.GetTrial(trial.ID)
	if err != nil {
		return 0, nil, err
	}
	plan := r.space.Plan(pt)
	key := plan.Key()
	prov := store.ProvenanceSampler
	if _, fixed := fz.SystemAttrs["fixed_params"]; fixed {
		prov = store.ProvenanceEnqueuedRetry
		if r.seedKeys[key] {
			prov = store.ProvenanceSeed
		}
	}
	start := time.Now()
	r.mu.Lock()
	cached, hit := r.cache[key]
	r.mu.Unlock()
	if !hit {
		if c, ok, err := r.st.ResultByKey(ctx, r.cfg.Study.Name, key); err != nil {
			return 0, nil, err
		} else if ok {
			cached, hit = c, true
		}
	}
	cost := evaluator.CostOf(r.ws.Model, plan)
	var acc, loss float64
	samples, pruned := 0, false
	if hit {
		acc, loss, samples, pruned = cached.Accuracy, cached.Loss, cached.Samples, cached.Pruned
	} else {
		res, wasPruned, err := r.evaluate(ctx, ev, trial.ID, plan, cost)
		if err != nil {
			return 0, nil, err
		}
		acc, loss, samples, pruned = res.Accuracy, res.Loss, res.Samples, wasPruned
		r.mu.Lock()
		r.evaluated++
		r.mu.Unlock()
	}
	obj := r.objs.vector(acc, loss, cost)
	viol := r.objs.violation(acc, cost)
	out := store.TrialResult{Study: r.cfg.Study.Name, TrialID: trial.ID, TrialNumber: fz.Number, Provenance: prov,
		Plan: planChoices(r.ws.Model.LayerNames(), plan), ConfigKey: key, Accuracy: acc, Loss: loss,
		SizeBits: float64(cost.SizeBits), BOPs: float64(cost.BOPs), Objectives: obj, Feasible: viol == 0 && !pruned,
		Violation: viol, Samples: samples, Pruned: pruned, WallSeconds: time.Since(start).Seconds()}
	if err := r.st.PutTrialResult(ctx, out); err != nil {
		return 0, nil, err
	}
	objJSON, _ := json.Marshal(obj)
	violJSON, _ := json.Marshal(viol)
	storage := r.study.Storage
	for k, v := range map[string]string{attrObjectives: string(objJSON), attrFeasible: strconv.FormatBool(out.Feasible),
		attrViolation: string(violJSON), "mpq:provenance": prov} {
		if err := storage.SetTrialUserAttr(trial.ID, k, v); err != nil {
			return 0, nil, err
		}
	}
	r.mu.Lock()
	if prev, ok := r.cache[key]; !ok || prev.Pruned {
		r.cache[key] = out
	}
	r.mu.Unlock()
	return r.objs.scalar(r.cfg.Search.Sampler, acc, loss, cost, viol), &out, nil
}

func planChoices(names []string, p evaluator.Plan) map[string]store.LayerChoice {
	m := make(map[string]store.LayerChoice, len(p))
	for i, s := range p {
		m[names[i]] = store.LayerChoice{WeightBits: s.WeightBits, ActivationBits: s.ActivationBits, WeightQuantizer: string(s.WeightQuantizer)}
	}
	return m
}

// evaluate scores a plan on growing quarters of the evaluation set and stops
// early when the plan cannot end up on the front or within the constraints
// (its accuracy's 99 % upper confidence bound is below what it must beat).
func (r *runner) evaluate(ctx context.Context, ev *evaluator.Evaluator, trialID int, plan evaluator.Plan, cost evaluator.Cost) (evaluator.Result, bool, error) {
	n := ev.Samples()
	batch := max(r.cfg.Evaluation.Batch, 1)
	chunk := ((n/4 + batch - 1) / batch) * batch
	pruned := false
	step := 0
	var lockErr error
	partial := ev.EvaluatePartial
	if r.opt.evaluate != nil {
		partial = r.opt.evaluate
	}
	res, err := partial(ctx, plan, chunk, func(p evaluator.Result) bool {
		if p.Samples >= n {
			return true
		}
		step++
		// Progress is informative, but a database that stayed locked for
		// the whole retry budget will not take the result either: stop.
		if err := r.study.Storage.SetTrialIntermediateValue(trialID, step, -p.Accuracy); errors.Is(err, store.ErrLocked) {
			lockErr = err
			return false
		}
		if r.objs.primary != config.ObjectiveAccuracy {
			return true
		}
		sd := math.Sqrt(math.Max(p.Accuracy*(1-p.Accuracy), 1.0/float64(p.Samples)) / float64(p.Samples))
		ub := p.Accuracy + 2.58*sd
		if r.objs.maxDrop != nil && ub < r.objs.baseline-*r.objs.maxDrop {
			pruned = true
			return false
		}
		if r.dominated(ub, cost) {
			pruned = true
			return false
		}
		return true
	})
	if lockErr != nil {
		return res, false, lockErr
	}
	return res, pruned, err
}

// dominated reports whether a finished feasible plan is more accurate than
// acc and at least as cheap as cost in every cost objective.
func (r *runner) dominated(acc float64, cost evaluator.Cost) bool {
	costs := r.objs.costs(cost)
	if len(costs) == 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.cache {
		if !c.Feasible || c.Pruned || c.Accuracy <= acc {
			continue
		}
		cheaper := true
		for i, v := range r.objs.costs(evaluator.Cost{SizeBits: int64(c.SizeBits), BOPs: int64(c.BOPs)}) {
			if v > costs[i] {
				cheaper = false
			}
		}
		if cheaper {
			return true
		}
	}
	return false
}

// front returns the size and hypervolume of the current front (from this
// process's view).
func (r *runner) front(ctx context.Context) (int, float64) {
	r.mu.Lock()
	var pts [][]float64
	for _, c := range r.cache {
		if c.Feasible && !c.Pruned {
			pts = append(pts, c.Objectives)
		}
	}
	r.mu.Unlock()
	if len(pts) == 0 {
		return 0, 0
	}
	return len(pareto.Front(pts)), pareto.Hypervolume(pts, r.objs.reference())
}

func (r *runner) summary(ctx context.Context, baseline evaluator.Result) (*Summary, error) {
	rs, err := r.st.TrialResults(ctx, r.cfg.Study.Name)
	if err != nil {
		return nil, err
	}
	complete, pruned, _, _, err := r.counts()
	if err != nil {
		return nil, err
	}
	// A process killed after storing a result but before marking its trial
	// complete leaves the result of a trial that recovery failed (its plan
	// ran again under a new trial): report completed trials only.
	trials, err := r.study.GetTrials()
	if err != nil {
		return nil, err
	}
	completed := make(map[int]bool, len(trials))
	for _, t := range trials {
		completed[t.ID] = t.State == goptuna.TrialStateComplete
	}
	rs = slices.DeleteFunc(rs, func(res store.TrialResult) bool { return !completed[res.TrialID] })
	return &Summary{Study: r.cfg.Study.Name, Complete: complete, Pruned: pruned, Front: ParetoFront(rs),
		Baseline: baseline, Elapsed: time.Since(r.started), Evaluated: r.evaluated}, nil
}

// ParetoFront returns the non-dominated feasible, unpruned results (one per
// plan), sorted by their first cost objective.
func ParetoFront(rs []store.TrialResult) []store.TrialResult {
	var cand []store.TrialResult
	seen := map[string]bool{}
	for _, r := range rs {
		if r.Feasible && !r.Pruned && !seen[r.ConfigKey] {
			seen[r.ConfigKey] = true
			cand = append(cand, r)
		}
	}
	pts := make([][]float64, len(cand))
	for i, c := range cand {
		pts[i] = c.Objectives
	}
	var out []store.TrialResult
	for _, i := range pareto.Front(pts) {
		out = append(out, cand[i])
	}
	slices.SortStableFunc(out, func(a, b store.TrialResult) int {
		if len(a.Objectives) > 1 && len(b.Objectives) > 1 && a.Objectives[1] != b.Objectives[1] {
			if a.Objectives[1] < b.Objectives[1] {
				return -1
			}
			return 1
		}
		return a.TrialNumber - b.TrialNumber
	})
	return out
}
