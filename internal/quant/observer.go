package quant

import (
	"math"
	"slices"
)

// Observer collects calibration statistics of an activation tensor, batch by
// batch, and turns them into a clipping range for AffineFromRange. Observers
// skip NaN and infinite values, so Range is always finite; with nothing
// observed it is (0, 0). Observers are not safe for concurrent use.
type Observer interface {
	// Observe adds a batch of values.
	Observe(x []float32)
	// Range returns the clipping range.
	Range() (min, max float64)
}

var (
	_ Observer = (*MinMax)(nil)
	_ Observer = (*Percentile)(nil)
	_ Observer = (*MSE)(nil)
)

// finite reports whether v is neither NaN nor infinite.
func finite(v float32) bool { return v-v == 0 }

// MinMax records the smallest and largest value seen.
type MinMax struct {
	min, max float64
	seen     bool
}

// NewMinMax returns an empty MinMax observer.
func NewMinMax() *MinMax { return &MinMax{} }

// Observe implements Observer.
func (m *MinMax) Observe(x []float32) {
	for _, v := range x {
		if !finite(v) {
			continue
		}
		f := float64(v)
		if !m.seen {
			m.min, m.max, m.seen = f, f, true
			continue
		}
		if f < m.min {
			m.min = f
		}
		if f > m.max {
			m.max = f
		}
	}
}

// Range returns the extreme values seen, or (0, 0) before any.
func (m *MinMax) Range() (min, max float64) { return m.min, m.max }

// Percentile clips both tails at a percentile: Range returns the
// (100−p)-th and p-th percentiles of the values seen.
//
// Up to 65536 values are kept exactly, and percentiles interpolate linearly
// between order statistics (NumPy's default). Past that the values move into
// a 2048-bin histogram whose range doubles, merging bins in pairs, whenever a
// value falls outside it; percentiles then interpolate within a bin and are
// accurate to about one bin width of the final range.
type Percentile struct {
	p float64
	h histogram
}

// NewPercentile returns a Percentile observer for p in (50, 100]; p = 100 is
// the min–max range. It panics for other p.
func NewPercentile(p float64) *Percentile {
	if !(p > 50 && p <= 100) {
		panic(errPercentile)
	}
	return &Percentile{p: p}
}

// Observe implements Observer.
func (o *Percentile) Observe(x []float32) { o.h.observe(x) }

// Range returns the (100−p)-th and p-th percentiles, or (0, 0) before any
// value.
func (o *Percentile) Range() (min, max float64) {
	return o.h.percentile(100 - o.p), o.h.percentile(o.p)
}

// MSE chooses the clipping range that minimises the expected squared error of
// affine fake quantization at a bitwidth, like the MSE calibration of
// TensorRT and NNCF. It stores values as Percentile does.
//
// The search treats each histogram bin as uniform density between its edges
// (the outer bins are trimmed to the exact minimum and maximum seen) and
// integrates (x − FakeQuant(x))² in closed form against the exact grid that
// AffineFromRange builds, zero-point rounding included, clipping error and
// all. Candidates are min = lo·t and max = hi·t' with lo, hi the widened
// extremes (lo ≤ 0 ≤ hi) and t, t' ∈ {0} ∪ {2^(−11+i/4)}: a coarse grid over
// all pairs, then alternating fine scans of each end around the best pair.
type MSE struct {
	bits int
	h    histogram
}

// NewMSE returns an MSE observer whose Range targets bits (1..MaxBits). It
// panics for other bits.
func NewMSE(bits int) *MSE {
	checkBits(bits)
	return &MSE{bits: bits}
}

// Observe implements Observer.
func (o *MSE) Observe(x []float32) { o.h.observe(x) }

// Range returns RangeFor of the bitwidth given to NewMSE.
func (o *MSE) Range() (min, max float64) { return o.RangeFor(o.bits) }

// RangeFor returns the clipping range that minimises the expected squared
// quantization error at bits (1..MaxBits); it panics for other bits. The
// range contains 0, lies within the min–max range, and is (0, 0) before any
// value.
func (o *MSE) RangeFor(bits int) (min, max float64) {
	checkBits(bits)
	bins, lo, width := o.h.counts()
	if bins == nil { // nothing seen, or a single value
		return math.Min(o.h.min, 0), math.Max(o.h.max, 0)
	}
	e := newMSEObjective(bins, lo, width, o.h.min, o.h.max, bits)
	return e.search()
}

const (
	histBins = 2048    // bins of the observers' histogram (a power of two)
	exactCap = 1 << 16 // values kept exactly before switching to the histogram
)

// histogram stores observed finite values: exactly while there are at most
// exactCap of them, then as counts in histBins equal bins starting at lo.
type histogram struct {
	exact    []float32
	bins     []float64 // nil while exact
	lo       float64
	width    float64
	n        float64 // number of values
	min, max float64 // exact extremes
}

