package kernel

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
)

// naiveQConv is the integer convolution loop by loop: exact sums of
// w·(x_q − ZP) over the taps inside the image, in int64, dequantized
// with the float32 roundings of dequantRow.
func naiveQConv(g Conv2D, n int, xq []uint8, zp int64, w []int8, scale, bias []float32) []float32 {
	oh, ow := g.OutH(), g.OutW()
	cg, mg := g.C/g.Group, g.M/g.Group
	y := make([]float32, n*g.M*oh*ow)
	for b := range n {
		for m := range g.M {
			gi := m / mg
			for i := range oh {
				for j := range ow {
					var s int64
					for c := range cg {
						ci := gi*cg + c
						for kh := range g.KH {
							for kw := range g.KW {
								ih := i*g.StrideH - g.PadTop + kh*g.DilH
								iw := j*g.StrideW - g.PadLeft + kw*g.DilW
								if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								s += int64(w[((m*cg+c)*g.KH+kh)*g.KW+kw]) * (int64(xq[((b*g.C+ci)*g.H+ih)*g.W+iw]) - zp)
							}
						}
					}
					var bb float32
					if bias != nil {
						bb = bias[m]
					}
					y[((b*g.M+m)*oh+i)*ow+j] = float32(float32(s)*scale[m]) + bb
				}
			}
		}
	}
	return y
}

// qTestQuants are input quantizers of 8 and 4 bits.
var qTestQuants = []FakeQuant[float32]{{Scale: 0.013, ZP: 77, Lo: 0, Hi: 255}, {Scale: 0.21, ZP: 3, Lo: 0, Hi: 15}}

// TestQConvForward checks QConvForward, bit for bit, against the integer
// convolution done loop by loop on every test geometry (strides, pads,
// dilations, groups, depthwise, 1×1), batch 1 and 5, with and without
// bias, 8- and 4-bit inputs, one and several workers; and checks that it
// is the convolution of the fake-quantized input by the fake-quantized
// weights up to float32 rounding.
func TestQConvForward(t *testing.T) {
	t.Run("workers", func(t *testing.T) { testQConvForward(t, Workers()) })
	if testing.Short() {
		return
	}
	t.Run("one worker", func(t *testing.T) { testQConvForward(t, 1) })
	t.Run("three procs", func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
		testQConvForward(t, 3)
	})
}

func testQConvForward(t *testing.T, workers int) {
	r := newRand(13)
	work := make([]*QConvWork, workers)
	for i := range work {
		work[i] = &QConvWork{}
	}
	convs := allConvs()
	if testing.Short() {
		convs = namedConvs()
	}
	convs["odd sizes groups"] = Conv2D{C: 9, H: 13, W: 9, M: 15, KH: 3, KW: 5, StrideH: 2, StrideW: 1, PadTop: 1, PadLeft: 2, PadBottom: 1, PadRight: 2, DilH: 1, DilW: 1, Group: 3}
	convs["lenet conv2"] = benchLeNetConv2
	for name, g := range convs {
		d := g.dims()
		batches := []int{1, 5}
		if g.dense() {
			batches = append(batches, 37) // several panels of samples
		}
		for _, n := range batches {
			for qi := range qTestQuants {
				if testing.Short() && qi != n%2 {
					continue // one quantizer per batch size
				}
				q := &qTestQuants[qi]
				qmax := int((q.Hi - 1) / 2)
				x := to32(randSlice(r, n*g.C*d.hw))
				for i := range x {
					x[i] = x[i]*float32(q.Hi)*q.Scale*0.6 + 0.3*q.Scale*float32(q.ZP-q.Hi/2) // some values clamp
				}
				codes := make([]int8, g.M*d.k)
				for i := range codes {
					codes[i] = int8(r.IntN(2*qmax+1) - qmax)
				}
				sw := to32(randSlice(r, g.M))
				scale := make([]float32, g.M)
				for m := range scale {
					sw[m] = float32(math.Abs(float64(sw[m]))) / float32(qmax)
					scale[m] = sw[m] * q.Scale
				}
				bias := to32(randSlice(r, g.M))
				if n == 5 {
					bias = nil
				}
				xq := make([]uint8, len(x))
				xfq := make([]float64, len(x))
				for i, v := range x {
					xq[i] = quantCode(v, q)
					xfq[i] = float64(q.Apply(v))
				}
				want := naiveQConv(g, n, xq, int64(q.ZP), codes, scale, bias)
				y := nanSlice[float32](len(want))
				QConvForward(nil, g, n, x, PackQWeights(g.M, d.k, g.Group, codes), q, scale, bias, y, work)
				label := fmt.Sprintf("%s n%d q%d", name, n, qi)
				for i := range y {
					if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: y[%d] = %v, want %v", label, i, y[i], want[i])
					}
				}
				// The same convolution in float64 of the fake-quantized
				// operands.
				wfq := make([]float64, len(codes))
				for i, c := range codes {
					wfq[i] = float64(c) * float64(sw[i/d.k])
				}
				var b64 []float64
				if bias != nil {
					b64 = to64(bias)
				}
				closeTo(t, label+" vs fake-quant", toF64(y), naiveConv(g, n, xfq, wfq, b64), 1e-5)
			}
		}
	}
}

