package engine

import (
	"fmt"
	"slices"

	"mpq/internal/graph"
	"mpq/internal/kernel"
)

// Float is the element type a Session computes in.
type Float = kernel.Float

// program is a graph planned for one batch size: every value's shape, the
// values known at plan time, and the steps that compute the rest.
type program[T Float] struct {
	batch       int
	staticBatch int // Model.staticBatch
	names       []string
	index       map[string]int
	shapes      [][]int
	consts      map[int]*graph.Tensor // values known when planning (initializers, folded shape chains)
	alias       []int                 // alias[v] is the value whose storage v shares (v itself if none)
	steps       []step[T]
	input       int
	output      int
	// layerW[l] and layerIn[l] are the value indices of layer l's weight and input.
	layerW  []int
	layerIn []int
	// layerStep[l] is the index of the step that computes layer l (-1 if
	// none does): no earlier step contributes to its weight's gradient.
	layerStep []int
	// dynamic[v] is true for values computed per batch (their gradient exists).
	dynamic []bool
	// stepIns[i] and stepOuts[i] are step i's input and output value
	// indices (-1 where absent), for the suffix plans of suffix.go.
	stepIns, stepOuts [][]int
	// suffixes holds the layer suffixes planned so far (suffix.go).
	suffixes map[int]*suffix
}

// step is one planned operation. forward computes its outputs from st.data;
// backward adds the gradient of its inputs (where st.grad has a buffer) from
// the gradient of its outputs.
type step[T Float] interface {
	forward(st *state[T])
	backward(st *state[T])
}

// shapes is what planShapes reports: the per-value shapes at a batch size.
type shapeInfo struct {
	shapes map[string][]int
	// values counts the elements of the values computed per batch (one
	// buffer per alias group; layer weights excluded).
	values int64
}

// planShapes plans the model at batch size n and reports every value's shape.
func planShapes(m *Model, n int) (*shapeInfo, error) {
	p, err := compile[float64](m, n, false)
	if err != nil {
		return nil, err
	}
	si := &shapeInfo{shapes: make(map[string][]int, len(p.names))}
	isW := map[int]bool{}
	for _, w := range p.layerW {
		isW[w] = true
	}
	for i, name := range p.names {
		si.shapes[name] = p.shapes[i]
		if p.dynamic[i] && p.alias[i] == i && !isW[i] {
			si.values += int64(graph.NumElements(p.shapes[i]))
		}
	}
	return si, nil
}

// inlineIf plans the branch an If's condition chooses, when the condition
// is known at planning time: computed from shapes, as torch.onnx writes
// x.squeeze(d) on a dimension it cannot prove is 1 (nn.LocalResponseNorm).
// The If's outputs are the branch's outputs. Its inputs after the
// condition are the values its branches read (onnxio appends them).
func (p *program[T]) inlineIf(node *graph.Node, add func(string, []int) int, compileNode func(int, *graph.Node) error) error {
	var cond *graph.Tensor
	if ci, ok := p.index[node.Input(0)]; ok && !p.dynamic[ci] {
		cond = p.consts[ci]
	}
	if cond == nil || cond.Len() != 1 {
		return fmt.Errorf("onnx: node %q (If): its condition %q depends on the data; mpq runs an If only when the input's shape decides it (as in torch.onnx's squeeze of a dimension it could not prove is 1)", node.Label(), node.Input(0))
	}
	v := cond.Floats()[0]
	branch := "else_branch"
	if v != 0 {
		branch = "then_branch"
	}
	a, ok := node.Attrs[branch]
	if !ok || a.Kind != graph.AttrGraph || a.Graph == nil {
		return fmt.Errorf("onnx: node %q (If) has no %s graph", node.Label(), branch)
	}
	bg := a.Graph
	if len(bg.Outputs) != len(node.Outputs) {
		return fmt.Errorf("onnx: node %q (If): its %s has %d outputs for the node's %d", node.Label(), branch, len(bg.Outputs), len(node.Outputs))
	}
	for _, name := range bg.InitOrder {
		if _, taken := p.index[name]; !taken {
			t := bg.Init[name]
			p.consts[add(name, slices.Clone(t.Shape))] = t
		}
	}
	for _, bn := range bg.Nodes {
		if err := compileNode(-1, bn); err != nil {
			return err
		}
	}
	for k, o := range node.Outputs {
		if o == "" {
			continue
		}
		src, ok := p.index[bg.Outputs[k].Name]
		if !ok {
			return fmt.Errorf("onnx: node %q (If): its %s does not compute its output %q", node.Label(), branch, bg.Outputs[k].Name)
		}
		p.index[o] = src
	}
	return nil
}

