package quant

import "math"

// Affine holds per-tensor asymmetric (affine) fake-quantization parameters:
// codes 0..2^Bits−1, with x ≈ (q − ZeroPoint)·Scale. Zero is always exactly
// representable (q = ZeroPoint).
type Affine struct {
	Scale     float64
	ZeroPoint int
	Bits      int
}

// AffineFromRange returns the affine parameters covering [min, max] at bits
// (1..MaxBits) the way PyTorch's MinMaxObserver does:
//
//	min ← min(min, 0), max ← max(max, 0)
//	scale = (max − min) / (2^bits − 1)
//	zero_point = clamp(roundHalfEven(−min/scale), 0, 2^bits − 1)
//
// A degenerate range (min == max == 0 after the widening) gives Scale 1 and
// ZeroPoint 0, so that zeros map to zero. AffineFromRange panics if bits is
// out of range or min or max is not finite (observers never report
// non-finite ranges).
func AffineFromRange(min, max float64, bits int) Affine {
	checkBits(bits)
	if math.IsNaN(min) || math.IsInf(min, 0) || math.IsNaN(max) || math.IsInf(max, 0) {
		panic(errRange)
	}
	min, max = math.Min(min, 0), math.Max(max, 0)
	if min == max {
		return Affine{Scale: 1, ZeroPoint: 0, Bits: bits}
	}
	qmax := affineQmax(bits)
	scale := (max - min) / qmax
	zp := math.RoundToEven(-min / scale)
	zp = math.Min(math.Max(zp, 0), qmax)
	return Affine{Scale: scale, ZeroPoint: int(zp), Bits: bits}
}

// affineQmax returns 2^bits − 1.
func affineQmax(bits int) float64 { return float64(int64(1)<<bits - 1) }

// check panics unless a is usable: 1 ≤ Bits ≤ MaxBits, a positive finite
// Scale and 0 ≤ ZeroPoint ≤ 2^Bits − 1.
func (a Affine) check() {
	if a.Bits < 1 || a.Bits > MaxBits || !(a.Scale > 0) || math.IsInf(a.Scale, 1) ||
		a.ZeroPoint < 0 || float64(a.ZeroPoint) > affineQmax(a.Bits) {
		panic(errAffine)
	}
}

// Quantize returns the code of x: clamp(roundHalfEven(x/Scale) + ZeroPoint,
// 0, 2^Bits − 1). NaN has no code; Quantize maps it to ZeroPoint. It panics
// if a is invalid (see FakeQuant64).
func (a Affine) Quantize(x float64) int {
	a.check()
	if math.IsNaN(x) {
		return a.ZeroPoint
	}
	q := math.RoundToEven(x/a.Scale) + float64(a.ZeroPoint)
	return int(math.Min(math.Max(q, 0), affineQmax(a.Bits)))
}

// FakeQuant returns (Quantize(x) − ZeroPoint)·Scale, x's value on the grid,
// and NaN for NaN.
func (a Affine) FakeQuant(x float64) float64 {
	if math.IsNaN(x) {
		return x
	}
	return float64(a.Quantize(x)-a.ZeroPoint) * a.Scale
}

// FakeQuant64 writes FakeQuant(x[i]) into dst[i]; dst may alias x, and
// len(dst) must equal len(x). A NaN input gives a NaN output.
//
// The clamp is applied before rounding, to the integer bounds −zp and
// qmax−zp: rounding is monotone, so this equals clamping after rounding.
//
// FakeQuant64 panics on a length mismatch or an invalid a (Bits outside
// 1..MaxBits, Scale not positive and finite, ZeroPoint outside
// 0..2^Bits−1).
func FakeQuant64(dst, x []float64, a Affine) {
	a.check()
	if len(dst) != len(x) {
		panic(errDstLength)
	}
	s := a.Scale
	lo := -float64(a.ZeroPoint)
	hi := affineQmax(a.Bits) + lo
	for i, v := range x {
		t := v / s
		if t < lo {
			t = lo
		} else if t > hi {
			t = hi
		}
		dst[i] = math.RoundToEven(t) * s
	}
}

// FakeQuant32 is FakeQuant64 computed in float32: the scale and bounds are
// rounded to float32 once, and each element costs a division, a clamp, a
// float32 round-half-to-even and a multiplication. It agrees with
// FakeQuant64 except where x/scale lies within float32 rounding of a
// half-integer, where the two may pick adjacent codes. dst may alias x.
//
// FakeQuant32 panics like FakeQuant64, and also when Scale rounds to zero or
// infinity in float32.
func FakeQuant32(dst, x []float32, a Affine) {
	a.check()
	if len(dst) != len(x) {
		panic(errDstLength)
	}
	s := float32(a.Scale)
	if s == 0 || math.IsInf(float64(s), 1) {
		panic(errAffine)
	}
	lo := -float32(a.ZeroPoint)
	hi := float32(affineQmax(a.Bits)) + lo
	for i, v := range x {
		t := v / s
		if t < lo {
			t = lo
		} else if t > hi {
			t = hi
		}
		dst[i] = roundEven32(t) * s
	}
}

// roundEven32 rounds x to the nearest integer, ties to even, in float32.
//
// For |x| ≤ 2^22, x + 1.5·2^23 lies in [2^23, 2^24], where float32 spacing
// is 1, so the addition itself rounds x half-to-even (1.5·2^23 is even), and
// subtracting the constant back is exact. Larger magnitudes (all integers or
// halves from 2^22 on, integers from 2^23 on), infinities and NaN take the
// float64 path. Unlike math.RoundToEven, a negative x that rounds to zero
// gives +0.
func roundEven32(x float32) float32 {
	const magic = 1.5 * (1 << 23)
	if x >= -(1<<22) && x <= 1<<22 {
		return float32(x+magic) - magic
	}
	return float32(math.RoundToEven(float64(x)))
}
