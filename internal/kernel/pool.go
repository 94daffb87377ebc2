package kernel

import (
	"fmt"
	"math"
)

// Pool2D is the geometry of 2-D max or average pooling (ONNX MaxPool and
// AveragePool) over C channels of H×W. Strides and dilations must be at
// least 1. CeilMode rounds the output size up, as ONNX ceil_mode;
// CountIncludePad makes AvgPool divide by the number of window cells
// inside the padded input rather than inside the input.
type Pool2D struct {
	C, H, W                              int
	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadLeft, PadBottom, PadRight int
	DilH, DilW                           int
	CeilMode                             bool
	CountIncludePad                      bool
}

// OutH returns the output height: with e = DilH·(KH−1) + 1 and
// s = H + PadTop + PadBottom − e, it is ⌊s/StrideH⌋ + 1, or ⌈s/StrideH⌉ + 1
// in ceil mode, where a last window that would start beyond the input and
// its top padding is dropped (as ONNX and PyTorch define). It is 0 when the
// padded input is shorter than the dilated kernel.
func (p Pool2D) OutH() int {
	return poolOut(p.H, p.KH, p.StrideH, p.PadTop, p.PadBottom, p.DilH, p.CeilMode)
}

// OutW returns the output width, computed like OutH.
func (p Pool2D) OutW() int {
	return poolOut(p.W, p.KW, p.StrideW, p.PadLeft, p.PadRight, p.DilW, p.CeilMode)
}

func poolOut(in, k, stride, p0, p1, dil int, ceil bool) int {
	span := in + p0 + p1 - dil*(k-1) - 1
	if stride < 1 || span < 0 {
		return 0
	}
	if !ceil {
		return span/stride + 1
	}
	out := (span+stride-1)/stride + 1
	if (out-1)*stride >= in+p0 {
		out--
	}
	return out
}

// Validate returns an error wrapping ErrGeometry when p is not a usable
// pooling geometry.
func (p Pool2D) Validate() error {
	switch {
	case p.C < 1 || p.H < 1 || p.W < 1:
		return fmt.Errorf("kernel: pool input %d×%d×%d: %w", p.C, p.H, p.W, ErrGeometry)
	case p.H*p.W > math.MaxInt32:
		return fmt.Errorf("kernel: pool plane %d×%d exceeds int32 indices: %w", p.H, p.W, ErrGeometry)
	case p.KH < 1 || p.KW < 1:
		return fmt.Errorf("kernel: pool kernel %d×%d: %w", p.KH, p.KW, ErrGeometry)
	case p.StrideH < 1 || p.StrideW < 1:
		return fmt.Errorf("kernel: pool strides %d×%d: %w", p.StrideH, p.StrideW, ErrGeometry)
	case p.DilH < 1 || p.DilW < 1:
		return fmt.Errorf("kernel: pool dilations %d×%d: %w", p.DilH, p.DilW, ErrGeometry)
	case p.PadTop < 0 || p.PadLeft < 0 || p.PadBottom < 0 || p.PadRight < 0:
		return fmt.Errorf("kernel: pool pads %d,%d,%d,%d: %w", p.PadTop, p.PadLeft, p.PadBottom, p.PadRight, ErrGeometry)
	case p.OutH() < 1 || p.OutW() < 1:
		return fmt.Errorf("kernel: pool output %d×%d: %w", p.OutH(), p.OutW(), ErrGeometry)
	}
	return nil
}

// poolDims holds the sizes derived from a valid Pool2D.
type poolDims struct {
	oh, ow int
	hw, p  int // input and output pixels per plane
}

// checkPool panics unless p is valid, n is not negative, and the input-
// and output-shaped slices have their lengths.
func checkPool[T Float](op string, p Pool2D, n int, x, y []T) poolDims {
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("kernel: %s: %v", op, err))
	}
	if n < 0 {
		panic(fmt.Sprintf("kernel: %s: negative batch %d", op, n))
	}
	d := poolDims{oh: p.OutH(), ow: p.OutW(), hw: p.H * p.W}
	d.p = d.oh * d.ow
	checkLen(op, "input", x, n*p.C*d.hw, false)
	checkLen(op, "output", y, n*p.C*d.p, false)
	return d
}

