package engine

import (
	"math"
	"slices"
	"strings"
	"testing"

	"mpq/internal/graph"
)

// TestPlanErrors checks that nodes the engine cannot run as written fail at
// load time with an error that names the node and says why.
func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []int
		build func(b *builder, x string) string
		want  string
	}{
		{"pow-dynamic-exponent", []int{4}, func(b *builder, x string) string {
			return b.node("Pow", nil, x, b.node("Relu", nil, x))
		}, "constant scalar exponent"},
		{"pow-vector-exponent", []int{4}, func(b *builder, x string) string {
			return b.node("Pow", nil, x, b.init([]int{4}, 1))
		}, "constant scalar exponent"},
		{"reduce-apart", []int{2, 3, 4}, func(b *builder, x string) string {
			return b.node("ReduceMean", map[string]graph.Attr{"axes": ints(1, 3)}, x)
		}, "not adjacent"},
		{"reduce-axes-from-data", []int{2, 3}, func(b *builder, x string) string {
			return b.node("ReduceSum", nil, x, b.node("Relu", nil, x))
		}, "axes computed from data"},
		{"prelu-dynamic-slope", []int{4}, func(b *builder, x string) string {
			return b.node("PRelu", nil, x, b.node("Relu", nil, x))
		}, "must be a constant"},
		{"prelu-batch-slope", []int{3}, func(b *builder, x string) string {
			return b.node("PRelu", nil, x, b.init([]int{2, 3}, 1))
		}, "varies along the batch axis"},
		{"prelu-slope-shape", []int{3, 2}, func(b *builder, x string) string {
			return b.node("PRelu", nil, x, b.init([]int{3}, 1))
		}, "does not broadcast"},
		{"gelu-approximate", []int{4}, func(b *builder, x string) string {
			return b.node("Gelu", map[string]graph.Attr{"approximate": strAttr("fast")}, x)
		}, `approximate="fast"`},
		{"layernorm-dynamic-scale", []int{4}, func(b *builder, x string) string {
			return b.node("LayerNormalization", nil, x, b.node("Relu", nil, x))
		}, "must be a constant"},
		{"split-sizes", []int{5, 2}, func(b *builder, x string) string {
			b.g.Nodes = append(b.g.Nodes, &graph.Node{Op: "Split", Name: "split", Inputs: []string{x, b.ints(2, 2)}, Outputs: []string{"a", "b"}, Attrs: map[string]graph.Attr{"axis": intAttr(1)}})
			return b.node("Add", nil, "a", "b")
		}, "add up to 4, not axis 1"},
		{"instancenorm-dynamic-scale", []int{2, 3}, func(b *builder, x string) string {
			return b.node("InstanceNormalization", nil, x, b.node("Relu", nil, b.init([]int{2}, 1)), b.init([]int{2}, 1))
		}, "must be a constant"},
		{"gather-out-of-range", []int{3}, func(b *builder, x string) string {
			return b.node("Gather", map[string]graph.Attr{"axis": intAttr(1)}, x, b.ints(3))
		}, "index 3 is out of range for axis 1"},
		{"gather-indices-from-data", []int{3}, func(b *builder, x string) string {
			return b.node("Gather", map[string]graph.Attr{"axis": intAttr(1)}, x, b.node("Relu", nil, x))
		}, "indices computed from data"},
		{"conv1d-two-strides", []int{2, 9}, func(b *builder, x string) string {
			return b.node("Conv", map[string]graph.Attr{"strides": ints(1, 2)}, x, b.init([]int{3, 2, 3}, 1))
		}, "strides [1 2] on a 1-D input: want one value"},
		{"maxpool1d-four-pads", []int{2, 9}, func(b *builder, x string) string {
			return b.node("MaxPool", map[string]graph.Attr{"kernel_shape": ints(2), "pads": ints(0, 0, 1, 1)}, x)
		}, "pads [0 0 1 1] on a 1-D input: want two values"},
		{"max-three-inputs", []int{4}, func(b *builder, x string) string {
			return b.node("Max", nil, x, x, x)
		}, "Max with 3 inputs"},
		{"resize-cubic", []int{2, 3, 3}, func(b *builder, x string) string {
			return b.node("Resize", map[string]graph.Attr{"mode": strAttr("cubic")}, x, "", b.floats(1, 1, 2, 2))
		}, `Resize mode "cubic" is not supported`},
		{"resize-sizes-from-data", []int{2, 3, 3}, func(b *builder, x string) string {
			return b.node("Resize", nil, x, "", "", b.node("Relu", nil, x))
		}, "constant scales or sizes"},
		{"resize-crop", []int{2, 3, 3}, func(b *builder, x string) string {
			return b.node("Resize", map[string]graph.Attr{"coordinate_transformation_mode": strAttr("tf_crop_and_resize")}, x, "", b.floats(1, 1, 2, 2))
		}, `"tf_crop_and_resize" is not supported`},
		{"tile-repeats-rank", []int{2, 3}, func(b *builder, x string) string {
			return b.node("Tile", nil, x, b.ints(2, 2))
		}, "do not fit rank 3"},
		{"depth-to-space-channels", []int{6, 2, 2}, func(b *builder, x string) string {
			return b.node("DepthToSpace", map[string]graph.Attr{"blocksize": intAttr(2)}, x)
		}, "multiple of the block size 2 squared"},
		{"cumsum-axis-from-data", []int{3}, func(b *builder, x string) string {
			return b.node("CumSum", nil, x, b.node("Shape", nil, b.node("Relu", nil, x)))
		}, "constant scalar axis"},
		{"convtranspose-output-padding", []int{2, 3, 3}, func(b *builder, x string) string {
			return b.node("ConvTranspose", map[string]graph.Attr{"strides": ints(2, 2), "output_padding": ints(2, 0)}, x, b.init([]int{2, 1, 3, 3}, 1))
		}, "must be smaller than the stride"},
		{"convtranspose-channels", []int{2, 3, 3}, func(b *builder, x string) string {
			return b.node("ConvTranspose", nil, x, b.init([]int{3, 1, 3, 3}, 1))
		}, "does not fit ConvTranspose weight"},
		{"convtranspose-output-shape", []int{2, 3, 3}, func(b *builder, x string) string {
			return b.node("ConvTranspose", map[string]graph.Attr{"output_shape": ints(5, 5)}, x, b.init([]int{2, 1, 3, 3}, 1))
		}, "output_shape is not supported"},
		{"einsum-diagonal", []int{3, 3}, func(b *builder, x string) string {
			return b.node("Einsum", map[string]graph.Attr{"equation": strAttr("bii->bi")}, x)
		}, "appears twice in one term"},
		{"einsum-rank", []int{3, 3}, func(b *builder, x string) string {
			return b.node("Einsum", map[string]graph.Attr{"equation": strAttr("bi->b")}, x)
		}, "has 2 subscripts for an operand of rank 3"},
		{"einsum-sizes", []int{3, 4}, func(b *builder, x string) string {
			return b.node("Einsum", map[string]graph.Attr{"equation": strAttr("bij,jk->bik")}, x, b.init([]int{3, 2}, 1))
		}, "'j' is 4 in one operand and 3 in another"},
		{"einsum-too-large", []int{16384}, func(b *builder, x string) string {
			return b.node("Einsum", map[string]graph.Attr{"equation": strAttr("bi,j->bij")}, x, b.init([]int{16384}, 1))
		}, "too large to plan"},
		{"einsum-three-operands", []int{3}, func(b *builder, x string) string {
			return b.node("Einsum", map[string]graph.Attr{"equation": strAttr("bi,bi,bi->bi")}, x, x, x)
		}, "Einsum with 3 operands"},
		{"reduceprod-activations", []int{3}, func(b *builder, x string) string {
			return b.node("ReduceProd", nil, x)
		}, "ReduceProd on activations is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(tc.in)
			g := b.finish(tc.build(b, "x"))
			_, err := New(g)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "node ") {
				t.Fatalf("err = %v, want a node's error saying %q", err, tc.want)
			}
		})
	}
}

