package engine

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"mpq/internal/graph"
)

// ErrUnsupported marks a model that uses an operator mpq cannot run.
var ErrUnsupported = errors.New("unsupported operator")

// ErrShape marks a shape that does not fit an operator.
var ErrShape = errors.New("shape mismatch")

// supportedOps lists every default-domain operator the engine runs.
var supportedOps = []string{
	"Abs", "Add", "And", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Celu", "Clip", "Concat",
	"ConstantOfShape", "Conv", "ConvTranspose", "Cos", "CumSum", "DepthToSpace", "DequantizeLinear",
	"Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "GRU",
	"Gather", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
	"HardSigmoid", "HardSwish", "Identity", "If", "InstanceNormalization", "LSTM", "LayerNormalization",
	"LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Min", "Mish",
	"Mul", "Neg", "Not", "Or", "PRelu", "Pad", "Pow", "QuantizeLinear", "RNN", "Range", "Reciprocal",
	"ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd",
	"ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Resize", "Round", "Selu", "Shape", "Sigmoid",
	"Sign", "Sin", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze",
	"Sub", "Tanh", "ThresholdedRelu", "Tile", "Transpose", "Unsqueeze", "Where", "Xor",
}

// SupportedOps returns the operators the engine runs, sorted.
func SupportedOps() []string { return slices.Clone(supportedOps) }

// Layer is one quantizable layer: a Conv, ConvTranspose, Gemm or MatMul
// whose weight is a constant tensor, or an Einsum that is a linear map of
// its first operand by a constant 2-D second (einsumLinear).
type Layer struct {
	Name   string // the ONNX node name, or the weight initializer's name when the node has none
	Op     string
	Weight string // weight initializer name
	Shape  []int  // weight shape
	Params int    // weight element count
	MACs   int64  // multiply-accumulates per sample
	Input  string // the layer's input activation tensor

	// Channels is the number of output channels; ChannelAxis the weight axis
	// that indexes them (0 for Conv, for Gemm with transB=1 and for MatMul
	// W @ x, 1 for Gemm with transB=0, for MatMul x @ W and for
	// ConvTranspose, whose weight is C_in × C_out/group × kernel; for
	// Einsum, where its output letter is).
	Channels    int
	ChannelAxis int
	Bias        string // bias initializer name, "" if none
	// WeightFirst is set for a MatMul W @ x whose constant is its first
	// operand: the weight is node input 0 and the activation (Input) input
	// 1, the other way round from every other layer.
	WeightFirst bool
	// Recurrent is set for an LSTM, GRU or RNN node: its weight is the
	// matrix [W | R] of Recurrent's W and R, one row per direction and
	// gate unit over the input and the previous hidden state (ChannelAxis
	// 0). Its input activation is the sequence X; the hidden state stays
	// in floating point.
	Recurrent *Recurrent
	// StateMACs are the multiply-accumulates per sample whose other
	// operand stays in floating point (a recurrent layer's R times the
	// hidden state); MACs counts the rest.
	StateMACs int64
	node      int // index in Model.Graph.Nodes
}

// Recurrent names the file's weights of a recurrent layer: W (directions ×
// gates·hidden × features) and R (directions × gates·hidden × hidden).
type Recurrent struct {
	W, R                   string
	Dirs, Features, Hidden int
}

// SplitWR returns the W rows (features wide) and the R rows (hidden wide)
// of v, values of a recurrent layer r's weight in its [W | R] layout (the
// weight itself, its quantized values or its codes), in the file's W and R
// layouts; nil for nil.
func SplitWR[E any](r *Recurrent, v []E) (w, rr []E) {
	if v == nil {
		return nil, nil
	}
	f, h := r.Features, r.Hidden
	rows := len(v) / (f + h)
	w, rr = make([]E, rows*f), make([]E, rows*h)
	for k := range rows {
		copy(w[k*f:(k+1)*f], v[k*(f+h):])
		copy(rr[k*h:(k+1)*h], v[k*(f+h)+f:])
	}
	return w, rr
}

