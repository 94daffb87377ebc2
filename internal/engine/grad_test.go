package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"mpq/internal/graph"
)

// builder assembles small graphs for tests.
type builder struct {
	g   *graph.Graph
	rng *rand.Rand
	k   int
}

func newBuilder(inShape []int) *builder {
	return &builder{
		g: &graph.Graph{Opset: 13, Init: map[string]*graph.Tensor{},
			Inputs: []graph.ValueInfo{{Name: "x", DType: graph.Float32, Shape: append([]int{-1}, inShape...)}}},
		rng: rand.New(rand.NewPCG(1, 2)),
	}
}

func (b *builder) name(p string) string {
	b.k++
	return p + string(rune('a'+b.k%26)) + string(rune('0'+b.k/26))
}

func (b *builder) init(shape []int, scale float64) string {
	n := b.name("w")
	t := &graph.Tensor{Name: n, DType: graph.Float32, Shape: shape, Float: make([]float64, graph.NumElements(shape))}
	for i := range t.Float {
		t.Float[i] = b.rng.NormFloat64() * scale
	}
	b.g.Init[n] = t
	return n
}

func (b *builder) ints(v ...int64) string {
	n := b.name("c")
	b.g.Init[n] = &graph.Tensor{Name: n, DType: graph.Int64, Shape: []int{len(v)}, Int: v}
	return n
}

func (b *builder) floats(v ...float64) string {
	n := b.name("f")
	b.g.Init[n] = &graph.Tensor{Name: n, DType: graph.Float32, Shape: []int{len(v)}, Float: v}
	return n
}

func (b *builder) scalar(v float64) string {
	n := b.name("s")
	b.g.Init[n] = &graph.Tensor{Name: n, DType: graph.Float32, Shape: []int{}, Float: []float64{v}}
	return n
}

func (b *builder) node(op string, attrs map[string]graph.Attr, ins ...string) string {
	out := b.name("v")
	b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: b.name(op), Op: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (b *builder) finish(out string) *graph.Graph {
	flat := b.node("Flatten", nil, out)
	b.g.Outputs = []graph.ValueInfo{{Name: flat}}
	return b.g
}

func ints(v ...int64) graph.Attr     { return graph.Attr{Kind: graph.AttrInts, Ints: v} }
func intAttr(v int64) graph.Attr     { return graph.Attr{Kind: graph.AttrInt, Int: v} }
func floatAttr(v float64) graph.Attr { return graph.Attr{Kind: graph.AttrFloat, Float: v} }
func strAttr(v string) graph.Attr    { return graph.Attr{Kind: graph.AttrString, String: v} }

// rnnCase builds a recurrent op (LSTM, GRU or RNN, hidden size 3) over a
// batch × 3 steps × 4 features input, with dirs directions, computed
// initial states when h0 (so that their gradients flow back to x too), and
// all its outputs flattened into the logits.
func rnnCase(op string, dirs int, h0 bool, attrs map[string]graph.Attr) func(b *builder, x string) string {
	return func(b *builder, x string) string {
		const hid = 3
		gates := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[op]
		xt := b.node("Transpose", map[string]graph.Attr{"perm": ints(1, 0, 2)}, x)
		ins := []string{xt, b.init([]int{dirs, gates * hid, 4}, 0.6), b.init([]int{dirs, gates * hid, hid}, 0.6), b.init([]int{dirs, 2 * gates * hid}, 0.3)}
		if h0 {
			state := func() string {
				m := b.node("ReduceMean", map[string]graph.Attr{"axes": ints(1)}, b.node("MatMul", nil, x, b.init([]int{4, hid}, 0.5)))
				t := b.node("Tanh", nil, b.node("Transpose", map[string]graph.Attr{"perm": ints(1, 0, 2)}, m)) // 1 × N × hid
				if dirs == 2 {
					t = b.node("Concat", map[string]graph.Attr{"axis": intAttr(0)}, t, b.node("Mul", nil, t, b.scalar(-0.7)))
				}
				return t
			}
			ins = append(ins, "", state())
			if op == "LSTM" {
				ins = append(ins, state())
			}
		}
		outs := []string{b.name("y"), b.name("yh")}
		if op == "LSTM" {
			outs = append(outs, b.name("yc"))
		}
		b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: b.name(op), Op: op, Inputs: ins, Outputs: outs, Attrs: attrs})
		parts := []string{b.node("Flatten", nil, b.node("Transpose", map[string]graph.Attr{"perm": ints(2, 0, 1, 3)}, outs[0]))}
		for _, o := range outs[1:] {
			parts = append(parts, b.node("Flatten", nil, b.node("Transpose", map[string]graph.Attr{"perm": ints(1, 0, 2)}, o)))
		}
		return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, parts...)
	}
}

