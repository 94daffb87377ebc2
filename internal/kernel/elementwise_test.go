package kernel

import (
	"math"
	"slices"
	"testing"
)

// specials are the values whose handling the vector kernels must get
// exactly as the scalar loop does.
var specials = []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1), -1e-30, 1e-30, -3, 2.5}

// fillSpecial puts a special value in every fifth element of s.
func fillSpecial(s []float32) {
	for i := 0; i < len(s); i += 5 {
		s[i] = float32(specials[(i/5)%len(specials)])
	}
}

func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func TestAdd(t *testing.T) {
	r := newRand(31)
	for n := range 41 {
		a, b := to32(randSlice(r, n+3)), to32(randSlice(r, n+3))
		fillSpecial(a)
		fillSpecial(b[1:])
		for _, relu := range []bool{false, true} {
			y := make([]float32, n)
			Add(y, a, b, relu)
			for i := range y {
				want := a[i] + b[i]
				if relu && want < 0 {
					want = 0
				}
				if !sameBits(y[i], want) {
					t.Fatalf("n=%d relu=%v: y[%d] = %v (%#x), want %v (%#x)", n, relu, i, y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
				}
			}
			// In place, and in float64 (the generic loop).
			in := append([]float32(nil), a[:n]...)
			Add(in, in, b, relu)
			for i := range in {
				if !sameBits(in[i], y[i]) {
					t.Fatalf("n=%d relu=%v in place: y[%d] = %v, want %v", n, relu, i, in[i], y[i])
				}
			}
			y64 := make([]float64, n)
			Add(y64, to64(a), to64(b), relu)
			for i := range y64 {
				want := float64(a[i]) + float64(b[i])
				if relu && want < 0 {
					want = 0
				}
				if math.Float64bits(y64[i]) != math.Float64bits(want) {
					t.Fatalf("float64 n=%d relu=%v: y[%d] = %v, want %v", n, relu, i, y64[i], want)
				}
			}
		}
	}
}

// TestBiasRows checks biasRows (AVX2 where the CPU has it) against the
// scalar sum bit for bit: short and long rows, padded rows, blocks of per
// rows with and without a gap between them, a nil bias, and a guard on
// either side of dst.
func TestBiasRows(t *testing.T) {
	r := newRand(32)
	negZero := float32(math.Copysign(0, -1))
	biases := []float32{0, negZero, 0.75, -0.5, 3e38}
	for _, rows := range []int{1, 2, 7, 12} {
		for width := 1; width <= 20; width++ {
			for _, pad := range []int{0, 3} {
				for _, per := range []int{1, 3, rows} {
					for _, gap := range []int{0, 5, 17} {
						for _, nilBias := range []bool{false, true} {
							ld := width + pad
							lb := per*ld + gap
							blocks := (rows + per - 1) / per
							src := to32(randSlice(r, blocks*lb))
							fillSpecial(src)
							var bias []float32
							if !nilBias {
								bias = make([]float32, blocks)
								for i := range bias {
									bias[i] = biases[(i+width)%len(biases)]
								}
							}
							for _, relu := range []bool{false, true} {
								// A guard value on either side catches writes outside the rows.
								buf := make([]float32, rows*width+2)
								for i := range buf {
									buf[i] = 42
								}
								dst := buf[1 : 1+rows*width]
								biasRows(dst, src, rows, width, ld, lb, bias, per, relu)
								if buf[0] != 42 || buf[len(buf)-1] != 42 {
									t.Fatalf("rows=%d width=%d: wrote outside dst", rows, width)
								}
								for row := range rows {
									var b float32
									if bias != nil {
										b = bias[row/per]
									}
									for i := range width {
										v := src[row/per*lb+row%per*ld+i]
										want := v + b
										if b == 0 {
											want = v // a zero bias keeps −0
										}
										if relu && want < 0 {
											want = 0
										}
										if got := dst[row*width+i]; !sameBits(got, want) {
											t.Fatalf("rows=%d width=%d ld=%d lb=%d per=%d b=%v relu=%v: [%d,%d] = %v (%#x), want %v (%#x)",
												rows, width, ld, lb, per, b, relu, row, i, got, math.Float32bits(got), want, math.Float32bits(want))
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestPlaceRows places rows into a zeroed plane (as padImage does with
// its padding) for both strides, short and long rows and planes that end
// right after the last row, and checks the whole plane and a guard after
// it.
func TestPlaceRows(t *testing.T) {
	r := newRand(33)
	for _, stride := range []int{1, 2, 3} {
		for n := 1; n <= 19; n++ {
			for _, rows := range []int{1, 2, 5} {
				for _, extra := range []int{0, 1, 2, 9} { // columns of padding per row
					for _, tail := range []int{0, 3, 40} { // plane left after the last row
						ldd := n + extra
						lds := n*stride + r.IntN(3)
						src := to32(randSlice(r, (rows-1)*lds+(n-1)*stride+1+r.IntN(20)))
						fillSpecial(src)
						size := (rows-1)*ldd + n + tail
						buf := make([]float32, size+1)
						buf[size] = 42
						placeRows(buf[:size], src, rows, n, ldd, lds, stride)
						want := make([]float32, size)
						for row := range rows {
							for i := range n {
								want[row*ldd+i] = src[row*lds+i*stride]
							}
						}
						for i := range want {
							if !sameBits(buf[i], want[i]) {
								t.Fatalf("stride=%d n=%d rows=%d ldd=%d tail=%d: dst[%d] = %v, want %v", stride, n, rows, ldd, tail, i, buf[i], want[i])
							}
						}
						if buf[size] != 42 {
							t.Fatalf("stride=%d n=%d rows=%d: wrote past the plane", stride, n, rows)
						}
					}
				}
			}
		}
	}
}

// TestPlaceBlocks checks placeBlocks and placeBlocksU8, the phase plane
// of every channel in one call, against the rows placed one by one: each
// block's values inside its span, and the guard values between one
// block's span and the next block untouched.
func TestPlaceBlocks(t *testing.T) {
	r := newRand(35)
	for _, stride := range []int{1, 2, 3} {
		for n := 1; n <= 19; n += 3 {
			for _, rows := range []int{1, 3, 5} {
				for _, blocks := range []int{1, 2, 5} {
					for _, tail := range []int{0, 3, 40} {
						ldd := n + r.IntN(3)
						lds := n*stride + r.IntN(3)
						span := (rows-1)*ldd + n + tail
						bd := span + r.IntN(4)
						bs := (rows-1)*lds + (n-1)*stride + 1 + r.IntN(5)
						src := to32(randSlice(r, (blocks-1)*bs+(rows-1)*lds+(n-1)*stride+1+r.IntN(20)))
						fillSpecial(src)
						codes := make([]uint8, len(src))
						for i := range codes {
							codes[i] = uint8(r.IntN(256))
						}
						size := (blocks-1)*bd + span
						buf, bufU8 := make([]float32, size+1), make([]uint8, size+1)
						for i := range buf {
							buf[i], bufU8[i] = 42, 42
						}
						for b := range blocks {
							clear(buf[b*bd : b*bd+span])
							for i := b * bd; i < b*bd+span; i++ {
								bufU8[i] = 7
							}
						}
						want, wantU8 := slices.Clone(buf), slices.Clone(bufU8)
						for b := range blocks {
							for row := range rows {
								for i := range n {
									want[b*bd+row*ldd+i] = src[b*bs+row*lds+i*stride]
									wantU8[b*bd+row*ldd+i] = codes[b*bs+row*lds+i*stride]
								}
							}
						}
						placeBlocks(buf[:size], src, blocks, rows, n, ldd, lds, stride, bd, bs, span)
						placeBlocksU8(bufU8[:size], codes, blocks, rows, n, ldd, lds, stride, bd, bs, span, 7)
						for i := range want {
							if !sameBits(buf[i], want[i]) || bufU8[i] != wantU8[i] {
								t.Fatalf("stride=%d n=%d rows=%d blocks=%d bd=%d span=%d: [%d] = %v / %d, want %v / %d",
									stride, n, rows, blocks, bd, span, i, buf[i], bufU8[i], want[i], wantU8[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestPlaceRowsU8 is TestPlaceRows for codes (placeBlocksU8 with one
// block), with the padding code 7.
func TestPlaceRowsU8(t *testing.T) {
	r := newRand(34)
	const pad = 7
	for _, stride := range []int{1, 2, 3} {
		for n := 1; n <= 35; n++ {
			for _, rows := range []int{1, 2, 5} {
				for _, extra := range []int{0, 1, 2, 17} {
					for _, tail := range []int{0, 3, 40} {
						ldd := n + extra
						lds := n*stride + r.IntN(3)
						src := make([]uint8, (rows-1)*lds+(n-1)*stride+1+r.IntN(40))
						for i := range src {
							src[i] = uint8(r.IntN(256))
						}
						size := (rows-1)*ldd + n + tail
						buf := make([]uint8, size+1)
						for i := range buf {
							buf[i] = pad
						}
						buf[size] = 42
						placeBlocksU8(buf[:size], src, 1, rows, n, ldd, lds, stride, 0, 0, size, pad)
						want := make([]uint8, size)
						for i := range want {
							want[i] = pad
						}
						for row := range rows {
							for i := range n {
								want[row*ldd+i] = src[row*lds+i*stride]
							}
						}
						for i := range want {
							if buf[i] != want[i] {
								t.Fatalf("stride=%d n=%d rows=%d ldd=%d tail=%d: dst[%d] = %d, want %d", stride, n, rows, ldd, tail, i, buf[i], want[i])
							}
						}
						if buf[size] != 42 {
							t.Fatalf("stride=%d n=%d rows=%d: wrote past the plane", stride, n, rows)
						}
					}
				}
			}
		}
	}
}

// TestMaxPool2x2 checks the 2×2 stride-2 max pooling, with and without
// argmax (the vector kernel), against the general scan, bit for bit, on
// planes with NaN, ±0 and ties.
func TestMaxPool2x2(t *testing.T) {
	r := newRand(35)
	negZero := float32(math.Copysign(0, -1))
	for _, hw := range [][2]int{{2, 2}, {4, 6}, {8, 8}, {6, 14}, {8, 16}, {24, 24}, {9, 31}, {6, 40}} {
		p := Pool2D{C: 3, H: hw[0], W: hw[1], KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1}
		n := 2
		x := to32(randSlice(r, n*p.C*p.H*p.W))
		for i := range x {
			switch r.IntN(12) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = negZero
			case 2:
				x[i] = 0
			case 3:
				x[i] = 0.5 // ties
			}
		}
		d := poolDims{oh: p.OutH(), ow: p.OutW(), hw: p.H * p.W}
		d.p = d.oh * d.ow
		y, yArg := make([]float32, n*p.C*d.p), make([]float32, n*p.C*d.p)
		arg := make([]int32, len(y))
		MaxPoolForward(nil, p, n, x, y, nil)
		MaxPoolForward(nil, p, n, x, yArg, arg)
		for i := range y {
			// The general scan, for reference.
			pl, o := i/d.p, i%d.p
			oh, ow := o/d.ow, o%d.ow
			base := pl * p.H * p.W
			best := x[base+2*oh*p.W+2*ow]
			for _, j := range []int{2*oh*p.W + 2*ow + 1, (2*oh+1)*p.W + 2*ow, (2*oh+1)*p.W + 2*ow + 1} {
				if v := x[base+j]; v > best || v != v {
					best = v
				}
			}
			if !sameBits(y[i], best) || !sameBits(yArg[i], best) || !sameBits(x[base+int(arg[i])], best) {
				t.Fatalf("%dx%d: output %d = %v (with argmax %v at %d), want %v", p.H, p.W, i, y[i], yArg[i], arg[i], best)
			}
		}
	}
}

// TestAvgPool2x2 checks the 2×2 stride-2 average pooling path against the
// general loop's sums, in its order, bit for bit.
func TestAvgPool2x2(t *testing.T) {
	r := newRand(36)
	for _, hw := range [][2]int{{2, 2}, {5, 7}, {8, 8}, {24, 24}, {9, 31}} {
		for _, incl := range []bool{false, true} {
			p := Pool2D{C: 2, H: hw[0], W: hw[1], KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, CountIncludePad: incl}
			x := to32(randSlice(r, 3*p.C*p.H*p.W))
			fillSpecial(x)
			oh, ow := p.OutH(), p.OutW()
			y := make([]float32, 3*p.C*oh*ow)
			AvgPoolForward(nil, p, 3, x, y)
			for i := range y {
				pl, o := i/(oh*ow), i%(oh*ow)
				h, w := 2*(o/ow), 2*(o%ow)
				xp := x[pl*p.H*p.W:]
				var s float32
				s += xp[h*p.W+w]
				s += xp[h*p.W+w+1]
				s += xp[(h+1)*p.W+w]
				s += xp[(h+1)*p.W+w+1]
				if want := s / 4; !sameBits(y[i], want) {
					t.Fatalf("%dx%d: y[%d] = %v, want %v", p.H, p.W, i, y[i], want)
				}
			}
		}
	}
}

// TestPlacePair checks placePair, both column phases of stride-2 rows in
// one pass, against the values placed one by one (fake-quantized by
// FakeQuantSlice when a quantizer is given), bit for bit (a quantized NaN
// may come out with another payload, as from the scalar and the vector
// FakeQuantSlice), on rows with NaN, infinities, ±0 and ties of the
// quantizer's rounding: every value inside both planes' rows, and nothing
// else written (guard values around and between the rows stay). src ends
// at the last value read. With a quantizer and rows of at most 8,
// placePairU8Asm's codes too, against quantizeCodes's.
func TestPlacePair(t *testing.T) {
	if !hasShortMasks() {
		t.Skip("placePair needs AVX-512 masks; elsewhere its callers use placeBlocks")
	}
	r := newRand(36)
	quants := []*FakeQuant[float32]{nil, {Scale: 0.25, ZP: 3, Lo: 0, Hi: 15}, {Scale: 0.0123, ZP: 0, Lo: 0, Hi: 255}}
	for nA := 1; nA <= 16; nA++ {
		for _, nB := range []int{nA - 1, nA} {
			if nB < 1 {
				continue
			}
			for _, rows := range []int{1, 2, 5} {
				for _, blocks := range []int{1, 3} {
					for qi, q := range quants {
						ldd := nA + r.IntN(3)
						lds := 2*nA + r.IntN(4)
						span := max(2*nA-1, 2*nB)
						bd := (rows-1)*ldd + nA + 1 + r.IntN(4)
						bs := (rows-1)*lds + span + r.IntN(5)
						src := to32(randSlice(r, (blocks-1)*bs+(rows-1)*lds+span))
						for i := range src {
							src[i] *= 4
							if i%7 == 3 {
								src[i] = 0.125 * float32(2*r.IntN(9)-7) // ties of Scale 0.25
							}
						}
						fillSpecial(src)
						// Plane B lies after plane A in one buffer.
						size := 2 * (blocks*bd + 2)
						buf := make([]float32, size)
						for i := range buf {
							buf[i] = 42
						}
						offB := blocks*bd + 2
						want := slices.Clone(buf)
						// The values as the unfused path places them.
						qsrc := src
						if q != nil {
							qsrc = make([]float32, len(src))
							FakeQuantSlice(qsrc, src, q)
						}
						for b := range blocks {
							for row := range rows {
								for i := range span {
									v := qsrc[b*bs+row*lds+i]
									if i%2 == 0 {
										want[b*bd+row*ldd+i/2] = v
									} else {
										want[offB+b*bd+row*ldd+i/2] = v
									}
								}
							}
						}
						if !placePair(buf, buf[offB:], src, blocks, rows, nA, nB, ldd, lds, bd, bs, q) {
							t.Fatalf("nA=%d nB=%d: placePair refused", nA, nB)
						}
						if q != nil && nA <= 8 {
							// The integer path's codes: quantizeCodes's.
							codes := make([]uint8, len(src))
							quantizeCodes(codes, src, 0, 1, q)
							bufU8 := make([]uint8, size)
							for i := range bufU8 {
								bufU8[i] = 42
							}
							wantU8 := slices.Clone(bufU8)
							for b := range blocks {
								for row := range rows {
									for i := range span {
										at := b*bd + row*ldd + i/2
										if i%2 == 1 {
											at += offB
										}
										wantU8[at] = codes[b*bs+row*lds+i]
									}
								}
							}
							if !placePairU8Asm(bufU8, bufU8[offB:], src, blocks, rows, nA, nB, ldd, lds, bd, bs, q) {
								t.Fatalf("nA=%d nB=%d: placePairU8Asm refused", nA, nB)
							}
							for i := range wantU8 {
								if bufU8[i] != wantU8[i] {
									t.Fatalf("nA=%d nB=%d rows=%d blocks=%d quantizer %d, codes: [%d] = %d, want %d", nA, nB, rows, blocks, qi, i, bufU8[i], wantU8[i])
								}
							}
						}
						for i := range want {
							if !sameBits(buf[i], want[i]) && !(q != nil && buf[i] != buf[i] && want[i] != want[i]) {
								t.Fatalf("nA=%d nB=%d rows=%d blocks=%d quantizer %d: [%d] = %v (%#x), want %v (%#x)", nA, nB, rows, blocks, qi, i, buf[i], math.Float32bits(buf[i]), want[i], math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}
	}
	if placePair(make([]float32, 40), make([]float32, 40), make([]float32, 40), 1, 1, 17, 17, 17, 34, 0, 0, nil) {
		t.Fatal("placePair took rows of 17 values")
	}
}

// TestPlaneMeans checks PlaneMeans (AVX2 where the CPU has it) against
// planeMeansGo, bit for bit, and the first plane's mean against the
// documented order of additions, with NaN, infinities and ±0 among the
// values, for plane sizes on both sides of the 8-value vectors.
func TestPlaneMeans(t *testing.T) {
	r := newRand(37)
	for n := 1; n <= 41; n++ {
		for _, planes := range []int{1, 3, 7} {
			src := to32(randSlice(r, planes*n))
			for i := range src {
				src[i] *= float32(1 + r.IntN(1000))
			}
			if n%3 == 0 {
				fillSpecial(src)
			}
			scale := 1 / float32(n)
			got, want := make([]float32, planes), make([]float32, planes)
			PlaneMeans(got, src, n, scale)
			planeMeansGo(want, src, n, scale)
			for i := range want {
				if !sameBits(got[i], want[i]) {
					t.Fatalf("n=%d planes=%d: mean %d = %v, want %v", n, planes, i, got[i], want[i])
				}
			}
			// The order is the documented one.
			p := src[:n]
			var s [8]float32
			j := 0
			for ; j+8 <= n; j += 8 {
				for l := range 8 {
					s[l] += p[j+l]
				}
			}
			sum := ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
			for _, v := range p[j:] {
				sum += v
			}
			if w := sum * scale; !sameBits(got[0], w) && !(w != w && got[0] != got[0]) {
				t.Fatalf("n=%d: mean %v, want %v", n, got[0], w)
			}
		}
	}
}
