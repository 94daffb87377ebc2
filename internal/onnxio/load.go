package onnxio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"mpq/internal/graph"
)

// MaxFileSize bounds the model files Load reads (2 GiB, protobuf's own limit).
const MaxFileSize = 2 << 30

// maxElements bounds any single tensor's declared element count before its
// data is checked (2^31): larger declarations are rejected, not allocated.
const maxElements = 1 << 31

// ErrInvalid marks a file that is not a usable ONNX model.
var ErrInvalid = errors.New("invalid ONNX model")

// Load reads the ONNX model at path.
func Load(path string) (*graph.Graph, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: model %s: %w (check the model path)", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("onnx: model %s is a directory, not an .onnx file", path)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("onnx: model %s is %d bytes, over the 2 GiB protobuf limit; models with external data are not supported", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: model %s: %w", path, err)
	}
	g, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: model %s: %w", path, err)
	}
	return g, nil
}

// Decode parses a serialized ONNX ModelProto.
func Decode(data []byte) (*graph.Graph, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the file is empty; export the model again with torch.onnx.export", ErrInvalid)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		// protobuf-go puts a no-break space after "proto:" in some builds
		// and not others, to keep programs from matching its messages:
		// make ours the same in every build.
		detail := strings.ReplaceAll(err.Error(), "\u00a0", " ")
		return nil, fmt.Errorf("%w: not a readable ONNX protobuf (%s); the file is truncated or not an ONNX model: export it again with torch.onnx.export", ErrInvalid, detail)
	}
	return FromProto(&m)
}

// FromProto converts a decoded ModelProto.
func FromProto(m *onnx.ModelProto) (*graph.Graph, error) {
	gp := m.GetGraph()
	if gp == nil || len(gp.GetNode()) == 0 {
		return nil, fmt.Errorf("%w: the file holds no graph nodes; the file is truncated or not an ONNX model: export it again with torch.onnx.export", ErrInvalid)
	}
	g := &graph.Graph{
		Name:        gp.GetName(),
		Init:        make(map[string]*graph.Tensor, len(gp.GetInitializer())),
		Producer:    m.GetProducerName() + " " + m.GetProducerVersion(),
		Metadata:    map[string]string{},
		Doc:         m.GetDocString(),
		IRVersion:   m.GetIrVersion(),
		ValueShapes: map[string][]int{},
	}
	for _, op := range m.GetOpsetImport() {
		if d := op.GetDomain(); d == "" || d == "ai.onnx" {
			g.Opset = op.GetVersion()
		}
	}
	if g.Opset == 0 {
		return nil, fmt.Errorf("%w: the model imports no default-domain opset", ErrInvalid)
	}
	for _, kv := range m.GetMetadataProps() {
		g.Metadata[kv.GetKey()] = kv.GetValue()
	}
	for _, tp := range gp.GetInitializer() {
		t, err := TensorFromProto(tp)
		if err != nil {
			return nil, err
		}
		if _, dup := g.Init[t.Name]; dup {
			return nil, fmt.Errorf("%w: initializer %q is defined twice", ErrInvalid, t.Name)
		}
		g.Init[t.Name] = t
		g.InitOrder = append(g.InitOrder, t.Name)
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("%w: sparse initializers are not supported; export with dense weights", ErrInvalid)
	}
	for _, vi := range gp.GetInput() {
		if _, isInit := g.Init[vi.GetName()]; isInit {
			continue // older exporters list initializers as inputs too
		}
		v, err := valueInfo(vi)
		if err != nil {
			return nil, err
		}
		g.Inputs = append(g.Inputs, v)
	}
	for _, vi := range gp.GetOutput() {
		v, err := valueInfo(vi)
		if err != nil {
			return nil, err
		}
		g.Outputs = append(g.Outputs, v)
	}
	for _, vi := range gp.GetValueInfo() {
		if v, err := valueInfo(vi); err == nil && v.Shape != nil {
			g.ValueShapes[v.Name] = v.Shape
		}
	}
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("%w: the graph has no input besides its initializers", ErrInvalid)
	}
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("%w: the graph declares no output", ErrInvalid)
	}
	nodes := make([]*graph.Node, 0, len(gp.GetNode()))
	for i, np := range gp.GetNode() {
		n, err := nodeFromProto(np, i)
		if err != nil {
			return nil, err
		}
		if n.Op == "Constant" && (n.Domain == "" || n.Domain == "ai.onnx") {
			t, err := constantValue(n)
			if err != nil {
				return nil, err
			}
			if len(n.Outputs) != 1 || n.Outputs[0] == "" {
				return nil, fmt.Errorf("%w: Constant node %q must have one output", ErrInvalid, n.Label())
			}
			t.Name = n.Outputs[0]
			if _, dup := g.Init[t.Name]; dup {
				return nil, fmt.Errorf("%w: value %q is produced twice", ErrInvalid, t.Name)
			}
			g.Init[t.Name] = t
			continue
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if n.Op == "If" && (n.Domain == "" || n.Domain == "ai.onnx") {
			n.Inputs = append(n.Inputs, outerReads(n)...)
		}
	}
	sorted, err := topoSort(g, nodes)
	if err != nil {
		return nil, err
	}
	g.Nodes = sorted
	return g, nil
}

