package kernel

import "unsafe"

// genericArch returns the portable micro-kernels: Go code for any CPU, and
// the only ones in builds with the purego or noasm tag.
func genericArch[T Float]() *gemmArch[T] {
	return &gemmArch[T]{
		name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 4096,
		kernels: []microKernel[T]{nil, kernelGeneric1[T], kernelGeneric2[T], kernelGeneric3[T], kernelGeneric4[T]},
	}
}

// kernelGeneric4 is the microKernel contract for a 4×4 tile with its
// sixteen sums in local variables, which the compiler keeps in registers
// where there are enough of them. The operands are walked with pointer
// arithmetic: the contract guarantees the extents, and index expressions
// with run-time strides would cost a bounds check per load.
func kernelGeneric4[T Float](k int, a *T, aStep, aRow int, b *T, ldb int, c *T, ldc int, alpha, beta T) {
	var z T
	size := unsafe.Sizeof(z)
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	sa, ra, sb := uintptr(aStep)*size, uintptr(aRow)*size, uintptr(ldb)*size
	var c00, c01, c02, c03 T
	var c10, c11, c12, c13 T
	var c20, c21, c22, c23 T
	var c30, c31, c32, c33 T
	for l := range uintptr(k) {
		// No pointer is formed past the operands' ends.
		pal := unsafe.Add(pa, l*sa)
		a0 := *(*T)(pal)
		a1 := *(*T)(unsafe.Add(pal, ra))
		a2 := *(*T)(unsafe.Add(pal, 2*ra))
		a3 := *(*T)(unsafe.Add(pal, 3*ra))
		bv := (*[4]T)(unsafe.Add(pb, l*sb))
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	storeRow4(cs[0:4:4], alpha, beta, c00, c01, c02, c03)
	storeRow4(cs[ldc:ldc+4:ldc+4], alpha, beta, c10, c11, c12, c13)
	storeRow4(cs[2*ldc:2*ldc+4:2*ldc+4], alpha, beta, c20, c21, c22, c23)
	storeRow4(cs[3*ldc:3*ldc+4:3*ldc+4], alpha, beta, c30, c31, c32, c33)
}

// storeRow4 sets row = alpha·(v0, v1, v2, v3) + beta·row, without reading
// row when beta is 0.
func storeRow4[T Float](row []T, alpha, beta, v0, v1, v2, v3 T) {
	row = row[:4:4]
	if beta == 0 {
		row[0], row[1], row[2], row[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	row[0] = alpha*v0 + beta*row[0]
	row[1] = alpha*v1 + beta*row[1]
	row[2] = alpha*v2 + beta*row[2]
	row[3] = alpha*v3 + beta*row[3]
}

func kernelGeneric1[T Float](k int, a *T, aStep, aRow int, b *T, ldb int, c *T, ldc int, alpha, beta T) {
	kernelGenericRows(1, k, a, aStep, aRow, b, ldb, c, ldc, alpha, beta)
}

func kernelGeneric2[T Float](k int, a *T, aStep, aRow int, b *T, ldb int, c *T, ldc int, alpha, beta T) {
	kernelGenericRows(2, k, a, aStep, aRow, b, ldb, c, ldc, alpha, beta)
}

func kernelGeneric3[T Float](k int, a *T, aStep, aRow int, b *T, ldb int, c *T, ldc int, alpha, beta T) {
	kernelGenericRows(3, k, a, aStep, aRow, b, ldb, c, ldc, alpha, beta)
}

// kernelGenericRows is the microKernel contract for a tile of r < 4 rows
// and 4 columns, one row at a time: it serves the bottom edge of C.
func kernelGenericRows[T Float](r, k int, a *T, aStep, aRow int, b *T, ldb int, c *T, ldc int, alpha, beta T) {
	as := unsafe.Slice(a, (k-1)*aStep+(r-1)*aRow+1)
	bs := unsafe.Slice(b, (k-1)*ldb+4)
	cs := unsafe.Slice(c, (r-1)*ldc+4)
	for i := range r {
		var s0, s1, s2, s3 T
		for l := range k {
			av := as[l*aStep+i*aRow]
			bv := bs[l*ldb : l*ldb+4 : l*ldb+4]
			s0 += av * bv[0]
			s1 += av * bv[1]
			s2 += av * bv[2]
			s3 += av * bv[3]
		}
		storeRow4(cs[i*ldc:i*ldc+4:i*ldc+4], alpha, beta, s0, s1, s2, s3)
	}
}
