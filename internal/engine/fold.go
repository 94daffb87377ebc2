package engine

import (
	"fmt"
	"math"
	"slices"

	"mpq/internal/graph"
)

// shapeOf folds a Shape node (with opset 15's start/end) into an int64 tensor.
func shapeOf(n *graph.Node, x []int) *graph.Tensor {
	r := len(x)
	start, end := int(n.AttrInt("start", 0)), int(n.AttrInt("end", int64(r)))
	start, end = clampAxis(start, r), clampAxis(end, r)
	vals := []int64{}
	for i := start; i < end; i++ {
		vals = append(vals, int64(x[i]))
	}
	return &graph.Tensor{DType: graph.Int64, Shape: []int{len(vals)}, Int: vals}
}

func clampAxis(a, r int) int {
	if a < 0 {
		a += r
	}
	return max(0, min(a, r))
}

func normAxis(a int64, r int) (int, error) {
	ax := int(a)
	if ax < 0 {
		ax += r
	}
	if ax < 0 || ax >= r {
		return 0, fmt.Errorf("axis %d out of range for rank %d: %w", a, r, ErrShape)
	}
	return ax, nil
}

// reshapeTo applies ONNX Reshape's rules (0 copies a dimension unless
// allowzero, -1 infers one).
func reshapeTo(x []int, spec []int64, allowZero bool) ([]int, error) {
	y := make([]int, len(spec))
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("reshape to %v has two -1 dimensions: %w", spec, ErrShape)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(x) {
				return nil, fmt.Errorf("reshape to %v copies dimension %d of %s, which does not exist: %w", spec, i, graph.ShapeString(x), ErrShape)
			}
			y[i] = x[i]
		case d < 0:
			return nil, fmt.Errorf("reshape to %v has a negative dimension: %w", spec, ErrShape)
		default:
			y[i] = int(d)
		}
		known *= y[i]
	}
	total := graph.NumElements(x)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %s (%d elements) to %v: %w", graph.ShapeString(x), total, spec, ErrShape)
		}
		y[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %s (%d elements) to %v (%d elements): %w", graph.ShapeString(x), total, spec, known, ErrShape)
	}
	return y, nil
}

func squeezeShape(x []int, axes []int64) ([]int, error) {
	drop := map[int]bool{}
	for _, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return nil, err
		}
		if x[ax] != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of %s: %w", a, graph.ShapeString(x), ErrShape)
		}
		drop[ax] = true
	}
	var y []int
	for i, d := range x {
		if (len(axes) == 0 && d == 1) || drop[i] {
			continue
		}
		y = append(y, d)
	}
	if y == nil {
		y = []int{}
	}
	return y, nil
}

func unsqueezeShape(x []int, axes []int64) ([]int, error) {
	r := len(x) + len(axes)
	ins := map[int]bool{}
	for _, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		ins[ax] = true
	}
	y := make([]int, 0, r)
	j := 0
	for i := 0; i < r; i++ {
		if ins[i] {
			y = append(y, 1)
		} else {
			if j >= len(x) {
				return nil, fmt.Errorf("unsqueeze axes %v do not fit %s: %w", axes, graph.ShapeString(x), ErrShape)
			}
			y = append(y, x[j])
			j++
		}
	}
	return y, nil
}