// subgraphFromProto reads a graph attribute (an If's branch): its nodes in
// file order, its initializers and Constant nodes as Init, its outputs.
func subgraphFromProto(gp *onnx.GraphProto) (*graph.Graph, error) {
	g := &graph.Graph{Name: gp.GetName(), Init: map[string]*graph.Tensor{}}
	for _, tp := range gp.GetInitializer() {
		t, err := TensorFromProto(tp)
		if err != nil {
			return nil, err
		}
		g.Init[t.Name] = t
		g.InitOrder = append(g.InitOrder, t.Name)
	}
	for _, vi := range gp.GetOutput() {
		g.Outputs = append(g.Outputs, graph.ValueInfo{Name: vi.GetName()})
	}
	for i, np := range gp.GetNode() {
		n, err := nodeFromProto(np, i)
		if err != nil {
			return nil, err
		}
		if n.Op == "Constant" && (n.Domain == "" || n.Domain == "ai.onnx") && len(n.Outputs) == 1 {
			t, err := constantValue(n)
			if err != nil {
				return nil, err
			}
			t.Name = n.Outputs[0]
			g.Init[t.Name] = t
			g.InitOrder = append(g.InitOrder, t.Name)
			continue
		}
		if n.Op == "If" && (n.Domain == "" || n.Domain == "ai.onnx") {
			n.Inputs = append(n.Inputs, outerReads(n)...)
		}
		g.Nodes = append(g.Nodes, n)
	}
	return g, nil
}

// outerReads lists the values of the enclosing graph that an If's branches
// read (ONNX lets a branch name them without declaring them as inputs).
// The reader appends them to the If's inputs, after the condition, so that
// ordering and liveness see them as the inputs they are.
func outerReads(n *graph.Node) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range n.Attrs {
		if a.Kind != graph.AttrGraph {
			continue
		}
		local := map[string]bool{"": true}
		for name := range a.Graph.Init {
			local[name] = true
		}
		read := func(name string) {
			if !local[name] && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
		for _, bn := range a.Graph.Nodes {
			for _, in := range bn.Inputs {
				read(in)
			}
			for _, o := range bn.Outputs {
				local[o] = true
			}
		}
		for _, o := range a.Graph.Outputs {
			read(o.Name)
		}
	}
	slices.Sort(out)
	return out
}

