package pareto

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHypervolumeHand(t *testing.T) {
	stair := [][]float64{{1, 3}, {2, 2}, {3, 1}}
	tests := []struct {
		name   string
		points [][]float64
		ref    []float64
		want   float64
	}{
		{"no points", nil, []float64{1, 1}, 0},
		{"no objectives", [][]float64{{}}, nil, 0},
		{"1-D", [][]float64{{3}, {1}, {5}}, []float64{4}, 3},
		{"2-D single", [][]float64{{1, 2}}, []float64{4, 4}, 6},
		// Staircase: 3·1 + 2·1 + 1·1.
		{"2-D staircase", stair, []float64{4, 4}, 6},
		{"2-D staircase with dominated", append(slices.Clone(stair), []float64{3, 3}, []float64{2, 2}), []float64{4, 4}, 6},
		{"2-D outside ref ignored", append(slices.Clone(stair), []float64{5, 0}, []float64{4, 0}, []float64{0, 4}), []float64{4, 4}, 6},
		{"2-D all outside", [][]float64{{4, 0}, {0, 4}}, []float64{4, 4}, 0},
		{"3-D single", [][]float64{{0, 0, 0}}, []float64{1, 2, 3}, 6},
		// 2·2·1 + 1·1·2 − 1·1·1.
		{"3-D two", [][]float64{{0, 0, 1}, {1, 1, 0}}, []float64{2, 2, 2}, 5},
		// Inclusion–exclusion: 3·4 − 3·2 + 1.
		{"3-D axes", [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, []float64{2, 2, 2}, 7},
		{"3-D axes with duplicates", [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0, 1, 0}, {1, 1, 1}}, []float64{2, 2, 2}, 7},
		{"3-D negative coordinates", [][]float64{{-1, -1, -1}}, []float64{0, 0, 0}, 1},
		// 4-D axes: 4·8 − 6·4 + 4·2 − 1.
		{"4-D axes", [][]float64{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}, []float64{2, 2, 2, 2}, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Hypervolume(tc.points, tc.ref); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("Hypervolume = %v, want %v", got, tc.want)
			}
		})
	}
}

// gridHypervolume counts the unit cells of [0, ref) dominated by some point:
// exact for integer coordinates and an integer reference point.
func gridHypervolume(points [][]float64, ref []float64) float64 {
	d := len(ref)
	cell := make([]float64, d)
	count := 0
	var walk func(k int)
	walk = func(k int) {
		if k == d {
			for _, p := range points {
				if weaklyDominates(p, cell) {
					count++
					return
				}
			}
			return
		}
		for v := 0.0; v < ref[k]; v++ {
			cell[k] = v
			walk(k + 1)
		}
	}
	walk(0)
	return float64(count)
}

// inclusionExclusion returns the hypervolume as the alternating sum over
// non-empty subsets of the volume of their common box.
func inclusionExclusion(points [][]float64, ref []float64) float64 {
	pts := strictlyBelow(points, ref, nil)
	d := len(ref)
	total := 0.0
	corner := make([]float64, d)
	for mask := 1; mask < 1<<len(pts); mask++ {
		for k := range corner {
			corner[k] = math.Inf(-1)
		}
		bits := 0
		for i, p := range pts {
			if mask&(1<<i) != 0 {
				bits++
				for k := range corner {
					corner[k] = max(corner[k], p[k])
				}
			}
		}
		v := boxVolume(corner, ref, d)
		if bits%2 == 0 {
			v = -v
		}
		total += v
	}
	return total
}

// without returns points minus element i.
func without(points [][]float64, i int) [][]float64 {
	return append(slices.Clone(points[:i]), points[i+1:]...)
}

