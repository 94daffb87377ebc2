package engine

import (
	"fmt"
	"slices"

	"mpq/internal/graph"
)

// Transpose, Pad, Slice, Gather, Expand, Tile, DepthToSpace and
// SpaceToDepth move elements without arithmetic: they are planned
// as an index map (out[i] = in[map[i]], or a constant where map[i] < 0), and
// their backward pass scatters through the same map.

func transposeMap(x []int, perm64 []int64) ([]int, []int, error) {
	r := len(x)
	perm := make([]int, r)
	if perm64 == nil {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	} else {
		if len(perm64) != r {
			return nil, nil, fmt.Errorf("perm %v does not fit rank %d: %w", perm64, r, ErrShape)
		}
		seen := make([]bool, r)
		for i, p := range perm64 {
			if p < 0 || int(p) >= r || seen[p] {
				return nil, nil, fmt.Errorf("perm %v is not a permutation: %w", perm64, ErrShape)
			}
			seen[p] = true
			perm[i] = int(p)
		}
	}
	y := make([]int, r)
	for i, p := range perm {
		y[i] = x[p]
	}
	inStride := strides(x)
	m := make([]int, graph.NumElements(y))
	coord := make([]int, r)
	for i := range m {
		off := 0
		for d := 0; d < r; d++ {
			off += coord[d] * inStride[perm[d]]
		}
		m[i] = off
		advance(coord, y)
	}
	return m, y, nil
}

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

func advance(coord, shape []int) {
	for d := len(shape) - 1; d >= 0; d-- {
		coord[d]++
		if coord[d] < shape[d] {
			return
		}
		coord[d] = 0
	}
}

// sliceParams is a normalized Slice: per axis start, step and count.
type sliceParams struct {
	start, step, count []int
}

func sliceSpec(n *graph.Node, x []int, input func(int) *graph.Tensor) (*sliceParams, error) {
	var starts, ends, axes, steps []int64
	if a := n.AttrInts("starts"); a != nil { // opset < 10
		starts, ends, axes = a, n.AttrInts("ends"), n.AttrInts("axes")
	} else {
		for i, dst := range []*[]int64{&starts, &ends, &axes, &steps} {
			t := input(i + 1)
			if t == nil {
				if i < 2 && input(i+1) == nil {
					return nil, fmt.Errorf("Slice starts/ends computed from data are not supported")
				}
				continue
			}
			*dst = t.Ints()
		}
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("Slice starts %v and ends %v differ in length: %w", starts, ends, ErrShape)
	}
	r := len(x)
	sp := &sliceParams{start: make([]int, r), step: make([]int, r), count: slices.Clone(x)}
	for i := range sp.step {
		sp.step[i] = 1
	}
	for i := range starts {
		ax := i
		if axes != nil {
			a, err := normAxis(axes[i], r)
			if err != nil {
				return nil, err
			}
			ax = a
		}
		st := int64(1)
		if steps != nil {
			st = steps[i]
		}
		if st == 0 {
			return nil, fmt.Errorf("Slice step 0: %w", ErrShape)
		}
		dim := int64(x[ax])
		s, e := starts[i], ends[i]
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		if st > 0 {
			s, e = min(max(s, 0), dim), min(max(e, 0), dim)
		} else {
			s, e = min(max(s, 0), dim-1), min(max(e, -1), dim-1)
		}
		cnt := int64(0)
		if st > 0 && e > s {
			cnt = (e - s + st - 1) / st
		} else if st < 0 && s > e {
			cnt = (s - e - st - 1) / (-st)
		}
		sp.start[ax], sp.step[ax], sp.count[ax] = int(s), int(st), int(cnt)
	}
	return sp, nil
}

func (sp *sliceParams) indexMap(x []int) ([]int, []int) {
	y := slices.Clone(sp.count)
	st := strides(x)
	m := make([]int, graph.NumElements(y))
	coord := make([]int, len(y))
	for i := range m {
		off := 0
		for d := range y {
			off += (sp.start[d] + coord[d]*sp.step[d]) * st[d]
		}
		m[i] = off
		advance(coord, y)
	}
	return m, y
}

