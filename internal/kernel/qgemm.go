package kernel

import (
	"fmt"
	"unsafe"
)

// Integer GEMM: signed 8-bit weight codes times unsigned 8-bit activation
// codes, accumulated exactly in int32.
//
// # Exactness
//
// Weight codes lie in [−127, 127] (symmetric quantizers never use −128)
// and activation codes in [0, 255]. The micro-kernels widen both to int16
// and multiply them with VPMADDWD (or in Go with int32 arithmetic), which
// forms each product a·x exactly in 32 bits (|a·x| ≤ 127·255 = 32385) and
// adds pairs of them into an int32 lane: |a₀x₀ + a₁x₁| ≤ 64770, still
// exact (VPMADDWD can only wrap when all four inputs are −32768). The
// lanes are then summed with VPADDD. The sum over K values is bounded by
// K·32385, which stays below 2³¹ − 1 for K ≤ QMaxDepth = 66311, so every
// partial sum, in any order, is the exact integer: the result does not
// depend on the micro-kernel, the blocking or the CPU. The zero-point
// correction of the integer layers (qconv.go) subtracts zp·Σ_k w, with
// |zp·Σ_k w| ≤ 255·127·K, from Σ w·x; the difference is Σ w·(x − zp),
// again at most K·32385 in magnitude, so the int32 subtraction is exact
// too.
//
// VPMADDUBSW, the usual u8×s8 instruction of AVX2, is not used: it adds
// pairs of products into int16 with saturation, and 2·255·127 = 64770
// overflows int16.

// QMaxDepth is the largest inner dimension K of an exact integer GEMM:
// K·127·255 ≤ 2³¹ − 1.
const QMaxDepth = (1<<31 - 1) / (127 * 255)

// qMR and qNR are the tile of the integer micro-kernels: qMR rows of C
// (weight rows) by qNR columns (16 int32 lanes, two AVX2 registers).
const (
	qMR = 6
	qNR = 16
)

// qMicroKernel computes np ≥ 1 consecutive r×qNR tiles
//
//	c[i·ldc + j] = Σ_{p<kp} a[p·2·qMR + 2i]·x[off[2p] + j] + a[p·2·qMR + 2i + 1]·x[off[2p+1] + j]
//
// for i < r, j < np·qNR, where r ≤ qMR is fixed by the kernel
// (qArch.kernels[r]): a is a packed panel of weight codes widened to
// int16, a pair of consecutive k for each of qMR rows per step; x holds
// activation codes, row l of B starting at x + off[l] with np·qNR
// contiguous columns. kp ≥ 1. C is overwritten.
type qMicroKernel func(kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int)

// qQuadKernel computes np ≥ 1 consecutive r×qNR tiles four steps of k
// at a time:
//
//	c[i·ldc + j] = Σ_{p<kq} Σ_{t<4} a[p·4·qQuadMR + 4i + t]·x[off[4p+t] + j]
//
// for i < r, j < np·qNR, with a the int8 weights of one panel in quads
// of consecutive k for each of qQuadMR rows per step. kq ≥ 1. C is
// overwritten.
type qQuadKernel func(kq int, a *int8, x *uint8, off *int, c *int32, ldc, np int)

// qQuadMR is the rows of a quad kernel's tile: 8, whose 16 accumulators
// the AVX-512 register file holds beside the interleaving (EVEX
// registers), so that layers of 8, 16 or 32 channels need no partial
// panel.
const qQuadMR = 8

// qTileRows is the most rows of any integer micro-kernel's tile.
const qTileRows = max(qMR, qQuadMR)

// qArchT is one implementation of the integer micro-kernels: on int16
// pairs of weights, and, where the CPU has them, the faster ones on int8
// quads (AVX-512 VNNI's VPDPBUSD: 1.8× in BenchmarkQMicroKernels), which
// the convolutions and fully connected layers use instead.
type qArchT struct {
	name    string
	kernels [qMR + 1]qMicroKernel
	quads   *[qQuadMR + 1]qQuadKernel
}

// qArchs lists the integer micro-kernels this CPU runs, fastest first; the
// last is the portable one.
var qArchs = append(asmQArchs(), &qArchT{name: "generic", kernels: [qMR + 1]qMicroKernel{nil,
	qKernelGeneric1, qKernelGeneric2, qKernelGeneric3, qKernelGeneric4, qKernelGeneric5, qKernelGeneric6}})

// qArch returns the fastest usable integer micro-kernels.
func qArch() *qArchT { return qArchs[0] }

