package pareto

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// Hypervolume returns the volume of the region dominated by the points and
// bounded above by ref: the union over points p of the boxes [p, ref]. Points
// that are not strictly better than ref in every objective contribute nothing
// and are ignored. The result is exact up to floating-point rounding: a sweep
// in O(N log N) for two objectives, the HSO dimension sweep (While et al.
// 2006) in O(N log N + N²) for three, and the WFG algorithm (While et al.
// 2012) over that sweep for four or more. Hypervolume panics if a point's length differs from
// len(ref).
func Hypervolume(points [][]float64, ref []float64) float64 {
	d := len(ref)
	checkDims(points, d)
	pts := strictlyBelow(points, ref, nil)
	if len(pts) == 0 || d == 0 {
		return 0
	}
	switch d {
	case 1:
		best := pts[0][0]
		for _, p := range pts[1:] {
			best = min(best, p[0])
		}
		return ref[0] - best
	case 2:
		return hv2(pts, ref[0], ref[1])
	}
	if d >= 4 {
		pts = nondominated(pts, d)
	}
	return newWFG(ref, len(pts)).hv(pts, d)
}

// Contributions returns each point's exclusive hypervolume contribution
// HV(S) − HV(S∖{p}) with respect to ref: the volume dominated by that point
// alone. Points not strictly better than ref in every objective, points
// weakly dominated by another point, and every copy of a repeated point
// contribute 0. Dominated points still count against their dominators, as
// the definition requires. Rounding can make an exact zero come out as a
// tiny positive number; negative rounding residue is clamped to 0.
// Contributions runs in O(N log N) for two objectives and performs one WFG
// limit-set hypervolume per point otherwise. It panics if a point's length
// differs from len(ref).
func Contributions(points [][]float64, ref []float64) []float64 {
	d := len(ref)
	checkDims(points, d)
	out := make([]float64, len(points))
	var index []int
	pts := strictlyBelow(points, ref, &index)
	if len(pts) == 0 || d == 0 {
		return out
	}
	switch d {
	case 1:
		contrib1(pts, index, ref[0], out)
	case 2:
		contrib2(pts, index, ref[0], ref[1], out)
	default:
		w := newWFG(ref, len(pts))
		others := make([][]float64, 0, len(pts)-1)
		for a, p := range pts {
			others = append(others[:0], pts[:a]...)
			others = append(others, pts[a+1:]...)
			lim, covered := w.limit(p, others, d)
			if covered {
				continue
			}
			out[index[a]] = max(boxVolume(p, ref, d)-w.hv(lim, d), 0)
		}
	}
	return out
}

// strictlyBelow returns the points with p[i] < ref[i] for every i. If index
// is not nil it receives their positions in points.
func strictlyBelow(points [][]float64, ref []float64, index *[]int) [][]float64 {
	pts := make([][]float64, 0, len(points))
	for i, p := range points {
		below := true
		for k, r := range ref {
			if !(p[k] < r) {
				below = false
				break
			}
		}
		if below {
			pts = append(pts, p)
			if index != nil {
				*index = append(*index, i)
			}
		}
	}
	return pts
}

// boxVolume returns the volume of the box [p, ref] in the first d objectives.
func boxVolume(p, ref []float64, d int) float64 {
	v := 1.0
	for i := range d {
		v *= ref[i] - p[i]
	}
	return v
}

