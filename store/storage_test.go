package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
	rdb "github.com/c-bata/goptuna/rdb.v2"
	"github.com/c-bata/goptuna/tpe"
)

var choices = []string{"2", "4", "8", "16"}

// categorical4 is a toy objective over four categorical parameters, the
// shape of a 4-layer bit allocation.
func categorical4(tr goptuna.Trial) (float64, error) {
	sum := 0.0
	for i := range 4 {
		c, err := tr.SuggestCategorical(fmt.Sprintf("layer%d", i), choices)
		if err != nil {
			return 0, err
		}
		bits := map[string]float64{"2": 2, "4": 4, "8": 8, "16": 16}[c]
		sum += (bits - 4) * (bits - 4) * float64(i+1)
	}
	return sum, nil
}

// uncached reads the study's trials with plain rdb.v2, the oracle.
func uncached(t testing.TB, s *Store, studyID int) []goptuna.FrozenTrial {
	t.Helper()
	want, err := rdb.NewStorage(s.db).GetAllTrials(studyID)
	if err != nil {
		t.Fatalf("rdb.v2 GetAllTrials: %v", err)
	}
	return want
}

// sameTrials fails t when the cached view differs from rdb.v2's.
func sameTrials(t testing.TB, label string, got, want []goptuna.FrozenTrial) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d trials, rdb.v2 has %d", label, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.DatetimeStart.Equal(w.DatetimeStart) || !g.DatetimeComplete.Equal(w.DatetimeComplete) {
			t.Errorf("%s: trial %d times (%v, %v), rdb.v2 (%v, %v)", label, w.ID, g.DatetimeStart, g.DatetimeComplete, w.DatetimeStart, w.DatetimeComplete)
		}
		g.DatetimeStart, g.DatetimeComplete, w.DatetimeStart, w.DatetimeComplete = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: trial %d\n got %+v\nwant %+v", label, w.ID, g, w)
		}
	}
}

func TestGoptunaTPE(t *testing.T) { forEachBackend(t, testGoptunaTPE) }

func testGoptunaTPE(t *testing.T, fresh opener) {
	s, _ := fresh(t)
	study := createStudy(t, s, "tpe", goptuna.StudyOptionSampler(tpe.NewSampler(tpe.SamplerOptionSeed(1), tpe.SamplerOptionNumberOfStartupTrials(5))))
	if err := study.Optimize(categorical4, 30); err != nil {
		t.Fatal(err)
	}
	trials, err := study.GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 30 {
		t.Fatalf("%d trials, want 30", len(trials))
	}
	for i, tr := range trials {
		if tr.State != goptuna.TrialStateComplete || tr.Number != i || len(tr.Params) != 4 {
			t.Errorf("trial %d: state %v number %d params %v", i, tr.State, tr.Number, tr.Params)
		}
	}
	sameTrials(t, "after TPE", trials, uncached(t, s, study.ID))
	best, err := study.GetBestValue()
	if err != nil {
		t.Fatal(err)
	}
	lowest := math.Inf(1)
	for _, tr := range trials {
		lowest = math.Min(lowest, tr.Value)
	}
	if best != lowest {
		t.Errorf("GetBestValue = %v, lowest trial value %v", best, lowest)
	}

	loaded, err := goptuna.LoadStudy("tpe", goptuna.StudyOptionStorage(s.Storage()), goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionSampler(tpe.NewSampler(tpe.SamplerOptionSeed(2))))
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Optimize(categorical4, 5); err != nil {
		t.Fatal(err)
	}
	all, _ := loaded.GetTrials()
	if len(all) != 35 || all[34].Number != 34 {
		t.Fatalf("after resuming: %d trials, last number %d", len(all), all[len(all)-1].Number)
	}
}

// TestGetAllTrialsMatchesRDB runs every trial state and write through the
// cached storage and compares each view with rdb.v2's.
func TestGetAllTrialsMatchesRDB(t *testing.T) { forEachBackend(t, testGetAllTrialsMatchesRDB) }

