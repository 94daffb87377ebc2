package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// This file holds the naive reference implementations the kernels are
// checked against, and test helpers.

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6d7071)) }

// randSlice returns n values uniform in [-1, 1).
func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*r.Float64() - 1
	}
	return s
}

func to32(s []float64) []float32 {
	if s == nil {
		return nil
	}
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

func to64(s []float32) []float64 {
	if s == nil {
		return nil
	}
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

// closeTo fails the test at the first element where got and want differ
// by more than tol·(1 + |want|).
func closeTo(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", name, len(got), len(want))
	}
	for i := range got {
		if got[i] == want[i] || (math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			continue
		}
		if d := math.Abs(got[i] - want[i]); !(d <= tol*(1+math.Abs(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v (diff %.3g, tol %.3g)", name, i, got[i], want[i], d, tol)
		}
	}
}

// workFor returns k ConvWork values for g.
func workFor[T Float](g Conv2D, k int) []*ConvWork[T] {
	w := make([]*ConvWork[T], k)
	for i := range w {
		w[i] = NewConvWork[T](g)
	}
	return w
}

// naiveConv is the direct 7-loop convolution.
func naiveConv(g Conv2D, n int, x, w, bias []float64) []float64 {
	oh, ow := g.OutH(), g.OutW()
	cg, mg := g.C/g.Group, g.M/g.Group
	y := make([]float64, n*g.M*oh*ow)
	for b := range n {
		for m := range g.M {
			gi := m / mg
			for i := range oh {
				for j := range ow {
					var s float64
					if bias != nil {
						s = bias[m]
					}
					for c := range cg {
						ci := gi*cg + c
						for kh := range g.KH {
							for kw := range g.KW {
								ih := i*g.StrideH - g.PadTop + kh*g.DilH
								iw := j*g.StrideW - g.PadLeft + kw*g.DilW
								if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								s += x[((b*g.C+ci)*g.H+ih)*g.W+iw] * w[((m*cg+c)*g.KH+kh)*g.KW+kw]
							}
						}
					}
					y[((b*g.M+m)*oh+i)*ow+j] = s
				}
			}
		}
	}
	return y
}

// naiveConvBackward is the adjoint of naiveConv, loop by loop.
func naiveConvBackward(g Conv2D, n int, x, w, dy []float64) (dx, dw, db []float64) {
	oh, ow := g.OutH(), g.OutW()
	cg, mg := g.C/g.Group, g.M/g.Group
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, g.M)
	for b := range n {
		for m := range g.M {
			gi := m / mg
			for i := range oh {
				for j := range ow {
					gy := dy[((b*g.M+m)*oh+i)*ow+j]
					db[m] += gy
					for c := range cg {
						ci := gi*cg + c
						for kh := range g.KH {
							for kw := range g.KW {
								ih := i*g.StrideH - g.PadTop + kh*g.DilH
								iw := j*g.StrideW - g.PadLeft + kw*g.DilW
								if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								xi := ((b*g.C+ci)*g.H+ih)*g.W + iw
								wi := ((m*cg+c)*g.KH+kh)*g.KW + kw
								dx[xi] += w[wi] * gy
								dw[wi] += x[xi] * gy
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

// naivePool computes max or average pooling by visiting every tap of every
// window and testing it against the input and padded-input bounds. For
// max pooling it also returns the argmax (first maximum, −1 if empty).
func naivePool(p Pool2D, n int, x []float64, isMax bool) ([]float64, []int32) {
	oh, ow := p.OutH(), p.OutW()
	y := make([]float64, n*p.C*oh*ow)
	arg := make([]int32, len(y))
	for pl := range n * p.C {
		for i := range oh {
			for j := range ow {
				best, bi := math.Inf(-1), -1
				var sum float64
				var inside, padded int
				for kh := range p.KH {
					for kw := range p.KW {
						ih := i*p.StrideH - p.PadTop + kh*p.DilH
						iw := j*p.StrideW - p.PadLeft + kw*p.DilW
						if ih >= -p.PadTop && ih < p.H+p.PadBottom && iw >= -p.PadLeft && iw < p.W+p.PadRight {
							padded++
						}
						if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
							continue
						}
						inside++
						v := x[pl*p.H*p.W+ih*p.W+iw]
						sum += v
						if v > best {
							best, bi = v, ih*p.W+iw
						}
					}
				}
				o := (pl*oh+i)*ow + j
				if isMax {
					y[o], arg[o] = best, int32(bi)
					continue
				}
				div := inside
				if p.CountIncludePad {
					div = padded
				}
				if div > 0 {
					y[o] = sum / float64(div)
				}
			}
		}
	}
	return y, arg
}

// naiveAvgBackward is the adjoint of average pooling in naivePool: each
// output gradient is spread over its window's input cells.
func naiveAvgBackward(p Pool2D, n int, dy []float64) []float64 {
	oh, ow := p.OutH(), p.OutW()
	dx := make([]float64, n*p.C*p.H*p.W)
	for pl := range n * p.C {
		for i := range oh {
			for j := range ow {
				var cells []int
				var padded int
				for kh := range p.KH {
					for kw := range p.KW {
						ih := i*p.StrideH - p.PadTop + kh*p.DilH
						iw := j*p.StrideW - p.PadLeft + kw*p.DilW
						if ih >= -p.PadTop && ih < p.H+p.PadBottom && iw >= -p.PadLeft && iw < p.W+p.PadRight {
							padded++
						}
						if ih >= 0 && ih < p.H && iw >= 0 && iw < p.W {
							cells = append(cells, pl*p.H*p.W+ih*p.W+iw)
						}
					}
				}
				div := len(cells)
				if p.CountIncludePad {
					div = padded
				}
				for _, c := range cells {
					dx[c] += dy[(pl*oh+i)*ow+j] / float64(div)
				}
			}
		}
	}
	return dx
}

func convName(g Conv2D) string {
	return fmt.Sprintf("C%dH%dW%dM%d_k%dx%d_s%dx%d_p%d,%d,%d,%d_d%dx%d_g%d",
		g.C, g.H, g.W, g.M, g.KH, g.KW, g.StrideH, g.StrideW,
		g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilH, g.DilW, g.Group)
}

func poolName(p Pool2D) string {
	return fmt.Sprintf("C%dH%dW%d_k%dx%d_s%dx%d_p%d,%d,%d,%d_d%dx%d_ceil%v_inc%v",
		p.C, p.H, p.W, p.KH, p.KW, p.StrideH, p.StrideW,
		p.PadTop, p.PadLeft, p.PadBottom, p.PadRight, p.DilH, p.DilW, p.CeilMode, p.CountIncludePad)
}
