// Package kernel holds the numeric kernels of mpq: matrix multiplication,
// 2-D convolution and pooling, forward and backward, generic over the
// element type (float32 for evaluation, float64 for analysis).
//
// # Layout
//
// Matrices are row-major with an explicit leading dimension, as in BLAS
// with row-major storage. Tensors are NCHW: image-major, then channel, then
// row, then column. Convolution weights are M × C/Group × KH × KW (ONNX
// Conv). Every function takes its sizes explicitly and panics with a
// "kernel: ..." message when a slice is shorter or longer than they imply:
// such a mismatch is a programmer error. Geometries that come from data (a
// model file) are checked first with Conv2D.Validate and Pool2D.Validate,
// which return errors wrapping ErrGeometry.
//
// # Aliasing
//
// Outputs must not overlap inputs. Outputs are overwritten, never
// accumulated into, except by Gemm with beta ≠ 0. With beta = 0, Gemm does
// not read C, so NaN left in a reused buffer cannot leak.
//
// # Concurrency
//
// Kernels split their work over at most Workers() = GOMAXPROCS goroutines
// with Parallel and return when all are done; they keep no state between
// calls. Convolutions take one ConvWork per worker as scratch memory: with
// reused ConvWork values, ConvForward allocates nothing but the closure
// and goroutines of its parallel loop. Convolution workers multiply with a
// single-threaded GEMM (gonum's serial kernels, handed tiles small enough
// that gonum never starts goroutines of its own), so that parallelism over
// images is not nested inside parallelism within a GEMM. Floating-point sums are taken in an order fixed by the sizes and
// the number of workers, so results are deterministic for a given
// GOMAXPROCS and len(work).
//
// # Methods
//
// Convolution lowers each image to a matrix (im2col) and multiplies it by
// the weights with GEMM (K. Chellapilla, S. Puri, P. Simard, "High
// Performance Convolutional Neural Networks for Document Processing",
// IWFHR 2006); depthwise convolutions, where each group has a single
// channel, use direct loops instead. The backward pass computes
// dW = dY·colᵀ and dcol = Wᵀ·dY, then folds dcol back into the image
// (col2im).
//
// FakeQuant is the uniform affine quantizer with integer zero point of
// B. Jacob et al., "Quantization and Training of Neural Networks for
// Efficient Integer-Arithmetic-Only Inference", CVPR 2018, rounding half
// to even like ONNX QuantizeLinear. ConvForward applies it to inputs as
// they are copied into the im2col matrix; ConvBackward treats it as the
// identity, the straight-through estimator of Y. Bengio, N. Léonard,
// A. Courville, "Estimating or Propagating Gradients Through Stochastic
// Neurons for Conditional Computation", 2013.
//
// Pooling follows the ONNX MaxPool and AveragePool operators (opset 19,
// with dilations), including ceil_mode and count_include_pad, resolved the
// way PyTorch resolves them: in ceil mode a last window that would start
// past the input and its leading padding is dropped, and the divisor with
// count_include_pad counts cells of the padded input only.
package kernel
