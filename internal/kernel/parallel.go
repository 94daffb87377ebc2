package kernel

import (
	"runtime"
	"sync"
)

// Workers returns the number of goroutines the parallel kernels use at
// most: runtime.GOMAXPROCS(0). Callers size the work slice of ConvForward
// and ConvBackward with it.
func Workers() int { return runtime.GOMAXPROCS(0) }

// Parallel calls fn on disjoint contiguous ranges [lo, hi) that cover
// [0, n), using at most Workers() goroutines (the calling goroutine is one
// of them), and returns when every call has returned. Each range holds at
// least minChunk items, so fn runs once, inline, when n < 2·minChunk or
// GOMAXPROCS is 1. Parallel does nothing when n is 0 and panics when n is
// negative.
func Parallel(n, minChunk int, fn func(lo, hi int)) {
	parallelFor(n, minChunk, Workers(), func(_, lo, hi int) { fn(lo, hi) })
}

// parallelFor is Parallel with an explicit worker bound; fn also receives
// the index w of its range, so that each range can own scratch memory.
// It returns the number of ranges used: w takes the values 0 to that number
// minus one, and range 0 runs on the calling goroutine.
func parallelFor(n, minChunk, workers int, fn func(w, lo, hi int)) int {
	if n < 0 {
		panic("kernel: Parallel with negative n")
	}
	if n == 0 {
		return 0
	}
	chunks := chunkCount(n, minChunk, workers)
	if chunks == 1 {
		fn(0, 0, n)
		return 1
	}
	var wg sync.WaitGroup
	wg.Add(chunks - 1)
	for w := 1; w < chunks; w++ {
		lo, hi := w*n/chunks, (w+1)*n/chunks
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	fn(0, 0, n/chunks)
	wg.Wait()
	return chunks
}

// chunkCount returns the number of ranges parallelFor splits n > 0 items
// into: as many as there are workers, but each of at least minChunk items,
// and at least one.
func chunkCount(n, minChunk, workers int) int {
	return max(1, min(workers, n/max(minChunk, 1)))
}
