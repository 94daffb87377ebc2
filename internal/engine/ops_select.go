package engine

import (
	"fmt"

	"mpq/internal/graph"
)

// compareStep is Greater, Less, GreaterOrEqual, LessOrEqual or Equal on
// activations, or And, Or or Xor of such booleans, with broadcasting: 1
// where the comparison holds, 0 where it does not (ONNX's booleans, held
// as numbers). It has no gradient.
type compareStep[T Float] struct {
	stepIO
	holds  func(u, v T) bool // the comparison, chosen when planned
	ia, ib []int             // per output, the element of each input it reads
	// op is the node's op; direct is set where a is read in order and b
	// is one value (h > 0, h >= 1), which a loop without the index
	// tables and the call through holds computes for the ordered
	// comparisons.
	op     string
	direct bool
}

func (s *compareStep[T]) forward(st *state[T]) {
	a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.out[0]]
	if s.direct && compareScalar(s.op, y, a[:len(y)], b[0]) {
		return
	}
	for i := range y {
		y[i] = 0
		if s.holds(a[s.ia[i]], b[s.ib[i]]) {
			y[i] = 1
		}
	}
}

func (s *compareStep[T]) backward(*state[T]) {}

// compareScalar sets y[i] to 1 where a[i] op v holds, 0 elsewhere, for
// the ordered comparisons, and reports whether op is one.
func compareScalar[T Float](op string, y, a []T, v T) bool {
	switch op {
	case "Greater":
		for i, u := range a {
			y[i] = boolValue[T](u > v)
		}
	case "GreaterOrEqual":
		for i, u := range a {
			y[i] = boolValue[T](u >= v)
		}
	case "Less":
		for i, u := range a {
			y[i] = boolValue[T](u < v)
		}
	case "LessOrEqual":
		for i, u := range a {
			y[i] = boolValue[T](u <= v)
		}
	default:
		return false
	}
	return true
}

// boolValue is 1 for true, 0 for false.
func boolValue[T Float](b bool) T {
	if b {
		return 1
	}
	return 0
}

// inOrder reports whether idx reads its input in order (idx[i] = i).
func inOrder(idx []int) bool {
	for i, j := range idx {
		if i != j {
			return false
		}
	}
	return true
}

// compare plans a comparison of two activations (or an activation and a
// constant); comparisons of constants are folded before.
func (c *compiler[T]) compare() (stepper[T], [][]int, error) {
	if !c.has(1) || len(c.ins) != 2 {
		return nil, nil, fmt.Errorf("%s needs two inputs", c.node.Op)
	}
	y, err := broadcastShape(c.shape(0), c.shape(1))
	if err != nil {
		return nil, nil, err
	}
	holds := map[string]func(u, v T) bool{
		"Greater":        func(u, v T) bool { return u > v },
		"Less":           func(u, v T) bool { return u < v },
		"GreaterOrEqual": func(u, v T) bool { return u >= v },
		"LessOrEqual":    func(u, v T) bool { return u <= v },
		"Equal":          func(u, v T) bool { return u == v },
		"And":            func(u, v T) bool { return u != 0 && v != 0 },
		"Or":             func(u, v T) bool { return u != 0 || v != 0 },
		"Xor":            func(u, v T) bool { return (u != 0) != (v != 0) },
	}[c.node.Op]
	st := &compareStep[T]{holds: holds, ia: broadcastIndex(c.shape(0), y), ib: broadcastIndex(c.shape(1), y), op: c.node.Op}
	st.direct = inOrder(st.ia) && graph.NumElements(c.shape(1)) == 1
	return st, [][]int{y}, nil
}

// whereStep is Where on activations, with broadcasting: y = a where the
// condition is non-zero, b elsewhere (torch.where). The gradient of y goes
// to the input it was read from; the condition has none.
type whereStep[T Float] struct {
	stepIO
	ic, ia, ib []int
	inOrder    bool // all three inputs read in order (the same shape as y)
}

func (s *whereStep[T]) forward(st *state[T]) {
	c, a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.in[2]], st.data[s.out[0]]
	if s.inOrder {
		c, a, b = c[:len(y)], a[:len(y)], b[:len(y)]
		for i, v := range c {
			if v != 0 {
				y[i] = a[i]
			} else {
				y[i] = b[i]
			}
		}
		return
	}
	for i := range y {
		if c[s.ic[i]] != 0 {
			y[i] = a[s.ia[i]]
		} else {
			y[i] = b[s.ib[i]]
		}
	}
}

func (s *whereStep[T]) backward(st *state[T]) {
	c, gy := st.data[s.in[0]], st.grad[s.out[0]]
	ga, gb := st.grad[s.in[1]], st.grad[s.in[2]]
	for i, g := range gy {
		switch {
		case c[s.ic[i]] != 0:
			if ga != nil {
				ga[s.ia[i]] += g
			}
		case gb != nil:
			gb[s.ib[i]] += g
		}
	}
}

// where plans Where whose inputs are not all constants.
func (c *compiler[T]) where() (stepper[T], [][]int, error) {
	if len(c.ins) != 3 || !c.has(1) || !c.has(2) {
		return nil, nil, fmt.Errorf("Where needs three inputs")
	}
	y, err := broadcastShape(c.shape(0), c.shape(1))
	if err == nil {
		y, err = broadcastShape(y, c.shape(2))
	}
	if err != nil {
		return nil, nil, err
	}
	st := &whereStep[T]{ic: broadcastIndex(c.shape(0), y), ia: broadcastIndex(c.shape(1), y), ib: broadcastIndex(c.shape(2), y)}
	st.inOrder = inOrder(st.ic) && inOrder(st.ia) && inOrder(st.ib)
	return st, [][]int{y}, nil
}
