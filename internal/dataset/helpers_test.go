package dataset

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
	"codeberg.org/sbinet/npyio/npz"
)

// mnistDir holds the real MNIST files, relative to this package.
const mnistDir = "../../testdata/mnist"

// idxBytes builds an IDX file with the given magic, dimensions and data.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	binary.Write(&b, binary.BigEndian, dims)
	b.Write(data)
	return b.Bytes()
}

// tinyIDX returns n images of 2×3 bytes (value 10*i+j) and n labels (i%10).
func tinyIDX(n int) (images, labels []byte) {
	var px, lb []byte
	for i := range n {
		for j := range 6 {
			px = append(px, byte(10*i+j))
		}
		lb = append(lb, byte(i%10))
	}
	return idxBytes(idxImagesMagic, []uint32{uint32(n), 2, 3}, px),
		idxBytes(idxLabelsMagic, []uint32{uint32(n)}, lb)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// npyBytes writes v (a slice, possibly nested) in NPY format with npyio.
func npyBytes(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := npyio.Write(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawNPY builds an NPY version 1.0 file from a header dictionary and data.
func rawNPY(dict string, data []byte) []byte {
	hdr := dict + strings.Repeat(" ", (64-(10+len(dict)+1)%64)%64) + "\n"
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

// npzBytes writes the arrays, in the given order, into an NPZ archive.
func npzBytes(t testing.TB, names []string, values ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	w := npz.NewWriter(&b)
	for i, name := range names {
		if err := w.Write(name, values[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// npzRaw writes the members, bytes as given, into a zip archive.
func npzRaw(t testing.TB, members map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, name := range slices.Sorted(maps.Keys(members)) {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(members[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeFiles writes name → content into dir.
func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tensor3 returns n samples of 2×3 values f(i, j) as nested slices.
func tensor3[T any](n int, f func(i, j int) T) [][][]T {
	out := make([][][]T, n)
	for i := range out {
		out[i] = [][]T{make([]T, 3), make([]T, 3)}
		for j := range 6 {
			out[i][j/3][j%3] = f(i, j)
		}
	}
	return out
}

// checkInvariants fails t if d breaks a loaded Dataset's invariants.
func checkInvariants(t testing.TB, d *Dataset) {
	t.Helper()
	if d.Len() == 0 {
		t.Fatal("loaded an empty dataset")
	}
	if len(d.X) != d.Len()*d.SampleLen() || d.SampleLen() != product(d.Shape) {
		t.Fatalf("len(X) = %d, Len = %d, SampleLen = %d, Shape = %v", len(d.X), d.Len(), d.SampleLen(), d.Shape)
	}
	for i, l := range d.Labels {
		if l < 0 {
			t.Fatalf("label %d of sample %d is negative", l, i)
		}
	}
	if err := d.checkFinite(); err != nil {
		t.Fatal(err)
	}
}
