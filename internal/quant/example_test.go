package quant_test

import (
	"fmt"

	"mpq/internal/quant"
)

func ExampleWeights() {
	// Two output channels of four weights; 3-bit uniform: qmax = 3.
	w := []float64{3, -1.5, 0.5, 2.5, -6, 1, 2, -3}
	dst := make([]float64, len(w))
	if err := quant.Weights(dst, w, 2, quant.WeightSpec{Method: quant.Uniform, Bits: 3}, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dst)
	// Output:
	// [3 -2 0 2 -6 0 2 -4]
}

func ExampleAffineFromRange() {
	a := quant.AffineFromRange(-1, 3, 8)
	fmt.Printf("scale %.6f zero point %d\n", a.Scale, a.ZeroPoint)
	fmt.Println(a.Quantize(0), a.Quantize(1), a.Quantize(-2))
	// Output:
	// scale 0.015686 zero point 64
	// 64 128 0
}

func ExampleParseMethod() {
	_, err := quant.ParseMethod("lloyd")
	fmt.Println(err)
	// Output:
	// quant: unknown method "lloyd" (valid: uniform, binary, ternary, kmeans, kmeans-hessian, pow2)
}
