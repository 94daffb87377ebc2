// Package quant holds mpq's quantizers: the weight quantizers that the
// evaluator and the sensitivity pass share, affine fake quantization of
// activations, and the calibration observers that choose activation ranges.
// The formulas here are a contract: the evaluator cross-checks them against
// PyTorch.
//
// # Weight layout, aliasing and allocation
//
// Weights arrive as float64, output-channel-major: channels rows of
// len(w)/channels values. Callers transpose other layouts (for example Gemm
// with transB = 0) first. Every function writes into a destination of the
// same length as its input, and the destination may alias the input.
// Uniform, Binary, Ternary, Pow2 and the fake-quantization loops never
// allocate; the k-means methods allocate O(len(w)) scratch per call.
// Nothing here keeps state between calls, so everything but the observers is
// safe for concurrent use on distinct destinations.
//
// # Weight quantizers
//
// With w_c the weights of output channel c:
//
//   - Uniform, b bits (symmetric, per channel): qmax = 2^(b−1) − 1,
//     scale_c = max|w_c|/qmax, q = clamp(roundHalfEven(w/scale_c), −qmax,
//     qmax), ŵ = q·scale_c, all in float64 (w/scale is a division, where
//     PyTorch multiplies by a float32 reciprocal, so the two may pick adjacent
//     codes within rounding of a tie). An all-zero channel stays zero. At
//     b = 1, qmax would be 0; Uniform at one bit is Binary instead, and
//     UniformScales / UniformCodes describe it with scale α_c and codes ±1.
//   - Binary: ŵ = sign(w)·α_c with α_c = mean|w_c| and sign(±0) = +1 — the
//     deterministic binarization of BinaryConnect (Courbariaux, Bengio and
//     David, NeurIPS 2015) with XNOR-Net's per-filter scale (Rastegari,
//     Ordonez, Redmon and Farhadi, ECCV 2016).
//   - Ternary: TWN (Li, Zhang and Liu, "Ternary weight networks", 2016):
//     Δ_c = 0.7·mean|w_c|, α_c = mean of |w| over |w| > Δ_c,
//     ŵ = α_c·sign(w) where |w| > Δ_c and 0 elsewhere. Only an all-zero
//     channel has no weight above Δ_c; it stays zero.
//   - KMeans: weight sharing by k-means over the whole layer (Gong, Liu, Yang
//     and Bourdev, "Compressing deep convolutional networks using vector
//     quantization", 2014), with 2^b shared values, seeded by k-means++
//     (Arthur and Vassilvitskii, SODA 2007). See KMeansCodebook.
//   - KMeansHessian: the same with each weight's squared error weighted by
//     its Hessian diagonal (Choi, El-Khamy and Lee, "Towards the limit of
//     network quantization", ICLR 2017), so centroids are importance-weighted
//     means. The importance comes from the sensitivity pass.
//   - Pow2: the power-of-two grid of INQ (Zhou, Yao, Guo, Xu and Chen,
//     "Incremental network quantization", ICLR 2017) over the whole layer:
//     n1 = floor(log2(4·max|w|/3)), n2 = n1 + 1 − 2^(b−2), levels
//     {0, ±2^n2, …, ±2^n1}; one bit holds the sign and one code zero. See
//     Pow2Exponents for the assignment rule. At b = 1, Pow2 is Binary.
//
// Bits = 32 means float: Weights copies. EffectiveBits gives the storage
// bits a cost model should count.
//
// # Activations
//
// Activations use per-tensor affine quantization with codes 0..2^b−1, as in
// integer-only inference (Jacob et al., "Quantization and training of
// neural networks for efficient integer-arithmetic-only inference", CVPR
// 2018) and PyTorch's observers: AffineFromRange turns a clipping range into
// a scale and zero point, and FakeQuant32 / FakeQuant64 apply
// x ↦ (clamp(roundHalfEven(x/scale) + zp, 0, 2^b−1) − zp)·scale.
//
// # Calibration
//
// Statistics collection is separate from range selection, as in NNCF and
// PyTorch: an Observer sees batches and reports a range. MinMax keeps the
// extremes; Percentile clips the tails at a percentile; MSE chooses the
// range of least expected squared error at a bitwidth, the calibration
// methods compared by Wu, Judd, Zhang, Isaev and Micikevicius ("Integer
// quantization for deep learning inference: principles and empirical
// evaluation", NVIDIA, 2020), after Migacz ("8-bit inference with
// TensorRT", GTC 2017).
//
// # Errors
//
// Programmer errors — mismatched lengths, channels that do not divide the
// weights, bitwidths outside 1..16 passed to low-level functions, invalid
// Affine values — panic with constant messages starting "quant: ". Data
// problems — an unknown method name, a bad bitwidth in a spec, a missing
// Hessian estimate, non-finite weights — are returned by Weights,
// WeightSpec.Validate and ParseMethod as errors wrapping the package's
// sentinels.
package quant