// compile plans m for batch size n; with fuse, for Forward alone (see
// fuseRelu).
func compile[T Float](m *Model, n int, fuse bool) (*program[T], error) {
	g := m.Graph
	p := &program[T]{batch: n, staticBatch: m.staticBatch, index: map[string]int{}, consts: map[int]*graph.Tensor{}}
	add := func(name string, shape []int) int {
		if i, ok := p.index[name]; ok {
			return i
		}
		i := len(p.names)
		p.names = append(p.names, name)
		p.shapes = append(p.shapes, shape)
		p.alias = append(p.alias, i)
		p.dynamic = append(p.dynamic, false)
		p.index[name] = i
		return i
	}
	inShape := slices.Clone(m.InputShape)
	inShape[0] = n
	p.input = add(m.Input, inShape)
	p.dynamic[p.input] = true
	isLayerW := map[string]bool{}
	for _, l := range m.Layers {
		isLayerW[l.Weight] = true
	}
	constOf := func(name string) *graph.Tensor {
		if name == "" {
			return nil
		}
		if i, ok := p.index[name]; ok {
			return p.consts[i]
		}
		if t, ok := g.Init[name]; ok {
			i := add(name, slices.Clone(t.Shape))
			p.consts[i] = t
			if isLayerW[name] {
				p.dynamic[i] = true // a layer weight: its data is swappable and it has a gradient
			}
			return t
		}
		return nil
	}
	layerAt := make(map[int]int, len(m.Layers))
	for i, l := range m.Layers {
		layerAt[l.node] = i
	}
	var compileNode func(ni int, node *graph.Node) error
	compileNode = func(ni int, node *graph.Node) error {
		if node.Op == "If" {
			for _, name := range node.Inputs {
				constOf(name) // a condition or outer read held as an initializer
			}
			return p.inlineIf(node, add, compileNode)
		}
		ins := make([]int, len(node.Inputs))
		allConst := true
		for j, name := range node.Inputs {
			if name == "" {
				ins[j] = -1
				continue
			}
			constOf(name)
			idx, ok := p.index[name]
			if !ok {
				return fmt.Errorf("onnx: node %q (%s) reads %q before it is defined", node.Label(), node.Op, name)
			}
			ins[j] = idx
			if p.consts[idx] == nil || p.dynamic[idx] {
				allConst = false
			}
		}
		c := &compiler[T]{p: p, node: node, ins: ins, opset: g.Opset}
		if node.Op == "Shape" && len(ins) == 1 && ins[0] >= 0 {
			t := shapeOf(node, p.shapes[ins[0]])
			c.setConst(0, t)
			return nil
		}
		if allConst {
			ins := c.constIns()
			if node.Op == "Expand" && len(ins) == 2 && ins[0] != nil && ins[1] != nil {
				ins[0] = p.unbatchExpand(ins[0], ins[1].Ints())
			}
			if t, ok, err := foldConst(node, ins, g.Opset); err != nil {
				return fmt.Errorf("onnx: node %q (%s): %w", node.Label(), node.Op, err)
			} else if ok {
				c.setConst(0, t)
				return nil
			}
		}
		st, outShapes, err := c.build()
		for _, sh := range outShapes {
			if err == nil {
				err = checkShape(sh)
			}
		}
		if err != nil {
			return fmt.Errorf("onnx: node %q (%s): %w", node.Label(), node.Op, err)
		}
		if len(outShapes) == 0 {
			return nil
		}
		for j, sh := range outShapes {
			if j >= len(node.Outputs) || node.Outputs[j] == "" {
				continue
			}
			o := add(node.Outputs[j], sh)
			p.dynamic[o] = true
			if j == 0 && c.aliasOf >= 0 {
				p.alias[o] = p.alias[c.aliasOf]
			}
		}
		c.outs = make([]int, len(node.Outputs))
		for j, name := range node.Outputs {
			c.outs[j] = -1
			if name != "" {
				if idx, ok := p.index[name]; ok {
					c.outs[j] = idx
				}
			}
		}
		if st != nil {
			if l, ok := layerAt[ni]; ok {
				if ls, ok := st.(interface{ setLayer(int) }); ok {
					ls.setLayer(l)
				}
				if wf, ok := st.(interface{ setWeightFirst() }); ok && m.Layers[l].WeightFirst {
					wf.setWeightFirst()
				}
				for len(p.layerStep) <= l {
					p.layerStep = append(p.layerStep, -1)
				}
				p.layerStep[l] = len(p.steps)
			}
			st.bind(c.ins, c.outs)
			p.steps = append(p.steps, st)
			p.stepIns = append(p.stepIns, c.ins)
			p.stepOuts = append(p.stepOuts, c.outs)
		}
		return nil
	}
	for ni, node := range g.Nodes {
		if err := compileNode(ni, node); err != nil {
			return nil, err
		}
	}
	out, ok := p.index[m.Output]
	if !ok || !p.dynamic[out] {
		return nil, fmt.Errorf("onnx: output %q does not depend on the input %q", m.Output, m.Input)
	}
	p.output = out
	for len(p.layerStep) < len(m.Layers) {
		p.layerStep = append(p.layerStep, -1)
	}
	for _, l := range m.Layers {
		p.layerW = append(p.layerW, p.index[l.Weight])
		in, ok := p.index[l.Input]
		if !ok {
			in = -1
		}
		p.layerIn = append(p.layerIn, in)
	}
	if fuse {
		p.fuseRelu()
		for _, st := range p.steps {
			if ps, ok := st.(*poolStep[T]); ok {
				ps.forwardOnly = true // no backward pass: no argmax to keep
			}
		}
	}
	return p, nil
}

