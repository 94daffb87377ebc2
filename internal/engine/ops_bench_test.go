package engine

import (
	"testing"

	"mpq/internal/graph"
)

// BenchmarkOps measures float32 inference through the ops a study's
// models bring beyond Conv and Gemm, each beside a baseline of the same
// arithmetic written with the ops mpq has run from the start, at batch
// 256 (images/s is reported as a metric):
//
//	convtranspose  ConvTranspose 32→16, 7×7 → 14×14, stride 2
//	conv-same-macs its adjoint Conv 16→32, 14×14 → 7×7, stride 2
//	einsum-attn    'bid,bjd->bij' then 'bij,bjd->bid' on 28 tokens of 32
//	matmul-attn    the same with Transpose and MatMul
//	resize-linear  bilinear 2× of 16×14×14 (half_pixel)
//	resize-nearest nearest 2× of the same
//	lstm           nn.LSTM(28, 64) over 28 rows of 28 (the final state)
//	gru-bidir      bidirectional nn.GRU(28, 64) over the same
func BenchmarkOps(b *testing.B) {
	const batch = 256
	eq := func(e string) map[string]graph.Attr { return map[string]graph.Attr{"equation": strAttr(e)} }
	resize := func(mode string) func(b *builder, x string) string {
		return func(b *builder, x string) string {
			return b.node("Resize", map[string]graph.Attr{"mode": strAttr(mode)}, x, "", b.floats(1, 1, 2, 2))
		}
	}
	for _, tc := range []struct {
		name  string
		in    []int
		build func(b *builder, x string) string
	}{
		{"convtranspose", []int{32, 7, 7}, func(b *builder, x string) string {
			a := map[string]graph.Attr{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1), "output_padding": ints(1, 1)}
			return b.node("ConvTranspose", a, x, b.init([]int{32, 16, 3, 3}, 0.1), b.init([]int{16}, 0.1))
		}},
		{"conv-same-macs", []int{16, 14, 14}, func(b *builder, x string) string {
			a := map[string]graph.Attr{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}
			return b.node("Conv", a, x, b.init([]int{32, 16, 3, 3}, 0.1), b.init([]int{32}, 0.1))
		}},
		{"einsum-attn", []int{28, 32}, func(b *builder, x string) string {
			s := b.node("Einsum", eq("bid,bjd->bij"), x, x)
			return b.node("Einsum", eq("bij,bjd->bid"), b.node("Softmax", nil, s), x)
		}},
		{"matmul-attn", []int{28, 32}, func(b *builder, x string) string {
			s := b.node("MatMul", nil, x, b.node("Transpose", map[string]graph.Attr{"perm": ints(0, 2, 1)}, x))
			return b.node("MatMul", nil, b.node("Softmax", nil, s), x)
		}},
		{"resize-linear", []int{16, 14, 14}, resize("linear")},
		{"resize-nearest", []int{16, 14, 14}, resize("nearest")},
		{"lstm", []int{28, 28}, recurrent("LSTM", 1, 64)},
		{"gru-bidir", []int{28, 28}, recurrent("GRU", 2, 64)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bl := newBuilder(tc.in)
			m, err := New(bl.finish(tc.build(bl, "x")))
			if err != nil {
				b.Fatal(err)
			}
			x := make([]float32, batch*graph.NumElements(tc.in))
			for i := range x {
				x[i] = float32(i%17) * 0.1
			}
			s := NewSession[float32](m)
			if _, err := s.Forward(x, batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.Forward(x, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// recurrent builds op (LSTM or GRU; GRU with linear_before_reset, as
// torch.onnx writes nn.GRU) over batch × steps × features, hid units per
// direction, whose final states are the output.
func recurrent(op string, dirs, hid int) func(b *builder, x string) string {
	return func(b *builder, x string) string {
		gates := map[string]int{"GRU": 3, "LSTM": 4}[op]
		feat := 28
		xt := b.node("Transpose", map[string]graph.Attr{"perm": ints(1, 0, 2)}, x)
		attrs := map[string]graph.Attr{"hidden_size": intAttr(int64(hid)), "linear_before_reset": intAttr(1)}
		if op == "LSTM" {
			delete(attrs, "linear_before_reset")
		}
		if dirs == 2 {
			attrs["direction"] = strAttr("bidirectional")
		}
		ins := []string{xt, b.init([]int{dirs, gates * hid, feat}, 0.2), b.init([]int{dirs, gates * hid, hid}, 0.2), b.init([]int{dirs, 2 * gates * hid}, 0.1)}
		y, yh := b.name("y"), b.name("yh")
		b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: b.name(op), Op: op, Inputs: ins, Outputs: []string{y, yh}, Attrs: attrs})
		return b.node("Transpose", map[string]graph.Attr{"perm": ints(1, 0, 2)}, yh)
	}
}
