package onnxio

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"mpq/internal/engine"
	"mpq/internal/graph"
)

// FuzzDecode feeds arbitrary bytes to the importer and, when they decode
// into a model the engine builds, runs one forward pass: nothing may panic,
// every decoding error must wrap ErrInvalid, and no declared size may make
// it allocate before the data is checked. Seeds: the small models of the
// op zoo here, and testdata/fuzz/FuzzDecode/.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"identity_dropout", "softmax_head", "gemm_matmul", "pooling", "opset17_cnn", "bn_preserve"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "opzoo", name+".onnx"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		m, err := engine.New(g)
		if err != nil {
			return
		}
		per := graph.NumElements(m.InputShape[1:])
		if per < 1 || per > 1<<16 {
			return
		}
		out, err := engine.NewSession[float32](m).Forward(make([]float32, per), 1)
		if err == nil && len(out) == 0 {
			t.Fatal("a forward pass returned no outputs and no error")
		}
	})
}
