package qdq

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"

	"mpq/internal/graph"
)

// model is the ONNX ModelProto being rewritten, with the name bookkeeping
// every rewrite needs.
type model struct {
	mp *onnx.ModelProto
	g  *onnx.GraphProto
	// values holds every value name in use (initializers, graph inputs,
	// node outputs, and names already handed out); nodes every node name.
	values map[string]bool
	nodes  map[string]bool
	// before[n] and after[n] are new nodes to insert just before or after n.
	before, after map[*onnx.NodeProto][]*onnx.NodeProto
	// initInputs are graph inputs that declare an initializer (older
	// exporters list them): they go when their initializer goes.
	initInputs map[string]bool
}

func newModel(mp *onnx.ModelProto) *model {
	m := &model{mp: mp, g: mp.GetGraph(), values: map[string]bool{}, nodes: map[string]bool{},
		before: map[*onnx.NodeProto][]*onnx.NodeProto{}, after: map[*onnx.NodeProto][]*onnx.NodeProto{}, initInputs: map[string]bool{}}
	for _, t := range m.g.GetInitializer() {
		m.values[t.GetName()] = true
	}
	for _, v := range m.g.GetInput() {
		if m.values[v.GetName()] {
			m.initInputs[v.GetName()] = true
		}
		m.values[v.GetName()] = true
	}
	for _, n := range m.g.GetNode() {
		for _, o := range n.GetOutput() {
			m.values[o] = true
		}
		if n.GetName() != "" {
			m.nodes[n.GetName()] = true
		}
	}
	return m
}

// value returns an unused value name based on base and reserves it.
func (m *model) value(base string) string {
	return reserve(m.values, base)
}

// nodeName returns an unused node name based on base and reserves it.
func (m *model) nodeName(base string) string {
	return reserve(m.nodes, base)
}