// TestQuantCode checks that the code of every value is the one FakeQuant
// rounds it to: (code − ZP)·Scale == Apply(x) bit for bit, ties, clamping
// and NaN included.
func TestQuantCode(t *testing.T) {
	r := newRand(14)
	for _, q := range qTestQuants {
		xs := []float32{0, -0, 0.5 * q.Scale, 1.5 * q.Scale, -2.5 * q.Scale, 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1))}
		for range 10000 {
			xs = append(xs, float32((r.Float64()*2-1)*float64(q.Hi)*float64(q.Scale)))
		}
		for _, x := range xs {
			c := quantCode(x, &q)
			if got, want := (float32(c)-q.ZP)*q.Scale, q.Apply(x); got != want {
				t.Fatalf("q %+v: x = %v: code %d gives %v, Apply gives %v", q, x, c, got, want)
			}
		}
		if c := quantCode(float32(math.NaN()), &q); float32(c) != q.ZP {
			t.Fatalf("code of NaN = %d, want the zero point %v", c, q.ZP)
		}
	}
}

// TestQLinearForward checks QLinearForward bit for bit against the
// integer product done in int64, for odd batch sizes and depths, output
// counts around the 8-channel panels the epilogue transposes in
// registers, with and without a bias.
func TestQLinearForward(t *testing.T) {
	r := newRand(15)
	work := &QLinearWork{}
	shapes := [][3]int{{1, 1, 1}, {3, 7, 5}, {17, 10, 84}, {33, 13, 121}, {5, 6, 2}, {40, 16, 9}, {9, 8, 3}}
	if !testing.Short() {
		shapes = append(shapes, [3]int{256, 120, 400})
	}
	for _, s := range shapes {
		n, m, k := s[0], s[1], s[2]
		for qi := range qTestQuants {
			q := &qTestQuants[qi]
			x := to32(randSlice(r, n*k))
			for i := range x {
				x[i] *= float32(q.Hi) * q.Scale * 0.6
			}
			codes, _ := randCodes(r, m*k)
			scale, bias := to32(randSlice(r, m)), to32(randSlice(r, m))
			if qi == 0 {
				bias = nil // a MatMul layer's: no bias
			}
			y := nanSlice[float32](n * m)
			QLinearForward(nil, n, x, PackQWeights(m, k, 1, codes), q, scale, bias, y, work)
			for j := range n {
				for i := range m {
					var acc int64
					for l := range k {
						acc += int64(codes[i*k+l]) * (int64(quantCode(x[j*k+l], q)) - int64(q.ZP))
					}
					b := float32(0)
					if bias != nil {
						b = bias[i]
					}
					want := float32(float32(acc)*scale[i]) + b
					if got := y[j*m+i]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("%v q%d: y[%d,%d] = %v, want %v", s, qi, j, i, got, want)
					}
				}
			}
		}
	}
}

