package quant

import (
	"math"
	"testing"
)

// weightCase is a hand-computed weight quantization.
type weightCase struct {
	name     string
	channels int
	bits     int
	w, want  []float64
	tol      float64
}

func runWeightCases(t *testing.T, m Method, cases []weightCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float64, len(tc.w))
			if err := Weights(dst, tc.w, tc.channels, WeightSpec{m, tc.bits}, nil); err != nil {
				t.Fatal(err)
			}
			sameFloats(t, dst, tc.want, tc.tol)
		})
	}
}

func TestUniform(t *testing.T) {
	runWeightCases(t, Uniform, []weightCase{
		{
			// Channel 0: scale = 3/3 = 1; w/scale = 3, −1.5, 0.5, 2.5 round
			// half to even to 3, −2, 0, 2. Channel 1: scale = 6/3 = 2;
			// w/scale = −3, 0.5, 1, −1.5 → −3, 0, 1, −2, times 2.
			name: "3-bit ties", channels: 2, bits: 3,
			w:    []float64{3, -1.5, 0.5, 2.5, -6, 1, 2, -3},
			want: []float64{3, -2, 0, 2, -6, 0, 2, -4},
		},
		{
			// qmax = 7; channel 1 scale = 1: −3.5 → −4 (even).
			name: "all-zero channel", channels: 2, bits: 4,
			w:    []float64{0, 0, 0, 7, -3.5, 1},
			want: []float64{0, 0, 0, 7, -4, 1},
		},
		{
			// qmax = 127, scale = 1: 63.5 → 64, −1.5 → −2, 0.5 → 0.
			name: "8-bit", channels: 1, bits: 8,
			w:    []float64{127, 63.5, -1.5, 0.5, -127},
			want: []float64{127, 64, -2, 0, -127},
		},
		{
			// qmax = 1, scale = 1: 0.4 → 0, −0.5 → −0, 0.6 → 1.
			name: "2-bit", channels: 1, bits: 2,
			w:    []float64{0.4, -0.5, 0.6, -1},
			want: []float64{0, 0, 1, -1},
		},
		{
			// scale = 1/127: 0.3·127 = 38.1 → 38, ŵ = 38/127.
			name: "8-bit inexact scale", channels: 1, bits: 8,
			w:    []float64{1, 0.3, -0.3},
			want: []float64{1, 38.0 / 127, -38.0 / 127}, tol: 1e-15,
		},
		{
			// Negative extreme: max|w| = 6 → scale = 6/7 at 4 bits;
			// 2/(6/7) = 2.333 → 2, ŵ = 12/7.
			name: "negative max", channels: 1, bits: 4,
			w:    []float64{-6, 2},
			want: []float64{-6, 12.0 / 7}, tol: 1e-15,
		},
		{
			// Uniform at one bit is Binary: α = (1+2+0+3)/4 = 1.5.
			name: "1-bit is binary", channels: 1, bits: 1,
			w:    []float64{1, -2, 0, 3},
			want: []float64{1.5, -1.5, 1.5, 1.5},
		},
		{
			name: "empty", channels: 3, bits: 8,
			w: []float64{}, want: []float64{},
		},
	})
}

func TestBinary(t *testing.T) {
	runWeightCases(t, Binary, []weightCase{
		{
			// α = (1+2+0+3)/4 = 1.5; sign(0) = +1.
			name: "sign of zero", channels: 1, bits: 1,
			w:    []float64{1, -2, 0, 3},
			want: []float64{1.5, -1.5, 1.5, 1.5},
		},
		{
			// Per channel: α₀ = 0 (stays zero), α₁ = 2, α₂ = 0.5.
			name: "per channel", channels: 3, bits: 4,
			w:    []float64{0, 0, -1, -3, 0.25, -0.75},
			want: []float64{0, 0, -2, -2, 0.5, -0.5},
		},
	})
}

func TestTernary(t *testing.T) {
	runWeightCases(t, Ternary, []weightCase{
		{
			// mean|w| = 6.75/6 = 1.125, Δ = 0.7875; |w| > Δ: 1, 2, 3,
			// so α = 2.
			name: "TWN", channels: 1, bits: 2,
			w:    []float64{1, -2, 0, 3, 0.5, -0.25},
			want: []float64{2, -2, 0, 2, 0, 0},
		},
		{
			// Channel 0 all zero. Channel 1: mean|w| = 0.1, Δ = 0.07, all
			// above, α = 0.1.
			name: "zero channel", channels: 2, bits: 2,
			w:    []float64{0, 0, 0, 0, 0.1, 0.1, 0.1, -0.1},
			want: []float64{0, 0, 0, 0, 0.1, 0.1, 0.1, -0.1}, tol: 1e-16,
		},
		{
			// mean|w| = 4/4 = 1, Δ = 0.7: 0.7 is not above Δ (→ 0);
			// α = (1.3+1+1)/3 = 1.1.
			name: "threshold", channels: 1, bits: 2,
			w:    []float64{0.7, -1.3, 1, 1},
			want: []float64{0, -1.1, 1.1, 1.1}, tol: 1e-15,
		},
	})
}