// padMap plans Pad in constant, reflect or edge mode; negative pads crop.
func padMap(x []int, pads []int64, mode string) ([]int, []int, error) {
	r := len(x)
	if len(pads) != 2*r {
		return nil, nil, fmt.Errorf("pads %v do not fit rank %d: %w", pads, r, ErrShape)
	}
	for _, p := range pads {
		if p < -maxElements || p > maxElements {
			return nil, nil, fmt.Errorf("pads %v are out of range: %w", pads, ErrShape)
		}
	}
	y := make([]int, r)
	for d := 0; d < r; d++ {
		y[d] = x[d] + int(pads[d]) + int(pads[d+r])
		if y[d] < 0 {
			return nil, nil, fmt.Errorf("pads %v crop %s below zero: %w", pads, graph.ShapeString(x), ErrShape)
		}
		if mode == "reflect" && (int(pads[d]) >= x[d] || int(pads[d+r]) >= x[d]) && (pads[d] > 0 || pads[d+r] > 0) {
			return nil, nil, fmt.Errorf("reflect pads %v must be smaller than %s: %w", pads, graph.ShapeString(x), ErrShape)
		}
	}
	if err := checkShape(y); err != nil {
		return nil, nil, err
	}
	st := strides(x)
	m := make([]int, graph.NumElements(y))
	coord := make([]int, r)
	for i := range m {
		off := 0
		for d := 0; d < r && off >= 0; d++ {
			c := coord[d] - int(pads[d])
			if c < 0 || c >= x[d] {
				switch mode {
				case "reflect":
					for c < 0 || c >= x[d] {
						if c < 0 {
							c = -c
						}
						if c >= x[d] {
							c = 2*(x[d]-1) - c
						}
					}
				case "edge":
					c = max(0, min(c, x[d]-1))
				default:
					off = -1
					continue
				}
			}
			off += c * st[d]
		}
		m[i] = off
		advance(coord, y)
	}
	return m, y, nil
}

// gatherIndexMap returns the index map and output shape of Gather along
// axis with constant indices of shape idxShape (negative ones count from
// the end): y's shape is x[:axis] ++ idxShape ++ x[axis+1:], as when
// PyTorch exports x[:, 0] (a scalar index) or x[:, [2, 0]].
func gatherIndexMap(x []int, axis int, idx []int64, idxShape []int) ([]int, []int, error) {
	dim := x[axis]
	pos := make([]int, len(idx))
	for k, v := range idx {
		if v < 0 {
			v += int64(dim)
		}
		if v < 0 || v >= int64(dim) {
			return nil, nil, fmt.Errorf("index %d is out of range for axis %d of %s: %w", idx[k], axis, graph.ShapeString(x), ErrShape)
		}
		pos[k] = int(v)
	}
	y := append(append(slices.Clone(x[:axis]), idxShape...), x[axis+1:]...)
	outer, inner := graph.NumElements(x[:axis]), graph.NumElements(x[axis+1:])
	m := make([]int, 0, outer*len(pos)*inner)
	for o := range outer {
		for _, p := range pos {
			base := (o*dim + p) * inner
			for i := range inner {
				m = append(m, base+i)
			}
		}
	}
	return m, y, nil
}

// mapStep runs an index map.
type mapStep[T Float] struct {
	stepIO
	m    []int
	runs []mapRun // m as runs, or nil (see runsOf)
	fill T
}

// mapRun is a stretch of an index map: the n outputs from dst copy the n
// consecutive inputs from src, or take the fill value when src < 0.
type mapRun struct{ dst, src, n int }

