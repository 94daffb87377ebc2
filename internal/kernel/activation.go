package kernel

import (
	"fmt"
	"math"
)

// Activation functions over slices. Each computes y[i] = f(x[i]) for every
// i < len(y) (x must be at least as long; y may be x), with AVX2 for
// float32 where the CPU has it; the vector code gives the results of the
// scalar loops here, bit for bit (TestActivations).

// Clamp sets y[i] = min(max(x[i], lo), hi) with Go's min and max: NaN
// stays NaN, max(−0, +0) is +0 and min(−0, +0) is −0 (ONNX Clip, ReLU6).
func Clamp[T Float](y, x []T, lo, hi T) {
	x = x[:len(y)]
	done := 0
	if ys, ok := any(y).([]float32); ok {
		done = clampAsm(ys, any(x).([]float32), float32(lo), float32(hi))
	}
	for i, v := range x[done:] {
		y[done+i] = min(max(v, lo), hi)
	}
}

// HardSigmoid sets y[i] = min(max(alpha·x[i] + beta, 0), 1), the product
// rounded before the sum (ONNX HardSigmoid).
func HardSigmoid[T Float](y, x []T, alpha, beta T) {
	x = x[:len(y)]
	done := 0
	if ys, ok := any(y).([]float32); ok {
		done = hardAsm(ys, any(x).([]float32), float32(alpha), float32(beta), false)
	}
	for i, v := range x[done:] {
		y[done+i] = min(max(T(alpha*v)+beta, 0), 1)
	}
}

// HardSwish sets y[i] = x[i] · min(max(x[i]/6 + 1/2, 0), 1) (ONNX
// HardSwish, PyTorch's nn.Hardswish).
func HardSwish[T Float](y, x []T) {
	x = x[:len(y)]
	done := 0
	if ys, ok := any(y).([]float32); ok {
		done = hardAsm(ys, any(x).([]float32), 6, 0.5, true)
	}
	for i, v := range x[done:] {
		y[done+i] = v * min(max(v/6+0.5, 0), 1)
	}
}

// Tanh sets y[i] = tanh(x[i]). float64 uses math.Tanh; float32 uses
// tanh32 (Cephes' tanhf), within a few units in the last place of the
// correctly rounded value (TestTanhSigmoidAccuracy) and many times faster than
// float64 math.Tanh, as PyTorch's vectorized float32 tanh is.
func Tanh[T Float](y, x []T) { mapFloat(y, x, tanhAsm, tanh32, math.Tanh) }

// mapFloat sets y[i] = f(x[i]) for i < len(y): for float32 the vector
// kernel asm does the first values (it returns how many; nil: none) and
// f32 the rest, for float64 f64 does all of them.
func mapFloat[T Float](y, x []T, asm func(y, x []float32) int, f32 func(float32) float32, f64 func(float64) float64) {
	x = x[:len(y)]
	if ys, ok := any(y).([]float32); ok {
		xs := any(x).([]float32)
		done := 0
		if asm != nil {
			done = asm(ys, xs)
		}
		for i, v := range xs[done:] {
			ys[done+i] = f32(v)
		}
		return
	}
	for i, v := range x {
		y[i] = T(f64(float64(v)))
	}
}

// Sigmoid sets y[i] = 1/(1 + exp(−x[i])). float64 computes it with
// math.Exp; float32 with sigmoid32, within a few units in the last place
// (TestTanhSigmoidAccuracy).
func Sigmoid[T Float](y, x []T) {
	mapFloat(y, x, sigmoidAsm, sigmoid32, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) })
}

// Coefficients of Cephes' single-precision expf and tanhf (S. L. Moshier,
// Cephes Math Library; the same polynomials as SLEEF's and Eigen's
// float32 exp). exp: e^x = 2^n · e^r with n = ⌊x·log₂e + ½⌋ and
// r = x − n·ln 2 (ln 2 = c1 − c2 in two parts, c1 exact in a few bits), e^r
// ≈ 1 + r + r²·P(r). tanh: x + x³·Q(x²) below 0.625, 1 − 2/(e^{2x} + 1)
// above.
const (
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1

	tanhQ0    = -5.70498872745e-3
	tanhQ1    = 2.06390887954e-2
	tanhQ2    = -5.37397155531e-2
	tanhQ3    = 1.33314422036e-1
	tanhQ4    = -3.33332819422e-1
	tanhSmall = 0.625
	tanhBig   = 10 // tanh32 of this and above is 1 (the formula gives 1 there)

	sigmoidBig = 87.3 // e^−87.3 is still normal; beyond, sigmoid32 takes e^−|x| = 0
)

