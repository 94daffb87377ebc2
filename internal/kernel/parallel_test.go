package kernel

import (
	"fmt"
	"sync/atomic"
	"testing"
)

func TestParallel(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
		for _, minChunk := range []int{0, 1, 4, 1000} {
			t.Run(fmt.Sprintf("n%d_min%d", n, minChunk), func(t *testing.T) {
				seen := make([]int32, n)
				var calls atomic.Int32
				Parallel(n, minChunk, func(lo, hi int) {
					calls.Add(1)
					if lo >= hi {
						t.Errorf("empty range [%d, %d)", lo, hi)
					}
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&seen[i], 1)
					}
				})
				for i, s := range seen {
					if s != 1 {
						t.Fatalf("index %d visited %d times", i, s)
					}
				}
				if c := int(calls.Load()); c > Workers() || (n > 0 && c < 1) {
					t.Fatalf("%d ranges for %d workers", c, Workers())
				}
				if n > 0 && n < 2*max(minChunk, 1) && calls.Load() != 1 {
					t.Fatalf("%d ranges, want 1 for a small n", calls.Load())
				}
			})
		}
	}
}

func TestParallelForWorkerIndex(t *testing.T) {
	const workers = 5
	used := make([]atomic.Int32, workers)
	chunks := parallelFor(23, 2, workers, func(w, lo, hi int) { used[w].Add(1) })
	if chunks != workers {
		t.Fatalf("chunks = %d, want %d", chunks, workers)
	}
	for w := range used {
		if used[w].Load() != 1 {
			t.Fatalf("worker %d ran %d times", w, used[w].Load())
		}
	}
	expectPanic(t, func() { Parallel(-1, 1, func(int, int) {}) })
}