func TestQPanics(t *testing.T) {
	g := Conv2D{C: 2, H: 3, W: 3, M: 2, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	w := PackQWeights(2, 2, 1, []int8{1, 2, 3, 4})
	x, y, s := make([]float32, 18), make([]float32, 18), make([]float32, 2)
	work := []*QConvWork{{}}
	q := &FakeQuant[float32]{Scale: 1, ZP: 0, Lo: -8, Hi: 7}
	expectPanic(t, func() { QConvForward(nil, g, 1, x, w, q, s, nil, y, work) })
	expectPanic(t, func() { QConvForward(nil, g, 1, x, w, nil, s, nil, y, work) })
	expectPanic(t, func() {
		QConvForward(nil, g, 1, x, PackQWeights(2, 1, 1, []int8{1, 2}), &qTestQuants[0], s, nil, y, work)
	})
	expectPanic(t, func() { PackQWeights(1, 2, 1, []int8{1, -128}) })
	expectPanic(t, func() { PackQWeights(1, QMaxDepth+1, 1, make([]int8, QMaxDepth+1)) })
	expectPanic(t, func() { QLinearForward(nil, 1, x[:2], w, &qTestQuants[0], s, nil, y[:3], &QLinearWork{}) })
}

// TestQuantizeCodesRow checks the vectorized row quantizer against
// quantCode value by value: ties, clamping, infinities, NaN, −0 and
// lengths around the vector width.
func TestQuantizeCodesRow(t *testing.T) {
	r := newRand(16)
	for _, q := range qTestQuants {
		for _, n := range []int{1, 7, 8, 9, 16, 37} {
			src := make([]float32, n)
			for i := range src {
				switch r.IntN(6) {
				case 0:
					src[i] = (float32(r.IntN(40)-20) + 0.5) * q.Scale // a tie, give or take the division's rounding
				case 1:
					src[i] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 1e38, -1e38}[r.IntN(6)]
				default:
					src[i] = float32((r.Float64()*2 - 1) * float64(q.Hi) * float64(q.Scale))
				}
			}
			dst := make([]uint8, n)
			quantizeCodes(dst, src, 0, 1, &q)
			for i, v := range src {
				if want := quantCode(v, &q); dst[i] != want {
					t.Fatalf("q %+v n=%d: code of %v = %d, want %d", q, n, v, dst[i], want)
				}
			}
		}
	}
}

// TestDequantRow checks the vectorized dequantization against its
// formula bit for bit, on sums large enough that the conversion to
// float32 rounds.
func TestDequantRow(t *testing.T) {
	r := newRand(17)
	for _, n := range []int{1, 8, 13, 40} {
		acc := make([]int32, n)
		for i := range acc {
			acc[i] = int32(r.Int64N(1<<31) - 1<<30)
		}
		corr, scale, bias := int32(r.IntN(1<<20)), float32(r.Float64()*1e-3), float32(r.Float64()-0.5)
		dst := make([]float32, n)
		dequantRow(dst, acc, corr, scale, bias)
		for i, v := range acc {
			want := float32(float32(v-corr)*scale) + bias
			if math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: dequant(%d) = %v, want %v", n, v, dst[i], want)
			}
		}
	}
}