// foldConst evaluates a node whose inputs are all known at plan time. It
// reports ok=false for ops it does not fold (they are then run per batch).
func foldConst(n *graph.Node, in []*graph.Tensor, opset int64) (*graph.Tensor, bool, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, false, nil
	}
	x := in[0]
	switch n.Op {
	case "Identity", "Dropout":
		return x.Clone(), true, nil
	case "Cast":
		to := graph.DType(n.AttrInt("to", 1))
		t := &graph.Tensor{DType: to, Shape: slices.Clone(x.Shape)}
		if to.IsFloat() {
			t.Float = slices.Clone(x.Floats())
		} else {
			t.Int = slices.Clone(x.Ints())
		}
		return t, true, nil
	case "Unsqueeze", "Squeeze":
		axes := n.AttrInts("axes")
		if axes == nil && len(in) > 1 && in[1] != nil {
			axes = in[1].Ints()
		}
		var sh []int
		var err error
		if n.Op == "Squeeze" {
			sh, err = squeezeShape(x.Shape, axes)
		} else {
			sh, err = unsqueezeShape(x.Shape, axes)
		}
		if err != nil {
			return nil, false, err
		}
		t := x.Clone()
		t.Shape = sh
		return t, true, nil
	case "Reshape":
		if len(in) < 2 || in[1] == nil {
			return nil, false, nil
		}
		sh, err := reshapeTo(x.Shape, in[1].Ints(), n.AttrInt("allowzero", 0) != 0)
		if err != nil {
			return nil, false, err
		}
		t := x.Clone()
		t.Shape = sh
		return t, true, nil
	case "Flatten":
		axis := int(n.AttrInt("axis", 1))
		if axis < 0 {
			axis += len(x.Shape)
		}
		if axis < 0 || axis > len(x.Shape) {
			return nil, false, fmt.Errorf("axis out of range: %w", ErrShape)
		}
		t := x.Clone()
		t.Shape = []int{graph.NumElements(x.Shape[:axis]), graph.NumElements(x.Shape[axis:])}
		return t, true, nil
	case "Gather":
		if len(in) < 2 || in[1] == nil {
			return nil, false, nil
		}
		return gatherConst(x, in[1], n.AttrInt("axis", 0))
	case "Concat":
		for _, t := range in {
			if t == nil {
				return nil, false, nil
			}
		}
		return concatConst(in, n.AttrInt("axis", 0))
	case "Slice":
		return sliceConst(n, in, opset)
	case "Add", "Sub", "Mul", "Div", "Max", "Min":
		if len(in) != 2 || in[1] == nil {
			return nil, false, nil
		}
		return arithConst(n.Op, x, in[1])
	case "DequantizeLinear":
		return dequantConst(n, in)
	case "ConstantOfShape":
		dims := x.Ints()
		shape := make([]int, len(dims))
		for i, d := range dims {
			if d < 0 || d > 1<<31 {
				return nil, false, fmt.Errorf("ConstantOfShape dimension %d: %w", d, ErrShape)
			}
			shape[i] = int(d)
		}
		if err := checkShape(shape); err != nil {
			return nil, false, fmt.Errorf("ConstantOfShape: %w", err)
		}
		t := &graph.Tensor{DType: graph.Float32, Shape: shape, Float: make([]float64, graph.NumElements(shape))}
		if a, ok := n.Attrs["value"]; ok && a.Kind == graph.AttrTensor && a.Tensor.Len() == 1 {
			t.DType = a.Tensor.DType
			if t.DType.IsFloat() {
				v := a.Tensor.Float[0]
				for i := range t.Float {
					t.Float[i] = v
				}
			} else {
				t.Float = nil
				t.Int = make([]int64, graph.NumElements(shape))
				v := a.Tensor.Int[0]
				for i := range t.Int {
					t.Int[i] = v
				}
			}
		}
		return t, true, nil
	case "Neg":
		t := x.Clone()
		for i := range t.Float {
			t.Float[i] = -t.Float[i]
		}
		for i := range t.Int {
			t.Int[i] = -t.Int[i]
		}
		return t, true, nil
	case "Equal", "Expand", "Where", "Range":
		return foldMisc(n.Op, in)
	case "ReduceProd", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin":
		return foldReduce(n, in)
	case "Transpose":
		perm := n.AttrInts("perm")
		m, sh, err := transposeMap(x.Shape, perm)
		if err != nil {
			return nil, false, err
		}
		t := &graph.Tensor{DType: x.DType, Shape: sh}
		if x.Float != nil {
			t.Float = make([]float64, len(m))
			for i, src := range m {
				t.Float[i] = x.Float[src]
			}
		} else {
			t.Int = make([]int64, len(m))
			for i, src := range m {
				t.Int[i] = x.Int[src]
			}
		}
		return t, true, nil
	}
	return nil, false, nil
}

