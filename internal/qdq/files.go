package qdq

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Paths are the files one export writes, side by side.
type Paths struct {
	Model     string // the QDQ ONNX model
	Encodings string // the AIMET-layout encodings (JSON)
	TensorRT  string // the trtexec command line (text)
}

// PathsFor names the files of an export to model: next to model.qdq.onnx
// go model.qdq.encodings.json and model.qdq.trtexec.txt.
func PathsFor(model string) Paths {
	base := strings.TrimSuffix(model, filepath.Ext(model))
	if filepath.Ext(model) != ".onnx" {
		base = model
	}
	return Paths{Model: model, Encodings: base + ".encodings.json", TensorRT: base + ".trtexec.txt"}
}

// CheckWritable reports, before any work is done, whether the files can be
// written: each folder must exist and take a new file, and no path may be a
// folder.
func CheckWritable(p Paths) error {
	for _, path := range []string{p.Model, p.Encodings, p.TensorRT} {
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return fmt.Errorf("export-onnx: %s is a folder; give -o a file name such as model.qdq.onnx", path)
		}
		dir := filepath.Dir(path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("export-onnx: cannot write %s: the folder %s does not exist; check the -o path", path, dir)
		}
		f, err := os.CreateTemp(dir, ".mpq-write-check-*")
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("export-onnx: cannot write %s: %w; check the -o path", path, err)
		}
		name := f.Name()
		f.Close()
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("export-onnx: %w", err)
		}
	}
	return nil
}

// Write writes the model, the encodings and the TensorRT command, each
// through a temporary file renamed into place, so that a failed export
// leaves no half-written file.
func (r *Result) Write(p Paths) error {
	enc, err := json.MarshalIndent(r.Encodings, "", "  ")
	if err != nil {
		return fmt.Errorf("export-onnx: encoding %s: %w", p.Encodings, err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{p.Model, r.Model}, {p.Encodings, append(enc, '\n')}, {p.TensorRT, []byte(r.TensorRTText(filepath.Base(p.Model)))}} {
		if err := writeFile(f.path, f.data); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("export-onnx: cannot write %s: %w; check the -o path", path, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("export-onnx: writing %s: %w", path, werr)
	}
	return nil
}

// TensorRTText is the content of the TensorRT file: a trtexec command for
// the model file, with comments on what the precisions mean.
func (r *Result) TensorRTText(modelFile string) string {
	var b strings.Builder
	b.WriteString("# TensorRT build of an mpq QDQ export (trtexec). Layers whose weights are int8 codes and\n")
	b.WriteString("# whose inputs pass through QuantizeLinear/DequantizeLinear run in int8; sub-8-bit layers\n")
	b.WriteString("# too: TensorRT has no narrower integer kernels, and their codes (within ±(2^(b−1)−1) for\n")
	b.WriteString("# weights, 0..2^b−1 for inputs) are int8/uint8 values, so they compute the b-bit values.\n")
	b.WriteString("# Layers with float-stored (codebook or >8-bit) weights or >8-bit inputs run in fp16, layers\n")
	b.WriteString("# with a 32-bit side in fp32.\n")
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "# layer %q is not listed: trtexec's --layerPrecisions cannot name a layer containing ',' or ':'\n", s)
	}
	fmt.Fprintf(&b, "trtexec --onnx=%s --int8 --fp16", shellQuote(modelFile))
	for _, f := range r.LayerPrecisions {
		b.WriteString(" " + shellQuote(f))
	}
	b.WriteString("\n")
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// ordinary characters.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
