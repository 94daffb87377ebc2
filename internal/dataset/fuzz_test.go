package dataset

import (
	"testing"
)

// The fuzz targets decode arbitrary bytes: any input must give either an
// error or a dataset that keeps the invariants, never a panic or a huge
// allocation. Seed inputs live in testdata/fuzz/<target>/ besides the ones
// added here.

func FuzzIDX(f *testing.F) {
	img, lbl := tinyIDX(3)
	f.Add(img, lbl)
	f.Add(gzipBytes(f, img), gzipBytes(f, lbl))
	f.Add(lbl, img)
	f.Add(img[:10], lbl)
	f.Fuzz(func(t *testing.T, images, labels []byte) {
		d, err := DecodeIDX(images, labels)
		if err == nil {
			checkInvariants(t, d)
		}
	})
}

func FuzzNPY(f *testing.F) {
	f.Add(npyBytes(f, tensor3(2, func(i, j int) float32 { return float32(i * j) })), npyBytes(f, []int64{0, 1}))
	f.Add(npyBytes(f, tensor3(2, func(i, j int) uint8 { return uint8(i + j) })), npyBytes(f, []uint8{3, 1}))
	f.Add(rawNPY("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", make([]byte, 32)), npyBytes(f, []int32{0, 1}))
	f.Fuzz(func(t *testing.T, inputs, labels []byte) {
		d, err := DecodeNPY(inputs, labels)
		if err == nil {
			checkInvariants(t, d)
		}
	})
}

func FuzzNPZ(f *testing.F) {
	x := tensor3(2, func(i, j int) float32 { return float32(i - j) })
	f.Add(npzBytes(f, []string{"x.npy", "y.npy"}, x, []int64{0, 1}))
	f.Add(npzBytes(f, []string{"x", "y"}, x, []uint8{0, 1}))
	f.Add(npzRaw(f, map[string][]byte{"x.npy": npyBytes(f, x)[:40], "y.npy": npyBytes(f, []int64{0, 1})}))
	f.Fuzz(func(t *testing.T, archive []byte) {
		d, err := DecodeNPZ(archive, "x", "y")
		if err == nil {
			checkInvariants(t, d)
		}
	})
}