// poolJob is the Ranger of the pooling kernels: one of the range
// functions below with its arguments.
type poolJob[T Float] struct {
	kind   int
	p      Pool2D
	d      poolDims
	x, y   []T // forward: input and output; backward: dx and dy
	argmax []int32
}

// The kinds of poolJob.
const (
	poolMaxForward = iota
	poolMaxBackward
	poolAvgForward
	poolAvgBackward
)

// Range runs planes [lo, hi).
func (j *poolJob[T]) Range(_, lo, hi int) {
	switch j.kind {
	case poolMaxForward:
		maxPoolForwardRange(j.p, j.d, j.x, j.y, j.argmax, lo, hi)
	case poolMaxBackward:
		maxPoolBackwardRange(j.p, j.d, j.y, j.argmax, j.x, lo, hi)
	case poolAvgForward:
		avgPoolForwardRange(j.p, j.d, j.x, j.y, lo, hi)
	default:
		avgPoolBackwardRange(j.p, j.d, j.y, j.x, lo, hi)
	}
}

// poolPlanes runs the job of kind over the n·C planes, in parallel when
// there is enough work: about 16k window cells per range.
func poolPlanes[T Float](t *Team, kind int, p Pool2D, n int, d poolDims, x, y []T, argmax []int32) {
	job := teamJob[poolJob[T]](t, slotPool)
	*job = poolJob[T]{kind: kind, p: p, d: d, x: x, y: y, argmax: argmax}
	Parallel(t, n*p.C, 1+(1<<14)/(d.p*p.KH*p.KW), job)
	*job = poolJob[T]{}
}

// window returns, for output row o, the kernel taps [k0, k1) that fall
// inside the input and the input index of tap 0.
func window(o, stride, pad, dil, k, in int) (start, k0, k1 int) {
	start = o*stride - pad
	if start >= 0 && start+(k-1)*dil < in {
		return start, 0, k // interior: no division
	}
	k0, k1 = validRange(k, dil, start, in)
	return start, k0, k1
}

// MaxPoolForward computes max pooling of x (n × C × H × W) into y
// (n × C × OH × OW, overwritten). Padding counts as −Inf, so a window with
// no input cell yields −Inf; NaN propagates. When argmax is not nil (length
// n·C·OH·OW) it receives, per output, the index h·W + w within its input
// plane of the first maximal cell, or −1 for an empty window.
// It panics with a "kernel: ..." message on invalid geometry or lengths.
func MaxPoolForward[T Float](t *Team, p Pool2D, n int, x, y []T, argmax []int32) {
	const op = "MaxPoolForward"
	d := checkPool(op, p, n, x, y)
	if argmax != nil && len(argmax) != len(y) {
		panic(fmt.Sprintf("kernel: %s: len(argmax) = %d, want %d", op, len(argmax), len(y)))
	}
	poolPlanes(t, poolMaxForward, p, n, d, x, y, argmax)
}

