package quant

import (
	"math"
	"slices"
	"testing"
)

func f32(x ...float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func TestMinMax(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name     string
		batches  [][]float32
		min, max float64
	}{
		{"empty", nil, 0, 0},
		{"only non-finite", [][]float32{f32(nan, inf, -inf)}, 0, 0},
		{"batches", [][]float32{f32(1, -1, 2), f32(nan, inf, -inf, 0.5), nil}, -1, 2},
		{"positive", [][]float32{f32(3, 4), f32(5)}, 3, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMinMax()
			for _, b := range tc.batches {
				m.Observe(b)
			}
			if lo, hi := m.Range(); lo != tc.min || hi != tc.max {
				t.Fatalf("Range() = %v, %v; want %v, %v", lo, hi, tc.min, tc.max)
			}
		})
	}
}

// exactPercentile is the oracle: linear interpolation between order
// statistics at position q/100·(n−1).
func exactPercentile(x []float32, q float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	pos := q / 100 * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return float64(s[len(s)-1])
	}
	return float64(s[i]) + (pos-float64(i))*float64(s[i+1]-s[i])
}

func TestPercentileExact(t *testing.T) {
	// The ramp 0, 1, …, 1000: the q-th percentile is 10·q.
	ramp := make([]float32, 1001)
	for i := range ramp {
		ramp[i] = float32(i)
	}
	for _, tc := range []struct {
		p        float64
		min, max float64
	}{
		{99, 10, 990},
		{99.5, 5, 995},
		{90, 100, 900},
		{100, 0, 1000},
	} {
		o := NewPercentile(tc.p)
		for i := 0; i < len(ramp); i += 100 {
			o.Observe(ramp[i:min(i+100, len(ramp))])
		}
		o.Observe(f32(math.NaN(), math.Inf(1)))
		lo, hi := o.Range()
		if math.Abs(lo-tc.min) > 1e-9 || math.Abs(hi-tc.max) > 1e-9 {
			t.Errorf("p %v: Range() = %v, %v; want %v, %v", tc.p, lo, hi, tc.min, tc.max)
		}
	}
	if lo, hi := NewPercentile(99).Range(); lo != 0 || hi != 0 {
		t.Errorf("empty: %v, %v", lo, hi)
	}
	for _, p := range []float64{50, 49, 100.5, math.NaN()} {
		mustPanic(t, errPercentile, func() { NewPercentile(p) })
	}
}

// TestPercentileHistogram checks histogram mode against exact percentiles
// when the range grows upwards, downwards, in both directions, and from a
// degenerate start: within two bins of the final range.
func TestPercentileHistogram(t *testing.T) {
	const n, batch = 1 << 19, 4096
	rng := newRand(31)
	cases := map[string][]float32{}
	up := make([]float32, n)
	for i := range up {
		up[i] = float32(i)
	}
	cases["ascending ramp"] = up
	down := make([]float32, n)
	for i := range down {
		down[i] = -float32(i) * 0.001
	}
	cases["descending ramp"] = down
	both := make([]float32, n)
	for i := range both {
		v := float32(i/2) * 0.01
		if i%2 == 1 {
			v = -2 * v
		}
		both[i] = v
	}
	cases["both ways"] = both
	zeros := make([]float32, n)
	for i := exactCap + 5000; i < n; i++ {
		zeros[i] = float32(rng.ExpFloat64())
	}
	cases["zeros first"] = zeros
	heavy := make([]float32, n)
	for i := range heavy {
		heavy[i] = float32(rng.NormFloat64() / (0.05 + rng.Float64()))
	}
	cases["heavy tails"] = heavy

	for name, x := range cases {
		t.Run(name, func(t *testing.T) {
			o := NewPercentile(99)
			for i := 0; i < len(x); i += batch {
				o.Observe(x[i:min(i+batch, len(x))])
			}
			if o.h.bins == nil {
				t.Fatal("still exact")
			}
			lo, hi := o.Range()
			mn, mx := slices.Min(x), slices.Max(x)
			tol := 2 * 2 * float64(mx-mn) / histBins // the span at most doubles past the data
			if want := exactPercentile(x, 1); math.Abs(lo-want) > tol {
				t.Errorf("1st percentile %v, want %v ± %v", lo, want, tol)
			}
			if want := exactPercentile(x, 99); math.Abs(hi-want) > tol {
				t.Errorf("99th percentile %v, want %v ± %v", hi, want, tol)
			}
			var total float64
			for _, c := range o.h.bins {
				total += c
			}
			if total != float64(len(x)) {
				t.Errorf("histogram holds %v values, want %d", total, len(x))
			}
		})
	}
}