// Model is a validated, BatchNorm-folded graph with its layer inventory.
// It is immutable and safe for concurrent use by many Sessions.
type Model struct {
	Graph  *graph.Graph
	Layers []Layer
	// Input is the model's data input; InputShape its shape with -1 for
	// the dynamic batch dimension. Output is the value holding the logits:
	// the graph's output, or the input of a Softmax that makes it
	// (logitsOf).
	Input      string
	InputShape []int
	Output     string
	Classes    int // size of the logits' class dimension (dimension 1)
	byName     map[string]int
	// staticBatch is the batch size the graph's input declares, 0 when
	// dynamic: a model exported with a fixed batch has it folded into its
	// Reshape targets (x.view(x.size(0), -1) becomes Reshape [B, -1]).
	staticBatch int
	// sampleValues is the number of value elements a Session holds per
	// sample of a batch (planned at batch 1).
	sampleValues int64
}

// New validates g, folds Conv→BatchNormalization pairs and builds the layer
// inventory. g is not modified.
func New(g *graph.Graph) (*Model, error) {
	if g.Opset < 7 || g.Opset > 21 {
		return nil, fmt.Errorf("onnx: opset %d is outside what mpq reads (11–17 are tested); export with torch.onnx.export(..., opset_version=13)", g.Opset)
	}
	var bad []string
	walkNodes(g.Nodes, func(n *graph.Node) {
		if (n.Domain != "" && n.Domain != "ai.onnx") || !slices.Contains(supportedOps, n.Op) {
			op := n.Op
			if n.Domain != "" && n.Domain != "ai.onnx" {
				op = n.Domain + "." + n.Op
			}
			bad = append(bad, fmt.Sprintf("%s (node %q)", op, n.Label()))
		}
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("onnx: %w: %s; mpq supports %s", ErrUnsupported, strings.Join(bad, ", "), strings.Join(supportedOps, ", "))
	}
	if len(g.Inputs) != 1 {
		names := make([]string, len(g.Inputs))
		for i, in := range g.Inputs {
			names[i] = in.Name
		}
		return nil, fmt.Errorf("onnx: the model has %d data inputs (%s); mpq needs exactly one image/feature input", len(g.Inputs), strings.Join(names, ", "))
	}
	if len(g.Outputs) < 1 {
		return nil, fmt.Errorf("onnx: the model has no output")
	}
	in := g.Inputs[0]
	if in.DType != 0 && !in.DType.IsFloat() {
		return nil, fmt.Errorf("onnx: input %q has element type %s; mpq needs a float input", in.Name, in.DType)
	}
	if len(in.Shape) == 0 {
		return nil, fmt.Errorf("onnx: input %q has no declared shape; export with an example input so the shape is recorded", in.Name)
	}
	for i, d := range in.Shape[1:] {
		if d <= 0 {
			return nil, fmt.Errorf("onnx: input %q dimension %d is dynamic; only the batch dimension may be (export with dynamic_axes on axis 0 only)", in.Name, i+1)
		}
	}
	if err := checkShape(in.Shape[1:]); err != nil {
		return nil, fmt.Errorf("onnx: input %q: %w", in.Name, err)
	}
	for name, t := range g.Init {
		for _, v := range t.Float {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("onnx: initializer %q contains NaN or Inf; the model's weights are broken: retrain or re-export it", name)
			}
		}
	}
	cg, err := foldInitializers(g)
	if err != nil {
		return nil, err
	}
	fg, err := foldBatchNorm(cg)
	if err != nil {
		return nil, err
	}
	fg = fuseRecurrent(fg)
	m := &Model{Graph: fg, Input: in.Name, InputShape: slices.Clone(in.Shape), Output: g.Outputs[0].Name, byName: map[string]int{}}
	m.InputShape[0] = -1
	if in.Shape[0] > 0 {
		m.staticBatch = in.Shape[0]
	}
	if err := m.inventory(); err != nil {
		return nil, err
	}
	// Shape-check the whole graph once at batch 1 so that a model that does
	// not fit together fails at load time, and record MACs and classes.
	p, err := planShapes(m, 1)
	if err != nil {
		return nil, err
	}
	// Logits [batch × classes], or [batch × classes × 1 × 1] from a fully
	// convolutional head (a 1×1 convolution and global pooling without a
	// Flatten): the same values in the same order.
	out := p.shapes[m.Output]
	if len(out) < 2 || graph.NumElements(out[2:]) != 1 {
		return nil, fmt.Errorf("onnx: output %q has shape %s; mpq needs classification logits of shape [batch x classes] (or [batch x classes x 1 x 1])", m.Output, graph.ShapeString(out))
	}
	m.Classes = out[1]
	m.sampleValues = p.values
	m.Output = logitsOf(fg, m.Output, len(out))
	for i := range m.Layers {
		l := &m.Layers[i]
		n := fg.Nodes[l.node]
		ys := p.shapes[n.Outputs[0]]
		switch {
		case l.Recurrent != nil:
			// Per step and direction, gates·hidden rows over the input
			// (MACs) and over the hidden state (StateMACs).
			seq := int64(p.shapes[n.Inputs[0]][0])
			l.MACs = seq * int64(l.Shape[0]) * int64(l.Recurrent.Features)
			l.StateMACs = seq * int64(l.Shape[0]) * int64(l.Recurrent.Hidden)
			continue
		}
		switch l.Op {
		case "Conv":
			// MACs = output elements × (C/group × kh × kw)
			l.MACs = int64(graph.NumElements(ys)) * int64(graph.NumElements(l.Shape[1:]))
		case "ConvTranspose":
			// Each input element meets M/group × kh × kw weights.
			l.MACs = int64(graph.NumElements(p.shapes[n.Inputs[0]])) * int64(graph.NumElements(l.Shape[1:]))
		default:
			k := l.Shape[0]
			if l.ChannelAxis == 0 {
				k = l.Shape[1]
			}
			l.MACs = int64(graph.NumElements(ys)) * int64(k)
		}
	}
	return m, nil
}

