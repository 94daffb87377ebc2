package kernel

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallel(t *testing.T) {
	teams := map[string]*Team{"nil": nil, "team": testTeam(t, 0), "team3": testTeam(t, 3)}
	for name, team := range teams {
		for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
			for _, minChunk := range []int{0, 1, 4, 1000} {
				t.Run(fmt.Sprintf("%s/n%d_min%d", name, n, minChunk), func(t *testing.T) {
					seen := make([]int32, n)
					var calls atomic.Int32
					Parallel(team, n, minChunk, RangeFunc(func(w, lo, hi int) {
						calls.Add(1)
						if lo >= hi {
							t.Errorf("empty range [%d, %d)", lo, hi)
						}
						if w < 0 || w >= team.Workers() {
							t.Errorf("worker %d of %d", w, team.Workers())
						}
						for i := lo; i < hi; i++ {
							atomic.AddInt32(&seen[i], 1)
						}
					}))
					for i, s := range seen {
						if s != 1 {
							t.Fatalf("index %d visited %d times", i, s)
						}
					}
					if c := int(calls.Load()); c > team.Workers() || (n > 0 && c < 1) {
						t.Fatalf("%d ranges for %d workers", c, team.Workers())
					}
					if n > 0 && n < 2*max(minChunk, 1) && calls.Load() != 1 {
						t.Fatalf("%d ranges, want 1 for a small n", calls.Load())
					}
				})
			}
		}
	}
}

func TestParallelForWorkerIndex(t *testing.T) {
	const workers = 5
	for name, team := range map[string]*Team{"nil": nil, "team": testTeam(t, workers)} {
		t.Run(name, func(t *testing.T) {
			used := make([]atomic.Int32, workers)
			chunks := parallelFor(team, 23, 2, workers, RangeFunc(func(w, lo, hi int) { used[w].Add(1) }))
			want := min(workers, team.Workers())
			if chunks != want {
				t.Fatalf("chunks = %d, want %d", chunks, want)
			}
			for w := range want {
				if used[w].Load() != 1 {
					t.Fatalf("worker %d ran %d times", w, used[w].Load())
				}
			}
			expectPanic(t, func() { Parallel(team, -1, 1, RangeFunc(func(int, int, int) {})) })
		})
	}
}

// TestTeamNested checks that a loop started from inside a range of the
// same Team runs inline instead of waiting for busy workers.
func TestTeamNested(t *testing.T) {
	team := testTeam(t, 2)
	var inner atomic.Int32
	Parallel(team, 4, 1, RangeFunc(func(_, lo, hi int) {
		Parallel(team, 10, 1, RangeFunc(func(_, lo, hi int) { inner.Add(int32(hi - lo)) }))
	}))
	if inner.Load() != 20 {
		t.Fatalf("inner loops covered %d items, want 20", inner.Load())
	}
}

// countRanger counts the items of its ranges.
type countRanger struct{ n [8]atomic.Int64 }

func (c *countRanger) Range(w, lo, hi int) { c.n[w].Add(int64(hi - lo)) }

// TestTeamClose checks that Close stops the goroutines, that a closed Team
// starts them again when used, and that a started Team does not allocate.
func TestTeamClose(t *testing.T) {
	before := runtime.NumGoroutine()
	team := NewTeam(4)
	c := new(countRanger)
	Parallel(team, 100, 1, c)
	if !raceEnabled {
		if a := testing.AllocsPerRun(100, func() { Parallel(team, 100, 1, c) }); a != 0 {
			t.Errorf("Parallel allocates %v times per call", a)
		}
	}
	team.Close()
	team.Close()
	Parallel(team, 100, 1, c)
	team.Close()
	var total int64
	for i := range c.n {
		total += c.n[i].Load()
	}
	if total%100 != 0 || total < 200 {
		t.Fatalf("ranges covered %d items", total)
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails t unless the number of goroutines falls back to at
// most want within a few seconds.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want at most %d", runtime.NumGoroutine(), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
