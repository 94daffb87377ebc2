package engine

import "mpq/internal/kernel"

// The kinds of ewJob.
const (
	ewAccumulate = iota // y += a
	ewQuantize          // y = q(a)
	ewBinary            // y = a op b
	ewForward           // y = f(a), by k
	ewBackward          // y += c·f'(a), with b = f(a), by k
)

// rangeKernel is a step whose passes split into independent ranges of
// items (elements for an activation, rows for a normalization) that the
// Team shares out: forwardRange sets y = f(x) and backwardRange adds the
// gradient gy·f'(x) to gx, both over the items [lo, hi).
type rangeKernel[T Float] interface {
	forwardRange(x, y []T, lo, hi int)
	backwardRange(x, y, gy, gx []T, lo, hi int)
}

// ewJob is an elementwise loop split over the session's Team. It lives in
// the state (state.ew) and is handed to the Team as a pointer, so that a
// loop allocates nothing where a closure would escape to the heap.
type ewJob[T Float] struct {
	kind       int
	op         byte
	k          rangeKernel[T]
	q          *kernel.FakeQuant[T]
	a, b, c, y []T
}

// Range runs the loop over [lo, hi).
func (j *ewJob[T]) Range(_, lo, hi int) {
	switch j.kind {
	case ewAccumulate:
		y, a := j.y[lo:hi], j.a[lo:hi]
		for i := range y {
			y[i] += a[i]
		}
	case ewQuantize:
		kernel.FakeQuantSlice(j.y[lo:hi], j.a[lo:hi], j.q)
	case ewBinary:
		binaryRange(j.op, j.a, j.b, j.y, lo, hi)
	case ewForward:
		j.k.forwardRange(j.a, j.y, lo, hi)
	default:
		j.k.backwardRange(j.a, j.b, j.c, j.y, lo, hi)
	}
}

// parallel runs job over [0, n) on the session's Team, in ranges of at
// least minChunk items.
func (st *state[T]) parallel(n, minChunk int, job ewJob[T]) {
	st.ew = job
	kernel.Parallel(st.sess.team, n, minChunk, &st.ew)
	st.ew = ewJob[T]{}
}

// team returns the session's Team.
func (st *state[T]) team() *kernel.Team { return st.sess.team }
