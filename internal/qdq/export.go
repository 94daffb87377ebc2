package qdq

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"mpq/internal/engine"
	"mpq/internal/graph"
	"mpq/internal/onnxio"
	"mpq/internal/quant"
)

// FloatBits marks a weight or input kept in floating point.
const FloatBits = quant.FloatBits

// Layer is what a plan does to one quantizable layer, with the numbers mpq's
// evaluation computes with. Export takes one per engine.Model layer, in the
// same order.
type Layer struct {
	WeightBits     int // 1–16, or FloatBits
	ActivationBits int // 1–16, or FloatBits
	Method         quant.Method
	// Weight is the quantized weight as evaluation uses it (float32, in the
	// weight initializer's layout); nil when WeightBits is FloatBits.
	Weight []float32
	// Scales are the per-output-channel scales of the uniform quantizer
	// (2–16 bits), along the layer's ChannelAxis; Codes its int8 codes
	// (2–8 bits), in the initializer's layout. With Codes set the weight is
	// written as int8 + DequantizeLinear, otherwise as Weight.
	Scales []float64
	Codes  []int8
	// Input is the input quantizer; nil when ActivationBits is FloatBits.
	Input *Activation
}

// Activation is a layer's input quantizer: codes 0..2^Bits−1,
// x̂ = (clamp(round(x/Scale) + ZeroPoint, 0, 2^Bits−1) − ZeroPoint)·Scale.
type Activation struct {
	Bits      int
	Scale     float32 // the scale evaluation computes with
	ZeroPoint int
	// Min and Max are the calibrated range; Calibration its method.
	Min, Max    float64
	Calibration string
}

// Options are the export's settings.
type Options struct {
	// Version is mpq's version, written as the file's producer_version.
	Version string
	// Source names the source model (its file name), for the metadata.
	Source string
}

// Result is an exported model.
type Result struct {
	// Model is the serialized QDQ ONNX model.
	Model []byte
	// Encodings is the AIMET-layout encodings document.
	Encodings *Encodings
	// LayerPrecisions is trtexec's --precisionConstraints and
	// --layerPrecisions flags for the model's layers (nil when no layer's
	// name can be written).
	LayerPrecisions []string
	// Skipped lists layers whose node name trtexec's syntax cannot carry
	// (it contains ',' or ':'); they are left out of LayerPrecisions.
	Skipped []string
	// Layers describes what was written for each layer.
	Layers []LayerDetails
	// SourceOpset and Opset are the default-domain opsets before and after.
	SourceOpset, Opset int64
}

// ErrExport marks inputs Export cannot turn into a model.
var ErrExport = errors.New("qdq export")

// Export rewrites the source ONNX model src, which em was loaded from, into
// a QDQ model carrying layers (one per em.Layers entry); see the package
// documentation for what changes.
func Export(src []byte, em *engine.Model, layers []Layer, opt Options) (*Result, error) {
	if len(layers) != len(em.Layers) {
		return nil, fmt.Errorf("%w: %d layer entries for a model with %d quantizable layers", ErrExport, len(layers), len(em.Layers))
	}
	var mp onnx.ModelProto
	if err := proto.Unmarshal(src, &mp); err != nil {
		return nil, fmt.Errorf("%w: the source model is not a readable ONNX protobuf: %v", ErrExport, err)
	}
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("%w: the source model holds no graph", ErrExport)
	}
	m := newModel(&mp)
	from, err := m.upgradeOpset()
	if err != nil {
		return nil, err
	}
	if err := m.foldBatchNorms(em.Graph); err != nil {
		return nil, err
	}
	nodes := make([]*onnx.NodeProto, len(layers))
	for i, l := range em.Layers {
		if nodes[i], err = m.layerNode(l); err != nil {
			return nil, err
		}
	}
	enc := newEncodings(opt, from, max(from, TargetOpset))
	for i, l := range em.Layers {
		d, err := m.quantize(l, nodes[i], layers[i], enc)
		if err != nil {
			return nil, fmt.Errorf("%w: layer %q: %w", ErrExport, l.Name, err)
		}
		enc.MPQ.Layers = append(enc.MPQ.Layers, d)
		if in := layers[i].Input; in != nil {
			enc.setScheme(in.Calibration)
		}
	}
	m.flush()
	m.prune()
	if err := m.metadata(opt, enc); err != nil {
		return nil, err
	}
	mp.ProducerName = "mpq"
	mp.ProducerVersion = opt.Version
	explicitZeros(mp.Graph)
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(&mp)
	if err != nil {
		return nil, fmt.Errorf("%w: serializing the model: %v", ErrExport, err)
	}
	// mpq must be able to run what it wrote.
	g, err := onnxio.Decode(out)
	if err != nil {
		return nil, fmt.Errorf("%w: the exported model does not read back (a bug in mpq): %w", ErrExport, err)
	}
	if _, err := engine.New(g); err != nil {
		return nil, fmt.Errorf("%w: mpq's runtime refuses the exported model (a bug in mpq): %w", ErrExport, err)
	}
	res := &Result{Model: out, Encodings: enc, Layers: enc.MPQ.Layers, SourceOpset: from, Opset: max(from, TargetOpset)}
	res.LayerPrecisions, res.Skipped = layerPrecisions(enc.MPQ.Layers)
	return res, nil
}