// exp32 is e^x for x in [−87.3, 20] (the ranges tanh32 and sigmoid32 call it
// with: 2^n stays a normal number), every operation rounded to float32 in
// the order the vector code does them (the explicit conversions keep the
// compiler from fusing a product and a sum).
func exp32(x float32) float32 {
	n := float32(math.Floor(float64(float32(x*expLog2e) + 0.5)))
	r := x - float32(n*expC1)
	r -= float32(n * expC2)
	p := float32(expP0*r) + expP1
	p = float32(p*r) + expP2
	p = float32(p*r) + expP3
	p = float32(p*r) + expP4
	p = float32(p*r) + expP5
	p = float32(p*float32(r*r)) + r
	p++
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// tanh32 is Cephes' tanhf: NaN stays NaN, ±0 stays ±0.
func tanh32(x float32) float32 {
	if x != x {
		return x
	}
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var t float32
	if a < tanhSmall {
		z := float32(a * a)
		p := float32(tanhQ0*z) + tanhQ1
		p = float32(p*z) + tanhQ2
		p = float32(p*z) + tanhQ3
		p = float32(p*z) + tanhQ4
		t = float32(float32(p*z)*a) + a
	} else {
		e := exp32(2 * min(a, tanhBig))
		t = 1 - 2/(e+1)
	}
	return math.Float32frombits(math.Float32bits(t) | math.Float32bits(x)&(1<<31))
}

// sigmoid32 is 1/(1 + e^−x) for x ≥ 0 and e^x/(1 + e^x) below, e^−|x|
// from exp32 (0 for |x| ≥ 87.3, where the result is 1 or below 1.2e−38);
// NaN stays NaN.
func sigmoid32(x float32) float32 {
	if x != x {
		return x
	}
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var e float32
	if a < sigmoidBig {
		e = exp32(-a)
	}
	d := 1 + e
	if x < 0 {
		return e / d
	}
	return 1 / d
}

// ExpSum returns Σ exp(x[i] − m), the sum of a log-sum-exp or a softmax
// shifted by m, the values' maximum (so every term is at most 1). float64
// sums math.Exp in order. float32 takes exp32 of each difference (0 where
// it is −87.3 or less, or NaN) and sums the terms of each whole 8-value
// vector in eight partial sums, lane l taking the values 8j + l, added as
// ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), then the last
// len(x) mod 8 terms one by one: AVX2 where the CPU has it, the same bits
// in Go elsewhere.
func ExpSum[T Float](x []T, m T) float64 {
	if xs, ok := any(x).([]float32); ok {
		m32 := any(m).(float32)
		sum, done := expSumAsm(xs, m32)
		if done == 0 {
			sum, done = expSum8(xs, m32)
		}
		for _, v := range xs[done:] {
			sum += expShifted32(v, m32)
		}
		return float64(sum)
	}
	sum := 0.0
	for _, v := range x {
		sum += math.Exp(float64(v) - float64(m))
	}
	return sum
}

// ExpStore is ExpSum that also sets y[i] to each term, the numerators of
// a softmax. y must be at least as long as x; it may be x.
func ExpStore[T Float](y, x []T, m T) float64 {
	y = y[:len(x)]
	if xs, ok := any(x).([]float32); ok {
		ys, m32 := any(y).([]float32), any(m).(float32)
		sum, done := expStoreAsm(ys, xs, m32)
		if done == 0 {
			n := len(xs) / 8 * 8
			for i, v := range xs[:n] {
				ys[i] = expShifted32(v, m32)
			}
			sum, done = sum8(ys[:n]), n
		}
		for i, v := range xs[done:] {
			e := expShifted32(v, m32)
			ys[done+i] = e
			sum += e
		}
		return float64(sum)
	}
	sum := 0.0
	for i, v := range x {
		e := math.Exp(float64(v) - float64(m))
		y[i] = T(e)
		sum += e
	}
	return sum
}

// expShifted32 is one term of ExpSum in float32.
func expShifted32(v, m float32) float32 {
	if d := v - m; d > -sigmoidBig {
		return exp32(d)
	}
	return 0
}

// expSum8 is expSumAsm in Go.
func expSum8(x []float32, m float32) (float32, int) {
	n := len(x) / 8 * 8
	var s [8]float32
	for j := 0; j < n; j += 8 {
		v := x[j : j+8 : j+8]
		for l := range s {
			s[l] += expShifted32(v[l], m)
		}
	}
	return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])), n
}

// sum8 is the sum of the whole 8-value vectors of t (its first
// len(t) − len(t) mod 8 values) in the order of ExpSum and PlaneMeans:
// eight partial sums, lane l taking the values 8j + l, added as ((s0 +
// s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)). The partial sums are
// variables: in an array they stay in memory, about 3× slower.
func sum8[T Float](t []T) T {
	var s0, s1, s2, s3, s4, s5, s6, s7 T
	for j := 0; j+8 <= len(t); j += 8 {
		v := t[j : j+8 : j+8]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
	}
	return ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
}

