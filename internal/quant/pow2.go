package quant

import "math"

// Pow2Exponents returns INQ's exponent range for a layer whose largest weight
// magnitude is maxAbs, at bits ≥ 2: the levels are {0} ∪ {±2^k : n2 ≤ k ≤ n1}
// with
//
//	n1 = floor(log2(4·maxAbs/3)),  n2 = n1 + 1 − 2^(bits−2).
//
// n1 is computed exactly from the binary exponent of maxAbs (no rounding of
// 4·maxAbs/3) and capped at 1023. maxAbs must be positive and finite;
// Pow2Exponents panics if bits is outside 2..MaxBits.
func Pow2Exponents(maxAbs float64, bits int) (n1, n2 int) {
	if bits < 2 || bits > MaxBits {
		panic(errBits)
	}
	n1 = pow2Exponent(maxAbs)
	if n1 > 1023 {
		n1 = 1023
	}
	return n1, n1 + 1 - 1<<(bits-2)
}

// pow2Exponent returns floor(log2(a/0.75)) for finite a > 0, exactly: with
// a = 1.m·2^E, a/0.75 = (1.m/0.75)·2^E, and 1.m/0.75 lies in [4/3, 2) when
// 1.m < 1.5 and in [2, 8/3) otherwise; 1.m ≥ 1.5 is the top mantissa bit.
func pow2Exponent(a float64) int {
	b := math.Float64bits(a)
	if e := int(b>>52) & 0x7ff; e != 0 {
		return e - 1023 + int(b>>51&1)
	}
	f, e := math.Frexp(a) // subnormal: a = f·2^e, f ∈ [0.5, 1)
	if f >= 0.75 {
		return e
	}
	return e - 1
}

// exp2i returns 2^k for k ≤ 1023 (0 below the subnormal range).
func exp2i(k int) float64 {
	if k >= -1022 {
		return math.Float64frombits(uint64(k+1023) << 52)
	}
	return math.Ldexp(1, k)
}

// pow2 is INQ's power-of-two quantizer over the whole layer (bits ≥ 2).
//
// With adjacent levels α < β of {0, 2^n2, …, 2^n1}, a weight goes to
// β·sign(w) when (α+β)/2 ≤ |w| < 3β/2, which tiles [2^(n2−1), 3·2^n1/2):
// 2^k takes [0.75·2^k, 1.5·2^k) for n2 < k ≤ n1, 2^n2 takes
// [0.5·2^n2, 1.5·2^n2), and |w| < 2^(n2−1) goes to zero. A weight exactly on
// a boundary goes to the larger level. By the choice of n1 every |w| ≤ maxAbs
// is below 3·2^n1/2.
func pow2(dst, w []float64, bits int) {
	s := maxAbs(w)
	if s == 0 {
		clear(dst[:len(w)])
		return
	}
	n1, n2 := Pow2Exponents(s, bits)
	zeroBelow := exp2i(n2 - 1) // 0 when it underflows: only w == 0 maps to 0
	for i, v := range w {
		a := math.Abs(v)
		if a == 0 || a < zeroBelow {
			dst[i] = 0
			continue
		}
		k := min(max(pow2Exponent(a), n2), n1)
		dst[i] = math.Copysign(exp2i(k), v)
	}
}