// logitsOf returns the value holding the logits of the output (of the
// given rank, classes in dimension 1): the output itself, or, when a
// Softmax over the classes makes it,
// that Softmax's input. A model exported with its Softmax head outputs
// probabilities, which the cross-entropy (a log-softmax) would take for
// logits: the loss, and the Hessians and gradients of the sensitivity
// analysis, would be those of another function, while the accuracy would
// not show it. (A final LogSoftmax needs nothing: log-softmax of
// log-probabilities is themselves.)
func logitsOf(g *graph.Graph, output string, rank int) string {
	for _, n := range g.Nodes {
		if n.Op != "Softmax" || len(n.Outputs) == 0 || n.Outputs[0] != output || len(n.Inputs) == 0 {
			continue
		}
		axis := int(n.AttrInt("axis", -1))
		if g.Opset < 13 {
			axis = int(n.AttrInt("axis", 1)) // over dimensions axis.. flattened together
		}
		if axis < 0 {
			axis += rank
		}
		if axis == 1 {
			return n.Inputs[0]
		}
	}
	return output
}

// Layer returns the layer named name (its node name or its weight
// initializer's name).
func (m *Model) Layer(name string) (int, bool) {
	i, ok := m.byName[name]
	return i, ok
}

// FloatWeight is a constant tensor a node multiplies by that is not a
// quantizable layer's weight (an Einsum's constant of rank three, a
// batched MatMul constant, a recurrent op's W and R when another node reads
// them too, ...): it stays in floating point in
// every plan, and layer sizes and BOPs do not count it.
type FloatWeight struct {
	Node, Op, Name string
	Shape          []int
	Params         int
}

// isFloatInit reports whether name is a float initializer of g.
func isFloatInit(g *graph.Graph, name string) bool {
	t, ok := g.Init[name]
	return ok && t.DType.IsFloat()
}

// FloatWeights lists the model's float weights (FloatWeight), in graph
// order: what `mpq inspect` warns of.
func (m *Model) FloatWeights() []FloatWeight {
	isLayer := map[string]bool{}
	for _, l := range m.Layers {
		isLayer[l.Weight] = true
	}
	var out []FloatWeight
	seen := map[string]bool{}
	for _, n := range m.Graph.Nodes {
		var operands []string
		switch n.Op {
		case "MatMul", "Gemm":
			operands = []string{n.Input(0), n.Input(1)}
		case "Conv", "ConvTranspose":
			operands = []string{n.Input(1)}
		case "Einsum":
			operands = n.Inputs
		case "LSTM", "GRU", "RNN":
			operands = []string{n.Input(1), n.Input(2)} // W and R
		}
		for _, name := range operands {
			t, ok := m.Graph.Init[name]
			if !ok || !t.DType.IsFloat() || len(t.Shape) < 2 || isLayer[name] || seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, FloatWeight{Node: n.Label(), Op: n.Op, Name: name, Shape: slices.Clone(t.Shape), Params: t.Len()})
		}
	}
	return out
}

