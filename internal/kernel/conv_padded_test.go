package kernel

import (
	"fmt"
	"math"
	"testing"
)

// TestConvPadded runs the padded-layout convolution, forward and
// backward, on every test geometry but the depthwise ones (whatever path
// ConvForward would pick), float32 and float64, batch 1 and 3, against the
// naive loops. One ConvWork serves every geometry, so the cached offsets
// must follow the geometry.
func TestConvPadded(t *testing.T) {
	if raceEnabled {
		// Single-threaded: the race detector has nothing to find here,
		// and TestConvForward and TestConvBackward run the padded path
		// on several workers.
		t.Skip("single-threaded")
	}
	t.Run("float64", func(t *testing.T) { testConvPadded[float64](t, 1e-12) })
	t.Run("float32", func(t *testing.T) { testConvPadded[float32](t, 2e-5) })
}

func testConvPadded[T Float](t *testing.T, tol float64) {
	r := newRand(8)
	wk := &ConvWork[T]{}
	convs := allConvs()
	if testing.Short() {
		convs = namedConvs()
	}
	convs["big pads"] = Conv2D{C: 2, H: 3, W: 4, M: 3, KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadTop: 3, PadLeft: 4, PadBottom: 2, PadRight: 5, DilH: 3, DilW: 1, Group: 1}
	convs["stride 3x2 dilation 2"] = Conv2D{C: 5, H: 11, W: 10, M: 4, KH: 3, KW: 3, StrideH: 3, StrideW: 2, PadTop: 1, PadLeft: 2, PadBottom: 0, PadRight: 1, DilH: 2, DilW: 2, Group: 1}
	convs["odd sizes groups"] = Conv2D{C: 9, H: 13, W: 9, M: 6, KH: 3, KW: 5, StrideH: 2, StrideW: 1, PadTop: 1, PadLeft: 2, PadBottom: 1, PadRight: 2, DilH: 1, DilW: 1, Group: 3}
	convs["wide 1x1 stride 2"] = Conv2D{C: 17, H: 9, W: 9, M: 33, KH: 1, KW: 1, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, Group: 1}
	for name, g := range convs {
		if g.depthwise() {
			continue
		}
		d := g.dims()
		batches := []int{1, 3}
		if testing.Short() {
			batches = batches[1:]
		}
		for _, n := range batches {
			x := roundTo[T](randSlice(r, n*g.C*d.hw))
			w := roundTo[T](randSlice(r, g.M*d.k))
			bias := roundTo[T](randSlice(r, g.M))
			dy := roundTo[T](randSlice(r, n*g.M*d.p))
			xT, wT, bT, dyT := fromF64[T](x), fromF64[T](w), fromF64[T](bias), fromF64[T](dy)
			prefix := fmt.Sprintf("%s n%d", name, n)

			for _, withQ := range []bool{false, true} {
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
				for img := range n {
					convImagePadded(g, d, xT[img*g.C*d.hw:(img+1)*g.C*d.hw], wT, bT, y[img*g.M*d.p:(img+1)*g.M*d.p], q, wk, false)
				}
				closeTo(t, fmt.Sprintf("%s q%v: y", prefix, withQ), toF64(y), want, tol)
			}

			wantDx, wantDw, wantDb := naiveConvBackward(g, n, x, w, dy)
			for _, need := range [][3]bool{{true, true, true}, {true, false, false}, {false, true, false}} {
				var dx []T
				if need[0] {
					dx = nanSlice[T](len(x))
				}
				convBackwardPadded(g, d, xT, wT, dyT, dx, need[1], need[2], wk, 0, n)
				p := fmt.Sprintf("%s need%v", prefix, need)
				if need[0] {
					closeTo(t, p+": dx", toF64(dx), wantDx, tol)
				}
				if need[1] {
					closeTo(t, p+": dw", toF64(wk.dw), wantDw, tol*float64(n))
				}
				if need[2] {
					closeTo(t, p+": db", toF64(wk.db), wantDb, tol*float64(n))
				}
			}
		}
	}
}

// TestImplicitGemm checks implicitGemm, with every micro-kernel set this
// CPU runs, against the plain sum on odd shapes (depths past one block of
// kc, rows past one block of mc), and the indirect kernels, which read B
// in place, against packing B, bit for bit.
func TestImplicitGemm(t *testing.T) {
	testImplicitGemm[float32](t, 1e-4)
	testImplicitGemm[float64](t, 1e-12)
}

func testImplicitGemm[T Float](t *testing.T, tol float64) {
	r := newRand(41)
	for _, arch := range gemmArchsFor[T]() {
		packed := *arch
		packed.ind = nil
		for _, s := range [][3]int{{1, 1, 1}, {7, 33, 5}, {13, 257, 144}, {130, 40, 300}, {9, 7, 600}} {
			m, n, k := s[0], s[1], s[2]
			a := make([]T, m*k)
			for i, v := range randSlice(r, m*k) {
				a[i] = T(v)
			}
			src := make([]T, 2048)
			for i, v := range randSlice(r, len(src)) {
				src[i] = T(v)
			}
			off := make([]int, k)
			for l := range off {
				off[l] = r.IntN(len(src) - roundUp(n, arch.nr) - n)
			}
			for _, ldc := range []int{n + 3, roundUp(n, arch.nr)} { // the second stores whole tiles
				got := make([]T, m*ldc)
				var w GemmWork[T]
				implicitGemm(arch, &w, m, n, k, a, src, off, got, ldc)
				for i := range m {
					for j := range n {
						var want float64
						for l := range k {
							want += float64(a[i*k+l]) * float64(src[off[l]+j])
						}
						if d := math.Abs(float64(got[i*ldc+j]) - want); d > tol*(1+math.Abs(want))*float64(k) {
							t.Fatalf("%s %T m=%d n=%d k=%d: C[%d,%d] = %v, want %v", arch.name, got[0], m, n, k, i, j, got[i*ldc+j], want)
						}
					}
				}
				if arch.ind == nil {
					continue
				}
				ref := make([]T, m*ldc)
				implicitGemm(&packed, &w, m, n, k, a, src, off, ref, ldc)
				for i := range m {
					for j := range n {
						if got[i*ldc+j] != ref[i*ldc+j] {
							t.Fatalf("%s %T m=%d n=%d k=%d ldc=%d: indirect C[%d,%d] = %v, packed %v", arch.name, got[0], m, n, k, ldc, i, j, got[i*ldc+j], ref[i*ldc+j])
						}
					}
				}
			}
		}
	}
}
