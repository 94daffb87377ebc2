package sensitivity

import (
	"fmt"
	"math"
	"slices"
	"time"

	"mpq/internal/engine"
	"mpq/internal/quant"
)

// LayerResult is one layer's row of the sensitivity table. Fields of
// measures that were not computed (see Table.Settings.Methods) are zero.
type LayerResult struct {
	Name   string `json:"name"`
	Params int    `json:"params"`
	// HessianTrace is the estimate of Tr(H_ll), the trace of the loss
	// Hessian's diagonal block of the layer's weight (see
	// Settings.Estimator); HessianTraceStderr its standard error and
	// Samples the work behind it: Hessian-vector products of the layer's
	// block for Hutch++, shared probes for the classic estimator.
	// TraceExact is set when the trace was measured exactly (a small
	// layer: one product per weight), with a standard error of zero.
	HessianTrace       float64 `json:"hessian_trace"`
	HessianTraceStderr float64 `json:"hessian_trace_stderr"`
	Samples            int     `json:"samples"`
	TraceExact         bool    `json:"trace_exact,omitempty"`
	// TopEigenvalue is the eigenvalue of largest magnitude of H_ll, after
	// EigenIters Lanczos iterations (Hessian-vector products).
	TopEigenvalue float64 `json:"top_eigenvalue"`
	EigenIters    int     `json:"eigen_iters,omitempty"`
	// FisherTrace is the empirical Fisher trace (1/N) Σ_i ‖∂ℓ_i/∂W_l‖².
	FisherTrace float64 `json:"fisher_trace"`
	// ActivationTrace is (1/N) Σ_i ‖∂ℓ_i/∂a_{l,i}‖² for the layer's input
	// a_l, which has ActivationSize values per sample.
	ActivationTrace float64 `json:"activation_trace"`
	ActivationSize  int     `json:"activation_size,omitempty"`
	// Omega is Ω(l, q, b) = |Tr(H_ll)|/n_l · ‖Q_b(W_l) − W_l‖², by quantizer
	// and weight bitwidth.
	Omega map[quant.Method]map[int]float64 `json:"omega,omitempty"`
	// ActOmega is ActivationTrace/ActivationSize · (1/N) Σ_i ‖Q_b(a_{l,i}) −
	// a_{l,i}‖², by activation bitwidth.
	ActOmega map[int]float64 `json:"activation_omega,omitempty"`
	// Perturbation and ActPerturbation are the measured effects of
	// quantizing the layer's weights (uniform, per channel) or its input
	// alone, by bitwidth.
	Perturbation    map[int]Perturb `json:"perturbation,omitempty"`
	ActPerturbation map[int]Perturb `json:"activation_perturbation,omitempty"`
}

// Settings records what a Table was computed with.
type Settings struct {
	Loss              string         `json:"loss"`
	Methods           []string       `json:"methods"`
	Estimator         string         `json:"estimator,omitempty"`
	Sketch            int            `json:"sketch,omitempty"`
	Tolerance         float64        `json:"tolerance"`
	MinSamples        int            `json:"min_samples"`
	MaxSamples        int            `json:"max_samples"`
	ConvergenceWindow int            `json:"convergence_window"`
	EigenIters        int            `json:"eigen_iters"`
	EigenTolerance    float64        `json:"eigen_tolerance"`
	Seed              uint64         `json:"seed"`
	Batch             int            `json:"batch"`
	WeightBits        []int          `json:"weight_bits"`
	ActivationBits    []int          `json:"activation_bits"`
	Quantizers        []quant.Method `json:"quantizers"`
	// HVPStep is η, the relative finite-difference step of the
	// Hessian-vector products, as calibrated on the subset (zero without
	// the hutchinson and eigen methods).
	HVPStep float64 `json:"hvp_step,omitempty"`
}

