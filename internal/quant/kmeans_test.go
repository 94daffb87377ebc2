package quant

import (
	"math"
	"slices"
	"testing"
)

func TestKMeansHand(t *testing.T) {
	w := []float64{0, 1, 2, 10, 11, 12}
	for _, tc := range []struct {
		name    string
		method  Method
		bits    int
		w, hess []float64
		want    []float64
		tol     float64
	}{
		{
			// Two clusters {0,1,2} and {10,11,12}: every k-means++ seed pair
			// converges to their means 1 and 11.
			name: "two clusters", method: KMeans, bits: 1, w: w,
			want: []float64{1, 1, 1, 11, 11, 11},
		},
		{
			// Hessian weights 1,1,8 on {10,11,12} pull the centroid to
			// (10 + 11 + 8·12)/10 = 11.7.
			name: "hessian pulls", method: KMeansHessian, bits: 1, w: w,
			hess: []float64{1, 1, 1, 1, 1, 8},
			want: []float64{1, 1, 1, 11.7, 11.7, 11.7}, tol: 1e-14,
		},
		{
			// Importances ≤ 0 are floored at 1e-12·max = 1e-12 each: the
			// weighted optimum gives 10, 11 and 12 a centroid each (error 0)
			// and the nearly weightless {0, 1, 2} the fourth, at their
			// plain mean since their floors are equal.
			name: "non-positive hessian", method: KMeansHessian, bits: 2, w: w,
			hess: []float64{0, -1, 0, 1, 1, 1},
			want: []float64{1, 1, 1, 10, 11, 12}, tol: 1e-12,
		},
		{
			// No positive importance: all count equally.
			name: "all-zero hessian", method: KMeansHessian, bits: 1, w: w,
			hess: make([]float64, 6),
			want: []float64{1, 1, 1, 11, 11, 11},
		},
		{
			// Three distinct values fit in 2^2 centroids: exact.
			name: "few distinct", method: KMeans, bits: 2,
			w:    []float64{3, 1, 3, -2, 1, -2, -2},
			want: []float64{3, 1, 3, -2, 1, -2, -2},
		},
		{
			name: "few distinct hessian", method: KMeansHessian, bits: 1,
			w: []float64{0.25, -7, 0.25}, hess: []float64{5, 0, 1},
			want: []float64{0.25, -7, 0.25},
		},
		{
			// A single repeated value is its own codebook.
			name: "constant", method: KMeans, bits: 3,
			w:    []float64{4, 4, 4},
			want: []float64{4, 4, 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float64, len(tc.w))
			if err := Weights(dst, tc.w, 1, WeightSpec{tc.method, tc.bits}, tc.hess); err != nil {
				t.Fatal(err)
			}
			sameFloats(t, dst, tc.want, tc.tol)
		})
	}
}

func TestKMeansCodebookHand(t *testing.T) {
	c, a := KMeansCodebook([]float64{12, 0, 11, 1, 10, 2}, 1, nil)
	sameFloats(t, c, []float64{1, 11}, 0)
	if !slices.Equal(a, []int{1, 0, 1, 0, 1, 0}) {
		t.Fatalf("assign = %v", a)
	}
	c, a = KMeansCodebook(nil, 4, nil)
	if len(c) != 0 || len(a) != 0 {
		t.Fatalf("empty input: %v, %v", c, a)
	}
	mustPanic(t, errBits, func() { KMeansCodebook([]float64{1}, 0, nil) })
	mustPanic(t, errBits, func() { KMeansCodebook([]float64{1}, 17, nil) })
	mustPanic(t, errImportance, func() { KMeansCodebook([]float64{1, 2}, 1, []float64{1}) })
	mustPanic(t, errNonFinite, func() { KMeansCodebook([]float64{1, math.NaN()}, 1, nil) })
	mustPanic(t, errNonFinite, func() { KMeansCodebook([]float64{1, 2}, 1, []float64{1, math.Inf(1)}) })
}

