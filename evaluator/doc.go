// Package evaluator scores a bitwidth plan: it calibrates activation ranges
// once, fake-quantizes weights and layer inputs as the plan says, runs the
// model on held-out data and reports accuracy, loss and cost (weight bits,
// BOPs). It never imports package sensitivity.
//
// An Evaluator uses every core (GOMAXPROCS) by splitting each batch into
// one contiguous part per core, each run by a single-threaded inference
// session of its own, and adding the parts' results up in sample order.
// On the shipped models this gave 1.05–1.39× the throughput of one session
// splitting every kernel over the cores (BENCHMARKS.md), whose many short
// parallel loops each wait for their slowest part. Each part runs in
// chunks of engine.Session.Chunk samples, which keep a convolutional
// network's feature maps in the core's own cache from one layer to the
// next (1.1–1.5× on the shipped and unseen CNNs; MLPs run their parts
// whole). The results do not depend on the split or the chunks: the
// kernels compute each sample alike at any batch size (TestBatchSplit,
// engine's TestChunk).
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