// TestSupportedOpsSorted checks that the list the unsupported-operator
// error prints is sorted and has no duplicates.
func TestSupportedOpsSorted(t *testing.T) {
	ops := SupportedOps()
	for i := 1; i < len(ops); i++ {
		if ops[i-1] >= ops[i] {
			t.Fatalf("SupportedOps: %q before %q", ops[i-1], ops[i])
		}
	}
}

// TestActivationValues checks the activations whose PyTorch exports do not
// produce them as single ops (or not at opsets torch 1.13 writes) against
// values computed with Python's math module.
func TestActivationValues(t *testing.T) {
	x := []float64{-2.5, -0.3, 0, 0.7, 3}
	for _, tc := range []struct {
		op    string
		attrs map[string]graph.Attr
		want  []float64
	}{
		{"Elu", map[string]graph.Attr{"alpha": floatAttr(0.7)}, []float64{-0.6425405009632708, -0.1814272455227975, 0, 0.7, 3}},
		{"Selu", nil, []float64{-1.6137857639177853, -0.4556673168034953, 0, 0.7354907155036926, 3.152103066444397}},
		{"Celu", map[string]graph.Attr{"alpha": floatAttr(1.3)}, []float64{-1.1099964758069947, -0.26790054483666326, 0, 0.7, 3}},
		{"Softplus", nil, []float64{0.07888973429254963, 0.5543552444685271, 0.6931471805599453, 1.103186048885458, 3.048587351573742}},
		{"Softsign", nil, []float64{-0.7142857142857143, -0.23076923076923075, 0, 0.4117647058823529, 0.75}},
		{"Mish", nil, []float64{-0.19681620390653337, -0.15113317713833455, 0, 0.5611483776438518, 2.9865350049679575}},
		{"Erf", nil, []float64{-0.999593047982555, -0.3286267594591274, 0, 0.6778011938374184, 0.9999779095030014}},
		{"Gelu", nil, []float64{-0.015524163314440398, -0.1146265733433142, 0, 0.5306254434438489, 2.99595030590511}},
		{"Gelu", map[string]graph.Attr{"approximate": strAttr("tanh")}, []float64{-0.015084266089998577, -0.11462907645724074, 0, 0.5305701347051167, 2.996362607918227}},
		{"ThresholdedRelu", map[string]graph.Attr{"alpha": floatAttr(0.5)}, []float64{0, 0, 0, 0.7, 3}},
		{"Floor", nil, []float64{-3, -1, 0, 0, 3}},
		{"Ceil", nil, []float64{-2, 0, 0, 1, 3}},
		{"Round", nil, []float64{-2, 0, 0, 1, 3}}, // halves to even: −2.5 → −2
		{"Sin", nil, []float64{-0.5984721441039565, -0.29552020666133955, 0.0, 0.644217687237691, 0.1411200080598672}},
		{"Cos", nil, []float64{-0.8011436155469337, 0.955336489125606, 1.0, 0.7648421872844885, -0.9899924966004454}},
	} {
		t.Run(tc.op, func(t *testing.T) {
			b := newBuilder([]int{len(x)})
			m, err := New(b.finish(b.node(tc.op, tc.attrs, "x")))
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewSession[float64](m).Forward(x, 1)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-14*max(1, math.Abs(tc.want[i])) {
					t.Errorf("%s(%g) = %.17g, want %.17g", tc.op, x[i], got[i], tc.want[i])
				}
			}
		})
	}
}

