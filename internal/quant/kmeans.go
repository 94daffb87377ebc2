package quant

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

const (
	// kmeansMaxIter bounds Lloyd's iterations.
	kmeansMaxIter = 100
	// kmeansTol stops Lloyd's iterations once no centroid moves by more than
	// kmeansTol times the spread of the data.
	kmeansTol = 1e-12
	// importanceFloor is the relative floor for importance weights: a weight
	// ≤ importanceFloor·max(weights) is raised to it.
	importanceFloor = 1e-12
	// Fixed seed words for k-means++; the data length and bitwidth are mixed in.
	kmeansSeed1 = 0x9e3779b97f4a7c15
	kmeansSeed2 = 0xd1b54a32d192ed03
)

// KMeansCodebook clusters the values of w into at most 2^bits shared values
// with 1-D k-means (Gong et al. 2014), weighting each value's squared error
// by weights[i] when weights is non-nil (Choi et al. 2017). It returns the
// sorted codebook and, for each w[i], the index of its nearest centroid
// (ties go to the lower centroid).
//
// The algorithm:
//   - The values are sorted once and merged into distinct values, each with
//     its total weight (its multiplicity when weights is nil). If there are
//     at most 2^bits distinct values they are the codebook, and
//     centroids[assign[i]] == w[i] exactly.
//   - Otherwise 2^bits seeds are drawn by k-means++ (Arthur & Vassilvitskii
//     2007) from a PCG generator whose seed depends only on len(w) and bits,
//     so the result is deterministic.
//   - Lloyd's iterations run until the clusters stop changing, no centroid
//     moves by more than 1e-12 of the data's spread, or 100 iterations.
//     In one dimension clusters are runs of the sorted values, so each
//     iteration is a binary search per boundary (the midpoint between
//     adjacent centroids) and a prefix-sum difference per centroid.
//   - The final centroids are the weighted means of their clusters; clusters
//     left empty are dropped, so every centroid is used.
//
// Weights ≤ 1e-12·max(weights) are raised to that floor, so every value
// counts a little; if no weight is positive all count equally.
//
// KMeansCodebook allocates O(len(w)) scratch. It panics if bits is outside
// 1..MaxBits, if weights is non-nil with a length other than len(w), or if w
// or weights holds a NaN or an infinity (Weights returns an error instead).
func KMeansCodebook(w []float64, bits int, weights []float64) (centroids []float64, assign []int) {
	centroids = kmeansCentroids(w, bits, weights)
	mids := midpoints(centroids)
	assign = make([]int, len(w))
	for i, v := range w {
		assign[i], _ = slices.BinarySearch(mids, v)
	}
	return centroids, assign
}

// kmeansInto writes each w[i]'s nearest centroid into dst.
func kmeansInto(dst, w []float64, bits int, weights []float64) {
	c := kmeansCentroids(w, bits, weights)
	mids := midpoints(c)
	for i, v := range w {
		j, _ := slices.BinarySearch(mids, v)
		dst[i] = c[j]
	}
}

// midpoints returns the k-1 decision boundaries between sorted centroids. A
// value v belongs to centroid j = #{mids < v}.
func midpoints(c []float64) []float64 {
	if len(c) < 2 {
		return nil
	}
	m := make([]float64, len(c)-1)
	for j := range m {
		m[j] = c[j]/2 + c[j+1]/2
	}
	return m
}

func kmeansCentroids(w []float64, bits int, weights []float64) []float64 {
	checkBits(bits)
	if weights != nil && len(weights) != len(w) {
		panic(errImportance)
	}
	if firstNonFinite(w) >= 0 || (weights != nil && firstNonFinite(weights) >= 0) {
		panic(errNonFinite)
	}
	if len(w) == 0 {
		return nil
	}
	u, mass := distinctSorted(w, weights)
	k := 1 << bits
	if len(u) <= k {
		return u
	}
	rng := rand.New(rand.NewPCG(kmeansSeed1^uint64(len(w)), kmeansSeed2^uint64(bits)))
	c := kmeansPlusPlus(u, mass, k, rng)
	return lloyd(u, mass, c)
}

