package kernel

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

func TestPoolOut(t *testing.T) {
	// Sizes as PyTorch's max_pool2d computes them.
	cases := []struct {
		in, k, stride, p0, p1, dil int
		ceil                       bool
		want                       int
	}{
		{5, 2, 2, 0, 0, 1, false, 2},
		{5, 2, 2, 0, 0, 1, true, 3},
		{6, 3, 2, 1, 1, 1, false, 3},
		{6, 3, 2, 1, 1, 1, true, 4},
		{5, 3, 3, 1, 1, 1, true, 2}, // the third window would start in the bottom padding
		{5, 3, 3, 1, 1, 1, false, 2},
		{7, 2, 3, 0, 0, 1, true, 3},
		{7, 2, 3, 0, 0, 1, false, 2},
		{7, 3, 2, 0, 0, 2, true, 2},
		{4, 2, 2, 1, 0, 1, true, 3}, // asymmetric: the last window starts at 3, inside
		{4, 2, 2, 0, 1, 1, true, 2}, // the last window would start at 4, in the padding
		{1, 3, 1, 0, 0, 1, false, 0},
	}
	for _, c := range cases {
		if got := poolOut(c.in, c.k, c.stride, c.p0, c.p1, c.dil, c.ceil); got != c.want {
			t.Errorf("poolOut%+v = %d, want %d", c, got, c.want)
		}
	}
}

func TestPoolValidate(t *testing.T) {
	p := Pool2D{C: 2, H: 5, W: 5, KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Pool2D){
		"zero stride":    func(p *Pool2D) { p.StrideW = 0 },
		"zero dilation":  func(p *Pool2D) { p.DilH = 0 },
		"negative pad":   func(p *Pool2D) { p.PadBottom = -1 },
		"zero kernel":    func(p *Pool2D) { p.KW = 0 },
		"kernel too big": func(p *Pool2D) { p.KH = 6 },
		"no channels":    func(p *Pool2D) { p.C = 0 },
	}
	for name, f := range bad {
		b := p
		f(&b)
		if err := b.Validate(); !errors.Is(err, ErrGeometry) {
			t.Errorf("%s: Validate() = %v, want ErrGeometry", name, err)
		}
	}
}

// randomPools returns count valid geometries: C, H, W in {1, 3, 7},
// kernels 1–3, strides 1–3, pads 0–2 per side, dilation 1 or 2, both
// modes.
func randomPools(seed uint64, count int) []Pool2D {
	r := newRand(seed)
	pick := func(s ...int) int { return s[r.IntN(len(s))] }
	var out []Pool2D
	for len(out) < count {
		p := Pool2D{
			C: pick(1, 3, 7), H: pick(1, 3, 7), W: pick(1, 3, 7),
			KH: pick(1, 2, 3), KW: pick(1, 2, 3), StrideH: pick(1, 2, 3), StrideW: pick(1, 2, 3),
			PadTop: pick(0, 1, 2), PadLeft: pick(0, 1), PadBottom: pick(0, 1), PadRight: pick(0, 1, 2),
			DilH: pick(1, 1, 2), DilW: pick(1, 1, 2),
			CeilMode: r.IntN(2) == 0, CountIncludePad: r.IntN(2) == 0,
		}
		if p.Validate() == nil {
			out = append(out, p)
		}
	}
	return out
}

