package kernel

import (
	"fmt"
	"testing"
)

func reportGFLOPS(b *testing.B, flopsPerOp float64) {
	b.ReportMetric(flopsPerOp*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemm(b *testing.B) {
	for _, n := range []int{256, 512, 1024} {
		b.Run(fmt.Sprintf("float32/n=%d", n), func(b *testing.B) { benchGemm(b, teamGemm[float32](testTeam(b, 0)), n) })
		b.Run(fmt.Sprintf("float64/n=%d", n), func(b *testing.B) { benchGemm(b, teamGemm[float64](testTeam(b, 0)), n) })
	}
}

// BenchmarkGemmSerial measures the single-threaded GEMM the convolution
// workers use.
func BenchmarkGemmSerial(b *testing.B) {
	for _, n := range []int{256, 512} {
		b.Run(fmt.Sprintf("float32/n=%d", n), func(b *testing.B) { benchGemm(b, new(GemmWork[float32]).Gemm, n) })
		b.Run(fmt.Sprintf("float64/n=%d", n), func(b *testing.B) { benchGemm(b, new(GemmWork[float64]).Gemm, n) })
	}
}

func benchGemm[T Float](b *testing.B, f gemmFunc[T], n int) {
	benchGemmShape(b, f, gemmShape{m: n, n: n, k: n})
}

// gemmShape is one benchmarked product: C (m×n) = op(A)·op(B) with depth
// k, on one goroutine (GemmWork.Gemm) when serial.
type gemmShape struct {
	name    string
	tA, tB  bool
	m, n, k int
	serial  bool
}

// gemmBenchShapes are the products of mpq's models: a convolution's GEMMs
// per image on one worker (forward y = W·col, backward dW = dY·colᵀ and
// dcol = Wᵀ·dY) and a fully connected layer on a batch (ONNX Gemm with
// transB, the weights stored output × input).
var gemmBenchShapes = []gemmShape{
	{"lenet_conv2_fwd", false, false, 16, 100, 150, true},
	{"lenet_conv2_dw", false, true, 16, 150, 100, true},
	{"lenet_conv2_dcol", true, false, 150, 100, 16, true},
	{"resnet_3x3_16_14x14_fwd", false, false, 16, 196, 144, true},
	{"resnet_3x3_64_56x56_fwd", false, false, 64, 3136, 576, true},
	{"fc_batch256_784x256", false, true, 256, 256, 784, false},
}

// BenchmarkGemmShapes measures GEMM on the products of gemmBenchShapes.
func BenchmarkGemmShapes(b *testing.B) {
	for _, s := range gemmBenchShapes {
		b.Run("float32/"+s.name, func(b *testing.B) { benchGemmShape(b, mpqGemm[float32](b, s.serial), s) })
		b.Run("float64/"+s.name, func(b *testing.B) { benchGemmShape(b, mpqGemm[float64](b, s.serial), s) })
	}
}

// BenchmarkGemmCompare measures mpq's GEMM next to the reference GEMMs of
// the build, in one run: OpenBLAS with the openblas tag (see
// scripts/bench_gemm.sh), none otherwise. Square products run on all
// cores (OpenBLAS with one thread per core), the products of
// gemmBenchShapes marked serial on one (OpenBLAS with one thread).
func BenchmarkGemmCompare(b *testing.B) {
	shapes := []gemmShape{{name: "n=256", m: 256, n: 256, k: 256}, {name: "n=512", m: 512, n: 512, k: 512}, {name: "n=1024", m: 1024, n: 1024, k: 1024}}
	shapes = append(shapes, gemmBenchShapes...)
	for _, s := range shapes {
		b.Run("float32/"+s.name, func(b *testing.B) { compareGemm[float32](b, s) })
		b.Run("float64/"+s.name, func(b *testing.B) { compareGemm[float64](b, s) })
	}
}

func compareGemm[T Float](b *testing.B, s gemmShape) {
	threads := Workers()
	if s.serial {
		threads = 1
	}
	b.Run("mpq", func(b *testing.B) { benchGemmShape(b, mpqGemm[T](b, s.serial), s) })
	for name, f := range referenceGemms[T]() {
		b.Run(name, func(b *testing.B) {
			setReferenceThreads(threads)
			defer setReferenceThreads(Workers())
			benchGemmShape(b, f, s)
		})
	}
}

// mpqGemm returns mpq's own GEMM, in every build: single-threaded with a
// GemmWork when serial.
func mpqGemm[T Float](b *testing.B, serial bool) gemmFunc[T] {
	if serial {
		return new(GemmWork[T]).Gemm
	}
	team := testTeam(b, 0)
	return func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, bb []T, ldb int, beta T, c []T, ldc int) {
		gemmMPQ(team, transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
	}
}

// benchGemmShape measures f on seeded operands of shape s, overwriting C
// (beta = 0), and reports GFLOP/s.
func benchGemmShape[T Float](b *testing.B, f gemmFunc[T], s gemmShape) {
	r := newRand(100)
	lda, ldb := s.k, s.n
	if s.tA {
		lda = s.m
	}
	if s.tB {
		ldb = s.k
	}
	a := fromF64[T](randSlice(r, s.m*s.k))
	bb := fromF64[T](randSlice(r, s.k*s.n))
	c := make([]T, s.m*s.n)
	f(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) // warm up buffers and pools
	for b.Loop() {
		f(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	}
	reportGFLOPS(b, 2*float64(s.m)*float64(s.n)*float64(s.k))
}

// Benchmark geometries: LeNet-5's second convolution, a ResNet stage-1
// 3×3 convolution, a MobileNet-style depthwise convolution and the
// classic LeNet-5's C5 (a dense convolution: 5×5 filters over 5×5 images).
var (
	benchLeNetConv2 = Conv2D{C: 6, H: 14, W: 14, M: 16, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	benchResNet3x3  = Conv2D{C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}
	benchDepthwise  = Conv2D{C: 32, H: 14, W: 14, M: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 32}
	benchLeNet5C5   = Conv2D{C: 16, H: 5, W: 5, M: 120, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
)

// convFLOPs counts two operations per multiply-add of the convolution.
func convFLOPs(g Conv2D, n int) float64 {
	d := g.dims()
	return 2 * float64(n) * float64(g.M) * float64(d.p) * float64(d.k)
}

func BenchmarkConvForward(b *testing.B) {
	cases := []struct {
		name  string
		g     Conv2D
		n     int
		quant bool
	}{
		{"lenet_conv2/n=256", benchLeNetConv2, 256, false},
		{"lenet_conv2_fakequant/n=256", benchLeNetConv2, 256, true},
		{"resnet_3x3_64/n=8", benchResNet3x3, 8, false},
		{"resnet_3x3_64/n=1", benchResNet3x3, 1, false},
		{"depthwise_3x3_32/n=256", benchDepthwise, 256, false},
		{"lenet5_c5_dense/n=128", benchLeNet5C5, 128, false},
	}
	for _, c := range cases {
		b.Run("float32/"+c.name, func(b *testing.B) {
			g, n := c.g, c.n
			d := g.dims()
			r := newRand(101)
			x := to32(randSlice(r, n*g.C*d.hw))
			w := to32(randSlice(r, g.M*d.k))
			bias := to32(randSlice(r, g.M))
			y := make([]float32, n*g.M*d.p)
			var q *FakeQuant[float32]
			if c.quant {
				q = &FakeQuant[float32]{Scale: 1.0 / 127, ZP: 0, Lo: -128, Hi: 127}
			}
			work := workFor[float32](g, Workers())
			for b.Loop() {
				ConvForward(nil, g, n, x, w, bias, y, q, work)
			}
			reportGFLOPS(b, convFLOPs(g, n))
		})
	}
}

func BenchmarkConvBackward(b *testing.B) {
	g, n := benchLeNetConv2, 256
	b.Run("float64/lenet_conv2/n=256", func(b *testing.B) {
		d := g.dims()
		r := newRand(102)
		x := randSlice(r, n*g.C*d.hw)
		w := randSlice(r, g.M*d.k)
		dy := randSlice(r, n*g.M*d.p)
		dx, dw, db := make([]float64, len(x)), make([]float64, len(w)), make([]float64, g.M)
		work := workFor[float64](g, Workers())
		ConvBackward(nil, g, n, x, w, dy, dx, dw, db, work) // grows the gradient buffers
		for b.Loop() {
			ConvBackward(nil, g, n, x, w, dy, dx, dw, db, work)
		}
		// Two GEMMs of the forward size: dW and dcol.
		reportGFLOPS(b, 2*convFLOPs(g, n))
	})
}

func BenchmarkPool(b *testing.B) {
	p := Pool2D{C: 64, H: 56, W: 56, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1}
	const n = 8
	r := newRand(103)
	x := to32(randSlice(r, n*p.C*p.H*p.W))
	y := make([]float32, n*p.C*p.OutH()*p.OutW())
	arg := make([]int32, len(y))
	b.Run("float32/maxpool_3x3s2_64x56x56/n=8", func(b *testing.B) {
		for b.Loop() {
			MaxPoolForward(nil, p, n, x, y, arg)
		}
	})
	b.Run("float32/maxpool_3x3s2_64x56x56_noargmax/n=8", func(b *testing.B) {
		for b.Loop() {
			MaxPoolForward(nil, p, n, x, y, nil)
		}
	})
	b.Run("float32/avgpool_3x3s2_64x56x56/n=8", func(b *testing.B) {
		for b.Loop() {
			AvgPoolForward(nil, p, n, x, y)
		}
	})
	// LeNet's first pooling: 2×2, stride 2, over 6×24×24, batch 256.
	q := Pool2D{C: 6, H: 24, W: 24, KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1}
	const m = 256
	xq := to32(randSlice(r, m*q.C*q.H*q.W))
	yq := make([]float32, m*q.C*q.OutH()*q.OutW())
	argq := make([]int32, len(yq))
	b.Run("float32/maxpool_2x2s2_6x24x24/n=256", func(b *testing.B) {
		for b.Loop() {
			MaxPoolForward(nil, q, m, xq, yq, argq)
		}
	})
	b.Run("float32/maxpool_2x2s2_6x24x24_noargmax/n=256", func(b *testing.B) {
		for b.Loop() {
			MaxPoolForward(nil, q, m, xq, yq, nil)
		}
	})
	b.Run("float32/avgpool_2x2s2_6x24x24/n=256", func(b *testing.B) {
		for b.Loop() {
			AvgPoolForward(nil, q, m, xq, yq)
		}
	})
}

// modelConvs are the non-depthwise convolutions of the shipped models
// (testdata/models), batch 256.
var modelConvs = []struct {
	name string
	g    Conv2D
}{
	{"lenet_conv1", Conv2D{C: 1, H: 28, W: 28, M: 6, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}},
	{"lenet_conv2", benchLeNetConv2},
	{"resnet_stem", Conv2D{C: 1, H: 28, W: 28, M: 16, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}},
	{"resnet_b_conv", Conv2D{C: 16, H: 14, W: 14, M: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}},
	{"resnet_down", Conv2D{C: 16, H: 14, W: 14, M: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}},
	{"resnet_pw", Conv2D{C: 32, H: 7, W: 7, M: 32, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}},
	{"cnn4_conv1", Conv2D{C: 1, H: 28, W: 28, M: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}},
	{"cnn4_conv2", Conv2D{C: 8, H: 14, W: 14, M: 16, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}},
	{"cnn4_conv3", Conv2D{C: 16, H: 7, W: 7, M: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}},
	{"resnet_3x3_64_56x56", benchResNet3x3},
}

// BenchmarkConvPaths measures the forward and backward convolution of the
// shipped models' layers, one worker, through im2col and through the
// padded layout, in one run.
func BenchmarkConvPaths(b *testing.B) {
	for _, c := range modelConvs {
		n := 256
		if c.g.H > 28 {
			n = 8
		}
		b.Run("forward/float32/"+c.name+"/im2col", func(b *testing.B) { benchConvPath[float32](b, c.g, n, false, false) })
		b.Run("forward/float32/"+c.name+"/padded", func(b *testing.B) { benchConvPath[float32](b, c.g, n, true, false) })
		if nb := batchImages[float32](c.g, c.g.dims(), 16); nb > 0 {
			b.Run(fmt.Sprintf("forward/float32/%s/batched%d", c.name, nb), func(b *testing.B) { benchConvBatch[float32](b, c.g, n, nb) })
		}
		b.Run("backward/float64/"+c.name+"/im2col", func(b *testing.B) { benchConvPath[float64](b, c.g, n, false, true) })
		b.Run("backward/float64/"+c.name+"/padded", func(b *testing.B) { benchConvPath[float64](b, c.g, n, true, true) })
	}
}

func benchConvPath[T Float](b *testing.B, g Conv2D, n int, padded, backward bool) {
	d := g.dims()
	r := newRand(104)
	x := fromF64[T](randSlice(r, n*g.C*d.hw))
	w := fromF64[T](randSlice(r, g.M*d.k))
	bias := fromF64[T](randSlice(r, g.M))
	y := make([]T, n*g.M*d.p)
	dx := make([]T, len(x))
	wk := &ConvWork[T]{}
	run := func() {
		switch {
		case backward && padded:
			convBackwardPadded(g, d, x, w, y, dx, true, true, wk, 0, n)
		case backward:
			convBackwardImages(g, d, x, w, y, dx, true, true, wk, 0, n)
		default:
			for img := range n {
				xi, yi := x[img*g.C*d.hw:(img+1)*g.C*d.hw], y[img*g.M*d.p:(img+1)*g.M*d.p]
				if padded {
					convImagePadded(g, d, xi, w, bias, yi, nil, wk, false)
				} else {
					convImageIm2col(g, d, xi, w, bias, yi, nil, wk)
				}
			}
		}
	}
	run()
	for b.Loop() {
		run()
	}
	flops := convFLOPs(g, n)
	if backward {
		flops *= 2
	}
	reportGFLOPS(b, flops)
}

// benchConvBatch times convBatchPadded over batches of nb images.
func benchConvBatch[T Float](b *testing.B, g Conv2D, n, nb int) {
	d := g.dims()
	r := newRand(104)
	x := fromF64[T](randSlice(r, n*g.C*d.hw))
	w := fromF64[T](randSlice(r, g.M*d.k))
	bias := fromF64[T](randSlice(r, g.M))
	y := make([]T, n*g.M*d.p)
	wk := &ConvWork[T]{}
	run := func() {
		for a := 0; a < n; a += nb {
			e := min(a+nb, n)
			convBatchPadded(g, d, e-a, x[a*g.C*d.hw:e*g.C*d.hw], w, bias, y[a*g.M*d.p:e*g.M*d.p], nil, wk, false)
		}
	}
	run()
	for b.Loop() {
		run()
	}
	reportGFLOPS(b, convFLOPs(g, n))
}

// BenchmarkConvQuantized measures, on one worker, the forward convolution
// of the shipped models' layers with an 8-bit input: fake-quantized
// float32 (ConvForward with a FakeQuant) next to integer (QConvForward).
func BenchmarkConvQuantized(b *testing.B) {
	q := &FakeQuant[float32]{Scale: 0.02, ZP: 60, Lo: 0, Hi: 255}
	for _, c := range modelConvs {
		g, n := c.g, 256
		if g.H > 28 {
			n = 8
		}
		d := g.dims()
		r := newRand(105)
		x := to32(randSlice(r, n*g.C*d.hw))
		w := to32(randSlice(r, g.M*d.k))
		codes := make([]int8, len(w))
		for i, v := range w {
			codes[i] = int8(v * 127)
		}
		bias, scale := to32(randSlice(r, g.M)), to32(randSlice(r, g.M))
		y := make([]float32, n*g.M*d.p)
		b.Run(c.name+"/fakequant", func(b *testing.B) {
			work := workFor[float32](g, 1)
			for b.Loop() {
				ConvForward(nil, g, n, x, w, bias, y, q, work)
			}
			reportGFLOPS(b, convFLOPs(g, n))
		})
		b.Run(c.name+"/integer", func(b *testing.B) {
			qw := PackQWeights(g.M, d.k, g.Group, codes)
			work := []*QConvWork{{}}
			for b.Loop() {
				QConvForward(nil, g, n, x, qw, q, scale, bias, y, work)
			}
			reportGFLOPS(b, convFLOPs(g, n))
		})
	}
}

// BenchmarkMaxPool2x2 times LeNet's 2×2 stride-2 max pooling with the
// argmax a backward pass needs (float64: the sensitivity passes).
func BenchmarkMaxPool2x2(b *testing.B) {
	p := Pool2D{C: 6, H: 24, W: 24, KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1}
	const n = 128
	r := newRand(104)
	x := randSlice(r, n*p.C*p.H*p.W)
	y := make([]float64, n*p.C*p.OutH()*p.OutW())
	arg := make([]int32, len(y))
	b.Run("float64/lenet_pool1_argmax/n=128", func(b *testing.B) {
		for b.Loop() {
			MaxPoolForward(nil, p, n, x, y, arg)
		}
	})
}

// BenchmarkQMicroKernels times each integer micro-kernel set this CPU runs
// on a 6×(12·16) tile with K = 144 (a 16-channel 3×3 convolution's depth,
// rows read in place at scattered offsets as from the padded layout), in
// giga multiply-adds per second: the ratio between sets is what their
// instructions buy.
func BenchmarkQMicroKernels(b *testing.B) {
	const kp, np = 72, 12
	r := newRand(106)
	a, _ := randCodes(r, 2*qMR*kp)
	panel := make([]int16, len(a))
	for i, v := range a {
		panel[i] = int16(v)
	}
	_, src := randCodes(r, 16<<10)
	off := make([]int, 2*kp)
	for i := range off {
		off[i] = r.IntN(len(src) - np*qNR)
	}
	c := make([]int32, qMR*np*qNR)
	quad := make([]int8, 4*qQuadMR*(kp/2))
	for i := range quad {
		quad[i] = int8(a[i%len(a)])
	}
	offQ := make([]int, 4*(kp/2))
	copy(offQ, off)
	for _, arch := range qArchs {
		b.Run(arch.name, func(b *testing.B) {
			for b.Loop() {
				arch.kernels[qMR](kp, &panel[0], &src[0], &off[0], &c[0], np*qNR, np)
			}
			b.ReportMetric(float64(b.N)*2*kp*qMR*np*qNR/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
		if arch.quads == nil {
			continue
		}
		// The same depth (kp pairs = kp/2 quads) on int8 quads, in
		// their own tile of qQuadMR rows.
		cq := make([]int32, qQuadMR*np*qNR)
		b.Run(arch.name+"/quads", func(b *testing.B) {
			for b.Loop() {
				arch.quads[qQuadMR](kp/2, &quad[0], &src[0], &offQ[0], &cq[0], np*qNR, np)
			}
			b.ReportMetric(float64(b.N)*2*kp*qQuadMR*np*qNR/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