func gatherConst(x, idx *graph.Tensor, axis64 int64) (*graph.Tensor, bool, error) {
	r := len(x.Shape)
	if r == 0 {
		return nil, false, fmt.Errorf("gather from a scalar: %w", ErrShape)
	}
	axis, err := normAxis(axis64, r)
	if err != nil {
		return nil, false, err
	}
	outer := graph.NumElements(x.Shape[:axis])
	inner := graph.NumElements(x.Shape[axis+1:])
	dim := x.Shape[axis]
	ids := idx.Ints()
	shape := append(append(slices.Clone(x.Shape[:axis]), idx.Shape...), x.Shape[axis+1:]...)
	t := &graph.Tensor{DType: x.DType, Shape: shape}
	for o := 0; o < outer; o++ {
		for _, id := range ids {
			if id < 0 {
				id += int64(dim)
			}
			if id < 0 || id >= int64(dim) {
				return nil, false, fmt.Errorf("gather index %d out of range [0, %d): %w", id, dim, ErrShape)
			}
			base := (o*dim + int(id)) * inner
			if x.Float != nil {
				t.Float = append(t.Float, x.Float[base:base+inner]...)
			} else {
				t.Int = append(t.Int, x.Int[base:base+inner]...)
			}
		}
	}
	return t, true, nil
}

func concatConst(in []*graph.Tensor, axis64 int64) (*graph.Tensor, bool, error) {
	r := len(in[0].Shape)
	axis, err := normAxis(axis64, max(r, 1))
	if err != nil {
		return nil, false, err
	}
	if r == 0 {
		return nil, false, fmt.Errorf("concat of scalars: %w", ErrShape)
	}
	shape := slices.Clone(in[0].Shape)
	shape[axis] = 0
	isFloat := false
	for _, t := range in {
		if len(t.Shape) != r {
			return nil, false, fmt.Errorf("concat of ranks %d and %d: %w", r, len(t.Shape), ErrShape)
		}
		shape[axis] += t.Shape[axis]
		isFloat = isFloat || t.DType.IsFloat()
	}
	outer := graph.NumElements(shape[:axis])
	out := &graph.Tensor{DType: in[0].DType, Shape: shape}
	for o := 0; o < outer; o++ {
		for _, t := range in {
			blk := graph.NumElements(t.Shape[axis:])
			if isFloat {
				out.Float = append(out.Float, t.Floats()[o*blk:(o+1)*blk]...)
			} else {
				out.Int = append(out.Int, t.Ints()[o*blk:(o+1)*blk]...)
			}
		}
	}
	if isFloat {
		out.DType = graph.Float32
	}
	return out, true, nil
}

func sliceConst(n *graph.Node, in []*graph.Tensor, opset int64) (*graph.Tensor, bool, error) {
	x := in[0]
	sp, err := sliceSpec(n, x.Shape, func(i int) *graph.Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	m, sh := sp.indexMap(x.Shape)
	t := &graph.Tensor{DType: x.DType, Shape: sh}
	if x.Float != nil {
		t.Float = make([]float64, len(m))
		for i, src := range m {
			t.Float[i] = x.Float[src]
		}
	} else {
		t.Int = make([]int64, len(m))
		for i, src := range m {
			t.Int[i] = x.Int[src]
		}
	}
	return t, true, nil
}

func arithConst(op string, a, b *graph.Tensor) (*graph.Tensor, bool, error) {
	sh, err := broadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, false, err
	}
	ia, ib := broadcastIndex(a.Shape, sh), broadcastIndex(b.Shape, sh)
	n := graph.NumElements(sh)
	if a.DType.IsFloat() || b.DType.IsFloat() {
		af, bf := a.Floats(), b.Floats()
		out := make([]float64, n)
		for i := range out {
			x, y := af[ia[i]], bf[ib[i]]
			switch op {
			case "Add":
				out[i] = x + y
			case "Sub":
				out[i] = x - y
			case "Mul":
				out[i] = x * y
			case "Div":
				out[i] = x / y
			case "Max":
				out[i] = max(x, y)
			case "Min":
				out[i] = min(x, y)
			}
		}
		dt := a.DType
		if !dt.IsFloat() {
			dt = b.DType
		}
		return &graph.Tensor{DType: dt, Shape: sh, Float: out}, true, nil
	}
	ai, bi := a.Ints(), b.Ints()
	out := make([]int64, n)
	for i := range out {
		x, y := ai[ia[i]], bi[ib[i]]
		switch op {
		case "Add":
			out[i] = x + y
		case "Sub":
			out[i] = x - y
		case "Mul":
			out[i] = x * y
		case "Div":
			if y == 0 {
				return nil, false, fmt.Errorf("integer division by zero in a shape computation")
			}
			out[i] = x / y
		case "Max":
			out[i] = max(x, y)
		case "Min":
			out[i] = min(x, y)
		}
	}
	return &graph.Tensor{DType: a.DType, Shape: sh, Int: out}, true, nil
}