func maxPoolForwardRange[T Float](p Pool2D, d poolDims, x, y []T, argmax []int32, lo, hi int) {
	if p.KH == 2 && p.KW == 2 && p.StrideH == 2 && p.StrideW == 2 && p.DilH == 1 && p.DilW == 1 &&
		p.PadTop == 0 && p.PadLeft == 0 && 2*d.oh <= p.H && 2*d.ow <= p.W {
		maxPool2x2Range(p, d, x, y, argmax, lo, hi)
		return
	}
	if argmax == nil && p.KH == 1 && p.KW == 2 && p.StrideW == 2 && p.DilW == 1 &&
		p.PadTop == 0 && p.PadLeft == 0 && 2*d.ow <= p.W && (d.oh-1)*p.StrideH < p.H {
		// Windows of two values in a row, stride 2, all inside the input
		// (MaxPool1d(2) lifted to 2-D): the loop below without its window
		// arithmetic; the builtin max of the two is the loop's
		// max(max(−∞, a), b), NaN and zeros included.
		for pl := lo; pl < hi; pl++ {
			xp := x[pl*d.hw : (pl+1)*d.hw]
			yp := y[pl*d.p : (pl+1)*d.p]
			for oh := range d.oh {
				row := xp[oh*p.StrideH*p.W : oh*p.StrideH*p.W+2*d.ow]
				out := yp[oh*d.ow : (oh+1)*d.ow]
				for ow := range out {
					out[ow] = max(row[2*ow], row[2*ow+1])
				}
			}
		}
		return
	}
	negInf := T(math.Inf(-1))
	// 3×3 windows without argmax (ResNet's stem pooling): the columns
	// whose windows lie inside the input, [a, b), take an unrolled
	// maximum of the nine cells, branch-free, rows inside the input only.
	fast3 := argmax == nil && p.KH == 3 && p.KW == 3 && p.DilH == 1 && p.DilW == 1
	a := min(d.ow, (p.PadLeft+p.StrideW-1)/p.StrideW)
	b := a
	for fast3 && b < d.ow && b*p.StrideW-p.PadLeft+2 < p.W {
		b++
	}
	for pl := lo; pl < hi; pl++ {
		xp := x[pl*d.hw : (pl+1)*d.hw]
		yp := y[pl*d.p : (pl+1)*d.p]
		for oh := range d.oh {
			hs, kh0, kh1 := window(oh, p.StrideH, p.PadTop, p.DilH, p.KH, p.H)
			if fast3 && kh0 == 0 && kh1 == 3 && a < b {
				r0, r1, r2 := xp[hs*p.W:(hs+1)*p.W], xp[(hs+1)*p.W:(hs+2)*p.W], xp[(hs+2)*p.W:(hs+3)*p.W]
				out := yp[oh*d.ow : (oh+1)*d.ow]
				for ow := a; ow < b; ow++ {
					j := ow*p.StrideW - p.PadLeft
					c0, c1, c2 := r0[j:j+3:j+3], r1[j:j+3:j+3], r2[j:j+3:j+3]
					m0 := max(c0[0], c0[1], c0[2])
					m1 := max(c1[0], c1[1], c1[2])
					m2 := max(c2[0], c2[1], c2[2])
					out[ow] = max(m0, m1, m2)
				}
			}
			for ow := range d.ow {
				if fast3 && kh0 == 0 && kh1 == 3 && ow >= a && ow < b {
					continue
				}
				ws, kw0, kw1 := window(ow, p.StrideW, p.PadLeft, p.DilW, p.KW, p.W)
				best := negInf
				if argmax == nil {
					// The builtin max is branch-free and propagates NaN.
					for kh := kh0; kh < kh1; kh++ {
						row := (hs+kh*p.DilH)*p.W + ws
						for kw := kw0; kw < kw1; kw++ {
							best = max(best, xp[row+kw*p.DilW])
						}
					}
					yp[oh*d.ow+ow] = best
					continue
				}
				if kh1-kh0 == 2 && kw1-kw0 == 2 && p.DilH == 1 && p.DilW == 1 {
					i0 := (hs+kh0)*p.W + ws + kw0
					if arg, ok := argmax2x2(xp, i0, p.W); ok {
						yp[oh*d.ow+ow] = xp[arg]
						argmax[pl*d.p+oh*d.ow+ow] = int32(arg)
						continue
					}
				}
				arg := -1
				if kh0 < kh1 && kw0 < kw1 {
					arg = (hs+kh0*p.DilH)*p.W + ws + kw0*p.DilW
					best = xp[arg]
				}
				for kh := kh0; kh < kh1; kh++ {
					row := (hs + kh*p.DilH) * p.W
					for kw := kw0; kw < kw1; kw++ {
						// v != v: NaN wins, as in PyTorch.
						if i := row + ws + kw*p.DilW; xp[i] > best || xp[i] != xp[i] {
							best, arg = xp[i], i
						}
					}
				}
				yp[oh*d.ow+ow] = best
				argmax[pl*d.p+oh*d.ow+ow] = int32(arg)
			}
		}
	}
}

