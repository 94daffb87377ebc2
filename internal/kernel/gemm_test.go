package kernel

import (
	"fmt"
	"math"
	"testing"
)

// naiveGemm computes alpha·op(A)·op(B) + beta·C in float64 with a triple
// loop, and the bound Σ|alpha·a·b| + |beta·c| of each entry's rounding.
func naiveGemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) (want, scale []float64) {
	want = append([]float64(nil), c...)
	scale = make([]float64, len(c))
	for i := range m {
		for j := range n {
			var s, abs float64
			for l := range k {
				var av, bv float64
				if tA {
					av = a[l*lda+i]
				} else {
					av = a[i*lda+l]
				}
				if tB {
					bv = b[j*ldb+l]
				} else {
					bv = b[l*ldb+j]
				}
				s += av * bv
				abs += math.Abs(alpha * av * bv)
			}
			old := c[i*ldc+j]
			if beta == 0 {
				old = 0 // BLAS: C is not read
			}
			want[i*ldc+j] = alpha*s + beta*old
			scale[i*ldc+j] = abs + math.Abs(beta*old)
		}
	}
	return want, scale
}

type gemmFunc[T Float] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

func gemmShapes() [][3]int {
	var s [][3]int
	small := []int{1, 7, 33}
	for _, m := range small {
		for _, n := range small {
			for _, k := range small {
				s = append(s, [3]int{m, n, k})
			}
		}
	}
	for _, o := range [][2]int{{1, 33}, {33, 1}, {33, 33}, {7, 1}} {
		s = append(s, [3]int{257, o[0], o[1]}, [3]int{o[0], 257, o[1]}, [3]int{o[0], o[1], 257})
	}
	return append(s, [3]int{257, 257, 33}, [3]int{33, 257, 257})
}

func TestGemm(t *testing.T) {
	t.Run("float64", func(t *testing.T) { testGemm(t, 1e-13, gemmVariants[float64](t)) })
	t.Run("float32", func(t *testing.T) { testGemm(t, 3e-6, gemmVariants[float32](t)) })
}

// gemmVariants returns Gemm, GemmWork.Gemm, and gemmBlocked and
// gemmParallel with every micro-kernel this CPU runs (assembly ones
// included even where a faster one would be chosen), each with its own
// block sizes and with tiny ones that make every loop of the blocked
// algorithm take several turns with partial blocks, with every choice of
// packing A and B or reading them in place.
func gemmVariants[T Float](t *testing.T) map[string]gemmFunc[T] {
	fns := map[string]gemmFunc[T]{"Gemm": teamGemm[T](nil), "Gemm/team": teamGemm[T](testTeam(t, 0)), "GemmWork": new(GemmWork[T]).Gemm}
	team3 := testTeam(t, 3)
	archs := gemmArchsFor[T]()
	names := make([]string, len(archs))
	for i, arch := range archs {
		names[i] = arch.name
		tiny := *arch
		tiny.mc, tiny.kc, tiny.nc = 2*arch.mr, 5, 3*arch.nr
		for _, ar := range []*gemmArch[T]{arch, &tiny} {
			name := arch.name
			if ar == &tiny {
				name += "/tiny-blocks"
			}
			fns[name+"/parallel3"] = blockedFunc(team3, ar, nil, gemmPlan{}, 3)
			if raceEnabled {
				// The race detector has nothing to find in the
				// single-threaded variants and makes them slow.
				continue
			}
			w := new(GemmWork[T])
			for _, plan := range []gemmPlan{{true, true}, {false, true}, {true, false}, {false, false}} {
				fns[fmt.Sprintf("%s/packA=%v,packB=%v", name, plan.packA, plan.packB)] = blockedFunc(nil, ar, w, plan, 1)
			}
		}
	}
	t.Logf("micro-kernels: %v", names)
	return fns
}

