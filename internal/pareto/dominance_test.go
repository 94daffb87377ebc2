package pareto

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestDominates(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		a, b []float64
		want bool
	}{
		{"empty", nil, nil, false},
		{"equal", []float64{1, 2}, []float64{1, 2}, false},
		{"better in all", []float64{0, 1}, []float64{1, 2}, true},
		{"better in one equal in other", []float64{1, 1}, []float64{1, 2}, true},
		{"worse in one equal in other", []float64{1, 2}, []float64{1, 1}, false},
		{"incomparable", []float64{0, 3}, []float64{1, 2}, false},
		{"one objective better", []float64{-1}, []float64{0}, true},
		{"one objective equal", []float64{0}, []float64{0}, false},
		{"negative zero equals zero", []float64{math.Copysign(0, -1), 1}, []float64{0, 1}, false},
		{"minus infinity", []float64{math.Inf(-1), 0}, []float64{0, 0}, true},
		{"plus infinity", []float64{math.Inf(1), 0}, []float64{0, 0}, false},
		{"NaN in a", []float64{nan, 0}, []float64{1, 1}, false},
		{"NaN in b", []float64{0, 0}, []float64{nan, 1}, false},
		{"four objectives", []float64{1, 2, 3, 4}, []float64{1, 2, 3, 5}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Dominates(tc.a, tc.b); got != tc.want {
				t.Errorf("Dominates(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got, want := compareDominance(tc.a, tc.b) == -1, tc.want; got != want {
				t.Errorf("compareDominance(%v, %v) == -1 is %v, want %v", tc.a, tc.b, got, want)
			}
		})
	}
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"Dominates lengths", func() { Dominates([]float64{1}, []float64{1, 2}) }, errDimension},
		{"Front lengths", func() { Front([][]float64{{1, 2}, {1}}) }, errDimension},
		{"Ranks lengths", func() { Ranks([][]float64{{1, 2}, {1}}) }, errDimension},
		{"CrowdingDistance index", func() { CrowdingDistance([][]float64{{1}}, []int{1}) }, errIndex},
		{"CrowdingDistance lengths", func() { CrowdingDistance([][]float64{{1}, {1, 2}}, []int{0, 1}) }, errDimension},
		{"Hypervolume lengths", func() { Hypervolume([][]float64{{1, 2}}, []float64{3}) }, errDimension},
		{"Contributions lengths", func() { Contributions([][]float64{{1}}, []float64{3, 3}) }, errDimension},
		{"MCKFront NaN", func() { MCKFront([][]Option{{{Cost: math.NaN()}}}, 0) }, errOption},
		{"MCKFront Inf", func() { MCKFront([][]Option{{{Penalty: math.Inf(1)}}}, 0) }, errOption},
		{"MCKBudget NaN budget", func() { MCKBudget([][]Option{{{}}}, math.NaN()) }, errBudget},
		{"Spread unsorted", func() { Spread([]Solution{{Cost: 2}, {Cost: 1}}, 1) }, errUnsorted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != tc.want {
					t.Errorf("panic %v, want %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
}

// randomPoints returns n points of d objectives: small integers (many ties
// and duplicates) when levels > 0, uniform reals otherwise.
func randomPoints(rng *rand.Rand, n, d, levels int) [][]float64 {
	pts := make([][]float64, n)
	for i := range pts {
		p := make([]float64, d)
		for k := range p {
			if levels > 0 {
				p[k] = float64(rng.IntN(levels))
			} else {
				p[k] = rng.Float64()
			}
		}
		pts[i] = p
	}
	return pts
}

func bruteFront(points [][]float64) []int {
	var front []int
	for i, p := range points {
		kept := true
		for j, q := range points {
			if Dominates(q, p) || (j < i && slices.Equal(q, p)) {
				kept = false
				break
			}
		}
		if kept {
			front = append(front, i)
		}
	}
	return front
}

func bruteRanks(points [][]float64) []int {
	rank := make([]int, len(points))
	left := make([]int, len(points))
	for i := range left {
		left[i] = i
	}
	for r := 0; len(left) > 0; r++ {
		var layer, rest []int
		for _, i := range left {
			dominated := false
			for _, j := range left {
				if Dominates(points[j], points[i]) {
					dominated = true
					break
				}
			}
			if dominated {
				rest = append(rest, i)
			} else {
				layer = append(layer, i)
			}
		}
		for _, i := range layer {
			rank[i] = r
		}
		left = rest
	}
	return rank
}

func TestFrontRanksBruteForce(t *testing.T) {
	tests := []struct {
		name      string
		n, d      int
		levels    int
		instances int
	}{
		{"1-D ties", 20, 1, 5, 50},
		{"2-D ties", 40, 2, 5, 100},
		{"2-D reals", 60, 2, 0, 50},
		{"3-D ties", 40, 3, 4, 100},
		{"3-D reals", 60, 3, 0, 50},
		{"4-D ties", 40, 4, 3, 100},
		{"5-D reals", 50, 5, 0, 30},
	}
	for s, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(s)))
			for range tc.instances {
				pts := randomPoints(rng, 1+rng.IntN(tc.n), tc.d, tc.levels)
				if got, want := Front(pts), bruteFront(pts); !slices.Equal(got, want) {
					t.Fatalf("Front(%v) = %v, want %v", pts, got, want)
				}
				if got, want := Ranks(pts), bruteRanks(pts); !slices.Equal(got, want) {
					t.Fatalf("Ranks(%v) = %v, want %v", pts, got, want)
				}
			}
		})
	}
}