// maxPool2x2Range is maxPoolForwardRange for the commonest pooling, 2×2
// windows with stride 2 that all lie inside the input, without the
// general loop's window arithmetic: every output is the first maximum of
// its window (argmax2x2), or, for a window holding a NaN, its last NaN,
// exactly as the general scan finds them, with or without argmax.
func maxPool2x2Range[T Float](p Pool2D, d poolDims, x, y []T, argmax []int32, lo, hi int) {
	w := p.W
	for pl := lo; pl < hi; pl++ {
		xp := x[pl*d.hw : (pl+1)*d.hw]
		yp := y[pl*d.p : (pl+1)*d.p]
		for oh := range d.oh {
			row := 2 * oh * w
			out := yp[oh*d.ow : (oh+1)*d.ow]
			if argmax == nil && maxPool2x2Asm(out, xp[row:row+2*w], w) {
				continue
			}
			for ow := range out {
				i := row + 2*ow
				arg, ok := argmax2x2(xp, i, w)
				if !ok {
					arg = i
					for _, j := range [...]int{i, i + 1, i + w, i + w + 1} {
						if v := xp[j]; v > xp[arg] || v != v {
							arg = j
						}
					}
				}
				out[ow] = xp[arg]
				if argmax != nil {
					argmax[pl*d.p+oh*d.ow+ow] = int32(arg)
				}
			}
		}
	}
}

// argmax2x2 returns the index of the first maximum of the 2×2 window at
// x[i], x[i+1], x[i+w], x[i+w+1], as the scan in maxPoolForwardRange
// finds it, without its data-dependent branches (a 2×2 window's maximum
// is anywhere, so they mispredict about once per window): the builtin max
// and selects the compiler makes conditional moves. ok is false when the
// window holds a NaN, which the scan resolves differently (the last NaN).
func argmax2x2[T Float](x []T, i, w int) (arg int, ok bool) {
	x = x[i : i+w+2]
	a, b, c, d := x[0], x[1], x[w], x[w+1]
	m := max(max(a, b), max(c, d))
	if m != m {
		return 0, false
	}
	arg = i + w + 1
	if c == m {
		arg = i + w
	}
	if b == m {
		arg = i + 1
	}
	if a == m {
		arg = i
	}
	return arg, true
}

// MaxPoolBackward sets dx (n × C × H × W) to the gradient of max pooling:
// each dy is added to the input cell that argmax, as filled by
// MaxPoolForward, names; entries of −1 are skipped.
// It panics with a "kernel: ..." message on invalid geometry or lengths.
func MaxPoolBackward[T Float](t *Team, p Pool2D, n int, dy []T, argmax []int32, dx []T) {
	const op = "MaxPoolBackward"
	d := checkPool(op, p, n, dx, dy)
	if len(argmax) != len(dy) {
		panic(fmt.Sprintf("kernel: %s: len(argmax) = %d, want %d", op, len(argmax), len(dy)))
	}
	poolPlanes(t, poolMaxBackward, p, n, d, dx, dy, argmax)
}

func maxPoolBackwardRange[T Float](p Pool2D, d poolDims, dy []T, argmax []int32, dx []T, lo, hi int) {
	for pl := lo; pl < hi; pl++ {
		dxp := dx[pl*d.hw : (pl+1)*d.hw]
		clear(dxp)
		for i, a := range argmax[pl*d.p : (pl+1)*d.p] {
			if a >= 0 {
				dxp[a] += dy[pl*d.p+i]
			}
		}
	}
}

// avgCount returns the divisor of the window [start, start+dil·(k−1)]
// along one axis: the number of taps inside the input, or with
// includePad those inside the padded input [−pad0, in+pad1).
func avgCount(start, dil, k, in, pad0, pad1 int, k0, k1 int, includePad bool) int {
	if !includePad {
		return k1 - k0
	}
	if start >= -pad0 && start+(k-1)*dil < in+pad1 {
		return k
	}
	lo, hi := validRange(k, dil, start+pad0, in+pad0+pad1)
	return hi - lo
}