func reserve(set map[string]bool, base string) string {
	name := base
	for i := 1; set[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	set[name] = true
	return name
}

// initializer returns the initializer called name, or nil.
func (m *model) initializer(name string) *onnx.TensorProto {
	for _, t := range m.g.GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

// producer returns the node whose output is name, or nil.
func (m *model) producer(name string) *onnx.NodeProto {
	for _, n := range m.g.GetNode() {
		if slices.Contains(n.GetOutput(), name) {
			return n
		}
	}
	return nil
}

// uses counts the node inputs and graph outputs that read name.
func (m *model) uses(name string) int {
	k := 0
	var walk func(nodes []*onnx.NodeProto)
	walk = func(nodes []*onnx.NodeProto) {
		for _, n := range nodes {
			for _, in := range n.GetInput() {
				if in == name {
					k++
				}
			}
			for _, a := range n.GetAttribute() {
				if g := a.GetG(); g != nil {
					walk(g.GetNode())
					for _, o := range g.GetOutput() {
						if o.GetName() == name {
							k++
						}
					}
				}
			}
		}
	}
	walk(m.g.GetNode())
	for _, o := range m.g.GetOutput() {
		if o.GetName() == name {
			k++
		}
	}
	return k
}

// setConstant makes name a float32 initializer holding t's values: the
// existing initializer's data is replaced, or the Constant node producing
// name is dropped for an initializer, or a new initializer is added.
func (m *model) setConstant(name string, t *graph.Tensor) error {
	if !t.DType.IsFloat() {
		return fmt.Errorf("onnx: constant %q is %s, want float", name, t.DType)
	}
	vals := make([]float32, len(t.Float))
	for i, v := range t.Float {
		vals[i] = float32(v)
	}
	nt := floatTensor(name, t.Shape, vals)
	for i, old := range m.g.Initializer {
		if old.GetName() == name {
			m.g.Initializer[i] = nt
			return nil
		}
	}
	if p := m.producer(name); p != nil {
		if !m.constant(p, 0) {
			return fmt.Errorf("onnx: %q is computed by node %q (%s), not a constant mpq can replace", name, p.GetName(), p.GetOpType())
		}
		m.dropChain(p)
	}
	m.g.Initializer = append(m.g.Initializer, nt)
	m.values[name] = true
	return nil
}

// constant reports whether node n computes its outputs from constants
// alone: a Constant, or a node (an Identity of a deduplicated initializer,
// a Transpose of one) whose inputs are initializers or outputs of such
// nodes, as the engine folds them into its layers' weights (depth bounds
// the walk on malformed graphs).
func (m *model) constant(n *onnx.NodeProto, depth int) bool {
	if n.GetOpType() == "Constant" {
		return true
	}
	if depth > 64 || !isDefault(n.GetDomain()) || n.GetOpType() == "DequantizeLinear" || len(n.GetInput()) == 0 {
		return false
	}
	for _, in := range n.GetInput() {
		if in == "" || m.initializer(in) != nil {
			continue
		}
		p := m.producer(in)
		if p == nil || !m.constant(p, depth+1) {
			return false
		}
	}
	return true
}

// dropChain removes node n, a constant computation (constant), and then
// the nodes of its chain whose outputs nothing reads any more; prune drops
// the initializers left unread.
func (m *model) dropChain(n *onnx.NodeProto) {
	m.removeNode(n)
	used := m.usedNames()
	for _, in := range n.GetInput() {
		if in == "" || used[in] {
			continue
		}
		if p := m.producer(in); p != nil && !slices.ContainsFunc(p.GetOutput(), func(o string) bool { return used[o] }) {
			m.dropChain(p)
		}
	}
}

func (m *model) removeNode(n *onnx.NodeProto) {
	m.g.Node = slices.DeleteFunc(m.g.Node, func(x *onnx.NodeProto) bool { return x == n })
}

// insertBefore queues nodes to go just before n in the node list.
func (m *model) insertBefore(n *onnx.NodeProto, nodes ...*onnx.NodeProto) {
	m.before[n] = append(m.before[n], nodes...)
}

// insertAfter queues nodes to go just after n in the node list.
func (m *model) insertAfter(n *onnx.NodeProto, nodes ...*onnx.NodeProto) {
	m.after[n] = append(m.after[n], nodes...)
}

// flush places queued nodes.
func (m *model) flush() {
	if len(m.before) == 0 && len(m.after) == 0 {
		return
	}
	out := make([]*onnx.NodeProto, 0, len(m.g.Node)+3*len(m.before)+len(m.after))
	for _, n := range m.g.Node {
		out = append(out, m.before[n]...)
		out = append(out, n)
		out = append(out, m.after[n]...)
	}
	m.g.Node = out
	clear(m.before)
	clear(m.after)
}

// prune drops what nothing reads any more: Constant nodes, initializers,
// graph inputs that were initializers, and value_info of values that no
// longer exist.
func (m *model) prune() {
	for {
		used := m.usedNames()
		before := len(m.g.Node)
		m.g.Node = slices.DeleteFunc(m.g.Node, func(n *onnx.NodeProto) bool {
			return n.GetOpType() == "Constant" && isDefault(n.GetDomain()) && !slices.ContainsFunc(n.GetOutput(), func(o string) bool { return used[o] })
		})
		if len(m.g.Node) == before {
			break
		}
	}
	used := m.usedNames()
	inits := map[string]bool{}
	m.g.Initializer = slices.DeleteFunc(m.g.Initializer, func(t *onnx.TensorProto) bool {
		if !used[t.GetName()] {
			return true
		}
		inits[t.GetName()] = true
		return false
	})
	m.g.Input = slices.DeleteFunc(m.g.Input, func(v *onnx.ValueInfoProto) bool {
		// An input that was listed because it is an initializer (older
		// exporters) goes with its initializer; real inputs stay.
		return m.initInputs[v.GetName()] && !inits[v.GetName()]
	})
	produced := map[string]bool{}
	for _, n := range m.g.GetNode() {
		for _, o := range n.GetOutput() {
			produced[o] = true
		}
	}
	for _, v := range m.g.GetInput() {
		produced[v.GetName()] = true
	}
	m.g.ValueInfo = slices.DeleteFunc(m.g.ValueInfo, func(v *onnx.ValueInfoProto) bool {
		return !produced[v.GetName()] && !inits[v.GetName()]
	})
}

// dropConstant removes the initializer called name, or the Constant node
// that produces it, so that the name can be given to another value.
func (m *model) dropConstant(name string) error {
	before := len(m.g.Initializer)
	m.g.Initializer = slices.DeleteFunc(m.g.Initializer, func(t *onnx.TensorProto) bool { return t.GetName() == name })
	if len(m.g.Initializer) < before {
		return nil
	}
	if p := m.producer(name); p != nil && m.constant(p, 0) {
		m.dropChain(p)
		return nil
	}
	return fmt.Errorf("onnx: %q is neither an initializer nor a Constant", name)
}

func (m *model) usedNames() map[string]bool {
	used := map[string]bool{}
	var walk func(nodes []*onnx.NodeProto)
	walk = func(nodes []*onnx.NodeProto) {
		for _, n := range nodes {
			for _, in := range n.GetInput() {
				used[in] = true
			}
			// An If's branches may read the graph's values by name
			// (over-counted here: a branch's own names are never pruned).
			for _, a := range n.GetAttribute() {
				if g := a.GetG(); g != nil {
					walk(g.GetNode())
					for _, o := range g.GetOutput() {
						used[o.GetName()] = true
					}
				}
			}
		}
	}
	walk(m.g.GetNode())
	for _, o := range m.g.GetOutput() {
		used[o.GetName()] = true
	}
	return used
}

func isDefault(domain string) bool { return domain == "" || domain == "ai.onnx" }

// Tensor constructors. Data goes into raw_data, little-endian, as the ONNX
// spec and every exporter write it.

func dims(shape []int) []int64 {
	d := make([]int64, len(shape))
	for i, v := range shape {
		d[i] = int64(v)
	}
	return d
}

func floatTensor(name string, shape []int, v []float32) *onnx.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return &onnx.TensorProto{Name: name, Dims: dims(shape), DataType: int32(onnx.TensorProto_FLOAT), RawData: raw}
}

func int8Tensor(name string, shape []int, v []int8) *onnx.TensorProto {
	raw := make([]byte, len(v))
	for i, x := range v {
		raw[i] = byte(x)
	}
	return &onnx.TensorProto{Name: name, Dims: dims(shape), DataType: int32(onnx.TensorProto_INT8), RawData: raw}
}

func uint8Tensor(name string, shape []int, v []uint8) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, Dims: dims(shape), DataType: int32(onnx.TensorProto_UINT8), RawData: slices.Clone(v)}
}

