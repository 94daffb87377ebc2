package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// IDX magic numbers: two zero bytes, the element type (0x08: unsigned byte)
// and the number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// maxElements caps the number of values a header may declare: 2^32 values
// are 16 GiB as float32, more than this tool's machines hold (and int's
// range caps it on 32-bit platforms).
const maxElements = min(1<<32, math.MaxInt)

// gzipMaxRatio bounds how many bytes one byte of gzip data can expand to:
// deflate's best case is 1032:1 (258-byte matches coded in 2 bits).
const gzipMaxRatio = 1032

// idxKind is what an IDX file must hold, named by its magic number.
type idxKind uint32

const (
	idxImages idxKind = idxImagesMagic
	idxLabels idxKind = idxLabelsMagic
)

// what names the kind of file.
func (k idxKind) what() string {
	if k == idxImages {
		return "image"
	}
	return "label"
}

// desc puts the magic number in words.
func (k idxKind) desc() string {
	if k == idxImages {
		return "unsigned bytes, 3 dimensions"
	}
	return "unsigned bytes, 1 dimension"
}

// idxFile is the content of one IDX file.
type idxFile struct {
	dims []int
	data []byte
}

// DecodeIDX decodes an IDX image file and an IDX label file held in memory,
// each raw or gzip-compressed.
func DecodeIDX(images, labels []byte) (*Dataset, error) {
	img, err := readIDX(bufio.NewReaderSize(bytes.NewReader(images), 16), int64(len(images)), "images", idxImages)
	if err != nil {
		return nil, err
	}
	lbl, err := readIDX(bufio.NewReaderSize(bytes.NewReader(labels), 16), int64(len(labels)), "labels", idxLabels)
	if err != nil {
		return nil, err
	}
	return assembleIDX(img, lbl, "images", "labels")
}

func loadIDX(src Source, imagesPath, labelsPath, baseDir string) (*Dataset, error) {
	fi, isize, err := openFile(src, src.inputsKey(), imagesPath, baseDir)
	if err != nil {
		return nil, err
	}
	defer fi.Close()
	fl, lsize, err := openFile(src, "labels", labelsPath, baseDir)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	img, err := readIDX(bufio.NewReaderSize(fi, 1<<16), isize, imagesPath, idxImages)
	if err != nil {
		return nil, err
	}
	lbl, err := readIDX(bufio.NewReaderSize(fl, 1<<16), lsize, labelsPath, idxLabels)
	if err != nil {
		return nil, err
	}
	return assembleIDX(img, lbl, imagesPath, labelsPath)
}

// readIDX reads one IDX file of the given kind from br, which holds size
// bytes, raw or gzip-compressed.
func readIDX(br *bufio.Reader, size int64, name string, kind idxKind) (idxFile, error) {
	var rd io.Reader = br
	limit, compressed := size, false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return idxFile{}, fmt.Errorf("dataset: %s: corrupt gzip data: %w", name, err)
		}
		defer gz.Close()
		rd, compressed = gz, true
		limit = math.MaxInt64
		if size < math.MaxInt64/gzipMaxRatio {
			limit = size * gzipMaxRatio
		}
	}
	var magic [4]byte
	if n, err := io.ReadFull(rd, magic[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return idxFile{}, fmt.Errorf("dataset: %s: the file is empty; expected an IDX %s file", name, kind.what())
		}
		return idxFile{}, idxReadError(name, kind, "header", err)
	}
	if m := binary.BigEndian.Uint32(magic[:]); m != uint32(kind) {
		msg := fmt.Sprintf("dataset: %s: magic number 0x%08x, expected 0x%08x (%s): the file is not an IDX %s file", name, m, uint32(kind), kind.desc(), kind.what())
		switch {
		case kind == idxImages && m == idxLabelsMagic:
			msg += "; it looks like an IDX label file: are images and labels swapped?"
		case kind == idxLabels && m == idxImagesMagic:
			msg += "; it looks like an IDX image file: are images and labels swapped?"
		}
		return idxFile{}, errors.New(msg)
	}
	ndim := int(kind & 0xff)
	hdr := make([]byte, 4*ndim)
	if _, err := io.ReadFull(rd, hdr); err != nil {
		return idxFile{}, idxReadError(name, kind, "header", err)
	}
	dims := make([]int, ndim)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(hdr[4*i:]))
	}
	n, ok := checkedProduct(dims)
	if !ok {
		return idxFile{}, fmt.Errorf("dataset: %s: header declares dimensions %v, more than %d values: the header is corrupt", name, dims, maxElements)
	}
	declared := fmt.Sprintf("header declares dimensions %v (%d bytes of data)", dims, n)
	if avail := limit - int64(4+len(hdr)); int64(n) > avail {
		if compressed {
			return idxFile{}, fmt.Errorf("dataset: %s: truncated: %s but %d bytes of gzip data cannot hold that much; the file is incomplete or corrupt", name, declared, size)
		}
		return idxFile{}, fmt.Errorf("dataset: %s: truncated: %s but the file has only %d bytes after the header; the file is incomplete or corrupt", name, declared, max(avail, 0))
	}
	data := make([]byte, n)
	if got, err := io.ReadFull(rd, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return idxFile{}, fmt.Errorf("dataset: %s: truncated: %s but the data ends after %d bytes; the file is incomplete or corrupt", name, declared, got)
		}
		return idxFile{}, idxReadError(name, kind, "data", err)
	}
	// Reading on to the end also makes gzip verify its checksum.
	var extra [1]byte
	switch _, err := io.ReadFull(rd, extra[:]); {
	case err == nil:
		return idxFile{}, fmt.Errorf("dataset: %s: the file is longer than its header says (dimensions %v, %d bytes of data): it is corrupt or not an IDX %s file", name, dims, n, kind.what())
	case !errors.Is(err, io.EOF):
		return idxFile{}, idxReadError(name, kind, "data", err)
	}
	return idxFile{dims: dims, data: data}, nil
}

func idxReadError(name string, kind idxKind, part string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("dataset: %s: truncated %s: the file is incomplete or not an IDX %s file", name, part, kind.what())
	}
	return fmt.Errorf("dataset: %s: reading the %s: %w", name, part, err)
}

// assembleIDX pairs the images with the labels.
func assembleIDX(img, lbl idxFile, imagesName, labelsName string) (*Dataset, error) {
	if img.dims[0] != lbl.dims[0] {
		return nil, fmt.Errorf("dataset: %s has %d images but %s has %d labels; image and label files must come from the same split",
			imagesName, img.dims[0], labelsName, lbl.dims[0])
	}
	d := &Dataset{
		Name:   imagesName,
		X:      make([]float32, len(img.data)),
		Labels: make([]int, len(lbl.data)),
		Shape:  img.dims[1:],
	}
	for i, b := range img.data {
		d.X[i] = float32(b)
	}
	for i, b := range lbl.data {
		d.Labels[i] = int(b)
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}
