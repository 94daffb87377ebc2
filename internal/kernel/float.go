package kernel

import "unsafe"

// Float is the element type of every kernel: float32 for evaluation,
// float64 for analysis. Named types with these underlying types are
// accepted too.
type Float interface{ ~float32 | ~float64 }

// is32 reports whether T has the memory layout of float32.
func is32[T Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// views returns s reinterpreted as []float32 or as []float64 (the other
// result is nil), without copying. A type switch reaches the common
// unnamed types; named types fall back to an unsafe reinterpretation,
// which is sound because ~float32 and ~float64 share the memory layout of
// their underlying type.
func views[T Float](s []T) ([]float32, []float64) {
	switch v := any(s).(type) {
	case []float32:
		return v, nil
	case []float64:
		return nil, v
	}
	p := unsafe.Pointer(unsafe.SliceData(s))
	if is32[T]() {
		return unsafe.Slice((*float32)(p), len(s)), nil
	}
	return nil, unsafe.Slice((*float64)(p), len(s))
}