func allPools() map[string]Pool2D {
	m := map[string]Pool2D{
		"lenet 2x2":      {C: 6, H: 28, W: 28, KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1},
		"resnet 3x3 s2":  {C: 4, H: 15, W: 15, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1},
		"ceil include":   {C: 3, H: 6, W: 7, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, CeilMode: true, CountIncludePad: true},
		"ceil exclude":   {C: 3, H: 6, W: 7, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, CeilMode: true},
		"asym include":   {C: 2, H: 7, W: 5, KH: 2, KW: 3, StrideH: 3, StrideW: 1, PadTop: 0, PadLeft: 2, PadBottom: 1, PadRight: 0, DilH: 1, DilW: 1, CountIncludePad: true},
		"empty windows":  {C: 2, H: 1, W: 3, KH: 2, KW: 1, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, DilH: 2, DilW: 1, CountIncludePad: true},
		"large parallel": {C: 16, H: 40, W: 40, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, CountIncludePad: true},
		"1-D 2 s2":       {C: 3, H: 1, W: 28, KH: 1, KW: 2, StrideH: 1, StrideW: 2, DilH: 1, DilW: 1},
		"1x2 s2 odd":     {C: 2, H: 5, W: 9, KH: 1, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1},
		"1-D 2 s2 ceil":  {C: 2, H: 1, W: 7, KH: 1, KW: 2, StrideH: 1, StrideW: 2, DilH: 1, DilW: 1, CeilMode: true},
		"1-D 2 s2 incl":  {C: 2, H: 3, W: 7, KH: 1, KW: 2, StrideH: 1, StrideW: 2, PadRight: 1, DilH: 1, DilW: 1, CeilMode: true, CountIncludePad: true},
		"lrn column 5x1": {C: 1, H: 10, W: 12, KH: 5, KW: 1, StrideH: 1, StrideW: 1, PadTop: 2, PadBottom: 2, DilH: 1, DilW: 1, CountIncludePad: true},
		"column s2 dil2": {C: 2, H: 9, W: 5, KH: 3, KW: 1, StrideH: 2, StrideW: 1, PadTop: 1, PadBottom: 2, DilH: 2, DilW: 1, CeilMode: true},
	}
	for i, p := range randomPools(8, 150) {
		m[fmt.Sprintf("random%03d_%s", i, poolName(p))] = p
	}
	return m
}

func TestPool(t *testing.T) {
	t.Run("float64", func(t *testing.T) { testPool[float64](t, 1e-14) })
	t.Run("float32", func(t *testing.T) { testPool[float32](t, 1e-6) })
	t.Run("three procs", func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
		testPool[float64](t, 1e-14)
	})
}

// testPool compares the pooling kernels with naivePool, and their backward
// passes with scattering through the reference argmax and with
// naiveAvgBackward.
func testPool[T Float](t *testing.T, tol float64) {
	r := newRand(9)
	for name, p := range allPools() {
		for _, n := range []int{1, 5} {
			x := roundTo[T](randSlice(r, n*p.C*p.H*p.W))
			xT := fromF64[T](x)
			oh, ow := p.OutH(), p.OutW()
			dy := roundTo[T](randSlice(r, n*p.C*oh*ow))
			prefix := fmt.Sprintf("%s n%d", name, n)

			wantMax, wantArg := naivePool(p, n, x, true)
			y := nanSlice[T](len(wantMax))
			arg := make([]int32, len(y))
			MaxPoolForward(nil, p, n, xT, y, arg)
			closeTo(t, prefix+": max", toF64(y), wantMax, 0)
			for i := range arg {
				if arg[i] != wantArg[i] {
					t.Fatalf("%s: argmax[%d] = %d, want %d", prefix, i, arg[i], wantArg[i])
				}
			}
			MaxPoolForward(nil, p, n, xT, y, nil)
			closeTo(t, prefix+": max without argmax", toF64(y), wantMax, 0)
			dx := nanSlice[T](len(x))
			MaxPoolBackward(nil, p, n, fromF64[T](dy), arg, dx)
			wantDx := make([]float64, len(x))
			for i, a := range wantArg {
				if a >= 0 {
					wantDx[i/(oh*ow)*p.H*p.W+int(a)] += dy[i]
				}
			}
			closeTo(t, prefix+": max dx", toF64(dx), wantDx, tol)

			wantAvg, _ := naivePool(p, n, x, false)
			y = nanSlice[T](len(wantAvg))
			AvgPoolForward(nil, p, n, xT, y)
			closeTo(t, prefix+": avg", toF64(y), wantAvg, tol)
			dx = nanSlice[T](len(x))
			AvgPoolBackward(nil, p, n, fromF64[T](dy), dx)
			wantDx = naiveAvgBackward(p, n, dy)
			closeTo(t, prefix+": avg dx", toF64(dx), wantDx, tol)
		}
	}
}

