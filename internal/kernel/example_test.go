package kernel_test

import (
	"fmt"

	"mpq/internal/kernel"
)

// A 2×2 averaging kernel over a 3×3 image, with one worker's scratch per
// goroutine of a Team.
func ExampleConvForward() {
	g := kernel.Conv2D{C: 1, H: 3, W: 3, M: 1, KH: 2, KW: 2, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	x := []float32{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}
	w := []float32{0.25, 0.25, 0.25, 0.25}
	y := make([]float32, g.OutH()*g.OutW())
	team := kernel.NewTeam(0) // Workers() goroutines, started when needed
	defer team.Close()
	work := make([]*kernel.ConvWork[float32], team.Workers())
	for i := range work {
		work[i] = kernel.NewConvWork[float32](g)
	}
	kernel.ConvForward(team, g, 1, x, w, nil, y, nil, work)
	fmt.Println(y)

	// Fake-quantize the input to a step of 2, halves to even:
	// x̂ = 0 2 4 / 4 4 6 / 8 8 8.
	q := &kernel.FakeQuant[float32]{Scale: 2, ZP: 0, Lo: -128, Hi: 127}
	kernel.ConvForward(team, g, 1, x, w, nil, y, q, work)
	fmt.Println(y)
	// Output:
	// [3 4 6 7]
	// [2.5 4 6 6.5]
}

func ExampleGemm() {
	a := []float64{1, 2, 3, 4} // 2×2
	b := []float64{5, 6, 7, 8} // 2×2
	c := make([]float64, 4)
	kernel.Gemm(nil, false, true, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2) // C = A·Bᵀ, no Team
	fmt.Println(c)
	// Output:
	// [17 23 39 53]
}