// Binary sets y[i] = a[i·sa] op b[i·sb] for i < len(y), op one of '+',
// '-', '*', '/', 'M' (Go's max) and 'm' (min), sa and sb 1 (a vector) or
// 0 (one value, broadcast): ONNX Add, Sub, Mul, Div, Max and Min on
// operands of the same shape, or a run of a broadcast one. AVX2 for
// float32 '+', '-', '*' and '/' where the CPU has it, each value one
// IEEE operation as in the scalar loop. y may be a or b (with stride 1).
func Binary[T Float](op byte, y, a, b []T, sa, sb int) {
	if len(y) == 0 {
		return
	}
	_, _ = a[(len(y)-1)*sa], b[(len(y)-1)*sb]
	done := 0
	if ys, ok := any(y).([]float32); ok {
		done = binaryAsm(op, ys, any(a).([]float32), any(b).([]float32), sa, sb)
	}
	switch op {
	case '+':
		for i := done; i < len(y); i++ {
			y[i] = a[i*sa] + b[i*sb]
		}
	case '-':
		for i := done; i < len(y); i++ {
			y[i] = a[i*sa] - b[i*sb]
		}
	case '*':
		for i := done; i < len(y); i++ {
			y[i] = a[i*sa] * b[i*sb]
		}
	case '/':
		for i := done; i < len(y); i++ {
			y[i] = a[i*sa] / b[i*sb]
		}
	case 'M':
		for i := done; i < len(y); i++ {
			y[i] = max(a[i*sa], b[i*sb])
		}
	case 'm':
		for i := done; i < len(y); i++ {
			y[i] = min(a[i*sa], b[i*sb])
		}
	default:
		panic(fmt.Sprintf("kernel: Binary: unknown op %q", op))
	}
}

// Erf sets y[i] = erf(x[i]). float64 uses math.Erf; float32 uses erf32,
// within 8 units in the last place (TestErf32) and several times faster,
// eight values a vector where the CPU has AVX2 (erfAVX2: bit for bit
// erf32).
func Erf[T Float](y, x []T) { mapFloat(y, x, erfAsm, erf32, math.Erf) }

// Coefficients of erf32's rational approximation erf(x) ≈ x·P(x²)/Q(x²)
// on [0, 4], fitted by weighted least squares on the relative error
// (Lawson iterations) in float64: its relative error is below 2.5e−8
// there, and float32 evaluation adds a few units in the last place.
const (
	erfP0, erfP1, erfP2, erfP3, erfP4, erfP5 = 1.12837914e+00, 1.93553644e-01, 5.31023914e-02, 3.88356773e-03, 2.84546478e-04, 1.98640588e-06
	erfQ1, erfQ2, erfQ3, erfQ4, erfQ5        = 5.04865010e-01, 1.15353099e-01, 1.52077327e-02, 1.18557881e-03, 3.74152303e-05
	erfBig                                   = 4 // erf32 of this and above is 1 (erf(3.92) rounds to 1 in float32)
)

// erf32 is erf(x) for float32 x: x·P(x²)/Q(x²) with |x| clamped to 4 and
// the result to [−1, 1]; NaN stays NaN, ±0 stays ±0.
func erf32(x float32) float32 {
	if x != x {
		return x
	}
	a := min(max(x, -erfBig), erfBig)
	t := float32(a * a)
	p := float32(erfP5*t) + erfP4
	p = float32(p*t) + erfP3
	p = float32(p*t) + erfP2
	p = float32(p*t) + erfP1
	p = float32(p*t) + erfP0
	q := float32(erfQ5*t) + erfQ4
	q = float32(q*t) + erfQ3
	q = float32(q*t) + erfQ2
	q = float32(q*t) + erfQ1
	q = float32(q*t) + 1
	return min(max(float32(a*p)/q, -1), 1)
}

// Elu sets y[i] = x[i] for x[i] ≥ 0 and alpha·(e^x[i] − 1) below (ONNX
// Elu). float64 uses math.Expm1; float32 uses expm1f32, within a few
// units in the last place (TestExpm1f32) and several times faster.
func Elu[T Float](y, x []T, alpha T) {
	x = x[:len(y)]
	if ys, ok := any(y).([]float32); ok {
		a := float32(alpha)
		for i, v := range any(x).([]float32) {
			if v < 0 {
				v = a * expm1f32(v)
			}
			ys[i] = v
		}
		return
	}
	a := float64(alpha)
	for i, v := range x {
		if v < 0 {
			v = T(a * math.Expm1(float64(v)))
		}
		y[i] = v
	}
}

