package engine

import (
	"fmt"

	"mpq/internal/graph"
)

// A layer's suffix is the part of the program that its weight reaches: the
// steps with an input that depends on the weight, and the per-batch values
// that those steps read from the rest of the graph (its frontier). While
// only that weight changes, everything outside the suffix computes the same
// values batch after batch, so a caller that keeps the frontier of each
// batch (Frontier) can rerun the suffix alone (ForwardSuffix). A
// Hessian-vector product of one layer's block by central differences
// changes one weight a few hundred times over the same subset: the layers
// before it need to run once.
type suffix struct {
	steps    []int // ascending step indices
	frontier []int // alias roots, ascending by first use
	sizes    []int // element counts of the frontier values
	// dep[v] is true for the values the weight reaches (itself included):
	// the only gradients BackwardLayer needs.
	dep []bool
}

// suffixOf returns layer l's suffix, planned on first use (nil when no
// step computes layer l).
func (p *program[T]) suffixOf(l int) *suffix {
	if sf, ok := p.suffixes[l]; ok {
		return sf
	}
	if p.suffixes == nil {
		p.suffixes = map[int]*suffix{}
	}
	if l < 0 || l >= len(p.layerStep) || p.layerStep[l] < 0 {
		p.suffixes[l] = nil
		return nil
	}
	root := func(v int) int { return p.alias[v] }
	perBatch := make([]bool, len(p.names)) // the input and every step output
	perBatch[root(p.input)] = true
	for _, outs := range p.stepOuts {
		for _, o := range outs {
			if o >= 0 {
				perBatch[root(o)] = true
			}
		}
	}
	dep := make([]bool, len(p.names))
	dep[root(p.layerW[l])] = true
	sf := &suffix{}
	for i, ins := range p.stepIns {
		reached := false
		for _, v := range ins {
			if v >= 0 && dep[root(v)] {
				reached = true
				break
			}
		}
		if !reached {
			continue
		}
		sf.steps = append(sf.steps, i)
		for _, o := range p.stepOuts[i] {
			if o >= 0 {
				dep[root(o)] = true
			}
		}
	}
	sf.dep = make([]bool, len(p.names))
	for v := range sf.dep {
		sf.dep[v] = dep[root(v)]
	}
	seen := make([]bool, len(p.names))
	for _, i := range sf.steps {
		for _, v := range p.stepIns[i] {
			if v < 0 {
				continue
			}
			r := root(v)
			if dep[r] || !perBatch[r] || seen[r] {
				continue
			}
			seen[r] = true
			sf.frontier = append(sf.frontier, r)
			sf.sizes = append(sf.sizes, graph.NumElements(p.shapes[r]))
		}
	}
	p.suffixes[l] = sf
	return sf
}

// FrontierSize returns the number of values (per sample) that Frontier
// keeps for layer l, or 0 when layer l has no suffix. It plans batch size
// 1 if no batch has run yet.
func (s *Session[T]) FrontierSize(l int) (int, error) {
	if s.inference {
		return 0, errInference("FrontierSize")
	}
	st, err := s.state(1)
	if err != nil {
		return 0, err
	}
	sf := st.p.suffixOf(l)
	if sf == nil {
		return 0, nil
	}
	n := 0
	for _, k := range sf.sizes {
		n += k
	}
	return n, nil
}

// Frontier copies the values that layer l's suffix reads from the rest of
// the graph, as the last Forward left them, into dst (reused when its
// shapes fit) and returns it; ForwardSuffix restores them. It returns nil
// when no step computes layer l.
func (s *Session[T]) Frontier(l int, dst [][]T) ([][]T, error) {
	if s.inference {
		return nil, errInference("Frontier")
	}
	st := s.last
	if st == nil {
		return nil, fmt.Errorf("engine: Frontier before Forward")
	}
	sf := st.p.suffixOf(l)
	if sf == nil {
		return nil, nil
	}
	if len(dst) != len(sf.frontier) {
		dst = make([][]T, len(sf.frontier))
	}
	for k, v := range sf.frontier {
		src := st.data[v]
		if len(dst[k]) != len(src) {
			dst[k] = make([]T, len(src))
		}
		copy(dst[k], src)
	}
	return dst, nil
}

// ForwardSuffix is Forward for a batch of n samples whose frontier for
// layer l (see Frontier) is saved: it restores those values and runs only
// the steps that layer l's weight reaches. The result is the one Forward
// would give as long as only layer l's weight differs from when saved was
// taken. A BackwardLayer(labels, l) may follow.
func (s *Session[T]) ForwardSuffix(l, n int, saved [][]T) ([]T, error) {
	if s.inference {
		return nil, errInference("ForwardSuffix")
	}
	if n < 1 {
		return nil, fmt.Errorf("engine: batch size %d: want at least 1", n)
	}
	st, err := s.state(n)
	if err != nil {
		return nil, err
	}
	sf := st.p.suffixOf(l)
	if sf == nil {
		return nil, fmt.Errorf("engine: layer %d has no step to rerun", l)
	}
	if len(saved) != len(sf.frontier) {
		return nil, fmt.Errorf("engine: %d saved values for layer %d's frontier of %d", len(saved), l, len(sf.frontier))
	}
	for k, v := range sf.frontier {
		if len(saved[k]) != len(st.data[v]) {
			return nil, fmt.Errorf("engine: saved value %q has %d elements, want %d: %w", st.p.names[v], len(saved[k]), len(st.data[v]), ErrShape)
		}
		copy(st.data[v], saved[k])
	}
	clear(st.intRan)
	for _, i := range sf.steps {
		st.p.steps[i].forward(st)
	}
	s.last = st
	return st.data[st.p.output], nil
}

// suffixGrad returns the gradient buffers of layer l's suffix backward
// pass: st.grad's, with nil for every value that layer l's weight does not
// reach. The steps skip the gradients they would write there (an input's
// gradient, other layers' weight gradients), which the layer's gradient
// does not depend on.
func (st *state[T]) suffixGrad(l int, sf *suffix) [][]T {
	if g, ok := st.sgrad[l]; ok {
		return g
	}
	if st.sgrad == nil {
		st.sgrad = map[int][][]T{}
	}
	g := make([][]T, len(st.grad))
	for v, d := range sf.dep {
		if d {
			g[v] = st.grad[v]
		}
	}
	st.sgrad[l] = g
	return g
}