// foldBatchNorms folds, in the file, every BatchNormalization the engine
// folded into its Conv or ConvTranspose (folded is the engine's graph):
// that node takes the folded weight and bias and the BatchNormalization's
// output.
func (m *model) foldBatchNorms(folded *graph.Graph) error {
	prod := folded.Producers()
	for _, bn := range slices.Clone(m.g.GetNode()) {
		if bn.GetOpType() != "BatchNormalization" || !isDefault(bn.GetDomain()) || len(bn.GetOutput()) == 0 {
			continue
		}
		fc := prod[bn.GetOutput()[0]]
		if fc == nil || (fc.Op != "Conv" && fc.Op != "ConvTranspose") {
			continue // not folded: it stays, as it ran in mpq
		}
		conv := m.producer(bn.GetInput()[0])
		if conv == nil || conv.GetOpType() != fc.Op || len(fc.Inputs) < 3 {
			return fmt.Errorf("%w: BatchNormalization %q was folded by mpq's runtime but does not follow a %s in the file", ErrExport, label(bn), fc.Op)
		}
		for _, name := range fc.Inputs[1:3] {
			t := folded.Init[name]
			if t == nil {
				return fmt.Errorf("%w: the folded Conv before %q reads %q, which the runtime does not hold", ErrExport, label(bn), name)
			}
			if err := m.setConstant(name, t); err != nil {
				return err
			}
		}
		conv.Input = slices.Clone(fc.Inputs)
		conv.Output[0] = bn.GetOutput()[0]
		m.removeNode(bn)
	}
	return nil
}

// operands returns the node inputs of layer l's weight and activation: 1
// and 0, or 0 and 1 for a MatMul W @ x.
func operands(l engine.Layer) (weight, input int) {
	if l.WeightFirst {
		return 0, 1
	}
	return 1, 0
}