// Table is the result of Analyze. It is plain data and JSON-serialisable
// (the cache stores it as JSON).
type Table struct {
	Layers []LayerResult `json:"layers"`
	// Key is the cache key the table was stored under (set by the caller;
	// see Key).
	Key      string   `json:"key,omitempty"`
	Settings Settings `json:"settings"`
	// Subset is the number of data samples; Loss and Accuracy are the
	// float model's mean cross-entropy and top-1 accuracy on them (float64).
	Subset   int     `json:"subset"`
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
	// HessianDiag is the Hutchinson estimate of each layer's Hessian
	// diagonal, E[v ⊙ Hv], in the weight initializer's layout, averaged over
	// Probes probes. The kmeans-hessian quantizer weighs by it (negative
	// entries clamped to zero). Nil without the hutchinson method.
	HessianDiag [][]float64 `json:"hessian_diag,omitempty"`
	Probes      int         `json:"probes,omitempty"`
	// Elapsed is the wall time of Analyze; PhaseTime splits it by measure
	// ("forward" is the baseline pass).
	Elapsed   time.Duration            `json:"elapsed_ns"`
	PhaseTime map[string]time.Duration `json:"phase_ns,omitempty"`
	// Notes are caveats about the numbers, for people to read.
	Notes []string `json:"notes,omitempty"`
}

// gradientFree returns a note for each layer whose gradient-based measures
// (Hutchinson trace and Fisher trace, those measured) are all exactly 0:
// no gradient reaches its weights on the subset, as when a Sign, a
// comparison or another piecewise-constant op lies between the layer and
// the loss. Its Ω is then 0 whatever its bits, and only measured accuracy
// (the perturbation measure, the search's trials) prices it.
func (t *Table) gradientFree() []string {
	hutch, fisher := t.Has(Hutchinson), t.Has(Fisher)
	if !hutch && !fisher {
		return nil
	}
	var notes []string
	for _, l := range t.Layers {
		if (hutch && (l.HessianTrace != 0 || l.HessianTraceStderr != 0)) || (fisher && l.FisherTrace != 0) {
			continue
		}
		notes = append(notes, fmt.Sprintf("layer %q: no gradient reaches its weights on this subset "+
			"(a Sign, a comparison or another piecewise-constant op between it and the loss), so its Hessian and Fisher "+
			"traces and Ω are 0 at every bitwidth; the search prices it by measured accuracy only", l.Name))
	}
	return notes
}

// Has reports whether the table holds the given measure.
func (t *Table) Has(method string) bool { return slices.Contains(t.Settings.Methods, method) }

// Check reports whether t fits m: the same layers, in order, with the same
// sizes, and Hessian diagonals of the right lengths. A cached table that
// fails it is stale.
func (t *Table) Check(m *engine.Model) error {
	if len(t.Layers) != len(m.Layers) {
		return fmt.Errorf("sensitivity: table has %d layers, the model %d", len(t.Layers), len(m.Layers))
	}
	for l, r := range t.Layers {
		if r.Name != m.Layers[l].Name || r.Params != m.Layers[l].Params {
			return fmt.Errorf("sensitivity: table layer %d is %q (%d weights), the model's %q (%d weights)", l, r.Name, r.Params, m.Layers[l].Name, m.Layers[l].Params)
		}
	}
	if t.HessianDiag != nil {
		if len(t.HessianDiag) != len(m.Layers) {
			return fmt.Errorf("sensitivity: table has %d Hessian diagonals for %d layers", len(t.HessianDiag), len(m.Layers))
		}
		for l, d := range t.HessianDiag {
			if len(d) != m.Layers[l].Params {
				return fmt.Errorf("sensitivity: layer %q: Hessian diagonal has %d values, want %d", m.Layers[l].Name, len(d), m.Layers[l].Params)
			}
		}
	}
	return nil
}