// runsOf returns index map m as runs, or nil when they would average
// fewer than 8 values (a Transpose, say), where the loop over values is as
// fast. The runs of a Pad or a Slice are whole rows, and a Pad of zeros
// (which PyTorch exports before some pooling) is one run.
func runsOf(m []int) []mapRun {
	var runs []mapRun
	for i := 0; i < len(m); {
		j := i + 1
		if m[i] < 0 {
			for j < len(m) && m[j] < 0 {
				j++
			}
		} else {
			for j < len(m) && m[j] == m[j-1]+1 {
				j++
			}
		}
		runs = append(runs, mapRun{i, m[i], j - i})
		if len(runs)*8 > j+64 {
			return nil
		}
		i = j
	}
	if len(runs)*8 > len(m) {
		return nil
	}
	return runs
}

func (s *mapStep[T]) forward(st *state[T]) { s.apply(st.data[s.in[0]], st.data[s.out[0]]) }

// apply sets y from x by the map.
func (s *mapStep[T]) apply(x, y []T) {
	if s.runs != nil {
		for _, r := range s.runs {
			out := y[r.dst : r.dst+r.n]
			if r.src < 0 {
				for i := range out {
					out[i] = s.fill
				}
				continue
			}
			copy(out, x[r.src:r.src+r.n])
		}
		return
	}
	for i, src := range s.m {
		if src >= 0 {
			y[i] = x[src]
		} else {
			y[i] = s.fill
		}
	}
}

func (s *mapStep[T]) backward(st *state[T]) {
	gx, gy := st.grad[s.in[0]], st.grad[s.out[0]]
	if gx == nil {
		return
	}
	for i, src := range s.m {
		if src >= 0 {
			gx[src] += gy[i]
		}
	}
}

func (c *compiler[T]) gatherMap() (stepper[T], [][]int, error) {
	n := c.node
	x := c.shape(0)
	var m, y []int
	var err error
	var fill T
	switch n.Op {
	case "Transpose":
		m, y, err = transposeMap(x, n.AttrInts("perm"))
	case "Slice":
		var sp *sliceParams
		sp, err = sliceSpec(n, x, c.constIn)
		if err == nil {
			m, y = sp.indexMap(x)
		}
	case "Expand":
		t := c.constIn(1)
		if t == nil {
			return nil, nil, fmt.Errorf("Expand to a shape computed from data is not supported")
		}
		target := make([]int, 0, t.Len())
		for _, d := range t.Ints() {
			target = append(target, int(d))
		}
		if y, err = broadcastShape(x, target); err == nil {
			m = broadcastIndex(x, y)
		}
	case "Gather":
		t := c.constIn(1)
		if t == nil {
			return nil, nil, fmt.Errorf("Gather with indices computed from data is not supported")
		}
		var axis int
		if axis, err = normAxis(n.AttrInt("axis", 0), len(x)); err == nil {
			m, y, err = gatherIndexMap(x, axis, t.Ints(), t.Shape)
		}
	case "Tile":
		t := c.constIn(1)
		if t == nil {
			return nil, nil, fmt.Errorf("Tile with repeats computed from data is not supported")
		}
		m, y, err = tileMap(x, t.Ints())
	case "DepthToSpace", "SpaceToDepth":
		m, y, err = depthSpaceMap(n.Op, x, n.AttrInt("blocksize", 0), n.AttrString("mode", "DCR"))
	case "Pad":
		mode := n.AttrString("mode", "constant")
		if mode != "constant" && mode != "reflect" && mode != "edge" {
			return nil, nil, fmt.Errorf("Pad mode %q is not supported (constant, reflect, edge)", mode)
		}
		pads := n.AttrInts("pads")
		if pads == nil {
			t := c.constIn(1)
			if t == nil {
				return nil, nil, fmt.Errorf("Pad pads must be constant")
			}
			pads = t.Ints()
		}
		if a := c.constIn(3); a != nil { // opset 18 axes
			axes := a.Ints()
			full := make([]int64, 2*len(x))
			for i, ax := range axes {
				d, err := normAxis(ax, len(x))
				if err != nil {
					return nil, nil, err
				}
				full[d], full[d+len(x)] = pads[i], pads[i+len(axes)]
			}
			pads = full
		}
		if v := n.AttrFloat("value", 0); v != 0 {
			fill = T(v)
		}
		if t := c.constIn(2); t != nil && len(t.Floats()) > 0 {
			fill = T(t.Floats()[0])
		}
		m, y, err = padMap(x, pads, mode)
	}
	if err != nil {
		return nil, nil, err
	}
	return &mapStep[T]{m: m, runs: runsOf(m), fill: fill}, [][]int{y}, nil
}

