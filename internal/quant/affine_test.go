package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAffineFromRange(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max float64
		bits     int
		scale    float64
		zp       int
	}{
		// scale = 4/255, −min/scale = 63.75 → 64.
		{"[-1, 3] 8 bits", -1, 3, 8, 4.0 / 255, 64},
		// min clamped to 0.
		{"[2, 5] 8 bits", 2, 5, 8, 5.0 / 255, 0},
		// max clamped to 0: −min/scale = 255.
		{"[-4, -1] 8 bits", -4, -1, 8, 4.0 / 255, 255},
		// Degenerate: scale 1.
		{"[0, 0]", 0, 0, 8, 1, 0},
		{"[3, 3] widens", 3, 3, 4, 3.0 / 15, 0},
		// scale = 3/3 = 1, −min/scale = 1.5 → 2 (half to even).
		{"[-1.5, 1.5] 2 bits", -1.5, 1.5, 2, 1, 2},
		// scale = 3/3 = 1, −min/scale = 2.5 → 2 (half to even).
		{"[-2.5, 0.5] 2 bits", -2.5, 0.5, 2, 1, 2},
		// One bit: scale = 2/1, −min/scale = 0.5 → 0.
		{"[-1, 1] 1 bit", -1, 1, 1, 2, 0},
		{"[0, 65535] 16 bits", 0, 65535, 16, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := AffineFromRange(tc.min, tc.max, tc.bits)
			if a.Scale != tc.scale || a.ZeroPoint != tc.zp || a.Bits != tc.bits {
				t.Fatalf("got %+v, want scale %v zp %d bits %d", a, tc.scale, tc.zp, tc.bits)
			}
		})
	}
	mustPanic(t, errBits, func() { AffineFromRange(-1, 1, 0) })
	mustPanic(t, errBits, func() { AffineFromRange(-1, 1, 17) })
	mustPanic(t, errRange, func() { AffineFromRange(math.NaN(), 1, 8) })
	mustPanic(t, errRange, func() { AffineFromRange(-1, math.Inf(1), 8) })
}

func TestAffineQuantize(t *testing.T) {
	unit := Affine{Scale: 1, ZeroPoint: 0, Bits: 8}
	r := AffineFromRange(-1, 3, 8) // scale 4/255, zp 64
	for _, tc := range []struct {
		name string
		a    Affine
		x    float64
		q    int
		fq   float64
	}{
		{"tie 2.5 → 2", unit, 2.5, 2, 2},
		{"tie 3.5 → 4", unit, 3.5, 4, 4},
		{"tie 254.5 → 254", unit, 254.5, 254, 254},
		{"-0.5 → 0", unit, -0.5, 0, 0},
		{"clamp high", unit, 300, 255, 255},
		{"clamp low", unit, -300, 0, 0},
		{"NaN → zero point", unit, math.NaN(), 0, math.NaN()},
		{"+Inf", unit, math.Inf(1), 255, 255},
		{"range min", r, -1, 0, -64 * 4.0 / 255},
		{"range max", r, 3, 255, 191 * 4.0 / 255},
		{"zero exact", r, 0, 64, 0},
		// 1/(4/255) = 63.75 → 64, +64 = 128: (128 − 64)·4/255.
		{"one", r, 1, 128, 64 * 4.0 / 255},
		// Shifted ties: scale 0.5, zp 10: 1.25/0.5 = 2.5 → 2.
		{"shifted tie", Affine{0.5, 10, 8}, 1.25, 12, 1},
		{"shifted tie up", Affine{0.5, 10, 8}, 1.75, 14, 2},
		{"shifted clamp", Affine{0.5, 10, 8}, -6, 0, -5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if q := tc.a.Quantize(tc.x); q != tc.q {
				t.Errorf("Quantize(%v) = %d, want %d", tc.x, q, tc.q)
			}
			fq := tc.a.FakeQuant(tc.x)
			if fq != tc.fq && !(math.IsNaN(fq) && math.IsNaN(tc.fq)) {
				t.Errorf("FakeQuant(%v) = %v, want %v", tc.x, fq, tc.fq)
			}
			d64 := []float64{tc.x}
			FakeQuant64(d64, d64, tc.a)
			if d64[0] != fq && !(math.IsNaN(fq) && math.IsNaN(d64[0])) {
				t.Errorf("FakeQuant64 = %v, FakeQuant %v", d64[0], fq)
			}
			d32 := []float32{float32(tc.x)}
			FakeQuant32(d32, d32, tc.a)
			if d32[0] != float32(fq) && !(math.IsNaN(fq) && d32[0] != d32[0]) {
				t.Errorf("FakeQuant32 = %v, want %v", d32[0], float32(fq))
			}
		})
	}
}

