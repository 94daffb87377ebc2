package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// newRand returns a seeded generator, so every test sees the same data.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// normals returns n standard normal values scaled by sd.
func normals(rng *rand.Rand, n int, sd float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64() * sd
	}
	return x
}

// sameFloats reports whether got and want agree elementwise within tol
// (absolute); tol 0 demands exact equality (with −0 == +0).
func sameFloats(t *testing.T, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= tol) {
			t.Fatalf("element %d = %v, want %v (tol %g)\n got  %v\n want %v", i, got[i], want[i], tol, got, want)
		}
	}
}

// mustPanic runs f and checks that it panics with a message containing msg.
func mustPanic(t *testing.T, msg string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want %q", msg)
		}
		s, _ := r.(string)
		if !strings.Contains(s, msg) {
			t.Fatalf("panic %v, want %q", r, msg)
		}
	}()
	f()
}