// tileMap is Tile: x repeated repeats[d] times along each axis d.
func tileMap(x []int, repeats []int64) ([]int, []int, error) {
	if len(repeats) != len(x) {
		return nil, nil, fmt.Errorf("Tile repeats %v do not fit rank %d: %w", repeats, len(x), ErrShape)
	}
	y := make([]int, len(x))
	for d, r := range repeats {
		if r < 0 || r > 1<<20 {
			return nil, nil, fmt.Errorf("Tile repeats %v: want non-negative counts: %w", repeats, ErrShape)
		}
		y[d] = x[d] * int(r)
	}
	if err := checkShape(y); err != nil {
		return nil, nil, fmt.Errorf("Tile: %w", err)
	}
	in := strides(x)
	m := make([]int, graph.NumElements(y))
	coord := make([]int, len(y))
	for i := range m {
		off := 0
		for d, c := range coord {
			off += (c % x[d]) * in[d]
		}
		m[i] = off
		advance(coord, y)
	}
	return m, y, nil
}

// depthSpaceMap is DepthToSpace (nn.PixelShuffle exports mode CRD; DCR is
// the default) or SpaceToDepth on an N×C×H×W input with block size b:
// each is a reshape to six dimensions, a transpose and a reshape back, so
// its index map is the transpose's over the six-dimensional view.
func depthSpaceMap(op string, x []int, b64 int64, mode string) ([]int, []int, error) {
	if len(x) != 4 {
		return nil, nil, fmt.Errorf("%s needs an N×C×H×W input, not %s: %w", op, graph.ShapeString(x), ErrShape)
	}
	if b64 < 1 || b64 > 1<<10 {
		return nil, nil, fmt.Errorf("%s blocksize %d: want a positive block size: %w", op, b64, ErrShape)
	}
	n, c, h, w, b := x[0], x[1], x[2], x[3], int(b64)
	var view []int
	var perm []int64
	var y []int
	switch {
	case op == "SpaceToDepth":
		if h%b != 0 || w%b != 0 {
			return nil, nil, fmt.Errorf("SpaceToDepth of %s: height and width must be multiples of the block size %d: %w", graph.ShapeString(x), b, ErrShape)
		}
		view, perm = []int{n, c, h / b, b, w / b, b}, []int64{0, 3, 5, 1, 2, 4}
		y = []int{n, c * b * b, h / b, w / b}
	case c%(b*b) != 0:
		return nil, nil, fmt.Errorf("DepthToSpace of %s: the channels must be a multiple of the block size %d squared: %w", graph.ShapeString(x), b, ErrShape)
	case mode == "DCR":
		view, perm = []int{n, b, b, c / (b * b), h, w}, []int64{0, 3, 4, 1, 5, 2}
		y = []int{n, c / (b * b), h * b, w * b}
	case mode == "CRD":
		view, perm = []int{n, c / (b * b), b, b, h, w}, []int64{0, 1, 4, 2, 5, 3}
		y = []int{n, c / (b * b), h * b, w * b}
	default:
		return nil, nil, fmt.Errorf("DepthToSpace mode %q is not supported (DCR, CRD)", mode)
	}
	m, _, err := transposeMap(view, perm)
	if err != nil {
		return nil, nil, err
	}
	return m, y, nil
}
