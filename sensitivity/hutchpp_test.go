package sensitivity

import (
	"context"
	"math"
	"testing"
)

// TestHutchPPShippedExact checks the default estimator on a real network,
// with ReLU and MaxPool kinks: the shipped LeNet's first convolution (150
// weights) has its trace measured exactly, one block product per weight,
// and Hutch++ with the default settings must land within 5 % of it, and
// within four of its reported standard errors (plus the finite-difference
// error, 1e-3 relative). It also checks the per-layer probe streams are
// reproducible.
func TestHutchPPShippedExact(t *testing.T) {
	if testing.Short() {
		t.Skip("150 exact block products plus a default table (about 10 s on an idle machine)")
	}
	m := loadShipped(t, "lenet")
	d := mnistTrain(t, m, 64)
	ctx := context.Background()
	tab, err := Analyze(ctx, m, d, Options{Seed: 1, MaxSamples: 30})
	if err != nil {
		t.Fatal(err)
	}

	h := newHVP(m, d, DefaultBatch)
	h.eta = tab.Settings.HVPStep
	if h.eta == 0 {
		t.Fatal("no step recorded in the table's settings")
	}
	bh := newBlockHVP(h)
	n := len(h.w[0])
	x, out := make([]float64, n), make([]float64, n)
	exact := 0.0
	for j := range n {
		clear(x)
		x[j] = 1
		if err := bh.apply(ctx, 0, x, out, true); err != nil {
			t.Fatal(err)
		}
		exact += out[j]
	}
	r := tab.Layers[0]
	t.Logf("conv1: exact %.6g, hutch++ %.6g ± %.2g (%d products)", exact, r.HessianTrace, r.HessianTraceStderr, r.Samples)
	if math.Abs(r.HessianTrace-exact) > 0.05*math.Abs(exact) {
		t.Errorf("conv1: hutch++ %.6g, exact %.6g: off by more than 5%%", r.HessianTrace, exact)
	}
	if math.Abs(r.HessianTrace-exact) > 4*r.HessianTraceStderr+1e-3*math.Abs(exact) {
		t.Errorf("conv1: hutch++ %.6g ± %.2g, exact %.6g: the standard error understates the error", r.HessianTrace, r.HessianTraceStderr, exact)
	}
	for l, r := range tab.Layers {
		if r.HessianTrace <= 0 {
			t.Errorf("layer %s: trace %.4g; a trained network's layer traces are positive at its minimum", r.Name, r.HessianTrace)
		}
		if r.Samples > 2*DefaultSketch+30 || r.Samples < 1 {
			t.Errorf("layer %d: %d products", l, r.Samples)
		}
	}
}

func TestProbeBlockIndependent(t *testing.T) {
	a, b := make([]float64, 130), make([]float64, 130)
	probeBlock(a, 7, 2, 5)
	probeBlock(b, 7, 2, 5)
	same, plus := true, 0
	for i := range a {
		same = same && a[i] == b[i]
		if a[i] == 1 {
			plus++
		} else if a[i] != -1 {
			t.Fatalf("element %d = %g, want ±1", i, a[i])
		}
	}
	if !same {
		t.Fatal("probeBlock is not reproducible")
	}
	if plus < 40 || plus > 90 {
		t.Errorf("%d of 130 signs positive", plus)
	}
	for _, other := range [][3]int{{7, 3, 5}, {7, 2, 6}, {8, 2, 5}} {
		probeBlock(b, uint64(other[0]), other[1], other[2])
		diff := 0
		for i := range a {
			if a[i] != b[i] {
				diff++
			}
		}
		if diff < 30 {
			t.Errorf("probe %v differs from (7,2,5) in only %d of 130 signs", other, diff)
		}
	}
}