func TestUniformScalesAndCodes(t *testing.T) {
	// Channel 0 scale 1, channel 1 scale 2, channel 2 all zero.
	w := []float64{3, -1.5, 0.5, 2.5, -6, 1, 2, -3, 0, 0, 0, 0}
	scales := make([]float64, 3)
	UniformScales(w, 3, 3, scales)
	sameFloats(t, scales, []float64{1, 2, 0}, 0)
	want := []int32{3, -2, 0, 2, -3, 0, 1, -2, 0, 0, 0, 0}
	c8 := make([]int8, len(w))
	UniformCodes(c8, w, 3, 3, scales)
	c32 := make([]int32, len(w))
	UniformCodes(c32, w, 3, 3, scales)
	for i := range want {
		if int32(c8[i]) != want[i] || c32[i] != want[i] {
			t.Fatalf("codes %v / %v, want %v", c8, c32, want)
		}
	}

	// One bit: scale = mean|w|, codes ±1 with sign(0) = +1.
	w1 := []float64{1, -2, 0, 3, 0, 0, 0, 0}
	s1 := make([]float64, 2)
	UniformScales(w1, 2, 1, s1)
	sameFloats(t, s1, []float64{1.5, 0}, 0)
	c1 := make([]int8, len(w1))
	UniformCodes(c1, w1, 2, 1, s1)
	for i, want := range []int8{1, -1, 1, 1, 1, 1, 1, 1} {
		if c1[i] != want {
			t.Fatalf("1-bit codes %v", c1)
		}
	}

	mustPanic(t, errCodeType, func() { UniformCodes(make([]int8, len(w)), w, 3, 9, make([]float64, 3)) })
	mustPanic(t, errBits, func() { UniformCodes(make([]int16, len(w)), w, 3, 17, make([]float64, 3)) })
	mustPanic(t, errScalesLength, func() { UniformScales(w, 3, 8, make([]float64, 2)) })
	mustPanic(t, errCodesLength, func() { UniformCodes(make([]int32, 2), w, 3, 8, scales) })
	mustPanic(t, errBits, func() { UniformScales(w, 3, 0, scales) })
}

// TestUniformCodesMatchWeights checks ŵ = code·scale bit for bit at every
// bitwidth, including the int8 limit and the int16 limit.
func TestUniformCodesMatchWeights(t *testing.T) {
	rng := newRand(3)
	const channels = 8
	w := normals(rng, channels*50, 1)
	copy(w[50:100], make([]float64, 50)) // an all-zero channel
	for bits := 1; bits <= MaxBits; bits++ {
		want := make([]float64, len(w))
		if err := Weights(want, w, channels, WeightSpec{Uniform, bits}, nil); err != nil {
			t.Fatal(err)
		}
		scales := make([]float64, channels)
		UniformScales(w, channels, bits, scales)
		codes := make([]int32, len(w))
		UniformCodes(codes, w, channels, bits, scales)
		var c8 []int8
		if bits <= 8 {
			c8 = make([]int8, len(w))
			UniformCodes(c8, w, channels, bits, scales)
		}
		c16 := make([]int16, len(w))
		UniformCodes(c16, w, channels, bits, scales)
		qmax := int32(1)<<(bits-1) - 1
		for i, c := range codes {
			ch := i / 50
			if got := float64(c) * scales[ch]; got != want[i] {
				t.Fatalf("bits %d: code %d·scale %v = %v, Weights gave %v", bits, c, scales[ch], got, want[i])
			}
			if bits > 1 && (c > qmax || c < -qmax) {
				t.Fatalf("bits %d: code %d outside ±%d", bits, c, qmax)
			}
			if c8 != nil && int32(c8[i]) != c {
				t.Fatalf("bits %d: int8 code %d, int32 %d", bits, c8[i], c)
			}
			if int32(c16[i]) != c {
				t.Fatalf("bits %d: int16 code %d, int32 %d", bits, c16[i], c)
			}
		}
		// The codes reach ±qmax (bits ≥ 2) at each channel's extreme.
		if bits > 1 {
			m := 0.0
			for _, v := range w[:50] {
				m = math.Max(m, math.Abs(v))
			}
			for i, v := range w[:50] {
				if math.Abs(v) == m && codes[i] != qmax && codes[i] != -qmax {
					t.Fatalf("bits %d: extreme code %d", bits, codes[i])
				}
			}
		}
	}
}