func (h *histogram) observe(x []float32) {
	bmin, bmax := math.Inf(1), math.Inf(-1)
	cnt := 0
	for _, v := range x {
		if !finite(v) {
			continue
		}
		f := float64(v)
		bmin, bmax = math.Min(bmin, f), math.Max(bmax, f)
		cnt++
	}
	if cnt == 0 {
		return
	}
	if h.n == 0 {
		h.min, h.max = bmin, bmax
	} else {
		h.min, h.max = math.Min(h.min, bmin), math.Max(h.max, bmax)
	}
	h.n += float64(cnt)
	if h.bins == nil {
		if len(h.exact)+cnt <= exactCap {
			for _, v := range x {
				if finite(v) {
					h.exact = append(h.exact, v)
				}
			}
			return
		}
		h.toBins()
	}
	h.grow(bmin, bmax)
	h.add(x)
}

// toBins switches to histogram storage over the current [min, max].
func (h *histogram) toBins() {
	h.bins = make([]float64, histBins)
	h.lo = h.min
	h.width = (h.max - h.min) / histBins
	if !(h.width > 0) {
		// All values so far are equal: start with a narrow range above them.
		h.width = math.Max(math.Abs(h.min)*0x1p-30, 0x1p-1000) / histBins
	}
	h.add(h.exact)
	h.exact = nil
}

// add counts the finite values of x, which must lie in the histogram range
// (up to rounding).
func (h *histogram) add(x []float32) {
	inv := 1 / h.width
	last := len(h.bins) - 1
	for _, v := range x {
		if !finite(v) {
			continue
		}
		i := int((float64(v) - h.lo) * inv)
		h.bins[min(max(i, 0), last)]++
	}
}

// grow widens the range by powers of two until it covers [bmin, bmax],
// merging bins exactly. The factor has no cap: values are finite float32, so
// the span stays far below float64 overflow.
func (h *histogram) grow(bmin, bmax float64) {
	if span := h.width * histBins; bmax > h.lo+span {
		f := 2.0
		for bmax > h.lo+span*f {
			f *= 2
		}
		h.merge(f, false)
	}
	if span := h.width * histBins; bmin < h.lo {
		hi := h.lo + span
		f := 2.0
		for bmin < hi-span*f {
			f *= 2
		}
		h.merge(f, true)
	}
}

// merge multiplies the bin width by f (a power of two ≥ 2), keeping lo fixed,
// or keeping the upper end fixed when down is true. Old bins map whole onto
// new ones, so no count is split.
func (h *histogram) merge(f float64, down bool) {
	span := h.width * histBins
	var moved [histBins]float64
	for j, c := range h.bins {
		if c == 0 {
			continue
		}
		var i int
		switch {
		case f >= histBins && down:
			i = histBins - 1
		case f >= histBins:
			i = 0
		case down:
			g := int(f)
			i = histBins - histBins/g + j/g
		default:
			i = j / int(f)
		}
		moved[i] += c
	}
	copy(h.bins, moved[:])
	if down {
		h.lo = h.lo + span - span*f
	}
	h.width *= f
}

// percentile returns the q-th percentile (0 ≤ q ≤ 100) of the values.
func (h *histogram) percentile(q float64) float64 {
	switch {
	case h.n == 0:
		return 0
	case q <= 0:
		return h.min
	case q >= 100:
		return h.max
	}
	if h.bins == nil {
		slices.Sort(h.exact)
		pos := q / 100 * float64(len(h.exact)-1)
		i := int(pos)
		if i+1 >= len(h.exact) {
			return float64(h.exact[len(h.exact)-1])
		}
		a, b := float64(h.exact[i]), float64(h.exact[i+1])
		return a + (pos-float64(i))*(b-a)
	}
	target := q / 100 * h.n
	var cum float64
	for i, c := range h.bins {
		if c > 0 && cum+c >= target {
			v := h.lo + (float64(i)+(target-cum)/c)*h.width
			return math.Min(math.Max(v, h.min), h.max)
		}
		cum += c
	}
	return h.max
}

// counts returns bin counts over [lo, lo+len(bins)·width) for the MSE
// search, building them from the exact values if needed. It returns nil bins
// when there are no values or all values are equal.
func (h *histogram) counts() (bins []float64, lo, width float64) {
	if h.n == 0 || h.min == h.max {
		return nil, 0, 0
	}
	if h.bins != nil {
		return h.bins, h.lo, h.width
	}
	bins = make([]float64, histBins)
	lo, width = h.min, (h.max-h.min)/histBins
	inv := 1 / width
	for _, v := range h.exact {
		i := int((float64(v) - lo) * inv)
		bins[min(max(i, 0), histBins-1)]++
	}
	return bins, lo, width
}