// dequantConst folds DequantizeLinear of a constant (a QDQ model's weights):
// y = (x − zero_point)·scale, per tensor or per axis.
func dequantConst(n *graph.Node, in []*graph.Tensor) (*graph.Tensor, bool, error) {
	x := in[0]
	if len(in) < 2 || in[1] == nil {
		return nil, false, fmt.Errorf("DequantizeLinear needs a constant scale")
	}
	scale := in[1].Floats()
	var zp []int64
	if len(in) > 2 && in[2] != nil {
		zp = in[2].Ints()
	}
	qv := x.Ints()
	out := make([]float64, len(qv))
	if len(scale) == 1 {
		z := int64(0)
		if len(zp) > 0 {
			z = zp[0]
		}
		for i, q := range qv {
			out[i] = float64(float32(q-z) * float32(scale[0]))
		}
	} else {
		axis, err := normAxis(n.AttrInt("axis", 1), len(x.Shape))
		if err != nil {
			return nil, false, err
		}
		if x.Shape[axis] != len(scale) {
			return nil, false, fmt.Errorf("per-axis scale has %d values for axis %d of %s: %w", len(scale), axis, graph.ShapeString(x.Shape), ErrShape)
		}
		inner := graph.NumElements(x.Shape[axis+1:])
		for i, q := range qv {
			c := (i / inner) % len(scale)
			z := int64(0)
			if len(zp) > 0 {
				z = zp[c]
			}
			out[i] = float64(float32(q-z) * float32(scale[c]))
		}
	}
	for _, v := range out {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false, fmt.Errorf("dequantized weights contain NaN or Inf")
		}
	}
	return &graph.Tensor{DType: graph.Float32, Shape: slices.Clone(x.Shape), Float: out}, true, nil
}

// broadcastShape is numpy-style multidirectional broadcasting.
func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("cannot broadcast %s with %s: %w", graph.ShapeString(a), graph.ShapeString(b), ErrShape)
		}
	}
	if err := checkShape(out); err != nil {
		return nil, err
	}
	return out, nil
}

// broadcastIndex maps every element of shape out to the index of the element
// of the (broadcast) shape a it reads.
func broadcastIndex(a, out []int) []int {
	n := graph.NumElements(out)
	idx := make([]int, n)
	r := len(out)
	stride := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		j := len(a) - r + i
		if j >= 0 && a[j] != 1 {
			stride[i] = s
		}
		if j >= 0 {
			s *= a[j]
		}
	}
	coord := make([]int, r)
	for i := 0; i < n; i++ {
		off := 0
		for d := 0; d < r; d++ {
			off += coord[d] * stride[d]
		}
		idx[i] = off
		for d := r - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < out[d] {
				break
			}
			coord[d] = 0
		}
	}
	return idx
}