// TestFuseRelu checks which Relus an inference program runs inside the
// step before: one that alone reads a Conv's output, also when the Relu is
// the model's output, or an Add of two same-shaped values; not one whose
// input another node reads too, nor one after a Conv whose output is
// reshaped first, nor one after a broadcasting Add or a Mul; none in a
// plain program.
func TestFuseRelu(t *testing.T) {
	conv := func(b *builder, x string) string {
		return b.node("Conv", map[string]graph.Attr{"pads": ints(1, 1, 1, 1)}, x, b.init([]int{2, 2, 3, 3}, 0.3), b.init([]int{2}, 0.1))
	}
	for _, tc := range []struct {
		name  string
		build func(b *builder, x string) string
		want  int
	}{
		{"conv-relu-twice", func(b *builder, x string) string {
			return b.node("Relu", nil, conv(b, b.node("Relu", nil, conv(b, x))))
		}, 2},
		{"conv-read-twice", func(b *builder, x string) string {
			c := conv(b, x)
			return b.node("Add", nil, b.node("Relu", nil, c), c)
		}, 0},
		{"conv-reshape-relu", func(b *builder, x string) string {
			return b.node("Relu", nil, b.node("Reshape", nil, conv(b, x), b.ints(0, 2, 4, 5)))
		}, 0},
		{"residual-add-relu", func(b *builder, x string) string {
			return b.node("Relu", nil, b.node("Add", nil, conv(b, x), x))
		}, 1},
		{"broadcast-add-relu", func(b *builder, x string) string {
			return b.node("Relu", nil, b.node("Add", nil, conv(b, x), b.init([]int{2, 1, 1}, 1)))
		}, 0},
		{"mul-relu", func(b *builder, x string) string {
			return b.node("Relu", nil, b.node("Mul", nil, conv(b, x), x))
		}, 0},
	} {
		b := newBuilder([]int{2, 4, 5})
		m, err := New(b.finish(tc.build(b, "x")))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, fuse := range []bool{false, true} {
			p, err := compile[float32](m, 3, fuse)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, st := range p.steps {
				if _, ok := st.(nopStep[float32]); ok {
					got++
				}
			}
			want := tc.want
			if !fuse {
				want = 0
			}
			if got != want {
				t.Errorf("%s, fuse %v: %d Relus fused, want %d", tc.name, fuse, got, want)
			}
		}
	}
}