func TestAffinePanics(t *testing.T) {
	x := []float64{1}
	for _, a := range []Affine{
		{Scale: 0, ZeroPoint: 0, Bits: 8},
		{Scale: -1, ZeroPoint: 0, Bits: 8},
		{Scale: math.NaN(), ZeroPoint: 0, Bits: 8},
		{Scale: math.Inf(1), ZeroPoint: 0, Bits: 8},
		{Scale: 1, ZeroPoint: 256, Bits: 8},
		{Scale: 1, ZeroPoint: -1, Bits: 8},
		{Scale: 1, ZeroPoint: 0, Bits: 0},
	} {
		mustPanic(t, errAffine, func() { FakeQuant64(x, x, a) })
		mustPanic(t, errAffine, func() { FakeQuant32([]float32{1}, []float32{1}, a) })
		mustPanic(t, errAffine, func() { a.Quantize(1) })
	}
	mustPanic(t, errAffine, func() { FakeQuant32([]float32{1}, []float32{1}, Affine{1e-60, 0, 8}) })
	mustPanic(t, errDstLength, func() { FakeQuant64(make([]float64, 2), x, Affine{1, 0, 8}) })
	mustPanic(t, errDstLength, func() { FakeQuant32(make([]float32, 2), []float32{1}, Affine{1, 0, 8}) })
}

// TestFakeQuantAgreement checks FakeQuant64 against the scalar FakeQuant bit
// for bit, and FakeQuant32 against FakeQuant64: the same code except within
// float32 rounding of a tie.
func TestFakeQuantAgreement(t *testing.T) {
	rng := newRand(21)
	for _, tc := range []struct {
		min, max float64
		bits     int
	}{
		{-1, 3, 8}, {-0.1, 6, 4}, {0, 1, 2}, {-5, 5, 16}, {-2, 0.5, 1},
	} {
		a := AffineFromRange(tc.min, tc.max, tc.bits)
		const n = 100000
		x64 := make([]float64, n)
		x32 := make([]float32, n)
		for i := range x32 {
			x32[i] = float32(tc.min - 0.5 + rng.Float64()*(tc.max-tc.min+1))
			x64[i] = float64(x32[i])
		}
		// Exact ties on the float32 grid too.
		for i := range 1000 {
			x32[i] = float32((float64(rng.IntN(1<<tc.bits)) + 0.5 - float64(a.ZeroPoint)) * a.Scale)
			x64[i] = float64(x32[i])
		}
		d64 := make([]float64, n)
		FakeQuant64(d64, x64, a)
		d32 := make([]float32, n)
		FakeQuant32(d32, x32, a)
		differ := 0
		for i := range x64 {
			if want := a.FakeQuant(x64[i]); d64[i] != want {
				t.Fatalf("%+v: FakeQuant64(%v) = %v, FakeQuant %v", a, x64[i], d64[i], want)
			}
			c64 := math.RoundToEven(d64[i] / a.Scale)
			c32 := math.RoundToEven(float64(d32[i]) / a.Scale)
			switch math.Abs(c64 - c32) {
			case 0:
				if rel := math.Abs(float64(d32[i])-d64[i]) / math.Max(math.Abs(d64[i]), a.Scale); rel > 1e-6 {
					t.Fatalf("%+v: x %v: float32 %v, float64 %v", a, x64[i], d32[i], d64[i])
				}
			case 1:
				if i >= 1000 { // the first 1000 are ties, free to differ
					differ++
				}
			default:
				t.Fatalf("%+v: x %v: codes %v and %v", a, x64[i], c32, c64)
			}
		}
		if differ > n/1000 {
			t.Errorf("%+v: %d of %d codes differ", a, differ, n)
		}
	}
}

// TestRoundEven32 compares roundEven32 with math.RoundToEven on ties, on
// the boundaries of the fast path, on special values, on every float32 bit
// pattern at a stride, and on a dense grid of quarters.
func TestRoundEven32(t *testing.T) {
	check := func(x float32) {
		t.Helper()
		got := roundEven32(x)
		want := float32(math.RoundToEven(float64(x)))
		if got != want && !(got != got && want != want) {
			t.Fatalf("roundEven32(%v) = %v, want %v", x, got, want)
		}
	}
	for _, x := range []float32{
		0, 0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5, 0.49999997, 0.50000006,
		-0.49999997, 1e-45, -1e-45, 4194303.5, 4194304, 4194304.5, -4194304.5,
		-4194303.5, 8388607.5, 8388608, -8388607.5, 16777216, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32,
	} {
		check(x)
	}
	for k := -1 << 14; k <= 1<<14; k++ {
		check(float32(k) / 4)
	}
	stride := uint32(4093)
	if testing.Short() {
		stride = 99991
	}
	for b := uint64(0); b < 1<<32; b += uint64(stride) {
		check(math.Float32frombits(uint32(b)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 18 {
		check(float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(30)))))
	}
}