// fuseRelu makes each Relu whose input is a Conv's output, or the output
// of an Add of two same-shaped values, and nothing else's run inside that
// step (kernel.ConvForwardReLU; binaryRange's fused add): the Relu's output
// shares the producer's storage and its step does nothing. A value read
// by two steps, stored under another name (a Reshape's alias) or returned
// by the model is left alone. The backward pass of a fused program would
// be wrong (the Relu's gradient would share its input's), so only
// inference sessions fuse.
func (p *program[T]) fuseRelu() {
	readers := make([]int, len(p.names))
	for _, ins := range p.stepIns {
		for _, v := range ins {
			if v >= 0 {
				readers[p.alias[v]]++
			}
		}
	}
	for v := range p.names {
		if r := p.alias[v]; r != v {
			readers[r]++ // another name for r's storage may be read anywhere
		}
	}
	own := func(v int) bool { return v >= 0 && p.alias[v] == v }
	for i, st := range p.steps {
		var relu *bool
		switch s := st.(type) {
		case *convStep[T]:
			relu = &s.relu
		case *binStep[T]:
			if s.same && s.op == '+' {
				relu = &s.relu
			}
		}
		if relu == nil || len(p.stepOuts[i]) == 0 {
			continue
		}
		o := p.stepOuts[i][0]
		if !own(o) || o == p.output || readers[o] != 1 {
			continue
		}
		for j := i + 1; j < len(p.steps); j++ {
			if !slices.Contains(p.stepIns[j], o) {
				continue
			}
			if us, ok := p.steps[j].(*unaryStep[T]); ok && us.op == "Relu" && own(p.stepOuts[j][0]) {
				r := p.stepOuts[j][0]
				for v := range p.alias {
					if p.alias[v] == r {
						p.alias[v] = o
					}
				}
				*relu = true
				p.steps[j] = nopStep[T]{}
			}
			break
		}
	}
}

// nopStep is a step fused into another one.
type nopStep[T Float] struct{}

func (nopStep[T]) forward(*state[T])  {}
func (nopStep[T]) backward(*state[T]) {}

// binder is what every step implements besides step: it learns the value
// indices of its inputs and outputs once they are known.
type binder interface {
	bind(ins, outs []int)
}

// stepIO is embedded by steps to hold their value indices.
type stepIO struct {
	in  []int
	out []int
}

func (s *stepIO) bind(ins, outs []int) { s.in, s.out = ins, outs }

