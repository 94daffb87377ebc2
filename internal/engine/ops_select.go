package engine

import (
	"fmt"
)

// compareStep is Greater, Less, GreaterOrEqual, LessOrEqual or Equal on
// activations, or And, Or or Xor of such booleans, with broadcasting: 1
// where the comparison holds, 0 where it does not (ONNX's booleans, held
// as numbers). It has no gradient.
type compareStep[T Float] struct {
	stepIO
	holds  func(u, v T) bool // the comparison, chosen when planned
	ia, ib []int             // per output, the element of each input it reads
}

func (s *compareStep[T]) forward(st *state[T]) {
	a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.out[0]]
	for i := range y {
		y[i] = 0
		if s.holds(a[s.ia[i]], b[s.ib[i]]) {
			y[i] = 1
		}
	}
}

func (s *compareStep[T]) backward(*state[T]) {}

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
	return &compareStep[T]{holds: holds, ia: broadcastIndex(c.shape(0), y), ib: broadcastIndex(c.shape(1), y)}, [][]int{y}, nil
}

// whereStep is Where on activations, with broadcasting: y = a where the
// condition is non-zero, b elsewhere (torch.where). The gradient of y goes
// to the input it was read from; the condition has none.
type whereStep[T Float] struct {
	stepIO
	ic, ia, ib []int
}

func (s *whereStep[T]) forward(st *state[T]) {
	c, a, b, y := st.data[s.in[0]], st.data[s.in[1]], st.data[s.in[2]], st.data[s.out[0]]
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
	return &whereStep[T]{ic: broadcastIndex(c.shape(0), y), ia: broadcastIndex(c.shape(1), y), ib: broadcastIndex(c.shape(2), y)}, [][]int{y}, nil
}
