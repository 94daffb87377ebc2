package engine

import (
	"fmt"
	"testing"
)

// TestMapRuns checks that index maps run as runs (runsOf) give what the
// loop over values gives, for Pads of every mode with narrow and wide
// padding (runs of fill values longer than 8), zero Pads (one run) and
// Transposes (no runs), and that runsOf takes the runs only where they
// average 8 values or more.
func TestMapRuns(t *testing.T) {
	shape := []int{2, 3, 5, 11}
	type kase struct {
		name string
		m    []int
		runs bool // whether runsOf should return runs
	}
	var cases []kase
	for _, mode := range []string{"constant", "reflect", "edge"} {
		for _, pads := range [][]int64{{0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 1, 2, 0, 0, 2, 1}, {0, 0, 9, 10, 0, 0, 11, 12}, {0, 1, 0, 0, 1, 0, 0, 0}} {
			if mode == "reflect" && pads[2] >= 5 {
				continue
			}
			m, _, err := padMap(shape, pads, mode)
			if err != nil {
				t.Fatal(err)
			}
			cases = append(cases, kase{fmt.Sprintf("Pad %s %v", mode, pads), m, mode == "constant" || pads[3] == 0})
		}
	}
	m, _, err := transposeMap(shape, []int64{0, 1, 3, 2})
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, kase{"Transpose", m, false})
	n := shape[0] * shape[1] * shape[2] * shape[3]
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i) + 0.5
	}
	for _, c := range cases {
		runs := runsOf(c.m)
		if (runs != nil) != c.runs {
			t.Errorf("%s: runs %v, want %v (%d runs for %d values)", c.name, runs != nil, c.runs, len(runs), len(c.m))
		}
		loop := &mapStep[float32]{m: c.m, fill: -7}
		fast := &mapStep[float32]{m: c.m, runs: runs, fill: -7}
		want, got := make([]float32, len(c.m)), make([]float32, len(c.m))
		loop.apply(x, want)
		fast.apply(x, got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: y[%d] = %v, the loop gives %v", c.name, i, got[i], want[i])
			}
		}
	}
}