// TestFakeQuantSlice checks the vectorized fake quantizer against
// FakeQuant.Apply bit for bit: ties, clamping, infinities, NaN, −0, values
// too large to have a fraction, lengths around the vector width, in place
// and not.
func TestFakeQuantSlice(t *testing.T) {
	r := newRand(18)
	quants := append(slices.Clone(qTestQuants),
		FakeQuant[float32]{Scale: 0.037, ZP: 0, Lo: -7, Hi: 7},      // symmetric 4-bit
		FakeQuant[float32]{Scale: 1e-30, ZP: 3, Lo: 0, Hi: 15},      // tiny scale: huge quotients
		FakeQuant[float32]{Scale: 3e5, ZP: 65535, Lo: 0, Hi: 65535}) // 16-bit, zero point at the top
	for _, q := range quants {
		for _, n := range []int{1, 7, 8, 9, 16, 37, 1000} {
			src := make([]float32, n)
			for i := range src {
				switch r.IntN(6) {
				case 0:
					src[i] = (float32(r.IntN(40)-20) + 0.5) * q.Scale
				case 1:
					src[i] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
						float32(math.Copysign(0, -1)), 1e38, -1e38, 0x1p24 * q.Scale, 3}[r.IntN(8)]
				default:
					src[i] = float32((r.Float64()*2.2 - 1.1) * float64(q.Hi-q.Lo) * float64(q.Scale))
				}
			}
			dst := make([]float32, n)
			FakeQuantSlice(dst, src, &q)
			inPlace := slices.Clone(src) // the overlapping last vector is skipped in place
			FakeQuantSlice(inPlace, inPlace, &q)
			for i, v := range src {
				want := q.Apply(v)
				for _, got := range []float32{dst[i], inPlace[i]} {
					if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
						t.Fatalf("q %+v n=%d: Apply(%v) = %v, want %v", q, n, v, got, want)
					}
				}
			}
		}
	}
}

// TestRelu checks the vectorized ReLU against max(x, 0) value by value,
// NaN and infinities included, in place and out of place.
func TestRelu(t *testing.T) {
	r := newRand(19)
	for _, n := range []int{1, 7, 8, 9, 16, 17, 24, 37, 1000} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(r.NormFloat64())
			if r.IntN(8) == 0 {
				src[i] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0}[r.IntN(4)]
			}
		}
		dst := make([]float32, n)
		Relu(dst, src)
		for i, v := range src {
			want := max(v, 0)
			if dst[i] != want && !(dst[i] != dst[i] && want != want) {
				t.Fatalf("n=%d: relu(%v) = %v, want %v", n, v, dst[i], want)
			}
		}
		Relu(src, src)
		for i := range src {
			if src[i] != dst[i] && !(src[i] != src[i] && dst[i] != dst[i]) {
				t.Fatalf("n=%d: in-place relu differs at %d", n, i)
			}
		}
	}
}

// TestReluFloat64AndBackward checks the float64 ReLU and the ReLU backward
// pass (both element types) bit for bit against the scalar loops, with
// NaN, infinities, signed zeros in x and −0 in the gradient, in every
// length around the vector widths.
func TestReluFloat64AndBackward(t *testing.T) {
	r := newRand(23)
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1)}
	for _, n := range []int{1, 3, 4, 5, 7, 8, 9, 16, 17, 37, 1000} {
		x := make([]float64, n)
		gy := make([]float64, n)
		gx := make([]float64, n)
		for i := range x {
			x[i], gy[i], gx[i] = r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
			if r.IntN(6) == 0 {
				x[i] = specials[r.IntN(len(specials))]
			}
			if r.IntN(6) == 0 {
				gx[i] = math.Copysign(0, -1)
				gy[i] = 0
			}
		}
		y := make([]float64, n)
		Relu(y, x)
		for i, v := range x {
			want := v
			if v < 0 {
				want = 0
			}
			if math.Float64bits(y[i]) != math.Float64bits(want) && !(y[i] != y[i] && want != want) {
				t.Fatalf("n=%d: relu(%v) = %v, want %v", n, v, y[i], want)
			}
		}
		checkBack := func(name string, got, want []float64) {
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s n=%d: gx[%d] = %v, want %v (x %v, gy %v)", name, n, i, got[i], want[i], x[i], gy[i])
				}
			}
		}
		want := append([]float64(nil), gx...)
		for i, v := range x {
			if v > 0 {
				want[i] += gy[i]
			}
		}
		got := append([]float64(nil), gx...)
		ReluBackward(got, x, gy)
		checkBack("float64", got, want)
		x32, gy32, gx32 := to32(x), to32(gy), to32(gx)
		want32 := append([]float32(nil), gx32...)
		for i, v := range x32 {
			if v > 0 {
				want32[i] += gy32[i]
			}
		}
		ReluBackward(gx32, x32, gy32)
		checkBack("float32", toF64(gx32), toF64(want32))
	}
}