// TestKMeansFixpoint checks, on random layers, Lloyd's fixpoint: sorted,
// used centroids, at most 2^bits of them, each the (weighted) mean of its
// cluster, and each weight assigned to a nearest centroid.
func TestKMeansFixpoint(t *testing.T) {
	rng := newRand(5)
	for _, bits := range []int{1, 2, 3, 4, 6} {
		for _, weighted := range []bool{false, true} {
			w := normals(rng, 5000, 0.02)
			var hess []float64
			if weighted {
				hess = make([]float64, len(w))
				for i := range hess {
					hess[i] = rng.ExpFloat64()
				}
			}
			c, a := KMeansCodebook(w, bits, hess)
			if len(c) > 1<<bits || len(c) == 0 {
				t.Fatalf("bits %d: %d centroids", bits, len(c))
			}
			if !slices.IsSorted(c) {
				t.Fatalf("bits %d: centroids not sorted: %v", bits, c)
			}
			sum := make([]float64, len(c))
			mass := make([]float64, len(c))
			for i, v := range w {
				h := 1.0
				if weighted {
					h = hess[i]
				}
				sum[a[i]] += h * v
				mass[a[i]] += h
				d := math.Abs(v - c[a[i]])
				for _, other := range c {
					if math.Abs(v-other) < d {
						t.Fatalf("bits %d: %v assigned to %v, %v is nearer", bits, v, c[a[i]], other)
					}
				}
			}
			for j := range c {
				if mass[j] == 0 {
					t.Fatalf("bits %d: centroid %d unused", bits, j)
				}
				// Lloyd's iterations in 1-D can creep: after the 100
				// allowed, a centroid may still be a small fraction of the
				// gap to its neighbours away from its cluster's mean.
				gap := math.Inf(1)
				if j > 0 {
					gap = c[j] - c[j-1]
				}
				if j+1 < len(c) {
					gap = math.Min(gap, c[j+1]-c[j])
				}
				if m := sum[j] / mass[j]; math.Abs(m-c[j]) > 0.02*gap {
					t.Fatalf("bits %d weighted %v: centroid %v, cluster mean %v", bits, weighted, c[j], m)
				}
			}
		}
	}
}

// TestKMeansDeterministic checks that repeated calls agree bit for bit, and
// that Weights matches KMeansCodebook.
func TestKMeansDeterministic(t *testing.T) {
	w := normals(newRand(9), 20000, 0.1)
	first := make([]float64, len(w))
	if err := Weights(first, w, 4, WeightSpec{KMeans, 3}, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again := make([]float64, len(w))
		if err := Weights(again, w, 4, WeightSpec{KMeans, 3}, nil); err != nil {
			t.Fatal(err)
		}
		sameFloats(t, again, first, 0)
	}
	c, a := KMeansCodebook(w, 3, nil)
	for i := range w {
		if c[a[i]] != first[i] {
			t.Fatalf("weight %d: codebook %v, Weights %v", i, c[a[i]], first[i])
		}
	}
}

// TestKMeansBeatsUniform checks the objective: on Gaussian weights, 2^b
// shared values have a smaller squared error than the 2^b−1 uniform levels,
// and Hessian weighting lowers the weighted error.
func TestKMeansBeatsUniform(t *testing.T) {
	rng := newRand(13)
	w := normals(rng, 50000, 0.05)
	hess := make([]float64, len(w))
	for i, v := range w {
		hess[i] = 1 + 100*math.Abs(v) // heavy weights in the tails
	}
	sse := func(m Method, weighted bool) float64 {
		dst := make([]float64, len(w))
		if err := Weights(dst, w, 1, WeightSpec{m, 3}, hess); err != nil {
			t.Fatal(err)
		}
		var s float64
		for i := range w {
			d := dst[i] - w[i]
			if weighted {
				d *= math.Sqrt(hess[i])
			}
			s += d * d
		}
		return s
	}
	if u, k := sse(Uniform, false), sse(KMeans, false); !(k < 0.8*u) {
		t.Errorf("k-means SSE %v, uniform %v", k, u)
	}
	if k, kh := sse(KMeans, true), sse(KMeansHessian, true); !(kh < k) {
		t.Errorf("weighted SSE: kmeans-hessian %v, kmeans %v", kh, k)
	}
}

// TestKMeansManyCentroids exercises large codebooks (k-means++ with the
// Fenwick tree over many updates).
func TestKMeansManyCentroids(t *testing.T) {
	w := normals(newRand(17), 30000, 1)
	for _, bits := range []int{10, 14} {
		c, a := KMeansCodebook(w, bits, nil)
		if len(c) > 1<<bits || !slices.IsSorted(c) {
			t.Fatalf("bits %d: %d centroids, sorted %v", bits, len(c), slices.IsSorted(c))
		}
		var sse float64
		for i, v := range w {
			d := v - c[a[i]]
			sse += d * d
		}
		// 2^10 levels over ~8σ: uniform spacing 8/1024 gives an MSE of
		// about spacing²/12 ≈ 5e-6; k-means should do at least that well.
		if mse := sse / float64(len(w)); mse > 5e-6 {
			t.Errorf("bits %d: MSE %v", bits, mse)
		}
	}
}
