package onnxio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mpq/internal/engine"
)

func TestLoadErrors(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "..", "testdata", "models", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"truncated", good[:len(good)/2], "truncated or not an ONNX model"},
		{"garbage", []byte("this is not a protobuf at all, just text"), "not an ONNX model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".onnx")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadModel(path)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want ErrInvalid naming %s and saying %q", err, path, tc.want)
			}
		})
	}
	if _, err := LoadModel(filepath.Join(dir, "missing.onnx")); err == nil || !strings.Contains(err.Error(), "check the model path") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestUnsupportedOpFailsAtLoad(t *testing.T) {
	g, err := Load(filepath.Join("..", "..", "testdata", "models", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g.Nodes[1].Op = "Hardmax"
	_, err = engine.New(g)
	if err == nil || !errors.Is(err, engine.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	for _, want := range []string{"Hardmax", g.Nodes[1].Name, "mpq supports", "Conv"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
