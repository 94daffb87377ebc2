package onnxio

import (
	"fmt"

	"mpq/internal/engine"
)

// LoadModel reads the ONNX file at path and builds the runnable model: the
// error names the file for every failure, including unsupported operators.
func LoadModel(path string) (*engine.Model, error) {
	g, err := Load(path)
	if err != nil {
		return nil, err
	}
	m, err := engine.New(g)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}
