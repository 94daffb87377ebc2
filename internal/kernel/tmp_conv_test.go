package kernel

import (
	"fmt"
	"testing"
)

func BenchmarkTmpConv(b *testing.B) {
	for _, g := range []Conv2D{
		{C: 1, H: 28, W: 28, M: 6, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2, DilH: 1, DilW: 1, Group: 1},
		{C: 6, H: 14, W: 14, M: 16, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1},
		{C: 16, H: 5, W: 5, M: 120, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1},
		{C: 1, H: 28, W: 28, M: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1},
		{C: 16, H: 28, W: 28, M: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1},
		{C: 16, H: 28, W: 28, M: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1},
		{C: 32, H: 14, W: 14, M: 32, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1},
	} {
		n := 128
		d := g.dims()
		x := make([]float32, n*g.C*d.hw)
		for i := range x {
			x[i] = float32(i%13) * 0.1
		}
		w := make([]float32, g.M*d.k)
		for i := range w {
			w[i] = float32(i%7) * 0.1
		}
		bias := make([]float32, g.M)
		y := make([]float32, n*g.M*d.p)
		work := []*ConvWork[float32]{NewConvWork[float32](g)}
		t := NewTeam(1)
		b.Run(fmt.Sprintf("C%dH%dM%dK%d", g.C, g.H, g.M, g.KH), func(b *testing.B) {
			for range b.N {
				ConvForward(t, g, n, x, w, bias, y, nil, work)
			}
			flops := 2 * float64(g.M*d.k*d.p*n*b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(n*b.N), "ns/image")
		})
	}
}
