package engine

import (
	"slices"
	"testing"

	"mpq/internal/graph"
)

// TestFoldReduce checks reductions of constants (torch.std's element
// count is ReduceProd of a Shape) against values worked out by hand:
// integer and float inputs, axes from the attribute and from input 1,
// axes that are not adjacent, keepdims, and all axes.
func TestFoldReduce(t *testing.T) {
	counts := &graph.Tensor{DType: graph.Int64, Shape: []int{2, 3}, Int: []int64{1, 2, 3, 4, 5, 6}}
	floats := &graph.Tensor{DType: graph.Float32, Shape: []int{2, 2, 2}, Float: []float64{1, -2, 3, 4, 5, 6, -7, 8}}
	axes := func(v ...int64) *graph.Tensor { return &graph.Tensor{DType: graph.Int64, Shape: []int{len(v)}, Int: v} }
	for _, tc := range []struct {
		op    string
		attrs map[string]graph.Attr
		in    []*graph.Tensor
		shape []int
		want  []float64
	}{
		{"ReduceProd", map[string]graph.Attr{"keepdims": intAttr(0)}, []*graph.Tensor{counts}, []int{}, []float64{720}},
		{"ReduceProd", map[string]graph.Attr{"axes": ints(1)}, []*graph.Tensor{counts}, []int{2, 1}, []float64{6, 120}},
		{"ReduceSum", nil, []*graph.Tensor{counts, axes(0)}, []int{1, 3}, []float64{5, 7, 9}},
		{"ReduceMean", map[string]graph.Attr{"axes": ints(0, 2), "keepdims": intAttr(0)}, []*graph.Tensor{floats}, []int{2}, []float64{2.5, 2}},
		{"ReduceMax", map[string]graph.Attr{"axes": ints(-1)}, []*graph.Tensor{floats}, []int{2, 2, 1}, []float64{1, 4, 6, 8}},
		{"ReduceMin", map[string]graph.Attr{"axes": ints(1), "keepdims": intAttr(0)}, []*graph.Tensor{floats}, []int{2, 2}, []float64{1, -2, -7, 6}},
	} {
		n := &graph.Node{Op: tc.op, Attrs: tc.attrs}
		got, ok, err := foldConst(n, tc.in, 13)
		if err != nil || !ok {
			t.Fatalf("%s %v: folded %v, err %v", tc.op, tc.attrs, ok, err)
		}
		if !slices.Equal(got.Shape, tc.shape) || !slices.Equal(got.Floats(), tc.want) {
			t.Errorf("%s %v: %v of shape %v, want %v of shape %v", tc.op, tc.attrs, got.Floats(), got.Shape, tc.want, tc.shape)
		}
		if got.DType != tc.in[0].DType {
			t.Errorf("%s: %s result from %s input", tc.op, got.DType, tc.in[0].DType)
		}
	}
}
