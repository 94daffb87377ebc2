package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// activationInputs returns n float32 values mixing the special ones
// (NaN, ±Inf, ±0, subnormals, the kernels' branch points and their
// neighbours) with random values of every magnitude from 1e−6 to 1e3.
func activationInputs(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	special := []float32{nan, float32(math.Inf(1)), float32(math.Inf(-1)), 0, negZero, 1e-45, -1e-45, 1e-38,
		0.625, -0.625, math.Nextafter32(0.625, 0), math.Nextafter32(0.625, 1), 10, -10, math.Nextafter32(10, 0),
		87, -87, math.Nextafter32(87, 0), -math.Nextafter32(87, 0), 88, -88, 100, -100, 1, -1, 3, -3, 6, -6, 0.5, -0.5,
		-0.5 * 6, 6, math.Nextafter32(3, 0), math.Nextafter32(-3, 0), 1e30, -1e30, 20, -20, 4.5, -4.5}
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(4) == 0 {
			x[i] = special[rng.IntN(len(special))]
			continue
		}
		v := float32(math.Pow(10, rng.Float64()*9-6))
		if rng.IntN(2) == 0 {
			v = -v
		}
		x[i] = v
	}
	return x
}

// TestActivations checks each activation kernel on float32 (the AVX2
// code where the CPU has it, then the scalar tail) against the scalar
// loop value by value, bit for bit, over lengths around the vector width
// and inputs with NaN, ±Inf, ±0 and the branch points; Clamp also with
// ±0 and infinite bounds and the bounds the vector code leaves to the
// scalar loop (NaN, hi = −0).
func TestActivations(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	type kase struct {
		name string
		run  func(y, x []float32)
		ref  func(v float32) float32
	}
	var cases []kase
	for _, b := range [][2]float32{{0, 6}, {negZero, 6}, {-1, 1}, {0, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
		{-3, negZero}, {nan, 1}, {2, nan}, {5, 1}} {
		lo, hi := b[0], b[1]
		cases = append(cases, kase{fmt.Sprintf("Clamp(%v,%v)", lo, hi),
			func(y, x []float32) { Clamp(y, x, lo, hi) },
			func(v float32) float32 { return min(max(v, lo), hi) }})
	}
	for _, ab := range [][2]float32{{0.2, 0.5}, {1.0 / 6, 0.5}, {-0.3, 0}} {
		a, b := ab[0], ab[1]
		cases = append(cases, kase{fmt.Sprintf("HardSigmoid(%v,%v)", a, b),
			func(y, x []float32) { HardSigmoid(y, x, a, b) },
			func(v float32) float32 { return min(max(float32(a*v)+b, 0), 1) }})
	}
	cases = append(cases,
		kase{"HardSwish", HardSwish[float32], func(v float32) float32 { return v * min(max(v/6+0.5, 0), 1) }},
		kase{"Tanh", Tanh[float32], tanh32},
		kase{"Sigmoid", Sigmoid[float32], sigmoid32},
		kase{"Softplus", Softplus[float32], softplus32},
		kase{"LeakyRelu", func(y, x []float32) { LeakyRelu(y, x, 0.1) }, func(v float32) float32 {
			if v < 0 {
				v *= 0.1
			}
			return v
		}})
	for _, c := range cases {
		for _, n := range []int{1, 7, 8, 9, 16, 33, 1000} {
			x := activationInputs(n, uint64(n))
			y := make([]float32, n)
			c.run(y, x)
			for i, v := range x {
				if want := c.ref(v); !sameValue(y[i], want) {
					t.Fatalf("%s, n = %d: f(%v) = %v (%#x), the scalar code gives %v (%#x)", c.name, n, v, y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
				}
			}
			// In place.
			c.run(x, x)
			if !sameValues(x, y) {
				t.Fatalf("%s, n = %d: in place differs", c.name, n)
			}
		}
	}
}

// sameValue reports whether a and b are the same float32, any NaN the
// same as any other (Go's min and max do not keep a NaN's payload).
func sameValue(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return sameBits(a, b)
}

func sameValues(a, b []float32) bool {
	for i := range a {
		if !sameValue(a[i], b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// ulps is the distance between float32 a and b in units in the last
// place (adjacent floats are 1 apart; +0 and −0 are 0 apart).
func ulps(a, b float32) int64 {
	key := func(v float32) int64 {
		u := int64(math.Float32bits(v))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}

// TestTanhSigmoidAccuracy sweeps float32 values of every magnitude from
// 2^−30 to 2^7 (every 97th bit pattern, both signs) and bounds the error
// of the float32 Tanh and Sigmoid against float64 math rounded to
// float32: at most 2 units in the last place, in the range where the
// result is a normal number.
func TestTanhSigmoidAccuracy(t *testing.T) {
	lo, hi := math.Float32bits(0x1p-30), math.Float32bits(128)
	var x []float32
	for u := lo; u < hi; u += 97 {
		v := math.Float32frombits(u)
		x = append(x, v, -v)
	}
	y := make([]float32, len(x))
	for _, c := range []struct {
		name string
		run  func(y, x []float32)
		ref  func(float64) float64
	}{
		{"Tanh", Tanh[float32], math.Tanh},
		{"Sigmoid", Sigmoid[float32], func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
	} {
		c.run(y, x)
		worst, at := int64(0), float32(0)
		for i, v := range x {
			want := float32(c.ref(float64(v)))
			if math.Abs(float64(want)) < 0x1p-125 {
				if math.Abs(float64(y[i]-want)) > 0x1p-125 {
					t.Errorf("%s(%v) = %v, want %v", c.name, v, y[i], want)
				}
				continue
			}
			if d := ulps(y[i], want); d > worst {
				worst, at = d, v
			}
		}
		t.Logf("%s: %d values, worst error %d ulp (at %v)", c.name, len(x), worst, at)
		if worst > 2 {
			t.Errorf("%s: error of %d ulp at %v, want at most 2", c.name, worst, at)
		}
	}
}

// BenchmarkActivation times the float32 activation kernels on 64 Ki values
// against float64 math.Tanh and math.Exp per value (the engine's code
// before these kernels).
func BenchmarkActivation(b *testing.B) {
	x := activationInputs(1<<16, 3)
	for i := range x {
		if x[i] != x[i] || math.IsInf(float64(x[i]), 0) {
			x[i] = 0.5
		}
	}
	y := make([]float32, len(x))
	for _, c := range []struct {
		name string
		run  func(y, x []float32)
	}{
		{"Clamp", func(y, x []float32) { Clamp(y, x, 0, 6) }},
		{"ClampScalar", func(y, x []float32) {
			for i, v := range x {
				y[i] = min(max(v, 0), 6)
			}
		}},
		{"HardSwish", HardSwish[float32]},
		{"Tanh", Tanh[float32]},
		{"TanhFloat64Math", func(y, x []float32) {
			for i, v := range x {
				y[i] = float32(math.Tanh(float64(v)))
			}
		}},
		{"Sigmoid", Sigmoid[float32]},
		{"Erf", Erf[float32]},
		{"Erf32Scalar", func(y, x []float32) {
			for i, v := range x {
				y[i] = erf32(v)
			}
		}},
		{"SigmoidFloat64Math", func(y, x []float32) {
			for i, v := range x {
				y[i] = float32(1 / (1 + math.Exp(-float64(v))))
			}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				c.run(y, x)
			}
			b.ReportMetric(float64(len(x)*b.N)/b.Elapsed().Seconds()/1e6, "Mvalues/s")
		})
	}
}

// TestBinary checks Binary for every op and stride pattern (two vectors,
// a vector and a broadcast value, a value and a vector) against the
// scalar expression value by value, bit for bit, on inputs with NaN,
// ±Inf, ±0 and subnormals, for lengths around the vector width.
func TestBinary(t *testing.T) {
	ops := map[byte]func(a, b float32) float32{
		'+': func(a, b float32) float32 { return a + b },
		'-': func(a, b float32) float32 { return a - b },
		'*': func(a, b float32) float32 { return a * b },
		'/': func(a, b float32) float32 { return a / b },
		'M': func(a, b float32) float32 { return max(a, b) },
		'm': func(a, b float32) float32 { return min(a, b) },
	}
	for op, f := range ops {
		for _, s := range [][2]int{{1, 1}, {1, 0}, {0, 1}} {
			for _, n := range []int{1, 7, 8, 9, 16, 33, 100} {
				a, b := activationInputs(n, uint64(n)), activationInputs(n, uint64(n)+100)
				// Zeros of both signs against each other and NaN on
				// either side, where MAXPS and MINPS differ from Go.
				nz, nan := float32(math.Copysign(0, -1)), float32(math.NaN())
				pa := []float32{0, nz, 0, nz, nan, 1, nan, nz, 2, -2}
				pb := []float32{nz, 0, 0, nz, 1, nan, nan, 0, 2, -3}
				for i := range min(n, len(pa)) {
					a[i], b[i] = pa[i], pb[i]
				}
				y := make([]float32, n)
				Binary(op, y, a, b, s[0], s[1])
				for i := range y {
					if want := f(a[i*s[0]], b[i*s[1]]); !sameValue(y[i], want) {
						t.Fatalf("%c, strides %v, n = %d: y[%d] = %v, want %v", op, s, n, i, y[i], want)
					}
				}
			}
		}
	}
}

// checkULP sweeps every 31st float32 magnitude from 2^−30 to hi, with the
// signs given, and fails t unless f is within maxULP units in the last
// place of ref (float64) rounded to float32 wherever that is at least
// 2^−120 in magnitude, and within 2^−120 of it below.
func checkULP(t *testing.T, name string, hi float32, signs []float32, maxULP int64, f func(float32) float32, ref func(float64) float64) {
	t.Helper()
	worst, at := int64(0), float32(0)
	for u := math.Float32bits(0x1p-30); u < math.Float32bits(hi); u += 31 {
		for _, sg := range signs {
			v := sg * math.Float32frombits(u)
			want, got := float32(ref(float64(v))), f(v)
			if math.Abs(float64(want)) < 0x1p-120 {
				if math.Abs(float64(got-want)) > 0x1p-120 {
					t.Fatalf("%s(%v) = %v, want %v", name, v, got, want)
				}
				continue
			}
			if d := ulps(got, want); d > worst {
				worst, at = d, v
			}
		}
	}
	t.Logf("%s: worst error %d ulp at %v", name, worst, at)
	if worst > maxULP {
		t.Errorf("%s: %d ulp at %v, want at most %d", name, worst, at, maxULP)
	}
}

// TestErf32 bounds erf32's error against float64 math.Erf rounded to
// float32 over every 31st float32 from 2^−30 to 8, both signs: at most 8
// units in the last place (6 measured when it was fitted); ±0, ±Inf and
// NaN exactly.
func TestErf32(t *testing.T) {
	checkULP(t, "erf32", 8, []float32{1, -1}, 8, erf32, math.Erf)
	negZero := float32(math.Copysign(0, -1))
	for _, c := range [][2]float32{{0, 0}, {negZero, negZero}, {float32(math.Inf(1)), 1}, {float32(math.Inf(-1)), -1}} {
		if got := erf32(c[0]); !sameBits(got, c[1]) {
			t.Errorf("erf32(%v) = %v, want %v", c[0], got, c[1])
		}
	}
	if got := erf32(float32(math.NaN())); got == got {
		t.Errorf("erf32(NaN) = %v", got)
	}
}

// TestErfVector checks that Erf on float32 slices (eight values a vector
// where the CPU has AVX2, the tail by erf32) is bit for bit erf32 on every
// 997th float32 from 2^−30 to 8, both signs, and on ±0, ±Inf, NaN, the
// clamp's edges and values past them, at every offset of a slice.
func TestErfVector(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	x := []float32{0, negZero, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 4, -4, 3.92, -3.92, 4.5, -1e30, 1e-40}
	for u := math.Float32bits(0x1p-30); u < math.Float32bits(8); u += 997 {
		v := math.Float32frombits(u)
		x = append(x, v, -v)
	}
	for off := range 9 {
		y := make([]float32, len(x)-off)
		Erf(y, x[off:])
		for i, v := range x[off:] {
			if want := erf32(v); !sameBits(y[i], want) && !(y[i] != y[i] && want != want) {
				t.Fatalf("offset %d: Erf(%v) = %v, erf32 %v", off, v, y[i], want)
			}
		}
	}
}

// TestExpm1f32 bounds expm1f32's error against float64 math.Expm1
// rounded to float32 over every 31st float32 from −2^−30 to −100: at
// most 4 units in the last place; −0, −Inf and NaN exactly.
func TestExpm1f32(t *testing.T) {
	checkULP(t, "expm1f32", 100, []float32{-1}, 4, expm1f32, math.Expm1)
	negZero := float32(math.Copysign(0, -1))
	if got := expm1f32(negZero); !sameBits(got, negZero) {
		t.Errorf("expm1f32(-0) = %v", got)
	}
	if got := expm1f32(float32(math.Inf(-1))); got != -1 {
		t.Errorf("expm1f32(-Inf) = %v", got)
	}
	if got := expm1f32(float32(math.NaN())); got == got {
		t.Errorf("expm1f32(NaN) = %v", got)
	}
}

// TestMish32 bounds mish32's error against float64 Mish rounded to
// float32 over every 31st float32 from 2^−30 to 100, both signs: at most
// 6 units in the last place (5 measured) where the result is a normal
// number.
func TestMish32(t *testing.T) {
	checkULP(t, "mish32", 100, []float32{1, -1}, 6, mish32, func(x float64) float64 {
		return x * math.Tanh(max(x, 0)+math.Log1p(math.Exp(-math.Abs(x))))
	})
}

// TestSoftplus32 bounds softplus32's error against float64 softplus
// rounded to float32 over every 31st float32 from 2^−30 to 100, both
// signs: at most 4 units in the last place where the result is normal.
func TestSoftplus32(t *testing.T) {
	checkULP(t, "softplus32", 100, []float32{1, -1}, 4, softplus32, func(x float64) float64 {
		return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
	})
}

// TestExpSum checks ExpSum's float32 sum (AVX2 where the CPU has it)
// against its Go form bit for bit, and ExpStore's sum and terms (in place
// too), and against float64's math.Exp sum
// within 2·10⁻⁶ relative, with terms below e^−87.3 (which count 0) and a
// NaN (which counts 0 in float32) among the values.
func TestExpSum(t *testing.T) {
	r := newRand(38)
	for n := 0; n <= 41; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 4)
			if i%11 == 5 {
				x[i] = -200
			}
		}
		m := float32(math.Inf(-1))
		for _, v := range x {
			m = max(m, v)
		}
		got := ExpSum(x, m)
		want, done := expSum8(x, m)
		for _, v := range x[done:] {
			want += expShifted32(v, m)
		}
		if float32(got) != want {
			t.Fatalf("n=%d: %v, Go form %v", n, got, want)
		}
		// ExpStore: the same sum, each term stored, in place too.
		y := make([]float32, n)
		if s := ExpStore(y, x, m); s != got {
			t.Fatalf("n=%d: ExpStore's sum %v, ExpSum's %v", n, s, got)
		}
		inPlace := slices.Clone(x)
		ExpStore(inPlace, inPlace, m)
		for i, v := range x {
			if e := expShifted32(v, m); !sameBits(y[i], e) || !sameBits(inPlace[i], e) {
				t.Fatalf("n=%d: term %d = %v (in place %v), want %v", n, i, y[i], inPlace[i], e)
			}
		}
		x64 := make([]float64, n)
		for i, v := range x {
			x64[i] = float64(v)
		}
		if ref := ExpSum(x64, float64(m)); n > 0 && math.Abs(got-ref) > 2e-6*ref {
			t.Fatalf("n=%d: %v, float64 %v", n, got, ref)
		}
		if n > 8 {
			x[3] = float32(math.NaN())
			got, want := ExpSum(x, m), ExpSum(x[4:], m)+ExpSum(x[:3], m)
			if math.IsNaN(got) || math.Abs(got-want) > 2e-6*want {
				t.Fatalf("n=%d with a NaN: %v, want about %v", n, got, want)
			}
		}
	}
}
