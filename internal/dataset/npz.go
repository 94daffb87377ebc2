package dataset

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"codeberg.org/sbinet/npyio/npz"
)

// DecodeNPZ decodes an NPZ archive held in memory, taking the inputs and
// the labels from the named arrays (with or without the .npy suffix).
func DecodeNPZ(archive []byte, inputs, labels string) (*Dataset, error) {
	return readNPZ(bytes.NewReader(archive), int64(len(archive)), "archive", inputs, labels)
}

func loadNPZ(src Source, path, baseDir string) (*Dataset, error) {
	f, size, err := openFile(src, "file", path, baseDir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readNPZ(f, size, path, src.inputs(), src.Labels)
}

// readNPZ reads two arrays of the archive r, which holds size bytes.
func readNPZ(r io.ReaderAt, size int64, name, inputs, labels string) (*Dataset, error) {
	zr, err := npz.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: not a readable NPZ archive (a zip file written by numpy.savez): %w", name, err)
	}
	defer zr.Close()
	x, err := readNPZArray(zr, name, inputs)
	if err != nil {
		return nil, err
	}
	y, err := readNPZArray(zr, name, labels)
	if err != nil {
		return nil, err
	}
	d, err := assembleNPY(x, y)
	if err != nil {
		return nil, err
	}
	d.Name = name
	return d, nil
}

// readNPZArray reads the array called array (or array.npy) from zr.
func readNPZArray(zr *npz.Reader, name, array string) (*npyArray, error) {
	keys := zr.Keys()
	member := ""
	for _, k := range []string{array, array + ".npy"} {
		if slices.Contains(keys, k) {
			member = k
			break
		}
	}
	if member == "" {
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = strings.TrimSuffix(k, ".npy")
		}
		slices.Sort(names)
		return nil, fmt.Errorf("dataset: %s: no array named %q; the archive holds: %s", name, array, strings.Join(names, ", "))
	}
	rc, err := zr.Open(member)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", name, err)
	}
	defer rc.Close()
	return readNPY(rc, -1, name+":"+strings.TrimSuffix(member, ".npy"))
}