// layerNode finds the file's node of layer l (after BatchNorm folding).
func (m *model) layerNode(l engine.Layer) (*onnx.NodeProto, error) {
	var found *onnx.NodeProto
	for _, n := range m.g.GetNode() {
		in := n.GetInput()
		wi, xi := operands(l)
		match := len(in) > 1 && in[xi] == l.Input && in[wi] == l.Weight
		if r := l.Recurrent; r != nil {
			match = len(in) > 2 && in[0] == l.Input && in[1] == r.W && in[2] == r.R
		}
		if n.GetOpType() == l.Op && isDefault(n.GetDomain()) && match {
			if found != nil {
				return nil, fmt.Errorf("%w: layer %q: two %s nodes read %q with weight %q; mpq cannot tell which is the layer", ErrExport, l.Name, l.Op, l.Input, l.Weight)
			}
			found = n
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: layer %q: no %s node reads %q with weight %q in the file (a bug in mpq)", ErrExport, l.Name, l.Op, l.Input, l.Weight)
	}
	return found, nil
}

// quantize writes layer l's weight and input quantization around node n.
func (m *model) quantize(l engine.Layer, n *onnx.NodeProto, q Layer, enc *Encodings) (LayerDetails, error) {
	if n.GetName() == "" {
		n.Name = m.nodeName(l.Name)
	}
	d := LayerDetails{Layer: l.Name, Node: n.GetName(), Op: l.Op, WeightQuantizer: string(q.Method),
		WeightBits: q.WeightBits, ActivationBits: q.ActivationBits}
	if err := check(l, q); err != nil {
		return d, err
	}
	w, rw, err := m.weight(l, n, q, enc)
	if err != nil {
		return d, err
	}
	d.Weight, d.RecurrentWeight = w, rw
	_, xi := operands(l)
	in, err := m.input(n, xi, q, enc)
	if err != nil {
		return d, err
	}
	d.Input = in
	d.Precision = precision(q, d)
	return d, nil
}

// check validates q against layer l.
func check(l engine.Layer, q Layer) error {
	bitsOK := func(b int) bool { return (b >= 1 && b <= quant.MaxBits) || b == FloatBits }
	if !bitsOK(q.WeightBits) || !bitsOK(q.ActivationBits) {
		return fmt.Errorf("bits %d/%d: want 1–16, or 32 for float", q.WeightBits, q.ActivationBits)
	}
	if q.WeightBits != FloatBits {
		if len(q.Weight) != l.Params {
			return fmt.Errorf("%d quantized weights for a weight of %d", len(q.Weight), l.Params)
		}
		if q.Scales != nil && len(q.Scales) != l.Channels {
			return fmt.Errorf("%d weight scales for %d output channels", len(q.Scales), l.Channels)
		}
		if q.Codes != nil {
			if q.WeightBits < 2 || q.WeightBits > 8 || q.Scales == nil || len(q.Codes) != l.Params {
				return fmt.Errorf("int8 codes need 2–8 bits, one code per weight and one scale per channel")
			}
			lim := int8(1<<(q.WeightBits-1) - 1)
			for i, c := range q.Codes {
				if c > lim || c < -lim {
					return fmt.Errorf("weight code %d at %d is outside ±%d", c, i, lim)
				}
			}
		}
	}
	if (q.ActivationBits == FloatBits) != (q.Input == nil) {
		return fmt.Errorf("activation bits %d disagree with the input quantizer", q.ActivationBits)
	}
	if a := q.Input; a != nil {
		if a.Bits != q.ActivationBits || !(a.Scale > 0) || math.IsInf(float64(a.Scale), 0) || a.ZeroPoint < 0 || a.ZeroPoint > 1<<a.Bits-1 {
			return fmt.Errorf("input quantizer %+v is invalid", *a)
		}
	}
	return nil
}

// weight writes layer l's weight: int8 codes + DequantizeLinear, or float
// values, or nothing when it stays float. A recurrent layer's [W | R] is
// written back as the file's W and R (recurrentWeight).
func (m *model) weight(l engine.Layer, n *onnx.NodeProto, q Layer, enc *Encodings) (*TensorDetails, *TensorDetails, error) {
	if q.WeightBits == FloatBits {
		return nil, nil, nil
	}
	if l.Recurrent != nil {
		return m.recurrentWeight(l, n, q, enc)
	}
	wi, _ := operands(l)
	td, err := m.weightTensor(n, wi, l.Shape, l.ChannelAxis, nil, q, q.Codes, q.Weight, enc)
	return td, nil, err
}

// recurrentWeight writes a recurrent layer's quantized [W | R] as the
// node's W and R: each a rows × columns tensor (int8 codes with the rows'
// scales, dequantized per row, or float values) reshaped to directions ×
// gates·hidden × columns.
func (m *model) recurrentWeight(l engine.Layer, n *onnx.NodeProto, q Layer, enc *Encodings) (*TensorDetails, *TensorDetails, error) {
	r := l.Recurrent
	rows, f, h := l.Shape[0], r.Features, r.Hidden
	wv, rv := engine.SplitWR(r, q.Weight)
	wc, rc := engine.SplitWR(r, q.Codes)
	var tds [2]*TensorDetails
	for k, part := range [2]struct {
		cols  int
		vals  []float32
		codes []int8
	}{{f, wv, wc}, {h, rv, rc}} {
		td, err := m.weightTensor(n, 1+k, []int{rows, part.cols}, 0, []int{r.Dirs, rows / r.Dirs, part.cols}, q, part.codes, part.vals, enc)
		if err != nil {
			return nil, nil, err
		}
		tds[k] = td
	}
	return tds[0], tds[1], nil
}

// weightTensor writes node input wi, a weight of the given shape whose
// output channels are axis, as q's codes or values; with reshape set, the
// tensor is stored in shape and reshaped to it for the node.
func (m *model) weightTensor(n *onnx.NodeProto, wi int, shape []int, axis int, reshape []int, q Layer, codes []int8, vals []float32, enc *Encodings) (*TensorDetails, error) {
	wname := n.GetInput()[wi]
	sole := m.uses(wname) == 1 && !m.isGraphOutput(wname)
	td := &TensorDetails{Bitwidth: q.WeightBits, Signed: true, Method: string(q.Method)}
	if codes != nil {
		qname := m.value(wname + "_quantized")
		sname := m.value(wname + "_scale")
		zname := m.value(wname + "_zero_point")
		scales := make([]float32, len(q.Scales))
		for c, s := range q.Scales {
			scales[c] = float32(s)
			if scales[c] == 0 {
				scales[c] = 1 // an all-zero channel: any positive scale gives its zero codes
			}
		}
		m.g.Initializer = append(m.g.Initializer,
			int8Tensor(qname, shape, codes),
			floatTensor(sname, []int{len(scales)}, scales),
			int8Tensor(zname, []int{len(scales)}, make([]int8, len(scales))))
		out := wname
		if sole {
			if err := m.dropConstant(wname); err != nil {
				return nil, err
			}
		} else {
			out = m.value(wname + "_dequantized")
		}
		dq := out
		if reshape != nil {
			dq = m.value(wname + "_dequantized_rows")
		}
		m.insertBefore(n, &onnx.NodeProto{Name: m.nodeName(n.GetName() + "/weight_DequantizeLinear"), OpType: "DequantizeLinear",
			Input: []string{qname, sname, zname}, Output: []string{dq},
			Attribute: []*onnx.AttributeProto{intAttr("axis", int64(axis))}})
		if reshape != nil {
			shp := m.value(wname + "_shape")
			m.g.Initializer = append(m.g.Initializer, int64Tensor(shp, []int{len(reshape)}, dims(reshape)))
			m.insertBefore(n, &onnx.NodeProto{Name: m.nodeName(n.GetName() + "/weight_Reshape"), OpType: "Reshape",
				Input: []string{dq, shp}, Output: []string{out}})
		}
		n.Input[wi] = out
		lim := 1<<(q.WeightBits-1) - 1
		td.Tensor, td.IntegerTensor, td.Dtype, td.Symmetric, td.Axis = out, qname, "int8", true, &axis
		td.Storage = fmt.Sprintf("int8 codes + DequantizeLinear (per channel, axis %d)", axis)
		if reshape != nil {
			td.Storage += fmt.Sprintf(" + Reshape to %s", graph.ShapeString(reshape))
		}
		td.Qmin, td.Qmax = -lim, lim
		td.ZeroPoints = make([]int, len(scales))
		for _, s := range scales {
			td.Scales = append(td.Scales, float64(s))
		}
		enc.ParamEncodings[out] = weightEncodings(q.WeightBits, td.Scales)
		return td, nil
	}
	if reshape != nil {
		shape = reshape // float values need no reshaping
	}
	t := &graph.Tensor{Name: wname, DType: graph.Float32, Shape: shape, Float: make([]float64, len(vals))}
	for i, v := range vals {
		t.Float[i] = float64(v)
	}
	out := wname
	if sole {
		if err := m.setConstant(wname, t); err != nil {
			return nil, err
		}
	} else {
		out = m.value(fmt.Sprintf("%s_%s%d", wname, q.Method, q.WeightBits))
		m.g.Initializer = append(m.g.Initializer, floatTensor(out, shape, vals))
		n.Input[wi] = out
	}
	td.Tensor, td.Dtype = out, "float32"
	td.Storage = fmt.Sprintf("float32 values of the %d-bit %s quantizer", q.WeightBits, q.Method)
	if q.Scales != nil {
		// The uniform quantizer beyond int8: the values are exactly on
		// the b-bit grid the scales describe.
		lim := 1<<(q.WeightBits-1) - 1
		td.Symmetric, td.Axis, td.Qmin, td.Qmax = true, &axis, -lim, lim
		td.Storage += " (opset 13 has no 16-bit integer type); the encodings give its grid"
		for _, s := range q.Scales {
			td.Scales = append(td.Scales, float64(float32(s)))
		}
		td.ZeroPoints = make([]int, len(q.Scales))
		enc.ParamEncodings[out] = weightEncodings(q.WeightBits, td.Scales)
	} else {
		enc.ParamEncodings[out] = []Encoding{{Bitwidth: 32, Dtype: "float"}}
	}
	return td, nil
}

// input writes layer l's input quantization in front of node n.
func (m *model) input(n *onnx.NodeProto, xi int, q Layer, enc *Encodings) (*TensorDetails, error) {
	a := q.Input
	if a == nil {
		return nil, nil
	}
	x := n.GetInput()[xi]
	qmax := 1<<a.Bits - 1
	lo, hi := clipBounds(a.Scale, a.ZeroPoint, qmax)
	td := &TensorDetails{Tensor: x, Bitwidth: a.Bits, Dtype: "uint8", Scales: []float64{float64(a.Scale)},
		ZeroPoints: []int{a.ZeroPoint}, Qmin: 0, Qmax: qmax, Calibration: a.Calibration,
		CalibratedMin: ptr(a.Min), CalibratedMax: ptr(a.Max)}
	e := Encoding{Bitwidth: a.Bits, Dtype: "int", IsSymmetric: "False", Min: ptr(float64(lo)), Max: ptr(float64(hi)),
		Offset: ptr(int64(-a.ZeroPoint)), Scale: ptr(float64(a.Scale))}
	// Another layer may read x with other parameters: AIMET's layout has
	// one encoding per tensor, so this one is then keyed by the tensor the
	// layer reads.
	prev, taken := enc.ActivationEncodings[x]
	conflict := taken && !sameEncoding(prev[0], e)
	if a.Bits > 8 {
		td.Dtype = "float32"
		td.Storage = fmt.Sprintf("float: QuantizeLinear at opset %d has no integer type wider than 8 bits", TargetOpset)
		if conflict {
			td.Tensor = x + "@" + n.GetName()
		}
		enc.ActivationEncodings[td.Tensor] = []Encoding{e}
		return td, nil
	}
	base := n.GetName() + "/input"
	sname := m.value(x + "_scale")
	zname := m.value(x + "_zero_point")
	m.g.Initializer = append(m.g.Initializer,
		floatTensor(sname, []int{}, []float32{a.Scale}),
		uint8Tensor(zname, []int{}, []uint8{uint8(a.ZeroPoint)}))
	in := x
	var nodes []*onnx.NodeProto
	td.Storage = "uint8 QuantizeLinear → DequantizeLinear (per tensor)"
	if a.Bits < 8 {
		loName, hiName := m.value(x+"_clip_min"), m.value(x+"_clip_max")
		m.g.Initializer = append(m.g.Initializer, floatTensor(loName, []int{}, []float32{lo}), floatTensor(hiName, []int{}, []float32{hi}))
		clipped := m.value(x + "_clipped")
		nodes = append(nodes, &onnx.NodeProto{Name: m.nodeName(base + "_Clip"), OpType: "Clip", Input: []string{x, loName, hiName}, Output: []string{clipped}})
		in = clipped
		td.Clip = []float64{float64(lo), float64(hi)}
		td.Storage = fmt.Sprintf("Clip to the %d-bit grid → ", a.Bits) + td.Storage
	}
	qout := m.value(x + "_quantized")
	dqout := m.value(x + "_dequantized")
	nodes = append(nodes,
		&onnx.NodeProto{Name: m.nodeName(base + "_QuantizeLinear"), OpType: "QuantizeLinear", Input: []string{in, sname, zname}, Output: []string{qout}},
		&onnx.NodeProto{Name: m.nodeName(base + "_DequantizeLinear"), OpType: "DequantizeLinear", Input: []string{qout, sname, zname}, Output: []string{dqout}})
	m.insertBefore(n, nodes...)
	n.Input[xi] = dqout
	td.IntegerTensor = qout
	if conflict {
		td.Tensor = dqout
	}
	enc.ActivationEncodings[td.Tensor] = []Encoding{e}
	return td, nil
}

// clipBounds returns the float32 ends of the b-bit grid, (0 − zp)·scale and
// (qmax − zp)·scale, nudged if need be so that they quantize to codes 0 and
// qmax exactly as runtimes compute QuantizeLinear in float32.
func clipBounds(scale float32, zp, qmax int) (lo, hi float32) {
	code := func(x float32) int { return int(math.RoundToEven(float64(x/scale))) + zp }
	lo = float32(-zp) * scale
	hi = float32(qmax-zp) * scale
	for code(hi) > qmax {
		hi = math.Nextafter32(hi, float32(math.Inf(-1)))
	}
	for code(hi) < qmax {
		hi = math.Nextafter32(hi, float32(math.Inf(1)))
	}
	for code(lo) < 0 {
		lo = math.Nextafter32(lo, float32(math.Inf(1)))
	}
	for code(lo) > 0 {
		lo = math.Nextafter32(lo, float32(math.Inf(-1)))
	}
	return lo, hi
}

func (m *model) isGraphOutput(name string) bool {
	return slices.ContainsFunc(m.g.GetOutput(), func(v *onnx.ValueInfoProto) bool { return v.GetName() == name })
}

// metadata records the plan in the model's metadata_props.
func (m *model) metadata(opt Options, enc *Encodings) error {
	set := func(k, v string) {
		for _, p := range m.mp.MetadataProps {
			if p.GetKey() == k {
				p.Value = v
				return
			}
		}
		m.mp.MetadataProps = append(m.mp.MetadataProps, &onnx.StringStringEntryProto{Key: k, Value: v})
	}
	type entry struct {
		WeightQuantizer string `json:"weight_quantizer"`
		WeightBits      int    `json:"weight_bits"`
		ActivationBits  int    `json:"activation_bits"`
		Node            string `json:"node"`
		Weight          string `json:"weight"`
		Input           string `json:"input"`
		TensorRT        string `json:"tensorrt_precision"`
	}
	plan := map[string]entry{}
	set("mpq.format", "qdq")
	set("mpq.version", opt.Version)
	set("mpq.source_model", opt.Source)
	set("mpq.source_opset", fmt.Sprint(enc.MPQ.SourceOpset))
	set("mpq.activations", "inputs at b ≤ 8 bits: uint8 QuantizeLinear/DequantizeLinear with scale = (max − min)/(2^b − 1), codes 0..2^b−1; "+
		"b < 8: a Clip to the grid's ends first, so codes never exceed 2^b−1; b > 8: kept float")
	for _, d := range enc.MPQ.Layers {
		e := entry{WeightQuantizer: d.WeightQuantizer, WeightBits: d.WeightBits, ActivationBits: d.ActivationBits,
			Node: d.Node, Weight: "float32 (not quantized)", Input: "float", TensorRT: d.Precision}
		if d.Weight != nil {
			e.Weight = d.Weight.Storage
		}
		if d.Input != nil {
			e.Input = d.Input.Storage
		}
		plan[d.Layer] = e
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		set("mpq.layer."+d.Layer, string(b))
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	set("mpq.plan", string(b))
	return nil
}

func ptr[T any](v T) *T { return &v }
