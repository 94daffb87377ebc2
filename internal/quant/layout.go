package quant

import "fmt"

// WeightsLayout is Weights for a weight tensor whose output channels are on
// axis 0 or axis 1 (Gemm with transB=0 and MatMul store K×N, channels
// last; ConvTranspose stores C_in × C_out/group × kernel). It rearranges
// to channel-major around the quantizer so per-channel methods work per
// output channel. hess, when not nil, is in the same layout as w. dst must
// not alias w when axis is 1.
func WeightsLayout(dst, w []float64, shape []int, axis int, s WeightSpec, hess []float64) error {
	if axis == 0 {
		return Weights(dst, w, shape[0], s, hess)
	}
	if axis != 1 || len(shape) < 2 {
		return fmt.Errorf("quant: weight of shape %v: channel axis %d is not supported (0, or 1 of a tensor of rank ≥ 2)", shape, axis)
	}
	t := ChannelMajor(w, shape, axis)
	var th []float64
	if hess != nil {
		th = ChannelMajor(hess, shape, axis)
	}
	if err := Weights(t, t, shape[axis], s, th); err != nil {
		return err
	}
	FromChannelMajor(dst, t, shape, axis)
	return nil
}

// ChannelMajor returns a copy of w (of the given shape) with the channels
// of axis first: element (o, c, i) of w seen as outer × channels × inner
// goes to (c, o, i).
func ChannelMajor[E any](w []E, shape []int, axis int) []E {
	outer, ch, inner := split(shape, axis)
	t := make([]E, len(w))
	for o := range outer {
		for c := range ch {
			copy(t[(c*outer+o)*inner:(c*outer+o+1)*inner], w[(o*ch+c)*inner:(o*ch+c+1)*inner])
		}
	}
	return t
}

// FromChannelMajor writes cm, in ChannelMajor's layout, back into dst in
// the tensor's own.
func FromChannelMajor[E any](dst, cm []E, shape []int, axis int) {
	outer, ch, inner := split(shape, axis)
	for o := range outer {
		for c := range ch {
			copy(dst[(o*ch+c)*inner:(o*ch+c+1)*inner], cm[(c*outer+o)*inner:(c*outer+o+1)*inner])
		}
	}
}

// ChannelOf returns the channel (along axis) of element i of a tensor of
// the given shape.
func ChannelOf(i int, shape []int, axis int) int {
	_, ch, inner := split(shape, axis)
	return (i / inner) % ch
}

func split(shape []int, axis int) (outer, ch, inner int) {
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return outer, shape[axis], inner
}
