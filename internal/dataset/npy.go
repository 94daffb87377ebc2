package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio/npy"
)

// npyMagic starts every NPY file.
const npyMagic = "\x93NUMPY"

// maxNPYHeader caps the header length; numpy writes a few hundred bytes.
const maxNPYHeader = 1 << 20

// maxNPYDims caps the number of axes (numpy's own limit is 64).
const maxNPYDims = 64

// npyArray is one decoded NPY array.
type npyArray struct {
	name    string
	dtype   npyDtype
	shape   []int
	fortran bool
	data    any // []float32, []float64, []int8 ... []uint64, in file order
}

// npyDtype is a supported NumPy element type.
type npyDtype struct {
	order byte // '<', '>' or '|'
	kind  byte // 'f', 'i' or 'u'
	size  int  // bytes per element
}

func (t npyDtype) descr() string { return fmt.Sprintf("%c%c%d", t.order, t.kind, t.size) }

// String names the type as numpy does (float32, int64, uint8, ...).
func (t npyDtype) String() string {
	name := "float"
	switch t.kind {
	case 'i':
		name = "int"
	case 'u':
		name = "uint"
	}
	return fmt.Sprintf("%s%d", name, 8*t.size)
}

func (t npyDtype) isInteger() bool { return t.kind == 'i' || t.kind == 'u' }

// DecodeNPY decodes two NPY files held in memory: the inputs and the labels.
func DecodeNPY(inputs, labels []byte) (*Dataset, error) {
	x, err := readNPY(bytes.NewReader(inputs), int64(len(inputs)), "inputs")
	if err != nil {
		return nil, err
	}
	y, err := readNPY(bytes.NewReader(labels), int64(len(labels)), "labels")
	if err != nil {
		return nil, err
	}
	return assembleNPY(x, y)
}

func loadNPY(src Source, inputsPath, labelsPath, baseDir string) (*Dataset, error) {
	fx, xsize, err := openFile(src, src.inputsKey(), inputsPath, baseDir)
	if err != nil {
		return nil, err
	}
	defer fx.Close()
	fy, ysize, err := openFile(src, "labels", labelsPath, baseDir)
	if err != nil {
		return nil, err
	}
	defer fy.Close()
	x, err := readNPY(bufio.NewReaderSize(fx, 1<<16), xsize, inputsPath)
	if err != nil {
		return nil, err
	}
	y, err := readNPY(bufio.NewReaderSize(fy, 1<<16), ysize, labelsPath)
	if err != nil {
		return nil, err
	}
	return assembleNPY(x, y)
}

