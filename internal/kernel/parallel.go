package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Workers returns the number of goroutines the parallel kernels use at
// most: runtime.GOMAXPROCS(0). Callers size the work slice of ConvForward
// and ConvBackward with it.
func Workers() int { return runtime.GOMAXPROCS(0) }

// Ranger is a piece of parallel work: Range handles the items [lo, hi) as
// worker w. Implementations that live on the heap already (a pointer to a
// field of a long-lived struct) can be handed to a Team without
// allocating, where a closure would escape at every call.
type Ranger interface {
	Range(w, lo, hi int)
}

// RangeFunc adapts a function to Ranger. Convenient where an allocation
// per call does not matter (tests, one-off work).
type RangeFunc func(w, lo, hi int)

// Range calls f(w, lo, hi).
func (f RangeFunc) Range(w, lo, hi int) { f(w, lo, hi) }

// Team is a set of long-lived worker goroutines that the kernels split
// their work over, together with the scratch memory of those workers (the
// packing buffers of Gemm). Its goroutines start on the first call that
// needs them and stop with Close; a Team can be used again after Close,
// which starts them anew. A Team runs one parallel loop at a time: it must
// not be used by two goroutines at once (a loop started from inside one of
// its own ranges runs on the calling goroutine).
//
// A nil *Team is valid everywhere a Team is taken: the kernels then start
// fresh goroutines for each parallel loop and allocate their scratch
// memory per call, as convenient for tests and one-off calls.
type Team struct {
	size    int
	mu      sync.Mutex // guards starting and stopping
	started atomic.Bool
	busy    atomic.Bool // a loop is running: nested loops run inline
	tasks   chan teamTask
	done    chan struct{}

	gemm  [2][]unsafe.Pointer // per element size (0: float32, 1: float64), per worker: *GemmWork
	slots [numSlots]any       // per kernel: its job struct, reused between calls
}

// The slots of Team.slots, one per kind of job struct.
const (
	slotGemm = iota
	slotConvForward
	slotConvShared
	slotConvBackward
	slotQConv
	slotQLinear
	slotPool
	slotGlobalPool
	numSlots
)

type teamTask struct {
	r         Ranger
	w, lo, hi int
}

// NewTeam returns a Team of workers goroutines (the caller's included, so
// workers−1 are started), or Workers() when workers < 1. Results of the
// kernels depend on the number of workers; give a Team Workers() of them
// to get those of a nil Team.
func NewTeam(workers int) *Team {
	if workers < 1 {
		workers = Workers()
	}
	t := &Team{size: workers}
	t.gemm[0] = make([]unsafe.Pointer, workers)
	t.gemm[1] = make([]unsafe.Pointer, workers)
	return t
}

// Workers returns the number of workers of t, Workers() for a nil Team.
func (t *Team) Workers() int {
	if t == nil {
		return Workers()
	}
	return t.size
}

// Close stops the goroutines of t, if started, and returns once they have
// been told to stop. It is safe to call more than once and on a nil Team.
func (t *Team) Close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started.Load() {
		return
	}
	close(t.tasks)
	t.tasks, t.done = nil, nil
	t.started.Store(false)
}

func (t *Team) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started.Load() {
		return
	}
	tasks := make(chan teamTask, t.size)
	done := make(chan struct{}, t.size)
	for range t.size - 1 {
		go teamWorker(tasks, done)
	}
	t.tasks, t.done = tasks, done
	t.started.Store(true)
}

// teamWorker runs tasks until its channel is closed. It refers to the
// channels only, not the Team, so that a Team dropped without Close can
// be collected (its owner's cleanup closes it).
func teamWorker(tasks <-chan teamTask, done chan<- struct{}) {
	for tk := range tasks {
		tk.r.Range(tk.w, tk.lo, tk.hi)
		done <- struct{}{}
	}
}

// teamJob returns t's job struct of type J in slot, allocating it on first
// use (and on every use with a nil Team).
func teamJob[J any](t *Team, slot int) *J {
	if t == nil {
		return new(J)
	}
	if j, ok := t.slots[slot].(*J); ok {
		return j
	}
	j := new(J)
	t.slots[slot] = j
	return j
}

// gemmWork returns worker w's GEMM packing buffers.
func gemmWork[T Float](t *Team, w int) *GemmWork[T] {
	if t == nil {
		return new(GemmWork[T])
	}
	i := 1
	if is32[T]() {
		i = 0
	}
	p := &t.gemm[i][w]
	if *p == nil {
		*p = unsafe.Pointer(new(GemmWork[T]))
	}
	return (*GemmWork[T])(*p)
}

// Parallel calls r.Range on disjoint contiguous ranges [lo, hi) that cover
// [0, n), using at most t.Workers() goroutines (the calling goroutine is
// one of them), and returns when every call has returned. Each range holds
// at least minChunk items, so r runs once, inline, when n < 2·minChunk or
// there is one worker. The worker index w of a range is below
// t.Workers(), and 0 for the range run by the calling goroutine. Parallel
// does nothing when n is 0 and panics when n is negative. It does not
// allocate when t is not nil and r is a pointer.
func Parallel(t *Team, n, minChunk int, r Ranger) {
	parallelFor(t, n, minChunk, t.Workers(), r)
}

// parallelFor is Parallel with an explicit worker bound. It returns the
// number of ranges used: w takes the values 0 to that number minus one.
func parallelFor(t *Team, n, minChunk, workers int, r Ranger) int {
	if n < 0 {
		panic("kernel: Parallel with negative n")
	}
	if n == 0 {
		return 0
	}
	chunks := chunkCount(n, minChunk, min(workers, t.Workers()))
	if chunks == 1 {
		r.Range(0, 0, n)
		return 1
	}
	if t == nil {
		var wg sync.WaitGroup
		wg.Add(chunks - 1)
		for w := 1; w < chunks; w++ {
			lo, hi := w*n/chunks, (w+1)*n/chunks
			go func() {
				defer wg.Done()
				r.Range(w, lo, hi)
			}()
		}
		r.Range(0, 0, n/chunks)
		wg.Wait()
		return chunks
	}
	if !t.busy.CompareAndSwap(false, true) {
		// A loop inside one of t's ranges: its workers may all be busy.
		r.Range(0, 0, n)
		return 1
	}
	defer t.busy.Store(false)
	if !t.started.Load() {
		t.start()
	}
	for w := 1; w < chunks; w++ {
		t.tasks <- teamTask{r, w, w * n / chunks, (w + 1) * n / chunks}
	}
	r.Range(0, 0, n/chunks)
	for range chunks - 1 {
		<-t.done
	}
	return chunks
}

// chunkCount returns the number of ranges parallelFor splits n > 0 items
// into: as many as there are workers, but each of at least minChunk items,
// and at least one.
func chunkCount(n, minChunk, workers int) int {
	return max(1, min(workers, n/max(minChunk, 1)))
}
