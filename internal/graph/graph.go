// Package graph is mpq's in-memory form of a neural network: a topologically
// sorted list of nodes over named values, constant tensors (initializers),
// and the graph's inputs and outputs. It is independent of the ONNX protobuf
// types (package onnxio converts between the two) and of any numeric kernel
// (package engine runs it).
//
// Invariants of a *Graph produced by onnxio.Load:
//   - Nodes are in topological order: every input of a node is a graph input,
//     an initializer, the empty string (an omitted optional input), or an
//     output of an earlier node.
//   - Every value name is produced exactly once.
//   - Initializers hold their data in Float (for float16/32/64 tensors,
//     widened to float64 exactly) or Int (for integer and bool tensors).
package graph

import (
	"fmt"
	"strings"
)

// DType is the element type of a tensor, numbered as ONNX's TensorProto.DataType.
type DType int32

// The element types mpq reads.
const (
	Float32 DType = 1
	Uint8   DType = 2
	Int8    DType = 3
	Int32   DType = 6
	Int64   DType = 7
	Bool    DType = 9
	Float64 DType = 11
)

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 }

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Uint8:
		return "uint8"
	case Int8:
		return "int8"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Tensor is a constant tensor: an initializer, a Constant node's value or a
// folded shape computation. Exactly one of Float and Int is used, by DType.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Float []float64
	Int   []int64
}

// Len is the number of elements the shape describes.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Name: t.Name, DType: t.DType, Shape: append([]int(nil), t.Shape...)}
	if t.Float != nil {
		c.Float = append([]float64(nil), t.Float...)
	}
	if t.Int != nil {
		c.Int = append([]int64(nil), t.Int...)
	}
	return c
}

// Ints returns the tensor's values as int64, converting float values.
func (t *Tensor) Ints() []int64 {
	if t.Int != nil {
		return t.Int
	}
	out := make([]int64, len(t.Float))
	for i, v := range t.Float {
		out[i] = int64(v)
	}
	return out
}

// Floats returns the tensor's values as float64, converting integer values.
func (t *Tensor) Floats() []float64 {
	if t.Float != nil || t.DType.IsFloat() {
		return t.Float
	}
	out := make([]float64, len(t.Int))
	for i, v := range t.Int {
		out[i] = float64(v)
	}
	return out
}

// NumElements is the product of dims (1 for a scalar shape).
func NumElements(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// AttrKind says which field of an Attr is set.
type AttrKind int

// Attribute kinds.
const (
	AttrInt AttrKind = iota + 1
	AttrFloat
	AttrString
	AttrInts
	AttrFloats
	AttrTensor
	AttrOther
	AttrStrings
	AttrGraph
)

// Attr is a node attribute.
type Attr struct {
	Kind   AttrKind
	Int    int64
	Float  float64
	String string
	Ints   []int64
	Floats []float64
	Tensor *Tensor
	// Strings holds a string-list attribute (an RNN's activations).
	Strings []string
	// Graph holds a graph attribute (an If's branches): its Nodes, its
	// Init (initializers and Constant nodes) and its Outputs. Its nodes may
	// read values of the enclosing graph by name.
	Graph *Graph
}

// Node is one operation.
type Node struct {
	Name    string
	Op      string
	Domain  string
	Inputs  []string // "" marks an omitted optional input
	Outputs []string
	Attrs   map[string]Attr
}

// Label names the node for messages: its name if it has one, else its op and first output.
func (n *Node) Label() string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 {
		return n.Op + "->" + n.Outputs[0]
	}
	return n.Op
}

// AttrInt returns the integer attribute name, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrInt {
		return a.Int
	}
	return def
}

// AttrFloat returns the float attribute name, or def when absent.
func (n *Node) AttrFloat(name string, def float64) float64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrFloat {
		return a.Float
	}
	return def
}

// AttrString returns the string attribute name, or def when absent.
func (n *Node) AttrString(name, def string) string {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrString {
		return a.String
	}
	return def
}

// AttrInts returns the integer-list attribute name, or nil when absent.
func (n *Node) AttrInts(name string) []int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrInts {
		return a.Ints
	}
	return nil
}

// AttrStrings returns the string-list attribute name, or nil when absent.
func (n *Node) AttrStrings(name string) []string {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrStrings {
		return a.Strings
	}
	return nil
}

// Input returns input i, or "" when the node has fewer inputs.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// ValueInfo describes a graph input or output. A dimension of -1 is dynamic
// (symbolic or unknown), as the batch dimension of a PyTorch export is.
type ValueInfo struct {
	Name  string
	DType DType
	Shape []int
}

// Graph is a whole model.
type Graph struct {
	Name        string
	Opset       int64
	Inputs      []ValueInfo // inputs that are not initializers
	Outputs     []ValueInfo
	Nodes       []*Node
	Init        map[string]*Tensor
	Producer    string
	Metadata    map[string]string
	Doc         string
	IRVersion   int64
	InitOrder   []string         // initializer names in file order, for stable output
	ValueShapes map[string][]int // shapes from value_info, where the file gives them
}

// Producers maps each value name to the node that produces it.
func (g *Graph) Producers() map[string]*Node {
	m := make(map[string]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				m[o] = n
			}
		}
	}
	return m
}

// Consumers maps each value name to the nodes that read it, in node order.
func (g *Graph) Consumers() map[string][]*Node {
	m := make(map[string][]*Node)
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				m[in] = append(m[in], n)
			}
		}
	}
	return m
}

// IsOutput reports whether name is a graph output.
func (g *Graph) IsOutput(name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// ShapeString formats dims as [1 x 28 x 28], with ? for dynamic ones.
func ShapeString(dims []int) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " x ") + "]"
}