func TestMaxPoolEmptyWindow(t *testing.T) {
	// Taps at rows −1 and 1 of a one-row input: both in the padding.
	p := Pool2D{C: 1, H: 1, W: 2, KH: 2, KW: 1, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, DilH: 2, DilW: 1}
	y := make([]float64, 2)
	arg := make([]int32, 2)
	MaxPoolForward(nil, p, 1, []float64{3, 4}, y, arg)
	if !math.IsInf(y[0], -1) || !math.IsInf(y[1], -1) || arg[0] != -1 || arg[1] != -1 {
		t.Fatalf("y = %v, argmax = %v; want −Inf and −1", y, arg)
	}
	dx := []float64{5, 5}
	MaxPoolBackward(nil, p, 1, []float64{1, 1}, arg, dx)
	closeTo(t, "dx", dx, []float64{0, 0}, 0)
	AvgPoolForward(nil, p, 1, []float64{3, 4}, y)
	closeTo(t, "avg", y, []float64{0, 0}, 0)
}

func TestMaxPoolNaN(t *testing.T) {
	p := Pool2D{C: 1, H: 1, W: 3, KH: 1, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1}
	for _, x := range [][]float64{{math.NaN(), 1, 2}, {1, math.NaN(), 2}, {1, 2, math.NaN()}} {
		y := make([]float64, 1)
		MaxPoolForward(nil, p, 1, x, y, nil)
		if !math.IsNaN(y[0]) {
			t.Errorf("max of %v = %v, want NaN", x, y[0])
		}
	}
	// Windows of two with stride 2 (the 1-D fast path).
	p2 := Pool2D{C: 1, H: 1, W: 4, KH: 1, KW: 2, StrideH: 1, StrideW: 2, DilH: 1, DilW: 1}
	for _, x := range [][]float64{{math.NaN(), 1, 2, math.NaN()}, {1, math.NaN(), math.NaN(), 2}} {
		y := make([]float64, 2)
		MaxPoolForward(nil, p2, 1, x, y, nil)
		if !math.IsNaN(y[0]) || !math.IsNaN(y[1]) {
			t.Errorf("max pools of %v = %v, want NaN", x, y)
		}
	}
}

// TestPoolFiniteDifferences checks the backward passes against central
// differences on tiny shapes, for L = Σ r ⊙ pool(x).
func TestPoolFiniteDifferences(t *testing.T) {
	pools := map[string]Pool2D{
		"ceil include": {C: 2, H: 5, W: 4, KH: 3, KW: 2, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 0, DilH: 1, DilW: 1, CeilMode: true, CountIncludePad: true},
		"ceil exclude": {C: 2, H: 5, W: 4, KH: 3, KW: 2, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 0, DilH: 1, DilW: 1, CeilMode: true},
		"dilated":      {C: 1, H: 6, W: 6, KH: 2, KW: 3, StrideH: 1, StrideW: 3, PadTop: 0, PadLeft: 2, PadBottom: 1, PadRight: 1, DilH: 2, DilW: 2},
		"overlapping":  {C: 1, H: 4, W: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1},
	}
	settings := &fd.Settings{Formula: fd.Central, Step: 1e-6}
	for name, p := range pools {
		t.Run(name, func(t *testing.T) {
			const n = 2
			r := newRand(10)
			x := randSlice(r, n*p.C*p.H*p.W)
			rr := randSlice(r, n*p.C*p.OutH()*p.OutW())
			for _, isMax := range []bool{true, false} {
				loss := func(v []float64) float64 {
					y, _ := naivePool(p, n, v, isMax)
					var s float64
					for i := range y {
						s += rr[i] * y[i]
					}
					return s
				}
				want := fd.Gradient(nil, loss, x, settings)
				dx := make([]float64, len(x))
				if isMax {
					y := make([]float64, len(rr))
					arg := make([]int32, len(rr))
					MaxPoolForward(nil, p, n, x, y, arg)
					MaxPoolBackward(nil, p, n, rr, arg, dx)
				} else {
					AvgPoolBackward(nil, p, n, rr, dx)
				}
				closeTo(t, fmt.Sprintf("max%v dx", isMax), dx, want, 1e-7)
			}
		})
	}
}

