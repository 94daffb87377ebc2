package kernel

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

func toF64[T Float](s []T) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func nanSlice[T Float](n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(math.NaN())
	}
	return s
}

// namedConvs are hand-picked geometries, each aimed at one path.
func namedConvs() map[string]Conv2D {
	base := Conv2D{C: 3, H: 7, W: 7, M: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	with := func(f func(*Conv2D)) Conv2D { g := base; f(&g); return g }
	return map[string]Conv2D{
		"plain 3x3":        base,
		"pointwise":        with(func(g *Conv2D) { g.KH, g.KW, g.M = 1, 1, 7 }),
		"pointwise groups": with(func(g *Conv2D) { g.C, g.M, g.KH, g.KW, g.Group = 4, 6, 1, 1, 2 }),
		"1x1 strided":      with(func(g *Conv2D) { g.KH, g.KW, g.StrideH, g.StrideW = 1, 1, 2, 3 }),
		"1x1 padded":       with(func(g *Conv2D) { g.KH, g.KW, g.PadTop, g.PadRight = 1, 1, 1, 2 }),
		"asymmetric pads":  with(func(g *Conv2D) { g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = 2, 0, 1, 2 }),
		"5x5 stride 3":     with(func(g *Conv2D) { g.KH, g.KW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft = 5, 5, 3, 3, 2, 1 }),
		"dilation 2":       with(func(g *Conv2D) { g.DilH, g.DilW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = 2, 2, 2, 1, 2, 2 }),
		"rect kernel":      with(func(g *Conv2D) { g.KH, g.KW, g.StrideH, g.DilW, g.PadLeft = 5, 1, 2, 2, 1 }),
		"groups 2":         with(func(g *Conv2D) { g.C, g.M, g.Group, g.PadTop, g.PadBottom = 4, 6, 2, 1, 1 }),
		"depthwise":        with(func(g *Conv2D) { g.M, g.Group, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = 3, 3, 1, 1, 1, 1 }),
		"depthwise strided dilated": with(func(g *Conv2D) {
			g.C, g.M, g.Group, g.StrideH, g.StrideW, g.DilH, g.DilW, g.PadTop, g.PadRight = 7, 7, 7, 2, 3, 2, 2, 2, 1
		}),
		// Large enough that the depthwise planes and, for one image, the
		// im2col rows and GEMM rows are split across workers.
		"depthwise large": with(func(g *Conv2D) { g.C, g.M, g.Group, g.H, g.W, g.PadTop, g.PadLeft = 7, 7, 7, 23, 23, 1, 1 }),
		"large groups": with(func(g *Conv2D) {
			g.C, g.M, g.Group, g.H, g.W, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = 32, 16, 2, 20, 20, 1, 1, 1, 1
		}),
		"depth multiplier": with(func(g *Conv2D) { g.M, g.Group = 6, 3 }),
		// MobileNet's downsampling: the stride-1 sweep subsampled.
		"depthwise stride 2": with(func(g *Conv2D) {
			g.C, g.M, g.Group, g.H, g.W, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = 5, 5, 5, 14, 13, 2, 2, 1, 1, 1, 1
		}),
		"depthwise stride 2 unpadded": with(func(g *Conv2D) {
			g.C, g.M, g.Group, g.H, g.W, g.StrideH, g.StrideW = 4, 4, 4, 9, 24, 2, 2
		}),
		"single channel": with(func(g *Conv2D) { g.C, g.M, g.H, g.W, g.KH, g.KW = 1, 1, 3, 3, 3, 3 }),
		// One filter position over the whole image: one GEMM over the batch.
		"dense":     with(func(g *Conv2D) { g.H, g.W, g.KH, g.KW, g.M = 5, 4, 5, 4, 7 }),
		"dense 1x1": with(func(g *Conv2D) { g.H, g.W, g.KH, g.KW, g.C = 1, 1, 1, 1, 9 }),
		"kernel over input": with(func(g *Conv2D) {
			g.H, g.W, g.KH, g.KW, g.PadTop, g.PadBottom, g.PadLeft, g.PadRight = 1, 3, 5, 5, 2, 2, 1, 1
		}),
	}
}

// randomConvs returns count valid geometries drawn from the test sets:
// C, H, W, M in {1, 3, 7}, kernels 1, 3, 5, strides 1–3, pads 0–2 per side,
// dilation 1 or 2, and groups 1, 2 or depthwise.
func randomConvs(seed uint64, count int) []Conv2D {
	r := newRand(seed)
	pick := func(s ...int) int { return s[r.IntN(len(s))] }
	var out []Conv2D
	for len(out) < count {
		g := Conv2D{
			C: pick(1, 3, 7), H: pick(1, 3, 7), W: pick(1, 3, 7), M: pick(1, 3, 7),
			KH: pick(1, 3, 5), KW: pick(1, 3, 5), StrideH: pick(1, 2, 3), StrideW: pick(1, 2, 3),
			PadTop: pick(0, 1, 2), PadLeft: pick(0, 1, 2), PadBottom: pick(0, 1, 2), PadRight: pick(0, 1, 2),
			DilH: pick(1, 2), DilW: pick(1, 2), Group: 1,
		}
		switch r.IntN(4) {
		case 0:
			g.C, g.M, g.Group = pick(2, 4, 6), pick(2, 4, 6), 2
		case 1:
			g.M, g.Group = g.C, g.C
		}
		if g.Validate() == nil {
			out = append(out, g)
		}
	}
	return out
}

func allConvs() map[string]Conv2D {
	m := namedConvs()
	for i, g := range randomConvs(7, 120) {
		m[fmt.Sprintf("random%03d_%s", i, convName(g))] = g
	}
	return m
}

// testQuant clips on both sides of [-1, 1) inputs and has a nonzero zero point.
func testQuant[T Float]() *FakeQuant[T] {
	return &FakeQuant[T]{Scale: 0.05, ZP: 3, Lo: -8, Hi: 7}
}

func TestConvForward(t *testing.T) {
	t.Run("float64", func(t *testing.T) { testConvForward[float64](t, Workers(), 1e-12) })
	t.Run("float32", func(t *testing.T) { testConvForward[float32](t, Workers(), 2e-5) })
	t.Run("one worker", func(t *testing.T) { testConvForward[float64](t, 1, 1e-12) })
	t.Run("three procs", func(t *testing.T) {
		// Three workers split batches of 5 unevenly and single images
		// across workers.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
		testConvForward[float64](t, 3, 1e-12)
	})
}

// testConvForward compares ConvForward with the naive convolution of the
// (fake-quantized) input, for every geometry, batch 1 and 5, with and
// without bias and quantization. One work slice serves every geometry, so
// ConvWork growth and reuse are exercised too.
func testConvForward[T Float](t *testing.T, workers int, tol float64) {
	r := newRand(2)
	work := make([]*ConvWork[T], workers)
	for i := range work {
		work[i] = NewConvWork[T](Conv2D{C: 1, H: 1, W: 1, M: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1})
	}
	for name, g := range allConvs() {
		batches := []int{1, 5}
		if g.dense() {
			batches = append(batches, 37) // blocks of 16 images or more over the workers
		}
		for _, n := range batches {
			for _, withBias := range []bool{false, true} {
				for _, withQ := range []bool{false, true} {
					d := g.dims()
					x := roundTo[T](randSlice(r, n*g.C*g.H*g.W))
					w := roundTo[T](randSlice(r, g.M*d.k))
					var bias []float64
					if withBias {
						bias = roundTo[T](randSlice(r, g.M))
					}
					xT := fromF64[T](x)
					xq := x
					var q *FakeQuant[T]
					if withQ {
						q = testQuant[T]()
						xq = make([]float64, len(x))
						for i, v := range xT {
							xq[i] = float64(q.Apply(v))
						}
					}
					want := naiveConv(g, n, xq, w, bias)
					y := nanSlice[T](len(want))
					var biasT []T
					if bias != nil {
						biasT = fromF64[T](bias)
					}
					ConvForward(nil, g, n, xT, fromF64[T](w), biasT, y, q, work)
					closeTo(t, fmt.Sprintf("%s n%d bias%v q%v: y", name, n, withBias, withQ), toF64(y), want, tol)
				}
			}
		}
	}
}

func TestConvBackward(t *testing.T) {
	t.Run("float64", func(t *testing.T) { testConvBackward[float64](t, Workers(), 1e-12) })
	t.Run("float32", func(t *testing.T) { testConvBackward[float32](t, Workers(), 2e-5) })
	t.Run("three procs", func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
		testConvBackward[float64](t, 3, 1e-12)
	})
}

