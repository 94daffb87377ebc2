package dataset

import (
	"compress/gzip"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func mnistSource(split string) Source {
	return Source{
		Split:  split,
		Format: FormatIDX,
		Images: split + "-images-idx3-ubyte.gz",
		Labels: split + "-labels-idx1-ubyte.gz",
	}
}

func TestLoadMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 60 MB of MNIST")
	}
	tests := []struct {
		split     string
		n         int
		first     int
		counts    []int
		pixelSum  int64
		mean, std float64 // of pixel/255, to 1e-4
	}{
		{"train", 60000, 5, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, 1567298545, 0.1307, 0.3081},
		{"t10k", 10000, 7, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, 264923200, 0.1325, 0.3105},
	}
	for _, tt := range tests {
		t.Run(tt.split, func(t *testing.T) {
			d, err := Load(mnistSource(tt.split), mnistDir)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, d)
			if d.Len() != tt.n || d.SampleLen() != 784 || !slices.Equal(d.Shape, []int{28, 28}) {
				t.Fatalf("Len %d SampleLen %d Shape %v, want %d 784 [28 28]", d.Len(), d.SampleLen(), d.Shape, tt.n)
			}
			if d.Labels[0] != tt.first {
				t.Errorf("label of sample 0 = %d, want %d", d.Labels[0], tt.first)
			}
			counts := make([]int, 10)
			for _, l := range d.Labels {
				counts[l]++
			}
			if !slices.Equal(counts, tt.counts) {
				t.Errorf("class counts %v, want %v", counts, tt.counts)
			}
			var sum int64
			var fsum, fsq float64
			lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
			for _, v := range d.X {
				sum += int64(v)
				fsum += float64(v) / 255
				fsq += float64(v) / 255 * float64(v) / 255
				lo, hi = min(lo, v), max(hi, v)
			}
			if sum != tt.pixelSum || lo != 0 || hi != 255 {
				t.Errorf("pixel sum %d in [%v, %v], want %d in [0, 255]", sum, lo, hi, tt.pixelSum)
			}
			n := float64(len(d.X))
			mean := fsum / n
			std := math.Sqrt(fsq/n - mean*mean)
			if math.Abs(mean-tt.mean) > 1e-4 || math.Abs(std-tt.std) > 1e-4 {
				t.Errorf("pixel mean %.5f std %.5f, want %.4f %.4f", mean, std, tt.mean, tt.std)
			}
			if want := `split "` + tt.split + `" (` + filepath.Join(mnistDir, tt.split+"-images-idx3-ubyte.gz") + `)`; d.Name != want {
				t.Errorf("Name %q, want %q", d.Name, want)
			}
		})
	}
}

// TestLoadIDXRaw checks that a decompressed copy of MNIST's test split
// loads the same as the gzip original, with absolute and relative paths.
func TestLoadIDXRaw(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		in, err := os.Open(filepath.Join(mnistDir, name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, zr); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	gz, err := Load(mnistSource("t10k"), mnistDir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		src     Source
		baseDir string
	}{
		{"relative", Source{Images: "t10k-images-idx3-ubyte", Labels: "t10k-labels-idx1-ubyte"}, dir},
		{"absolute", Source{Images: filepath.Join(dir, "t10k-images-idx3-ubyte"), Labels: filepath.Join(dir, "t10k-labels-idx1-ubyte")}, "/nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Load(tt.src, tt.baseDir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(raw.X, gz.X) || !slices.Equal(raw.Labels, gz.Labels) || !slices.Equal(raw.Shape, gz.Shape) {
				t.Error("raw and gzip copies of MNIST test differ")
			}
		})
	}
}

