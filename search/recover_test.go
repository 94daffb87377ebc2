package search

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/c-bata/goptuna"

	"mpq/internal/config"
	"mpq/store"
)

// TestRunSurvivesTakeover: when another worker fails a trial this one is
// running (as recovery does after StaleAfter without a heartbeat, say after
// a laptop slept), the run logs it and goes on; the study still ends with
// its target of finished trials and nothing left running.
func TestRunSurvivesTakeover(t *testing.T) {
	path := quickConfig(t, "random")
	db := filepath.Join(filepath.Dir(path), "study.db")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenWorkspace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, err := store.Open(ctx, "sqlite://"+db) // the other machine
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var (
		mu      sync.Mutex
		failed  = -1
		logs    []string
		failErr error
	)
	progress := func(s Status) {
		if s.Phase != "search" || s.Complete+s.Pruned < 2 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if failed >= 0 {
			return
		}
		id, err := other.Storage().GetStudyIDFromName("mlp-test")
		if err != nil {
			failErr = err
			return
		}
		trials, err := other.Storage().GetAllTrials(id)
		if err != nil {
			failErr = err
			return
		}
		for _, tr := range trials {
			if tr.State == goptuna.TrialStateRunning {
				if err := other.Storage().SetTrialState(tr.ID, goptuna.TrialStateFail); err == nil {
					failed = tr.Number
				}
				return
			}
		}
	}
	logf := func(s string) {
		mu.Lock()
		logs = append(logs, s)
		mu.Unlock()
	}
	sum, err := Run(ctx, ws, st, Options{Trials: 24, Workers: 2, Progress: progress, Log: logf})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if failErr != nil {
		t.Fatal(failErr)
	}
	if failed < 0 {
		t.Skip("no trial was running when the others finished: nothing to take over")
	}
	if got := sum.Complete + sum.Pruned; got != 24 {
		t.Errorf("%d finished trials, want 24", got)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "was failed by recovery while this worker ran it") {
		t.Errorf("no log line about the trial taken over; logs:\n%s", strings.Join(logs, "\n"))
	}
	trials, err := st.Storage().GetAllTrials(mustStudyID(t, st, "mlp-test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trials {
		if tr.State == goptuna.TrialStateRunning {
			t.Errorf("trial %d left RUNNING", tr.Number)
		}
	}
}

func mustStudyID(t *testing.T, st *store.Store, name string) int {
	t.Helper()
	id, err := st.Storage().GetStudyIDFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRecoverRequeuesEnqueuedPlan: a worker killed right after it claimed an
// enqueued plan (before its sampler wrote any parameter) leaves a RUNNING
// trial that only its fixed_params attribute ties to the plan; recovery
// fails it and enqueues that plan again, which then runs.
func TestRecoverRequeuesEnqueuedPlan(t *testing.T) {
	path := quickConfig(t, "random")
	runStudy(t, path, Options{Trials: 2})
	db := filepath.Join(filepath.Dir(path), "study.db")
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	study, err := goptuna.LoadStudy("mlp-test", goptuna.StudyOptionStorage(st.Storage()), goptuna.StudyOptionLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	trials, err := study.GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	plan := trials[0].InternalParams
	if err := study.EnqueueTrial(plan); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s:%d:%s", host, dead.Process.Pid, pidSpace())
	id, ok, err := st.ClaimTrial(ctx, study.ID, 10, map[string]string{ownerAttr: owner})
	if err != nil || !ok {
		t.Fatalf("ClaimTrial: %d, %v, %v", id, ok, err)
	}
	st.Close()

	var logs []string
	runStudy(t, path, Options{Trials: 3, Log: func(s string) { logs = append(logs, s) }})
	if !strings.Contains(strings.Join(logs, "\n"), "was left running by a process that is gone") {
		t.Errorf("no recovery logged:\n%s", strings.Join(logs, "\n"))
	}
	st2, err := store.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	after, err := st2.Storage().GetAllTrials(study.ID)
	if err != nil {
		t.Fatal(err)
	}
	again := 0
	for _, tr := range after {
		switch {
		case tr.ID == id && tr.State != goptuna.TrialStateFail:
			t.Errorf("the dead worker's trial is %v, want FAIL", tr.State)
		case tr.ID != trials[0].ID && tr.State == goptuna.TrialStateComplete && reflect.DeepEqual(tr.InternalParams, plan):
			again++
		}
	}
	if again != 1 {
		t.Errorf("the enqueued plan completed %d times after recovery, want once", again)
	}
}

// quickConfig is studyConfig without MNIST's training split (calibration
// and sensitivity draw from the test split): loading 60,000 images is most
// of a small study's time, ten times over under the race detector.
func quickConfig(t *testing.T, sampler string) string {
	t.Helper()
	path := studyConfig(t, sampler, "")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "train:") {
			continue
		}
		lines = append(lines, strings.ReplaceAll(l, "split: train", "split: test"))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