func valueInfo(vi *onnx.ValueInfoProto) (graph.ValueInfo, error) {
	v := graph.ValueInfo{Name: vi.GetName()}
	if v.Name == "" {
		return v, fmt.Errorf("%w: a graph input or output has no name", ErrInvalid)
	}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return v, nil
	}
	v.DType = graph.DType(tt.GetElemType())
	if sh := tt.GetShape(); sh != nil {
		v.Shape = make([]int, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			if x, ok := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); ok && x.DimValue > 0 {
				if x.DimValue > maxElements {
					return v, fmt.Errorf("%w: graph input or output %q declares dimension %d = %d, which is absurd; the file is corrupt: export it again", ErrInvalid, v.Name, i, x.DimValue)
				}
				v.Shape[i] = int(x.DimValue)
			} else {
				v.Shape[i] = -1
			}
		}
	}
	return v, nil
}

func nodeFromProto(np *onnx.NodeProto, index int) (*graph.Node, error) {
	n := &graph.Node{
		Name:    np.GetName(),
		Op:      np.GetOpType(),
		Domain:  np.GetDomain(),
		Inputs:  append([]string(nil), np.GetInput()...),
		Outputs: append([]string(nil), np.GetOutput()...),
		Attrs:   make(map[string]graph.Attr, len(np.GetAttribute())),
	}
	if n.Op == "" {
		return nil, fmt.Errorf("%w: node #%d (%q) has no op type", ErrInvalid, index, n.Name)
	}
	for _, ap := range np.GetAttribute() {
		a, err := attrFromProto(ap)
		if err != nil {
			return nil, fmt.Errorf("%w: node %q (%s) attribute %q: %v", ErrInvalid, n.Label(), n.Op, ap.GetName(), err)
		}
		n.Attrs[ap.GetName()] = a
	}
	return n, nil
}

func attrFromProto(ap *onnx.AttributeProto) (graph.Attr, error) {
	switch ap.GetType() {
	case onnx.AttributeProto_INT:
		return graph.Attr{Kind: graph.AttrInt, Int: ap.GetI()}, nil
	case onnx.AttributeProto_FLOAT:
		return graph.Attr{Kind: graph.AttrFloat, Float: float64(ap.GetF())}, nil
	case onnx.AttributeProto_STRING:
		return graph.Attr{Kind: graph.AttrString, String: string(ap.GetS())}, nil
	case onnx.AttributeProto_INTS:
		return graph.Attr{Kind: graph.AttrInts, Ints: append([]int64(nil), ap.GetInts()...)}, nil
	case onnx.AttributeProto_FLOATS:
		fs := make([]float64, len(ap.GetFloats()))
		for i, f := range ap.GetFloats() {
			fs[i] = float64(f)
		}
		return graph.Attr{Kind: graph.AttrFloats, Floats: fs}, nil
	case onnx.AttributeProto_STRINGS:
		ss := make([]string, len(ap.GetStrings()))
		for i, b := range ap.GetStrings() {
			ss[i] = string(b)
		}
		return graph.Attr{Kind: graph.AttrStrings, Strings: ss}, nil
	case onnx.AttributeProto_TENSOR:
		t, err := TensorFromProto(ap.GetT())
		if err != nil {
			return graph.Attr{}, err
		}
		return graph.Attr{Kind: graph.AttrTensor, Tensor: t}, nil
	case onnx.AttributeProto_GRAPH:
		g, err := subgraphFromProto(ap.GetG())
		if err != nil {
			return graph.Attr{}, err
		}
		return graph.Attr{Kind: graph.AttrGraph, Graph: g}, nil
	}
	return graph.Attr{Kind: graph.AttrOther}, nil
}