// TestBatchDependentConstant runs a class token broadcast over the batch
// (Expand of a constant to x.shape[0], as a vision transformer's
// cls.expand(x.shape[0], -1, -1) exports) at two batch sizes in one
// session: the folded Expand is another tensor at each, and reusing the
// first batch's would read past its end.
func TestBatchDependentConstant(t *testing.T) {
	b := newBuilder([]int{2, 3})
	cls := b.init([]int{1, 1, 3}, 1)
	n := b.node("Gather", map[string]graph.Attr{"axis": intAttr(0)}, b.node("Shape", nil, "x"), b.ints(0))
	target := b.node("Concat", map[string]graph.Attr{"axis": intAttr(0)}, n, b.ints(1), b.ints(3))
	tokens := b.node("Concat", map[string]graph.Attr{"axis": intAttr(1)}, b.node("Expand", nil, cls, target), "x")
	m, err := New(b.finish(b.node("Flatten", nil, tokens)))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession[float64](m)
	for _, batch := range []int{1, 4, 2} {
		x := make([]float64, batch*6)
		for i := range x {
			x[i] = float64(i + 1)
		}
		y, err := s.Forward(x, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(y) != batch*9 {
			t.Fatalf("batch %d: %d outputs, want %d", batch, len(y), batch*9)
		}
		for i := range batch {
			row := y[i*9 : (i+1)*9]
			want := append(slices.Clone(b.g.Init[cls].Float), x[i*6:(i+1)*6]...)
			if !slices.Equal(row, want) {
				t.Fatalf("batch %d, sample %d: %v, want %v", batch, i, row, want)
			}
		}
	}
}

// TestResampleValues checks Resize's nearest rounding rules at ties, linear
// interpolation with align_corners, the opset-10 form (scales as input 1)
// and SpaceToDepth's element order against values worked out by hand.
func TestResampleValues(t *testing.T) {
	x := []float64{10, 20, 30, 40}
	for _, tc := range []struct {
		name  string
		opset int64
		build func(b *builder) string
		want  []float64
	}{
		{"nearest-prefer-floor", 13, func(b *builder) string {
			a := map[string]graph.Attr{"coordinate_transformation_mode": strAttr("asymmetric")}
			return b.node("Resize", a, "x", "", b.floats(1, 2))
		}, []float64{10, 10, 20, 20, 30, 30, 40, 40}},
		{"nearest-prefer-ceil", 13, func(b *builder) string {
			a := map[string]graph.Attr{"coordinate_transformation_mode": strAttr("asymmetric"), "nearest_mode": strAttr("round_prefer_ceil")}
			return b.node("Resize", a, "x", "", b.floats(1, 2))
		}, []float64{10, 20, 20, 30, 30, 40, 40, 40}},
		{"nearest-floor-fraction", 13, func(b *builder) string {
			a := map[string]graph.Attr{"coordinate_transformation_mode": strAttr("asymmetric"), "nearest_mode": strAttr("floor")}
			return b.node("Resize", a, "x", "", b.floats(1, 1.5))
		}, []float64{10, 10, 20, 30, 30, 40}},
		{"linear-align-corners", 11, func(b *builder) string {
			a := map[string]graph.Attr{"mode": strAttr("linear"), "coordinate_transformation_mode": strAttr("align_corners")}
			return b.node("Resize", a, "x", b.floats(), b.floats(1, 1.75))
		}, []float64{10, 15, 20, 25, 30, 35, 40}},
		{"linear-half-pixel-edges", 13, func(b *builder) string {
			a := map[string]graph.Attr{"mode": strAttr("linear")}
			return b.node("Resize", a, "x", "", b.floats(1, 2))
		}, []float64{10, 12.5, 17.5, 22.5, 27.5, 32.5, 37.5, 40}},
		{"opset10-scales", 10, func(b *builder) string {
			return b.node("Resize", nil, "x", b.floats(1, 0.5))
		}, []float64{10, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder([]int{4})
			b.g.Opset = tc.opset
			m, err := New(b.finish(tc.build(b)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewSession[float64](m).Forward(x, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("space-to-depth", func(t *testing.T) {
		const c, h, w, bs = 2, 4, 6, 2
		b := newBuilder([]int{c, h, w})
		m, err := New(b.finish(b.node("SpaceToDepth", map[string]graph.Attr{"blocksize": intAttr(bs)}, "x")))
		if err != nil {
			t.Fatal(err)
		}
		in := make([]float64, c*h*w)
		for i := range in {
			in[i] = float64(i)
		}
		got, err := NewSession[float64](m).Forward(in, 1)
		if err != nil {
			t.Fatal(err)
		}
		// y[(bh·b + bw)·C + ch, i, j] = x[ch, i·b + bh, j·b + bw]
		for bh := range bs {
			for bw := range bs {
				for ch := range c {
					for i := range h / bs {
						for j := range w / bs {
							y := got[(((bh*bs+bw)*c+ch)*(h/bs)+i)*(w/bs)+j]
							if want := in[(ch*h+i*bs+bh)*w+j*bs+bw]; y != want {
								t.Fatalf("block (%d,%d) channel %d at (%d,%d) = %v, want %v", bh, bw, ch, i, j, y, want)
							}
						}
					}
				}
			}
		}
	})
}

// TestResizeFixedBatch runs a model exported with a fixed batch of 1 whose
// Resize sizes were folded to the constant [1, C, H', W'] (as
// onnx-simplifier leaves them) at batch 3: the leading 1 is the batch, so
// each sample resizes as it does alone.
func TestResizeFixedBatch(t *testing.T) {
	b := newBuilder([]int{2, 3, 3})
	b.g.Inputs[0].Shape[0] = 1
	a := map[string]graph.Attr{"mode": strAttr("linear")}
	m, err := New(b.finish(b.node("Resize", a, "x", "", "", b.ints(1, 2, 5, 4))))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, 3*18)
	for i := range x {
		x[i] = float64(i*i%11) - 5
	}
	s := NewSession[float64](m)
	all, err := s.Forward(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	all = slices.Clone(all)
	if len(all) != 3*40 {
		t.Fatalf("%d outputs at batch 3, want %d", len(all), 3*40)
	}
	for i := range 3 {
		one, err := s.Forward(x[i*18:(i+1)*18], 1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one, all[i*40:(i+1)*40]) {
			t.Fatalf("sample %d: %v alone, %v in the batch", i, one, all[i*40:(i+1)*40])
		}
	}
}

// TestSharedWeightRefused checks that a weight two layers read (a module
// applied twice) fails at load time, naming the weight and both layers,
// rather than letting one layer's quantization silently serve the other.
func TestSharedWeightRefused(t *testing.T) {
	b := newBuilder([]int{4})
	w := b.init([]int{4, 4}, 0.5)
	tb := map[string]graph.Attr{"transB": intAttr(1)}
	h := b.node("Relu", nil, b.node("Gemm", tb, "x", w))
	_, err := New(b.finish(b.node("Gemm", tb, h, w)))
	if err == nil {
		t.Fatal("New accepted a weight shared by two layers")
	}
	for _, want := range []string{w, "used by two layers", "copy"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want it to say %q", err, want)
		}
	}
}

// TestEinsumLinear checks which two-operand Einsums with a 2-D constant
// second operand are linear layers of the first, and their channel axis.
func TestEinsumLinear(t *testing.T) {
	for _, tc := range []struct {
		eq   string
		axis int
		ok   bool
	}{
		{"...d,de->...e", 1, true},
		{"bi,ih->bh", 1, true},
		{"bh,ch->bc", 0, true},
		{"bid,ed->bie", 0, true},
		{"ij,jk", 1, true},       // implicit output ik
		{"bi,ij->bij", 0, false}, // nothing summed: an outer product
		{"bi,ik->b", 0, false},   // no output channel
		{"bi,ii->b", 0, false},   // a diagonal
		{"bij,jk->bik", 1, true},
	} {
		axis, ok := einsumLinear(tc.eq, 2, 2)
		if ok != tc.ok || (ok && axis != tc.axis) {
			t.Errorf("einsumLinear(%q) = %d, %v; want %d, %v", tc.eq, axis, ok, tc.axis, tc.ok)
		}
	}
	if _, ok := einsumLinear("bi,ih->bh", 2, 3); ok {
		t.Error("a 3-D weight was taken for a linear layer")
	}
}

// TestFloatWeights checks that a constant a node multiplies by but that is
// no layer's weight (an Einsum's 3-D constant) is listed, and that layer
// weights are not, a MatMul W @ x's first operand included.
func TestFloatWeights(t *testing.T) {
	b := newBuilder([]int{4, 5})
	left := b.init([]int{3, 4}, 0.5)
	y := b.node("MatMul", nil, left, "x") // W @ x: N × 3 × 5
	cube := b.init([]int{2, 5, 2}, 0.5)
	z := b.node("Einsum", map[string]graph.Attr{"equation": strAttr("nij,kjl->nikl")}, y, cube)
	m, err := New(b.finish(b.node("MatMul", nil, z, b.init([]int{2, 3}, 0.5))))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range m.FloatWeights() {
		got = append(got, f.Name)
	}
	if want := []string{cube}; !slices.Equal(got, want) {
		t.Fatalf("float weights %v, want %v (layers: %v)", got, want, m.LayerNames())
	}
	if l, ok := m.Layer(left); !ok || !m.Layers[l].WeightFirst || m.Layers[l].Input != "x" || m.Layers[l].ChannelAxis != 0 {
		t.Fatalf("W @ x is not a weight-first layer on x with channels on axis 0: %+v", m.Layers)
	}
	if l := m.Layers[len(m.Layers)-1]; l.WeightFirst || l.ChannelAxis != 1 || l.Channels != 3 {
		t.Fatalf("x @ W is not a layer with its 3 channels on axis 1: %+v", l)
	}
}

// TestLayerNormRows checks the normalization of rows by hand: a row whose
// mean is exactly zero (its variance must still be the mean square), one
// with a mean of 3, and rows of 7 values (the four-way sums' tail).
func TestLayerNormRows(t *testing.T) {
	for _, rows := range [][]float32{
		{-2, -1, 0, 1, 2, -3, 3},
		{1, 2, 3, 4, 5, 6, 7},
		{0, 0, 0, 0, 0, 0, 0},
	} {
		d := len(rows)
		s := &layerNormStep[float32]{rows: 1, d: d, eps: 1e-5, scale: make([]float32, d), mean: make([]float64, 1), rstd: make([]float64, 1)}
		for i := range s.scale {
			s.scale[i] = 1
		}
		y := make([]float32, d)
		s.forwardRange(rows, y, 0, 1)
		mu, vr := 0.0, 0.0
		for _, v := range rows {
			mu += float64(v) / float64(d)
		}
		for _, v := range rows {
			vr += (float64(v) - mu) * (float64(v) - mu) / float64(d)
		}
		for i, v := range rows {
			want := (float64(v) - mu) / math.Sqrt(vr+1e-5)
			if math.Abs(float64(y[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
				t.Fatalf("row %v: y[%d] = %v, want %v", rows, i, y[i], want)
			}
		}
	}
}

// TestReduceExtremeRows checks ReduceMax and ReduceMin over contiguous
// rows (four running extremes, falling back to the scan for NaN and zero
// results) against the element-by-element scan, bit for bit: NaN anywhere
// gives the first NaN, a tie of −0 and +0 the first of them, infinities
// and rows of every length up to 11.
func TestReduceExtremeRows(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	pool := []float32{1, -2, 3.5, negZero, 0, -inf, inf, 7, -7, 0.25}
	rows := [][]float32{{negZero, 0, -1}, {0, negZero, -3}, {-1, nan, 5}, {nan, 1}, {-inf, -inf}, {2}}
	for n := 1; n <= 11; n++ {
		for k := range 7 {
			row := make([]float32, n)
			for i := range row {
				row[i] = pool[(i*7+k*3+n)%len(pool)]
			}
			rows = append(rows, row)
		}
	}
	for _, extreme := range []int{1, -1} {
		for _, row := range rows {
			s := &reduceStep[float32]{outer: 1, n: len(row), inner: 1, extreme: extreme}
			y := make([]float32, 1)
			s.forwardRange(row, y, 0, 1)
			want := row[0]
			for _, v := range row[1:] {
				if v != v || (extreme > 0 && v > want) || (extreme < 0 && v < want) {
					want = v
				}
				if want != want {
					break
				}
			}
			if math.Float32bits(y[0]) != math.Float32bits(want) {
				t.Fatalf("extreme %d of %v = %v (%#x), want %v (%#x)", extreme, row, y[0], math.Float32bits(y[0]), want, math.Float32bits(want))
			}
		}
	}
}

// TestFoldInitializers checks that nodes computed from initializers alone
// become initializers before the layer inventory: a weight fed through an
// Identity (torch.onnx's deduplication of equal initializers) or a
// Transpose is its layer's weight, each copy its own layer, the sources
// that nothing else reads are dropped, and the forward pass is unchanged.
func TestFoldInitializers(t *testing.T) {
	b := newBuilder([]int{4})
	w := b.init([]int{4, 4}, 0.5)
	tb := map[string]graph.Attr{"transB": intAttr(1)}
	h := b.node("Relu", nil, b.node("Gemm", tb, "x", w))
	copyW := b.node("Identity", nil, w)
	h = b.node("Relu", nil, b.node("Gemm", tb, h, copyW))
	src := b.init([]int{3, 4}, 0.5)
	wt := b.node("Transpose", map[string]graph.Attr{"perm": ints(1, 0)}, src)
	g := b.finish(b.node("MatMul", nil, h, wt))
	nodes := len(g.Nodes)
	m, err := New(g)
	if err != nil {
		t.Fatal(err)
	}
	var weights []string
	for _, l := range m.Layers {
		weights = append(weights, l.Weight)
	}
	if want := []string{w, copyW, wt}; !slices.Equal(weights, want) {
		t.Fatalf("layer weights %v, want %v", weights, want)
	}
	if m.Layers[2].Shape[0] != 4 || m.Layers[2].Shape[1] != 3 || m.Layers[2].ChannelAxis != 1 {
		t.Fatalf("transposed weight: shape %v, channel axis %d", m.Layers[2].Shape, m.Layers[2].ChannelAxis)
	}
	if _, ok := m.Graph.Init[src]; ok {
		t.Errorf("the transposed source %q is still an initializer", src)
	}
	if len(m.Graph.Nodes) != nodes-2 {
		t.Errorf("%d nodes after folding, want %d", len(m.Graph.Nodes), nodes-2)
	}
	if len(g.Nodes) != nodes || g.Init[src] == nil {
		t.Fatal("New modified its graph")
	}
	// The same network with the constants written out: equal outputs.
	want := *g
	want.Init = map[string]*graph.Tensor{w: g.Init[w], copyW: g.Init[w].Clone(), wt: m.Graph.Init[wt]}
	want.Nodes = slices.DeleteFunc(slices.Clone(g.Nodes), func(n *graph.Node) bool { return n.Op == "Identity" || n.Op == "Transpose" })
	x := []float64{1, -2, 0.5, 3, 0.25, 1, -1, 2}
	got, err := NewSession[float64](m).Forward(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	m3, err := New(&want)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewSession[float64](m3).Forward(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ref) {
		t.Fatalf("folded %v, written out %v", got, ref)
	}
}

// TestRecurrentRefused checks that recurrent ops mpq does not run (or whose
// inputs do not fit) fail at load time with an error naming the problem,
// never a panic.
func TestRecurrentRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]graph.Attr
		wRows int // W's and R's rows (4·hidden is right)
		seqL  bool
		want  string
	}{
		{"layout", map[string]graph.Attr{"layout": intAttr(1)}, 12, false, "layout 1"},
		{"clip", map[string]graph.Attr{"clip": floatAttr(3)}, 12, false, "clip"},
		{"input-forget", map[string]graph.Attr{"input_forget": intAttr(1)}, 12, false, "input_forget"},
		{"activations", map[string]graph.Attr{"activations": {Kind: graph.AttrStrings, Strings: []string{"Relu", "Tanh", "Tanh"}}}, 12, false, "activations"},
		{"direction", map[string]graph.Attr{"direction": strAttr("sideways")}, 12, false, "sideways"},
		{"weight-shape", nil, 10, false, "10 rows in all"},
		{"hidden-size", map[string]graph.Attr{"hidden_size": intAttr(5)}, 12, false, "hidden_size"},
		{"sequence-lens", nil, 12, true, "sequence_lens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder([]int{3, 4})
			xt := b.node("Transpose", map[string]graph.Attr{"perm": ints(1, 0, 2)}, "x")
			ins := []string{xt, b.init([]int{1, tc.wRows, 4}, 0.5), b.init([]int{1, tc.wRows, 3}, 0.5), ""}
			if tc.seqL {
				ins = append(ins, b.ints(2, 3))
			}
			y, yh := b.name("y"), b.name("yh")
			b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: "lstm", Op: "LSTM", Inputs: ins, Outputs: []string{y, yh}, Attrs: tc.attrs})
			_, err := New(b.finish(yh))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "lstm") {
				t.Fatalf("err = %v, want it to name the node and say %q", err, tc.want)
			}
		})
	}
}

// TestIfAndPool3DRefused checks the errors for an If whose condition the
// data decides and for a 3-D pool that moves over every side.
func TestIfAndPool3DRefused(t *testing.T) {
	t.Run("if-on-data", func(t *testing.T) {
		b := newBuilder([]int{4})
		s := b.node("ReduceSum", map[string]graph.Attr{"keepdims": intAttr(0)}, "x")
		cond := b.node("Greater", nil, s, b.init([]int{}, 0))
		then := &graph.Graph{Init: map[string]*graph.Tensor{}, Nodes: []*graph.Node{{Op: "Neg", Inputs: []string{"x"}, Outputs: []string{"neg"}}}, Outputs: []graph.ValueInfo{{Name: "neg"}}}
		els := &graph.Graph{Init: map[string]*graph.Tensor{}, Nodes: []*graph.Node{{Op: "Identity", Inputs: []string{"x"}, Outputs: []string{"same"}}}, Outputs: []graph.ValueInfo{{Name: "same"}}}
		y := b.name("y")
		b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: "choose", Op: "If", Inputs: []string{cond, "x"}, Outputs: []string{y},
			Attrs: map[string]graph.Attr{"then_branch": {Kind: graph.AttrGraph, Graph: then}, "else_branch": {Kind: graph.AttrGraph, Graph: els}}})
		_, err := New(b.finish(y))
		if err == nil || !strings.Contains(err.Error(), "choose") || !strings.Contains(err.Error(), "depends on the data") {
			t.Fatalf("err = %v, want it to name the node and say its condition depends on the data", err)
		}
	})
	t.Run("pool3d-every-side", func(t *testing.T) {
		b := newBuilder([]int{1, 4, 4, 4})
		y := b.node("MaxPool", map[string]graph.Attr{"kernel_shape": ints(2, 2, 2)}, "x")
		_, err := New(b.finish(b.node("Flatten", nil, y)))
		if err == nil || !strings.Contains(err.Error(), "3-D input only when") {
			t.Fatalf("err = %v, want it to refuse the 3-D window", err)
		}
	})
}