func TestHypervolumeOracles(t *testing.T) {
	tests := []struct {
		name      string
		d         int
		n         int
		levels    int // > 0: integer points in [0, levels], grid oracle
		instances int
	}{
		{"1-D grid", 1, 8, 6, 50},
		{"2-D grid", 2, 25, 6, 200},
		{"3-D grid", 3, 25, 6, 200},
		{"4-D grid", 4, 20, 5, 100},
		{"5-D grid", 5, 12, 4, 30},
		{"2-D reals", 2, 10, 0, 100},
		{"3-D reals", 3, 10, 0, 100},
		{"4-D reals", 4, 9, 0, 100},
		{"5-D reals", 5, 8, 0, 50},
	}
	for s, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(s)))
			for range tc.instances {
				n := 1 + rng.IntN(tc.n)
				var pts [][]float64
				var ref []float64
				var oracle func([][]float64, []float64) float64
				if tc.levels > 0 {
					// Coordinates may equal the reference (contributing nothing).
					pts = randomPoints(rng, n, tc.d, tc.levels+1)
					ref = slices.Repeat([]float64{float64(tc.levels)}, tc.d)
					oracle = gridHypervolume
				} else {
					pts = randomPoints(rng, n, tc.d, 0)
					ref = make([]float64, tc.d)
					for k := range ref {
						ref[k] = 0.8 + 0.4*rng.Float64() // some points fall outside
					}
					oracle = inclusionExclusion
				}
				before := clonePoints(pts)
				want := oracle(pts, ref)
				got := Hypervolume(pts, ref)
				if math.Abs(got-want) > 1e-10*max(1, want) {
					t.Fatalf("Hypervolume(%v, %v) = %v, want %v", pts, ref, got, want)
				}
				contrib := Contributions(pts, ref)
				sum := 0.0
				for i, c := range contrib {
					excl := want - oracle(without(pts, i), ref)
					if math.Abs(c-excl) > 1e-10*max(1, want) {
						t.Fatalf("Contributions(%v, %v)[%d] = %v, want %v", pts, ref, i, c, excl)
					}
					sum += c
				}
				if sum > want+1e-10*max(1, want) {
					t.Fatalf("contributions sum %v > hypervolume %v", sum, want)
				}
				for i := range pts {
					if !slices.Equal(pts[i], before[i]) {
						t.Fatalf("input point %d modified: %v, was %v", i, pts[i], before[i])
					}
				}
			}
		})
	}
}

func clonePoints(points [][]float64) [][]float64 {
	out := make([][]float64, len(points))
	for i, p := range points {
		out[i] = slices.Clone(p)
	}
	return out
}

func TestContributionsHand(t *testing.T) {
	tests := []struct {
		name   string
		points [][]float64
		ref    []float64
		want   []float64
	}{
		{"empty", nil, []float64{1, 1}, []float64{}},
		{"1-D unique minimum", [][]float64{{3}, {1}, {2}}, []float64{4}, []float64{0, 1, 0}},
		{"1-D tied minimum", [][]float64{{1}, {1}, {2}}, []float64{4}, []float64{0, 0, 0}},
		{"1-D single", [][]float64{{1}}, []float64{4}, []float64{3}},
		{"2-D single", [][]float64{{1, 2}}, []float64{4, 4}, []float64{6}},
		{"2-D staircase", [][]float64{{1, 3}, {2, 2}, {3, 1}}, []float64{4, 4}, []float64{1, 1, 1}},
		// The dominated point covers [2.5,3)×[2.5,3) of (2,2)'s own area.
		{"2-D dominated counts against dominator", [][]float64{{1, 3}, {2, 2}, {3, 1}, {2.5, 2.5}}, []float64{4, 4}, []float64{1, 0.75, 1, 0}},
		{"2-D duplicates", [][]float64{{1, 3}, {2, 2}, {2, 2}, {3, 1}}, []float64{4, 4}, []float64{1, 0, 0, 1}},
		{"2-D outside ref", [][]float64{{1, 3}, {5, 0}}, []float64{4, 4}, []float64{3, 0}},
		// Each axis point owns its box minus the two pairwise overlaps plus
		// the triple: 4 − 2 − 2 + 1.
		{"3-D axes", [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, []float64{2, 2, 2}, []float64{1, 1, 1}},
		// (0,1,1) owns its box 2·1·1 minus the overlap 1·1·1.
		{"3-D duplicates", [][]float64{{1, 0, 0}, {1, 0, 0}, {0, 1, 1}}, []float64{2, 2, 2}, []float64{0, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Contributions(tc.points, tc.ref)
			if len(got) != len(tc.want) {
				t.Fatalf("len = %d, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-12 {
					t.Errorf("Contributions[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestHypervolumeLargeGrid checks larger sets, where the three-objective
// sweep and the WFG recursion do real work, against the grid count.
func TestHypervolumeLargeGrid(t *testing.T) {
	tests := []struct {
		name      string
		d, n      int
		levels    int
		instances int
	}{
		{"2-D", 2, 300, 40, 5},
		{"3-D", 3, 200, 20, 5},
		{"4-D", 4, 80, 8, 5},
		{"5-D", 5, 40, 5, 5},
	}
	for s, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(s)))
			for range tc.instances {
				pts := randomPoints(rng, tc.n, tc.d, tc.levels)
				ref := slices.Repeat([]float64{float64(tc.levels)}, tc.d)
				if got, want := Hypervolume(pts, ref), gridHypervolume(pts, ref); got != want {
					t.Fatalf("Hypervolume = %v, want %v", got, want)
				}
			}
		})
	}
}
