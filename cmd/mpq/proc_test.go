package main

// Helpers for the tests that run the real mpq binary: building it once,
// writing study configs, running and killing processes, and reading a
// study's trials straight from its database between runs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"mpq/store"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// TestMain removes the binary built for the process tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// mpqBinary builds the mpq command once per test run and returns its path.
func mpqBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mpq-bin-")
		if buildErr != nil {
			return
		}
		// Readable by all: a test runs the binary as an unprivileged user.
		if buildErr = os.Chmod(buildDir, 0o755); buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "mpq")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// repoRoot is the module's root folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// studySpec describes a small search study for the process tests.
type studySpec struct {
	Model   string // model file under testdata/models, e.g. "lenet.onnx"
	Name    string // study.name
	Storage string // study.storage; default sqlite://study.db
	Trials  int
	Workers int
	Eval    int // evaluation count
	Sens    int // sensitivity max_samples
}

// writeStudyConfig writes spec as a config file in dir and returns its path.
// Only MNIST's test split is loaded (10,000 images): reading the 60,000
// training images would be most of each process's start-up.
func writeStudyConfig(t testing.TB, dir string, spec studySpec) string {
	t.Helper()
	if spec.Storage == "" {
		spec.Storage = "sqlite://study.db"
	}
	r := repoRoot()
	yml := fmt.Sprintf(`model: %[1]s/testdata/models/%[2]s
data:
  test:  {format: idx, images: %[1]s/testdata/mnist/t10k-images-idx3-ubyte.gz, labels: %[1]s/testdata/mnist/t10k-labels-idx1-ubyte.gz}
  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}
evaluation:  {split: test, count: %[3]d}
calibration: {split: test, count: 256, seed: 1, method: minmax}
sensitivity: {split: test, count: 256, seed: 0, max_samples: %[4]d, min_samples: 4}
study: {name: %[5]s, storage: '%[6]s'}
search:
  weight_bits: [2, 3, 4, 8]
  activation_bits: [4, 8]
  objectives: [accuracy, size_bits]
  trials: %[7]d
  seed: 3
  sampler: auto
  workers: %[8]d
`, r, spec.Model, spec.Eval, spec.Sens, spec.Name, spec.Storage, spec.Trials, spec.Workers)
	path := filepath.Join(dir, "study.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is a running mpq process whose standard error is read line by line.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	lines  []string
	cond   *sync.Cond
	eof    bool
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// startMPQ starts the mpq binary with args in dir.
func startMPQ(t testing.TB, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(mpqBinary(t), args...), done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.cmd.Dir = dir
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		p.mu.Lock()
		p.eof = true
		p.cond.Broadcast()
		p.mu.Unlock()
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits for a line of standard error that starts with prefix and
// reports whether one came before the process ended or timeout passed.
func (p *proc) waitLine(prefix string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for _, l := range p.lines {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
		if p.eof || time.Now().After(deadline) {
			return false
		}
		p.cond.Wait()
	}
}

// log returns standard error so far.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to end. It reports false
// when the process had already ended by itself.
func (p *proc) kill() bool {
	if p.exited() {
		return false
	}
	p.cmd.Process.Kill()
	<-p.done
	return true
}

// wait waits for the process to end, at most timeout.
func (p *proc) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("mpq %s did not finish within %v; standard error:\n%s", strings.Join(p.cmd.Args[1:], " "), timeout, p.log())
		return nil
	}
}

// trialSnap is what the tests compare of one trial: goptuna's row and mpq's
// result row.
type trialSnap struct {
	ID, Number int
	State      goptuna.TrialState
	Value      float64
	Params     map[string]float64
	Owner      string

	HasResult  bool
	Result     store.TrialResult
	ResultRows int
}

// studySnap is a study's trials by ID, read in one go.
type studySnap struct {
	Trials map[int]trialSnap
}

func (s studySnap) count(states ...goptuna.TrialState) int {
	n := 0
	for _, t := range s.Trials {
		if slices.Contains(states, t.State) {
			n++
		}
	}
	return n
}

// readStudy reads a study from the database at dsn through a new Store, so
// nothing comes from a cache. A study that does not exist yet reads as
// empty.
func readStudy(t testing.TB, dsn, name string) studySnap {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("opening %s: %v", dsn, err)
	}
	defer st.Close()
	snap := studySnap{Trials: map[int]trialSnap{}}
	id, err := st.Storage().GetStudyIDFromName(name)
	if err != nil {
		return snap
	}
	trials, err := st.Storage().GetAllTrials(id)
	if err != nil {
		t.Fatalf("reading trials of %s: %v", name, err)
	}
	for _, tr := range trials {
		snap.Trials[tr.ID] = trialSnap{ID: tr.ID, Number: tr.Number, State: tr.State, Value: tr.Value,
			Params: tr.InternalParams, Owner: tr.SystemAttrs["mpq:owner"]}
	}
	rs, err := st.TrialResults(ctx, name)
	if err != nil {
		t.Fatalf("reading results of %s: %v", name, err)
	}
	for _, r := range rs {
		ts, ok := snap.Trials[r.TrialID]
		if !ok {
			t.Errorf("result of trial ID %d (number %d) has no trial", r.TrialID, r.TrialNumber)
			continue
		}
		ts.HasResult, ts.Result = true, r
		ts.ResultRows++
		snap.Trials[r.TrialID] = ts
	}
	return snap
}