// expandConst broadcasts the values v of shape from to shape to, in one
// direction only: every dimension of from is 1 or the one of to it aligns
// with (numpy rules, trailing dimensions aligned).
func expandConst[T Float](v []float64, from, to []int) ([]T, error) {
	ok := len(from) <= len(to) && len(v) == graph.NumElements(from)
	for i := 0; ok && i < len(from); i++ {
		d := from[i]
		ok = d == 1 || d == to[len(to)-len(from)+i]
	}
	if !ok {
		return nil, fmt.Errorf("a constant of shape %s does not broadcast to %s: %w", graph.ShapeString(from), graph.ShapeString(to), ErrShape)
	}
	out := make([]T, graph.NumElements(to))
	for i, j := range broadcastIndex(from, to) {
		out[i] = T(v[j])
	}
	return out, nil
}

// foldMisc folds the remaining shape-computation ops PyTorch exports emit.
func foldMisc(op string, in []*graph.Tensor) (*graph.Tensor, bool, error) {
	for _, t := range in {
		if t == nil {
			return nil, false, nil
		}
	}
	switch op {
	case "Equal":
		if len(in) != 2 {
			return nil, false, fmt.Errorf("Equal needs two inputs")
		}
		sh, err := broadcastShape(in[0].Shape, in[1].Shape)
		if err != nil {
			return nil, false, err
		}
		ia, ib := broadcastIndex(in[0].Shape, sh), broadcastIndex(in[1].Shape, sh)
		a, b := in[0].Floats(), in[1].Floats()
		out := make([]int64, len(ia))
		for i := range out {
			if a[ia[i]] == b[ib[i]] {
				out[i] = 1
			}
		}
		return &graph.Tensor{DType: graph.Bool, Shape: sh, Int: out}, true, nil
	case "Where":
		if len(in) != 3 {
			return nil, false, fmt.Errorf("Where needs three inputs")
		}
		sh, err := broadcastShape(in[0].Shape, in[1].Shape)
		if err == nil {
			sh, err = broadcastShape(sh, in[2].Shape)
		}
		if err != nil {
			return nil, false, err
		}
		ic, ix, iy := broadcastIndex(in[0].Shape, sh), broadcastIndex(in[1].Shape, sh), broadcastIndex(in[2].Shape, sh)
		c := in[0].Ints()
		t := &graph.Tensor{DType: in[1].DType, Shape: sh}
		if in[1].DType.IsFloat() {
			x, y := in[1].Floats(), in[2].Floats()
			t.Float = make([]float64, len(ic))
			for i := range ic {
				t.Float[i] = y[iy[i]]
				if c[ic[i]] != 0 {
					t.Float[i] = x[ix[i]]
				}
			}
		} else {
			x, y := in[1].Ints(), in[2].Ints()
			t.Int = make([]int64, len(ic))
			for i := range ic {
				t.Int[i] = y[iy[i]]
				if c[ic[i]] != 0 {
					t.Int[i] = x[ix[i]]
				}
			}
		}
		return t, true, nil
	case "Expand":
		if len(in) != 2 {
			return nil, false, fmt.Errorf("Expand needs two inputs")
		}
		dims := in[1].Ints()
		target := make([]int, len(dims))
		for i, d := range dims {
			target[i] = int(d)
		}
		sh, err := broadcastShape(in[0].Shape, target)
		if err != nil {
			return nil, false, err
		}
		idx := broadcastIndex(in[0].Shape, sh)
		t := &graph.Tensor{DType: in[0].DType, Shape: sh}
		if in[0].Float != nil {
			t.Float = make([]float64, len(idx))
			for i, j := range idx {
				t.Float[i] = in[0].Float[j]
			}
		} else {
			t.Int = make([]int64, len(idx))
			for i, j := range idx {
				t.Int[i] = in[0].Int[j]
			}
		}
		return t, true, nil
	case "Range":
		if len(in) != 3 {
			return nil, false, fmt.Errorf("Range needs three inputs")
		}
		for _, t := range in {
			if t == nil || t.Len() != 1 {
				return nil, false, fmt.Errorf("Range start, limit and delta must be scalars: %w", ErrShape)
			}
		}
		start, limit, delta := in[0].Floats()[0], in[1].Floats()[0], in[2].Floats()[0]
		if delta == 0 {
			return nil, false, fmt.Errorf("Range delta 0")
		}
		count := math.Max(math.Ceil((limit-start)/delta), 0)
		if math.IsNaN(count) || count > 1<<24 {
			return nil, false, fmt.Errorf("Range(%v, %v, %v) has %v elements: %w", start, limit, delta, count, ErrShape)
		}
		n := int(count)
		t := &graph.Tensor{DType: in[0].DType, Shape: []int{n}}
		for i := 0; i < n; i++ {
			v := start + float64(i)*delta
			if in[0].DType.IsFloat() {
				t.Float = append(t.Float, v)
			} else {
				t.Int = append(t.Int, int64(v))
			}
		}
		return t, true, nil
	}
	return nil, false, nil
}

