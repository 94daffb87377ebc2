package quant

import (
	"math"
	"testing"
)

func TestPow2Exponents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		maxAbs float64
		bits   int
		n1, n2 int
	}{
		// 4·1/3 = 1.33 → n1 = 0; n2 = 0 + 1 − 2 = −1.
		{"max 1, 3 bits", 1, 3, 0, -1},
		// 4·1.5/3 = 2 exactly → n1 = 1; n2 = 1 + 1 − 2 = 0.
		{"max 1.5, 3 bits", 1.5, 3, 1, 0},
		// 4·0.75/3 = 1 → n1 = 0; 2 bits: n2 = n1.
		{"max 0.75, 2 bits", 0.75, 2, 0, 0},
		// Just below the boundary: 4·0.7499/3 < 1 → n1 = −1; n2 = −1+1−4.
		{"max 0.7499, 4 bits", 0.7499, 4, -1, -4},
		// 4·100/3 = 133.3 → n1 = 7; n2 = 7 + 1 − 8 = 0.
		{"max 100, 5 bits", 100, 5, 7, 0},
		// 4·0.01/3 = 0.0133 → n1 = −7; n2 = −7 + 1 − 16384.
		{"max 0.01, 16 bits", 0.01, 16, -7, -16390},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n1, n2 := Pow2Exponents(tc.maxAbs, tc.bits)
			if n1 != tc.n1 || n2 != tc.n2 {
				t.Fatalf("Pow2Exponents(%v, %d) = %d, %d; want %d, %d", tc.maxAbs, tc.bits, n1, n2, tc.n1, tc.n2)
			}
		})
	}
	mustPanic(t, errBits, func() { Pow2Exponents(1, 1) })
}

func TestPow2(t *testing.T) {
	runWeightCases(t, Pow2, []weightCase{
		{
			// Levels {0, ±0.5, ±1}: 1 takes [0.75, 1.5), 0.5 takes
			// [0.25, 0.75), zero below 0.25. The grid is per layer, so the
			// channel split does not matter.
			name: "3 bits", channels: 3, bits: 3,
			w:    []float64{1, 0.74, 0.75, 0.25, 0.2499, -0.3, -0.8, 0, 0.6},
			want: []float64{1, 0.5, 1, 0.5, 0, -0.5, -1, 0, 0.5},
		},
		{
			// n1 = 1, n2 = −2: levels {0, ±0.25, ±0.5, ±1, ±2}; 2 takes
			// [1.5, 3), 1 takes [0.75, 1.5), 0.5 takes [0.375, 0.75), 0.25
			// takes [0.125, 0.375), zero below 0.125.
			name: "4 bits", channels: 1, bits: 4,
			w:    []float64{1.5, 1.4, 0.125, 0.124, 0.3749, 0.375, -0.74, 0.76},
			want: []float64{2, 1, 0.25, 0, 0.25, 0.5, -0.5, 1},
		},
		{
			// 2 bits: {0, ±2^n1} with n1 = 0 (max 1); zero below 0.5.
			name: "2 bits", channels: 1, bits: 2,
			w:    []float64{1, -0.5, 0.49, -0.2},
			want: []float64{1, -1, 0, 0},
		},
		{
			name: "all zero", channels: 2, bits: 4,
			w:    []float64{0, 0, 0, 0},
			want: []float64{0, 0, 0, 0},
		},
		{
			// One bit is Binary, per channel: α = 1.5 and 0.5.
			name: "1 bit", channels: 2, bits: 1,
			w:    []float64{1, -2, 0.5, -0.5},
			want: []float64{1.5, -1.5, 0.5, -0.5},
		},
	})
}

// TestPow2LevelSet checks on random layers that every output is one of the
// 2^(b−1)+1 levels and is a nearest level (INQ's rule is nearest, ties up).
func TestPow2LevelSet(t *testing.T) {
	rng := newRand(11)
	for bits := 2; bits <= 8; bits++ {
		w := normals(rng, 2000, 0.05)
		dst := make([]float64, len(w))
		if err := Weights(dst, w, 10, WeightSpec{Pow2, bits}, nil); err != nil {
			t.Fatal(err)
		}
		n1, n2 := Pow2Exponents(maxAbs(w), bits)
		levels := []float64{0}
		for k := n2; k <= n1; k++ {
			levels = append(levels, math.Ldexp(1, k), -math.Ldexp(1, k))
		}
		if len(levels) != 1<<(bits-1)+1 {
			t.Fatalf("bits %d: %d levels", bits, len(levels))
		}
		for i, v := range w {
			in, best := false, math.Inf(1)
			for _, l := range levels {
				in = in || dst[i] == l
				best = math.Min(best, math.Abs(v-l))
			}
			if !in {
				t.Fatalf("bits %d: %v → %v, not a level", bits, v, dst[i])
			}
			if math.Abs(v-dst[i]) > best {
				t.Fatalf("bits %d: %v → %v, a level at distance %v is nearer", bits, v, dst[i], best)
			}
		}
	}
}

// TestPow2Exponent checks the bit-level exponent against the definition
// floor(log2(a/0.75)) computed with Frexp, on boundaries, subnormals and
// random magnitudes.
func TestPow2Exponent(t *testing.T) {
	ref := func(a float64) int {
		f, e := math.Frexp(a)
		if f >= 0.75 {
			return e
		}
		return e - 1
	}
	vals := []float64{
		1, 0.75, math.Nextafter(0.75, 0), 1.5, math.Nextafter(1.5, 0), 3, 0.375,
		math.SmallestNonzeroFloat64, 3 * math.SmallestNonzeroFloat64, 0x1p-1022,
		0x1.8p-1023, math.Nextafter(0x1.8p-1023, 0), math.MaxFloat64,
	}
	rng := newRand(19)
	for range 100000 {
		vals = append(vals, math.Ldexp(1+rng.Float64(), rng.IntN(2097)-1074))
	}
	for _, a := range vals {
		if got, want := pow2Exponent(a), ref(a); got != want {
			t.Fatalf("pow2Exponent(%v) = %d, want %d", a, got, want)
		}
	}
	for _, k := range []int{-1080, -1074, -1060, -1023, -1022, -1, 0, 1, 1023} {
		if got, want := exp2i(k), math.Ldexp(1, k); got != want {
			t.Fatalf("exp2i(%d) = %v, want %v", k, got, want)
		}
	}
}
