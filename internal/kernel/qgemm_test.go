package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// naiveQGemm is C = A·B in int64, the reference of the integer kernels.
func naiveQGemm(m, n, k int, a []int8, lda int, b []uint8, ldb int) []int64 {
	c := make([]int64, m*n)
	for i := range m {
		for j := range n {
			var s int64
			for l := range k {
				s += int64(a[i*lda+l]) * int64(b[l*ldb+j])
			}
			c[i*n+j] = s
		}
	}
	return c
}

// randCodes returns n weight codes in [−127, 127] and n activation codes
// in [0, 255], a fifth of them at the extremes.
func randCodes(r *rand.Rand, n int) ([]int8, []uint8) {
	a, b := make([]int8, n), make([]uint8, n)
	for i := range n {
		switch r.IntN(5) {
		case 0:
			a[i], b[i] = int8(127*(1-2*r.IntN(2))), uint8(255*r.IntN(2))
		default:
			a[i], b[i] = int8(r.IntN(255)-127), uint8(r.IntN(256))
		}
	}
	return a, b
}

// TestQGemm checks QGemm, with every integer micro-kernel this CPU runs,
// against int64 arithmetic on odd shapes, for exact equality.
func TestQGemm(t *testing.T) {
	r := newRand(11)
	shapes := [][3]int{{1, 1, 1}, {1, 16, 2}, {6, 16, 7}, {7, 17, 3}, {5, 33, 9}, {13, 40, 64}, {2, 3, 257}, {17, 31, 150}}
	for _, arch := range qArchs {
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			lda, ldb, ldc := k+3, n+5, n+2
			a, _ := randCodes(r, m*lda)
			_, b := randCodes(r, k*ldb)
			c := make([]int32, m*ldc)
			for i := range c {
				c[i] = -7
			}
			qGemmWith(arch, m, n, k, a, lda, b, ldb, c, ldc)
			want := naiveQGemm(m, n, k, a, lda, b, ldb)
			for i := range m {
				for j := range ldc {
					got := c[i*ldc+j]
					if j >= n {
						if got != -7 {
							t.Fatalf("%s %v: C[%d,%d] past n was written", arch.name, s, i, j)
						}
						continue
					}
					if int64(got) != want[i*n+j] {
						t.Fatalf("%s %v: C[%d,%d] = %d, want %d", arch.name, s, i, j, got, want[i*n+j])
					}
				}
			}
		}
	}
}

// TestQGemmExtremes drives every accumulator lane to the bound of the
// exactness argument: K = QMaxDepth products of 127·255 (and of −127·255)
// must sum to ±QMaxDepth·32385 without wrapping.
func TestQGemmExtremes(t *testing.T) {
	k := QMaxDepth
	if testing.Short() {
		k = 4099
	}
	for _, arch := range qArchs {
		for _, sign := range []int8{1, -1} {
			m, n := qMR, qNR+1
			a := make([]int8, m*k)
			for i := range a {
				a[i] = 127 * sign
			}
			b := make([]uint8, k*n)
			for i := range b {
				b[i] = 255
			}
			c := make([]int32, m*n)
			qGemmWith(arch, m, n, k, a, k, b, n, c, n)
			want := int64(k) * 127 * 255 * int64(sign)
			for i, v := range c {
				if int64(v) != want {
					t.Fatalf("%s sign %d: C[%d] = %d, want %d", arch.name, sign, i, v, want)
				}
			}
		}
	}
	if int64(QMaxDepth)*127*255 > 1<<31-1 || int64(QMaxDepth+1)*127*255 <= 1<<31-1 {
		t.Fatalf("QMaxDepth = %d is not the largest exact depth", QMaxDepth)
	}
}

// TestQMicroKernels compares each assembly micro-kernel with the generic
// one on rows read at scattered offsets, odd depths, every row count and
// one or several panels of columns.
// TestQMicroKernels checks each assembly kernel set this CPU runs against
// the generic one (the AVX-512 VNNI set only on CPUs that have it: no
// interpreter checks it elsewhere).
func TestQMicroKernels(t *testing.T) {
	r := newRand(12)
	generic := qArchs[len(qArchs)-1]
	for _, arch := range qArchs[:len(qArchs)-1] {
		t.Logf("checking the %s kernels", arch.name)
		for rows := 1; rows <= qMR; rows++ {
			for _, kp := range []int{1, 2, 5, 33} {
				for _, np := range []int{1, 3} {
					a, _ := randCodes(r, 2*qMR*kp)
					panel := make([]int16, len(a))
					for i, v := range a {
						panel[i] = int16(v)
					}
					_, src := randCodes(r, 4096)
					off := make([]int, 2*kp)
					for i := range off {
						off[i] = r.IntN(len(src) - np*qNR)
					}
					ldc := np*qNR + 3
					got, want := make([]int32, rows*ldc), make([]int32, rows*ldc)
					arch.kernels[rows](kp, &panel[0], &src[0], &off[0], &got[0], ldc, np)
					generic.kernels[rows](kp, &panel[0], &src[0], &off[0], &want[0], ldc, np)
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s x%d kp=%d np=%d: C[%d] = %d, want %d", arch.name, rows, kp, np, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

func ExampleQGemm() {
	a := []int8{1, -2, 127, 3, 0, -127} // 2×3
	b := []uint8{255, 0, 1, 2, 3, 255}  // 3×2
	c := make([]int32, 4)
	QGemm(2, 2, 3, a, 3, b, 2, c, 2)
	fmt.Println(c)
	// Output: [634 32381 384 -32385]
}

// TestQQuadKernels checks every quad micro-kernel the CPU runs (int8
// weights in quads of k, VPDPBUSD) against the sums done in Go, on depths
// of 1 to 36 quads, every row count, codes over the whole int8 and uint8
// ranges and row offsets anywhere in the source, with a C stride wider
// than the tiles.
func TestQQuadKernels(t *testing.T) {
	r := newRand(31)
	tested := false
	for _, arch := range qArchs {
		if arch.quads == nil {
			continue
		}
		tested = true
		for _, kq := range []int{1, 2, 7, 36} {
			for rows := 1; rows <= qQuadMR; rows++ {
				np := 3
				a := make([]int8, kq*4*qQuadMR)
				for i := range a {
					a[i] = int8(r.IntN(255) - 127)
				}
				x := make([]uint8, 4096)
				for i := range x {
					x[i] = uint8(r.IntN(256))
				}
				off := make([]int, 4*kq)
				for i := range off {
					off[i] = r.IntN(len(x) - np*qNR)
				}
				ldc := np*qNR + 5
				c := make([]int32, rows*ldc)
				arch.quads[rows](kq, &a[0], &x[0], &off[0], &c[0], ldc, np)
				for i := range rows {
					for j := range np * qNR {
						var s int32
						for p := range kq {
							for u := range 4 {
								s += int32(a[p*4*qQuadMR+4*i+u]) * int32(x[off[4*p+u]+j])
							}
						}
						if c[i*ldc+j] != s {
							t.Fatalf("%s: kq %d rows %d: c[%d][%d] = %d, want %d", arch.name, kq, rows, i, j, c[i*ldc+j], s)
						}
					}
				}
			}
		}
	}
	if !tested {
		t.Skip("no quad kernels on this CPU")
	}
}