// expm1f32 is e^x − 1 for float32 x ≤ 0 (Elu's negative side): the
// Taylor polynomial to x⁷ above −0.35, where e^x − 1 would cancel, and
// exp32(x) − 1 from there down to −87.3, −1 below; NaN and ±0 stay as
// they are.
func expm1f32(x float32) float32 {
	switch {
	case x != x || x == 0:
		return x
	case x > -0.35:
		p := float32(x*(1.0/5040)) + 1.0/720
		p = float32(p*x) + 1.0/120
		p = float32(p*x) + 1.0/24
		p = float32(p*x) + 1.0/6
		p = float32(p*x) + 0.5
		return float32(float32(p*x)*x) + x
	case x > -sigmoidBig:
		return exp32(x) - 1
	}
	return -1
}

// LeakyRelu sets y[i] = alpha·x[i] where x[i] < 0 and x[i] elsewhere
// (ONNX LeakyRelu), AVX2 for float32 where the CPU has it, bit for bit
// the scalar loop.
func LeakyRelu[T Float](y, x []T, alpha T) {
	x = x[:len(y)]
	done := 0
	if ys, ok := any(y).([]float32); ok {
		done = leakyAsm(ys, any(x).([]float32), float32(alpha))
	}
	for i, v := range x[done:] {
		if v < 0 {
			v *= alpha
		}
		y[done+i] = v
	}
}

// Selu sets y[i] = gamma·x[i] for x[i] > 0 and gamma·alpha·(e^x[i] − 1)
// elsewhere (ONNX Selu), float32 through expm1f32.
func Selu[T Float](y, x []T, alpha, gamma T) {
	x = x[:len(y)]
	if ys, ok := any(y).([]float32); ok {
		a, g := float32(alpha), float32(gamma)
		for i, v := range any(x).([]float32) {
			if v <= 0 {
				v = a * expm1f32(v)
			}
			ys[i] = g * v
		}
		return
	}
	a := float64(alpha)
	for i, v := range x {
		if v <= 0 {
			v = T(a * math.Expm1(float64(v)))
		}
		y[i] = gamma * v
	}
}

// Mish sets y[i] = x·tanh(softplus(x)) for x = x[i]. float64 computes it
// so; float32 as x·n/(n + 2) with n = e(e + 2), e = e^x (the same
// function: tanh(log(1 + e)) = ((1 + e)² − 1)/((1 + e)² + 1)), e from
// exp32 with x clamped to 20 (beyond, the ratio is 1), within a few units
// in the last place (TestMish32).
func Mish[T Float](y, x []T) {
	mapFloat(y, x, nil, mish32, func(u float64) float64 { return u * math.Tanh(softplus64(u)) })
}

// mish32 is Mish for one float32 (see Mish); NaN stays NaN. Below −20,
// where n/(n + 2) is e^x to float32 precision, it is x·e^(x+20)·e^−20, so
// that e^x stays in exp32's range down to −107 (the result is then below
// 1e−44).
func mish32(x float32) float32 {
	if x != x {
		return x
	}
	if x < -20 {
		return float32(x*exp32(max(x, -107)+20)) * mishEm20
	}
	e := exp32(min(x, 20))
	n := e * (e + 2)
	return x * (n / (n + 2))
}

// mishEm20 is e^−20.
const mishEm20 = 2.061153622438558e-09

// Softplus sets y[i] = log(1 + e^x[i]) as max(x, 0) + log1p(e^−|x|).
// float64 computes it with math; float32 with exp32 and log1p(u) =
// 2·atanh(u/(2 + u)) by its series to the 15th power (u ≤ 1, so the
// ratio is at most ⅓), within a few units in the last place
// (TestSoftplus32); AVX2 where the CPU has it, bit for bit softplus32.
func Softplus[T Float](y, x []T) { mapFloat(y, x, softplusAsm, softplus32, softplus64) }

// softplus64 is log(1 + eˣ) without overflow.
func softplus64(u float64) float64 { return max(u, 0) + math.Log1p(math.Exp(-math.Abs(u))) }

// softplus32 is Softplus for one float32; NaN stays NaN.
func softplus32(x float32) float32 {
	if x != x {
		return x
	}
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var u float32
	if a < sigmoidBig {
		u = exp32(-a)
	}
	s := u / (2 + u)
	z := float32(s * s)
	p := float32(z*(1.0/15)) + 1.0/13
	p = float32(p*z) + 1.0/11
	p = float32(p*z) + 1.0/9
	p = float32(p*z) + 1.0/7
	p = float32(p*z) + 1.0/5
	p = float32(p*z) + 1.0/3
	p = float32(p*z) + 1
	return max(x, 0) + float32(2*s)*p
}