// readNPY reads one NPY array from r, which holds size bytes, or an unknown
// number when size is negative. The header is parsed and checked here; the
// elements are decoded by npyio from a canonical header that this function
// writes, because npyio's own header parser trusts its input.
func readNPY(r io.Reader, size int64, name string) (*npyArray, error) {
	var pre [8]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil || string(pre[:6]) != npyMagic {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("dataset: %s: the file is empty; expected an NPY file", name)
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("dataset: %s: reading the header: %w", name, err)
		}
		return nil, fmt.Errorf("dataset: %s: the file does not start with the NPY magic \\x93NUMPY: it is not an NPY file (write one with numpy.save)", name)
	}
	major, minor := pre[6], pre[7]
	var lenField []byte
	switch major {
	case 1:
		lenField = make([]byte, 2)
	case 2, 3:
		lenField = make([]byte, 4)
	default:
		return nil, fmt.Errorf("dataset: %s: NPY format version %d.%d is not supported (1.0 to 3.0 are)", name, major, minor)
	}
	if _, err := io.ReadFull(r, lenField); err != nil {
		return nil, npyTruncated(name, "header", err)
	}
	var hlen int64
	if major == 1 {
		hlen = int64(binary.LittleEndian.Uint16(lenField))
	} else {
		hlen = int64(binary.LittleEndian.Uint32(lenField))
	}
	headerEnd := int64(len(pre)+len(lenField)) + hlen
	if hlen > maxNPYHeader {
		return nil, fmt.Errorf("dataset: %s: the NPY header claims %d bytes, more than %d: the file is corrupt", name, hlen, maxNPYHeader)
	}
	if size >= 0 && headerEnd > size {
		return nil, fmt.Errorf("dataset: %s: truncated: the NPY header claims %d bytes but the file has %d in all; the file is incomplete or corrupt", name, hlen, size)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, npyTruncated(name, "header", err)
	}
	h, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: malformed NPY header %s: %w; the file is corrupt", name, quoteShort(strings.TrimRight(string(hdr), " \n")), err)
	}
	dt, err := parseNPYDescr(h.descr)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", name, err)
	}
	n, ok := checkedProduct(h.shape)
	if !ok {
		return nil, fmt.Errorf("dataset: %s: the NPY header declares shape %v, more than %d values: the header is corrupt", name, h.shape, maxElements)
	}
	payload := int64(n) * int64(dt.size)
	declared := fmt.Sprintf("the NPY header declares shape %v of %v (%d bytes of data)", h.shape, dt, payload)
	canon := canonicalNPYHeader(dt, h.shape)
	var buf []byte
	if size >= 0 {
		if avail := size - headerEnd; payload != avail {
			if payload > avail {
				return nil, fmt.Errorf("dataset: %s: truncated: %s but the file has only %d bytes after the header; the file is incomplete or corrupt", name, declared, avail)
			}
			return nil, fmt.Errorf("dataset: %s: %s but the file has %d bytes after the header: it is corrupt", name, declared, avail)
		}
		buf = make([]byte, int64(len(canon))+payload)
		copy(buf, canon)
		if got, err := io.ReadFull(r, buf[len(canon):]); err != nil {
			return nil, npyShort(name, declared, int64(got), err)
		}
	} else {
		// Unknown size (an npz member): read what is there, so that a false
		// header costs no more memory than the real data.
		data, err := io.ReadAll(io.LimitReader(r, payload+1))
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: reading the data: %w", name, err)
		}
		switch {
		case int64(len(data)) < payload:
			return nil, npyShort(name, declared, int64(len(data)), io.ErrUnexpectedEOF)
		case int64(len(data)) > payload:
			return nil, fmt.Errorf("dataset: %s: %s but more data follows: it is corrupt", name, declared)
		}
		buf = append(canon, data...)
	}
	data, err := decodeNPYData(buf, dt)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: decoding the NPY data: %w", name, err)
	}
	return &npyArray{name: name, dtype: dt, shape: h.shape, fortran: h.fortran, data: data}, nil
}

func npyTruncated(name, part string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("dataset: %s: truncated %s: the file is incomplete or not an NPY file", name, part)
	}
	return fmt.Errorf("dataset: %s: reading the %s: %w", name, part, err)
}

func npyShort(name, declared string, got int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("dataset: %s: truncated: %s but the data ends after %d bytes; the file is incomplete or corrupt", name, declared, got)
	}
	return fmt.Errorf("dataset: %s: reading the data: %w", name, err)
}

// quoteShort quotes s, cut to 120 bytes.
func quoteShort(s string) string {
	if len(s) > 120 {
		return strconv.Quote(s[:120]) + "..."
	}
	return strconv.Quote(s)
}

// canonicalNPYHeader writes a version 1.0 NPY preamble and header for a
// C-ordered array of the given type and shape.
func canonicalNPYHeader(dt npyDtype, shape []int) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dt.descr(), shapeTuple(shape))
	pad := (64 - (10+len(dict)+1)%64) % 64
	hlen := len(dict) + pad + 1
	out := make([]byte, 0, 10+hlen)
	out = append(out, npyMagic...)
	out = append(out, 1, 0, byte(hlen), byte(hlen>>8))
	out = append(out, dict...)
	out = append(out, bytes.Repeat([]byte{' '}, pad)...)
	return append(out, '\n')
}