func constantValue(n *graph.Node) (*graph.Tensor, error) {
	for name, a := range n.Attrs {
		switch {
		case name == "value" && a.Kind == graph.AttrTensor:
			return a.Tensor.Clone(), nil
		case name == "value_float" && a.Kind == graph.AttrFloat:
			return &graph.Tensor{DType: graph.Float32, Shape: []int{}, Float: []float64{a.Float}}, nil
		case name == "value_floats" && a.Kind == graph.AttrFloats:
			return &graph.Tensor{DType: graph.Float32, Shape: []int{len(a.Floats)}, Float: append([]float64(nil), a.Floats...)}, nil
		case name == "value_int" && a.Kind == graph.AttrInt:
			return &graph.Tensor{DType: graph.Int64, Shape: []int{}, Int: []int64{a.Int}}, nil
		case name == "value_ints" && a.Kind == graph.AttrInts:
			return &graph.Tensor{DType: graph.Int64, Shape: []int{len(a.Ints)}, Int: append([]int64(nil), a.Ints...)}, nil
		}
	}
	return nil, fmt.Errorf("%w: Constant node %q has no value attribute mpq can read (value, value_float(s), value_int(s))", ErrInvalid, n.Label())
}

// topoSort orders nodes so that every node comes after the producers of its
// inputs (Kahn's algorithm, stable: file order among ready nodes), and checks
// that every input is defined and every value produced once.
func topoSort(g *graph.Graph, nodes []*graph.Node) ([]*graph.Node, error) {
	defined := make(map[string]bool, len(g.Init)+len(nodes))
	for name := range g.Init {
		defined[name] = true
	}
	for _, in := range g.Inputs {
		defined[in.Name] = true
	}
	producer := make(map[string]int, len(nodes))
	for i, n := range nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if _, dup := producer[o]; dup || defined[o] {
				return nil, fmt.Errorf("%w: value %q is produced twice (node %q)", ErrInvalid, o, n.Label())
			}
			producer[o] = i
		}
	}
	waiting := make([]int, len(nodes))
	users := make(map[int][]int)
	for i, n := range nodes {
		for _, in := range n.Inputs {
			if in == "" || defined[in] {
				continue
			}
			p, ok := producer[in]
			if !ok {
				return nil, fmt.Errorf("%w: node %q (%s) reads %q, which no node, input or initializer defines", ErrInvalid, n.Label(), n.Op, in)
			}
			waiting[i]++
			users[p] = append(users[p], i)
		}
	}
	out := make([]*graph.Node, 0, len(nodes))
	ready := make([]int, 0, len(nodes))
	for i := range nodes {
		if waiting[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		// pick the lowest index to keep file order stable
		best := 0
		for j := range ready {
			if ready[j] < ready[best] {
				best = j
			}
		}
		i := ready[best]
		ready = append(ready[:best], ready[best+1:]...)
		out = append(out, nodes[i])
		for _, u := range users[i] {
			waiting[u]--
			if waiting[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(out) != len(nodes) {
		return nil, fmt.Errorf("%w: the graph has a cycle", ErrInvalid)
	}
	for _, o := range g.Outputs {
		if _, ok := producer[o.Name]; !ok && !defined[o.Name] {
			return nil, fmt.Errorf("%w: graph output %q is not produced by any node", ErrInvalid, o.Name)
		}
	}
	return out, nil
}

// TensorFromProto converts an initializer or attribute tensor, checking that
// its declared shape agrees with its data before allocating anything.
func TensorFromProto(tp *onnx.TensorProto) (*graph.Tensor, error) {
	name := tp.GetName()
	if tp.GetDataLocation() == onnx.TensorProto_EXTERNAL || len(tp.GetExternalData()) > 0 {
		return nil, fmt.Errorf("%w: tensor %q keeps its data in an external file, which mpq does not read; export with the weights inside the .onnx file", ErrInvalid, name)
	}
	if tp.GetSegment() != nil {
		return nil, fmt.Errorf("%w: tensor %q is segmented, which mpq does not read", ErrInvalid, name)
	}
	shape := make([]int, len(tp.GetDims()))
	count := int64(1)
	for i, d := range tp.GetDims() {
		if d < 0 || d > maxElements {
			return nil, fmt.Errorf("%w: tensor %q declares dimension %d = %d, which is absurd; the file is corrupt: export it again", ErrInvalid, name, i, d)
		}
		shape[i] = int(d)
		count *= d
		if count > maxElements {
			return nil, fmt.Errorf("%w: tensor %q declares shape %v (over 2^31 elements), which is absurd; the file is corrupt: export it again", ErrInvalid, name, tp.GetDims())
		}
	}
	n := int(count)
	t := &graph.Tensor{Name: name, DType: graph.DType(tp.GetDataType()), Shape: shape}
	raw := tp.GetRawData()
	mismatch := func(have int) error {
		return fmt.Errorf("%w: tensor %q (%s) declares shape %v = %d elements but holds %d; the file is corrupt: export it again", ErrInvalid, name, t.DType, shape, n, have)
	}
	width := map[graph.DType]int{graph.Float32: 4, graph.Float64: 8, graph.Int64: 8, graph.Int32: 4, graph.Uint8: 1, graph.Int8: 1, graph.Bool: 1, 10: 2}
	w, ok := width[t.DType]
	if !ok {
		return nil, fmt.Errorf("%w: tensor %q has element type %d, which mpq does not read (float32/64, float16, int8/32/64, uint8, bool)", ErrInvalid, name, tp.GetDataType())
	}
	if raw != nil || (n > 0 && hasNoTypedData(tp)) {
		if len(raw) != n*w {
			return nil, mismatch(len(raw) / w)
		}
	}
	if raw != nil && len(raw) > 0 {
		switch t.DType {
		case graph.Float32:
			t.Float = make([]float64, n)
			for i := range t.Float {
				t.Float[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
			}
		case 10: // float16
			t.DType = graph.Float32
			t.Float = make([]float64, n)
			for i := range t.Float {
				t.Float[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		case graph.Float64:
			t.Float = make([]float64, n)
			for i := range t.Float {
				t.Float[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		case graph.Int64:
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		case graph.Int32:
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
		case graph.Uint8, graph.Bool:
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = int64(raw[i])
			}
		case graph.Int8:
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = int64(int8(raw[i]))
			}
		}
		return t, nil
	}
	switch t.DType {
	case graph.Float32:
		if len(tp.GetFloatData()) != n {
			return nil, mismatch(len(tp.GetFloatData()))
		}
		t.Float = make([]float64, n)
		for i, v := range tp.GetFloatData() {
			t.Float[i] = float64(v)
		}
	case 10:
		if len(tp.GetInt32Data()) != n {
			return nil, mismatch(len(tp.GetInt32Data()))
		}
		t.DType = graph.Float32
		t.Float = make([]float64, n)
		for i, v := range tp.GetInt32Data() {
			t.Float[i] = halfToFloat(uint16(v))
		}
	case graph.Float64:
		if len(tp.GetDoubleData()) != n {
			return nil, mismatch(len(tp.GetDoubleData()))
		}
		t.Float = append([]float64(nil), tp.GetDoubleData()...)
	case graph.Int64:
		if len(tp.GetInt64Data()) != n {
			return nil, mismatch(len(tp.GetInt64Data()))
		}
		t.Int = append([]int64(nil), tp.GetInt64Data()...)
	case graph.Int32, graph.Uint8, graph.Int8, graph.Bool:
		if len(tp.GetInt32Data()) != n {
			return nil, mismatch(len(tp.GetInt32Data()))
		}
		t.Int = make([]int64, n)
		for i, v := range tp.GetInt32Data() {
			t.Int[i] = int64(v)
		}
	}
	if t.DType.IsFloat() && t.Float == nil {
		t.Float = []float64{}
	}
	if !t.DType.IsFloat() && t.Int == nil {
		t.Int = []int64{}
	}
	return t, nil
}

func hasNoTypedData(tp *onnx.TensorProto) bool {
	return len(tp.GetFloatData()) == 0 && len(tp.GetDoubleData()) == 0 && len(tp.GetInt32Data()) == 0 &&
		len(tp.GetInt64Data()) == 0 && len(tp.GetUint64Data()) == 0
}

func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 0x1f:
		if frac == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}