func TestFront(t *testing.T) {
	tests := []struct {
		name   string
		points [][]float64
		front  []int
		ranks  []int
	}{
		{"empty", nil, nil, nil},
		{"single", [][]float64{{3, 4}}, []int{0}, []int{0}},
		{"duplicates keep first", [][]float64{{1, 1}, {0, 2}, {1, 1}, {0, 2}}, []int{0, 1}, []int{0, 0, 0, 0}},
		{"chain", [][]float64{{2, 2}, {1, 1}, {0, 0}}, []int{2}, []int{2, 1, 0}},
		{"equal first objective", [][]float64{{1, 3}, {1, 2}, {0, 5}}, []int{1, 2}, []int{1, 0, 0}},
		{"3-D", [][]float64{{1, 2, 3}, {3, 2, 1}, {2, 2, 2}, {2, 3, 3}, {1, 2, 3}}, []int{0, 1, 2}, []int{0, 0, 0, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Front(tc.points); !slices.Equal(got, tc.front) {
				t.Errorf("Front = %v, want %v", got, tc.front)
			}
			if got := Ranks(tc.points); !slices.Equal(got, tc.ranks) {
				t.Errorf("Ranks = %v, want %v", got, tc.ranks)
			}
		})
	}
}

func TestCrowdingDistance(t *testing.T) {
	inf := math.Inf(1)
	points := [][]float64{
		{0, 10}, // 0
		{1, 6},  // 1
		{3, 4},  // 2
		{6, 1},  // 3
		{10, 0}, // 4
		{5, 5},  // 5 (not in the front used below)
		{2, 2},  // 6
		{2, 2},  // 7
	}
	tests := []struct {
		name string
		idx  []int
		want []float64
	}{
		{"empty", nil, []float64{}},
		{"one", []int{5}, []float64{inf}},
		{"two", []int{0, 4}, []float64{inf, inf}},
		// Ranges 10 and 10. Point 1: (3-0)/10 + (10-4)/10 = 0.9.
		// Point 2: (6-1)/10 + (6-1)/10 = 1.0. Point 3: (10-3)/10 + (4-0)/10 = 1.1.
		{"five", []int{0, 1, 2, 3, 4}, []float64{inf, 0.9, 1.0, 1.1, inf}},
		{"order follows idx", []int{4, 2, 0, 3, 1}, []float64{inf, 1.0, inf, 1.1, 0.9}},
		{"duplicates", []int{6, 7, 5}, []float64{inf, 2, inf}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CrowdingDistance(points, tc.idx)
			if len(got) != len(tc.want) {
				t.Fatalf("len = %d, want %d", len(got), len(tc.want))
			}
			for k := range got {
				if math.Abs(got[k]-tc.want[k]) > 1e-12 && got[k] != tc.want[k] {
					t.Errorf("distance[%d] = %v, want %v", k, got[k], tc.want[k])
				}
			}
		})
	}
	t.Run("zero range objective", func(t *testing.T) {
		// Objective 1 has zero range, so only objective 0 counts: (3-0)/3.
		pts := [][]float64{{0, 1}, {1, 1}, {3, 1}}
		got := CrowdingDistance(pts, []int{0, 1, 2})
		want := []float64{inf, 1, inf}
		for k := range got {
			if math.Abs(got[k]-want[k]) > 1e-12 && got[k] != want[k] {
				t.Errorf("distance[%d] = %v, want %v", k, got[k], want[k])
			}
		}
	})
}