// foldReduce evaluates ReduceProd, ReduceSum, ReduceMean, ReduceMax or
// ReduceMin of a constant (torch.std and torch.var export the count of
// the reduced elements as ReduceProd of the input's Shape): axes from the
// attribute or input 1, any of them, keepdims and noop_with_empty_axes.
// Integers stay integers (a mean of integers truncates toward zero).
func foldReduce(n *graph.Node, in []*graph.Tensor) (*graph.Tensor, bool, error) {
	x := in[0]
	axes := n.AttrInts("axes")
	if axes == nil && len(in) > 1 {
		if in[1] == nil {
			return nil, false, nil
		}
		axes = in[1].Ints()
	}
	r := len(x.Shape)
	reduced := make([]bool, r)
	if len(axes) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) != 0 {
			return x.Clone(), true, nil
		}
		for i := range reduced {
			reduced[i] = true
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, false, err
		}
		reduced[ax] = true
	}
	keep := n.AttrInt("keepdims", 1) != 0
	var shape, kept []int // the output's shape, and its shape with every axis kept
	for i, d := range x.Shape {
		switch {
		case !reduced[i]:
			shape = append(shape, d)
			kept = append(kept, d)
		case keep:
			shape = append(shape, 1)
			kept = append(kept, 1)
		default:
			kept = append(kept, 1)
		}
	}
	if shape == nil {
		shape = []int{}
	}
	size := graph.NumElements(shape)
	if x.Len() == 0 && (n.Op == "ReduceMax" || n.Op == "ReduceMin" || n.Op == "ReduceMean") {
		return nil, false, fmt.Errorf("%s over no elements has no value: %w", n.Op, ErrShape)
	}
	acc := make([]float64, size)
	count := make([]int, size)
	first := make([]bool, size)
	for i := range acc {
		first[i] = true
		if n.Op == "ReduceProd" {
			acc[i] = 1
		}
	}
	vals := x.Floats()
	coord := make([]int, r)
	ks := strides(kept)
	for _, v := range vals {
		o := 0
		for d, c := range coord {
			if !reduced[d] {
				o += c * ks[d]
			}
		}
		switch n.Op {
		case "ReduceProd":
			acc[o] *= v
		case "ReduceSum", "ReduceMean":
			acc[o] += v
		case "ReduceMax":
			if first[o] || v > acc[o] {
				acc[o] = v
			}
		case "ReduceMin":
			if first[o] || v < acc[o] {
				acc[o] = v
			}
		}
		first[o] = false
		count[o]++
		advance(coord, x.Shape)
	}
	if n.Op == "ReduceMean" {
		for i := range acc {
			acc[i] /= float64(count[i])
		}
	}
	t := &graph.Tensor{DType: x.DType, Shape: shape}
	if x.DType.IsFloat() {
		t.Float = acc
	} else {
		t.Int = make([]int64, size)
		for i, v := range acc {
			t.Int[i] = int64(v)
		}
	}
	return t, true, nil
}