// TestNPYRoundTrip writes arrays with npyio and reads them back.
func TestNPYRoundTrip(t *testing.T) {
	const n = 5
	want := func(i, j int) float32 { return float32(10*i + j) }
	inputs := []struct {
		dtype string
		value any
	}{
		{"float32", tensor3(n, func(i, j int) float32 { return want(i, j) })},
		{"float64", tensor3(n, func(i, j int) float64 { return float64(want(i, j)) })},
		{"uint8", tensor3(n, func(i, j int) uint8 { return uint8(want(i, j)) })},
		{"int16", tensor3(n, func(i, j int) int16 { return int16(want(i, j)) })},
	}
	labels := []struct {
		dtype string
		value any
	}{
		{"int64", []int64{0, 1, 2, 3, 9}},
		{"int32", []int32{0, 1, 2, 3, 9}},
		{"uint8", []uint8{0, 1, 2, 3, 9}},
		{"uint64", []uint64{0, 1, 2, 3, 9}},
		{"int64 column", [][]int64{{0}, {1}, {2}, {3}, {9}}},
	}
	check := func(t *testing.T, d *Dataset) {
		t.Helper()
		checkInvariants(t, d)
		if d.Len() != n || !slices.Equal(d.Shape, []int{2, 3}) {
			t.Fatalf("Len %d Shape %v, want %d [2 3]", d.Len(), d.Shape, n)
		}
		for i := range n {
			for j := range 6 {
				if got := d.Sample(i)[j]; got != want(i, j) {
					t.Fatalf("sample %d value %d = %v, want %v", i, j, got, want(i, j))
				}
			}
		}
		if !slices.Equal(d.Labels, []int{0, 1, 2, 3, 9}) {
			t.Fatalf("labels %v", d.Labels)
		}
	}
	for _, x := range inputs {
		for _, y := range labels {
			xb, yb := npyBytes(t, x.value), npyBytes(t, y.value)
			t.Run("npy/"+x.dtype+"/"+y.dtype, func(t *testing.T) {
				dir := t.TempDir()
				writeFiles(t, dir, map[string][]byte{"x.npy": xb, "y.npy": yb})
				for _, src := range []Source{
					{Format: FormatNPY, Inputs: "x.npy", Labels: "y.npy"},
					{Images: "x.npy", Labels: "y.npy"}, // format inferred, images as synonym
				} {
					d, err := Load(src, dir)
					if err != nil {
						t.Fatal(err)
					}
					check(t, d)
				}
			})
			t.Run("npz/"+x.dtype+"/"+y.dtype, func(t *testing.T) {
				dir := t.TempDir()
				writeFiles(t, dir, map[string][]byte{
					"plain.npz":  npzBytes(t, []string{"x.npy", "y.npy"}, x.value, y.value),
					"bare.npz":   npzBytes(t, []string{"images", "labels"}, x.value, y.value),
					"suffix.npz": npzBytes(t, []string{"x.npy", "y.npy"}, x.value, y.value),
				})
				for _, src := range []Source{
					{Format: FormatNPZ, File: "plain.npz", Inputs: "x", Labels: "y"},
					{Format: FormatNPZ, File: "suffix.npz", Inputs: "x.npy", Labels: "y.npy"},
					{File: "bare.npz", Images: "images", Labels: "labels"},
				} {
					d, err := Load(src, dir)
					if err != nil {
						t.Fatal(err)
					}
					check(t, d)
					if d.Name != filepath.Join(dir, src.File) {
						t.Errorf("Name %q", d.Name)
					}
				}
			})
		}
	}
}

// TestNPYLayouts covers headers that npyio does not write: Fortran order,
// big-endian data, format version 2.0 and Python 2 long integers.
func TestNPYLayouts(t *testing.T) {
	labels := npyBytes(t, []int64{0, 1})
	// Two samples of 2×3: C order value 100*s + 10*r + c.
	var cOrder, fOrder, bigEndian []byte
	for s := range 2 {
		for r := range 2 {
			for c := range 3 {
				cOrder = append(cOrder, byte(100*s+10*r+c))
			}
		}
	}
	for c := range 3 {
		for r := range 2 {
			for s := range 2 {
				fOrder = append(fOrder, byte(100*s+10*r+c))
			}
		}
	}
	for _, v := range cOrder {
		bigEndian = append(bigEndian, 0, 0, 0, v)
	}
	v2 := rawNPY("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 3), }", cOrder)
	v2 = append(append([]byte(npyMagic), 2, 0, byte(len(v2)-10-len(cOrder)), 0, 0, 0), v2[10:]...)
	tests := []struct {
		name   string
		inputs []byte
	}{
		{"fortran", rawNPY("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2, 3), }", fOrder)},
		{"big-endian", rawNPY("{'descr': '>i4', 'fortran_order': False, 'shape': (2, 2, 3), }", bigEndian)},
		{"version 2", v2},
		{"python2 longs, double quotes", rawNPY(`{"descr": "|u1", "fortran_order": False, "shape": (2L, 2L, 3L)}`, cOrder)},
		{"keys in another order", rawNPY("{'shape': (2, 2, 3), 'fortran_order': False, 'descr': '<u1'}", cOrder)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecodeNPY(tt.inputs, labels)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range d.X {
				if v != float32(cOrder[i]) {
					t.Fatalf("X[%d] = %v, want %v", i, v, cOrder[i])
				}
			}
			if !slices.Equal(d.Shape, []int{2, 3}) {
				t.Errorf("Shape %v", d.Shape)
			}
		})
	}
}