// empiricalMSE is the oracle: the mean of (x − FakeQuant(x))².
func empiricalMSE(x []float32, lo, hi float64, bits int) float64 {
	a := AffineFromRange(lo, hi, bits)
	var s float64
	for _, v := range x {
		d := float64(v) - a.FakeQuant(float64(v))
		s += d * d
	}
	return s / float64(len(x))
}

// TestMSEObjective checks the histogram's closed-form error against the
// empirical error of FakeQuant, for exact and histogram storage.
func TestMSEObjective(t *testing.T) {
	rng := newRand(41)
	for _, n := range []int{50000, 300000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64()*0.7 + 0.3)
		}
		o := NewMSE(4)
		for i := 0; i < n; i += 10000 {
			o.Observe(x[i:min(i+10000, n)])
		}
		bins, lo, width := o.h.counts()
		for _, bits := range []int{2, 4, 8} {
			e := newMSEObjective(bins, lo, width, o.h.min, o.h.max, bits)
			for _, r := range [][2]float64{{-1, 1}, {-2.5, 3.5}, {-0.1, 0.2}, {0, 4}, {-4, 0}} {
				got, want := e.err(r[0], r[1]), empiricalMSE(x, r[0], r[1], bits)
				if math.Abs(got-want) > 0.03*want {
					t.Errorf("n %d bits %d range %v: model %v, empirical %v", n, bits, r, got, want)
				}
			}
		}
	}
}

func TestMSERange(t *testing.T) {
	rng := newRand(43)
	t.Run("heavy tails", func(t *testing.T) {
		x := make([]float32, 200000)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range 20 { // outliers at ±40
			x[i*1000] = float32(40 * (1 - 2*float64(i%2)))
		}
		o, mm := NewMSE(4), NewMinMax()
		for i := 0; i < len(x); i += 8192 {
			o.Observe(x[i:min(i+8192, len(x))])
			mm.Observe(x[i:min(i+8192, len(x))])
		}
		lo, hi := o.Range()
		mlo, mhi := mm.Range()
		if lo < mlo || hi > mhi || lo > 0 || hi < 0 {
			t.Fatalf("MSE range [%v, %v] outside min–max [%v, %v] or misses 0", lo, hi, mlo, mhi)
		}
		got, base := empiricalMSE(x, lo, hi, 4), empiricalMSE(x, mlo, mhi, 4)
		if !(got < 0.5*base) {
			t.Errorf("MSE of the MSE range %v, of min–max %v", got, base)
		}
		// A bracketing check: the chosen range beats ranges 10 % wider and
		// narrower at both ends.
		for _, f := range []float64{0.9, 1.1} {
			if other := empiricalMSE(x, lo*f, hi*f, 4); other < got*0.999 {
				t.Errorf("range ×%v has MSE %v < %v", f, other, got)
			}
		}
		l2, h2 := o.RangeFor(2)
		l8, h8 := o.RangeFor(8)
		if !(h2-l2 < hi-lo && hi-lo < h8-l8) {
			t.Errorf("widths not increasing with bits: 2: %v, 4: %v, 8: %v", h2-l2, hi-lo, h8-l8)
		}
	})
	t.Run("uniform keeps the full range", func(t *testing.T) {
		x := make([]float32, 100000)
		for i := range x {
			x[i] = float32(-1 + 4*rng.Float64())
		}
		o := NewMSE(8)
		o.Observe(x)
		lo, hi := o.Range()
		if math.Abs(lo+1) > 0.02 || math.Abs(hi-3) > 0.06 {
			t.Errorf("Range() = %v, %v; want about -1, 3", lo, hi)
		}
	})
	t.Run("non-negative", func(t *testing.T) {
		x := make([]float32, 100000)
		for i := range x {
			x[i] = float32(math.Max(rng.NormFloat64(), 0)) // ReLU output
		}
		o := NewMSE(4)
		o.Observe(x)
		lo, hi := o.Range()
		if lo != 0 || !(hi > 1 && hi < float64(slices.Max(x))) {
			t.Errorf("Range() = %v, %v", lo, hi)
		}
	})
	t.Run("degenerate", func(t *testing.T) {
		o := NewMSE(8)
		if lo, hi := o.Range(); lo != 0 || hi != 0 {
			t.Errorf("empty: %v, %v", lo, hi)
		}
		o.Observe(f32(5, 5, 5, math.NaN()))
		if lo, hi := o.Range(); lo != 0 || hi != 5 {
			t.Errorf("constant 5: %v, %v", lo, hi)
		}
	})
	mustPanic(t, errBits, func() { NewMSE(0) })
	mustPanic(t, errBits, func() { NewMSE(8).RangeFor(17) })
}
