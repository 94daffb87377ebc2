package quant

import (
	"math"
	"slices"
	"testing"
)

// TestWeightsLayoutAxis1 checks per-channel quantization of a ConvTranspose
// weight (C_in × C_out × kh × kw, channels on axis 1): each output channel
// gets the scale of its own largest magnitude, wherever its elements lie,
// and ChannelMajor/FromChannelMajor round-trip.
func TestWeightsLayoutAxis1(t *testing.T) {
	shape := []int{3, 2, 2, 2} // 3 inputs, 2 output channels, 2 × 2 kernel
	w := make([]float64, 24)
	for i := range w {
		c := ChannelOf(i, shape, 1)
		w[i] = float64(i%4+1) * []float64{0.01, 10}[c] // channel 1 is 1000 times larger
	}
	cm := ChannelMajor(w, shape, 1)
	back := make([]float64, len(w))
	FromChannelMajor(back, cm, shape, 1)
	if !slices.Equal(back, w) {
		t.Fatalf("round trip: %v, want %v", back, w)
	}
	for i, v := range cm[:12] { // channel 0 first
		if v > 0.05 {
			t.Fatalf("channel-major element %d = %v belongs to channel 1", i, v)
		}
	}
	dst := make([]float64, len(w))
	if err := WeightsLayout(dst, w, shape, 1, WeightSpec{Method: Uniform, Bits: 4}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		// 4 bits: 7 levels a side; channel 0's step is 0.04/7, channel 1's 40/7.
		step := []float64{0.04, 40}[ChannelOf(i, shape, 1)] / 7
		if d := math.Abs(dst[i] - w[i]); d > step/2+1e-12 {
			t.Fatalf("weight %d: %v quantized to %v, off by more than half a step %v", i, w[i], dst[i], step)
		}
	}
	if err := WeightsLayout(dst, w, shape, 2, WeightSpec{Method: Uniform, Bits: 4}, nil); err == nil {
		t.Fatal("channel axis 2 was accepted")
	}
}