// compiler builds one node's step.
type compiler[T Float] struct {
	p       *program[T]
	node    *graph.Node
	ins     []int
	outs    []int
	opset   int64
	aliasOf int // when ≥ 0, output 0 shares storage with this value
}

func (c *compiler[T]) shape(i int) []int {
	if i >= len(c.ins) || c.ins[i] < 0 {
		return nil
	}
	return c.p.shapes[c.ins[i]]
}

func (c *compiler[T]) has(i int) bool { return i < len(c.ins) && c.ins[i] >= 0 }

// constIn returns input i's plan-time value, or nil when it is dynamic or absent.
func (c *compiler[T]) constIn(i int) *graph.Tensor {
	if !c.has(i) || c.p.dynamic[c.ins[i]] {
		return nil
	}
	return c.p.consts[c.ins[i]]
}

// unbatchExpand returns the constant x that an Expand broadcasts to the
// shape target, with its fixed-batch dimension collapsed to 1 where a
// model exported with a fixed batch B expands a constant of B samples
// (an RNN's zero initial state, [1, B, hidden]) to a shape computed from
// the input, whose batch is this plan's: the same values for every
// sample. x is returned as it is in every other case.
func (p *program[T]) unbatchExpand(x *graph.Tensor, target []int64) *graph.Tensor {
	b := p.staticBatch
	if b <= 1 || b == p.batch || !x.DType.IsFloat() || len(target) < len(x.Shape) {
		return x
	}
	off := len(target) - len(x.Shape)
	for k, d := range x.Shape {
		if d != b || target[off+k] != int64(p.batch) {
			continue
		}
		inner := graph.NumElements(x.Shape[k+1:])
		outer := graph.NumElements(x.Shape[:k])
		v := x.Floats()
		y := make([]float64, 0, outer*inner)
		for o := range outer {
			blk := v[o*b*inner : (o+1)*b*inner]
			for j := 1; j < b; j++ {
				if !slices.Equal(blk[:inner], blk[j*inner:(j+1)*inner]) {
					return x // differs per sample: left to fail as it is
				}
			}
			y = append(y, blk[:inner]...)
		}
		sh := slices.Clone(x.Shape)
		sh[k] = 1
		return &graph.Tensor{Name: x.Name, DType: x.DType, Shape: sh, Float: y}
	}
	return x
}

func (c *compiler[T]) constIns() []*graph.Tensor {
	out := make([]*graph.Tensor, len(c.ins))
	for i := range c.ins {
		out[i] = c.constIn(i)
	}
	return out
}

func (c *compiler[T]) setConst(j int, t *graph.Tensor) {
	name := c.node.Outputs[j]
	t.Name = name
	i, ok := c.p.index[name]
	if !ok {
		i = len(c.p.names)
		c.p.names = append(c.p.names, name)
		c.p.shapes = append(c.p.shapes, slices.Clone(t.Shape))
		c.p.alias = append(c.p.alias, i)
		c.p.dynamic = append(c.p.dynamic, false)
		c.p.index[name] = i
	}
	c.p.consts[i] = t
}

// stepper is a step that can bind its indices.
type stepper[T Float] interface {
	step[T]
	binder
}