// teamGemm returns Gemm with the Team t as a gemmFunc.
func teamGemm[T Float](t *Team) gemmFunc[T] {
	return func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
		Gemm(t, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// testTeam returns a Team of workers goroutines (Workers() when < 1),
// closed when tb ends.
func testTeam(tb testing.TB, workers int) *Team {
	t := NewTeam(workers)
	tb.Cleanup(t.Close)
	return t
}

// blockedFunc returns a gemmFunc that calls gemmBlocked with w and plan
// (B packed whenever it is transposed), or gemmParallel with team when
// workers > 1.
func blockedFunc[T Float](team *Team, arch *gemmArch[T], w *GemmWork[T], plan gemmPlan, workers int) gemmFunc[T] {
	return func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
		checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
		if m == 0 || n == 0 {
			return
		}
		if k == 0 || alpha == 0 {
			scaleRows(m, n, beta, c, ldc)
			return
		}
		p := gemmProblem[T]{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
		if workers > 1 {
			gemmParallel(team, arch, workers, &gemmJob[T]{p: p})
			return
		}
		plan.packB = plan.packB || transB
		gemmBlocked(arch, w, &p, plan)
	}
}

// testGemm checks every f against naiveGemm on inputs representable in T,
// with leading dimensions above the minimum, padding that must stay
// untouched, and NaN in C when beta is 0. The error bound is
// tol·(Σ|alpha·a·b| + |beta·c|).
func testGemm[T Float](t *testing.T, tol float64, fns map[string]gemmFunc[T]) {
	testGemmShapes(t, tol, fns, gemmShapes())
}

// testGemmShapes is testGemm on the given m, n, k.
func testGemmShapes[T Float](t *testing.T, tol float64, fns map[string]gemmFunc[T], shapes [][3]int) {
	r := newRand(1)
	scalars := [][2]float64{{1, 0}, {0.7, -1.3}, {-1.5, 1}, {0.7, 0}}
	for si, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		for ti, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			// Two of the four (alpha, beta) pairs per case, in turn.
			for _, ab := range [][2]float64{scalars[(si+ti)%4], scalars[(si+ti+1)%4]} {
				alpha, beta := ab[0], ab[1]
				rowsA, colsA := m, k
				if tr[0] {
					rowsA, colsA = k, m
				}
				rowsB, colsB := k, n
				if tr[1] {
					rowsB, colsB = n, k
				}
				lda, ldb, ldc := colsA+3, colsB+1, n+2
				a := roundTo[T](randSlice(r, rowsA*lda))
				b := roundTo[T](randSlice(r, rowsB*ldb))
				c := roundTo[T](randSlice(r, m*ldc))
				if beta == 0 {
					for i := range c {
						c[i] = math.NaN()
					}
				}
				want, scale := naiveGemm(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				aT, bT := fromF64[T](a), fromF64[T](b)
				for fname, f := range fns {
					name := fmt.Sprintf("%s m%d n%d k%d tA%v tB%v alpha%v beta%v", fname, m, n, k, tr[0], tr[1], alpha, beta)
					cT := fromF64[T](c)
					f(tr[0], tr[1], m, n, k, T(alpha), aT, lda, bT, ldb, T(beta), cT, ldc)
					for i := range m {
						for j := range ldc {
							got, w := float64(cT[i*ldc+j]), want[i*ldc+j]
							if j >= n {
								// Padding between rows stays as it was.
								if got != c[i*ldc+j] && !(math.IsNaN(got) && math.IsNaN(c[i*ldc+j])) {
									t.Fatalf("%s: padding C[%d,%d] = %v was written", name, i, j, got)
								}
								continue
							}
							if d := math.Abs(got - w); !(d <= tol*scale[i*ldc+j]) {
								t.Fatalf("%s: C[%d,%d] = %v, want %v (diff %.3g)", name, i, j, got, w, d)
							}
						}
					}
				}
			}
		}
	}
}

// roundTo rounds every value to the precision of T.
func roundTo[T Float](s []float64) []float64 {
	for i, v := range s {
		s[i] = float64(T(v))
	}
	return s
}

func fromF64[T Float](s []float64) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}