// distinctSorted returns the distinct values of w in increasing order and the
// total importance of each.
func distinctSorted(w, weights []float64) (u, mass []float64) {
	if weights == nil {
		u = slices.Clone(w)
		slices.Sort(u)
		mass = make([]float64, 0, len(u))
		m := 0
		for i, v := range u {
			if i > 0 && v == u[m-1] {
				mass[m-1]++
				continue
			}
			u[m] = v
			mass = append(mass, 1)
			m++
		}
		return u[:m:m], mass
	}
	floor, uniformMass := importanceFloor*slices.Max(weights), false
	if !(floor > 0) {
		uniformMass = true
	}
	type pair struct{ v, h float64 }
	ps := make([]pair, len(w))
	for i, v := range w {
		h := 1.0
		if !uniformMass {
			h = max(weights[i], floor)
		}
		ps[i] = pair{v, h}
	}
	slices.SortFunc(ps, func(a, b pair) int { return cmp.Compare(a.v, b.v) })
	u = make([]float64, 0, len(ps))
	mass = make([]float64, 0, len(ps))
	for i, p := range ps {
		if i > 0 && p.v == u[len(u)-1] {
			mass[len(mass)-1] += p.h
			continue
		}
		u = append(u, p.v)
		mass = append(mass, p.h)
	}
	return u, mass
}

// kmeansPlusPlus draws k distinct seeds from the sorted distinct values u
// (len(u) > k) with probability proportional to mass·D², D the distance to
// the nearest seed so far, and returns them sorted.
//
// In one dimension a new seed at u[p] changes D only on a run of values
// around p: walking away from p, the first value already at least as close
// to another seed ends the run, and so do all values past it. D² lives in a
// Fenwick tree, so drawing and updating cost O(log len(u)) each.
func kmeansPlusPlus(u, mass []float64, k int, rng *rand.Rand) []float64 {
	m := len(u)
	tree := make(fenwick, m+1)
	tree.build(mass)
	first := tree.find(rng.Float64() * tree.sum())
	d2 := make([]float64, m)
	score := make([]float64, m)
	for i, v := range u {
		d := v - u[first]
		d2[i] = d * d
		score[i] = mass[i] * d2[i]
	}
	tree.build(score)
	chosen := make([]int, 1, k)
	chosen[0] = first
	for len(chosen) < k {
		if len(chosen)&(len(chosen)-1) == 0 {
			// Rebuild now and then so that rounding in the running sums
			// cannot build up.
			for i := range score {
				score[i] = mass[i] * d2[i]
			}
			tree.build(score)
		}
		p := -1
		if total := tree.sum(); total > 0 {
			p = tree.find(rng.Float64() * total)
		}
		if p < 0 || d2[p] == 0 {
			p = argmaxScore(mass, d2)
		}
		chosen = append(chosen, p)
		tree.add(p, -mass[p]*d2[p])
		d2[p] = 0
		for j := p + 1; j < m; j++ {
			d := u[j] - u[p]
			if d*d >= d2[j] {
				break
			}
			tree.add(j, mass[j]*(d*d-d2[j]))
			d2[j] = d * d
		}
		for j := p - 1; j >= 0; j-- {
			d := u[p] - u[j]
			if d*d >= d2[j] {
				break
			}
			tree.add(j, mass[j]*(d*d-d2[j]))
			d2[j] = d * d
		}
	}
	slices.Sort(chosen)
	c := make([]float64, k)
	for j, i := range chosen {
		c[j] = u[i]
	}
	return c
}

// argmaxScore returns the index maximising mass·d2 (the first on ties).
func argmaxScore(mass, d2 []float64) int {
	best, bi := -1.0, 0
	for i := range mass {
		if s := mass[i] * d2[i]; s > best {
			best, bi = s, i
		}
	}
	return bi
}