// QWeights is an M×K matrix of signed weight codes packed for the integer
// kernels (QConvForward, QLinearForward), in Group row groups of M/Group
// rows (the output channels of a grouped convolution), with the sum of
// each row for zero-point correction. It is immutable once packed and safe
// for concurrent use.
type QWeights struct {
	M, K, Group int
	kp          int     // pairs of k: ⌈K/2⌉
	kq          int     // quads of k: ⌈K/4⌉
	ppg         int     // panels per group: ⌈(M/Group)/qMR⌉
	qpg         int     // quad panels per group: ⌈(M/Group)/qQuadMR⌉
	panels      []int16 // per group, per panel of qMR rows, per pair: qMR pairs of codes
	quads       []int8  // per group, per panel of qQuadMR rows, per quad: qQuadMR quads of codes (qQuadKernel)
	rowSum      []int32 // Σ_k code, per row
}

// qRows is the number of row offsets the integer kernels read for a
// depth of k: k rounded up to whole quads (the rows past k, read with
// zero weights, point anywhere valid).
func qRows(k int) int { return roundUp(k, 4) }

// PackQWeights packs the m×k row-major matrix of weight codes a (leading
// dimension k) in groups of m/groups rows. It panics unless every code lies
// in [−127, 127], groups divides m, and k ≤ QMaxDepth.
func PackQWeights(m, k, groups int, a []int8) *QWeights {
	if m < 1 || k < 1 || groups < 1 || m%groups != 0 {
		panic(fmt.Sprintf("kernel: PackQWeights: %d×%d codes in %d groups", m, k, groups))
	}
	if k > QMaxDepth {
		panic(fmt.Sprintf("kernel: PackQWeights: depth %d exceeds QMaxDepth = %d", k, QMaxDepth))
	}
	checkLenI8("PackQWeights", "a", a, m*k)
	mg := m / groups
	w := &QWeights{M: m, K: k, Group: groups, kp: (k + 1) / 2, kq: (k + 3) / 4, ppg: ceilDiv(mg, qMR), qpg: ceilDiv(mg, qQuadMR), rowSum: make([]int32, m)}
	w.panels = make([]int16, groups*w.ppg*w.kp*2*qMR)
	w.quads = make([]int8, groups*w.qpg*w.kq*4*qQuadMR)
	for gi := range groups {
		for row := gi * mg; row < (gi+1)*mg; row++ {
			r := row - gi*mg
			quad := w.quadPanel(gi, r/qQuadMR)
			for l, v := range a[row*k : (row+1)*k] {
				quad[l/4*4*qQuadMR+4*(r%qQuadMR)+l%4] = v
			}
		}
		for q := range w.ppg {
			panel := w.panel(gi, q)
			for i := range min(qMR, mg-q*qMR) {
				row := gi*mg + q*qMR + i
				var s int32
				for l, v := range a[row*k : (row+1)*k] {
					if v == -128 {
						panic("kernel: PackQWeights: code −128 (symmetric codes lie in [−127, 127])")
					}
					panel[l/2*2*qMR+2*i+l%2] = int16(v)
					s += int32(v)
				}
				w.rowSum[row] = s
			}
		}
	}
	return w
}

// quadPanel returns panel q of group gi in quads (qQuadKernel).
func (w *QWeights) quadPanel(gi, q int) []int8 {
	size := w.kq * 4 * qQuadMR
	i := (gi*w.qpg + q) * size
	return w.quads[i : i+size]
}

// panel returns panel q of group gi.
func (w *QWeights) panel(gi, q int) []int16 {
	size := w.kp * 2 * qMR
	i := (gi*w.ppg + q) * size
	return w.panels[i : i+size]
}

// RowSum returns Σ_k code of row i.
func (w *QWeights) RowSum(i int) int32 { return w.rowSum[i] }

// QGemm computes the m×n int32 matrix C = A·B exactly, where A is m×k of
// signed weight codes in [−127, 127] (leading dimension lda) and B is k×n
// of unsigned codes (leading dimension ldb); C has leading dimension ldc
// and is overwritten. It runs on the calling goroutine and allocates its
// packing buffers. It panics on bad sizes, a code −128 or k > QMaxDepth.
func QGemm(m, n, k int, a []int8, lda int, b []uint8, ldb int, c []int32, ldc int) {
	qGemmWith(qArch(), m, n, k, a, lda, b, ldb, c, ldc)
}