// AvgPoolForward computes average pooling of x (n × C × H × W) into y
// (n × C × OH × OW, overwritten). The divisor counts the window cells
// inside the input, or with CountIncludePad those inside the padded input
// (never the cells that ceil mode adds beyond it), as ONNX and PyTorch do.
// A window with a zero divisor yields 0.
// It panics with a "kernel: ..." message on invalid geometry or lengths.
func AvgPoolForward[T Float](t *Team, p Pool2D, n int, x, y []T) {
	const op = "AvgPoolForward"
	d := checkPool(op, p, n, x, y)
	poolPlanes(t, poolAvgForward, p, n, d, x, y, nil)
}

func avgPoolForwardRange[T Float](p Pool2D, d poolDims, x, y []T, lo, hi int) {
	if p.KH == 2 && p.KW == 2 && p.StrideH == 2 && p.StrideW == 2 && p.DilH == 1 && p.DilW == 1 &&
		p.PadTop == 0 && p.PadLeft == 0 && 2*d.oh <= p.H && 2*d.ow <= p.W {
		// 2×2 windows with stride 2, all inside the input (4 cells
		// counted either way): the loop below without its window
		// arithmetic, the same sums in the same order.
		w := p.W
		for pl := lo; pl < hi; pl++ {
			xp := x[pl*d.hw : (pl+1)*d.hw]
			yp := y[pl*d.p : (pl+1)*d.p]
			for oh := range d.oh {
				r0 := xp[2*oh*w : 2*oh*w+2*d.ow]
				r1 := xp[(2*oh+1)*w : (2*oh+1)*w+2*d.ow]
				out := yp[oh*d.ow : (oh+1)*d.ow]
				for ow := range out {
					var s T
					s += r0[2*ow]
					s += r0[2*ow+1]
					s += r1[2*ow]
					s += r1[2*ow+1]
					out[ow] = s / 4
				}
			}
		}
		return
	}
	if p.KW == 1 && p.StrideW == 1 && p.DilW == 1 && p.PadLeft == 0 && p.PadRight == 0 && d.ow == p.W {
		// Windows one column wide (a 3-D pool over depth with height and
		// width merged: nn.LocalResponseNorm's sum over channels): whole
		// rows added, the loop's sums in the loop's order.
		for pl := lo; pl < hi; pl++ {
			xp := x[pl*d.hw : (pl+1)*d.hw]
			yp := y[pl*d.p : (pl+1)*d.p]
			for oh := range d.oh {
				hs, kh0, kh1 := window(oh, p.StrideH, p.PadTop, p.DilH, p.KH, p.H)
				ch := avgCount(hs, p.DilH, p.KH, p.H, p.PadTop, p.PadBottom, kh0, kh1, p.CountIncludePad)
				out := yp[oh*d.ow : (oh+1)*d.ow]
				clear(out)
				for kh := kh0; kh < kh1; kh++ {
					row := xp[(hs+kh*p.DilH)*p.W : (hs+kh*p.DilH+1)*p.W]
					for i, v := range row {
						out[i] += v
					}
				}
				if ch > 0 {
					c := T(ch)
					for i := range out {
						out[i] /= c
					}
				}
			}
		}
		return
	}
	// 3×3 windows: the columns whose windows lie inside the input, [a, b),
	// in rows whose windows do too, take the nine cells unrolled, in the
	// loop's order.
	fast3 := p.KH == 3 && p.KW == 3 && p.DilH == 1 && p.DilW == 1
	a := min(d.ow, (p.PadLeft+p.StrideW-1)/p.StrideW)
	b := a
	for fast3 && b < d.ow && b*p.StrideW-p.PadLeft+2 < p.W {
		b++
	}
	// Windows of two values in a row with stride 2 (AvgPool1d(2) lifted
	// to 2-D): the columns whose windows lie inside the input, [0, b2),
	// take the two cells in the loop's order; a last partial window
	// (ceil mode) goes through the loop.
	pair := p.KH == 1 && p.KW == 2 && p.StrideW == 2 && p.DilW == 1 && p.PadLeft == 0
	b2 := 0
	if pair {
		b2 = min(d.ow, p.W/2)
	}
	for pl := lo; pl < hi; pl++ {
		xp := x[pl*d.hw : (pl+1)*d.hw]
		yp := y[pl*d.p : (pl+1)*d.p]
		for oh := range d.oh {
			hs, kh0, kh1 := window(oh, p.StrideH, p.PadTop, p.DilH, p.KH, p.H)
			ch := avgCount(hs, p.DilH, p.KH, p.H, p.PadTop, p.PadBottom, kh0, kh1, p.CountIncludePad)
			if pair && kh0 == 0 && kh1 == 1 && b2 > 0 {
				cnt := T(ch * avgCount(0, 1, 2, p.W, p.PadLeft, p.PadRight, 0, 2, p.CountIncludePad))
				row := xp[hs*p.W : hs*p.W+2*b2]
				out := yp[oh*d.ow : oh*d.ow+b2]
				for ow := range out {
					var s T
					s += row[2*ow]
					s += row[2*ow+1]
					out[ow] = s / cnt
				}
				for ow := b2; ow < d.ow; ow++ {
					yp[oh*d.ow+ow] = avgWindow(p, xp, hs, kh0, kh1, ch, ow)
				}
				continue
			}
			inner := fast3 && kh0 == 0 && kh1 == 3 && a < b
			if inner {
				ws := a*p.StrideW - p.PadLeft
				cnt := ch * avgCount(ws, 1, 3, p.W, p.PadLeft, p.PadRight, 0, 3, p.CountIncludePad)
				r0, r1, r2 := xp[hs*p.W:(hs+1)*p.W], xp[(hs+1)*p.W:(hs+2)*p.W], xp[(hs+2)*p.W:(hs+3)*p.W]
				out := yp[oh*d.ow : (oh+1)*d.ow]
				for ow := a; ow < b; ow++ {
					j := ow*p.StrideW - p.PadLeft
					c0, c1, c2 := r0[j:j+3:j+3], r1[j:j+3:j+3], r2[j:j+3:j+3]
					var s T
					s += c0[0]
					s += c0[1]
					s += c0[2]
					s += c1[0]
					s += c1[1]
					s += c1[2]
					s += c2[0]
					s += c2[1]
					s += c2[2]
					out[ow] = s / T(cnt)
				}
			}
			for ow := range d.ow {
				if inner && ow >= a && ow < b {
					continue
				}
				yp[oh*d.ow+ow] = avgWindow(p, xp, hs, kh0, kh1, ch, ow)
			}
		}
	}
}

