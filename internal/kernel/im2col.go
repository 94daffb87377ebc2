package kernel

// im2col writes the rows of channels [c0, c1) of the im2col matrix of the
// image x (C×H×W) into col: row (c·KH + kh)·KW + kw, column oh·OW + ow holds
// x[c, oh·StrideH − PadTop + kh·DilH, ow·StrideW − PadLeft + kw·DilW], or 0
// where that falls into the padding. When q is not nil, every value read is
// fake-quantized; padding stays exactly 0.
func im2col[T Float](g Conv2D, d convDims, x, col []T, q *FakeQuant[T], c0, c1 int) {
	for c := c0; c < c1; c++ {
		plane := x[c*d.hw : (c+1)*d.hw]
		for kh := range g.KH {
			for kw := range g.KW {
				row := col[((c*g.KH+kh)*g.KW+kw)*d.p:][:d.p]
				offW := kw*g.DilW - g.PadLeft
				lo, hi := validRange(d.ow, g.StrideW, offW, g.W)
				for oh := range d.oh {
					dst := row[oh*d.ow : (oh+1)*d.ow]
					ih := oh*g.StrideH - g.PadTop + kh*g.DilH
					if ih < 0 || ih >= g.H {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					clear(dst[hi:])
					src := plane[ih*g.W : (ih+1)*g.W]
					copyStrided(dst[lo:hi], src, lo*g.StrideW+offW, g.StrideW, q)
				}
			}
		}
	}
}

// copyStrided sets dst[i] = src[off + i·stride], fake-quantized when q is
// not nil.
func copyStrided[T Float](dst, src []T, off, stride int, q *FakeQuant[T]) {
	if len(dst) == 0 {
		return
	}
	switch {
	case q == nil && stride == 1:
		copy(dst, src[off:off+len(dst)])
	case q == nil:
		for i := range dst {
			dst[i] = src[off+i*stride]
		}
	case stride == 1:
		FakeQuantSlice(dst, src[off:], q)
	default:
		for i := range dst {
			dst[i] = q.Apply(src[off+i*stride])
		}
	}
}

// col2im adds the im2col matrix col back into the image dx (C×H×W): the
// adjoint of im2col without quantization. dx is accumulated, not
// overwritten.
func col2im[T Float](g Conv2D, d convDims, col, dx []T) {
	for c := range g.C {
		plane := dx[c*d.hw : (c+1)*d.hw]
		for kh := range g.KH {
			for kw := range g.KW {
				row := col[((c*g.KH+kh)*g.KW+kw)*d.p:][:d.p]
				offW := kw*g.DilW - g.PadLeft
				lo, hi := validRange(d.ow, g.StrideW, offW, g.W)
				if lo == hi {
					continue
				}
				for oh := range d.oh {
					ih := oh*g.StrideH - g.PadTop + kh*g.DilH
					if ih < 0 || ih >= g.H {
						continue
					}
					src := row[oh*d.ow+lo : oh*d.ow+hi]
					dst := plane[ih*g.W : (ih+1)*g.W]
					off := lo*g.StrideW + offW
					if g.StrideW == 1 {
						dst = dst[off : off+len(src)]
						for i, v := range src {
							dst[i] += v
						}
						continue
					}
					for i, v := range src {
						dst[off+i*g.StrideW] += v
					}
				}
			}
		}
	}
}