// LayerNames returns the layer names in graph order.
func (m *Model) LayerNames() []string {
	out := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = l.Name
	}
	return out
}

// SampleShape is the per-sample input shape (InputShape without the batch).
func (m *Model) SampleShape() []int { return slices.Clone(m.InputShape[1:]) }

func (m *Model) inventory() error {
	g := m.Graph
	uses := map[string]int{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			uses[in]++
		}
	}
	for i, n := range g.Nodes {
		if a, ok := n.Attrs[fusedWR]; ok {
			wname := n.Input(1)
			w := g.Init[wname]
			f := int(a.Int)
			h := w.Shape[1] - f
			dirs := 1
			if n.AttrString("direction", "forward") == "bidirectional" {
				dirs = 2
			}
			l := Layer{Name: n.Name, Op: n.Op, Weight: wname, Shape: slices.Clone(w.Shape), Params: w.Len(), Input: n.Input(0), node: i,
				Channels: w.Shape[0], Recurrent: &Recurrent{Dirs: dirs, Features: f, Hidden: h}}
			if len(a.Strings) == 2 {
				l.Recurrent.W, l.Recurrent.R = a.Strings[0], a.Strings[1]
			}
			if l.Name == "" {
				l.Name = wname
			}
			m.Layers = append(m.Layers, l)
			continue
		}
		if n.Op != "Conv" && n.Op != "ConvTranspose" && n.Op != "Gemm" && n.Op != "MatMul" && n.Op != "Einsum" {
			continue
		}
		wi := 1
		if n.Op == "MatMul" && isFloatInit(g, n.Input(0)) && !isFloatInit(g, n.Input(1)) {
			wi = 0 // W @ x: the weight is the first operand
		}
		wname := n.Input(wi)
		w, ok := g.Init[wname]
		if !ok || !w.DType.IsFloat() {
			continue
		}
		l := Layer{Name: n.Name, Op: n.Op, Weight: wname, Shape: slices.Clone(w.Shape), Params: w.Len(), Input: n.Input(1 - wi), WeightFirst: wi == 0, node: i}
		if l.Name == "" {
			l.Name = wname
		}
		switch n.Op {
		case "Conv":
			if len(w.Shape) != 3 && len(w.Shape) != 4 {
				return fmt.Errorf("onnx: node %q (Conv): weight %q has shape %s; mpq runs 1-D and 2-D convolutions only", n.Label(), wname, graph.ShapeString(w.Shape))
			}
			l.ChannelAxis = 0
		case "ConvTranspose":
			if len(w.Shape) != 3 && len(w.Shape) != 4 {
				return fmt.Errorf("onnx: node %q (ConvTranspose): weight %q has shape %s; mpq runs 1-D and 2-D transposed convolutions only", n.Label(), wname, graph.ShapeString(w.Shape))
			}
			// C_in × C_out/group × kernel: per output channel is axis 1
			// (shared by the groups), as ONNX's per-axis DequantizeLinear
			// and PyTorch's ConvTranspose observers take it.
			l.ChannelAxis = 1
		case "Gemm":
			if len(w.Shape) != 2 {
				return fmt.Errorf("onnx: node %q (Gemm): weight %q has shape %s, want 2-D", n.Label(), wname, graph.ShapeString(w.Shape))
			}
			if n.AttrInt("transB", 0) != 0 {
				l.ChannelAxis = 0
			} else {
				l.ChannelAxis = 1
			}
		case "MatMul":
			if len(w.Shape) != 2 {
				continue // batched constant operands are not a layer weight
			}
			l.ChannelAxis = wi // x @ W: K × M, channels last (1); W @ x: M × K (0)
		case "Einsum":
			axis, ok := einsumLinear(n.AttrString("equation", ""), len(n.Inputs), len(w.Shape))
			if !ok {
				continue // not a linear map of its first operand: runs as an op
			}
			l.ChannelAxis = axis
		}
		l.Channels = w.Shape[l.ChannelAxis]
		if b := n.Input(2); b != "" && n.Op != "Einsum" {
			if _, ok := g.Init[b]; ok {
				l.Bias = b
			}
		}
		m.Layers = append(m.Layers, l)
	}
	byWeight := map[string]int{}
	for i, l := range m.Layers {
		if j, shared := byWeight[l.Weight]; shared {
			// One tensor, two layers: each would be given its own bits,
			// and the last quantization written would silently serve both.
			return fmt.Errorf("onnx: weight %q is used by two layers, %q and %q (a module applied twice, or tied weights); mpq gives each layer its own bitwidth and cannot quantize one tensor two ways: give each use its own copy of the weight (copy.deepcopy the module) before exporting", l.Weight, m.Layers[j].Name, l.Name)
		}
		byWeight[l.Weight] = i
	}
	for i, l := range m.Layers {
		if j, dup := m.byName[l.Name]; dup {
			return fmt.Errorf("onnx: two quantizable layers are named %q (nodes %d and %d); give the nodes distinct names", l.Name, m.Layers[j].node, l.node)
		}
		m.byName[l.Name] = i
	}
	for i, l := range m.Layers {
		names := []string{l.Weight}
		if r := l.Recurrent; r != nil {
			names = append(names, r.W, r.R) // the file's own initializers
		}
		for _, name := range names {
			if _, taken := m.byName[name]; !taken && name != "" {
				m.byName[name] = i
			}
		}
	}
	return nil
}