// build dispatches on the op type: one switch, as the ONNX spec lists them.
func (c *compiler[T]) build() (stepper[T], [][]int, error) {
	c.aliasOf = -1
	n := c.node
	if !c.has(0) {
		return nil, nil, fmt.Errorf("input 0 is missing")
	}
	x := c.shape(0)
	switch n.Op {
	case "Conv":
		return c.conv()
	case "ConvTranspose":
		return c.convTranspose()
	case "Gemm":
		return c.gemm()
	case "MatMul":
		return c.matmul()
	case "Add", "Sub", "Mul", "Div", "Max", "Min":
		return c.binary()
	case "Relu", "LeakyRelu", "PRelu", "ThresholdedRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Clip",
		"Elu", "Selu", "Celu", "Softplus", "Softsign", "Mish", "Erf", "Gelu",
		"Exp", "Log", "Sqrt", "Abs", "Neg", "Sign", "Not", "Reciprocal", "Pow",
		"Floor", "Ceil", "Round", "Sin", "Cos":
		return c.unary()
	case "Identity", "Dropout":
		c.aliasOf = c.ins[0]
		return nil, [][]int{slices.Clone(x)}, nil
	case "Cast":
		to := graph.DType(n.AttrInt("to", 1))
		if to == graph.Bool {
			// A mask (a comparison's or Or's output, held as 0 and 1)
			// made boolean: x ≠ 0.
			return &unaryStep[T]{op: "CastBool"}, [][]int{slices.Clone(x)}, nil
		}
		if !to.IsFloat() {
			return nil, nil, fmt.Errorf("casting activations to %s is not supported", to)
		}
		c.aliasOf = c.ins[0]
		return nil, [][]int{slices.Clone(x)}, nil
	case "Flatten":
		axis := int(n.AttrInt("axis", 1))
		if axis < 0 {
			axis += len(x)
		}
		if axis < 0 || axis > len(x) {
			return nil, nil, fmt.Errorf("axis %d out of range for shape %s: %w", n.AttrInt("axis", 1), graph.ShapeString(x), ErrShape)
		}
		c.aliasOf = c.ins[0]
		return nil, [][]int{{graph.NumElements(x[:axis]), graph.NumElements(x[axis:])}}, nil
	case "Reshape":
		st := c.constIn(1)
		if st == nil {
			return nil, nil, fmt.Errorf("the target shape is computed from data, which mpq cannot plan; export with a static shape or x.view(x.size(0), -1)")
		}
		spec := st.Ints()
		if b := c.p.staticBatch; b > 0 && b != c.p.batch && len(spec) > 0 && spec[0] == int64(b) && len(x) > 0 && x[0] == c.p.batch {
			// A model exported with a fixed batch B reshapes its
			// per-batch values to [B, ...]: that B is the batch.
			spec = slices.Clone(spec)
			spec[0] = int64(c.p.batch)
		}
		y, err := reshapeTo(x, spec, n.AttrInt("allowzero", 0) != 0)
		if err != nil {
			return nil, nil, err
		}
		c.aliasOf = c.ins[0]
		return nil, [][]int{y}, nil
	case "Squeeze", "Unsqueeze":
		axes, err := c.axes()
		if err != nil {
			return nil, nil, err
		}
		var y []int
		if n.Op == "Squeeze" {
			y, err = squeezeShape(x, axes)
		} else {
			y, err = unsqueezeShape(x, axes)
		}
		if err != nil {
			return nil, nil, err
		}
		c.aliasOf = c.ins[0]
		return nil, [][]int{y}, nil
	case "Transpose", "Pad", "Slice", "Gather", "Expand", "Tile", "DepthToSpace", "SpaceToDepth":
		return c.gatherMap()
	case "Concat":
		return c.concat()
	case "Softmax", "LogSoftmax":
		return c.softmax()
	case "MaxPool", "AveragePool":
		return c.pool()
	case "GlobalAveragePool":
		return c.globalAvgPool()
	case "BatchNormalization":
		return c.batchNorm()
	case "LayerNormalization":
		return c.layerNorm()
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp":
		return c.reduce()
	case "GlobalMaxPool":
		return c.globalMaxPool()
	case "InstanceNormalization":
		return c.instanceNorm()
	case "Split":
		return c.split()
	case "QuantizeLinear", "DequantizeLinear":
		return c.qdq()
	case "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal", "And", "Or", "Xor":
		return c.compare()
	case "Where":
		return c.where()
	case "Resize":
		return c.resize()
	case "LSTM", "GRU", "RNN":
		return c.rnn()
	case "Einsum":
		return c.einsum()
	case "CumSum":
		return c.cumSum()
	case "ConstantOfShape", "Range", "ReduceProd":
		return nil, nil, fmt.Errorf("%s on activations is not supported (only in shape computations)", n.Op)
	}
	return nil, nil, fmt.Errorf("%w: %s", ErrUnsupported, n.Op)
}

// axes reads Squeeze/Unsqueeze axes from the attribute (opset < 13) or input 1.
func (c *compiler[T]) axes() ([]int64, error) {
	if a := c.node.AttrInts("axes"); a != nil {
		return a, nil
	}
	if c.has(1) {
		t := c.constIn(1)
		if t == nil {
			return nil, fmt.Errorf("axes computed from data are not supported")
		}
		return t.Ints(), nil
	}
	return nil, nil
}
