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
		b.Run(fmt.Sprintf("float32/n=%d", n), func(b *testing.B) { benchGemm(b, Gemm[float32], n) })
		b.Run(fmt.Sprintf("float64/n=%d", n), func(b *testing.B) { benchGemm(b, Gemm[float64], n) })
	}
}

// BenchmarkGemmSerial measures the single-threaded GEMM the convolution
// workers use.
func BenchmarkGemmSerial(b *testing.B) {
	for _, n := range []int{256, 512} {
		b.Run(fmt.Sprintf("float32/n=%d", n), func(b *testing.B) { benchGemm(b, gemmSerial[float32], n) })
		b.Run(fmt.Sprintf("float64/n=%d", n), func(b *testing.B) { benchGemm(b, gemmSerial[float64], n) })
	}
}

func benchGemm[T Float](b *testing.B, f gemmFunc[T], n int) {
	r := newRand(100)
	a := fromF64[T](randSlice(r, n*n))
	bb := fromF64[T](randSlice(r, n*n))
	c := make([]T, n*n)
	for b.Loop() {
		f(false, false, n, n, n, 1, a, n, bb, n, 0, c, n)
	}
	reportGFLOPS(b, 2*float64(n)*float64(n)*float64(n))
}

// Benchmark geometries: LeNet-5's second convolution, a ResNet stage-1
// 3×3 convolution and a MobileNet-style depthwise convolution.
var (
	benchLeNetConv2 = Conv2D{C: 6, H: 14, W: 14, M: 16, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	benchResNet3x3  = Conv2D{C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}
	benchDepthwise  = Conv2D{C: 32, H: 14, W: 14, M: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 32}
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
				ConvForward(g, n, x, w, bias, y, q, work)
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
		ConvBackward(g, n, x, w, dy, dx, dw, db, work) // grows the gradient buffers
		for b.Loop() {
			ConvBackward(g, n, x, w, dy, dx, dw, db, work)
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
			MaxPoolForward(p, n, x, y, arg)
		}
	})
	b.Run("float32/maxpool_3x3s2_64x56x56_noargmax/n=8", func(b *testing.B) {
		for b.Loop() {
			MaxPoolForward(p, n, x, y, nil)
		}
	})
	b.Run("float32/avgpool_3x3s2_64x56x56/n=8", func(b *testing.B) {
		for b.Loop() {
			AvgPoolForward(p, n, x, y)
		}
	})
}
