package engine

import (
	"fmt"
	"slices"
	"strings"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

func (s *einsumStep[T]) setLayer(l int) { s.layer = l }

// einsumLinear reports whether an Einsum of two operands, the second a
// weight of rank wrank, is a linear layer of its first: the weight's two
// letters are one the first operand has and the output lacks (summed
// over: the layer's inputs) and one the output has and the first operand
// lacks (the layer's output channels), as in '...d,de->...e' or
// 'bid,ed->bie'. It returns the weight axis of the output channels.
func einsumLinear(eq string, operands, wrank int) (int, bool) {
	if operands != 2 || wrank != 2 {
		return 0, false
	}
	terms, out, err := parseEinsum(eq, []int{-1, wrank})
	if err != nil || len(terms[1]) != 2 {
		return 0, false
	}
	in := func(t einsumTerm, r rune) bool { return slices.Contains(t, r) }
	channel := -1
	contracted := 0
	for i, r := range terms[1] {
		switch {
		case in(terms[0], r) && !in(out, r):
			contracted++
		case !in(terms[0], r) && in(out, r):
			channel = i
		}
	}
	return channel, channel >= 0 && contracted == 1
}

// einsumStep is Einsum with one or two operands, planned as a batched
// matrix product: each operand is gathered (an index map) into a
// batch × rows × inner matrix (the second: batch × inner × columns), the
// product computed per batch, and its result gathered into the output's
// order. Letters of one operand that are neither in the other nor in the
// output join the inner dimension with the other operand broadcast along
// them (they are summed, as Einsum says); with one operand the other is
// a column of ones (a sum over the inner letters).
type einsumStep[T Float] struct {
	stepIO
	bt, m, k, n int
	// layer is the quantizable layer this Einsum is (einsumLinear), -1
	// if none: its first operand is fake-quantized (into qa) first.
	layer      int
	qa         []T
	mapA, mapB []int // gather maps into the operands; mapB nil for one operand
	mapY       []int // y[i] = prod[mapY[i]]
	// idA, idB and idY are set where the map is the identity: the
	// operand (or the output) is used in place, without a copy.
	idA, idB, idY bool
	a2, b2, y2    []T
	gy2, ga, gb   []T
}

func (s *einsumStep[T]) forward(st *state[T]) {
	a, y := st.data[s.in[0]], st.data[s.out[0]]
	if q := st.inQuant(s.layer); q != nil {
		s.qa = grow(s.qa, len(a))
		st.parallel(len(a), 1<<14, ewJob[T]{kind: ewQuantize, q: q, a: a, y: s.qa})
		a = s.qa
	}
	if s.idA {
		s.a2 = a
	} else {
		s.a2 = gatherInto(s.a2, a, s.mapA)
	}
	if s.mapB != nil {
		if s.idB {
			s.b2 = st.data[s.in[1]]
		} else {
			s.b2 = gatherInto(s.b2, st.data[s.in[1]], s.mapB)
		}
	} else if s.b2 == nil {
		s.b2 = make([]T, s.k)
		for i := range s.b2 {
			s.b2[i] = 1
		}
	}
	if s.idY {
		s.y2 = y
	} else {
		s.y2 = grow(s.y2, s.bt*s.m*s.n)
	}
	mk, kn, mn := s.m*s.k, s.k*s.n, s.m*s.n
	for b := range s.bt {
		kernel.Gemm(st.team(), false, false, s.m, s.n, s.k, 1, s.a2[b*mk:(b+1)*mk], s.k, s.bBatch(b, kn), s.n, 0, s.y2[b*mn:(b+1)*mn], s.n)
	}
	if !s.idY {
		for i, src := range s.mapY {
			y[i] = s.y2[src]
		}
	}
}

// bBatch is batch b of the second matrix.
func (s *einsumStep[T]) bBatch(b, kn int) []T {
	if s.mapB == nil {
		return s.b2
	}
	return s.b2[b*kn : (b+1)*kn]
}

func (s *einsumStep[T]) backward(st *state[T]) {
	gA := st.grad[s.in[0]]
	var gB []T
	if s.mapB != nil {
		gB = st.grad[s.in[1]]
	}
	if gA == nil && gB == nil {
		return
	}
	gy := st.grad[s.out[0]]
	if s.idY {
		s.gy2 = gy
	} else {
		s.gy2 = grow(s.gy2, s.bt*s.m*s.n)
		for i, dst := range s.mapY {
			s.gy2[dst] = gy[i]
		}
	}
	mk, kn, mn := s.m*s.k, s.k*s.n, s.m*s.n
	if gA != nil {
		// Where the gather is the identity, the product's gradient adds
		// straight into gA; elsewhere it goes through scratch and the map.
		dst, beta := gA, T(1)
		if !s.idA {
			s.ga = grow(s.ga, len(s.a2))
			dst, beta = s.ga, 0
		}
		for b := range s.bt {
			kernel.Gemm(st.team(), false, true, s.m, s.k, s.n, 1, s.gy2[b*mn:(b+1)*mn], s.n, s.bBatch(b, kn), s.n, beta, dst[b*mk:(b+1)*mk], s.k)
		}
		if !s.idA {
			scatterAdd(gA, s.ga, s.mapA)
		}
	}
	if gB != nil {
		dst, beta := gB, T(1)
		if !s.idB {
			s.gb = grow(s.gb, len(s.b2))
			dst, beta = s.gb, 0
		}
		for b := range s.bt {
			kernel.Gemm(st.team(), true, false, s.k, s.n, s.m, 1, s.a2[b*mk:(b+1)*mk], s.k, s.gy2[b*mn:(b+1)*mn], s.n, beta, dst[b*kn:(b+1)*kn], s.n)
		}
		if !s.idB {
			scatterAdd(gB, s.gb, s.mapB)
		}
	}
}

// scatterAdd adds src[i] to dst[m[i]] for every i (the adjoint of a
// gather through m).
func scatterAdd[T Float](dst, src []T, m []int) {
	for i, j := range m {
		dst[j] += src[i]
	}
}

func gatherInto[T Float](dst, src []T, m []int) []T {
	dst = grow(dst, len(m))
	for i, j := range m {
		dst[i] = src[j]
	}
	return dst
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// einsumTerm is one operand's (or the output's) subscripts, with an
// ellipsis expanded to letters of its own.
type einsumTerm []rune

// parseEinsum splits an equation into its operand terms and the output
// term (the implicit output when there is no "->": the ellipsis, then the
// letters used once, in alphabetical order), expanding "..." in a term of
// rank r to the r − (explicit letters) dimensions it stands for, aligned
// from the right across operands as numpy broadcasts them.
func parseEinsum(eq string, ranks []int) ([]einsumTerm, einsumTerm, error) {
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	parts := strings.Split(lhs, ",")
	if len(parts) != len(ranks) {
		return nil, nil, fmt.Errorf("Einsum equation %q names %d operands, the node has %d", eq, len(parts), len(ranks))
	}
	// Ellipsis dimensions get the runes '0', '1', ... counted from the right.
	ell := 0
	expand := func(p string, rank int) (einsumTerm, error) {
		before, after, has := strings.Cut(p, "...")
		for _, r := range before + after {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return nil, fmt.Errorf("Einsum equation %q: subscript %q is not a letter", eq, r)
			}
		}
		if !has {
			if rank >= 0 && len(p) != rank {
				return nil, fmt.Errorf("Einsum equation %q: term %q has %d subscripts for an operand of rank %d: %w", eq, p, len(p), rank, ErrShape)
			}
			return einsumTerm(p), nil
		}
		n := rank - len(before) - len(after)
		if rank < 0 {
			n = ell
		}
		if n < 0 {
			return nil, fmt.Errorf("Einsum equation %q: term %q has more subscripts than its operand's rank %d: %w", eq, p, rank, ErrShape)
		}
		ell = max(ell, n)
		t := einsumTerm(before)
		for i := n - 1; i >= 0; i-- {
			t = append(t, rune('0'+i))
		}
		return append(t, einsumTerm(after)...), nil
	}
	terms := make([]einsumTerm, len(parts))
	for i, p := range parts {
		t, err := expand(p, ranks[i])
		if err != nil {
			return nil, nil, err
		}
		terms[i] = t
	}
	var out einsumTerm
	if explicit {
		t, err := expand(rhs, -1)
		if err != nil {
			return nil, nil, err
		}
		out = t
	} else {
		count := map[rune]int{}
		for _, t := range terms {
			for _, r := range t {
				count[r]++
			}
		}
		for i := ell - 1; i >= 0; i-- {
			out = append(out, rune('0'+i))
		}
		var once []rune
		for r, c := range count {
			if c == 1 && !(r >= '0' && r <= '9') {
				once = append(once, r)
			}
		}
		slices.Sort(once)
		out = append(out, once...)
	}
	return terms, out, nil
}

// einsum plans Einsum with one or two operands. A letter repeated within
// one term (a diagonal) is not supported.
func (c *compiler[T]) einsum() (stepper[T], [][]int, error) {
	n := c.node
	if len(c.ins) < 1 || len(c.ins) > 2 || (len(c.ins) == 2 && !c.has(1)) {
		return nil, nil, fmt.Errorf("Einsum with %d operands is not supported (one or two)", len(c.ins))
	}
	shapes := [][]int{c.shape(0)}
	if len(c.ins) == 2 {
		shapes = append(shapes, c.shape(1))
	}
	ranks := make([]int, len(shapes))
	for i, s := range shapes {
		ranks[i] = len(s)
	}
	eq := n.AttrString("equation", "")
	terms, out, err := parseEinsum(eq, ranks)
	if err != nil {
		return nil, nil, err
	}
	size := map[rune]int{}
	for i, t := range append(slices.Clone(terms), out) {
		seen := map[rune]bool{}
		for j, r := range t {
			if seen[r] {
				return nil, nil, fmt.Errorf("Einsum equation %q: %q appears twice in one term (a diagonal), which is not supported", eq, r)
			}
			seen[r] = true
			if i == len(terms) {
				if _, ok := size[r]; !ok {
					return nil, nil, fmt.Errorf("Einsum equation %q: output subscript %q is in no operand", eq, r)
				}
				continue
			}
			d := shapes[i][j]
			if old, ok := size[r]; ok && old != d && old != 1 && d != 1 {
				return nil, nil, fmt.Errorf("Einsum equation %q: %q is %d in one operand and %d in another: %w", eq, r, old, d, ErrShape)
			}
			size[r] = max(size[r], d)
		}
	}
	// Letters of the output: batch (in both operands), rows (first only),
	// columns (second only). Letters not in the output: the inner product.
	var bat, rows, cols, inner []rune
	in := func(t einsumTerm, r rune) bool { return slices.Contains(t, r) }
	two := len(terms) == 2
	for _, r := range out {
		switch {
		case in(terms[0], r) && two && in(terms[1], r):
			bat = append(bat, r)
		case in(terms[0], r):
			rows = append(rows, r)
		default:
			cols = append(cols, r)
		}
	}
	for _, t := range terms {
		for _, r := range t {
			if !in(out, r) && !slices.Contains(inner, r) {
				inner = append(inner, r)
			}
		}
	}
	prod := func(rs []rune) int {
		p := 1
		for _, r := range rs {
			p *= size[r]
		}
		return p
	}
	for _, g := range [][]rune{slices.Concat(bat, rows, inner), slices.Concat(bat, inner, cols), slices.Concat(bat, rows, cols)} {
		dims := make([]int, len(g))
		for i, r := range g {
			dims[i] = size[r]
		}
		if err := checkShape(dims); err != nil {
			return nil, nil, fmt.Errorf("Einsum %q on %v: its matrices are too large to plan: %w", eq, shapes, err)
		}
	}
	s := &einsumStep[T]{bt: prod(bat), m: prod(rows), k: prod(inner), n: prod(cols), layer: -1}
	s.mapA = einsumMap(terms[0], shapes[0], size, bat, rows, inner)
	if two {
		s.mapB = einsumMap(terms[1], shapes[1], size, bat, inner, cols)
	}
	y := make([]int, len(out))
	for i, r := range out {
		y[i] = size[r]
	}
	// The product's layout is bat, rows, cols; the output's is out.
	s.mapY = einsumMap(einsumTerm(slices.Concat(bat, rows, cols)), nil, size, out)
	isID := func(m []int, n int) bool {
		if len(m) != n {
			return false
		}
		for i, v := range m {
			if v != i {
				return false
			}
		}
		return true
	}
	s.idA = isID(s.mapA, graph.NumElements(shapes[0]))
	s.idB = two && isID(s.mapB, graph.NumElements(shapes[1]))
	s.idY = isID(s.mapY, graph.NumElements(y))
	return s, [][]int{y}, nil
}

// einsumMap returns, for every element of the matrix whose dimensions are
// the letters of groups in order (each group one dimension, its letters
// row-major), the offset of the element of the operand (term, shape) it
// reads. A letter the operand lacks, or has at size 1, does not move the
// offset (broadcast). With shape nil, the operand's dimensions are the
// term's letters at their full sizes.
func einsumMap(term einsumTerm, shape []int, size map[rune]int, groups ...[]rune) []int {
	if shape == nil {
		shape = make([]int, len(term))
		for i, r := range term {
			shape[i] = size[r]
		}
	}
	st := strides(shape)
	var letters []rune
	for _, g := range groups {
		letters = append(letters, g...)
	}
	dims := make([]int, len(letters))
	step := make([]int, len(letters))
	for i, r := range letters {
		dims[i] = size[r]
		if j := slices.Index(term, r); j >= 0 && shape[j] != 1 {
			step[i] = st[j]
		}
	}
	m := make([]int, graph.NumElements(dims))
	coord := make([]int, len(dims))
	for i := range m {
		off := 0
		for d, c := range coord {
			off += c * step[d]
		}
		m[i] = off
		advance(coord, dims)
	}
	return m
}
