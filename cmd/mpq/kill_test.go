package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// killPoint is when a kill lands: once the phase's line appears on standard
// error, after commits transactions have committed to the SQLite
// write-ahead log (a trial takes a dozen), then after a random delay below
// jitter (0: right after that commit, usually in the middle of a trial's
// chain of writes); with result set, instead, as soon as a new trial result
// is stored (before the trial is marked finished, most of the time).
// Counting commits rather than waiting a fixed time ties the kills to the
// search's progress whatever the machine's load.
type killPoint struct {
	phase   string // "calibration", "sensitivity" or "search"
	commits int
	jitter  time.Duration
	result  bool
}

// TestKillAndResume SIGKILLs a real `mpq search` at random moments (during
// calibration, sensitivity, evaluation and right after commits), restarts it
// each time, and checks that nothing is lost: every trial finished before a
// kill stays as it was, numbers stay unique, no trial is left RUNNING, the
// study ends with exactly its target of finished trials, and export reads
// it.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mpq search about 15 times (~1 min)")
	}
	const target = 60
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MPQ_KILL_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("kill schedule seed %d (set MPQ_KILL_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6d7071))
	dir := t.TempDir()
	cfg := writeStudyConfig(t, dir, studySpec{Model: "lenet.onnx", Name: "killed", Trials: target, Workers: 2, Eval: 1024, Sens: 20})
	db := filepath.Join(dir, "study.db")
	dsn := "sqlite://" + db

	ms := time.Millisecond
	plan := []killPoint{
		{phase: "calibration", jitter: 150 * ms}, // a short phase: may land in sensitivity
		{phase: "sensitivity", jitter: 800 * ms},
		{phase: "sensitivity", jitter: 800 * ms},
	}
	for i := range 9 {
		kp := killPoint{phase: "search", commits: 3 + rng.IntN(50)}
		switch i % 3 {
		case 0:
			kp.jitter = 300 * ms // lands in an evaluation, mostly
		case 1:
			kp.result = true
		}
		plan = append(plan, kp)
	}
	// The searches may come in any order after the sensitivity table exists.
	tail := plan[3:]
	rng.Shuffle(len(tail), func(i, j int) { tail[i], tail[j] = tail[j], tail[i] })

	var snaps []studySnap
	landed := map[string]int{}
	for i, kp := range plan {
		p := startMPQ(t, dir, "search", "-c", cfg)
		line := "mpq: " + kp.phase
		if kp.phase == "search" {
			line = "mpq: trials "
		}
		if !p.waitLine(line, 2*time.Minute) {
			p.kill()
			t.Fatalf("kill %d: no %q line; exit %v; standard error:\n%s", i, line, p.err, p.log())
		}
		what := kp.phase
		if kp.commits > 0 {
			if n := waitCommits(db, kp.commits, 30*time.Second); n < kp.commits {
				t.Logf("kill %d: %d of %d commits seen", i, n, kp.commits)
			}
		}
		var before *studySnap
		switch {
		case kp.result:
			what = "result"
			if !waitNewResult(t, db, 30*time.Second) {
				t.Logf("kill %d: no new result within 30 s", i)
			}
		case kp.jitter > 0:
			if kp.phase == "search" {
				s := readStudy(t, dsn, "killed") // a reader next to the live writer
				before = &s
			}
			time.Sleep(time.Duration(rng.Int64N(int64(kp.jitter))))
		default:
			what = "commit"
		}
		if !p.kill() {
			t.Fatalf("kill %d (%s): mpq had already exited (%v): the target was reached too early or it failed; standard error:\n%s", i, what, p.err, p.log())
		}
		log := p.log()
		switch {
		case strings.Contains(log, "mpq: trials "):
			if what != "commit" && what != "result" {
				what = "search"
			}
		case strings.Contains(log, "mpq: seeded"):
			what = "seeding"
		case strings.Contains(log, "mpq: sensitivity"):
			what = "sensitivity"
		default:
			what = "calibration"
		}
		landed[what]++
		s := readStudy(t, dsn, "killed")
		label := fmt.Sprintf("after kill %d (%s)", i, what)
		checkSnap(t, label, s)
		if before != nil {
			checkKept(t, label+", against a read just before it", *before, s)
		}
		for j, prev := range snaps {
			checkKept(t, fmt.Sprintf("%s, against kill %d", label, j), prev, s)
		}
		snaps = append(snaps, s)
		orphans := 0 // killed between storing a result and marking the trial finished
		for _, tr := range s.Trials {
			if tr.HasResult && tr.State != goptuna.TrialStateComplete && tr.State != goptuna.TrialStatePruned {
				orphans++
			}
		}
		t.Logf("%s: %d finished, %d failed, %d running, %d waiting; %d results of unfinished trials", label,
			s.count(goptuna.TrialStateComplete, goptuna.TrialStatePruned), s.count(goptuna.TrialStateFail),
			s.count(goptuna.TrialStateRunning), s.count(goptuna.TrialStateWaiting), orphans)
		if t.Failed() {
			t.FailNow()
		}
	}
	if landed["sensitivity"] < 2 || landed["search"] < 3 || landed["commit"] < 2 || landed["result"] < 2 {
		t.Errorf("kills landed %v; want at least 2 in sensitivity, 3 in evaluations, 2 after commits and 2 after results", landed)
	}
	t.Logf("kills landed: %v", landed)

	p := startMPQ(t, dir, "search", "-c", cfg)
	if err := p.wait(t, 3*time.Minute); err != nil {
		t.Fatalf("final run: %v\n%s", err, p.log())
	}
	final := readStudy(t, dsn, "killed")
	checkFinal(t, "final", final, target)
	for j, prev := range snaps {
		checkKept(t, fmt.Sprintf("final, against kill %d", j), prev, final)
	}
	// The front printed by the final run names finished trials only.
	byNumber := map[int]trialSnap{}
	for _, tr := range final.Trials {
		byNumber[tr.Number] = tr
	}
	for _, line := range strings.Split(p.stdout.String(), "\n") {
		var num int
		var acc float64
		if n, _ := fmt.Sscanf(line, "%d %f", &num, &acc); n == 2 {
			if tr := byNumber[num]; tr.State != goptuna.TrialStateComplete {
				t.Errorf("the printed front lists trial %d, which is %v", num, tr.State)
			}
		}
	}
	checkExport(t, dir, cfg, final)
}

