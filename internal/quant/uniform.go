package quant

import "math"

// Code is an integer type that can hold the codes of UniformCodes.
type Code interface {
	~int8 | ~int16 | ~int32
}

// uniformQmax returns 2^(bits-1) - 1, the largest code magnitude.
func uniformQmax(bits int) float64 {
	return float64(int64(1)<<(bits-1) - 1)
}

func checkBits(bits int) {
	if bits < 1 || bits > MaxBits {
		panic(errBits)
	}
}

// UniformScales writes the per-output-channel scale of the symmetric uniform
// quantizer into scales (len(scales) == channels).
//
// For bits ≥ 2, scale_c = max|w_c| / (2^(bits-1) - 1). For bits == 1 the
// quantizer is Binary and scale_c = mean|w_c|, so that ŵ = code·scale holds
// at every bitwidth. An all-zero channel gets scale 0 (and code 0, or +1 at
// one bit); exporters that need a positive scale may substitute any positive
// value for a zero scale at bits ≥ 2 without changing ŵ.
//
// w must be finite. UniformScales panics if bits is outside 1..MaxBits,
// len(scales) != channels, or channels does not divide len(w).
func UniformScales(w []float64, channels, bits int, scales []float64) {
	checkBits(bits)
	checkChannels(len(w), channels)
	if len(scales) != channels {
		panic(errScalesLength)
	}
	n := len(w) / channels
	for c := range channels {
		row := w[c*n : (c+1)*n]
		if bits == 1 {
			scales[c] = meanAbs(row)
		} else {
			scales[c] = maxAbs(row) / uniformQmax(bits)
		}
	}
}

// UniformCodes writes the integer codes of the symmetric uniform quantizer
// into codes (len(codes) == len(w)), given the scales from UniformScales.
//
// For bits ≥ 2, code = clamp(roundHalfEven(w/scale_c), -qmax, qmax) with
// qmax = 2^(bits-1) - 1, and 0 where scale_c is 0. For bits == 1, code is
// +1 for w ≥ 0 (sign(0) = +1) and -1 otherwise. In every case the
// dequantized weight is float64(code)·scale_c, bit for bit what Weights
// produces for the same spec.
//
// w must be finite. UniformCodes panics if bits is outside 1..MaxBits, if T
// cannot hold ±qmax (int8 holds up to 8 bits, int16 up to 16), or on a length
// mismatch.
func UniformCodes[T Code](codes []T, w []float64, channels, bits int, scales []float64) {
	checkBits(bits)
	checkChannels(len(w), channels)
	if len(scales) != channels {
		panic(errScalesLength)
	}
	if len(codes) != len(w) {
		panic(errCodesLength)
	}
	qmax := int64(1)<<(bits-1) - 1
	if int64(T(qmax)) != qmax {
		panic(errCodeType)
	}
	n := len(w) / channels
	for c := range channels {
		row, out := w[c*n:(c+1)*n], codes[c*n:(c+1)*n]
		s := scales[c]
		switch {
		case bits == 1:
			for i, v := range row {
				if v >= 0 {
					out[i] = 1
				} else {
					out[i] = -1
				}
			}
		case s == 0:
			clear(out)
		default:
			fq := float64(qmax)
			for i, v := range row {
				out[i] = T(clampRound(v/s, fq))
			}
		}
	}
}

// clampRound returns clamp(roundHalfEven(t), -qmax, qmax).
func clampRound(t, qmax float64) float64 {
	q := math.RoundToEven(t)
	if q > qmax {
		return qmax
	}
	if q < -qmax {
		return -qmax
	}
	return q
}

// uniform is the symmetric per-channel uniform quantizer (bits == 1: binary).
func uniform(dst, w []float64, channels, bits int) {
	if bits == 1 {
		binary(dst, w, channels)
		return
	}
	qmax := uniformQmax(bits)
	n := len(w) / channels
	for c := range channels {
		row, out := w[c*n:(c+1)*n], dst[c*n:(c+1)*n]
		s := maxAbs(row) / qmax
		if s == 0 {
			clear(out)
			continue
		}
		for i, v := range row {
			out[i] = clampRound(v/s, qmax) * s
		}
	}
}

// binary is XNOR-Net's binarization: ŵ = sign(w)·mean|w_c|, sign(±0) = +1.
func binary(dst, w []float64, channels int) {
	n := len(w) / channels
	for c := range channels {
		row, out := w[c*n:(c+1)*n], dst[c*n:(c+1)*n]
		a := meanAbs(row)
		for i, v := range row {
			out[i] = math.Copysign(a, v+0) // v+0 turns −0 into +0: sign(±0) = +1
		}
	}
}

// ternary is TWN's ternarization, per output channel.
func ternary(dst, w []float64, channels int) {
	n := len(w) / channels
	for c := range channels {
		row, out := w[c*n:(c+1)*n], dst[c*n:(c+1)*n]
		delta := 0.7 * meanAbs(row)
		// The loops select with bit masks rather than branches: the signs
		// and magnitudes of weights are unpredictable.
		var sum float64
		var cnt uint64
		for _, v := range row {
			a := math.Abs(v)
			m := above(a, delta)
			sum += math.Float64frombits(math.Float64bits(a) & m)
			cnt += m & 1
		}
		if cnt == 0 {
			clear(out)
			continue
		}
		alpha := sum / float64(cnt)
		for i, v := range row {
			m := above(math.Abs(v), delta)
			out[i] = math.Float64frombits(math.Float64bits(math.Copysign(alpha, v)) & m)
		}
	}
}

// above returns all ones if a > delta and zero otherwise.
func above(a, delta float64) uint64 {
	var m uint64
	if a > delta {
		m = ^uint64(0)
	}
	return m
}

func maxAbs(x []float64) float64 {
	var m float64
	for _, v := range x {
		if a := math.Abs(v); a > m {
			m = a
		}
	}
	return m
}

func meanAbs(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += math.Abs(v)
	}
	return s / float64(len(x))
}
