package quant

import "math"

const (
	mseOctaves     = 11 // the coarse grid reaches down to 2^-11 of each end
	msePerOctave   = 4  // coarse candidates per octave
	mseFineSteps   = 32 // fine candidates between coarse neighbours
	mseFineRepeats = 2  // rounds of alternating fine scans
)

// mseObjective is the expected squared error of affine fake quantization of
// a histogram, with each bin's count spread uniformly over [l, r).
type mseObjective struct {
	l, r, c []float64 // non-empty bins: edges and counts
	n       float64   // total count
	lo, hi  float64   // widened extremes, lo ≤ 0 ≤ hi
	bits    int
	qmax    float64 // 2^bits − 1
}

func newMSEObjective(bins []float64, lo, width, dmin, dmax float64, bits int) *mseObjective {
	e := &mseObjective{lo: math.Min(dmin, 0), hi: math.Max(dmax, 0), bits: bits, qmax: affineQmax(bits)}
	for i, c := range bins {
		if c == 0 {
			continue
		}
		l := lo + float64(i)*width
		r := l + width
		e.l = append(e.l, math.Max(l, dmin))
		e.r = append(e.r, math.Max(math.Min(r, dmax), math.Max(l, dmin)))
		e.c = append(e.c, c)
		e.n += c
	}
	return e
}

// err returns the mean squared error of FakeQuant with AffineFromRange(a, b).
func (e *mseObjective) err(a, b float64) float64 {
	af := AffineFromRange(a, b, e.bits)
	s, zp, qmax := af.Scale, float64(af.ZeroPoint), e.qmax
	inv := 1 / s
	full := s * s * s / 12 // ∫(x−g)² over one interior cell
	var total float64
	l, r := e.l[:len(e.c)], e.r[:len(e.c)]
	for k, c := range e.c {
		l, r := l[k], r[k]
		// Cells are the codes q, clamped: x is in cell q when
		// q − zp − 1/2 ≤ x/s < q − zp + 1/2 (ties do not matter here).
		qa := min(max(math.Floor(l*inv+0.5)+zp, 0), qmax)
		ga := (qa - zp) * s
		if r <= l { // a point mass
			total += c * (l - ga) * (l - ga)
			continue
		}
		qb := min(max(math.Floor(r*inv+0.5)+zp, 0), qmax)
		var in float64
		if qa == qb {
			in = cubeDiff(l, r, ga)
		} else {
			gb := (qb - zp) * s
			in = cubeDiff(l, ga+s/2, ga) + (qb-qa-1)*full + cubeDiff(gb-s/2, r, gb)
		}
		total += c / (r - l) * in
	}
	return total / e.n
}

// cubeDiff returns ∫_{x0}^{x1} (x − g)² dx.
func cubeDiff(x0, x1, g float64) float64 {
	u, v := x1-g, x0-g
	return (u*u*u - v*v*v) / 3
}

// search returns the clipping range of least err: a coarse grid over both
// ends, then alternating fine scans of each end between the coarse
// neighbours of the best pair.
func (e *mseObjective) search() (min, max float64) {
	ts := make([]float64, 0, mseOctaves*msePerOctave+2)
	ts = append(ts, 0)
	for i := 0; i <= mseOctaves*msePerOctave; i++ {
		ts = append(ts, math.Exp2(-mseOctaves+float64(i)/msePerOctave))
	}
	as, bs := ts, ts
	if e.lo == 0 {
		as = ts[:1]
	}
	if e.hi == 0 {
		bs = ts[:1]
	}
	best, ia, ib := math.Inf(1), 0, 0
	for i, ta := range as {
		for j, tb := range bs {
			if ta == 0 && tb == 0 {
				continue
			}
			if v := e.err(e.lo*ta, e.hi*tb); v < best {
				best, ia, ib = v, i, j
			}
		}
	}
	ta, tb := as[ia], bs[ib]
	for range mseFineRepeats {
		if len(as) > 1 {
			ta, best = e.fine(ts, ia, best, ta, tb, func(t float64) float64 { return e.err(e.lo*t, e.hi*tb) })
		}
		if len(bs) > 1 {
			tb, best = e.fine(ts, ib, best, tb, ta, func(t float64) float64 { return e.err(e.lo*ta, e.hi*t) })
		}
	}
	return e.lo * ta, e.hi * tb
}

// fine scans f on a linear grid between ts[i-1] and ts[i+1] and returns the
// best fraction and value, keeping cur unless a candidate beats best. other
// is the other end's fraction: t = 0 is skipped when it is 0 too.
func (e *mseObjective) fine(ts []float64, i int, best, cur, other float64, f func(float64) float64) (float64, float64) {
	a, b := ts[max(i-1, 0)], ts[min(i+1, len(ts)-1)]
	for k := 0; k <= mseFineSteps; k++ {
		t := a + (b-a)*float64(k)/mseFineSteps
		if t == 0 && other == 0 {
			continue
		}
		if v := f(t); v < best {
			best, cur = v, t
		}
	}
	return cur, best
}
