package engine

import "mpq/internal/kernel"

// The kinds of ewJob.
const (
	ewAccumulate = iota // y += a
	ewQuantize          // y = q(a)
	ewBinary            // y = a op b
	ewUnary             // y = f(a)
	ewUnaryGrad         // y += c·f'(a), with b = f(a)
)

// ewJob is an elementwise loop split over the session's Team. It lives in
// the state (state.ew) and is handed to the Team as a pointer, so that a
// loop allocates nothing where a closure would escape to the heap.
type ewJob[T Float] struct {
	kind       int
	op         byte
	unary      *unaryStep[T]
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
		y, a := j.y[lo:hi], j.a[lo:hi]
		for i := range y {
			y[i] = j.q.Apply(a[i])
		}
	case ewBinary:
		binaryRange(j.op, j.a, j.b, j.y, lo, hi)
	case ewUnary:
		j.unary.forwardRange(j.a, j.y, lo, hi)
	default:
		j.unary.backwardRange(j.a, j.b, j.c, j.y, lo, hi)
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