type gradCase struct {
	name  string
	in    []int
	build func(b *builder, x string) string
}

func gradCases() []gradCase {
	return []gradCase{
		{"conv", []int{3, 7, 6}, func(b *builder, x string) string {
			return b.node("Conv", map[string]graph.Attr{"strides": ints(2, 1), "pads": ints(1, 0, 2, 1), "dilations": ints(1, 2)}, x, b.init([]int{4, 3, 3, 2}, 0.5), b.init([]int{4}, 0.1))
		}},
		{"conv-depthwise-same", []int{4, 5, 5}, func(b *builder, x string) string {
			return b.node("Conv", map[string]graph.Attr{"group": intAttr(4), "auto_pad": strAttr("SAME_UPPER"), "strides": ints(2, 2)}, x, b.init([]int{4, 1, 3, 3}, 0.5))
		}},
		{"conv-groups-1x1", []int{4, 3, 3}, func(b *builder, x string) string {
			return b.node("Conv", map[string]graph.Attr{"group": intAttr(2)}, x, b.init([]int{6, 2, 1, 1}, 0.5))
		}},
		{"gemm-transB", []int{5}, func(b *builder, x string) string {
			return b.node("Gemm", map[string]graph.Attr{"transB": intAttr(1)}, x, b.init([]int{4, 5}, 0.5), b.init([]int{4}, 0.1))
		}},
		{"gemm-alpha-beta", []int{5}, func(b *builder, x string) string {
			return b.node("Gemm", map[string]graph.Attr{"alpha": floatAttr(0.7), "beta": floatAttr(1.3)}, x, b.init([]int{5, 3}, 0.5), b.init([]int{1, 3}, 0.1))
		}},
		{"matmul-3d", []int{3, 4}, func(b *builder, x string) string {
			return b.node("MatMul", nil, x, b.init([]int{4, 5}, 0.5))
		}},
		{"matmul-weight-first", []int{4, 3}, func(b *builder, x string) string {
			return b.node("MatMul", nil, b.init([]int{5, 4}, 0.5), x) // W @ x: N × 5 × 3
		}},
		{"matmul-dynamic", []int{3, 4}, func(b *builder, x string) string {
			t := b.node("Transpose", map[string]graph.Attr{"perm": ints(0, 2, 1)}, x)
			return b.node("MatMul", nil, x, t)
		}},
		{"broadcast-arith", []int{3, 2, 2}, func(b *builder, x string) string {
			c := b.init([]int{3, 1, 1}, 1)
			a := b.node("Add", nil, x, c)
			s := b.node("Sub", nil, b.init([]int{2}, 1), a)
			m := b.node("Mul", nil, s, x)
			d := b.node("Add", nil, b.node("Sigmoid", nil, x), b.scalar(1))
			return b.node("Div", nil, m, d)
		}},
		{"activations", []int{12}, func(b *builder, x string) string {
			y := b.node("LeakyRelu", map[string]graph.Attr{"alpha": floatAttr(0.1)}, x)
			y = b.node("Tanh", nil, y)
			h := b.node("HardSwish", nil, b.node("Mul", nil, x, b.scalar(3)))
			hs := b.node("HardSigmoid", nil, x)
			c := b.node("Clip", nil, b.node("Mul", nil, x, b.scalar(4)), b.scalar(-1), b.scalar(2))
			r := b.node("Relu", nil, x)
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, y, h, hs, c, r)
		}},
		{"activations-smooth", []int{12}, func(b *builder, x string) string {
			f := func(op string, attrs map[string]graph.Attr) string {
				return b.node(op, attrs, b.node("Mul", nil, x, b.scalar(1.5)))
			}
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)},
				f("Elu", map[string]graph.Attr{"alpha": floatAttr(0.7)}),
				f("Selu", nil),
				f("Celu", map[string]graph.Attr{"alpha": floatAttr(1.3)}),
				f("Softplus", nil),
				f("Softsign", nil),
				f("Mish", nil),
				f("Erf", nil),
				f("Gelu", nil),
				f("Gelu", map[string]graph.Attr{"approximate": strAttr("tanh")}),
				f("ThresholdedRelu", map[string]graph.Attr{"alpha": floatAttr(0.2)}))
		}},
		{"activations-math", []int{12}, func(b *builder, x string) string {
			pos := b.node("Softplus", nil, x) // positive, for Log, Sqrt and fractional powers
			away := b.node("Add", nil, pos, b.scalar(0.5))
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)},
				b.node("Exp", nil, b.node("Mul", nil, x, b.scalar(0.5))),
				b.node("Log", nil, pos),
				b.node("Sqrt", nil, pos),
				b.node("Abs", nil, x),
				b.node("Neg", nil, b.node("Tanh", nil, x)),
				b.node("Reciprocal", nil, away),
				b.node("Pow", nil, x, b.scalar(2)),
				b.node("Pow", nil, x, b.scalar(3)),
				b.node("Pow", nil, pos, b.scalar(0.5)),
				b.node("Pow", nil, pos, b.scalar(0.75)),
				b.node("Pow", nil, away, b.scalar(-1.7)),
				b.node("Max", nil, x, b.node("Mul", nil, x, b.scalar(-0.5))),
				b.node("Min", nil, x, b.init([]int{12}, 0.5)))
		}},
		{"prelu", []int{3, 2, 2}, func(b *builder, x string) string {
			f := func(v string) string { return b.node("Flatten", nil, v) }
			perChannel := b.node("PRelu", nil, x, b.init([]int{3, 1, 1}, 0.5))
			single := b.node("PRelu", nil, x, b.init([]int{1}, 0.5))
			perFeature := b.node("PRelu", nil, f(x), b.init([]int{12}, 0.5))
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, f(perChannel), f(single), perFeature)
		}},
		{"reduce-layernorm-opset13", []int{3, 4, 2}, func(b *builder, x string) string {
			// LayerNorm over the last axis as torch exports it below opset 17.
			last := map[string]graph.Attr{"axes": ints(-1)}
			d := b.node("Sub", nil, x, b.node("ReduceMean", last, x))
			v := b.node("ReduceMean", last, b.node("Pow", nil, d, b.scalar(2)))
			y := b.node("Div", nil, d, b.node("Sqrt", nil, b.node("Add", nil, v, b.scalar(1e-5))))
			y = b.node("Add", nil, b.node("Mul", nil, y, b.init([]int{2}, 1)), b.init([]int{2}, 0.5))
			f := func(v string) string { return b.node("Flatten", nil, v) }
			sum := b.node("ReduceSum", map[string]graph.Attr{"keepdims": intAttr(0)}, x, b.ints(1, 2))
			mean := b.node("ReduceMean", map[string]graph.Attr{"axes": ints(1), "keepdims": intAttr(0)}, x)
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, f(y), sum, f(mean))
		}},
		{"layernorm", []int{3, 4}, func(b *builder, x string) string {
			h := b.node("MatMul", nil, x, b.init([]int{4, 5}, 0.5))
			last := b.node("LayerNormalization", nil, h, b.init([]int{5}, 1), b.init([]int{5}, 0.5))
			two := b.node("LayerNormalization", map[string]graph.Attr{"axis": intAttr(1), "epsilon": floatAttr(1e-3)}, h, b.init([]int{1, 5}, 1))
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, last, two)
		}},
		{"lstm-bidirectional-h0-c0", []int{3, 4}, rnnCase("LSTM", 2, true, map[string]graph.Attr{"direction": strAttr("bidirectional")})},
		{"lstm-reverse", []int{3, 4}, rnnCase("LSTM", 1, false, map[string]graph.Attr{"direction": strAttr("reverse")})},
		{"gru-linear-before-reset-bidirectional-h0", []int{3, 4}, rnnCase("GRU", 2, true, map[string]graph.Attr{"direction": strAttr("bidirectional"), "linear_before_reset": intAttr(1)})},
		{"gru", []int{3, 4}, rnnCase("GRU", 1, true, nil)},
		{"rnn-tanh-bidirectional", []int{3, 4}, rnnCase("RNN", 2, false, map[string]graph.Attr{"direction": strAttr("bidirectional")})},
		{"rnn-relu-reverse", []int{3, 4}, rnnCase("RNN", 1, true, map[string]graph.Attr{"direction": strAttr("reverse"), "activations": {Kind: graph.AttrStrings, Strings: []string{"Relu"}}})},
		{"pools", []int{2, 7, 6}, func(b *builder, x string) string {
			m := b.node("MaxPool", map[string]graph.Attr{"kernel_shape": ints(3, 2), "strides": ints(2, 2), "pads": ints(1, 0, 1, 1), "ceil_mode": intAttr(1)}, x)
			a := b.node("AveragePool", map[string]graph.Attr{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1), "count_include_pad": intAttr(1)}, x)
			a2 := b.node("AveragePool", map[string]graph.Attr{"kernel_shape": ints(2, 2), "pads": ints(1, 1, 0, 0)}, x)
			g := b.node("GlobalAveragePool", nil, x)
			f := func(v string) string { return b.node("Flatten", nil, v) }
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, f(m), f(a), f(a2), f(g))
		}},
		{"maxima-instancenorm-split", []int{4, 3, 2}, func(b *builder, x string) string {
			f := func(v string) string { return b.node("Flatten", nil, v) }
			mx := b.node("ReduceMax", map[string]graph.Attr{"axes": ints(2, 3), "keepdims": intAttr(0)}, x)
			mn := b.node("ReduceMin", map[string]graph.Attr{"axes": ints(1)}, x)
			gmp := b.node("GlobalMaxPool", nil, x)
			in := b.node("InstanceNormalization", map[string]graph.Attr{"epsilon": floatAttr(1e-3)}, x, b.init([]int{4}, 1), b.init([]int{4}, 1))
			b.g.Nodes = append(b.g.Nodes, &graph.Node{Op: "Split", Name: "split", Inputs: []string{in, b.ints(1, 3)}, Outputs: []string{"s0", "s1"}, Attrs: map[string]graph.Attr{"axis": intAttr(1)}})
			b.g.Nodes = append(b.g.Nodes, &graph.Node{Op: "Split", Name: "halves", Inputs: []string{x}, Outputs: []string{"h0", "h1"}, Attrs: map[string]graph.Attr{"axis": intAttr(-1)}})
			s1 := b.node("Mul", nil, "s1", b.scalar(0.5))
			h := b.node("Sub", nil, "h0", "h1")
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, mx, f(mn), f(gmp), f("s0"), f(s1), f(h))
		}},
		{"gather-constant-indices", []int{3, 4}, func(b *builder, x string) string {
			// x[:, 0] (a scalar index: the axis goes), x[:, [3, -4, 3]] (a
			// repeated and a negative index) and x[[2, 0]] on a sample.
			scalar := b.ints(0)
			b.g.Init[scalar].Shape = []int{}
			first := b.node("Gather", map[string]graph.Attr{"axis": intAttr(1)}, x, scalar)
			picked := b.node("Gather", map[string]graph.Attr{"axis": intAttr(2)}, x, b.ints(3, -4, 3))
			rows := b.node("Gather", map[string]graph.Attr{"axis": intAttr(1)}, x, b.ints(2, 0))
			f := func(v string) string { return b.node("Flatten", nil, v) }
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, first, f(picked), f(rows))
		}},
		{"norms-sign-expand", []int{3, 4}, func(b *builder, x string) string {
			// F.normalize's pattern: the L2 norm expanded back to x's shape.
			l2 := b.node("ReduceL2", map[string]graph.Attr{"axes": ints(2)}, x)
			shape := b.node("Shape", nil, x)
			unit := b.node("Div", nil, x, b.node("Expand", nil, l2, shape))
			l1 := b.node("ReduceL1", map[string]graph.Attr{"axes": ints(1), "keepdims": intAttr(0)}, x)
			sq := b.node("ReduceSumSquare", map[string]graph.Attr{"axes": ints(1, 2)}, x)
			sign := b.node("Mul", nil, b.node("Sign", nil, x), x)
			f := func(v string) string { return b.node("Flatten", nil, v) }
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, f(unit), l1, f(sq), f(sign))
		}},
		{"where-compare", []int{2, 3}, func(b *builder, x string) string {
			// torch.where(x > 0, x, 0.1 x) + (x >= 0.5)·x + x·not(x < −1),
			// with a broadcast constant operand.
			pos := b.node("Greater", nil, x, b.scalar(0))
			leaky := b.node("Where", nil, pos, x, b.node("Mul", nil, x, b.scalar(0.1)))
			mask := b.node("Mul", nil, b.node("GreaterOrEqual", nil, x, b.init([]int{3}, 0.5)), x)
			keep := b.node("Mul", nil, x, b.node("Not", nil, b.node("Less", nil, x, b.scalar(-1))))
			le := b.node("Mul", nil, b.node("LessOrEqual", nil, x, b.scalar(0.2)), b.node("Equal", nil, x, x))
			return b.node("Flatten", nil, b.node("Add", nil, b.node("Add", nil, leaky, mask), b.node("Add", nil, keep, le)))
		}},
		{"batchnorm-standalone", []int{3, 2, 2}, func(b *builder, x string) string {
			r := b.node("Relu", nil, x)
			v := b.init([]int{3}, 1)
			for i := range b.g.Init[v].Float {
				b.g.Init[v].Float[i] = math.Abs(b.g.Init[v].Float[i]) + 0.5
			}
			return b.node("BatchNormalization", nil, r, b.init([]int{3}, 1), b.init([]int{3}, 1), b.init([]int{3}, 1), v)
		}},
		{"shape-ops", []int{2, 3, 4}, func(b *builder, x string) string {
			t := b.node("Transpose", map[string]graph.Attr{"perm": ints(0, 3, 1, 2)}, x)
			p := b.node("Pad", map[string]graph.Attr{"mode": strAttr("reflect")}, t, b.ints(0, 0, 1, 1, 0, 0, 1, 0))
			p2 := b.node("Pad", nil, p, b.ints(0, 0, 0, 1, 0, 0, 0, 2), b.scalar(0.5))
			s := b.node("Slice", nil, p2, b.ints(1, 0), b.ints(4, 100), b.ints(1, 3), b.ints(2, 1))
			sh := b.node("Shape", nil, s)
			n := b.node("Gather", map[string]graph.Attr{"axis": intAttr(0)}, sh, b.ints(0))
			r := b.node("Reshape", nil, s, b.node("Concat", map[string]graph.Attr{"axis": intAttr(0)}, n, b.ints(-1)))
			u := b.node("Unsqueeze", nil, r, b.ints(1))
			return b.node("Squeeze", nil, u, b.ints(1))
		}},
		{"softmax", []int{3, 4}, func(b *builder, x string) string {
			s := b.node("Softmax", map[string]graph.Attr{"axis": intAttr(1)}, x)
			l := b.node("LogSoftmax", nil, x)
			return b.node("Add", nil, b.node("Mul", nil, s, b.scalar(3)), l)
		}},
		{"space-depth-tile-scan", []int{2, 4, 6}, func(b *builder, x string) string {
			c := b.node("Conv", nil, x, b.init([]int{8, 2, 1, 1}, 0.5))
			s2d := b.node("SpaceToDepth", map[string]graph.Attr{"blocksize": intAttr(2)}, c) // 32 × 2 × 3
			d2s := b.node("DepthToSpace", map[string]graph.Attr{"blocksize": intAttr(2)}, s2d)
			crd := b.node("DepthToSpace", map[string]graph.Attr{"blocksize": intAttr(2), "mode": strAttr("CRD")}, s2d)
			cat := b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, d2s, crd) // 16 × 4 × 6
			lse := b.node("ReduceLogSumExp", map[string]graph.Attr{"axes": ints(2, 3)}, cat)
			scan := b.node("CumSum", map[string]graph.Attr{"exclusive": intAttr(1), "reverse": intAttr(1)}, lse, b.ints(1))
			return b.node("Tile", nil, b.node("Add", nil, scan, b.node("CumSum", nil, lse, b.ints(-3))), b.ints(1, 2, 1, 3))
		}},
		{"trig-logic", []int{6}, func(b *builder, x string) string {
			mask := b.node("Or", nil, b.node("Greater", nil, x, b.scalar(0.5)), b.node("Less", nil, x, b.scalar(-0.5)))
			keep := b.node("Where", nil, b.node("Cast", map[string]graph.Attr{"to": intAttr(int64(graph.Bool))}, mask), x, b.scalar(0))
			xor := b.node("Xor", nil, b.node("Greater", nil, x, b.scalar(0)), b.node("Greater", nil, x, b.scalar(1)))
			and := b.node("And", nil, b.node("Greater", nil, x, b.scalar(-1)), b.node("Less", nil, x, b.scalar(1)))
			trig := b.node("Add", nil, b.node("Sin", nil, b.node("Mul", nil, x, b.scalar(2))), b.node("Cos", nil, x))
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, keep, b.node("Mul", nil, xor, x), b.node("Mul", nil, and, x), trig)
		}},
		{"conv-transpose", []int{4, 3, 4}, func(b *builder, x string) string {
			a := map[string]graph.Attr{"strides": ints(2, 3), "pads": ints(1, 0, 0, 2), "output_padding": ints(1, 2), "dilations": ints(1, 2)}
			y := b.node("ConvTranspose", a, x, b.init([]int{4, 3, 3, 2}, 0.5), b.init([]int{3}, 0.1))
			grouped := b.node("ConvTranspose", map[string]graph.Attr{"group": intAttr(2), "strides": ints(2, 2)}, x, b.init([]int{4, 1, 2, 2}, 0.5))
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, b.node("Flatten", nil, y), b.node("Flatten", nil, grouped))
		}},
		{"conv-transpose-1d", []int{3, 5}, func(b *builder, x string) string {
			a := map[string]graph.Attr{"strides": ints(2), "pads": ints(1, 0), "output_padding": ints(1)}
			return b.node("ConvTranspose", a, x, b.init([]int{3, 2, 3}, 0.5), b.init([]int{2}, 0.1))
		}},
		{"einsum", []int{3, 4}, func(b *builder, x string) string {
			eq := func(e string) map[string]graph.Attr { return map[string]graph.Attr{"equation": strAttr(e)} }
			q := b.node("MatMul", nil, x, b.init([]int{4, 5}, 0.5))
			att := b.node("Einsum", eq("bid,bjd->bij"), q, b.node("Tanh", nil, q)) // N × 3 × 3
			mix := b.node("Einsum", eq("bij , bjd -> bdi"), att, x)                // N × 4 × 3
			lin := b.node("Einsum", eq("...ij,jk"), mix, b.init([]int{3, 2}, 0.5)) // N × 4 × 2, implicit output
			sum := b.node("Einsum", eq("bdi->bi"), mix)                            // N × 3
			inner := b.node("Einsum", eq("bij,bjk->bi"), att, q)                   // k summed in one operand
			bc := b.node("Einsum", eq("...d,...d->..."), x, b.init([]int{1, 4}, 0.5))
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, b.node("Flatten", nil, lin), sum, inner, bc)
		}},
		{"resize", []int{2, 5, 4}, func(b *builder, x string) string {
			c := b.node("Conv", nil, x, b.init([]int{3, 2, 1, 1}, 0.5))
			// sizes as F.interpolate(size=...) exports them: the input's
			// batch and channels, then the new height and width.
			nc := b.node("Slice", nil, b.node("Shape", nil, c), b.ints(0), b.ints(2))
			f := func(mode, coord, nearest string, h, w int64) string {
				a := map[string]graph.Attr{"mode": strAttr(mode), "coordinate_transformation_mode": strAttr(coord), "nearest_mode": strAttr(nearest)}
				sizes := b.node("Concat", map[string]graph.Attr{"axis": intAttr(0)}, nc, b.ints(h, w))
				return b.node("Flatten", nil, b.node("Resize", a, c, "", "", sizes))
			}
			return b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)},
				f("linear", "half_pixel", "", 7, 6),
				f("linear", "pytorch_half_pixel", "", 2, 1),
				f("linear", "align_corners", "", 3, 9),
				f("nearest", "asymmetric", "round_prefer_ceil", 8, 3),
				f("nearest", "half_pixel", "round_prefer_floor", 3, 7),
				f("nearest", "tf_half_pixel_for_nn", "ceil", 6, 4))
		}},
	}
}

