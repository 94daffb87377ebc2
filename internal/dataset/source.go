package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Format names.
const (
	FormatIDX = "idx"
	FormatNPY = "npy"
	FormatNPZ = "npz"
)

// Source says where a split's data lives. It mirrors one split entry of the
// YAML config:
//
//	{format: idx, images: train-images.gz, labels: train-labels.gz}
//	{format: npy, inputs: x.npy, labels: y.npy}
//	{format: npz, file: d.npz, inputs: x, labels: y}
//
// Images and Inputs are synonyms: either names the inputs (a file for idx
// and npy, an array inside the archive for npz).
type Source struct {
	// Split names the split (train, test, ...) in error messages; it is not
	// part of the YAML entry but filled from its key.
	Split string `yaml:"-"`
	// Format is idx, npy or npz. Empty means: npz if File is set, else npy
	// if the inputs end in .npy, else idx.
	Format string `yaml:"format,omitempty"`
	// Images names the inputs (idx: the image file).
	Images string `yaml:"images,omitempty"`
	// Labels names the labels: a file, or for npz an array in File.
	Labels string `yaml:"labels,omitempty"`
	// Inputs names the inputs (npy: the file; npz: the array in File).
	Inputs string `yaml:"inputs,omitempty"`
	// File is the npz archive.
	File string `yaml:"file,omitempty"`
}

// SourceError is a problem with one key of a [Source].
type SourceError struct {
	Split string // the split, if known
	Key   string // the YAML key at fault: format, images, inputs, labels or file
	Msg   string
}

func (e *SourceError) Error() string {
	if e.Split != "" {
		return fmt.Sprintf("dataset: split %q: %s: %s", e.Split, e.Key, e.Msg)
	}
	return fmt.Sprintf("dataset: %s: %s", e.Key, e.Msg)
}

// Kind returns the format, inferred when Format is empty.
func (s Source) Kind() string {
	switch {
	case s.Format != "":
		return s.Format
	case s.File != "":
		return FormatNPZ
	case strings.HasSuffix(strings.ToLower(s.inputs()), ".npy"):
		return FormatNPY
	}
	return FormatIDX
}

// inputs returns whichever of Images and Inputs is set.
func (s Source) inputs() string {
	if s.Inputs != "" {
		return s.Inputs
	}
	return s.Images
}

// inputsKey returns the YAML key used for the inputs.
func (s Source) inputsKey() string {
	if s.Inputs != "" || s.Kind() != FormatIDX {
		return "inputs"
	}
	return "images"
}

// Validate checks that the keys fit the format: a known format, the inputs
// and labels named, the archive named for npz and only for npz. It does not
// touch the file system. Its errors are *[SourceError].
func (s Source) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &SourceError{Split: s.Split, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	kind := s.Kind()
	switch kind {
	case FormatIDX, FormatNPY, FormatNPZ:
	default:
		return bad("format", "%q is not a supported format; use idx, npy or npz", s.Format)
	}
	if s.Images != "" && s.Inputs != "" {
		return bad("inputs", "both images and inputs are set; they are synonyms, keep one")
	}
	what := map[string]string{FormatIDX: "a file", FormatNPY: "a file", FormatNPZ: "an array in the npz file"}[kind]
	if s.inputs() == "" {
		key := "inputs"
		if kind == FormatIDX {
			key = "images"
		}
		return bad(key, "missing: format %s needs the inputs (%s)", kind, what)
	}
	if s.Labels == "" {
		return bad("labels", "missing: format %s needs the labels (%s)", kind, what)
	}
	if kind == FormatNPZ && s.File == "" {
		return bad("file", "missing: format npz needs the archive (file: data.npz)")
	}
	if kind != FormatNPZ && s.File != "" {
		return bad("file", "is only used with format npz; with format %s name the files in %s and labels", kind, s.inputsKey())
	}
	return nil
}

// Files returns the files that s reads as YAML key and path (as written,
// not resolved), in a fixed order.
func (s Source) Files() [][2]string {
	if s.Kind() == FormatNPZ {
		return [][2]string{{"file", s.File}}
	}
	return [][2]string{{s.inputsKey(), s.inputs()}, {"labels", s.Labels}}
}

// Load reads the dataset that src describes. Relative paths are resolved
// against baseDir.
func Load(src Source, baseDir string) (*Dataset, error) {
	if err := src.Validate(); err != nil {
		return nil, err
	}
	resolve := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(baseDir, p)
	}
	var (
		d   *Dataset
		err error
	)
	switch src.Kind() {
	case FormatIDX:
		d, err = loadIDX(src, resolve(src.inputs()), resolve(src.Labels), baseDir)
	case FormatNPY:
		d, err = loadNPY(src, resolve(src.inputs()), resolve(src.Labels), baseDir)
	case FormatNPZ:
		d, err = loadNPZ(src, resolve(src.File), baseDir)
	}
	if err != nil {
		return nil, err
	}
	if src.Split != "" {
		d.Name = fmt.Sprintf("split %q (%s)", src.Split, d.Name)
	}
	return d, nil
}

// openFile opens a data file, turning a missing file into an error that
// names the split and key.
func openFile(src Source, key, path, baseDir string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, &SourceError{Split: src.Split, Key: key,
				Msg: fmt.Sprintf("file %s does not exist; check the path (relative paths are resolved against %s)", path, baseDir)}
		}
		return nil, 0, fmt.Errorf("dataset: %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, &SourceError{Split: src.Split, Key: key, Msg: fmt.Sprintf("%s is a directory, not a data file", path)}
	}
	return f, st.Size(), nil
}
