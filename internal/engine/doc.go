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
// come from package kernel and use every core.
//
// Semantics follow the ONNX operator specification for opsets 11–17
// (inference behaviour: Dropout is the identity, BatchNormalization uses its
// running statistics).
package engine