// testConvBackward compares ConvBackward with the naive backward loops for
// every geometry and batch 1 and 5, requesting all gradients or only some.
func testConvBackward[T Float](t *testing.T, workers int, tol float64) {
	r := newRand(3)
	work := make([]*ConvWork[T], workers)
	for i := range work {
		work[i] = &ConvWork[T]{} // the zero value grows on demand
	}
	for name, g := range allConvs() {
		for _, n := range []int{1, 5} {
			d := g.dims()
			x := roundTo[T](randSlice(r, n*g.C*g.H*g.W))
			w := roundTo[T](randSlice(r, g.M*d.k))
			dy := roundTo[T](randSlice(r, n*g.M*d.p))
			wantDx, wantDw, wantDb := naiveConvBackward(g, n, x, w, dy)
			for _, need := range [][3]bool{{true, true, true}, {true, false, false}, {false, true, false}, {false, false, true}} {
				var dx, dw, db []T
				if need[0] {
					dx = nanSlice[T](len(x))
				}
				if need[1] {
					dw = nanSlice[T](len(w))
				}
				if need[2] {
					db = nanSlice[T](g.M)
				}
				ConvBackward(nil, g, n, fromF64[T](x), fromF64[T](w), fromF64[T](dy), dx, dw, db, work)
				prefix := fmt.Sprintf("%s n%d need%v", name, n, need)
				if need[0] && !need[1] && !need[2] {
					// The data-only entry point (a ConvTranspose's forward pass) gives the same.
					dx2 := nanSlice[T](len(x))
					ConvBackwardData(nil, g, n, fromF64[T](w), fromF64[T](dy), dx2, work)
					closeTo(t, prefix+": ConvBackwardData", toF64(dx2), wantDx, tol)
				}
				if need[0] {
					closeTo(t, prefix+": dx", toF64(dx), wantDx, tol)
				}
				if need[1] {
					closeTo(t, prefix+": dw", toF64(dw), wantDw, tol*float64(n))
				}
				if need[2] {
					closeTo(t, prefix+": db", toF64(db), wantDb, tol*float64(n))
				}
			}
		}
	}
}

