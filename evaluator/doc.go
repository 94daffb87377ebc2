// Package evaluator scores a bitwidth plan: it calibrates activation ranges
// once, fake-quantizes weights and layer inputs as the plan says, runs the
// model on held-out data and reports accuracy, loss and cost (weight bits,
// BOPs). It never imports package sensitivity.
//
// With WithIntegerArithmetic, layers whose weights and inputs are both
// quantized uniformly to at most 8 bits compute as a deployment runtime
// does, with int8 weight codes, uint8 input codes and exact int32 sums
// corrected for the zero point and dequantized (B. Jacob et al.,
// "Quantization and Training of Neural Networks for Efficient
// Integer-Arithmetic-Only Inference", CVPR 2018, eq. 7–8); other layers
// stay fake-quantized in the same graph. Both paths quantize to the same
// codes, so they differ only by float32 rounding (see TestIntegerAgreement).
package evaluator