// sortXY sorts two-objective points by the first objective, then the second.
func sortXY(pts [][]float64) {
	slices.SortFunc(pts, func(a, b []float64) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
}

// hv2 returns the two-objective hypervolume of pts (all strictly below
// (rx, ry), dominated points allowed) by a sweep in increasing first
// objective: each point that lowers the running minimum of the second
// objective adds the horizontal band between the old and new minimum, which
// it is the leftmost point to cover. hv2 sorts pts in place.
func hv2(pts [][]float64, rx, ry float64) float64 {
	sortXY(pts)
	area := 0.0
	top := ry
	for _, p := range pts {
		if y := p[1]; y < top {
			area += (rx - p[0]) * (top - y)
			top = y
		}
	}
	return area
}

// nondominated sorts pts lexicographically on the first d objectives and
// compacts it in place to the points not weakly dominated by an earlier
// kept point, so exactly one copy of each non-dominated point survives.
func nondominated(pts [][]float64, d int) [][]float64 {
	slices.SortFunc(pts, func(a, b []float64) int { return lexCompare(a, b, d) })
	kept := 0
	for _, p := range pts {
		dominated := false
		for _, q := range pts[:kept] {
			if weaklyDominates(q[:d], p) {
				dominated = true
				break
			}
		}
		if !dominated {
			pts[kept] = p
			kept++
		}
	}
	return pts[:kept]
}

// wfg holds the reference point and per-dimension scratch space for the WFG
// recursion: level l stores limit sets of at most n points of l objectives.
// A level's buffers are rebuilt for every point at the level above, which is
// safe because the recursion below finishes before the next rebuild.
type wfg struct {
	ref    []float64
	flat   [][]float64
	sets   [][][]float64
	fx, fy []float64 // the two-objective front of hv3
}

func newWFG(ref []float64, n int) *wfg {
	d := len(ref)
	w := &wfg{
		ref:  ref,
		flat: make([][]float64, d+1),
		sets: make([][][]float64, d+1),
	}
	for l := 2; l <= d; l++ {
		w.flat[l] = make([]float64, n*l)
		w.sets[l] = make([][]float64, 0, n)
	}
	if d >= 3 {
		w.fx = make([]float64, 0, n)
		w.fy = make([]float64, 0, n)
	}
	return w
}

// hv returns the hypervolume of pts in the first d objectives. pts must all
// be strictly below ref; hv reorders pts.
//
// With the points sorted worst-first in objective d-1, every later point is
// at least as good as p there, so within p's extent in that objective each
// later point's box covers p's whole slab: p's exclusive contribution over the
// later points is (ref[d-1] − p[d-1]) times a (d−1)-objective exclusive
// contribution, computed as p's box minus the hypervolume of the limit set.
func (w *wfg) hv(pts [][]float64, d int) float64 {
	switch {
	case len(pts) == 0:
		return 0
	case len(pts) == 1:
		return boxVolume(pts[0], w.ref, d)
	case d == 2:
		return hv2(pts, w.ref[0], w.ref[1])
	case d == 3:
		return w.hv3(pts)
	}
	slices.SortFunc(pts, func(a, b []float64) int { return cmp.Compare(b[d-1], a[d-1]) })
	total := 0.0
	for k, p := range pts {
		lim, covered := w.limit(p, pts[k+1:], d-1)
		if covered {
			continue
		}
		excl := boxVolume(p, w.ref, d-1) - w.hv(lim, d-1)
		total += (w.ref[d-1] - p[d-1]) * excl
	}
	return total
}

// limit returns the limit set of p against others in the first l
// objectives, {max(p, q) : q in others} without dominated members, stored in
// level l's scratch. covered reports that some q is no worse than p in all l
// objectives, in which case p's exclusive contribution is zero and the set is
// not built.
func (w *wfg) limit(p []float64, others [][]float64, l int) (set [][]float64, covered bool) {
	buf := w.flat[l]
	set = w.sets[l][:0]
	for _, q := range others {
		n := len(set)
		row := buf[n*l : (n+1)*l : (n+1)*l]
		inside := true
		for i := range l {
			v := q[i]
			if v <= p[i] {
				v = p[i]
			} else {
				inside = false
			}
			row[i] = v
		}
		if inside {
			return nil, true
		}
		set = append(set, row)
	}
	if l >= 4 { // hv2 and hv3 need no filtering
		set = nondominated(set, l)
	}
	return set, false
}

// hv3 returns the three-objective hypervolume of pts (all strictly below
// ref, dominated points allowed) by the HSO dimension sweep: taking the
// points in increasing third objective, the slab between consecutive values
// has the area of the two-objective front seen so far. That front is kept
// sorted by increasing x in w.fx, w.fy, and its area is updated on each
// insertion by the new point's exclusive area, so the sweep is O(N log N)
// plus O(N²) worst-case element moves. hv3 sorts pts in place.
func (w *wfg) hv3(pts [][]float64) float64 {
	rx, ry, rz := w.ref[0], w.ref[1], w.ref[2]
	slices.SortFunc(pts, func(a, b []float64) int { return cmp.Compare(a[2], b[2]) })
	fx, fy := w.fx[:0], w.fy[:0]
	area, total := 0.0, 0.0
	for k, p := range pts {
		x, y := p[0], p[1]
		// The front point with the largest x not above p's has the lowest
		// y of those that could dominate p.
		hi := sort.SearchFloat64s(fx, math.Nextafter(x, math.Inf(1)))
		if hi == 0 || fy[hi-1] > y {
			// Points from lo on with y >= p's are dominated by p; they
			// are contiguous because y decreases along the front.
			lo := sort.SearchFloat64s(fx, x)
			end := lo
			for end < len(fx) && fy[end] >= y {
				end++
			}
			xr, yl := rx, ry
			if end < len(fx) {
				xr = fx[end]
			}
			if lo > 0 {
				yl = fy[lo-1]
			}
			// p's exclusive area is its rectangle up to its neighbours
			// minus the staircase of the points it replaces.
			gain := (xr - x) * (yl - y)
			top := yl
			for i := lo; i < end; i++ {
				gain -= (xr - fx[i]) * (top - fy[i])
				top = fy[i]
			}
			area += gain
			fx = slices.Replace(fx, lo, end, x)
			fy = slices.Replace(fy, lo, end, y)
		}
		next := rz
		if k+1 < len(pts) {
			next = pts[k+1][2]
		}
		total += area * (next - p[2])
	}
	w.fx, w.fy = fx, fy
	return total
}

// contrib1 fills the one-objective contributions: only a unique minimum
// contributes, the gap to the next value or to the reference.
func contrib1(pts [][]float64, index []int, r float64, out []float64) {
	best, second := 0, -1
	for a := 1; a < len(pts); a++ {
		switch v := pts[a][0]; {
		case v < pts[best][0]:
			best, second = a, best
		case second < 0 || v < pts[second][0]:
			second = a
		}
	}
	next := r
	if second >= 0 {
		next = pts[second][0]
	}
	out[index[best]] = next - pts[best][0]
}

// contrib2 fills the two-objective contributions in O(N log N). With the
// front sorted by increasing x (so decreasing y), front point i alone covers
// the rectangle [x_i, x_{i+1}) × [y_i, y_{i−1}) (the reference closing the
// ends), minus the boxes of the points inside it; such a point can only be
// dominated by front point i, so every non-front point falls in at most one
// rectangle.
func contrib2(pts [][]float64, index []int, rx, ry float64, out []float64) {
	order := make([]int, len(pts))
	for a := range order {
		order[a] = a
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(pts[a][0], pts[b][0]); c != 0 {
			return c
		}
		if c := cmp.Compare(pts[a][1], pts[b][1]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	front := make([]int, 0, len(pts))
	rest := make([]int, 0, len(pts))
	top := ry
	for _, a := range order {
		if y := pts[a][1]; y < top {
			top = y
			front = append(front, a)
		} else {
			rest = append(rest, a)
		}
	}
	nextX := func(i int) float64 {
		if i+1 < len(front) {
			return pts[front[i+1]][0]
		}
		return rx
	}
	prevY := func(i int) float64 {
		if i > 0 {
			return pts[front[i-1]][1]
		}
		return ry
	}
	// Bucket the non-front points by the front point whose rectangle they
	// fall in: the front point with the largest x not above theirs.
	bucket := make([]int, len(rest))
	counts := make([]int, len(front)+1)
	for r, a := range rest {
		q := pts[a]
		i := sort.Search(len(front), func(i int) bool { return pts[front[i]][0] > q[0] }) - 1
		bucket[r] = -1
		if i >= 0 && q[0] < nextX(i) && q[1] < prevY(i) {
			bucket[r] = i
			counts[i+1]++
		}
	}
	for i := range front {
		counts[i+1] += counts[i]
	}
	grouped := make([][]float64, counts[len(front)])
	fill := slices.Clone(counts[:len(front)])
	for r, i := range bucket {
		if i >= 0 {
			grouped[fill[i]] = pts[rest[r]]
			fill[i]++
		}
	}
	for i, a := range front {
		p := pts[a]
		x1, y1 := nextX(i), prevY(i)
		c := (x1 - p[0]) * (y1 - p[1])
		if in := grouped[counts[i]:counts[i+1]]; len(in) > 0 {
			c -= hv2(in, x1, y1)
		}
		out[index[a]] = max(c, 0)
	}
}
