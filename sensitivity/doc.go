// Package sensitivity measures how much each quantizable layer's loss reacts to
// quantization: Hutchinson estimates of the per-layer Hessian trace (HAWQ-v2,
// Dong et al. 2020), the top Hessian eigenvalue by power iteration (HAWQ-v1,
// Dong et al. 2019), the empirical Fisher trace, activation traces, and
// measured one-layer-at-a-time perturbation (AIMET-style). It combines them
// into the Omega table Omega(l, q, b) = Tr(H_l)/n_l * ||Q_b(W_l) - W_l||^2
// that seeds the search. It never imports package evaluator.
package sensitivity
