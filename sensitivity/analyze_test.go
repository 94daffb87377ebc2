package sensitivity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"mpq/internal/dataset"
	"mpq/internal/engine"
	"mpq/internal/onnxio"
	"mpq/internal/quant"
)

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		want string // substring of the error; "" for valid
	}{
		{"defaults", Options{}, ""},
		{"all methods, canonical order", Options{Methods: []string{"Perturbation", " eigen", "hutchinson"}}, ""},
		{"unknown method", Options{Methods: []string{"hessian"}}, `unknown method "hessian"`},
		{"negative tolerance", Options{Tolerance: -1}, "tolerance -1"},
		{"NaN tolerance", Options{Tolerance: math.NaN()}, "tolerance NaN"},
		{"min above max", Options{MinSamples: 20, MaxSamples: 10}, "min samples 20 and max samples 10"},
		{"negative batch", Options{Batch: -3}, "batch -3"},
		{"bad eigen iterations", Options{EigenIters: -1}, "eigen iterations -1"},
		{"bad eigen tolerance", Options{EigenTolerance: math.Inf(1)}, "eigen tolerance"},
		{"bits 0", Options{WeightBits: []int{0, 4}}, "bitwidth 0"},
		{"bits 17", Options{ActivationBits: []int{17}}, "bitwidth 17"},
		{"float bits", Options{WeightBits: []int{32, 8}}, ""},
		{"unknown quantizer", Options{Quantizers: []quant.Method{"lloyd"}}, `unknown method "lloyd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.opt.withDefaults()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if !slices.IsSortedFunc(o.Methods, func(a, b string) int {
					return slices.Index(Methods(), a) - slices.Index(Methods(), b)
				}) {
					t.Errorf("methods %v not in canonical order", o.Methods)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one wrapping ErrOptions and containing %q", err, tc.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	base := Options{Methods: []string{Hutchinson, Fisher}, WeightBits: []int{2, 4, 8}, Seed: 1}
	k := Key("model", "subset", base)
	// Pinned: changing what the key covers must bump keyVersion, which
	// changes this value on purpose.
	const pinned = "1bb938b486e657e0d67ac3c1a2d61921147d596a388bc2abbba98b3989dfde18"
	if k != pinned {
		t.Errorf("Key = %s, pinned %s: bump keyVersion when the key's contents change, then update the pin", k, pinned)
	}
	for _, tc := range []struct {
		name  string
		model string
		sub   string
		opt   Options
		same  bool
	}{
		{"identical", "model", "subset", base, true},
		{"defaults spelled out", "model", "subset", Options{Methods: []string{Fisher, Hutchinson}, WeightBits: []int{8, 4, 2, 4},
			Seed: 1, Tolerance: DefaultTolerance, Batch: DefaultBatch, Quantizers: []quant.Method{quant.Uniform}}, true},
		{"progress does not count", "model", "subset", Options{Methods: base.Methods, WeightBits: base.WeightBits, Seed: 1,
			Progress: func(Progress) {}}, true},
		{"model", "model2", "subset", base, false},
		{"subset", "model", "subset2", base, false},
		{"seed", "model", "subset", Options{Methods: base.Methods, WeightBits: base.WeightBits, Seed: 2}, false},
		{"methods", "model", "subset", Options{Methods: []string{Hutchinson}, WeightBits: base.WeightBits, Seed: 1}, false},
		{"bits", "model", "subset", Options{Methods: base.Methods, WeightBits: []int{2, 4}, Seed: 1}, false},
		{"tolerance", "model", "subset", Options{Methods: base.Methods, WeightBits: base.WeightBits, Seed: 1, Tolerance: 1e-2}, false},
		{"max samples", "model", "subset", Options{Methods: base.Methods, WeightBits: base.WeightBits, Seed: 1, MaxSamples: 500}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Key(tc.model, tc.sub, tc.opt); (got == k) != tc.same {
				t.Errorf("Key = %s, base %s: same = %v, want %v", got, k, got == k, tc.same)
			}
		})
	}
}

func TestRunningMean(t *testing.T) {
	const tol, minSamples = 1e-3, 10
	for _, tc := range []struct {
		name string
		xs   func(k int) float64
		n    int
		done int // sample at which it converges; 0 for never
	}{
		{"zero block", func(int) float64 { return 0 }, 50, minSamples},
		{"constant", func(int) float64 { return 3 }, 50, minSamples},
		{"negative constant", func(int) float64 { return -3 }, 50, minSamples},
		// NNCF 2155: a negative mean in the denominator makes every
		// relative change negative, hence "small", at once. Alternating
		// signs keep |Δmean|/|mean| large: no convergence.
		{"negative noisy", func(k int) float64 { return -1 + 4*float64(k%2*2-1) }, 200, 0},
		{"mean near zero", func(k int) float64 { return 1e-9 + float64(k%2*2-1) }, 200, 0},
		// x_k = 1 + 1/k²: |Δmean| ≈ (mean − 1)/k ≈ 1.64/k² falls below
		// 1e-3·|mean| at k ≈ 40, then holds for the window.
		{"settling", func(k int) float64 { return 1 + 1/float64((k+1)*(k+1)) }, 100, 40 + ConvergenceWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r runningMean
			at := 0
			for k := range tc.n {
				r.add(tc.xs(k), tol, minSamples)
				if r.done {
					at = k + 1
					break
				}
			}
			if (tc.done == 0) != (at == 0) || (tc.done != 0 && at > tc.done) {
				t.Errorf("converged after %d samples, want %d (0: never)", at, tc.done)
			}
		})
	}
	var r runningMean
	for _, x := range []float64{1, 2, 3, 4} {
		r.add(x, tol, minSamples)
	}
	if r.mean != 2.5 || math.Abs(r.stderr()-math.Sqrt(5.0/3/4)) > 1e-15 {
		t.Errorf("mean %v stderr %v, want 2.5 and %v", r.mean, r.stderr(), math.Sqrt(5.0/3/4))
	}
}

// TestRademacher checks the probe generator against the words
// scripts/hessian_torch.py computes with numpy for seed 0, probe 0, and the
// sign balance of a long probe.
func TestRademacher(t *testing.T) {
	want := []uint64{0xa706dd2f4d197e6f, 0xb382a305f4414f5e, 0x631a9154fbabf717, 0xa80aba8c86640906}
	v := [][]float64{make([]float64, 100), make([]float64, 156)}
	rademacher(v, 0, 0)
	flat := append(slices.Clone(v[0]), v[1]...)
	for w, word := range want {
		for b := range 64 {
			s := -1.0
			if word>>b&1 != 0 {
				s = 1
			}
			if flat[64*w+b] != s {
				t.Fatalf("element %d = %v, want %v (word %x)", 64*w+b, flat[64*w+b], s, word)
			}
		}
	}
	big := [][]float64{make([]float64, 1<<16)}
	rademacher(big, 7, 3)
	sum := 0.0
	for _, x := range big[0] {
		sum += x
	}
	if math.Abs(sum) > 5*256 { // 5σ of a sum of 2^16 signs
		t.Errorf("sum of signs %v: unbalanced", sum)
	}
}

// smallLeNet returns the shipped LeNet with the first n training images.
func smallLeNet(t testing.TB, n int) func(Options) (*Table, error) {
	m := loadShipped(t, "lenet")
	d := mnistTest(t, m, n)
	return func(o Options) (*Table, error) { return Analyze(context.Background(), m, d, o) }
}

// TestDeterministic runs every measure twice with the same seed and
// compares the tables (timings aside), and checks JSON round trips.
func TestDeterministic(t *testing.T) {
	run := smallLeNet(t, 12)
	opt := Options{Methods: Methods(), MinSamples: 2, MaxSamples: 3, EigenIters: 2, Batch: 5, Seed: 4,
		WeightBits: []int{2}, ActivationBits: []int{8}, Quantizers: []quant.Method{quant.Uniform, quant.KMeansHessian}}
	a, err := run(opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Table{a, b} {
		x.Elapsed, x.PhaseTime = 0, nil
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs with the same seed differ")
	}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var c Table
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, &c) {
		t.Error("JSON round trip changes the table")
	}
	opt.Seed = 5
	d, err := run(opt)
	if err != nil {
		t.Fatal(err)
	}
	if d.Layers[0].HessianTrace == a.Layers[0].HessianTrace {
		t.Error("another seed gives the same trace")
	}
}

// TestOmegaMonotone checks that Ω never grows with the bitwidth, falls
// strictly for uniform (the finer grid moves every weight less) and is zero
// at 32 bits. Other quantizers may stay flat: k-means with more clusters
// than distinct weights is exact, and pow2's extra levels at high bitwidths
// are powers of two smaller than any weight.
func TestOmegaMonotone(t *testing.T) {
	run := smallLeNet(t, 32)
	bits := []int{2, 3, 4, 6, 8, 32}
	qs := []quant.Method{quant.Uniform, quant.KMeans, quant.KMeansHessian, quant.Pow2}
	tab, err := run(Options{MinSamples: 2, MaxSamples: 2, WeightBits: bits, Quantizers: qs, Methods: []string{Hutchinson, Activation}, ActivationBits: bits})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Layers {
		for _, q := range qs {
			for i := 1; i < len(bits); i++ {
				lo, hi := r.Omega[q][bits[i-1]], r.Omega[q][bits[i]]
				if hi > lo || (q == quant.Uniform && !(hi < lo)) {
					t.Errorf("%s %s: Ω(%d) = %.4g, Ω(%d) = %.4g: not decreasing", r.Name, q, bits[i-1], lo, bits[i], hi)
				}
			}
			if r.Omega[q][32] != 0 {
				t.Errorf("%s %s: Ω(32) = %v", r.Name, q, r.Omega[q][32])
			}
		}
		for i := 1; i < len(bits); i++ {
			if lo, hi := r.ActOmega[bits[i-1]], r.ActOmega[bits[i]]; !(hi < lo) {
				t.Errorf("%s: activation Ω(%d) = %.4g, Ω(%d) = %.4g", r.Name, bits[i-1], lo, bits[i], hi)
			}
		}
	}
}

// TestCancel cancels Analyze in each phase and expects context.Canceled
// soon after.
func TestCancel(t *testing.T) {
	m := loadShipped(t, "lenet")
	d := mnistTest(t, m, 32)
	for _, phase := range Methods() {
		t.Run(phase, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var cancelled time.Time
			opt := Options{Methods: []string{phase}, Batch: 4, MaxSamples: 1000, MinSamples: 1000, EigenIters: 1000, EigenTolerance: 1e-300,
				Progress: func(p Progress) {
					if cancelled.IsZero() {
						cancelled = time.Now()
						cancel()
					}
				}}
			_, err := Analyze(ctx, m, d, opt)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			if since := time.Since(cancelled); since > 2*time.Second {
				t.Errorf("returned %v after the cancellation", since)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Analyze(ctx, m, d, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before the start: error %v", err)
	}
}

func TestBadData(t *testing.T) {
	m := loadShipped(t, "lenet")
	d := mnistTest(t, m, 4)
	for _, tc := range []struct {
		name string
		data *dataset.Dataset
	}{
		{"nil", nil},
		{"empty", &dataset.Dataset{}},
		{"wrong sample size", &dataset.Dataset{X: make([]float32, 2*10), Labels: []int{0, 1}, Shape: []int{10}}},
		{"label out of range", &dataset.Dataset{X: d.X, Labels: []int{0, 1, 2, 10}, Shape: d.Shape}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Analyze(context.Background(), m, tc.data, Options{}); !errors.Is(err, ErrData) {
				t.Fatalf("error %v, want ErrData", err)
			}
		})
	}
}

// TestPerturbation checks the measured sensitivities' shape: more bits,
// less damage and more SQNR; float bits change nothing.
func TestPerturbation(t *testing.T) {
	run := smallLeNet(t, 64)
	tab, err := run(Options{Methods: []string{Perturbation}, WeightBits: []int{2, 4, 8, 32}, ActivationBits: []int{2, 8}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Layers {
		w := r.Perturbation
		if !(w[2].SQNR < w[4].SQNR && w[4].SQNR < w[8].SQNR) {
			t.Errorf("%s: weight SQNR %v, %v, %v dB at 2, 4, 8 bits: not increasing", r.Name, w[2].SQNR, w[4].SQNR, w[8].SQNR)
		}
		if w[32] != (Perturb{SQNR: MaxSQNR}) {
			t.Errorf("%s: float weights %+v", r.Name, w[32])
		}
		if !(w[2].DLoss > math.Abs(w[8].DLoss)) {
			t.Errorf("%s: Δloss %v at 2 bits, %v at 8", r.Name, w[2].DLoss, w[8].DLoss)
		}
		a := r.ActPerturbation
		if !(a[2].SQNR < a[8].SQNR) {
			t.Errorf("%s: input SQNR %v at 2 bits, %v at 8", r.Name, a[2].SQNR, a[8].SQNR)
		}
	}
}

// TestPrivateInputs checks the activation model of a network whose layer
// input is also read by a residual Add, and of one with a layer W @ x
// (its input the MatMul's second operand: opzoo weight_first).
func TestPrivateInputs(t *testing.T) {
	weightFirst, err := onnxio.LoadModel(filepath.Join(repo, "testdata/opzoo/weight_first.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*engine.Model{loadShipped(t, "resnet"), weightFirst} {
		testPrivateInputs(t, m)
	}
}

func testPrivateInputs(t *testing.T, m *engine.Model) {
	pm, err := privateInputs(m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pm.LayerNames(), m.LayerNames()) {
		t.Fatalf("layers %v, want %v", pm.LayerNames(), m.LayerNames())
	}
	readers := map[string]int{}
	for _, n := range pm.Graph.Nodes {
		for _, in := range n.Inputs {
			readers[in]++
		}
	}
	for _, l := range pm.Layers {
		if readers[l.Input] != 1 {
			t.Errorf("layer %q: its input %q has %d readers", l.Name, l.Input, readers[l.Input])
		}
	}
}

// TestGradientFreeNote runs the analysis on a model whose first layer feeds
// a Sign (testdata/opzoo/sign_head.onnx, scripts/make_opzoo.py): no gradient
// reaches that layer's weights, its traces are exactly 0, and the table
// says so, naming that layer and no other.
func TestGradientFreeNote(t *testing.T) {
	m, err := onnxio.LoadModel(filepath.Join(repo, "testdata/opzoo/sign_head.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Analyze(context.Background(), m, mnistTrain(t, m, 64), Options{Methods: []string{Hutchinson, Fisher}, MinSamples: 2, MaxSamples: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	first, second := m.Layers[0].Name, m.Layers[1].Name
	if tab.Layers[0].HessianTrace != 0 || tab.Layers[0].FisherTrace != 0 {
		t.Fatalf("layer %s: traces %g and %g behind a Sign, want 0", first, tab.Layers[0].HessianTrace, tab.Layers[0].FisherTrace)
	}
	if tab.Layers[1].FisherTrace == 0 {
		t.Fatalf("layer %s: Fisher trace 0", second)
	}
	var notes []string
	for _, n := range tab.Notes {
		if strings.Contains(n, "no gradient reaches") {
			notes = append(notes, n)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], fmt.Sprintf("%q", first)) {
		t.Fatalf("notes %q: want one gradient note, about %s", tab.Notes, first)
	}
}

// TestBatchCap checks that a session budget too small for the configured
// batch runs smaller, equal batches, says so, and gives the same table:
// traces, Fisher and activation traces equal within rounding.
func TestBatchCap(t *testing.T) {
	m := loadShipped(t, "lenet")
	d := mnistTest(t, m, 40)
	opt := Options{Methods: []string{Hutchinson, Fisher, Activation}, Estimator: Hutchinson, MinSamples: 3, MaxSamples: 3, Batch: 40, Seed: 2}
	full, err := Analyze(context.Background(), m, d, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.budget = m.SampleBytes(8, true) * 9 // at most 9: five batches of 8 (EvenBatch)
	capped, err := Analyze(context.Background(), m, d, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Notes) != 0 || len(capped.Notes) != 1 || !strings.Contains(capped.Notes[0], "batches of 8 samples instead of 40") {
		t.Fatalf("notes %q and %q", full.Notes, capped.Notes)
	}
	close := func(what string, a, b float64) {
		if math.Abs(a-b) > 1e-6*math.Abs(a) {
			t.Errorf("%s: %g with batches of 40, %g with batches of 8", what, a, b)
		}
	}
	for l := range full.Layers {
		f, c := full.Layers[l], capped.Layers[l]
		if f.HessianTrace == 0 || f.FisherTrace == 0 || f.ActivationTrace == 0 {
			t.Fatalf("%s: a measure was not computed: %+v", f.Name, f)
		}
		close(f.Name+" trace", f.HessianTrace, c.HessianTrace)
		close(f.Name+" fisher", f.FisherTrace, c.FisherTrace)
		close(f.Name+" activation trace", f.ActivationTrace, c.ActivationTrace)
	}
	if engine.EvenBatch(256, 45) != 32 || engine.EvenBatch(1001, 45) != 45 || engine.EvenBatch(30, 45) != 45 ||
		m.BatchWithin(256, 1<<40, 8, true) != 256 || m.BatchWithin(256, 1, 8, true) != 1 || m.BatchWithin(256, m.SampleBytes(4, false)*3, 4, false) != 3 {
		t.Error("BatchWithin does not bound the batch by the budget")
	}
}
