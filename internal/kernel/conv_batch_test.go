package kernel

import (
	"math"
	"testing"
)

// TestConvBatchPadded checks that convBatchPadded gives, bit for bit,
// the outputs of convImagePadded image by image, on every non-depthwise
// test geometry that montages are safe for on this CPU (montageSafe;
// whichever path ConvForward would pick for it), with and
// without input quantization and ReLU, for batches of 1, 2 and 5 images
// through one ConvWork. A batch runs the same multiply-adds in the same
// order per output, only gathered side by side, so nothing may differ.
func TestConvBatchPadded(t *testing.T) {
	t.Run("float32", func(t *testing.T) { testConvBatchPadded[float32](t) })
	t.Run("float64", func(t *testing.T) { testConvBatchPadded[float64](t) })
}

func testConvBatchPadded[T Float](t *testing.T) {
	r := newRand(21)
	convs := allConvs()
	if testing.Short() {
		convs = namedConvs()
	}
	convs["cnn4 conv3"] = Conv2D{C: 16, H: 7, W: 7, M: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}
	convs["1x1 on 7x7"] = Conv2D{C: 32, H: 7, W: 7, M: 32, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Group: 1}
	convs["2x2 output groups"] = Conv2D{C: 6, H: 3, W: 3, M: 9, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 3}
	batch, ref := &ConvWork[T]{}, &ConvWork[T]{}
	for name, g := range convs {
		if g.depthwise() || !montageSafe(g) {
			continue
		}
		d := g.dims()
		for _, nb := range []int{1, 2, 5} {
			x := fromF64[T](randSlice(r, nb*g.C*d.hw))
			w := fromF64[T](randSlice(r, g.M*d.k))
			bias := fromF64[T](randSlice(r, g.M))
			for _, q := range []*FakeQuant[T]{nil, testQuant[T]()} {
				for _, relu := range []bool{false, true} {
					got, want := make([]T, nb*g.M*d.p), make([]T, nb*g.M*d.p)
					convBatchPadded(g, d, nb, x, w, bias, got, q, batch, relu)
					for i := range nb {
						convImagePadded(g, d, x[i*g.C*d.hw:(i+1)*g.C*d.hw], w, bias, want[i*g.M*d.p:(i+1)*g.M*d.p], q, ref, relu)
					}
					for i := range want {
						if math.Float64bits(float64(got[i])) != math.Float64bits(float64(want[i])) {
							t.Fatalf("%s: %d images, quantized %v, relu %v: y[%d] = %v, want %v", name, nb, q != nil, relu, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestBatchImages pins the choice of montages on the shipped models'
// layers (float32, batch 13), where montages are safe: the small images,
// not LeNet's first layer, resnet's 14×14 stride-1 layer or the
// 64-channel 56×56 one.
func TestBatchImages(t *testing.T) {
	large := map[string]bool{"lenet_conv1": true, "resnet_b_conv": true, "resnet_3x3_64_56x56": true}
	for _, c := range modelConvs {
		got := batchImages[float32](c.g, c.g.dims(), 13)
		want := montageSafe(c.g) && !large[c.name]
		if (got > 0) != want || got > 13 {
			t.Errorf("%s: %d images a montage, want batched %v", c.name, got, want)
		}
	}
}

// TestConvBatchAlternate runs montages of different widths and
// geometries one after the other through one ConvWork, as a worker's
// chunks do (a full chunk, then a shorter last one): the padded buffers
// swapped back by padFor must still hold zeros in their padding.
func TestConvBatchAlternate(t *testing.T) {
	r := newRand(23)
	a := Conv2D{C: 16, H: 7, W: 7, M: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}
	b := Conv2D{C: 3, H: 9, W: 8, M: 5, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 2, PadLeft: 1, PadBottom: 0, PadRight: 2, DilH: 1, DilW: 1, Group: 1}
	steps := []struct {
		g  Conv2D
		nb int
	}{{a, 5}, {a, 3}, {a, 5}, {b, 4}, {a, 3}, {b, 2}, {b, 4}, {a, 5}, {a, 2}}
	batch, ref := &ConvWork[float32]{}, &ConvWork[float32]{}
	for si, st := range steps {
		g, nb := st.g, st.nb
		if !montageSafe(g) {
			continue
		}
		d := g.dims()
		// Large values, so that stale interior values left in the
		// padding would show.
		x := to32(randSlice(r, nb*g.C*d.hw))
		for i := range x {
			x[i] *= 1000
		}
		w := to32(randSlice(r, g.M*d.k))
		bias := to32(randSlice(r, g.M))
		var q *FakeQuant[float32]
		if si%2 == 1 {
			q = &FakeQuant[float32]{Scale: 8, ZP: 0, Lo: -127, Hi: 127}
		}
		got, want := make([]float32, nb*g.M*d.p), make([]float32, nb*g.M*d.p)
		convBatchPadded(g, d, nb, x, w, bias, got, q, batch, false)
		for i := range nb {
			convImagePadded(g, d, x[i*g.C*d.hw:(i+1)*g.C*d.hw], w, bias, want[i*g.M*d.p:(i+1)*g.M*d.p], q, ref, false)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("step %d (%d images): y[%d] = %v, want %v", si, nb, i, got[i], want[i])
			}
		}
	}
}

// TestQConvMontage checks that qconvMontage gives, bit for bit, the
// outputs of qconvImage image by image, on every non-dense test geometry
// montages of codes are safe for, 8- and 4-bit inputs (two zero points),
// with and without ReLU, for montages of 1, 2 and 5 images through one
// QConvWork, their widths alternating.
func TestQConvMontage(t *testing.T) {
	r := newRand(24)
	convs := allConvs()
	if testing.Short() {
		convs = namedConvs()
	}
	convs["cnn4 conv3"] = Conv2D{C: 16, H: 7, W: 7, M: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}
	batch, ref := &QConvWork{}, &QConvWork{}
	for name, g := range convs {
		if g.dense() || !qmontageSafe(g) {
			continue
		}
		d := g.dims()
		codes := make([]int8, g.M*d.k)
		for i := range codes {
			codes[i] = int8(r.IntN(255) - 127)
		}
		w := PackQWeights(g.M, d.k, g.Group, codes)
		scale, bias := to32(randSlice(r, g.M)), to32(randSlice(r, g.M))
		for _, nb := range []int{5, 2, 5, 1} {
			x := to32(randSlice(r, nb*g.C*d.hw))
			for qi := range qTestQuants {
				q := &qTestQuants[qi]
				for _, relu := range []bool{false, true} {
					got, want := nanSlice[float32](nb*g.M*d.p), nanSlice[float32](nb*g.M*d.p)
					if !qconvMontage(g, d, nb, x, w, q, scale, bias, got, batch, relu) && relu {
						Relu(got, got)
					}
					for i := range nb {
						yi := want[i*g.M*d.p : (i+1)*g.M*d.p]
						if !qconvImage(g, d, x[i*g.C*d.hw:(i+1)*g.C*d.hw], w, q, scale, bias, yi, ref, relu) && relu {
							Relu(yi, yi)
						}
					}
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: %d images, quantizer %d, relu %v: y[%d] = %v, want %v", name, nb, qi, relu, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestMontageAllocs checks that montages of alternating widths (a
// worker's full chunks and its last one) allocate nothing once both
// have run: the padded layouts and their buffers are kept (padFor,
// convPaddedSetup, qconvSetup).
func TestMontageAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g := Conv2D{C: 16, H: 7, W: 7, M: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilH: 1, DilW: 1, Group: 1}
	d := g.dims()
	if batchImages[float32](g, d, 13) == 0 || qbatchImages(g, d, 13) == 0 {
		t.Skip("no montages for this layer on this CPU")
	}
	r := newRand(25)
	x := to32(randSlice(r, 13*g.C*d.hw))
	w := to32(randSlice(r, g.M*d.k))
	bias, scale := to32(randSlice(r, g.M)), to32(randSlice(r, g.M))
	codes := make([]int8, g.M*d.k)
	for i := range codes {
		codes[i] = int8(r.IntN(255) - 127)
	}
	qw := PackQWeights(g.M, d.k, 1, codes)
	y := make([]float32, 13*g.M*d.p)
	q := &qTestQuants[0]
	team := NewTeam(1) // one worker, as in a chunk of the evaluator's
	defer team.Close()
	work, qwork := workFor[float32](g, 1), []*QConvWork{{}}
	run := func() {
		for _, n := range []int{13, 11} {
			ConvForwardReLU(team, g, n, x[:n*g.C*d.hw], w, bias, y[:n*g.M*d.p], q, work)
			QConvForwardReLU(team, g, n, x[:n*g.C*d.hw], qw, q, scale, bias, y[:n*g.M*d.p], qwork)
		}
	}
	run()
	if a := testing.AllocsPerRun(3, run); a != 0 {
		t.Errorf("%v allocations per pair of montages, want 0", a)
	}
}