func TestGlobalAvgPool(t *testing.T) {
	const n, c, h, w = 3, 5, 7, 3
	r := newRand(11)
	x := randSlice(r, n*c*h*w)
	y := nanSlice[float64](n * c)
	GlobalAvgPoolForward(nil, n, c, h, w, x, y)
	want := make([]float64, n*c)
	for i := range want {
		for _, v := range x[i*h*w : (i+1)*h*w] {
			want[i] += v
		}
		want[i] /= h * w
	}
	closeTo(t, "y", y, want, 1e-14)

	y32 := make([]float32, n*c)
	GlobalAvgPoolForward(nil, n, c, h, w, to32(x), y32)
	closeTo(t, "y32", to64(y32), want, 1e-6)

	rr := randSlice(r, n*c)
	dx := nanSlice[float64](len(x))
	GlobalAvgPoolBackward(nil, n, c, h, w, rr, dx)
	fdWant := fd.Gradient(nil, func(v []float64) float64 {
		out := make([]float64, n*c)
		GlobalAvgPoolForward(nil, n, c, h, w, v, out)
		var s float64
		for i := range out {
			s += rr[i] * out[i]
		}
		return s
	}, x, &fd.Settings{Formula: fd.Central})
	closeTo(t, "dx", dx, fdWant, 1e-8)

	// Large enough to run in parallel.
	const bn, bc, bhw = 4, 64, 49
	bx := randSlice(r, bn*bc*bhw)
	by := make([]float64, bn*bc)
	GlobalAvgPoolForward(nil, bn, bc, 7, 7, bx, by)
	for i := range by {
		var s float64
		for _, v := range bx[i*bhw : (i+1)*bhw] {
			s += v
		}
		if math.Abs(by[i]-s/bhw) > 1e-14 {
			t.Fatalf("large y[%d] = %v, want %v", i, by[i], s/bhw)
		}
	}
}

func TestPoolPanics(t *testing.T) {
	p := Pool2D{C: 1, H: 4, W: 4, KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1}
	x, y := make([]float64, 16), make([]float64, 4)
	cases := map[string]func(){
		"invalid":        func() { MaxPoolForward(nil, Pool2D{}, 1, x, y, nil) },
		"short x":        func() { AvgPoolForward(nil, p, 1, x[:15], y) },
		"long y":         func() { AvgPoolBackward(nil, p, 1, make([]float64, 5), x) },
		"argmax length":  func() { MaxPoolForward(nil, p, 1, x, y, make([]int32, 3)) },
		"nil argmax":     func() { MaxPoolBackward(nil, p, 1, y, nil, x) },
		"negative batch": func() { MaxPoolForward[float64](nil, p, -1, nil, nil, nil) },
		"global shape":   func() { GlobalAvgPoolForward(nil, 1, 0, 4, 4, x, y) },
		"global length":  func() { GlobalAvgPoolBackward(nil, 1, 1, 4, 4, y[:2], x) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { expectPanic(t, f) })
	}
}

// TestArgmax2x2 checks the 2×2 fast path against the general scan (a 1×4
// window over the same four values in the same order) on the cases where
// they could part: ties (the first maximum wins), signed zeros (the value
// is the input's, −0 included), infinities and NaN (the last NaN wins).
func TestArgmax2x2(t *testing.T) {
	p := Pool2D{C: 1, H: 2, W: 2, KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1}
	nan, inf := math.NaN(), math.Inf(1)
	negZero := math.Copysign(0, -1)
	cases := [][]float64{
		{1, 2, 3, 4}, {4, 3, 2, 1}, {1, 4, 2, 3}, {1, 2, 4, 3},
		{2, 2, 1, 1}, {1, 2, 2, 1}, {1, 1, 2, 2}, {3, 3, 3, 3},
		{negZero, 0, -1, -1}, {0, negZero, -1, -1}, {negZero, negZero, -1, -1},
		{-inf, -inf, -inf, -inf}, {inf, 1, inf, 2},
		{nan, 1, 2, 3}, {1, nan, 2, nan}, {1, 2, 3, nan},
	}
	for _, x := range cases {
		row := Pool2D{C: 1, H: 1, W: 4, KH: 1, KW: 4, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1}
		want, wantArg := []float64{7}, []int32{7}
		MaxPoolForward(nil, row, 1, x, want, wantArg)
		y := []float64{7}
		arg := []int32{7}
		MaxPoolForward(nil, p, 1, x, y, arg)
		if arg[0] != wantArg[0] || math.Float64bits(y[0]) != math.Float64bits(want[0]) && !(math.IsNaN(y[0]) && math.IsNaN(want[0])) {
			t.Errorf("max pool of %v = %v at %d, want %v at %d", x, y[0], arg[0], want[0], wantArg[0])
		}
	}
}
