// Package engine runs a graph.Graph: batched forward passes in float32 (for
// evaluation) or float64 (for analysis) over the same model, and reverse-mode
// gradients of the mean cross-entropy of the logits with respect to every
// quantizable layer's weight and every intermediate activation.
//
// A Model is built once from a graph: it checks every op against the
// supported list (the error names the op, the node and the list), folds each
// BatchNormalization that directly follows a Conv into that Conv (as
// deployment runtimes do, so a model exported with BatchNorm kept runs and
// quantizes exactly like its folded export), and lists the quantizable layers.
// A Session holds the buffers for one goroutine: per batch size it plans the
// graph once (shape inference, constant folding of the Shape/Gather/Concat/
// Unsqueeze chains PyTorch emits for reshapes) and reuses every buffer, so a
// steady-state batch allocates nothing. Kernels (GEMM, convolution, pooling)
// come from package kernel and use every core. A Session made by
// NewInferenceSession runs Forward alone and fuses a Relu that is a Conv's
// only reader into the convolution (applied per image while it is in
// cache), and one that is a same-shape Add's only reader into the Add; the
// evaluator uses one.
//
// A float32 Session can also compute chosen layers in integer arithmetic,
// as a deployment runtime does (Session.SetIntegerLayer, IntegerWeights):
// the layer's input quantized to uint8 codes by its input quantizer, int8
// weight codes, exact int32 sums, dequantized to float32 with the
// per-channel weight scale times the input scale. The rest of the graph
// stays in floating point; such a Forward has no Backward.
//
// Every op the engine runs has an analytic backward pass (the float64
// gradients feed finite-difference Hessian-vector products, so they must be
// exact). Constant operands other than layer weights get no gradient: the
// slope of PRelu, the exponent of Pow (a constant scalar), the scale and
// bias of LayerNormalization. At a tie, Max and Min split the gradient
// between their operands, as PyTorch does.
//
// Semantics follow the ONNX operator specification for opsets 11–17
// (inference behaviour: Dropout is the identity, BatchNormalization uses its
// running statistics), plus Gelu (opset 20) and the later forms of the
// reductions (axes as an input, noop_with_empty_axes).
package engine