// waitCommits waits until the write-ahead log next to db has changed (size
// or modification time) n times, each a transaction that has just
// committed, or timeout has passed; it returns the changes seen. Changes
// closer together than the polling interval count once.
func waitCommits(db string, n int, timeout time.Duration) int {
	wal := db + "-wal"
	stat := func() (int64, time.Time) {
		fi, err := os.Stat(wal)
		if err != nil {
			return -1, time.Time{}
		}
		return fi.Size(), fi.ModTime()
	}
	size0, mod0 := stat()
	seen := 0
	deadline := time.Now().Add(timeout)
	for seen < n && time.Now().Before(deadline) {
		if size, mod := stat(); size != size0 || !mod.Equal(mod0) {
			seen++
			size0, mod0 = size, mod
			continue
		}
		time.Sleep(100 * time.Microsecond)
	}
	return seen
}

// waitNewResult waits until the study database at db holds more trial
// results than when it was called, polling a read-only connection of its
// own, and reports whether that happened within timeout.
func waitNewResult(t *testing.T, db string, timeout time.Duration) bool {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro&_busy_timeout=50")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func() int {
		n := -1
		conn.QueryRow("SELECT COUNT(*) FROM mpq_trial_results").Scan(&n)
		return n
	}
	n0 := count()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if n := count(); n > n0 && n0 >= 0 {
			return true
		} else if n0 < 0 {
			n0 = n
		}
		time.Sleep(100 * time.Microsecond)
	}
	return false
}

// checkExport runs `mpq export` on a finished study: it must succeed and
// list only completed trials.
func checkExport(t *testing.T, dir, cfg string, s studySnap) {
	t.Helper()
	if _, _, err := runCLI(t, "export", "--help"); err != nil {
		t.Logf("no export command yet (%v): skipping the export check", err)
		return
	}
	out := filepath.Join(dir, "plans.json")
	p := startMPQ(t, dir, "export", "-c", cfg, "--all", "-o", out)
	if err := p.wait(t, time.Minute); err != nil {
		t.Fatalf("mpq export: %v\n%s", err, p.log())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := exportedTrials(data)
	if err != nil {
		t.Fatalf("reading the export: %v\n%s", err, data)
	}
	if len(plans) == 0 {
		t.Fatalf("the export lists no plans:\n%s", data)
	}
	byNumber := map[int]trialSnap{}
	for _, tr := range s.Trials {
		byNumber[tr.Number] = tr
	}
	for _, n := range plans {
		if tr, ok := byNumber[n]; !ok || tr.State != goptuna.TrialStateComplete {
			t.Errorf("the export lists trial %d, which is %v", n, tr.State)
		}
	}
}