// ClampedDiag returns layer l's Hessian-diagonal estimate with negative
// entries set to zero, the importance the kmeans-hessian quantizer needs
// (nil when the table has none).
func (t *Table) ClampedDiag(l int) []float64 {
	if t.HessianDiag == nil {
		return nil
	}
	return clampedDiag(t.HessianDiag[l])
}

func clampedDiag(d []float64) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = math.Max(v, 0)
	}
	return out
}

// omegaTrace is the curvature Ω uses: |Tr(H_ll)|. HAWQ-v2's Ω =
// Tr(H)/n·‖ΔW‖² comes from the second-order term ½ΔWᵀHΔW of the loss at a
// minimum, where the trace is positive. Away from a minimum a block's trace
// can be negative; the second-order model then predicts that quantizing the
// layer lowers the loss, which no first- or second-order argument
// guarantees for the large steps of low-bit quantization. Using the
// magnitude treats strong curvature of either sign as sensitivity, and a
// trace within noise of zero as little sensitivity; the signed estimate
// stays in LayerResult.HessianTrace.
func omegaTrace(trace float64) float64 { return math.Abs(trace) }

// weightOmega returns Ω(l, q, b) = |Tr(H_ll)|/n_l · ‖Q_b(W_l) − W_l‖² for
// every quantizer and bitwidth (HAWQ-v2, Dong et al. 2020, eq. 7). diag is
// the layer's Hessian-diagonal estimate, used (clamped at zero) by
// kmeans-hessian.
func weightOmega(layer engine.Layer, w []float64, trace float64, diag []float64, qs []quant.Method, bits []int) (map[quant.Method]map[int]float64, error) {
	out := make(map[quant.Method]map[int]float64, len(qs))
	dst := make([]float64, len(w))
	var hess []float64
	scale := omegaTrace(trace) / float64(len(w))
	for _, q := range qs {
		out[q] = make(map[int]float64, len(bits))
		for _, b := range bits {
			if b == quant.FloatBits {
				out[q][b] = 0
				continue
			}
			if q == quant.KMeansHessian && hess == nil {
				if diag == nil {
					return nil, fmt.Errorf("sensitivity: layer %q: kmeans-hessian needs the hutchinson method's Hessian diagonal", layer.Name)
				}
				hess = clampedDiag(diag)
			}
			if err := quant.WeightsLayout(dst, w, layer.Shape, layer.ChannelAxis, quant.WeightSpec{Method: q, Bits: b}, hess); err != nil {
				return nil, fmt.Errorf("sensitivity: layer %q: %s at %d bits: %w", layer.Name, q, b, err)
			}
			e := 0.0
			for i, v := range dst {
				d := v - w[i]
				e += d * d
			}
			out[q][b] = scale * e
		}
	}
	return out, nil
}

// finite reports whether every number of t is finite (JSON cannot hold the
// others) and names the first that is not.
func (t *Table) finite() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	for _, r := range t.Layers {
		for what, v := range map[string]float64{"hessian trace": r.HessianTrace, "stderr": r.HessianTraceStderr,
			"eigenvalue": r.TopEigenvalue, "fisher trace": r.FisherTrace, "activation trace": r.ActivationTrace} {
			if bad(v) {
				return fmt.Errorf("sensitivity: layer %q: %s is %v", r.Name, what, v)
			}
		}
		for q, m := range r.Omega {
			for b, v := range m {
				if bad(v) {
					return fmt.Errorf("sensitivity: layer %q: Ω(%s, %d bits) is %v", r.Name, q, b, v)
				}
			}
		}
		for b, v := range r.ActOmega {
			if bad(v) {
				return fmt.Errorf("sensitivity: layer %q: activation Ω at %d bits is %v", r.Name, b, v)
			}
		}
	}
	for l, d := range t.HessianDiag {
		for _, v := range d {
			if bad(v) {
				return fmt.Errorf("sensitivity: layer %q: Hessian diagonal holds %v", t.Layers[l].Name, v)
			}
		}
	}
	return nil
}