// foldBatchNorm returns a copy of g in which every BatchNormalization that
// directly follows a Conv or a ConvTranspose (its output read by nothing
// else, the BatchNormalization's statistics constant) is folded into it:
// W' = W·γ/√(var+ε) per output channel, b' = (b − mean)·γ/√(var+ε) + β.
// (torch.onnx folds Conv+BatchNorm itself, not ConvTranspose+BatchNorm;
// PyTorch's quantization and TensorRT fold both.)
func foldBatchNorm(g *graph.Graph) (*graph.Graph, error) {
	out := *g
	out.Init = make(map[string]*graph.Tensor, len(g.Init))
	for k, v := range g.Init {
		out.Init[k] = v
	}
	out.InitOrder = slices.Clone(g.InitOrder)
	consumers := g.Consumers()
	producers := g.Producers()
	weightUses := map[string]int{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			weightUses[in]++
		}
	}
	drop := map[*graph.Node]bool{}
	replaced := map[*graph.Node]*graph.Node{}
	for _, bn := range g.Nodes {
		if bn.Op != "BatchNormalization" {
			continue
		}
		conv := producers[bn.Input(0)]
		if conv == nil || (conv.Op != "Conv" && conv.Op != "ConvTranspose") || len(consumers[bn.Input(0)]) != 1 || g.IsOutput(bn.Input(0)) {
			continue
		}
		if len(bn.Outputs) > 1 && slices.ContainsFunc(bn.Outputs[1:], func(s string) bool { return s != "" }) {
			continue // training-mode outputs are used: leave it alone
		}
		var params [4]*graph.Tensor
		ok := true
		for i := range params {
			params[i] = out.Init[bn.Input(1+i)]
			if params[i] == nil {
				ok = false
			}
		}
		w := out.Init[conv.Input(1)]
		if !ok || w == nil || (len(w.Shape) != 3 && len(w.Shape) != 4) || replaced[conv] != nil {
			continue
		}
		// chanOf maps a weight element to its output channel: axis 0 of a
		// Conv's weight; for a ConvTranspose's (C_in × M/group × kernel)
		// group (c / (C_in/group)) and axis 1.
		mch := w.Shape[0]
		per := w.Len() / max(mch, 1)
		chanOf := func(j int) int { return j / per }
		if conv.Op == "ConvTranspose" {
			group := int(conv.AttrInt("group", 1))
			if group < 1 || w.Shape[0]%group != 0 {
				continue // the engine's plan reports the mismatch
			}
			mg, cg := w.Shape[1], w.Shape[0]/group
			k := w.Len() / max(w.Shape[0]*mg, 1)
			mch = mg * group
			chanOf = func(j int) int { return (j/(mg*k))/cg*mg + (j/k)%mg }
		}
		for i, p := range params {
			if p.Len() != mch {
				return nil, fmt.Errorf("onnx: node %q (BatchNormalization) input %d has %d values but the %s before it has %d output channels: %w", bn.Label(), i+1, p.Len(), conv.Op, mch, ErrShape)
			}
		}
		eps := bn.AttrFloat("epsilon", 1e-5)
		gamma, beta, mean, vr := params[0].Floats(), params[1].Floats(), params[2].Floats(), params[3].Floats()
		nw := w.Clone()
		bias := make([]float64, mch)
		var oldBias []float64
		if b := conv.Input(2); b != "" {
			bt := out.Init[b]
			if bt == nil {
				continue
			}
			oldBias = bt.Floats()
		}
		scale := make([]float64, mch)
		for c := range scale {
			// Computed in float32 like the runtimes that fold at export time.
			scale[c] = float64(float32(gamma[c]) / float32(math.Sqrt(float64(float32(vr[c])+float32(eps)))))
		}
		for j := range nw.Float {
			nw.Float[j] = float64(float32(nw.Float[j]) * float32(scale[chanOf(j)]))
		}
		for c := 0; c < mch; c++ {
			s := scale[c]
			b0 := 0.0
			if oldBias != nil {
				b0 = oldBias[c]
			}
			// torch.onnx's fuseConvBatchNorm order: β − mean·s, then + b·s.
			bias[c] = float64(float32(beta[c]) - float32(mean[c])*float32(s))
			if oldBias != nil {
				bias[c] = float64(float32(bias[c]) + float32(b0)*float32(s))
			}
		}
		nconv := &graph.Node{Name: conv.Name, Op: conv.Op, Domain: conv.Domain, Attrs: conv.Attrs,
			Inputs: slices.Clone(conv.Inputs), Outputs: []string{bn.Outputs[0]}}
		wname := conv.Input(1)
		if weightUses[wname] > 1 {
			wname = uniqueName(out.Init, wname+"_bnfolded")
			out.InitOrder = append(out.InitOrder, wname)
		}
		nw.Name = wname
		out.Init[wname] = nw
		nconv.Inputs[1] = wname
		bname := conv.Input(2)
		if bname == "" || weightUses[bname] > 1 {
			base := conv.Name
			if base == "" {
				base = wname
			}
			bname = uniqueName(out.Init, base+"_bias_bnfolded")
			out.InitOrder = append(out.InitOrder, bname)
		}
		out.Init[bname] = &graph.Tensor{Name: bname, DType: graph.Float32, Shape: []int{mch}, Float: bias}
		for len(nconv.Inputs) < 3 {
			nconv.Inputs = append(nconv.Inputs, "")
		}
		nconv.Inputs[2] = bname
		replaced[conv] = nconv
		drop[bn] = true
	}
	if len(drop) == 0 {
		return &out, nil
	}
	out.Nodes = nil
	for _, n := range g.Nodes {
		if drop[n] {
			continue
		}
		if r := replaced[n]; r != nil {
			n = r
		}
		out.Nodes = append(out.Nodes, n)
	}
	// Drop initializers nothing reads any more (the BatchNorm statistics).
	used := map[string]bool{}
	for _, n := range out.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	keep := out.InitOrder[:0]
	for _, name := range out.InitOrder {
		if used[name] {
			keep = append(keep, name)
		} else {
			delete(out.Init, name)
		}
	}
	out.InitOrder = keep
	for name := range out.Init {
		if !used[name] && !slices.Contains(out.InitOrder, name) {
			delete(out.Init, name)
		}
	}
	return &out, nil
}

