package kernel

import (
	"errors"
	"fmt"
	"math"
)

// ErrGeometry is wrapped by the errors of Conv2D.Validate and
// Pool2D.Validate.
var ErrGeometry = errors.New("kernel: invalid geometry")

// Conv2D is the geometry of a 2-D convolution (ONNX Conv) over one NCHW
// image: C input channels of H×W, M output channels, a KH×KW kernel,
// strides, pads at the four sides, dilations and Group channel groups
// (Group = C = M is a depthwise convolution). Every stride, dilation and
// Group must be at least 1: the zero value is not a valid geometry.
type Conv2D struct {
	C, H, W int
	M       int // output channels

	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadLeft, PadBottom, PadRight int
	DilH, DilW                           int
	Group                                int
}

// OutH returns the output height ⌊(H + PadTop + PadBottom − DilH·(KH−1) − 1) / StrideH⌋ + 1,
// or 0 when the padded input is shorter than the dilated kernel.
func (g Conv2D) OutH() int { return convOut(g.H, g.KH, g.StrideH, g.PadTop, g.PadBottom, g.DilH) }

// OutW returns the output width, computed like OutH.
func (g Conv2D) OutW() int { return convOut(g.W, g.KW, g.StrideW, g.PadLeft, g.PadRight, g.DilW) }

func convOut(in, k, stride, p0, p1, dil int) int {
	span := in + p0 + p1 - dil*(k-1) - 1
	if stride < 1 || span < 0 {
		return 0
	}
	return span/stride + 1
}

// Validate returns an error wrapping ErrGeometry when g is not a usable
// convolution geometry.
func (g Conv2D) Validate() error {
	switch {
	case g.C < 1 || g.H < 1 || g.W < 1 || g.M < 1:
		return fmt.Errorf("kernel: conv input %d×%d×%d, %d outputs: %w", g.C, g.H, g.W, g.M, ErrGeometry)
	case g.KH < 1 || g.KW < 1:
		return fmt.Errorf("kernel: conv kernel %d×%d: %w", g.KH, g.KW, ErrGeometry)
	case g.StrideH < 1 || g.StrideW < 1:
		return fmt.Errorf("kernel: conv strides %d×%d: %w", g.StrideH, g.StrideW, ErrGeometry)
	case g.DilH < 1 || g.DilW < 1:
		return fmt.Errorf("kernel: conv dilations %d×%d: %w", g.DilH, g.DilW, ErrGeometry)
	case g.PadTop < 0 || g.PadLeft < 0 || g.PadBottom < 0 || g.PadRight < 0:
		return fmt.Errorf("kernel: conv pads %d,%d,%d,%d: %w", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, ErrGeometry)
	case g.Group < 1 || g.C%g.Group != 0 || g.M%g.Group != 0:
		return fmt.Errorf("kernel: conv group %d for %d→%d channels: %w", g.Group, g.C, g.M, ErrGeometry)
	case g.OutH() < 1 || g.OutW() < 1:
		return fmt.Errorf("kernel: conv output %d×%d: %w", g.OutH(), g.OutW(), ErrGeometry)
	}
	return nil
}

// depthwise reports whether g is a depthwise convolution with one output
// channel per input channel, which has its own direct kernel.
func (g Conv2D) depthwise() bool { return g.Group == g.C && g.M == g.C }

// pointwise reports whether g is a 1×1, stride-1, unpadded convolution,
// whose im2col matrix is the image itself.
func (g Conv2D) pointwise() bool {
	return g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 &&
		g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0
}

// dense reports whether g is one filter position over the whole
// unpadded image (KH = H, KW = W, no groups or dilation: a 1×1 output,
// LeNet-5's C5), which is a fully connected layer over the batch.
func (g Conv2D) dense() bool {
	return g.KH == g.H && g.KW == g.W && g.Group == 1 && g.DilH == 1 && g.DilW == 1 &&
		g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0
}

// convDims holds the sizes derived from a valid Conv2D.
type convDims struct {
	oh, ow int
	p      int // output pixels per channel, oh·ow
	hw     int // input pixels per channel
	cg, mg int // input and output channels per group
	k      int // rows of one group's im2col matrix, cg·KH·KW
}

func (g Conv2D) dims() convDims {
	oh, ow := g.OutH(), g.OutW()
	cg := g.C / g.Group
	return convDims{oh: oh, ow: ow, p: oh * ow, hw: g.H * g.W, cg: cg, mg: g.M / g.Group, k: cg * g.KH * g.KW}
}

// FakeQuant is uniform affine fake quantization with integer zero point:
//
//	q = clamp(roundHalfEven(x/Scale) + ZP, Lo, Hi)
//	x̂ = (q − ZP)·Scale
//
// ZP, Lo and Hi hold integers (for signed 8-bit: Lo = −128, Hi = 127).
// Scale must be positive and Lo ≤ ZP ≤ Hi, so that 0 maps to exactly 0.
type FakeQuant[T Float] struct {
	Scale, ZP, Lo, Hi T
}

// Apply returns the fake-quantized value x̂ of x. NaN stays NaN.
func (q *FakeQuant[T]) Apply(x T) T {
	v := T(roundHalfEven(float64(x/q.Scale))) + q.ZP
	v = min(max(v, q.Lo), q.Hi)
	return (v - q.ZP) * q.Scale
}

// check panics unless q is usable.
func (q *FakeQuant[T]) check(op string) {
	if !(q.Scale > 0) || math.IsInf(float64(q.Scale), 0) {
		panic(fmt.Sprintf("kernel: %s: FakeQuant scale %v is not positive and finite", op, q.Scale))
	}
	if q.ZP != T(math.Round(float64(q.ZP))) || !(q.Lo <= q.ZP && q.ZP <= q.Hi) {
		panic(fmt.Sprintf("kernel: %s: FakeQuant zero point %v outside [%v, %v] or not an integer", op, q.ZP, q.Lo, q.Hi))
	}
}