// checkSnap checks what must hold of a study at any moment: unique trial
// numbers, one result row per trial at most, a result for every finished
// trial (results are stored before the trial is marked finished) whose
// number matches.
func checkSnap(t testing.TB, label string, s studySnap) {
	t.Helper()
	numbers := map[int]int{}
	for _, tr := range s.Trials {
		if other, dup := numbers[tr.Number]; dup {
			t.Errorf("%s: trials %d and %d share number %d", label, other, tr.ID, tr.Number)
		}
		numbers[tr.Number] = tr.ID
		if tr.ResultRows > 1 {
			t.Errorf("%s: trial %d has %d result rows", label, tr.Number, tr.ResultRows)
		}
		finished := tr.State == goptuna.TrialStateComplete || tr.State == goptuna.TrialStatePruned
		if finished && !tr.HasResult {
			t.Errorf("%s: trial %d is %v without a stored result", label, tr.Number, tr.State)
		}
		if tr.HasResult && tr.Result.TrialNumber != tr.Number {
			t.Errorf("%s: trial %d's result says number %d", label, tr.Number, tr.Result.TrialNumber)
		}
		if finished && tr.HasResult && tr.Result.Pruned != (tr.State == goptuna.TrialStatePruned) {
			t.Errorf("%s: trial %d is %v but its result says pruned=%v", label, tr.Number, tr.State, tr.Result.Pruned)
		}
	}
}

// sameFloat is == with NaN equal to NaN.
func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// checkKept fails t when a trial finished in before is missing from after or
// differs in any stored value.
func checkKept(t testing.TB, label string, before, after studySnap) {
	t.Helper()
	for id, b := range before.Trials {
		if b.State != goptuna.TrialStateComplete && b.State != goptuna.TrialStatePruned {
			continue
		}
		a, ok := after.Trials[id]
		switch {
		case !ok:
			t.Errorf("%s: finished trial %d (ID %d) is gone", label, b.Number, id)
		case a.State != b.State || a.Number != b.Number || !sameFloat(a.Value, b.Value) || !maps2Equal(a.Params, b.Params):
			t.Errorf("%s: trial %d changed: %+v, was %+v", label, b.Number, a, b)
		case a.HasResult != b.HasResult || !sameResult(a.Result, b.Result):
			t.Errorf("%s: the result of trial %d changed: %+v, was %+v", label, b.Number, a.Result, b.Result)
		}
	}
}

func maps2Equal(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !sameFloat(v, w) {
			return false
		}
	}
	return true
}

func sameResult(a, b store.TrialResult) bool {
	return a.TrialID == b.TrialID && a.TrialNumber == b.TrialNumber && a.ConfigKey == b.ConfigKey &&
		sameFloat(a.Accuracy, b.Accuracy) && sameFloat(a.Loss, b.Loss) && a.SizeBits == b.SizeBits &&
		a.BOPs == b.BOPs && slices.EqualFunc(a.Objectives, b.Objectives, sameFloat) && a.Feasible == b.Feasible &&
		a.Pruned == b.Pruned && a.Samples == b.Samples && a.Provenance == b.Provenance
}

// checkFinal checks a finished study: exactly target finished trials, none
// left RUNNING or WAITING, numbers 0..n-1.
func checkFinal(t testing.TB, label string, s studySnap, target int) {
	t.Helper()
	checkSnap(t, label, s)
	done := s.count(goptuna.TrialStateComplete, goptuna.TrialStatePruned)
	if done != target {
		t.Errorf("%s: %d finished trials (complete + pruned), want exactly %d", label, done, target)
	}
	for _, tr := range s.Trials {
		if tr.State == goptuna.TrialStateRunning || tr.State == goptuna.TrialStateWaiting {
			t.Errorf("%s: trial %d left %v (owner %s)", label, tr.Number, tr.State, tr.Owner)
		}
	}
	nums := make([]int, 0, len(s.Trials))
	for _, tr := range s.Trials {
		nums = append(nums, tr.Number)
	}
	slices.Sort(nums)
	for i, n := range nums {
		if n != i {
			t.Errorf("%s: trial numbers are not 0..%d: %v", label, len(nums)-1, nums)
			break
		}
	}
}

// runCLI runs the mpq command tree in-process with args and returns its
// standard output, standard error and error (what main would print after
// "mpq: " before exiting with status 1).
func runCLI(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// exportedTrials returns the trial numbers of a JSON plans file written by
// `mpq export`.
func exportedTrials(data []byte) ([]int, error) {
	var doc struct {
		Plans []struct {
			Trial int `json:"trial"`
		} `json:"plans"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	nums := make([]int, len(doc.Plans))
	for i, p := range doc.Plans {
		nums[i] = p.Trial
	}
	return nums, nil
}