// TestQuantizeNearTies checks the vector quantizers against the scalar
// ones where a rounding difference in x/scale would show: inputs within 12 units in the last place of every tie
// (k + ½)·scale of a 16-bit code range and of x/scale at the float32
// precision limit (2^23, 2^24), for 400 scales log-uniform over [2^−100,
// 2^100] and the boundary scales, plus random values; fake-quant values
// and uint8 codes must equal the scalar ones bit for bit.
func TestQuantizeNearTies(t *testing.T) {
	r := newRand(23)
	scales := []float32{0x1p-100, 0x1p100, 1, 0.1, 1.0 / 255, 3e-5, 0.0039215689, math.Nextafter32(0x1p-100, 1)}
	for range 400 {
		scales = append(scales, float32(math.Exp2(r.Float64()*200-100)))
	}
	var src []float32
	for _, s := range scales {
		src = src[:0]
		for k := -300; k < 300; k += 1 + r.IntN(5) {
			x := float32((float64(k) + 0.5) * float64(s))
			for range 12 {
				x = math.Nextafter32(x, float32(math.Inf(-1)))
			}
			for range 25 {
				src = append(src, x)
				x = math.Nextafter32(x, float32(math.Inf(1)))
			}
		}
		for _, m := range []float64{0x1p23 + 0.5, 0x1p24 - 0.5, 0x1p24 + 1, 1e30} {
			src = append(src, float32(m*float64(s)), float32(-m*float64(s)))
		}
		for range 200 {
			src = append(src, float32((r.Float64()*2-1)*70000*float64(s)))
		}
		for _, q := range []FakeQuant[float32]{{Scale: s, ZP: 0, Lo: -32768, Hi: 32767}, {Scale: s, ZP: 128, Lo: 0, Hi: 255}} {
			dst := make([]float32, len(src))
			FakeQuantSlice(dst, src, &q)
			for i, v := range src {
				if want := q.Apply(v); math.Float32bits(dst[i]) != math.Float32bits(want) {
					t.Fatalf("scale %g: Apply(%v) = %v, the division gives %v", s, v, dst[i], want)
				}
			}
			if q.Lo < 0 {
				continue
			}
			codes := make([]uint8, len(src))
			quantizeCodes(codes, src, 0, 1, &q)
			for i, v := range src {
				if want := quantCode(v, &q); codes[i] != want {
					t.Fatalf("scale %g: code of %v = %d, the division gives %d", s, v, codes[i], want)
				}
			}
		}
	}
}

// BenchmarkFakeQuantSlice times the vector fake quantizer and the uint8
// code quantizer on 64 Ki activations (8-bit, asymmetric).
func BenchmarkFakeQuantSlice(b *testing.B) {
	r := newRand(5)
	q := FakeQuant[float32]{Scale: 0.0213, ZP: 17, Lo: 0, Hi: 255}
	src := make([]float32, 1<<16)
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	dst := make([]float32, len(src))
	codes := make([]uint8, len(src))
	b.Run("fakequant", func(b *testing.B) {
		for range b.N {
			FakeQuantSlice(dst, src, &q)
		}
		b.ReportMetric(float64(len(src)*b.N)/b.Elapsed().Seconds()/1e6, "Mvalues/s")
	})
	b.Run("codes", func(b *testing.B) {
		for range b.N {
			quantizeCodes(codes, src, 0, 1, &q)
		}
		b.ReportMetric(float64(len(src)*b.N)/b.Elapsed().Seconds()/1e6, "Mvalues/s")
	})
}