// roundHalfEven rounds to the nearest integer, ties to even, like
// math.RoundToEven but faster for the usual magnitudes: adding and
// subtracting 1.5·2⁵² makes the FPU's round-to-nearest-even do the work.
func roundHalfEven(v float64) float64 {
	const magic = 0x1.8p52
	if math.Abs(v) < 0x1p51 {
		t := float64(v + magic)
		return float64(t - magic)
	}
	return math.RoundToEven(v)
}

// ConvWork is the scratch memory of one worker of ConvForward and
// ConvBackward. A ConvWork must not be used by two calls at once; reused
// across calls it makes them allocation-free. It grows on demand, so one
// ConvWork may serve convolutions of different geometries.
type ConvWork[T Float] struct {
	col  []T         // im2col matrix of one image (C·KH·KW × OH·OW), or one zero-padded input plane for depthwise
	qx   []T         // one fake-quantized image, when quantizing before im2col is cheaper than during it
	dcol []T         // gradient of col (backward only)
	dw   []T         // this worker's weight-gradient accumulator (backward only)
	db   []T         // this worker's bias-gradient accumulator (backward only)
	gemm GemmWork[T] // packing buffers of this worker's GEMMs

	// The padded layout (conv_padded.go).
	pad      []T     // one padded, phase-split image
	dpad     []T     // its gradient (backward only)
	wide     []T     // one group's output, or all output gradients, over the wide columns
	wperm    []T     // the weights tap-major (backward only)
	dwperm   []T     // the weight gradient tap-major (backward only)
	off      []int   // per im2col row of a group: its offset in the padded image
	taps     []int   // per kernel tap: its offset within a channel
	pg       padGeom // the layout of offFor
	offFor   Conv2D  // the geometry off, taps and pg were computed for
	padGeo   Conv2D  // the geometry whose padding pad holds
	spare    []T     // the padded buffer of the layout before (padFor)
	spareGeo Conv2D

	phases    phaseCache    // the phase places of the last layout (padImage, montages)
	setups    []paddedSetup // the last layouts computed, offFor's among them
	nextSetup int           // the entry of setups to replace next
}

// NewConvWork returns a ConvWork sized for the forward pass of one image of
// g; the first ConvBackward that uses it allocates its gradient buffers.
// It panics when g is invalid.
func NewConvWork[T Float](g Conv2D) *ConvWork[T] {
	if err := g.Validate(); err != nil {
		panic("kernel: NewConvWork: " + err.Error())
	}
	if usePadded(g) {
		wk := &ConvWork[T]{}
		pg, _ := convPaddedSetup(g, g.dims(), wk)
		wk.pad, wk.padGeo = make([]T, pg.size), g // all zeros: its padding is written
		wk.wide = make([]T, g.M/g.Group*g.dims().oh*pg.wq)
		return wk
	}
	wk := &ConvWork[T]{col: make([]T, forwardColLen(g))}
	if prequantize(g) {
		wk.qx = make([]T, g.C*g.H*g.W)
	}
	return wk
}

// prequantize reports whether ConvForward fake-quantizes a whole image
// before im2col rather than each value as im2col copies it: cheaper when
// the im2col matrix has more entries than the image, that is when
// windows overlap, and for pointwise convolutions, whose im2col matrix is
// the image itself (one vector sweep instead of one per short row). Both
// give the same values.
func prequantize(g Conv2D) bool {
	return !g.depthwise() && (g.pointwise() || g.KH*g.KW*g.OutH()*g.OutW() > g.H*g.W)
}

// forwardColLen is the length of the col buffer that ConvForward needs.
func forwardColLen(g Conv2D) int {
	if g.depthwise() {
		return (g.H + g.PadTop + g.PadBottom) * (g.W + g.PadLeft + g.PadRight)
	}
	return g.C * g.KH * g.KW * g.OutH() * g.OutW()
}

// grow returns s resliced to length n, reallocating when its capacity is
// too small. The contents are unspecified.
func grow[T Float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// checkConvArgs panics unless the geometry, batch, slices and work fit
// together; it returns the number of workers to use.
func checkConvArgs[T Float](op string, t *Team, g Conv2D, n int, work []*ConvWork[T]) int {
	if err := g.Validate(); err != nil {
		panic(fmt.Sprintf("kernel: %s: %v", op, err))
	}
	if n < 0 {
		panic(fmt.Sprintf("kernel: %s: negative batch %d", op, n))
	}
	workers := min(len(work), t.Workers())
	if workers < 1 {
		panic(fmt.Sprintf("kernel: %s: no ConvWork", op))
	}
	for i, wk := range work[:workers] {
		if wk == nil {
			panic(fmt.Sprintf("kernel: %s: work[%d] is nil", op, i))
		}
	}
	return workers
}

// checkLen panics unless len(s) is want; nil is accepted when optional.
func checkLen[T Float](op, name string, s []T, want int, optional bool) {
	if optional && s == nil {
		return
	}
	if len(s) != want {
		panic(fmt.Sprintf("kernel: %s: len(%s) = %d, want %d", op, name, len(s), want))
	}
}

// validRange returns the outputs [lo, hi) of [0, n) whose input index
// o·stride + off lies in [0, limit).
func validRange(n, stride, off, limit int) (lo, hi int) {
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	if t := limit - 1 - off; t >= 0 {
		hi = min(n, t/stride+1)
	}
	lo = min(lo, n)
	return lo, max(hi, lo)
}