// foldInitializers returns a copy of g in which every node computed from
// initializers alone (in file order, so chains fold too) is replaced by an
// initializer named by its output, as the runtimes and the PyTorch
// reference (scripts/torch_onnx.py) fold constants before they look for
// layers. Its main customer: torch.onnx deduplicates initializers of equal
// value (the layers of an untrained nn.TransformerEncoder, which are deep
// copies; modules left at their initialization) by an Identity of the first,
// which would hide the second layer's weight from the inventory and leave
// it in floating point; folded, each copy is its own layer's weight, as it
// is its own parameter in PyTorch. A weight that two layers read directly
// (one module applied twice) is still refused by the inventory.
// DequantizeLinear is not folded: a QDQ model's weights stay as written
// (already quantized, not a layer's float weight). g is not modified.
func foldInitializers(g *graph.Graph) (*graph.Graph, error) {
	out := *g
	out.Init = nil
	var keep []*graph.Node
	for i, n := range g.Nodes {
		foldable := n.Op != "DequantizeLinear" && n.Op != "QuantizeLinear" && len(n.Outputs) == 1 && n.Outputs[0] != "" &&
			!g.IsOutput(n.Outputs[0]) && len(n.Inputs) > 0
		var ins []*graph.Tensor
		for _, name := range n.Inputs {
			if !foldable {
				break
			}
			if name == "" {
				ins = append(ins, nil)
				continue
			}
			t, ok := g.Init[name]
			if out.Init != nil {
				t, ok = out.Init[name]
			}
			if !ok {
				foldable = false
			}
			ins = append(ins, t)
		}
		if foldable {
			t, ok, err := foldConst(n, ins, g.Opset)
			if err != nil {
				return nil, fmt.Errorf("onnx: node %q (%s), computed from initializers: %w", n.Label(), n.Op, err)
			}
			if ok {
				if out.Init == nil {
					out.Init = make(map[string]*graph.Tensor, len(g.Init)+1)
					for k, v := range g.Init {
						out.Init[k] = v
					}
					out.InitOrder = slices.Clone(g.InitOrder)
					keep = slices.Clone(g.Nodes[:i])
				}
				t.Name = n.Outputs[0]
				out.Init[t.Name] = t
				out.InitOrder = append(out.InitOrder, t.Name)
				continue
			}
		}
		if out.Init != nil {
			keep = append(keep, n)
		}
	}
	if out.Init == nil {
		return g, nil
	}
	out.Nodes = keep
	// Drop the initializers nothing reads any more (the sources of folded
	// transposes and reshapes), so that they are not mistaken for weights.
	used := map[string]bool{}
	for _, n := range out.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	for _, o := range g.Outputs {
		used[o.Name] = true
	}
	for name := range out.Init {
		if !used[name] {
			delete(out.Init, name)
		}
	}
	out.InitOrder = slices.DeleteFunc(out.InitOrder, func(name string) bool { return !used[name] })
	return &out, nil
}

