package engine

import (
	"errors"
	"testing"
)

func TestCheckShape(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		ok    bool
	}{
		{nil, true},
		{[]int{1, 28, 28}, true},
		{[]int{0, 1 << 40}, true}, // no elements
		{[]int{1 << 13, 1 << 13}, true},
		{[]int{1 << 13, 1 << 14}, false},
		{[]int{1 << 40, 1 << 40, 0}, true},
		{[]int{1 << 62, 1 << 62}, false}, // the product overflows
		{[]int{3, -1}, false},
		{[]int{0, -1}, false},
	} {
		err := checkShape(tc.shape)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrShape)) {
			t.Errorf("checkShape(%v) = %v, want ok=%v", tc.shape, err, tc.ok)
		}
	}
}

// TestPadMapRefusesHugeOutputs: pads from a hostile file must fail before
// the index map is allocated (found by FuzzDecode: makeslice panicked).
func TestPadMapRefusesHugeOutputs(t *testing.T) {
	for _, pads := range [][]int64{
		{0, 0, 1 << 40, 0, 0, 0, 0, 0},
		{0, 0, 1 << 20, 1 << 20, 0, 0, 0, 0},
		{0, 0, -(1 << 62), 0, 0, 0, 1 << 62, 0},
	} {
		if _, _, err := padMap([]int{1, 3, 16, 16}, pads, "constant"); !errors.Is(err, ErrShape) {
			t.Errorf("padMap(%v) = %v, want ErrShape", pads, err)
		}
	}
	m, y, err := padMap([]int{1, 1, 2, 2}, []int64{0, 0, 1, 1, 0, 0, 1, 1}, "constant")
	if err != nil || len(m) != 16 || y[2] != 4 {
		t.Fatalf("padMap of a small pad: %v %v %v", m, y, err)
	}
}
