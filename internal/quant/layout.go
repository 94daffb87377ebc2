package quant

// WeightsLayout is Weights for a weight tensor whose output channels are on
// axis 0 or axis 1 (of a 2-D tensor: Gemm with transB=0 and MatMul store
// K×N, channels last). It transposes to channel-major around the quantizer
// so per-channel methods work per output channel. hess, when not nil, is in
// the same layout as w. dst must not alias w when axis is 1.
func WeightsLayout(dst, w []float64, shape []int, axis int, s WeightSpec, hess []float64) error {
	if axis == 0 {
		return Weights(dst, w, shape[0], s, hess)
	}
	if axis != 1 || len(shape) != 2 {
		panic("quant: WeightsLayout: channel axis must be 0, or 1 of a 2-D weight")
	}
	rows, cols := shape[0], shape[1]
	t := transpose(w, rows, cols)
	var th []float64
	if hess != nil {
		th = transpose(hess, rows, cols)
	}
	if err := Weights(t, t, cols, s, th); err != nil {
		return err
	}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			dst[r*cols+c] = t[c*rows+r]
		}
	}
	return nil
}

func transpose(a []float64, rows, cols int) []float64 {
	t := make([]float64, len(a))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = a[r*cols+c]
		}
	}
	return t
}