func uniqueName(m map[string]*graph.Tensor, base string) string {
	name := base
	for i := 1; ; i++ {
		if _, taken := m[name]; !taken {
			return name
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}

// BatchWithin returns the largest batch size up to want whose values fit in
// budget bytes in a Session computing in elements of elemBytes bytes (4
// for float32, 8 for float64), with their gradients too when gradients is
// set; at least 1. The sessions that keep every value of a batch (those
// that compute gradients, and calibration's, which reads every layer's
// input after the pass) hold batch × that many bytes: capping the batch
// keeps a large model's memory bounded whatever batch a config asks for.
// A batch is a sum's unit of work, so the results do not depend on it
// beyond rounding.
func (m *Model) BatchWithin(want int, budget int64, elemBytes int, gradients bool) int {
	per := m.sampleValues * int64(elemBytes)
	if gradients {
		per *= 2
	}
	if per <= 0 || want < 1 {
		return max(want, 1)
	}
	return int(max(1, min(int64(want), budget/per)))
}

// SampleBytes is the memory a Session holds per sample of a batch, in
// elements of elemBytes bytes, with gradients when gradients is set.
func (m *Model) SampleBytes(elemBytes int, gradients bool) int64 {
	per := m.sampleValues * int64(elemBytes)
	if gradients {
		per *= 2
	}
	return per
}

// walkNodes calls fn on each node and on each node of its graph attributes
// (an If's branches), depth first.
func walkNodes(nodes []*graph.Node, fn func(*graph.Node)) {
	for _, n := range nodes {
		fn(n)
		for _, a := range n.Attrs {
			if a.Kind == graph.AttrGraph && a.Graph != nil {
				walkNodes(a.Graph.Nodes, fn)
			}
		}
	}
}

// EvenBatch returns the batch size to split n samples into given a cap b:
// the largest divisor of n from b down to b/2, so that every batch has the
// same size (a Session holds the buffers of each batch size it runs, and a
// short last batch would be a second set), or b itself when n has no such
// divisor.
func EvenBatch(n, b int) int {
	if b < 1 || n <= b {
		return max(b, 1)
	}
	for d := b; 2*d >= b; d-- {
		if n%d == 0 {
			return d
		}
	}
	return b
}