// avgWindow is the average of output column ow's window in the rows
// [kh0, kh1) from hs of the plane xp, ch of them counted.
func avgWindow[T Float](p Pool2D, xp []T, hs, kh0, kh1, ch, ow int) T {
	ws, kw0, kw1 := window(ow, p.StrideW, p.PadLeft, p.DilW, p.KW, p.W)
	cw := avgCount(ws, p.DilW, p.KW, p.W, p.PadLeft, p.PadRight, kw0, kw1, p.CountIncludePad)
	var s T
	for kh := kh0; kh < kh1; kh++ {
		row := xp[(hs+kh*p.DilH)*p.W:]
		for kw := kw0; kw < kw1; kw++ {
			s += row[ws+kw*p.DilW]
		}
	}
	if cnt := ch * cw; cnt > 0 {
		s /= T(cnt)
	}
	return s
}

// AvgPoolBackward sets dx (n × C × H × W) to the gradient of
// AvgPoolForward given dy (n × C × OH × OW).
// It panics with a "kernel: ..." message on invalid geometry or lengths.
func AvgPoolBackward[T Float](t *Team, p Pool2D, n int, dy, dx []T) {
	const op = "AvgPoolBackward"
	d := checkPool(op, p, n, dx, dy)
	poolPlanes(t, poolAvgBackward, p, n, d, dx, dy, nil)
}

