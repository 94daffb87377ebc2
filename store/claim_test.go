package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// TestClaimTrial: WAITING trials are popped first (oldest first), then new
// trials are created; the owner attribute and a heartbeat come with the
// claim; no claim succeeds once target trials are finished or running.
func TestClaimTrial(t *testing.T) { forEachBackend(t, testClaimTrial) }

func testClaimTrial(t *testing.T, fresh opener) {
	ctx := context.Background()
	s, _ := fresh(t)
	study := createStudy(t, s, "claim")
	st := s.Storage()
	must(t, study.EnqueueTrial(map[string]float64{"x": 1}))
	must(t, study.EnqueueTrial(map[string]float64{"x": 2}))
	trials, err := st.GetAllTrials(study.ID)
	must(t, err)
	if len(trials) != 2 || trials[0].State != goptuna.TrialStateWaiting {
		t.Fatalf("enqueued trials: %+v", trials)
	}
	owner := map[string]string{"mpq:owner": "host:42"}
	var got []int
	for range 3 {
		id, ok, err := s.ClaimTrial(ctx, study.ID, 3, owner)
		if err != nil || !ok {
			t.Fatalf("ClaimTrial = %d, %v, %v", id, ok, err)
		}
		got = append(got, id)
	}
	if got[0] != trials[0].ID || got[1] != trials[1].ID || got[2] <= trials[1].ID {
		t.Errorf("claimed %v; want the enqueued %d and %d first, then a new trial", got, trials[0].ID, trials[1].ID)
	}
	if id, ok, err := s.ClaimTrial(ctx, study.ID, 3, owner); err != nil || ok {
		t.Fatalf("claim beyond the target: %d, %v, %v", id, ok, err)
	}
	all, err := st.GetAllTrials(study.ID)
	must(t, err)
	sameTrials(t, "after claims", all, uncached(t, s, study.ID))
	for i, tr := range all {
		if tr.State != goptuna.TrialStateRunning || tr.SystemAttrs["mpq:owner"] != "host:42" || tr.Number != i {
			t.Errorf("trial %d: state %v, attrs %v, number %d", tr.ID, tr.State, tr.SystemAttrs, tr.Number)
		}
	}
	var beats int64
	must(t, s.db.Model(&heartbeatModel{}).Count(&beats).Error)
	if beats != 3 {
		t.Errorf("%d heartbeats, want one per claimed trial", beats)
	}
	// A finished trial still counts; a failed one frees its place.
	must(t, st.SetTrialState(got[0], goptuna.TrialStateComplete))
	must(t, st.SetTrialState(got[1], goptuna.TrialStateFail))
	id, ok, err := s.ClaimTrial(ctx, study.ID, 3, nil)
	if err != nil || !ok {
		t.Fatalf("claim after a failure: %d, %v, %v", id, ok, err)
	}
	if _, ok, _ := s.ClaimTrial(ctx, study.ID, 3, nil); ok {
		t.Fatal("claimed a fourth trial with target 3")
	}
	if _, _, err := s.ClaimTrial(ctx, study.ID+100, 3, nil); !errors.Is(err, ErrStudyNotFound) {
		t.Errorf("claim in a missing study: %v, want ErrStudyNotFound", err)
	}
}

// TestClaimTrialConcurrent: eight workers with their own handles (as
// separate processes have) claim and finish trials until the target; the
// study ends with exactly target finished trials, numbered 0..target-1.
func TestClaimTrialConcurrent(t *testing.T) { forEachBackend(t, testClaimTrialConcurrent) }

func testClaimTrialConcurrent(t *testing.T, fresh opener) {
	const workers, target = 8, 40
	ctx := context.Background()
	s0, dsn := fresh(t)
	study := createStudy(t, s0, "claims")
	for i := range 5 {
		must(t, study.EnqueueTrial(map[string]float64{"x": float64(i)}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for {
				id, ok, err := s.ClaimTrial(ctx, study.ID, target, map[string]string{"mpq:owner": fmt.Sprint("w", w)})
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					return
				}
				if err := s.Storage().SetTrialValue(id, float64(w)); err != nil {
					errs <- err
					return
				}
				if err := s.Storage().SetTrialState(id, goptuna.TrialStateComplete); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := openDSN(t, dsn)
	trials, err := s.Storage().GetAllTrials(study.ID)
	must(t, err)
	if len(trials) != target {
		t.Fatalf("%d trials, want %d", len(trials), target)
	}
	nums := make([]int, len(trials))
	for i, tr := range trials {
		if tr.State != goptuna.TrialStateComplete {
			t.Errorf("trial %d is %v", tr.Number, tr.State)
		}
		nums[i] = tr.Number
	}
	sort.Ints(nums)
	for i, n := range nums {
		if n != i {
			t.Fatalf("trial numbers %v, want 0..%d", nums, target-1)
		}
	}
	var beats int64
	must(t, s.db.Model(&heartbeatModel{}).Count(&beats).Error)
	if beats != target {
		t.Errorf("%d heartbeats, want %d (one per claim; Release drops them)", beats, target)
	}
}

// TestLock: one holder at a time across handles; a waiter gives up after the
// retry budget with ErrLocked naming the database, and gets the lock once it
// is released.
func TestLock(t *testing.T) { forEachBackend(t, testLock) }

func testLock(t *testing.T, fresh opener) {
	ctx := context.Background()
	a, dsn := fresh(t)
	b := openDSN(t, dsn, WithRetryBudget(300*time.Millisecond))
	unlock, err := a.Lock(ctx, "seed:x")
	must(t, err)
	start := time.Now()
	_, err = b.Lock(ctx, "seed:x")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), b.DSN()) || !strings.Contains(err.Error(), `lock "seed:x"`) {
		t.Fatalf("second Lock: %v; want ErrLocked naming the lock and %s", err, b.DSN())
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v; budget 300ms", d)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(cctx, "seed:x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with an ending context: %v", err)
	}
	time.AfterFunc(100*time.Millisecond, unlock)
	c := openDSN(t, dsn)
	unlockC, err := c.Lock(ctx, "seed:x")
	if err != nil {
		t.Fatalf("Lock after the release: %v", err)
	}
	unlock() // a second call does nothing
	unlockC()
}

// TestLockDiesWithProcess: a process killed while it holds the lock does not
// block the next one (the operating system drops its file lock; the server
// ends its session).
func TestLockDiesWithProcess(t *testing.T) {
	if dsn := os.Getenv("MPQ_LOCK_HELPER"); dsn != "" {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		if _, err := s.Lock(context.Background(), "seed"); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	forEachBackend(t, testLockDiesWithProcess)
}

func testLockDiesWithProcess(t *testing.T, fresh opener) {
	_, dsn := fresh(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDiesWithProcess$")
	cmd.Env = append(os.Environ(), "MPQ_LOCK_HELPER="+dsn)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	s := openDSN(t, dsn, WithRetryBudget(200*time.Millisecond))
	if _, err := s.Lock(context.Background(), "seed"); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while the helper holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	s2 := openDSN(t, dsn, WithRetryBudget(10*time.Second))
	unlock, err := s2.Lock(context.Background(), "seed")
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	unlock()
}