func testGetAllTrialsMatchesRDB(t *testing.T, fresh opener) {
	s, _ := fresh(t)
	st := s.Storage()
	study := createStudy(t, s, "mixed")
	check := func(label string) []goptuna.FrozenTrial {
		t.Helper()
		got, err := st.GetAllTrials(study.ID)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		sameTrials(t, label, got, uncached(t, s, study.ID))
		return got
	}
	check("empty")

	// COMPLETE with attributes.
	objective := func(tr goptuna.Trial) (float64, error) {
		x, err := tr.SuggestFloat("x", -1, 1)
		if err != nil {
			return 0, err
		}
		if _, err := tr.SuggestCategorical("q", choices); err != nil {
			return 0, err
		}
		if err := tr.SetUserAttr("objectives", "[0.9,1024]"); err != nil {
			return 0, err
		}
		return x * x, tr.SetSystemAttr("worker", "w1")
	}
	if err := study.Optimize(objective, 3); err != nil {
		t.Fatal(err)
	}
	check("complete")

	// PRUNED with intermediate values, FAIL.
	pruning := createStudy(t, s, "mixed", goptuna.StudyOptionPruner(alwaysPrune{}), goptuna.StudyOptionIgnoreError(true))
	if err := pruning.Optimize(func(tr goptuna.Trial) (float64, error) {
		if _, err := tr.SuggestInt("n", 0, 3); err != nil {
			return 0, err
		}
		for step := range 3 {
			if err := tr.ShouldPrune(step, float64(10-step)); err != nil {
				return 0, err
			}
		}
		return 1, nil
	}, 2); err != nil {
		t.Fatal(err)
	}
	if err := study.Optimize(func(goptuna.Trial) (float64, error) { return 0, errors.New("evaluator crashed") }, 1); err == nil {
		t.Fatal("failing objective: no error")
	}
	got := check("pruned and failed")
	states := map[goptuna.TrialState]int{}
	for _, tr := range got {
		states[tr.State]++
	}
	if states[goptuna.TrialStatePruned] != 2 || states[goptuna.TrialStateFail] != 1 || states[goptuna.TrialStateComplete] != 3 {
		t.Errorf("states %v", states)
	}

	// WAITING (enqueued), then popped to RUNNING.
	if err := study.EnqueueTrial(map[string]float64{"x": 0.5, "q": 2}); err != nil {
		t.Fatal(err)
	}
	check("waiting")
	waiting := got[len(got)-1].ID + 1
	if err := st.SetTrialState(waiting, goptuna.TrialStateRunning); err != nil {
		t.Fatal(err)
	}
	check("popped")
	if err := st.SetTrialParam(waiting, "x", 0.5, goptuna.UniformDistribution{Low: -1, High: 1}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialValue(waiting, 0.25); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialState(waiting, goptuna.TrialStateComplete); err != nil {
		t.Fatal(err)
	}
	check("enqueued trial complete")

	// goptuna lets attributes of a finished trial change: the write must
	// reach the next GetAllTrials.
	if err := st.SetTrialUserAttr(got[0].ID, "note", "rechecked"); err != nil {
		t.Fatal(err)
	}
	after := check("attribute after completion")
	if after[0].UserAttrs["note"] != "rechecked" {
		t.Errorf("user attrs of a finished trial after a write: %v", after[0].UserAttrs)
	}

	// Callers (and goptuna's IntersectionSearchSpace) modify the maps they
	// get: the cache must not see it.
	for _, tr := range after {
		delete(tr.Distributions, "x")
		tr.Params["x"] = "garbage"
		tr.UserAttrs["objectives"] = "garbage"
	}
	check("after the caller modified the returned trials")
}

// alwaysPrune prunes every trial at its second report.
type alwaysPrune struct{}

func (alwaysPrune) Prune(_ *goptuna.Study, tr goptuna.FrozenTrial) (bool, error) {
	return len(tr.IntermediateValues) >= 2, nil
}

// TestCacheAcrossHandles simulates two processes on one file: each must see
// the other's trials, in every state, through its own cache.
func TestCacheAcrossHandles(t *testing.T) { forEachBackend(t, testCacheAcrossHandles) }

func testCacheAcrossHandles(t *testing.T, fresh opener) {
	a, dsn := fresh(t)
	b := openDSN(t, dsn)
	sa, sb := a.Storage(), b.Storage()
	studyA := createStudy(t, a, "shared")
	studyB := createStudy(t, b, "shared")
	if studyA.ID != studyB.ID {
		t.Fatalf("study IDs %d and %d", studyA.ID, studyB.ID)
	}
	id := studyA.ID
	both := func(label string, wantStates ...goptuna.TrialState) {
		t.Helper()
		want := uncached(t, a, id)
		for name, st := range map[string]goptuna.Storage{"A": sa, "B": sb} {
			got, err := st.GetAllTrials(id)
			if err != nil {
				t.Fatalf("%s: %s: %v", label, name, err)
			}
			sameTrials(t, label+" seen by "+name, got, want)
		}
		if len(want) != len(wantStates) {
			t.Fatalf("%s: %d trials, want %d", label, len(want), len(wantStates))
		}
		for i, w := range wantStates {
			if want[i].State != w {
				t.Errorf("%s: trial %d state %v, want %v", label, i, want[i].State, w)
			}
		}
	}
	cat := goptuna.CategoricalDistribution{Choices: choices}
	R, C, P, F, W := goptuna.TrialStateRunning, goptuna.TrialStateComplete, goptuna.TrialStatePruned, goptuna.TrialStateFail, goptuna.TrialStateWaiting

	t0, err := sa.CreateNewTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	both("A created", R)
	must(t, sa.SetTrialParam(t0, "layer0", 2, cat))
	both("A suggested", R)
	t1, err := sb.CreateNewTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	must(t, sb.SetTrialParam(t1, "layer0", 1, cat))
	both("B created", R, R)
	must(t, sa.SetTrialValue(t0, 3.5))
	must(t, sa.SetTrialState(t0, C))
	both("A completed", C, R)
	must(t, sb.SetTrialIntermediateValue(t1, 0, 9))
	must(t, sb.SetTrialValue(t1, 9))
	must(t, sb.SetTrialState(t1, P))
	both("B pruned", C, P)
	t2, err := sa.CreateNewTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	must(t, sa.SetTrialState(t2, F))
	both("A failed", C, P, F)
	if err := studyB.EnqueueTrial(map[string]float64{"layer0": 3}); err != nil {
		t.Fatal(err)
	}
	both("B enqueued", C, P, F, W)
	all, _ := sb.GetAllTrials(id)
	must(t, sa.SetTrialState(all[3].ID, R)) // A pops B's queued trial
	both("A popped", C, P, F, R)
	must(t, sa.SetTrialParam(all[3].ID, "layer0", 3, cat))
	must(t, sa.SetTrialValue(all[3].ID, 1))
	must(t, sa.SetTrialState(all[3].ID, C))
	both("A completed the queued trial", C, P, F, C)
	must(t, sb.SetTrialUserAttr(t0, "late", "yes")) // B writes to A's finished trial
	got, _ := sb.GetAllTrials(id)
	if got[0].UserAttrs["late"] != "yes" {
		t.Errorf("B's own write to a finished trial not seen by B: %v", got[0].UserAttrs)
	}
	// The study's numbers are unique and consecutive.
	for i, tr := range got {
		if tr.Number != i {
			t.Errorf("trial %d has number %d", tr.ID, tr.Number)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCacheRebuildsOnLowerID covers a trial committed with an ID below the
// highest one already read (a PostgreSQL sequence handing IDs out of commit
// order, a reused SQLite rowid): the count check rebuilds the cache.
func TestCacheRebuildsOnLowerID(t *testing.T) { forEachBackend(t, testCacheRebuildsOnLowerID) }

func testCacheRebuildsOnLowerID(t *testing.T, fresh opener) {
	s, _ := fresh(t)
	st := s.Storage()
	other := createStudy(t, s, "other")
	first, err := st.CreateNewTrial(other.ID) // takes the lowest trial ID
	must(t, err)
	study := createStudy(t, s, "main")
	for range 2 {
		id, err := st.CreateNewTrial(study.ID)
		must(t, err)
		must(t, st.SetTrialValue(id, 1))
		must(t, st.SetTrialState(id, goptuna.TrialStateComplete))
	}
	if got, _ := st.GetAllTrials(study.ID); len(got) != 2 {
		t.Fatalf("%d trials, want 2", len(got))
	}
	// Move the other study's trial into this one behind the cache's back.
	must(t, s.db.Exec("UPDATE trials SET study_id = ?, number = 2, state = 'COMPLETE' WHERE trial_id = ?", study.ID, first).Error)
	got, err := st.GetAllTrials(study.ID)
	must(t, err)
	sameTrials(t, "after a lower ID appeared", got, uncached(t, s, study.ID))
	if len(got) != 3 || got[0].ID != first {
		t.Fatalf("cache missed the trial with the lower ID: %d trials", len(got))
	}
}

// TestConcurrentWorkers: four workers, each with its own Store handle (as
// separate processes would have), run 25 trials each on one file.
func TestConcurrentWorkers(t *testing.T) { forEachBackend(t, testConcurrentWorkers) }

func testConcurrentWorkers(t *testing.T, fresh opener) {
	const workers, perWorker = 4, 25
	_, dsn := fresh(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			opts := []goptuna.StudyOption{
				goptuna.StudyOptionStorage(s.Storage()), goptuna.StudyOptionLogger(nil), goptuna.StudyOptionLoadIfExists(true),
				goptuna.StudyOptionSampler(tpe.NewSampler(tpe.SamplerOptionSeed(int64(w)), tpe.SamplerOptionNumberOfStartupTrials(5))),
			}
			study, err := goptuna.CreateStudy("concurrent", opts...)
			if errors.Is(err, ErrStudyExists) { // another worker won the race
				study, err = goptuna.LoadStudy("concurrent", opts...)
			}
			if err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
				return
			}
			if err := study.Optimize(categorical4, perWorker); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := openDSN(t, dsn)
	id, err := s.Storage().GetStudyIDFromName("concurrent")
	must(t, err)
	trials, err := s.Storage().GetAllTrials(id)
	must(t, err)
	sameTrials(t, "after the workers", trials, uncached(t, s, id))
	if len(trials) != workers*perWorker {
		t.Fatalf("%d trials, want %d", len(trials), workers*perWorker)
	}
	numbers := make([]int, len(trials))
	for i, tr := range trials {
		if tr.State != goptuna.TrialStateComplete {
			t.Errorf("trial %d (number %d) is %v", tr.ID, tr.Number, tr.State)
		}
		numbers[i] = tr.Number
	}
	sort.Ints(numbers)
	for i, n := range numbers {
		if n != i {
			t.Fatalf("trial numbers are not 0..%d: %v", workers*perWorker-1, numbers)
		}
	}
}

// holdWriteLock takes SQLite's write lock on path from another connection
// until the returned function is called.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	holder := openPath(t, path)
	conn, err := holder.sqlDB.Conn(context.Background())
	must(t, err)
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	must(t, err)
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func TestRetryOnLockedDatabase(t *testing.T) {
	t.Run("gives up after the budget", func(t *testing.T) {
		s, path := openTemp(t, WithBusyTimeout(20*time.Millisecond), WithRetryBudget(300*time.Millisecond))
		study := createStudy(t, s, "locked")
		holdWriteLock(t, path)
		start := time.Now()
		_, err := s.Storage().CreateNewTrial(study.ID)
		elapsed := time.Since(start)
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("error %v, want ErrLocked", err)
		}
		for _, w := range []string{"store: CreateNewTrial: database sqlite://" + path + " is locked by another process after", "s of retries", "let it finish or stop it"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q\ndoes not contain %q", err, w)
			}
		}
		if elapsed < 300*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("gave up after %v; budget 300ms", elapsed)
		}
		if err := s.PutBlob(context.Background(), "k", "k", nil); !errors.Is(err, ErrLocked) {
			t.Errorf("PutBlob: %v, want ErrLocked", err)
		}
	})
	t.Run("succeeds once the lock is released", func(t *testing.T) {
		s, path := openTemp(t, WithBusyTimeout(20*time.Millisecond), WithRetryBudget(10*time.Second))
		study := createStudy(t, s, "locked")
		release := holdWriteLock(t, path)
		time.AfterFunc(300*time.Millisecond, release)
		id, err := s.Storage().CreateNewTrial(study.ID)
		if err != nil {
			t.Fatalf("CreateNewTrial after the lock was released: %v", err)
		}
		n, err := s.Storage().GetTrialNumberFromID(id)
		if err != nil || n != 0 {
			t.Errorf("trial number %d, %v", n, err)
		}
	})
	t.Run("context ends the wait", func(t *testing.T) {
		s, path := openTemp(t, WithBusyTimeout(20*time.Millisecond), WithRetryBudget(time.Minute))
		holdWriteLock(t, path)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := s.PutBlob(ctx, "k", "k", []byte("x"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want DeadlineExceeded", err)
		}
	})
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("database is locked"), true},
		{fmt.Errorf("wrapped: %w", errors.New("database table is locked")), true},
		{errors.New("database is locked (5) (SQLITE_BUSY)"), true},
		{pgError("40001"), true},
		{pgError("40P01"), true},
		{pgError("55P03"), true},
		{pgError("23505"), false},
		{goptuna.ErrTrialCannotBeUpdated, false},
		{errors.New("record not found"), false},
	}
	for _, tc := range tests {
		if got := isRetryable(tc.err); got != tc.want {
			t.Errorf("isRetryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// pgError mimics pgconn.PgError's SQLState method.
type pgError string

func (e pgError) Error() string    { return "ERROR: SQLSTATE " + string(e) }
func (e pgError) SQLState() string { return string(e) }

func TestGoptunaErrorsPassUnchanged(t *testing.T) { forEachBackend(t, testGoptunaErrorsPassUnchanged) }

func testGoptunaErrorsPassUnchanged(t *testing.T, fresh opener) {
	// goptuna compares with ==: the wrapper must not wrap its sentinels.
	s, _ := fresh(t)
	st := s.Storage()
	study := createStudy(t, s, "sentinels")
	id, err := st.CreateNewTrial(study.ID)
	must(t, err)
	must(t, st.SetTrialState(id, goptuna.TrialStateComplete))
	if err := st.SetTrialState(id, goptuna.TrialStateRunning); err != goptuna.ErrTrialCannotBeUpdated {
		t.Errorf("SetTrialState on a finished trial: %v, want goptuna.ErrTrialCannotBeUpdated itself", err)
	}
	if err := st.SetTrialState(id+100, goptuna.TrialStateRunning); err != goptuna.ErrInvalidTrialID {
		t.Errorf("SetTrialState on a missing trial: %v", err)
	}
	if _, err := st.GetStudyNameFromID(study.ID + 100); !errors.Is(err, ErrStudyNotFound) {
		t.Errorf("GetStudyNameFromID(missing): %v", err)
	}
	if name, err := st.GetStudyNameFromID(study.ID); err != nil || name != "sentinels" {
		t.Errorf("GetStudyNameFromID = %q, %v", name, err)
	}
}

func TestNaNValueRefused(t *testing.T) {
	s, _ := openTemp(t)
	st := s.Storage()
	study := createStudy(t, s, "nan")
	id, err := st.CreateNewTrial(study.ID)
	must(t, err)
	err = st.SetTrialValue(id, math.NaN())
	if err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("SetTrialValue(NaN): %v", err)
	}
	must(t, st.SetTrialValue(id, math.Inf(1))) // ±Inf round-trips
	must(t, st.SetTrialState(id, goptuna.TrialStateComplete))
	got, err := st.GetAllTrials(study.ID)
	must(t, err)
	if !math.IsInf(got[0].Value, 1) {
		t.Errorf("value %v, want +Inf", got[0].Value)
	}
	sameTrials(t, "inf", got, uncached(t, s, study.ID))
	if _, err := st.GetTrial(id); err != nil {
		t.Errorf("GetTrial: %v", err)
	}
}