func avgPoolBackwardRange[T Float](p Pool2D, d poolDims, dy, dx []T, lo, hi int) {
	for pl := lo; pl < hi; pl++ {
		dxp := dx[pl*d.hw : (pl+1)*d.hw]
		dyp := dy[pl*d.p : (pl+1)*d.p]
		clear(dxp)
		for oh := range d.oh {
			hs, kh0, kh1 := window(oh, p.StrideH, p.PadTop, p.DilH, p.KH, p.H)
			ch := avgCount(hs, p.DilH, p.KH, p.H, p.PadTop, p.PadBottom, kh0, kh1, p.CountIncludePad)
			for ow := range d.ow {
				ws, kw0, kw1 := window(ow, p.StrideW, p.PadLeft, p.DilW, p.KW, p.W)
				cw := avgCount(ws, p.DilW, p.KW, p.W, p.PadLeft, p.PadRight, kw0, kw1, p.CountIncludePad)
				cnt := ch * cw
				if cnt == 0 {
					continue
				}
				g := dyp[oh*d.ow+ow] / T(cnt)
				for kh := kh0; kh < kh1; kh++ {
					row := dxp[(hs+kh*p.DilH)*p.W:]
					for kw := kw0; kw < kw1; kw++ {
						row[ws+kw*p.DilW] += g
					}
				}
			}
		}
	}
}

// GlobalAvgPoolForward sets y (n × c) to the mean of each h×w plane of x
// (n × c × h × w), as ONNX GlobalAveragePool with the trailing 1×1 dropped.
// It panics with a "kernel: ..." message on bad sizes or lengths.
func GlobalAvgPoolForward[T Float](t *Team, n, c, h, w int, x, y []T) {
	const op = "GlobalAvgPoolForward"
	hw := checkGlobal(op, n, c, h, w, x, y)
	globalPlanes(t, false, n*c, hw, x, y)
}

// GlobalAvgPoolBackward sets dx (n × c × h × w) to the gradient of
// GlobalAvgPoolForward given dy (n × c): every cell of plane i gets
// dy[i]/(h·w).
// It panics with a "kernel: ..." message on bad sizes or lengths.
func GlobalAvgPoolBackward[T Float](t *Team, n, c, h, w int, dy, dx []T) {
	const op = "GlobalAvgPoolBackward"
	hw := checkGlobal(op, n, c, h, w, dx, dy)
	globalPlanes(t, true, n*c, hw, dx, dy)
}

// globalJob is the Ranger of the global average pooling kernels over
// planes.
type globalJob[T Float] struct {
	backward      bool
	hw            int
	planes, means []T
}

func globalPlanes[T Float](t *Team, backward bool, n, hw int, planes, means []T) {
	job := teamJob[globalJob[T]](t, slotGlobalPool)
	*job = globalJob[T]{backward: backward, hw: hw, planes: planes, means: means}
	Parallel(t, n, 1+(1<<15)/hw, job)
	*job = globalJob[T]{}
}

// Range runs planes [lo, hi).
func (j *globalJob[T]) Range(_, lo, hi int) {
	hw := j.hw
	inv := 1 / T(hw)
	if j.backward {
		for i := lo; i < hi; i++ {
			g := j.means[i] * inv
			plane := j.planes[i*hw : (i+1)*hw]
			for k := range plane {
				plane[k] = g
			}
		}
		return
	}
	for i := lo; i < hi; i++ {
		var s T
		for _, v := range j.planes[i*hw : (i+1)*hw] {
			s += v
		}
		j.means[i] = s * inv
	}
}

func checkGlobal[T Float](op string, n, c, h, w int, planes, means []T) int {
	if n < 0 || c < 1 || h < 1 || w < 1 {
		panic(fmt.Sprintf("kernel: %s: bad shape %d×%d×%d×%d", op, n, c, h, w))
	}
	checkLen(op, "planes", planes, n*c*h*w, false)
	checkLen(op, "means", means, n*c, false)
	return h * w
}