func int64Tensor(name string, shape []int, v []int64) *onnx.TensorProto {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return &onnx.TensorProto{Name: name, Dims: dims(shape), DataType: int32(onnx.TensorProto_INT64), RawData: raw}
}

func intAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

// attr returns n's attribute called name, or nil.
func attr(n *onnx.NodeProto, name string) *onnx.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func removeAttr(n *onnx.NodeProto, name string) {
	n.Attribute = slices.DeleteFunc(n.Attribute, func(a *onnx.AttributeProto) bool { return a.GetName() == name })
}

func setAttr(n *onnx.NodeProto, a *onnx.AttributeProto) {
	removeAttr(n, a.GetName())
	n.Attribute = append(n.Attribute, a)
}

// explicitZeros keeps attribute values that are zero on the wire. ONNX's
// schema is proto2, where an attribute's i, f or s is present even when it
// is 0, 0.0 or ""; the Go types are generated from the proto3 form, which
// drops zero scalars when it serializes, so a MaxPool's ceil_mode = 0 or a
// DequantizeLinear's axis = 0 would come out with no value at all. The
// value is written back as an unknown field, which the encoder emits as is.
func explicitZeros(g *onnx.GraphProto) {
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			var b []byte
			switch {
			case a.GetType() == onnx.AttributeProto_INT && a.GetI() == 0:
				b = protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 0)
			case a.GetType() == onnx.AttributeProto_FLOAT && a.GetF() == 0 && !math.Signbit(float64(a.GetF())):
				b = protowire.AppendFixed32(protowire.AppendTag(nil, 2, protowire.Fixed32Type), 0)
			case a.GetType() == onnx.AttributeProto_STRING && len(a.GetS()) == 0:
				b = protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), nil)
			}
			if b != nil && len(a.ProtoReflect().GetUnknown()) == 0 {
				a.ProtoReflect().SetUnknown(b)
			}
			if a.GetG() != nil {
				explicitZeros(a.GetG())
			}
			for _, sub := range a.GetGraphs() {
				explicitZeros(sub)
			}
		}
	}
}
