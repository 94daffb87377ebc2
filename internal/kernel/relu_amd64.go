//go:build !purego && !noasm

package kernel

//go:noescape
func reluAVX2F64(dst *float64, src *float64, n int)

//go:noescape
func reluBackAVX2F64(gx, x, gy *float64, n int)

//go:noescape
func reluBackAVX2F32(gx, x, gy *float32, n int)

// relu64Asm is reluAsm for float64 (multiples of 4).
func relu64Asm(dst, src []float64) int {
	n := len(dst) / 4 * 4
	if n == 0 || !hasAVX2() {
		return 0
	}
	_ = src[n-1]
	reluAVX2F64(&dst[0], &src[0], n)
	return n
}

// reluBackAsm does ReluBackward's first len(gx) values rounded down to a
// multiple of the vector width and returns how many, 0 without AVX2.
func reluBackAsm[T Float](gx, x, gy []T) int {
	if !hasAVX2() {
		return 0
	}
	switch g := any(gx).(type) {
	case []float64:
		n := len(g) / 4 * 4
		if n == 0 {
			return 0
		}
		xs, gys := any(x).([]float64), any(gy).([]float64)
		_, _ = xs[n-1], gys[n-1]
		reluBackAVX2F64(&g[0], &xs[0], &gys[0], n)
		return n
	case []float32:
		n := len(g) / 8 * 8
		if n == 0 {
			return 0
		}
		xs, gys := any(x).([]float32), any(gy).([]float32)
		_, _ = xs[n-1], gys[n-1]
		reluBackAVX2F32(&g[0], &xs[0], &gys[0], n)
		return n
	}
	return 0
}