// TestIfConstantCondition runs an If whose condition is an initializer,
// both ways, each branch reading a value of the enclosing graph.
func TestIfConstantCondition(t *testing.T) {
	for _, cond := range []float64{1, 0} {
		b := newBuilder([]int{4})
		c := b.name("cond")
		b.g.Init[c] = &graph.Tensor{Name: c, DType: graph.Bool, Shape: []int{}, Int: []int64{int64(cond)}}
		then := &graph.Graph{Init: map[string]*graph.Tensor{}, Nodes: []*graph.Node{{Op: "Neg", Inputs: []string{"x"}, Outputs: []string{"neg"}}}, Outputs: []graph.ValueInfo{{Name: "neg"}}}
		els := &graph.Graph{Init: map[string]*graph.Tensor{}, Nodes: []*graph.Node{{Op: "Identity", Inputs: []string{"x"}, Outputs: []string{"same"}}}, Outputs: []graph.ValueInfo{{Name: "same"}}}
		y := b.name("y")
		b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: "choose", Op: "If", Inputs: []string{c, "x"}, Outputs: []string{y},
			Attrs: map[string]graph.Attr{"then_branch": {Kind: graph.AttrGraph, Graph: then}, "else_branch": {Kind: graph.AttrGraph, Graph: els}}})
		m, err := New(b.finish(b.node("Gemm", map[string]graph.Attr{"transB": intAttr(1)}, y, b.init([]int{3, 4}, 0.5))))
		if err != nil {
			t.Fatal(err)
		}
		s := NewSession[float64](m)
		x := []float64{1, -2, 3, 0.5}
		got, err := s.Forward(x, 1)
		if err != nil {
			t.Fatal(err)
		}
		w := m.Graph.Init[m.Layers[0].Weight].Floats()
		for o := range 3 {
			want := 0.0
			for i, v := range x {
				if cond != 0 {
					v = -v
				}
				want += v * w[o*4+i]
			}
			if math.Abs(got[o]-want) > 1e-12 {
				t.Fatalf("condition %v: logit %d = %g, want %g", cond, o, got[o], want)
			}
		}
	}
}