func TestGemmDegenerate(t *testing.T) {
	nan := math.NaN()
	t.Run("k=0 beta=0 overwrites NaN", func(t *testing.T) {
		c := []float64{nan, nan, nan, nan}
		Gemm(nil, false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
		closeTo(t, "c", c, []float64{0, 0, 0, 0}, 0)
	})
	t.Run("k=0 scales by beta", func(t *testing.T) {
		c := []float32{1, 2, 3, 4}
		Gemm(nil, true, true, 2, 2, 0, 1, nil, 2, nil, 1, 2, c, 2)
		closeTo(t, "c", to64(c), []float64{2, 4, 6, 8}, 0)
	})
	t.Run("alpha=0 ignores NaN in A", func(t *testing.T) {
		c := []float64{nan, 5}
		Gemm(nil, false, false, 1, 2, 1, 0, []float64{nan}, 1, []float64{1, 1}, 2, 0, c, 2)
		closeTo(t, "c", c, []float64{0, 0}, 0)
	})
	t.Run("m=0 and n=0 do nothing", func(t *testing.T) {
		Gemm[float64](nil, false, false, 0, 3, 2, 1, nil, 2, make([]float64, 6), 3, 0, nil, 3)
		Gemm[float32](nil, false, false, 3, 0, 2, 1, make([]float32, 6), 2, nil, 1, 0, nil, 1)
		new(GemmWork[float64]).Gemm(false, false, 0, 0, 0, 1, nil, 1, nil, 1, 0, nil, 1)
	})
	t.Run("serial k=0 beta=0 overwrites NaN", func(t *testing.T) {
		c := []float32{float32(nan), float32(nan)}
		new(GemmWork[float32]).Gemm(false, false, 1, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
		closeTo(t, "c", to64(c), []float64{0, 0}, 0)
	})
}

type myFloat32 float32

func TestGemmNamedType(t *testing.T) {
	a := []myFloat32{1, 2, 3, 4}
	b := []myFloat32{5, 6, 7, 8}
	c := make([]myFloat32, 4)
	Gemm(nil, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	want := []myFloat32{19, 22, 43, 50}
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("c = %v, want %v", c, want)
		}
	}
	new(GemmWork[myFloat32]).Gemm(false, true, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	want = []myFloat32{17, 23, 39, 53}
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("serial c = %v, want %v", c, want)
		}
	}
}

func TestGemmPanics(t *testing.T) {
	a := make([]float64, 6)
	cases := map[string]func(){
		"negative m": func() { Gemm(nil, false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) },
		"bad lda":    func() { Gemm(nil, false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) },
		"bad ldb":    func() { Gemm(nil, false, true, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) },
		"bad ldc":    func() { Gemm(nil, false, false, 2, 3, 2, 1, a, 2, a, 3, 0, a, 2) },
		"short a":    func() { Gemm(nil, false, false, 3, 2, 3, 1, a, 3, a, 2, 0, a, 2) },
		"short c":    func() { Gemm(nil, false, false, 2, 2, 1, 1, a, 1, a, 2, 0, a[:3], 2) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { expectPanic(t, f) })
	}
}

// expectPanic fails unless f panics with a "kernel: " message.
func expectPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		s, ok := r.(string)
		if !ok || len(s) < 8 || s[:8] != "kernel: " {
			t.Fatalf("panic value %#v, want a \"kernel: ...\" message", r)
		}
	}()
	f()
}

func TestGemmAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newRand(8)
	for _, sh := range [][3]int{{16, 100, 150}, {33, 257, 7}, {300, 300, 300}} {
		m, n, k := sh[0], sh[1], sh[2]
		a, b, c := to32(randSlice(r, m*k)), to32(randSlice(r, k*n)), make([]float32, m*n)
		var w GemmWork[float32]
		w.Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) // grow the buffers
		if got := testing.AllocsPerRun(5, func() {
			w.Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			w.Gemm(true, true, m, n, k, 1, a, m, b, k, 0, c, n)
		}); got != 0 {
			t.Errorf("m%d n%d k%d: GemmWork.Gemm made %v allocations, want 0", m, n, k, got)
		}
		// Gemm draws its buffers from a pool; going parallel costs the
		// closure and goroutines of parallelFor.
		limit := float64(2 + Workers())
		if got := testing.AllocsPerRun(5, func() { Gemm(nil, false, false, m, n, k, 1, a, k, b, n, 0, c, n) }); got > limit {
			t.Errorf("m%d n%d k%d: Gemm made %v allocations, want ≤ %v", m, n, k, got, limit)
		}
	}
}
