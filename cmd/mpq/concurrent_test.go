package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// TestConcurrentProcessesSQLite: four `mpq search --workers 2` processes
// started together on one new SQLite study.
func TestConcurrentProcessesSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four mpq processes (~20 s)")
	}
	dir := t.TempDir()
	cfg := writeStudyConfig(t, dir, studySpec{Model: "mlp.onnx", Name: "shared", Trials: 48, Workers: 2, Eval: 1024, Sens: 12})
	runConcurrent(t, dir, cfg, "sqlite://"+filepath.Join(dir, "study.db"), "shared", 4, 48)
}

// TestConcurrentProcessesPostgres: three processes on one PostgreSQL study
// (MPQ_TEST_POSTGRES names the server; .ci/with-postgres starts one).
func TestConcurrentProcessesPostgres(t *testing.T) {
	dsn := os.Getenv("MPQ_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("MPQ_TEST_POSTGRES is not set (run under .ci/with-postgres)")
	}
	dir := t.TempDir()
	name := fmt.Sprintf("shared-%d-%d", os.Getpid(), time.Now().UnixNano())
	cfg := writeStudyConfig(t, dir, studySpec{Model: "mlp.onnx", Name: name, Storage: dsn, Trials: 36, Workers: 2, Eval: 1024, Sens: 12})
	runConcurrent(t, dir, cfg, dsn, name, 3, 36)
}

// runConcurrent starts procs searches of the study at once and checks the
// result: every process succeeds without a locking error, the study has
// exactly target finished trials and no failed, running or waiting one, the
// numbers are 0..n-1, every finished trial has its one result, and exactly
// one process seeded the study.
func runConcurrent(t *testing.T, dir, cfg, dsn, name string, procs, target int) {
	t.Helper()
	mpqBinary(t) // build before the clock starts
	start := time.Now()
	ps := make([]*proc, procs)
	for i := range ps {
		ps[i] = startMPQ(t, dir, "search", "-c", cfg)
	}
	seeded := 0
	for i, p := range ps {
		if err := p.wait(t, 3*time.Minute); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, p.log())
		}
		all := p.log() + "\n" + p.stdout.String()
		if strings.Contains(strings.ToLower(all), "locked") {
			t.Errorf("process %d reported a lock:\n%s", i, all)
		}
		if strings.Contains(all, "mpq: seeded ") {
			seeded++
		}
	}
	t.Logf("%d processes finished in %v", procs, time.Since(start).Round(time.Millisecond))
	s := readStudy(t, dsn, name)
	checkFinal(t, "after the processes", s, target)
	if n := s.count(goptuna.TrialStateFail); n > 0 {
		t.Errorf("%d failed trials; no process died", n)
	}
	if seeded != 1 {
		t.Errorf("%d processes seeded the study, want exactly 1", seeded)
	}
	owners := map[string]int{}
	for _, tr := range s.Trials {
		owners[tr.Owner]++
	}
	if len(owners) < 2 {
		t.Errorf("trials by owner %v: the processes did not share the work", owners)
	}
	t.Logf("trials by owner: %v", owners)
}
