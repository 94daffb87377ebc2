// Package qdq writes a bitwidth plan into the model as a deployable
// QuantizeLinear/DequantizeLinear ("QDQ") ONNX file, the form ONNX Runtime,
// TensorRT and most vendor compilers take for quantized models, together
// with an encodings file in the AIMET layout (version 0.6.1) and a TensorRT
// per-layer precision line.
//
// The input is the source ONNX file, the engine.Model mpq loaded from it and,
// per quantizable layer, the numbers evaluation computed with (package
// evaluator's Quantization; package search glues the two). The output graph
// is the source graph with these changes, and no others:
//
//   - Every BatchNormalization the engine folded into the Conv before it is
//     folded in the file too: the Conv gets the folded weight and bias (the
//     engine's float32 values, bit for bit) and takes over the
//     BatchNormalization's output. A plan's quantized weight of such a layer
//     is the folded weight, so the file holds what mpq evaluated.
//   - Weights of the uniform quantizer at 2–8 bits become an int8
//     initializer of codes within ±(2^(b−1) − 1) followed by
//     DequantizeLinear with one scale per output channel (zero points 0),
//     axis = the layer's engine.Layer.ChannelAxis: 0 for Conv and Gemm with
//     transB=1, 1 for Gemm with transB=0 and MatMul. An all-zero channel
//     (scale 0 in mpq) gets scale 1; its codes are 0 either way.
//   - Weights of every other quantizer (binary, ternary, kmeans,
//     kmeans-hessian, pow2, and uniform/pow2 at 1 bit, which is binary) and
//     of the uniform quantizer at 9–16 bits are stored as their dequantized
//     float32 values: the values lie on the quantizer's grid or codebook but
//     a codebook is not an affine int8 grid, and ONNX opset 13 has no 16-bit
//     integer type. The method and bits are recorded in metadata_props.
//   - A layer's input at b ≤ 8 bits passes through QuantizeLinear →
//     DequantizeLinear (uint8, the calibrated scale and zero point, per
//     tensor) in front of that layer only; other readers of the tensor see
//     it in float, exactly as in mpq's fake quantization.
//   - Biases stay float; layers at 32 bits are left as they are.
//
// # Sub-8-bit activations
//
// An activation at b < 8 bits uses scale = (max − min)/(2^b − 1) and a zero
// point in 0..2^b−1 (PyTorch's MinMaxObserver rule, quant.AffineFromRange),
// so its codes 0..2^b−1 are a subset of uint8. mpq clamps codes to 2^b−1,
// but a runtime's uint8 QuantizeLinear saturates only at 255: an input above
// the calibrated maximum would get a code above 2^b−1 and a value mpq never
// produces. The export therefore puts a Clip in front of the QuantizeLinear,
// bounded by the grid's ends, min = (0 − zp)·scale and
// max = (2^b − 1 − zp)·scale, computed in float32 as the runtimes do; the
// bounds are checked to quantize to codes 0 and 2^b−1. With it, every
// runtime computes mpq's x̂ = (clamp(round(x/scale) + zp, 0, 2^b − 1) −
// zp)·scale exactly (round half to even in both). At 8 bits uint8's own
// saturation is mpq's clamp and no Clip is written.
//
// Activations at 9–16 bits have no integer type in QuantizeLinear at
// opset 13; they stay float in the file, the one deviation from mpq's fake
// quantization (they are neither rounded to their fine grid nor clamped to
// the calibrated range), and are listed in the encodings with their
// bitwidth for runtimes that can use it. Emulating them with
// Div/Round/Clip/Mul would be exact but is no quantization a runtime
// recognises, and TensorRT runs such layers in fp16 anyway.
//
// # Opset
//
// Per-channel DequantizeLinear needs opset 13. A source model at opset 11 or
// 12 is raised to 13, converting what changed meaning on the way: Squeeze,
// Unsqueeze and ReduceSum axes move from the attribute to an input,
// Dropout's ratio from the attribute to an input (opset < 12), and
// Softmax/LogSoftmax, which before 13 worked on the input flattened to 2-D
// from axis on, keep their meaning (the axis becomes the last one when the
// rank is known and the axis is the last; otherwise Flatten → Softmax →
// Reshape to the input's shape).
// Any op outside the list known to keep its meaning from 11 to 13 is
// refused with an error rather than silently changed, and so is a source
// opset below 11. Models at opset 13 or higher are left at their opset.
//
// # Encodings and TensorRT
//
// The encodings file follows AIMET's encoding format specification,
// version 0.6.1: activation_encodings and param_encodings map tensor names
// to lists of {bitwidth, dtype, is_symmetric, min, max, offset, scale}, one
// entry per output channel for per-channel weights; AIMET's offset is the
// negated zero point (x = (q + offset)·scale with unsigned q), so a signed
// symmetric b-bit weight has offset −2^(b−1). Float-stored weights get
// {dtype: float, bitwidth: 32}. An "mpq" section adds what AIMET's layout
// leaves out: the ONNX tensors holding the integers, their ONNX dtype,
// signedness, per-channel axis, zero points, code range, Clip bounds and the
// calibrated range.
//
// The TensorRT line is for trtexec: --precisionConstraints=obey
// --layerPrecisions=name:precision,… with int8 for layers whose weight is
// int8 and whose input is QDQ'd (2–8 bits: TensorRT has no narrower integer
// convolution, so a 4-bit layer runs as int8 with 4-bit codes), fp16 for
// layers whose weight or input is kept float but fits 16 bits (codebook
// quantizers, 9–16 bits), and fp32 for layers with a 32-bit side.
package qdq