// TestConvBackwardFiniteDifferences checks ConvBackward against central
// differences of the naive forward pass of L = Σ r ⊙ y on tiny shapes.
func TestConvBackwardFiniteDifferences(t *testing.T) {
	tiny := map[string]Conv2D{
		"3x3 pads":        {C: 2, H: 4, W: 3, M: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 0, PadBottom: 2, PadRight: 1, DilH: 1, DilW: 1, Group: 1},
		"strided dilated": {C: 1, H: 5, W: 5, M: 2, KH: 2, KW: 3, StrideH: 2, StrideW: 3, PadTop: 1, PadLeft: 2, PadBottom: 0, PadRight: 1, DilH: 2, DilW: 2, Group: 1},
		"groups":          {C: 4, H: 3, W: 3, M: 2, KH: 3, KW: 1, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, DilH: 1, DilW: 1, Group: 2},
		"depthwise":       {C: 3, H: 4, W: 4, M: 3, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 0, DilH: 1, DilW: 1, Group: 3},
		"pointwise":       {C: 3, H: 2, W: 3, M: 2, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1},
	}
	settings := &fd.Settings{Formula: fd.Central, Step: 1e-4}
	for name, g := range tiny {
		t.Run(name, func(t *testing.T) {
			r := newRand(4)
			const n = 2
			d := g.dims()
			x := randSlice(r, n*g.C*g.H*g.W)
			w := randSlice(r, g.M*d.k)
			bias := randSlice(r, g.M)
			rr := randSlice(r, n*g.M*d.p)
			loss := func(x, w, bias []float64) float64 {
				var s float64
				for i, v := range naiveConv(g, n, x, w, bias) {
					s += rr[i] * v
				}
				return s
			}
			wantDx := fd.Gradient(nil, func(v []float64) float64 { return loss(v, w, bias) }, x, settings)
			wantDw := fd.Gradient(nil, func(v []float64) float64 { return loss(x, v, bias) }, w, settings)
			wantDb := fd.Gradient(nil, func(v []float64) float64 { return loss(x, w, v) }, bias, settings)
			dx, dw, db := make([]float64, len(x)), make([]float64, len(w)), make([]float64, len(bias))
			ConvBackward(nil, g, n, x, w, rr, dx, dw, db, workFor[float64](g, Workers()))
			closeTo(t, "dx", dx, wantDx, 1e-8)
			closeTo(t, "dw", dw, wantDw, 1e-8)
			closeTo(t, "db", db, wantDb, 1e-8)
		})
	}
}