// TestLoadErrors checks the message of every load error.
func TestLoadErrors(t *testing.T) {
	img, lbl := tinyIDX(3)
	img4, _ := tinyIDX(4)
	gzImg := gzipBytes(t, img)
	x := npyBytes(t, tensor3(3, func(i, j int) float32 { return float32(i + j) }))
	y := npyBytes(t, []int64{0, 1, 2})
	nan := npyBytes(t, tensor3(3, func(i, j int) float32 {
		if i == 2 && j == 4 {
			return float32(math.NaN())
		}
		return 0
	}))
	inf := npyBytes(t, tensor3(3, func(i, j int) float64 {
		if i == 1 && j == 0 {
			return math.Inf(-1)
		}
		return 0
	}))
	files := map[string][]byte{
		"img": img, "lbl": lbl, "img4": img4, "img.gz": gzImg,
		"text":            []byte("hello, world\n"),
		"empty":           nil,
		"img-trunc":       img[:len(img)-5],
		"img-trunc.gz":    gzipBytes(t, img[:len(img)-5]),
		"img-absurd":      idxBytes(idxImagesMagic, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil),
		"img-huge.gz":     gzipBytes(t, idxBytes(idxImagesMagic, []uint32{60000, 28, 28}, make([]byte, 100))),
		"img-long":        append(slices.Clone(img), 0),
		"img-empty":       idxBytes(idxImagesMagic, []uint32{0, 28, 28}, nil),
		"lbl-empty":       idxBytes(idxLabelsMagic, []uint32{0}, nil),
		"x.npy":           x,
		"y.npy":           y,
		"nan.npy":         nan,
		"inf.npy":         inf,
		"neg.npy":         npyBytes(t, []int64{0, -1, 2}),
		"big.npy":         npyBytes(t, []uint64{0, 1 << 63, 2}),
		"float.npy":       npyBytes(t, []float32{0, 1, 2}),
		"onehot.npy":      npyBytes(t, [][]int64{{1, 0}, {0, 1}, {1, 0}}),
		"y2.npy":          npyBytes(t, []int64{0, 1}),
		"complex.npy":     npyBytes(t, []complex64{1, 2, 3}),
		"bool.npy":        npyBytes(t, []bool{true, false, true}),
		"half.npy":        rawNPY("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", make([]byte, 6)),
		"struct.npy":      rawNPY("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", make([]byte, 12)),
		"scalar.npy":      npyBytes(t, float32(1)),
		"x-trunc.npy":     x[:len(x)-4],
		"x-long.npy":      append(slices.Clone(x), 0, 0, 0, 0),
		"x-absurd.npy":    rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }", nil),
		"x-nonl.npy":      append(append([]byte(npyMagic), 1, 0, 4, 0), "{}  "...),
		"x-badhdr.npy":    rawNPY("{'descr': '<f4', 'fortran_order': maybe, 'shape': (3,), }", nil),
		"x-v9.npy":        append([]byte(npyMagic), 9, 0, 0, 0),
		"x-hugehdr.npy":   append([]byte(npyMagic), 2, 0, 0xff, 0xff, 0xff, 0x7f),
		"x-empty.npy":     rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2, 3), }", nil),
		"y-empty.npy":     rawNPY("{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", nil),
		"x-zero.npy":      rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }", nil),
		"d.npz":           npzBytes(t, []string{"x.npy", "y.npy"}, tensor3(3, func(i, j int) uint8 { return 1 }), []int64{0, 1, 2}),
		"d-trunc.npz":     npzBytes(t, []string{"x.npy", "y.npy"}, tensor3(3, func(i, j int) uint8 { return 1 }), []int64{0, 1, 2})[:100],
		"d-badmember.npz": npzRaw(t, map[string][]byte{"x.npy": x[:len(x)-4], "y.npy": y}),
	}
	dir := t.TempDir()
	writeFiles(t, dir, files)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	idx := func(images, labels string) Source {
		return Source{Split: "train", Format: FormatIDX, Images: images, Labels: labels}
	}
	npySrc := func(inputs, labels string) Source { return Source{Format: FormatNPY, Inputs: inputs, Labels: labels} }
	npzSrc := func(file, inputs, labels string) Source {
		return Source{Format: FormatNPZ, File: file, Inputs: inputs, Labels: labels}
	}
	tests := []struct {
		name string
		src  Source
		want string
	}{
		{"images missing", idx("nope.gz", "lbl"),
			`dataset: split "train": images: file ` + p("nope.gz") + ` does not exist; check the path (relative paths are resolved against ` + dir + `)`},
		{"labels missing", idx("img", "nope"),
			`dataset: split "train": labels: file ` + p("nope") + ` does not exist; check the path (relative paths are resolved against ` + dir + `)`},
		{"npz file missing", npzSrc("nope.npz", "x", "y"),
			`dataset: file: file ` + p("nope.npz") + ` does not exist; check the path (relative paths are resolved against ` + dir + `)`},
		{"directory", idx("sub", "lbl"),
			`dataset: split "train": images: ` + p("sub") + ` is a directory, not a data file`},
		{"swapped", idx("lbl", "img"),
			`dataset: ` + p("lbl") + `: magic number 0x00000801, expected 0x00000803 (unsigned bytes, 3 dimensions): the file is not an IDX image file; it looks like an IDX label file: are images and labels swapped?`},
		{"not idx", idx("text", "lbl"),
			`dataset: ` + p("text") + `: magic number 0x68656c6c, expected 0x00000803 (unsigned bytes, 3 dimensions): the file is not an IDX image file`},
		{"labels not idx", idx("img", "text"),
			`dataset: ` + p("text") + `: magic number 0x68656c6c, expected 0x00000801 (unsigned bytes, 1 dimension): the file is not an IDX label file`},
		{"empty idx", idx("empty", "lbl"),
			`dataset: ` + p("empty") + `: the file is empty; expected an IDX image file`},
		{"truncated idx", idx("img-trunc", "lbl"),
			`dataset: ` + p("img-trunc") + `: truncated: header declares dimensions [3 2 3] (18 bytes of data) but the file has only 13 bytes after the header; the file is incomplete or corrupt`},
		{"truncated gzip idx", idx("img-trunc.gz", "lbl"),
			`dataset: ` + p("img-trunc.gz") + `: truncated: header declares dimensions [3 2 3] (18 bytes of data) but the data ends after 13 bytes; the file is incomplete or corrupt`},
		{"absurd dims", idx("img-absurd", "lbl"),
			`dataset: ` + p("img-absurd") + `: header declares dimensions [4294967295 4294967295 4294967295], more than 4294967296 values: the header is corrupt`},
		{"absurd gzip", idx("img-huge.gz", "lbl"),
			`dataset: ` + p("img-huge.gz") + `: truncated: header declares dimensions [60000 28 28] (47040000 bytes of data) but ` + strconv.Itoa(len(files["img-huge.gz"])) + ` bytes of gzip data cannot hold that much; the file is incomplete or corrupt`},
		{"too long idx", idx("img-long", "lbl"),
			`dataset: ` + p("img-long") + `: the file is longer than its header says (dimensions [3 2 3], 18 bytes of data): it is corrupt or not an IDX image file`},
		{"count mismatch", idx("img4", "lbl"),
			`dataset: ` + p("img4") + ` has 4 images but ` + p("lbl") + ` has 3 labels; image and label files must come from the same split`},
		{"empty dataset", idx("img-empty", "lbl-empty"),
			`dataset: ` + p("img-empty") + `: the dataset is empty (0 samples)`},
		{"nan", npySrc("nan.npy", "y.npy"),
			`dataset: ` + p("nan.npy") + `: sample 2 has a non-finite input value (NaN at element 4); clean the data (for example numpy.nan_to_num) first`},
		{"inf", npySrc("inf.npy", "y.npy"),
			`dataset: ` + p("inf.npy") + `: sample 1 has a non-finite input value (-Inf at element 0); clean the data (for example numpy.nan_to_num) first`},
		{"negative label", npySrc("x.npy", "neg.npy"),
			`dataset: ` + p("x.npy") + `: sample 1 has label -1; labels must be class indices 0, 1, 2, ...`},
		{"huge label", npySrc("x.npy", "big.npy"),
			`dataset: ` + p("big.npy") + `: sample 1 has label 9223372036854775808, too large for a class index`},
		{"float labels", npySrc("x.npy", "float.npy"),
			`dataset: ` + p("float.npy") + `: labels have dtype float32; they must be integers (store labels.astype(numpy.int64))`},
		{"one-hot labels", npySrc("x.npy", "onehot.npy"),
			`dataset: ` + p("onehot.npy") + `: labels have shape [3 2]; they must be class indices of shape (N,) (one-hot labels? store labels.argmax(axis=1))`},
		{"npy count mismatch", npySrc("x.npy", "y2.npy"),
			`dataset: ` + p("x.npy") + ` has 3 samples but ` + p("y2.npy") + ` has 2 labels; inputs and labels must come from the same split`},
		{"complex", npySrc("complex.npy", "y.npy"),
			`dataset: ` + p("complex.npy") + `: unsupported dtype "<c8" (complex); store float32, float64 or integer arrays (for example with .astype(numpy.float32))`},
		{"bool", npySrc("bool.npy", "y.npy"),
			`dataset: ` + p("bool.npy") + `: unsupported dtype "|b1" (bool); store float32, float64 or integer arrays (for example with .astype(numpy.float32))`},
		{"float16", npySrc("half.npy", "y.npy"),
			`dataset: ` + p("half.npy") + `: unsupported dtype "<f2" (float16); store float32, float64 or integer arrays (for example with .astype(numpy.float32))`},
		{"structured", npySrc("struct.npy", "y.npy"),
			`dataset: ` + p("struct.npy") + `: malformed NPY header "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }": structured dtypes (records) are not supported; store a plain numeric array; the file is corrupt`},
		{"scalar", npySrc("scalar.npy", "y.npy"),
			`dataset: ` + p("scalar.npy") + `: the inputs are a scalar (shape ()); they need a first axis that indexes the samples`},
		{"not npy", npySrc("text", "y.npy"),
			`dataset: ` + p("text") + `: the file does not start with the NPY magic \x93NUMPY: it is not an NPY file (write one with numpy.save)`},
		{"empty npy", npySrc("empty", "y.npy"),
			`dataset: ` + p("empty") + `: the file is empty; expected an NPY file`},
		{"truncated npy", npySrc("x-trunc.npy", "y.npy"),
			`dataset: ` + p("x-trunc.npy") + `: truncated: the NPY header declares shape [3 2 3] of float32 (72 bytes of data) but the file has only 68 bytes after the header; the file is incomplete or corrupt`},
		{"too long npy", npySrc("x-long.npy", "y.npy"),
			`dataset: ` + p("x-long.npy") + `: the NPY header declares shape [3 2 3] of float32 (72 bytes of data) but the file has 76 bytes after the header: it is corrupt`},
		{"absurd npy", npySrc("x-absurd.npy", "y.npy"),
			`dataset: ` + p("x-absurd.npy") + `: the NPY header declares shape [100000 100000 100000], more than 4294967296 values: the header is corrupt`},
		{"header without newline", npySrc("x-nonl.npy", "y.npy"),
			`dataset: ` + p("x-nonl.npy") + `: malformed NPY header "{}": it does not end with a newline; the file is corrupt`},
		{"bad header value", npySrc("x-badhdr.npy", "y.npy"),
			`dataset: ` + p("x-badhdr.npy") + `: malformed NPY header "{'descr': '<f4', 'fortran_order': maybe, 'shape': (3,), }": fortran_order is neither True nor False; the file is corrupt`},
		{"npy version", npySrc("x-v9.npy", "y.npy"),
			`dataset: ` + p("x-v9.npy") + `: NPY format version 9.0 is not supported (1.0 to 3.0 are)`},
		{"huge npy header", npySrc("x-hugehdr.npy", "y.npy"),
			`dataset: ` + p("x-hugehdr.npy") + `: the NPY header claims 2147483647 bytes, more than 1048576: the file is corrupt`},
		{"npy sample count mismatch", npySrc("x-empty.npy", "y.npy"),
			`dataset: ` + p("x-empty.npy") + ` has 0 samples but ` + p("y.npy") + ` has 3 labels; inputs and labels must come from the same split`},
		{"empty npy dataset", npySrc("x-empty.npy", "y-empty.npy"),
			`dataset: ` + p("x-empty.npy") + `: the dataset is empty (0 samples)`},
		{"zero-size samples", npySrc("x-zero.npy", "y.npy"),
			`dataset: ` + p("x-zero.npy") + `: samples have shape [0], which holds no values`},
		{"npz member missing", npzSrc("d.npz", "images", "y"),
			`dataset: ` + p("d.npz") + `: no array named "images"; the archive holds: x, y`},
		{"not npz", npzSrc("text", "x", "y"),
			`dataset: ` + p("text") + `: not a readable NPZ archive (a zip file written by numpy.savez): npz: could not create zip reader: zip: not a valid zip file`},
		{"truncated npz", npzSrc("d-trunc.npz", "x", "y"),
			`dataset: ` + p("d-trunc.npz") + `: not a readable NPZ archive (a zip file written by numpy.savez): npz: could not create zip reader: zip: not a valid zip file`},
		{"truncated npz member", npzSrc("d-badmember.npz", "x", "y"),
			`dataset: ` + p("d-badmember.npz") + `:x: truncated: the NPY header declares shape [3 2 3] of float32 (72 bytes of data) but the data ends after 68 bytes; the file is incomplete or corrupt`},
		{"unknown format", Source{Split: "val", Format: "csv", Images: "a", Labels: "b"},
			`dataset: split "val": format: "csv" is not a supported format; use idx, npy or npz`},
		{"no labels key", Source{Format: FormatIDX, Images: "img"},
			`dataset: labels: missing: format idx needs the labels (a file)`},
		{"no inputs key", Source{Format: FormatNPZ, File: "d.npz", Labels: "y"},
			`dataset: inputs: missing: format npz needs the inputs (an array in the npz file)`},
		{"no file key", Source{Format: FormatNPZ, Inputs: "x", Labels: "y"},
			`dataset: file: missing: format npz needs the archive (file: data.npz)`},
		{"file with idx", Source{Format: FormatIDX, Images: "img", Labels: "lbl", File: "d.npz"},
			`dataset: file: is only used with format npz; with format idx name the files in images and labels`},
		{"images and inputs", Source{Format: FormatNPY, Images: "x.npy", Inputs: "x.npy", Labels: "y.npy"},
			`dataset: inputs: both images and inputs are set; they are synonyms, keep one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(tt.src, dir)
			if err == nil {
				t.Fatalf("loaded %d samples, want error %q", d.Len(), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

// TestNoHugeAllocation checks that headers declaring gigabytes of data in a
// small file fail before allocating.
func TestNoHugeAllocation(t *testing.T) {
	_, lbl := tinyIDX(3)
	tests := []struct {
		name string
		load func() error
	}{
		{"idx raw", func() error {
			_, err := DecodeIDX(idxBytes(idxImagesMagic, []uint32{1 << 16, 1 << 8, 1 << 8}, nil), lbl)
			return err
		}},
		{"idx gzip", func() error {
			_, err := DecodeIDX(gzipBytes(t, idxBytes(idxImagesMagic, []uint32{1 << 16, 1 << 8, 1 << 8}, make([]byte, 1000))), lbl)
			return err
		}},
		{"npy", func() error {
			_, err := DecodeNPY(rawNPY("{'descr': '<f8', 'fortran_order': False, 'shape': (65536, 65536), }", nil), npyBytes(t, []int64{0}))
			return err
		}},
		{"npz", func() error {
			x := rawNPY("{'descr': '<f8', 'fortran_order': False, 'shape': (65536, 65536), }", make([]byte, 1000))
			_, err := DecodeNPZ(npzRaw(t, map[string][]byte{"x.npy": x, "y.npy": npyBytes(t, []int64{0})}), "x", "y")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := tt.load()
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("error %v, want a truncation error", err)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 16<<20 {
				t.Errorf("allocated %d bytes for a file of a few kilobytes", d)
			}
		})
	}
}
