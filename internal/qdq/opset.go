package qdq

import (
	"errors"
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// TargetOpset is the opset the export needs at least: per-channel
// DequantizeLinear (the axis attribute) arrived in opset 13.
const TargetOpset = 13

// minSourceOpset is the oldest opset the export raises to TargetOpset.
const minSourceOpset = 11

// ErrOpset marks a model whose opset cannot be raised to TargetOpset
// without changing its meaning.
var ErrOpset = errors.New("qdq: opset")

// sameFrom11To13 reports whether op (default domain) means the same at
// opsets 11, 12 and 13 for every input mpq runs (the changes in between only
// add element types such as bfloat16).
func sameFrom11To13(op string) bool {
	switch op {
	case "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Celu", "Clip", "Concat", "Constant",
		"ConstantOfShape", "Conv", "DequantizeLinear", "Div", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten",
		"Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "HardSigmoid", "Identity",
		"InstanceNormalization", "LeakyRelu", "Less", "Log", "MatMul", "Max", "MaxPool", "Min", "Mul", "Neg",
		"Not", "PRelu", "Pad", "Pow", "QuantizeLinear", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceMax",
		"ReduceMean", "ReduceMin", "ReduceSumSquare", "Relu", "Reshape", "Selu", "Shape", "Sigmoid", "Sign",
		"Slice", "Softplus", "Softsign", "Sqrt", "Sub", "Tanh", "ThresholdedRelu", "Transpose", "Where",
		"And", "Ceil", "Cos", "Floor", "Or", "Round", "Sin", "Xor",
		"ConvTranspose", "CumSum", "DepthToSpace", "Einsum", "ReduceLogSumExp", "ReduceProd", "Resize", "SpaceToDepth", "Tile":
		return true
	}
	return false
}

// defaultOpset returns the model's default-domain opset import.
func defaultOpset(mp *onnx.ModelProto) *onnx.OperatorSetIdProto {
	var found *onnx.OperatorSetIdProto
	for _, op := range mp.GetOpsetImport() {
		if isDefault(op.GetDomain()) {
			found = op
		}
	}
	return found
}

// upgradeOpset raises the model's default-domain opset to TargetOpset when
// it is lower, rewriting the nodes whose meaning changed on the way, and
// returns the source opset. It refuses (ErrOpset) what it cannot convert.
func (m *model) upgradeOpset() (int64, error) {
	op := defaultOpset(m.mp)
	if op == nil {
		return 0, fmt.Errorf("%w: the model imports no default-domain opset", ErrOpset)
	}
	from := op.GetVersion()
	if from >= TargetOpset {
		return from, nil
	}
	if from < minSourceOpset {
		return from, fmt.Errorf("%w: the model uses opset %d; per-channel DequantizeLinear needs opset %d and mpq raises only opsets %d and up: export the model again with torch.onnx.export(..., opset_version=%d)", ErrOpset, from, TargetOpset, minSourceOpset, TargetOpset)
	}
	shapes := m.declaredRanks()
	for _, n := range append([]*onnx.NodeProto(nil), m.g.GetNode()...) {
		if !isDefault(n.GetDomain()) {
			return from, fmt.Errorf("%w: node %q is %s.%s, which mpq cannot carry from opset %d to %d; export the model again with opset_version=%d", ErrOpset, label(n), n.GetDomain(), n.GetOpType(), from, TargetOpset, TargetOpset)
		}
		switch n.GetOpType() {
		case "Squeeze", "Unsqueeze", "ReduceSum":
			// Opset 13 moved their axes from an attribute to input 1.
			if a := attr(n, "axes"); a != nil {
				name := m.value(n.GetOutput()[0] + "_axes")
				m.g.Initializer = append(m.g.Initializer, int64Tensor(name, []int{len(a.GetInts())}, a.GetInts()))
				removeAttr(n, "axes")
				n.Input = append(n.Input[:1], name)
			}
		case "Split":
			// Opset 13 moved the sizes from the split attribute to input 1.
			if a := attr(n, "split"); a != nil {
				name := m.value(n.GetOutput()[0] + "_split")
				m.g.Initializer = append(m.g.Initializer, int64Tensor(name, []int{len(a.GetInts())}, a.GetInts()))
				removeAttr(n, "split")
				n.Input = append(n.Input[:1], name)
			}
		case "Dropout":
			if a := attr(n, "ratio"); a != nil {
				// Dropout-12 reads the ratio from an input (inference
				// ignores it either way).
				name := m.value(n.GetOutput()[0] + "_ratio")
				m.g.Initializer = append(m.g.Initializer, floatTensor(name, []int{}, []float32{a.GetF()}))
				removeAttr(n, "ratio")
				for len(n.Input) < 2 {
					n.Input = append(n.Input, "")
				}
				n.Input[1] = name
			}
		case "Softmax", "LogSoftmax":
			m.upgradeSoftmax(n, shapes)
		default:
			if !sameFrom11To13(n.GetOpType()) {
				return from, fmt.Errorf("%w: node %q (%s) at opset %d: mpq cannot tell that it means the same at opset %d, which per-channel DequantizeLinear needs; export the model again with torch.onnx.export(..., opset_version=%d)", ErrOpset, label(n), n.GetOpType(), from, TargetOpset, TargetOpset)
			}
		}
	}
	m.flush()
	op.Version = TargetOpset
	if m.mp.GetIrVersion() < 7 {
		m.mp.IrVersion = 7 // the IR version that goes with opset 13
	}
	return from, nil
}

// upgradeSoftmax keeps a Softmax/LogSoftmax of opset < 13 (the input
// flattened to 2-D at axis, normalised over the second dimension) meaning
// the same at 13 (normalised over one axis).
func (m *model) upgradeSoftmax(n *onnx.NodeProto, ranks map[string]int) {
	axis := int64(1)
	if a := attr(n, "axis"); a != nil {
		axis = a.GetI()
	}
	rank, known := ranks[n.GetInput()[0]]
	if !known {
		rank, known = ranks[n.GetOutput()[0]]
	}
	if known && (axis == int64(rank-1) || axis == -1) {
		// Flattening at the last axis leaves it as is.
		setAttr(n, intAttr("axis", -1))
		return
	}
	// y = Reshape(Softmax13(Flatten(x, axis), axis=1), Shape(x))
	x, y := n.GetInput()[0], n.GetOutput()[0]
	base := label(n)
	shape := m.value(y + "_input_shape")
	flat := m.value(y + "_flat")
	soft := m.value(y + "_2d")
	m.insertBefore(n,
		&onnx.NodeProto{Name: m.nodeName(base + "_shape"), OpType: "Shape", Input: []string{x}, Output: []string{shape}},
		&onnx.NodeProto{Name: m.nodeName(base + "_flatten"), OpType: "Flatten", Input: []string{x}, Output: []string{flat},
			Attribute: []*onnx.AttributeProto{intAttr("axis", axis)}})
	reshape := &onnx.NodeProto{Name: m.nodeName(base + "_reshape"), OpType: "Reshape", Input: []string{soft, shape}, Output: []string{y}}
	n.Input[0] = flat
	n.Output[0] = soft
	setAttr(n, intAttr("axis", 1))
	m.insertAfter(n, reshape)
}

// declaredRanks returns the rank of every value whose shape the file
// declares (graph inputs, outputs and value_info).
func (m *model) declaredRanks() map[string]int {
	out := map[string]int{}
	for _, list := range [][]*onnx.ValueInfoProto{m.g.GetInput(), m.g.GetOutput(), m.g.GetValueInfo()} {
		for _, v := range list {
			if sh := v.GetType().GetTensorType().GetShape(); sh != nil {
				out[v.GetName()] = len(sh.GetDim())
			}
		}
	}
	return out
}

// label names a node for messages.
func label(n *onnx.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return n.GetOpType() + "->" + n.GetOutput()[0]
	}
	return n.GetOpType()
}
