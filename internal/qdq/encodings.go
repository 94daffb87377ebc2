package qdq

import (
	"strings"
)

// EncodingsVersion is the version of AIMET's encoding format
// specification the encodings file follows.
const EncodingsVersion = "0.6.1"

// Encodings is the encodings document: AIMET's layout (activation and
// param encodings per tensor name, quantizer_args) plus an "mpq" section.
type Encodings struct {
	Version             string                `json:"version"`
	ActivationEncodings map[string][]Encoding `json:"activation_encodings"`
	ParamEncodings      map[string][]Encoding `json:"param_encodings"`
	QuantizerArgs       QuantizerArgs         `json:"quantizer_args"`
	MPQ                 Details               `json:"mpq"`
}

// Encoding is one AIMET encoding: for dtype "int", x = (q + Offset)·Scale
// with q in 0..2^Bitwidth−1 and [Min, Max] the grid's ends; for dtype
// "float" only Bitwidth is set. A per-channel tensor has one Encoding per
// output channel.
type Encoding struct {
	Bitwidth    int      `json:"bitwidth"`
	Dtype       string   `json:"dtype"`
	IsSymmetric string   `json:"is_symmetric,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	Min         *float64 `json:"min,omitempty"`
	Offset      *int64   `json:"offset,omitempty"`
	Scale       *float64 `json:"scale,omitempty"`
}

// QuantizerArgs is AIMET 0.6.1's summary of the quantization settings. A
// mixed-precision plan has no single bitwidth: the two bitwidths are the
// defaults for tensors the file does not list (8), every listed tensor
// carries its own.
type QuantizerArgs struct {
	ActivationBitwidth     int    `json:"activation_bitwidth"`
	Dtype                  string `json:"dtype"`
	IsSymmetric            string `json:"is_symmetric"`
	ParamBitwidth          int    `json:"param_bitwidth"`
	PerChannelQuantization string `json:"per_channel_quantization"`
	QuantScheme            string `json:"quant_scheme"`
}

// Details is the encodings file's "mpq" section.
type Details struct {
	Format      string         `json:"format"`
	Version     string         `json:"mpq_version"`
	Source      string         `json:"source_model"`
	SourceOpset int64          `json:"source_opset"`
	Opset       int64          `json:"opset"`
	Layers      []LayerDetails `json:"layers"`
}

// LayerDetails is what the export wrote for one layer.
type LayerDetails struct {
	Layer           string         `json:"layer"`
	Node            string         `json:"node"`
	Op              string         `json:"op"`
	WeightQuantizer string         `json:"weight_quantizer"`
	WeightBits      int            `json:"weight_bits"`
	ActivationBits  int            `json:"activation_bits"`
	Precision       string         `json:"tensorrt_precision"`
	Weight          *TensorDetails `json:"weight,omitempty"`
	// RecurrentWeight is a recurrent layer's R (Weight is then its W):
	// quantized with W's bits and each row's scale.
	RecurrentWeight *TensorDetails `json:"recurrent_weight,omitempty"`
	Input           *TensorDetails `json:"input,omitempty"`
}

// TensorDetails describes one quantized tensor of the exported model.
type TensorDetails struct {
	// Tensor is the float tensor the layer reads (the encodings key).
	Tensor string `json:"tensor"`
	// IntegerTensor holds the integer codes: the int8 weight initializer,
	// or the QuantizeLinear output of an input.
	IntegerTensor string `json:"integer_tensor,omitempty"`
	// Storage says how the file represents the tensor.
	Storage string `json:"storage"`
	// Dtype is the ONNX element type of the codes (int8, uint8) or float32.
	Dtype     string `json:"dtype"`
	Bitwidth  int    `json:"bitwidth"`
	Signed    bool   `json:"signed"`
	Symmetric bool   `json:"symmetric"`
	// Axis is the per-channel axis of Scales; absent for per-tensor.
	Axis       *int      `json:"axis,omitempty"`
	Scales     []float64 `json:"scales,omitempty"`
	ZeroPoints []int     `json:"zero_points,omitempty"`
	// Qmin and Qmax bound the codes mpq uses.
	Qmin int `json:"qmin"`
	Qmax int `json:"qmax"`
	// Clip is the [min, max] of the Clip in front of a sub-8-bit input.
	Clip []float64 `json:"clip,omitempty"`
	// Method is the weight quantizer; Calibration and the calibrated range
	// belong to inputs.
	Method        string   `json:"method,omitempty"`
	Calibration   string   `json:"calibration,omitempty"`
	CalibratedMin *float64 `json:"calibrated_min,omitempty"`
	CalibratedMax *float64 `json:"calibrated_max,omitempty"`
}

func newEncodings(opt Options, from, to int64) *Encodings {
	return &Encodings{
		Version:             EncodingsVersion,
		ActivationEncodings: map[string][]Encoding{},
		ParamEncodings:      map[string][]Encoding{},
		QuantizerArgs: QuantizerArgs{ActivationBitwidth: 8, Dtype: "int", IsSymmetric: "True", ParamBitwidth: 8,
			PerChannelQuantization: "True", QuantScheme: "post_training_tf"},
		MPQ: Details{Format: "mpq-qdq", Version: opt.Version, Source: opt.Source, SourceOpset: from, Opset: to},
	}
}

// setScheme names the calibration in AIMET's terms where it has one.
func (e *Encodings) setScheme(method string) {
	switch method {
	case "percentile":
		e.QuantizerArgs.QuantScheme = "post_training_percentile"
	case "mse":
		e.QuantizerArgs.QuantScheme = "mse" // mpq's MSE search; AIMET has no equivalent name
	}
}

// weightEncodings returns AIMET's per-channel encodings of a signed
// symmetric b-bit weight: offset −2^(b−1), grid [−2^(b−1), 2^(b−1) − 1]·scale
// (mpq's codes use ±(2^(b−1) − 1)).
func weightEncodings(bits int, scales []float64) []Encoding {
	out := make([]Encoding, len(scales))
	half := int64(1) << (bits - 1)
	for c, s := range scales {
		out[c] = Encoding{Bitwidth: bits, Dtype: "int", IsSymmetric: "True",
			Min: ptr(-float64(half) * s), Max: ptr(float64(half-1) * s), Offset: ptr(-half), Scale: ptr(s)}
	}
	return out
}

func sameEncoding(a, b Encoding) bool {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Bitwidth == b.Bitwidth && a.Dtype == b.Dtype && a.IsSymmetric == b.IsSymmetric &&
		eq(a.Min, b.Min) && eq(a.Max, b.Max) && eq(a.Scale, b.Scale) &&
		(a.Offset == nil) == (b.Offset == nil) && (a.Offset == nil || *a.Offset == *b.Offset)
}

// precision is the TensorRT precision of a layer: int8 when its weight is
// int8 codes and its input is QDQ'd (2–8 bits each), fp32 when the weight or
// the input is at 32 bits, fp16 otherwise (a float-stored weight or a
// 9–16-bit side).
func precision(q Layer, d LayerDetails) string {
	switch {
	case q.WeightBits == FloatBits || q.ActivationBits == FloatBits:
		return "fp32"
	case q.Codes != nil && d.Input != nil && d.Input.IntegerTensor != "":
		return "int8"
	}
	return "fp16"
}

// layerPrecisions returns trtexec's precision flags for the layers, and the
// layers whose node names the flag's syntax cannot carry.
func layerPrecisions(layers []LayerDetails) ([]string, []string) {
	var specs, skipped []string
	for _, d := range layers {
		if strings.ContainsAny(d.Node, ",:") {
			skipped = append(skipped, d.Node)
			continue
		}
		specs = append(specs, d.Node+":"+d.Precision)
	}
	if len(specs) == 0 {
		return nil, skipped
	}
	return []string{"--precisionConstraints=obey", "--layerPrecisions=" + strings.Join(specs, ",")}, skipped
}