func TestConvOutAndValidate(t *testing.T) {
	g := Conv2D{C: 3, H: 7, W: 6, M: 4, KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadTop: 1, PadLeft: 0, PadBottom: 2, PadRight: 1, DilH: 2, DilW: 1, Group: 1}
	// H: (7+1+2−2·2−1)/2+1 = 3; W: (6+0+1−1·1−1)/3+1 = 2.
	if g.OutH() != 3 || g.OutW() != 2 {
		t.Fatalf("out %d×%d, want 3×2", g.OutH(), g.OutW())
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Conv2D){
		"zero stride":       func(g *Conv2D) { g.StrideH = 0 },
		"zero dilation":     func(g *Conv2D) { g.DilW = 0 },
		"negative pad":      func(g *Conv2D) { g.PadLeft = -1 },
		"group not divisor": func(g *Conv2D) { g.Group = 2 },
		"zero channels":     func(g *Conv2D) { g.C = 0 },
		"kernel too big":    func(g *Conv2D) { g.KH = 9 },
	}
	for name, f := range bad {
		b := g
		f(&b)
		if err := b.Validate(); !errors.Is(err, ErrGeometry) {
			t.Errorf("%s: Validate() = %v, want ErrGeometry", name, err)
		}
	}
	var zero Conv2D
	if zero.OutH() != 0 || zero.Validate() == nil {
		t.Error("zero Conv2D must be invalid with OutH 0")
	}
}