// lloyd runs Lloyd's iterations on sorted distinct values u with importance
// mass from the sorted centroids c, and returns the final non-empty
// centroids.
func lloyd(u, mass, c []float64) []float64 {
	m, k := len(u), len(c)
	// Prefix sums of mass and of mass·(u − shift); the shift (the weighted
	// mean) keeps the differences of prefix sums accurate.
	var tm, tmu float64
	for i, v := range u {
		tm += mass[i]
		tmu += mass[i] * v
	}
	shift := tmu / tm
	p0 := make([]float64, m+1)
	p1 := make([]float64, m+1)
	for i, v := range u {
		p0[i+1] = p0[i] + mass[i]
		p1[i+1] = p1[i] + mass[i]*(v-shift)
	}
	tol := kmeansTol * (u[m-1] - u[0])
	bounds := make([]int, k+1)
	prev := make([]int, k+1)
	for it := 0; it < kmeansMaxIter; it++ {
		clusterBounds(u, c, bounds)
		if it > 0 && slices.Equal(bounds, prev) {
			break
		}
		copy(prev, bounds)
		var moved float64
		for j := range k {
			lo, hi := bounds[j], bounds[j+1]
			if lo == hi {
				continue // an empty cluster keeps its centroid
			}
			v := shift + (p1[hi]-p1[lo])/(p0[hi]-p0[lo])
			v = min(max(v, u[lo]), u[hi-1])
			moved = max(moved, math.Abs(v-c[j]))
			c[j] = v
		}
		if moved <= tol {
			break
		}
	}
	// Final centroids: exact weighted means of the final clusters.
	clusterBounds(u, c, bounds)
	out := make([]float64, 0, k)
	for j := range k {
		lo, hi := bounds[j], bounds[j+1]
		if lo == hi {
			continue
		}
		var sm, smu float64
		for i := lo; i < hi; i++ {
			sm += mass[i]
			smu += mass[i] * u[i]
		}
		out = append(out, min(max(smu/sm, u[lo]), u[hi-1]))
	}
	return out
}

// clusterBounds sets bounds so that cluster j is u[bounds[j]:bounds[j+1]]:
// the values v with mid(c[j−1], c[j]) < v ≤ mid(c[j], c[j+1]).
func clusterBounds(u, c []float64, bounds []int) {
	k := len(c)
	bounds[0], bounds[k] = 0, len(u)
	for j := 1; j < k; j++ {
		mid := c[j-1]/2 + c[j]/2
		lo, hi := bounds[j-1], len(u)
		for lo < hi { // first index in [bounds[j-1], len(u)) with u > mid
			h := int(uint(lo+hi) >> 1)
			if u[h] > mid {
				hi = h
			} else {
				lo = h + 1
			}
		}
		bounds[j] = lo
	}
}

// fenwick is a binary indexed tree of non-negative float64 values, 1-based:
// element i of the logical array lives at index i+1.
type fenwick []float64

// build sets the tree to hold x (len(x) == len(f)-1) in O(len(x)).
func (f fenwick) build(x []float64) {
	f[0] = 0
	copy(f[1:], x)
	for i := 1; i < len(f); i++ {
		if j := i + i&-i; j < len(f) {
			f[j] += f[i]
		}
	}
}

// add adds d to element i.
func (f fenwick) add(i int, d float64) {
	for i++; i < len(f); i += i & -i {
		f[i] += d
	}
}

// sum returns the total of all elements.
func (f fenwick) sum() float64 {
	var s float64
	for i := len(f) - 1; i > 0; i -= i & -i {
		s += f[i]
	}
	return s
}

// find returns the smallest i whose prefix sum x[0]+…+x[i] exceeds r,
// clamped to the last element.
func (f fenwick) find(r float64) int {
	n := len(f) - 1
	step := 1
	for step*2 <= n {
		step *= 2
	}
	pos := 0
	for ; step > 0; step /= 2 {
		if next := pos + step; next <= n && f[next] <= r {
			pos = next
			r -= f[next]
		}
	}
	return min(pos, n-1)
}