// TestQConvForwardReLU checks that QConvForwardReLU is, bit for bit,
// QConvForward followed by Relu, on every test geometry, with and
// without bias, one and two workers (the ReLU is fused into the
// dequantization where the CPU allows).
func TestQConvForwardReLU(t *testing.T) {
	r := newRand(14)
	convs := allConvs()
	if testing.Short() {
		convs = namedConvs()
	}
	q := &qTestQuants[0]
	for name, g := range convs {
		d := g.dims()
		n := 3
		x := to32(randSlice(r, n*g.C*d.hw))
		for i := range x {
			x[i] = x[i]*float32(q.Hi)*q.Scale*0.6 + q.Scale*float32(q.ZP)
		}
		codes := make([]int8, g.M*d.k)
		for i := range codes {
			codes[i] = int8(r.IntN(255) - 127)
		}
		w := PackQWeights(g.M, d.k, g.Group, codes)
		scale := to32(randSlice(r, g.M))
		for m := range scale {
			scale[m] = float32(math.Abs(float64(scale[m]))) * 1e-3
		}
		for _, bias := range [][]float32{nil, to32(randSlice(r, g.M))} {
			for _, workers := range []int{1, 2} {
				work := []*QConvWork{{}, {}}[:workers]
				want := nanSlice[float32](n * g.M * d.p)
				QConvForward(nil, g, n, x, w, q, scale, bias, want, work)
				Relu(want, want)
				got := nanSlice[float32](len(want))
				QConvForwardReLU(nil, g, n, x, w, q, scale, bias, got, work)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s bias %v workers %d: y[%d] = %v, want %v", name, bias != nil, workers, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestQuantizeTies checks the vectorized quantizers against the scalar
// ones bit for bit where rounding is most delicate: on values within a
// few ulps of every half-integer multiple of the scale, for random scales
// over twelve orders of magnitude, and on scales whose reciprocal is not
// a normal float32. (Multiplying by the reciprocal and dividing only near
// a tie passed it, and ran 1.4–1.9× slower than VDIVPS on Zen 4:
// BenchmarkFakeQuantSlice.)
func TestQuantizeTies(t *testing.T) {
	r := newRand(19)
	scales := []float32{0.013, 0.21, 1.0 / 3, 0.1, 1e-38, 2e-39, 3e38}
	for range 60 {
		scales = append(scales, float32(math.Pow(10, r.Float64()*12-8)*(1+r.Float64())))
	}
	for _, s := range scales {
		for _, q := range []FakeQuant[float32]{{Scale: s, ZP: 128, Lo: 0, Hi: 255}, {Scale: s, ZP: 0, Lo: -127, Hi: 127}} {
			var xs []float32
			for k := -300; k <= 300; k++ {
				x := float32((float64(k) + 0.5) * float64(s))
				for d := -4; d <= 4; d++ {
					y := x
					for range max(d, -d) {
						if d > 0 {
							y = math.Nextafter32(y, float32(math.Inf(1)))
						} else {
							y = math.Nextafter32(y, float32(math.Inf(-1)))
						}
					}
					xs = append(xs, y)
				}
				xs = append(xs, float32(float64(k)*float64(s)), float32((r.Float64()*600-300)*float64(s)))
			}
			got := make([]float32, len(xs))
			FakeQuantSlice(got, xs, &q)
			for i, x := range xs {
				if want := q.Apply(x); math.Float32bits(got[i]) != math.Float32bits(want) {
					t.Fatalf("scale %v zp %v: FakeQuantSlice(%v) = %v, want %v", s, q.ZP, x, got[i], want)
				}
			}
			if q.Lo < 0 {
				continue
			}
			codes := make([]uint8, len(xs))
			quantizeCodes(codes, xs, 0, 1, &q)
			for i, x := range xs {
				if want := quantCode(x, &q); codes[i] != want {
					t.Fatalf("scale %v: code of %v = %d, want %d", s, x, codes[i], want)
				}
			}
		}
	}
}