func TestConvPanics(t *testing.T) {
	g := Conv2D{C: 1, H: 3, W: 3, M: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	x, w, y := make([]float64, 9), make([]float64, 9), make([]float64, 1)
	work := workFor[float64](g, 1)
	cases := map[string]func(){
		"invalid geometry": func() { ConvForward(nil, Conv2D{}, 1, x, w, nil, y, nil, work) },
		"short x":          func() { ConvForward(nil, g, 1, x[:8], w, nil, y, nil, work) },
		"long y":           func() { ConvForward(nil, g, 1, x, w, nil, make([]float64, 2), nil, work) },
		"bias length":      func() { ConvForward(nil, g, 1, x, w, []float64{1, 2}, y, nil, work) },
		"no work":          func() { ConvForward(nil, g, 1, x, w, nil, y, nil, nil) },
		"nil work":         func() { ConvForward(nil, g, 1, x, w, nil, y, nil, []*ConvWork[float64]{nil}) },
		"zero scale":       func() { ConvForward(nil, g, 1, x, w, nil, y, &FakeQuant[float64]{Lo: -1, Hi: 1}, work) },
		"fractional zp": func() {
			ConvForward(nil, g, 1, x, w, nil, y, &FakeQuant[float64]{Scale: 1, ZP: 0.5, Lo: -1, Hi: 1}, work)
		},
		"zp outside range": func() {
			ConvForward(nil, g, 1, x, w, nil, y, &FakeQuant[float64]{Scale: 1, ZP: 2, Lo: -1, Hi: 1}, work)
		},
		"backward dw":    func() { ConvBackward(nil, g, 1, x, w, y, nil, w[:3], nil, work) },
		"negative batch": func() { ConvBackward(nil, g, -1, nil, w, nil, nil, nil, nil, work) },
		"new work":       func() { NewConvWork[float32](Conv2D{}) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { expectPanic(t, f) })
	}
}

func TestConvEmptyBatch(t *testing.T) {
	g := Conv2D{C: 1, H: 3, W: 3, M: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	work := workFor[float64](g, 1)
	ConvForward(nil, g, 0, nil, make([]float64, 18), nil, nil, nil, work)
	dw, db := nanSlice[float64](18), nanSlice[float64](2)
	ConvBackward(nil, g, 0, nil, make([]float64, 18), nil, nil, dw, db, work)
	closeTo(t, "dw", dw, make([]float64, 18), 0)
	closeTo(t, "db", db, make([]float64, 2), 0)
}

func TestFakeQuantApply(t *testing.T) {
	q := FakeQuant[float64]{Scale: 0.5, ZP: 1, Lo: -4, Hi: 3}
	cases := []struct{ x, want float64 }{
		{0, 0},
		{0.25, 0},     // 0.5 rounds to 0 (even)
		{0.75, 1},     // 1.5 rounds to 2, q = 3
		{1.25, 1},     // 2.5 rounds to 2, q = 3
		{-0.75, -1},   // −1.5 rounds to −2, q = −1
		{-3, -2.5},    // q = −5 clamps to −4
		{100, 1},      // clamps to 3
		{0.6, 0.5},    // 1.2 rounds to 1
		{-1.26, -1.5}, // −2.52 rounds to −3
	}
	for _, c := range cases {
		if got := q.Apply(c.x); got != c.want {
			t.Errorf("Apply(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := q.Apply(math.NaN()); !math.IsNaN(got) {
		t.Errorf("Apply(NaN) = %v, want NaN", got)
	}
	q32 := FakeQuant[float32]{Scale: 0.25, ZP: -2, Lo: -128, Hi: 127}
	if got := q32.Apply(0.375); got != 0.5 { // 1.5 rounds to 2
		t.Errorf("float32 Apply(0.375) = %v, want 0.5", got)
	}
}

func TestRoundHalfEven(t *testing.T) {
	vals := []float64{0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 1e15 + 0.5,
		0x1p51 + 0.5, -0x1p51 - 0.5, 0x1p52 + 1, 0x1p60, math.Inf(1), math.Inf(-1), math.MaxFloat64}
	r := newRand(5)
	for range 10000 {
		vals = append(vals, (r.Float64()-0.5)*1e6, float64(r.IntN(2000)-1000)+0.5)
	}
	for _, v := range vals {
		if got, want := roundHalfEven(v), math.RoundToEven(v); got != want {
			t.Fatalf("roundHalfEven(%v) = %v, want %v", v, got, want)
		}
	}
	if !math.IsNaN(roundHalfEven(math.NaN())) {
		t.Fatal("roundHalfEven(NaN) is not NaN")
	}
}

func TestConvForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for name, g := range map[string]Conv2D{
		"im2col":    {C: 6, H: 14, W: 14, M: 16, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1},
		"depthwise": {C: 8, H: 14, W: 14, M: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 8},
	} {
		const n = 4
		d := g.dims()
		r := newRand(6)
		x, w := to32(randSlice(r, n*g.C*d.hw)), to32(randSlice(r, g.M*d.k))
		y := make([]float32, n*g.M*d.p)
		q := testQuant[float32]()
		team := testTeam(t, 0)
		for _, workers := range []int{1, Workers()} {
			work := workFor[float32](g, workers)
			ConvForward(team, g, n, x, w, nil, y, q, work)
			if a := testing.AllocsPerRun(10, func() { ConvForward(team, g, n, x, w, nil, y, q, work) }); a != 0 {
				t.Errorf("%s: %v allocations per ConvForward with %d workers, want 0", name, a, workers)
			}
			dy, dx, dw := y, make([]float32, len(x)), make([]float32, len(w))
			ConvBackward(team, g, n, x, w, dy, dx, dw, nil, work)
			if a := testing.AllocsPerRun(10, func() { ConvBackward(team, g, n, x, w, dy, dx, dw, nil, work) }); a != 0 {
				t.Errorf("%s: %v allocations per ConvBackward with %d workers, want 0", name, a, workers)
			}
		}
	}
}

// TestDepthwise3x3Wide checks the vectorized 3×3 depthwise sweep against
// the same sum written out value by value, each product rounded to
// float32 and added left to right: the results must be the same bits, on
// lengths around the vector width and rows of several lengths, and in
// float64 against the same formula.
func TestDepthwise3x3Wide(t *testing.T) {
	r := newRand(23)
	for _, wp := range []int{3, 4, 9, 16, 30} {
		for _, n := range []int{1, 7, 8, 9, 16, 23, 40, 101} {
			src := make([]float32, n+2*wp+2)
			for i := range src {
				src[i] = float32(r.NormFloat64())
			}
			k := make([]float32, 9)
			for i := range k {
				k[i] = float32(r.NormFloat64())
			}
			b := float32(r.NormFloat64())
			dst := make([]float32, n)
			depthwise3x3Wide(dst, src, wp, k, b)
			src64, k64 := make([]float64, len(src)), make([]float64, 9)
			for i, v := range src {
				src64[i] = float64(v)
			}
			for i, v := range k {
				k64[i] = float64(v)
			}
			dst64 := make([]float64, n)
			depthwise3x3Wide(dst64, src64, wp, k64, float64(b))
			for j := range dst {
				want, want64 := b, float64(b)
				for rr := range 3 {
					for c := range 3 {
						want += float32(k[3*rr+c] * src[j+rr*wp+c])
						want64 += float64(k64[3*rr+c] * src64[j+rr*wp+c])
					}
				}
				if math.Float32bits(dst[j]) != math.Float32bits(want) {
					t.Fatalf("wp=%d n=%d j=%d: float32 %v, want %v", wp, n, j, dst[j], want)
				}
				if dst64[j] != want64 {
					t.Fatalf("wp=%d n=%d j=%d: float64 %v, want %v", wp, n, j, dst64[j], want64)
				}
			}
		}
	}
}

// TestConvForwardReLU checks that ConvForwardReLU is ConvForward followed
// by Relu, bit for bit, on every test geometry (depthwise ones included),
// for a batch split into whole images and for a single image split across
// the workers, with and without input quantization.
func TestConvForwardReLU(t *testing.T) {
	r := newRand(5)
	one := Conv2D{C: 1, H: 1, W: 1, M: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	work := []*ConvWork[float32]{NewConvWork[float32](one), NewConvWork[float32](one)}
	team := NewTeam(2)
	defer team.Close()
	for name, g := range allConvs() {
		for _, n := range []int{1, 5} {
			for _, q := range []*FakeQuant[float32]{nil, testQuant[float32]()} {
				d := g.dims()
				x := fromF64[float32](randSlice(r, n*g.C*g.H*g.W))
				w := fromF64[float32](randSlice(r, g.M*d.k))
				bias := fromF64[float32](randSlice(r, g.M))
				want := nanSlice[float32](n * g.M * d.p)
				ConvForward(team, g, n, x, w, bias, want, q, work)
				Relu(want, want)
				got := nanSlice[float32](len(want))
				ConvForwardReLU(team, g, n, x, w, bias, got, q, work)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s n%d q%v: y[%d] = %g, want %g", name, n, q != nil, i, got[i], want[i])
					}
				}
			}
		}
	}
}