// TestGradients checks the gradient of the mean cross-entropy with respect
// to the input and every layer weight against central finite differences.
func TestGradients(t *testing.T) {
	for _, tc := range gradCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(tc.in)
			g := b.finish(tc.build(b, "x"))
			m, err := New(g)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2
			rng := rand.New(rand.NewPCG(3, 4))
			x := make([]float64, n*graph.NumElements(tc.in))
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			labels := []int{1, m.Classes - 1}
			s := NewSession[float64](m)
			if _, err := s.Forward(x, n); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Backward(labels); err != nil {
				t.Fatal(err)
			}
			lossAt := func(xv []float64) float64 {
				logits, err := s.Forward(xv, n)
				if err != nil {
					t.Fatal(err)
				}
				l, _, _ := crossEntropy(logits, m.Classes, labels, nil)
				return l
			}
			gx := slices.Clone(s.Grad("x"))
			var wg [][]float64
			for l := range m.Layers {
				wg = append(wg, slices.Clone(s.WeightGrad(l)))
			}
			want := fd.Gradient(nil, lossAt, x, &fd.Settings{Formula: fd.Central, Step: 1e-6})
			assertClose(t, "d/dx", gx, want)
			for l := range m.Layers {
				w0 := slices.Clone(s.FloatWeight(l))
				f := func(w []float64) float64 {
					s.SetWeight(l, w)
					return lossAt(x)
				}
				want := fd.Gradient(nil, f, w0, &fd.Settings{Formula: fd.Central, Step: 1e-6})
				s.SetWeight(l, nil)
				assertClose(t, "d/d"+m.Layers[l].Name, wg[l], want)
			}
		})
	}
}

func assertClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > 1e-6+1e-4*scale {
			t.Fatalf("%s[%d] = %.9g, finite differences give %.9g (|diff| %.3g, scale %.3g)", what, i, got[i], want[i], d, scale)
		}
	}
}
