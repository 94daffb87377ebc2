package engine

import (
	"fmt"
	"testing"

	"mpq/internal/graph"
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

// TestBinaryBlocks checks that broadcasting binary ops run in blocks
// (binStep.blocks) give what the loop over index pairs gives, for shape
// pairs whose trailing dimensions make blocks of vectors and broadcast
// values in either operand, and that blocks of fewer than 8 values keep
// the loop.
func TestBinaryBlocks(t *testing.T) {
	for _, c := range []struct {
		a, b []int
		run  int
	}{
		{[]int{2, 3, 4, 5}, []int{2, 3, 1, 1}, 20},
		{[]int{2, 3, 1, 1}, []int{2, 3, 4, 5}, 20},
		{[]int{2, 3, 4, 5}, []int{5}, 5},
		{[]int{2, 3, 4, 5}, []int{3, 1, 1}, 20},
		{[]int{2, 3, 4, 5}, []int{1}, 120},
		{[]int{1, 3, 1, 5}, []int{2, 1, 4, 1}, 5},
		{[]int{3, 4}, []int{3, 1}, 4},
		{[]int{2, 1, 1}, []int{1, 3, 1}, 3},
		{[]int{2, 3}, []int{2, 1}, 3},
		{[]int{2, 3}, []int{1, 3}, 3},
		{[]int{1, 1}, []int{1, 1}, 0},
		{[]int{4, 1}, []int{1, 5}, 5},
		{[]int{2, 1, 4, 5}, []int{2, 3, 4, 5}, 20},
		{[]int{3, 1}, []int{3, 9}, 9},
	} {
		y, err := broadcastShape(c.a, c.b)
		if err != nil {
			t.Fatal(err)
		}
		a, b := make([]float32, graph.NumElements(c.a)), make([]float32, graph.NumElements(c.b))
		for i := range a {
			a[i] = float32(i)*0.37 - 3
		}
		for i := range b {
			b[i] = float32(i)*0.11 + 0.5
		}
		for _, op := range []byte{'+', '-', '*', '/', 'M', 'm'} {
			loop := &binStep[float32]{op: op, ia: broadcastIndex(c.a, y), ib: broadcastIndex(c.b, y)}
			fast := &binStep[float32]{op: op, ia: loop.ia, ib: loop.ib}
			fast.blocks(c.a, c.b, y)
			if c.run < 8 {
				c.run = 0 // the index loop
			}
			if fast.run != c.run {
				t.Errorf("%v %c %v: blocks of %d, want %d", c.a, op, c.b, fast.run, c.run)
			}
			want, got := make([]float32, graph.NumElements(y)), make([]float32, graph.NumElements(y))
			loop.broadcast(a, b, want)
			fast.broadcast(a, b, got)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%v %c %v: y[%d] = %v, the loop gives %v", c.a, op, c.b, i, got[i], want[i])
				}
			}
		}
	}
}