// qGemmWith is QGemm with the micro-kernels of arch.
func qGemmWith(arch *qArchT, m, n, k int, a []int8, lda int, b []uint8, ldb int, c []int32, ldc int) {
	if m < 0 || n < 0 || k < 0 || lda < max(1, k) || ldb < max(1, n) || ldc < max(1, n) {
		panic("kernel: QGemm with bad dimensions")
	}
	if m == 0 || n == 0 {
		return
	}
	if len(c) < (m-1)*ldc+n {
		panic("kernel: QGemm with short c")
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	if len(a) < (m-1)*lda+k || len(b) < (k-1)*ldb+n {
		panic("kernel: QGemm with short a or b")
	}
	packed := make([]int8, m*k)
	for i := range m {
		copy(packed[i*k:(i+1)*k], a[i*lda:i*lda+k])
	}
	w := PackQWeights(m, k, 1, packed)
	off := make([]int, 2*w.kp)
	for l := range k {
		off[l] = l * ldb
	}
	// Full panels of columns read B in place; the last partial one is
	// copied into an edge buffer with zeros past column n.
	edge := make([]uint8, k*qNR)
	edgeOff := make([]int, 2*w.kp)
	for l := range k {
		edgeOff[l] = l * qNR
	}
	var tile [qMR * qNR]int32
	for j := 0; j < n; j += qNR {
		cols := min(qNR, n-j)
		x, o := b[j:], off
		if cols < qNR {
			for l := range k {
				copy(edge[l*qNR:l*qNR+cols], b[l*ldb+j:l*ldb+j+cols])
			}
			x, o = edge, edgeOff
		}
		for q := range w.ppg {
			rows := min(qMR, m-q*qMR)
			qGemmTile(arch, w.kp, w.panel(0, q), x, o, rows, tile[:])
			for i := range rows {
				copy(c[(q*qMR+i)*ldc+j:(q*qMR+i)*ldc+j+cols], tile[i*qNR:i*qNR+cols])
			}
		}
	}
}

// qGemmTile runs the micro-kernel for rows rows into tile (leading
// dimension qNR), after checking that every read stays inside x.
func qGemmTile(arch *qArchT, kp int, panel []int16, x []uint8, off []int, rows int, tile []int32) {
	_ = panel[kp*2*qMR-1]
	_ = off[2*kp-1]
	_ = tile[(rows-1)*qNR+qNR-1]
	for _, o := range off[:2*kp] {
		_ = x[o : o+qNR]
	}
	arch.kernels[rows](kp, &panel[0], &x[0], &off[0], &tile[0], qNR, 1)
}

func checkLenI8(op, name string, s []int8, want int) {
	if len(s) != want {
		panic(fmt.Sprintf("kernel: %s: len(%s) = %d, want %d", op, name, len(s), want))
	}
}

// qKernelGenericRows is the qMicroKernel contract in Go, for r rows.
func qKernelGenericRows(r, kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int) {
	as := unsafe.Slice(a, kp*2*qMR)
	offs := unsafe.Slice(off, 2*kp)
	cs := unsafe.Slice(c, (r-1)*ldc+np*qNR)
	for q := range np {
		var acc [qMR][qNR]int32
		xq := unsafe.Add(unsafe.Pointer(x), q*qNR)
		for p := range kp {
			x0 := (*[qNR]uint8)(unsafe.Add(xq, offs[2*p]))
			x1 := (*[qNR]uint8)(unsafe.Add(xq, offs[2*p+1]))
			ap := as[p*2*qMR : (p+1)*2*qMR]
			for i := range r {
				a0, a1 := int32(ap[2*i]), int32(ap[2*i+1])
				row := &acc[i]
				for j := range qNR {
					row[j] += a0*int32(x0[j]) + a1*int32(x1[j])
				}
			}
		}
		for i := range r {
			copy(cs[i*ldc+q*qNR:i*ldc+(q+1)*qNR], acc[i][:])
		}
	}
}

func qKernelGeneric1(kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int) {
	qKernelGenericRows(1, kp, a, x, off, c, ldc, np)
}

func qKernelGeneric2(kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int) {
	qKernelGenericRows(2, kp, a, x, off, c, ldc, np)
}

func qKernelGeneric3(kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int) {
	qKernelGenericRows(3, kp, a, x, off, c, ldc, np)
}

func qKernelGeneric4(kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int) {
	qKernelGenericRows(4, kp, a, x, off, c, ldc, np)
}

func qKernelGeneric5(kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int) {
	qKernelGenericRows(5, kp, a, x, off, c, ldc, np)
}

func qKernelGeneric6(kp int, a *int16, x *uint8, off *int, c *int32, ldc, np int) {
	qKernelGenericRows(6, kp, a, x, off, c, ldc, np)
}