// shapeTuple formats a shape as a Python tuple.
func shapeTuple(shape []int) string {
	parts := make([]string, len(shape))
	for i, v := range shape {
		parts[i] = strconv.Itoa(v)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// decodeNPYData decodes a canonical NPY file with npyio into a slice of the
// Go type matching dt.
func decodeNPYData(buf []byte, dt npyDtype) (data any, err error) {
	defer func() {
		// npyio panics on some inputs it considers impossible; the header
		// was checked, but a panic must never escape on user data.
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("npyio failed: %v", p)
		}
	}()
	rd, err := npy.NewReader(bytes.NewReader(buf))
	if err != nil {
		return nil, err
	}
	switch dt.descr()[1:] {
	case "f4":
		return readAs[float32](rd)
	case "f8":
		return readAs[float64](rd)
	case "i1":
		return readAs[int8](rd)
	case "i2":
		return readAs[int16](rd)
	case "i4":
		return readAs[int32](rd)
	case "i8":
		return readAs[int64](rd)
	case "u1":
		return readAs[uint8](rd)
	case "u2":
		return readAs[uint16](rd)
	case "u4":
		return readAs[uint32](rd)
	case "u8":
		return readAs[uint64](rd)
	}
	return nil, fmt.Errorf("unsupported dtype %v", dt)
}

// readAs reads the array as a []T; T must match the file's dtype.
func readAs[T any](rd *npy.Reader) (any, error) {
	var v []T
	if err := rd.Read(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// assembleNPY pairs inputs with labels.
func assembleNPY(x, y *npyArray) (*Dataset, error) {
	if len(x.shape) == 0 {
		return nil, fmt.Errorf("dataset: %s: the inputs are a scalar (shape ()); they need a first axis that indexes the samples", x.name)
	}
	if x.dtype.kind != 'f' && !x.dtype.isInteger() {
		return nil, fmt.Errorf("dataset: %s: unsupported input dtype %v", x.name, x.dtype)
	}
	switch {
	case len(y.shape) == 1:
	case len(y.shape) == 2 && y.shape[1] == 1:
	default:
		return nil, fmt.Errorf("dataset: %s: labels have shape %v; they must be class indices of shape (N,) (one-hot labels? store labels.argmax(axis=1))", y.name, y.shape)
	}
	if !y.dtype.isInteger() {
		return nil, fmt.Errorf("dataset: %s: labels have dtype %v; they must be integers (store labels.astype(numpy.int64))", y.name, y.dtype)
	}
	if x.shape[0] != y.shape[0] {
		return nil, fmt.Errorf("dataset: %s has %d samples but %s has %d labels; inputs and labels must come from the same split",
			x.name, x.shape[0], y.name, y.shape[0])
	}
	d := &Dataset{Name: x.name, Shape: x.shape[1:]}
	d.X = toFloat32(x.data)
	if x.fortran {
		d.X = fortranToC(d.X, x.shape)
	}
	labels, err := toInts(y.data)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", y.name, err)
	}
	d.Labels = labels
	if err := d.validate(); err != nil {
		return nil, err
	}
	if x.dtype.kind == 'f' {
		if err := d.checkFinite(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// toFloat32 converts a decoded numeric slice to float32.
func toFloat32(data any) []float32 {
	switch v := data.(type) {
	case []float32:
		return v
	case []float64:
		return convert[float32](v)
	case []int8:
		return convert[float32](v)
	case []int16:
		return convert[float32](v)
	case []int32:
		return convert[float32](v)
	case []int64:
		return convert[float32](v)
	case []uint8:
		return convert[float32](v)
	case []uint16:
		return convert[float32](v)
	case []uint32:
		return convert[float32](v)
	case []uint64:
		return convert[float32](v)
	}
	return nil
}

// toInts converts decoded integer labels to int.
func toInts(data any) ([]int, error) {
	switch v := data.(type) {
	case []int8:
		return convert[int](v), nil
	case []int16:
		return convert[int](v), nil
	case []int32:
		return convert[int](v), nil
	case []int64:
		return convert[int](v), nil
	case []uint8:
		return convert[int](v), nil
	case []uint16:
		return convert[int](v), nil
	case []uint32:
		for i, l := range v {
			if uint64(l) > math.MaxInt {
				return nil, fmt.Errorf("sample %d has label %d, too large for a class index", i, l)
			}
		}
		return convert[int](v), nil
	case []uint64:
		for i, l := range v {
			if l > math.MaxInt {
				return nil, fmt.Errorf("sample %d has label %d, too large for a class index", i, l)
			}
		}
		return convert[int](v), nil
	}
	return nil, errors.New("labels are not integers")
}

type number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

func convert[T, S number](src []S) []T {
	dst := make([]T, len(src))
	for i, v := range src {
		dst[i] = T(v)
	}
	return dst
}

// fortranToC reorders the values of a Fortran-ordered (column-major) array
// of the given shape into C order (row-major).
func fortranToC[T any](src []T, shape []int) []T {
	if len(shape) < 2 || len(src) == 0 {
		return src
	}
	stride := make([]int, len(shape)) // Fortran strides, in elements
	s := 1
	for j, d := range shape {
		stride[j] = s
		s *= d
	}
	dst := make([]T, len(src))
	idx := make([]int, len(shape))
	off := 0
	for i := range dst {
		dst[i] = src[off]
		for j := len(shape) - 1; j >= 0; j-- { // next C-order index
			idx[j]++
			off += stride[j]
			if idx[j] < shape[j] {
				break
			}
			off -= stride[j] * shape[j]
			idx[j] = 0
		}
	}
	return dst
}
