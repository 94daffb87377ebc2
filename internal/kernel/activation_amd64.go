//go:build !purego && !noasm

package kernel

import "math"

//go:noescape
func clampAVX2(y, x *float32, n int, lo, hi, z float32)

//go:noescape
func hardAVX2(y, x *float32, n int, a, b float32, swish bool)

//go:noescape
func tanhAVX2(y, x *float32, n int)

//go:noescape
func sigmoidAVX2(y, x *float32, n int)

//go:noescape
func erfAVX2(y, x *float32, n int)

// clampAsm does Clamp's first len(y) rounded down to a multiple of 8
// values and returns how many: 0 on CPUs without AVX2, and for bounds the
// vector code does not reproduce Go's min and max for (a NaN bound, hi −0).
func clampAsm(y, x []float32, lo, hi float32) int {
	n := len(y) / 8 * 8
	if n == 0 || !hasAVX2() || lo != lo || hi != hi || (hi == 0 && math.Signbit(float64(hi))) {
		return 0
	}
	z := float32(math.Copysign(0, -1))
	if lo == 0 && !math.Signbit(float64(lo)) {
		z = 0
	}
	_ = x[n-1]
	clampAVX2(&y[0], &x[0], n, lo, hi, z)
	return n
}

// hardAsm does HardSigmoid's (swish false) or HardSwish's (true, a = 6,
// b = 1/2) first len(y) rounded down to a multiple of 8 values and
// returns how many, 0 on CPUs without AVX2.
func hardAsm(y, x []float32, a, b float32, swish bool) int {
	n := len(y) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = x[n-1]
	hardAVX2(&y[0], &x[0], n, a, b, swish)
	return n
}

// unaryAsm runs the AVX2 kernel k (tanhAVX2, sigmoidAVX2, softplusAVX2)
// over the first len(y) rounded down to a multiple of 8 values and
// returns how many, 0 on CPUs without AVX2.
func unaryAsm(y, x []float32, k func(y, x *float32, n int)) int {
	n := len(y) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = x[n-1]
	k(&y[0], &x[0], n)
	return n
}

// tanhAsm does Tanh's vector part (unaryAsm).
func tanhAsm(y, x []float32) int { return unaryAsm(y, x, tanhAVX2) }

// erfAsm does Erf's vector part (unaryAsm).
func erfAsm(y, x []float32) int { return unaryAsm(y, x, erfAVX2) }

// sigmoidAsm does Sigmoid's vector part (unaryAsm).
func sigmoidAsm(y, x []float32) int { return unaryAsm(y, x, sigmoidAVX2) }

// expSumAsm returns ExpSum's sum over the first len(x) rounded down to a
// multiple of 8 values and how many that is, 0 on CPUs without AVX2.
func expSumAsm(x []float32, m float32) (float32, int) {
	n := len(x) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0, 0
	}
	return expStoreAVX2(nil, &x[0], n, m), n
}

//go:noescape
func expStoreAVX2(y, x *float32, n int, m float32) float32

// expStoreAsm is expSumAsm that also stores the terms in y (ExpStore).
func expStoreAsm(y, x []float32, m float32) (float32, int) {
	n := len(x) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0, 0
	}
	_ = y[n-1]
	return expStoreAVX2(&y[0], &x[0], n, m), n
}

//go:noescape
func binaryAVX2(y, a, b *float32, n int, op byte, sa, sb int)

//go:noescape
func maxMinAVX2(y, a, b *float32, n int, isMax bool)

// binaryAsm does Binary's first len(y) rounded down to a multiple of 8
// values and returns how many, 0 on CPUs without AVX2 or for strides the
// op has no vector loop for (Max and Min: two vectors only).
func binaryAsm(op byte, y, a, b []float32, sa, sb int) int {
	n := len(y) / 8 * 8
	if n == 0 || !hasAVX2() || sa|sb > 1 || sa+sb == 0 {
		return 0
	}
	_, _ = a[(n-1)*sa], b[(n-1)*sb]
	switch op {
	case '+', '-', '*', '/':
		binaryAVX2(&y[0], &a[0], &b[0], n, op, sa, sb)
	case 'M', 'm':
		if sa != 1 || sb != 1 {
			return 0
		}
		maxMinAVX2(&y[0], &a[0], &b[0], n, op == 'M')
	default:
		return 0
	}
	return n
}

//go:noescape
func fillAVX2(dst *float32, n int, v float32)

// fillAsm sets dst's first len(dst) rounded down to a multiple of 8 values
// to v and returns how many, 0 on CPUs without AVX2.
func fillAsm(dst []float32, v float32) int {
	n := len(dst) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	fillAVX2(&dst[0], n, v)
	return n
}

//go:noescape
func leakyAVX2(y, x *float32, n int, alpha float32)

// leakyAsm does LeakyRelu's first len(y) rounded down to a multiple of 8
// values and returns how many, 0 on CPUs without AVX2.
func leakyAsm(y, x []float32, alpha float32) int {
	n := len(y) / 8 * 8
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = x[n-1]
	leakyAVX2(&y[0], &x[0], n, alpha)
	return n
}

//go:noescape
func softplusAVX2(y, x *float32, n int)

// softplusAsm does Softplus's vector part (unaryAsm).
func softplusAsm(y, x []float32) int { return unaryAsm(y, x, softplusAVX2) }
