package engine

import (
	"fmt"

	"mpq/internal/graph"
)

// maxElements bounds the elements of any tensor the engine plans or folds:
// 2^26 values, 256 MiB of float32 per sample (the largest activation of
// ResNet-50 at 224×224 holds 0.8 million). An ONNX file's shapes and
// shape constants are not to be trusted: a larger or negative shape is
// refused before anything is allocated for it.
const maxElements = 1 << 26

// checkShape returns an error wrapping ErrShape when shape has a negative
// dimension or more than maxElements elements; the product is computed
// without overflow.
func checkShape(shape []int) error {
	empty := false
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %s has a negative dimension: %w", graph.ShapeString(shape), ErrShape)
		}
		empty = empty || d == 0
	}
	if empty {
		return nil
	}
	n := 1
	for _, d := range shape {
		if n > maxElements/d {
			return fmt.Errorf("shape %s holds over 2^26 elements per sample, more than mpq handles: %w", graph.ShapeString(shape), ErrShape)
		}
		n *= d
	}
	return nil
}
