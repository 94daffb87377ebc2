// Package sensitivity measures how much each quantizable layer's loss reacts
// to quantization: Hutchinson estimates of the per-layer Hessian trace
// (HAWQ-v2, Dong et al. 2020), the top Hessian eigenvalue (HAWQ-v1, Dong et
// al. 2019; by Lanczos iteration rather than HAWQ's power iteration), the
// empirical Fisher trace, activation traces, and measured
// one-layer-at-a-time perturbation (AIMET-style). It combines them into the
// Ω table Ω(l, q, b) = |Tr(H_l)|/n_l · ‖Q_b(W_l) − W_l‖² that seeds the
// search. It never imports package evaluator.
//
// Analyze computes a Table from a model, a data subset and Options; Key
// names a table for a cache (package search stores tables in the study
// database under it).
//
// # The loss and the weights
//
// Every measure differentiates L(W) = (1/N) Σ_i ℓ_i(W), the mean
// cross-entropy of the logits over the N samples of the subset, with
// respect to the quantizable layers' weights W_l as the engine runs them: a
// Conv followed by BatchNormalization is folded first, so W_l is the folded
// weight, the one that gets quantized. H_ll is the diagonal block of the
// Hessian ∇²L belonging to layer l, and n_l the number of its weights.
//
// # Hessian trace (method "hutchinson")
//
// Hutchinson's estimator (Hutchinson 1990) with Rademacher vectors v
// (entries ±1 with equal probability) gives Tr(A) = E[vᵀAv]. As in
// PyHessian (Yao, Gholami, Keutzer and Mahoney 2020) and HAWQ-v2, one probe
// v is drawn over all layers at once and one Hessian-vector product Hv is
// computed; v_lᵀ(Hv)_l is then an unbiased estimate of Tr(H_ll) for every
// layer, the cross-block terms v_lᵀH_lk v_k having zero mean. The probe's
// other product, v ⊙ Hv, estimates the Hessian diagonal (Bekas, Kokiopoulou
// and Saad 2007); Table.HessianDiag holds it for the kmeans-hessian
// quantizer.
//
// Each layer keeps a running mean and variance (Welford). A layer stops
// accumulating after at least MinSamples probes once the running mean m_k
// changed by at most Tolerance·|m_k| over each of the last
// ConvergenceWindow (5) probes; all stop at MaxSamples. The relative change
// divides by |m_k|, never by the signed mean: NNCF's HAWQ code divided by a
// possibly negative or zero mean (issue 2155), so any change of a negative
// trace counted as converged. A block whose every estimate is exactly zero
// converges; a mean near zero with changes far larger than it does not. A
// single-probe rule (PyHessian's) is not used: the change after probe k is
// (x_k − m_{k−1})/k, which is small whenever x_k lands near the mean by
// chance, and then stops with a standard error of tens of percent. The
// table reports the mean, its standard error and the probes used.
//
// # Hessian-vector products
//
// Hv is a central difference of exact float64 gradients (the engine's
// reverse mode, checked against finite differences in package engine):
//
//	Hv ≈ (∇L(W + h·v) − ∇L(W − h·v)) / (2h),   h = η·‖W_S‖/‖v_S‖
//
// with S the perturbed layers, so the weights move by a fraction η of their
// norm (for the Lanczos vectors of the eigenvalue, which line up with the
// data and so move pre-activations √n_S times more for the same norm, the
// step is √n_S times smaller). The two gradients run concurrently on two
// Sessions, each summing the subset's batches (batch b weighted n_b/N,
// since the engine's loss is a batch mean): one probe costs two forward and
// two backward passes over the subset. A product on one layer's block
// (Hutch++, the eigenvalue) costs less: its backward pass runs only the
// steps that layer's weight reaches, and after a layer's first product
// so does its forward pass, from the values each batch feeds into those
// steps, kept per batch while that layer is analysed (at most 512 MB per
// Session; engine.Session.ForwardSuffix). On the shipped LeNet this cuts
// the Hutch++ phase from 45 s to 20 s (with the kernel work of the same
// day, to 16 s); the products are bit for bit the same.
//
// The step is set by the network's kinks rather than by the usual
// trade-off. Where the loss is smooth the truncation error is O(h²) and the
// rounding error O(u·‖∇L‖/h) with u = 2⁻⁵³, both below 1e-8 relative for
// any η between 1e-9 and 1e-5 (the two gradients round almost alike, so
// the rounding error is smaller still). But ReLU and MaxPool make the
// gradient jump where a pre-activation crosses zero or a pooling window's
// maximum changes hands, and a perturbation that crosses such a kink adds
// a term of order (jump)/h. With millions of pre-activations in a subset,
// some lie extremely close to a kink: on the shipped LeNet with 1024
// images, η = 1e-6 or 1e-5 changes conv1's first probe from 0.790 to 38.8
// or 8.28, while η = 1e-7, 1e-8 and 1e-9 agree to six digits; on the small
// ResNet even η = 1e-8 crosses kinks (its /down/Conv probe reads 156.8
// instead of 540.25), and η = 1e-9 to 1e-11 agree. Double backprop, as in
// PyTorch, differentiates each linear piece and never sees a kink.
//
// So the step is calibrated on the subset with the first probe: starting
// at η = 1e-8, the probe's per-layer estimates at η and η/10 are compared,
// and η is divided by ten until they agree within 1e-4 (down to 1e-11; if
// they never agree the table says so in Notes). Agreement between two steps
// ten times apart means no kink lies within reach; the extra products cost
// one or two probes. Table.Settings.HVPStep records the step used. At the
// calibrated step, mpq's probes agree with PyTorch's double backprop on the
// shipped LeNet, MLP and ResNet to 1e-5 or better, typically 1e-7
// (TestGoldenTorch);
// TestStepCalibration checks the steps chosen; TestExactHessian bounds the
// error against gonum's finite-difference Hessian on smooth tiny networks:
// |Hv − H_fd·v| ≤ 1e-6 + 1e-5·max|H_fd·v|.
//
// # Probes and reproducibility
//
// Probe k's signs are the bits of a counter-based SplitMix64 stream
// (Steele, Lea and Flood 2014) keyed by the seed and k; see rademacher.
// Any probe can be drawn on its own, the sequence is the same on every
// platform, and scripts/hessian_torch.py reproduces it bit for bit, so mpq
// and the PyTorch reference can be compared probe by probe, free of
// sampling noise (TestGoldenTorch). The Lanczos iterations start from seeded
// PCG Gaussians (math/rand/v2). With the same model, subset and Options,
// Analyze returns the same table; only the number of CPUs, which changes
// how the kernels split sums, changes its numbers, in the last digits.
//
// # Top eigenvalue (method "eigen")
//
// HAWQ-v1's sensitivity is the top eigenvalue of each block H_ll, found by
// power iteration. Analyze runs the Lanczos iteration on each block alone
// (v nonzero only on layer l) from a seeded Gaussian start, with power
// iteration's stopping rule: the Ritz value of largest magnitude λ of the
// tridiagonal Lanczos matrix, recomputed after each product, stops changing
// by more than EigenTolerance·|λ|, or EigenIters products were made. For
// the same products its estimate is at least as good as power iteration's
// and usually far better (LeNet's fc1: 9 products instead of 64 for 1e-5).
// It finds the eigenvalue of largest magnitude; at a saddle that may be
// negative, and it is reported with its sign. The estimate carries the
// finite-difference error (about 1e-9 relative), so tolerances below that
// run to EigenIters.
//
// # Empirical Fisher (method "fisher")
//
// Tr(F_l) = (1/N) Σ_i ‖∂ℓ_i/∂W_l‖², the trace of the empirical Fisher
// (1/N) Σ_i g_i g_iᵀ, from per-sample gradients (batches of one, on
// GOMAXPROCS Sessions). Near a minimum it approximates the Hessian's
// Gauss–Newton part; Kunstner, Balles and Hennig ("Limitations of the
// empirical Fisher approximation", NeurIPS 2019) discuss when it does not.
//
// # Activations (method "activation")
//
// For the input a_l of each layer, as that layer reads it, the Fisher form
// of the same trace: Tr_a(l) = (1/N) Σ_i ‖∂ℓ_i/∂a_{l,i}‖², with
// per-sample gradients from batched passes (sample i's activation affects
// only ℓ_i, and the engine's batch-mean gradient is ∂ℓ_i/∂a_{l,i}/n_b). An
// input tensor read by several nodes (a residual Add and a Conv, say) would
// get the sum of all readers' gradients; quantizing it for one layer only
// changes that layer's computation, so Analyze runs a copy of the model in
// which every layer reads its input through its own Mul-by-one node and
// takes the gradient there. The activation Ω is
//
//	Ω_a(l, b) = Tr_a(l)/m_l · (1/N) Σ_i ‖Q_b(a_{l,i}) − a_{l,i}‖²
//
// with m_l values per sample and Q_b the per-tensor affine fake quantizer
// (package quant) at the min–max range of a_l over the subset.
//
// # The Ω table
//
// Ω(l, q, b) = |Tr(H_ll)|/n_l · ‖Q_b(W_l) − W_l‖² for every weight quantizer
// q and bitwidth b of Options (HAWQ-v2's sensitivity, eq. 7: the
// second-order term of the loss with the average curvature per weight), and
// zero at 32 bits. The kmeans-hessian quantizer weights its clusters with
// the Hessian-diagonal estimate, negative entries clamped to zero. HAWQ
// assumes a positive trace, true at a minimum; a block's estimate can be
// negative away from one, where the quadratic model would predict that
// quantizing lowers the loss. Ω uses the trace's magnitude: strong
// curvature of either sign counts as sensitivity, and a trace within noise
// of zero as little. LayerResult.HessianTrace keeps the signed estimate.
//
// # Measured perturbation (method "perturbation")
//
// As in phase 1 of AIMET's automatic mixed precision, each layer alone is
// quantized, everything else float, and the float32 model (as the evaluator
// runs it) is run over the subset: weights uniform per channel at each
// weight bitwidth, and the layer's input at each activation bitwidth with
// its min–max range on the subset. The change of loss and accuracy and the
// SQNR of the logits, 10·log10(‖z‖²/‖z − ẑ‖²) dB, are recorded. The
// measurements run on GOMAXPROCS goroutines with a Session each.
//
// # Cost
//
// With N samples, a forward and backward pass per sample costing C: the
// baseline pass N·C/3; Hutchinson 2·N·C per probe (on one layer's block,
// 2·N·C_l, with C_l the cost of the layers its weight reaches), plus one
// or two probes' worth for the step calibration; eigen 2·N·C per Lanczos step and layer; Fisher N·C (batches of one, less efficient per
// sample); activation N·C; perturbation N·C/3 per layer and bitwidth.
// Kernels use every core; Hessian-vector products also run their two
// gradients concurrently.
//
// # Cancellation and errors
//
// Long work checks its context before every batch (every sample for the
// Fisher pass) and returns the context's error. Data that does not fit the
// model returns an error wrapping ErrData, invalid Options one wrapping
// ErrOptions, and a model whose loss or gradients overflow on the subset an
// error naming the layer; nothing panics on user input.
package sensitivity
