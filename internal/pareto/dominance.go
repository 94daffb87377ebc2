package pareto

import (
	"cmp"
	"math"
	"slices"
)

const (
	errDimension = "pareto: dimension mismatch"
	errIndex     = "pareto: index out of range"
)

// Dominates reports whether a Pareto-dominates b: a[i] <= b[i] for every
// objective i and a[i] < b[i] for at least one. Equal points do not dominate
// each other, and a point containing NaN neither dominates nor is dominated.
// Dominates panics if len(a) != len(b).
func Dominates(a, b []float64) bool {
	if len(a) != len(b) {
		panic(errDimension)
	}
	strict := false
	for i, x := range a {
		y := b[i]
		if !(x <= y) {
			return false
		}
		if x < y {
			strict = true
		}
	}
	return strict
}

// weaklyDominates reports whether a[i] <= b[i] for every i < len(a).
func weaklyDominates(a, b []float64) bool {
	for i, x := range a {
		if !(x <= b[i]) {
			return false
		}
	}
	return true
}

// compareDominance returns -1 if a dominates b, +1 if b dominates a and 0
// otherwise (equal, incomparable, or NaN involved).
func compareDominance(a, b []float64) int {
	var aLess, bLess bool
	for i, x := range a {
		y := b[i]
		switch {
		case x < y:
			aLess = true
		case y < x:
			bLess = true
		case x == y:
		default: // NaN
			return 0
		}
		if aLess && bLess {
			return 0
		}
	}
	switch {
	case aLess:
		return -1
	case bLess:
		return 1
	}
	return 0
}

// checkDims panics unless every point has length d.
func checkDims(points [][]float64, d int) {
	for _, p := range points {
		if len(p) != d {
			panic(errDimension)
		}
	}
}

// lexCompare orders points lexicographically on their first d coordinates.
func lexCompare(a, b []float64, d int) int {
	for i := range d {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// Front returns the indices, in increasing order, of the points not dominated
// by any other point. Of several identical points only the one with the lowest
// index is kept, so the returned points are distinct. Front runs in
// O(N log N) for two objectives and O(N log N + N·F·M) otherwise, F being the
// front size. It panics if the points differ in length.
func Front(points [][]float64) []int {
	if len(points) == 0 {
		return nil
	}
	d := len(points[0])
	checkDims(points, d)
	order := make([]int, len(points))
	for i := range order {
		order[i] = i
	}
	// In lexicographic order a point can only be weakly dominated by an
	// earlier one; ties between identical points fall to the lower index.
	slices.SortFunc(order, func(i, j int) int {
		if c := lexCompare(points[i], points[j], d); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	front := make([]int, 0, 16)
	if d == 2 {
		best := math.Inf(1)
		for _, i := range order {
			if y := points[i][1]; y < best {
				best = y
				front = append(front, i)
			}
		}
	} else {
		for _, i := range order {
			p := points[i]
			kept := true
			for _, j := range front {
				if weaklyDominates(points[j], p) {
					kept = false
					break
				}
			}
			if kept {
				front = append(front, i)
			}
		}
	}
	slices.Sort(front)
	return front
}

// Ranks returns the non-domination rank of every point: 0 for the points no
// other point dominates, 1 for those dominated only by rank-0 points, and so
// on. It is the fast non-dominated sort of Deb et al. (2002), O(M·N²) time and
// O(N²) memory in the worst case. Identical points do not dominate each other
// and so share a rank. Ranks panics if the points differ in length.
func Ranks(points [][]float64) []int {
	n := len(points)
	if n == 0 {
		return nil
	}
	checkDims(points, len(points[0]))
	count := make([]int, n)       // how many points dominate i
	dominated := make([][]int, n) // the points i dominates
	for i := range n {
		for j := i + 1; j < n; j++ {
			switch compareDominance(points[i], points[j]) {
			case -1:
				dominated[i] = append(dominated[i], j)
				count[j]++
			case 1:
				dominated[j] = append(dominated[j], i)
				count[i]++
			}
		}
	}
	rank := make([]int, n)
	current := make([]int, 0, n)
	for i, c := range count {
		if c == 0 {
			current = append(current, i)
		}
	}
	var next []int
	for r := 0; len(current) > 0; r++ {
		next = next[:0]
		for _, p := range current {
			rank[p] = r
			for _, q := range dominated[p] {
				count[q]--
				if count[q] == 0 {
					next = append(next, q)
				}
			}
		}
		current, next = next, current
	}
	return rank
}

// CrowdingDistance returns the NSGA-II crowding distance of each point
// points[idx[k]] within the set named by idx (normally one front), in the
// order of idx. For every objective the points are sorted by that objective,
// the two extremes get +Inf, and every other point adds the gap between its
// two neighbours divided by the objective's range over the set; an objective
// with zero range adds nothing. Sets of one or two points are all +Inf.
// Objective values must be finite. CrowdingDistance panics if an index is out
// of range or the points differ in length.
func CrowdingDistance(points [][]float64, idx []int) []float64 {
	m := len(idx)
	dist := make([]float64, m)
	if m == 0 {
		return dist
	}
	for _, i := range idx {
		if i < 0 || i >= len(points) {
			panic(errIndex)
		}
	}
	d := len(points[idx[0]])
	for _, i := range idx {
		if len(points[i]) != d {
			panic(errDimension)
		}
	}
	if m <= 2 {
		for k := range dist {
			dist[k] = math.Inf(1)
		}
		return dist
	}
	order := make([]int, m) // positions in idx
	for obj := range d {
		for k := range order {
			order[k] = k
		}
		val := func(k int) float64 { return points[idx[k]][obj] }
		slices.SortFunc(order, func(a, b int) int {
			if c := cmp.Compare(val(a), val(b)); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		lo, hi := val(order[0]), val(order[m-1])
		dist[order[0]] = math.Inf(1)
		dist[order[m-1]] = math.Inf(1)
		if !(hi > lo) {
			continue
		}
		span := hi - lo
		for k := 1; k < m-1; k++ {
			dist[order[k]] += (val(order[k+1]) - val(order[k-1])) / span
		}
	}
	return dist
}
