package pareto

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// instance draws a random multiple-choice knapsack instance with
// sizes[g] options in group g.
type instance func(rng *rand.Rand, sizes []int) [][]Option

func genGroups(sizes []int, opt func() Option) [][]Option {
	out := make([][]Option, len(sizes))
	for g, m := range sizes {
		out[g] = make([]Option, m)
		for o := range out[g] {
			out[g][o] = opt()
		}
	}
	return out
}

// randomSizes returns between 1 and maxGroups group sizes of 1 to maxOptions.
func randomSizes(rng *rand.Rand, maxGroups, maxOptions int) []int {
	sizes := make([]int, 1+rng.IntN(maxGroups))
	for g := range sizes {
		sizes[g] = 1 + rng.IntN(maxOptions)
	}
	return sizes
}

// instances returns the instance families the knapsack tests run on.
func instances() []struct {
	name string
	gen  instance
} {
	return []struct {
		name string
		gen  instance
	}{
		{"reals", func(rng *rand.Rand, sizes []int) [][]Option {
			return genGroups(sizes, func() Option { return Option{10 * rng.Float64(), rng.Float64()} })
		}},
		{"integer ties", func(rng *rand.Rand, sizes []int) [][]Option {
			return genGroups(sizes, func() Option { return Option{float64(rng.IntN(4)), float64(rng.IntN(4))} })
		}},
		{"decimal fractions", func(rng *rand.Rand, sizes []int) [][]Option {
			// Sums like 0.1+0.2 round differently from 0.3, provoking near-ties.
			return genGroups(sizes, func() Option { return Option{0.1 * float64(rng.IntN(8)), 0.1 * float64(rng.IntN(8))} })
		}},
		{"negative", func(rng *rand.Rand, sizes []int) [][]Option {
			return genGroups(sizes, func() Option { return Option{10*rng.Float64() - 5, 2*rng.Float64() - 1} })
		}},
		{"bit widths", hawqGroups},
	}
}

// hawqGroups returns groups shaped like per-layer bit allocation: option o
// of a group (at most 8) is the o-th of the bit widths 2, 3, 4, 5, 6, 8, 12, 16, its cost bits × parameters × MACs per
// parameter (BOPs-sized), its penalty a layer sensitivity times the
// quantization noise power 4^-bits.
func hawqGroups(rng *rand.Rand, sizes []int) [][]Option {
	out := make([][]Option, len(sizes))
	for g, m := range sizes {
		params := float64(1000 + rng.IntN(1_000_000))
		macs := float64(1 + rng.IntN(200))
		sens := math.Exp(4 * rng.NormFloat64())
		out[g] = make([]Option, m)
		bitWidths := [...]float64{2, 3, 4, 5, 6, 8, 12, 16}
		for o, b := range bitWidths[:m] {
			out[g][o] = Option{Cost: b * params * macs, Penalty: sens * math.Pow(4, -b)}
		}
	}
	return out
}

type total struct{ cost, pen float64 }

// enumerate returns the totals of every choice, summed in group order from
// zero, and the choices themselves.
func enumerate(groups [][]Option) ([]total, [][]int) {
	var totals []total
	var choices [][]int
	choice := make([]int, len(groups))
	var walk func(g int, cost, pen float64)
	walk = func(g int, cost, pen float64) {
		if g == len(groups) {
			totals = append(totals, total{cost, pen})
			choices = append(choices, slices.Clone(choice))
			return
		}
		for o, op := range groups[g] {
			choice[g] = o
			walk(g+1, cost+op.Cost, pen+op.Penalty)
		}
	}
	walk(0, 0, 0)
	return totals, choices
}

// bruteFrontTotals returns the distinct non-dominated totals by cost.
func bruteFrontTotals(totals []total) []total {
	sorted := slices.Clone(totals)
	slices.SortFunc(sorted, func(a, b total) int {
		if a.cost != b.cost {
			if a.cost < b.cost {
				return -1
			}
			return 1
		}
		if a.pen < b.pen {
			return -1
		}
		if a.pen > b.pen {
			return 1
		}
		return 0
	})
	var front []total
	for _, s := range sorted {
		if len(front) == 0 || s.pen < front[len(front)-1].pen {
			front = append(front, s)
		}
	}
	return front
}

// checkSolution verifies that sol's totals are the in-order sums of its choice.
func checkSolution(t *testing.T, groups [][]Option, sol Solution) {
	t.Helper()
	if len(sol.Choice) != len(groups) {
		t.Fatalf("choice %v has %d entries, want %d", sol.Choice, len(sol.Choice), len(groups))
	}
	cost, pen := 0.0, 0.0
	for g, o := range sol.Choice {
		if o < 0 || o >= len(groups[g]) {
			t.Fatalf("choice %v: option %d out of range in group %d", sol.Choice, o, g)
		}
		cost += groups[g][o].Cost
		pen += groups[g][o].Penalty
	}
	if cost != sol.Cost || pen != sol.Penalty {
		t.Fatalf("choice %v sums to (%v, %v), solution says (%v, %v)", sol.Choice, cost, pen, sol.Cost, sol.Penalty)
	}
}

func TestMCKFrontBruteForce(t *testing.T) {
	for s, inst := range instances() {
		t.Run(inst.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(s)))
			for trial := range 60 {
				sizes := randomSizes(rng, 6, 4)
				if trial%3 == 0 {
					sizes = []int{4, 4, 4, 4, 4, 4}
				}
				groups := inst.gen(rng, sizes)
				totals, _ := enumerate(groups)
				want := bruteFrontTotals(totals)
				got := MCKFront(groups, 0)
				if len(got) != len(want) {
					t.Fatalf("front has %d points, want %d\ngroups %v\ngot %v\nwant %v", len(got), len(want), groups, got, want)
				}
				for i, sol := range got {
					if sol.Cost != want[i].cost || sol.Penalty != want[i].pen {
						t.Fatalf("point %d = (%v, %v), want (%v, %v)", i, sol.Cost, sol.Penalty, want[i].cost, want[i].pen)
					}
					checkSolution(t, groups, sol)
				}
			}
		})
	}
}

func TestMCKFrontCapped(t *testing.T) {
	for s, inst := range instances() {
		t.Run(inst.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, uint64(s)))
			for range 40 {
				groups := inst.gen(rng, randomSizes(rng, 7, 4))
				exact := MCKFront(groups, 0)
				for _, maxPoints := range []int{1, 2, 3, 5, 1000} {
					got := MCKFront(groups, maxPoints)
					if limit := max(maxPoints, 2); len(got) > limit {
						t.Fatalf("maxPoints %d: %d points", maxPoints, len(got))
					}
					if len(got) > len(exact) {
						t.Fatalf("maxPoints %d: %d points, exact front has %d", maxPoints, len(got), len(exact))
					}
					for i, sol := range got {
						checkSolution(t, groups, sol)
						if i > 0 && !(sol.Cost > got[i-1].Cost && sol.Penalty < got[i-1].Penalty) {
							t.Fatalf("maxPoints %d: points %d and %d not strictly ordered: %v %v", maxPoints, i-1, i, got[i-1], sol)
						}
					}
					if got[0].Cost != exact[0].Cost {
						t.Fatalf("maxPoints %d: cheapest cost %v, exact %v", maxPoints, got[0].Cost, exact[0].Cost)
					}
					if p, q := got[len(got)-1].Penalty, exact[len(exact)-1].Penalty; p != q {
						t.Fatalf("maxPoints %d: lowest penalty %v, exact %v", maxPoints, p, q)
					}
					if len(exact) <= maxPoints && len(got) != len(exact) {
						t.Fatalf("maxPoints %d: %d points, exact front of %d fits", maxPoints, len(got), len(exact))
					}
				}
			}
		})
	}
}

func TestMCKBudgetBruteForce(t *testing.T) {
	for s, inst := range instances() {
		t.Run(inst.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(s)))
			for range 40 {
				groups := inst.gen(rng, randomSizes(rng, 6, 4))
				totals, _ := enumerate(groups)
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, tt := range totals {
					lo, hi = min(lo, tt.cost), max(hi, tt.cost)
				}
				budgets := []float64{math.Inf(1), math.Inf(-1), lo, hi, lo - 1, math.Nextafter(lo, math.Inf(-1))}
				for range 5 {
					budgets = append(budgets, totals[rng.IntN(len(totals))].cost) // exact boundaries
					budgets = append(budgets, lo+(hi-lo)*rng.Float64())
				}
				for _, budget := range budgets {
					var want *total
					for i, tt := range totals {
						if tt.cost <= budget && (want == nil || tt.pen < want.pen || (tt.pen == want.pen && tt.cost < want.cost)) {
							want = &totals[i]
						}
					}
					got, ok := MCKBudget(groups, budget)
					if ok != (want != nil) {
						t.Fatalf("budget %v: ok = %v, want %v", budget, ok, want != nil)
					}
					if !ok {
						continue
					}
					checkSolution(t, groups, got)
					if got.Cost != want.cost || got.Penalty != want.pen {
						t.Fatalf("budget %v: (%v, %v), want (%v, %v)", budget, got.Cost, got.Penalty, want.cost, want.pen)
					}
				}
			}
		})
	}
}

func TestMCKEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		groups [][]Option
		front  []total
		budget float64
		fits   bool
		best   total
	}{
		{"no groups", nil, []total{{0, 0}}, 0, true, total{0, 0}},
		{"no groups negative budget", nil, []total{{0, 0}}, -1, false, total{}},
		{"empty group", [][]Option{{{1, 1}}, {}}, nil, 10, false, total{}},
		{"single option", [][]Option{{{2, 3}}}, []total{{2, 3}}, 2, true, total{2, 3}},
		{"equal costs keep lower penalty", [][]Option{{{1, 5}, {1, 3}, {1, 4}}}, []total{{1, 3}}, 1, true, total{1, 3}},
		{"identical options", [][]Option{{{1, 1}, {1, 1}}, {{0, 0}, {0, 0}}}, []total{{1, 1}}, 1, true, total{1, 1}},
		{"dominated option", [][]Option{{{1, 1}, {2, 2}, {0, 3}}}, []total{{0, 3}, {1, 1}}, 0.5, true, total{0, 3}},
		{"budget between points", [][]Option{{{1, 4}, {2, 2}}, {{0, 1}, {3, 0}}}, []total{{1, 5}, {2, 3}, {5, 2}}, 4.5, true, total{2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MCKFront(tc.groups, 0)
			if len(got) != len(tc.front) {
				t.Fatalf("MCKFront = %v, want %v", got, tc.front)
			}
			for i, sol := range got {
				if sol.Cost != tc.front[i].cost || sol.Penalty != tc.front[i].pen {
					t.Fatalf("MCKFront = %v, want %v", got, tc.front)
				}
				checkSolution(t, tc.groups, sol)
			}
			sol, ok := MCKBudget(tc.groups, tc.budget)
			if ok != tc.fits {
				t.Fatalf("MCKBudget ok = %v, want %v", ok, tc.fits)
			}
			if ok && (sol.Cost != tc.best.cost || sol.Penalty != tc.best.pen) {
				t.Fatalf("MCKBudget = %v, want %v", sol, tc.best)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	sols := func(costs ...float64) []Solution {
		out := make([]Solution, len(costs))
		for i, c := range costs {
			out[i] = Solution{Choice: []int{i}, Cost: c, Penalty: -c}
		}
		return out
	}
	costs := func(s []Solution) []float64 {
		out := make([]float64, len(s))
		for i := range s {
			out[i] = s[i].Cost
		}
		return out
	}
	tests := []struct {
		name  string
		front []Solution
		k     int
		want  []float64
	}{
		{"empty front", nil, 3, nil},
		{"k zero", sols(0, 1, 2), 0, nil},
		{"k negative", sols(0, 1, 2), -1, nil},
		{"k one", sols(0, 1, 2), 1, []float64{0}},
		{"k two ends", sols(0, 1, 2, 3), 2, []float64{0, 3}},
		{"k equals length", sols(0, 1, 2), 3, []float64{0, 1, 2}},
		{"k above length", sols(0, 1, 2), 10, []float64{0, 1, 2}},
		{"even", sols(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 3, []float64{0, 5, 10}},
		{"even five", sols(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 5, []float64{0, 2, 5, 7, 10}},
		{"nearest to targets", sols(0, 1, 4, 6, 9, 10), 3, []float64{0, 4, 10}},
		{"clustered no duplicates", sols(0, 0.1, 0.2, 0.3, 10), 4, []float64{0, 0.2, 0.3, 10}},
		{"clustered at top", sols(0, 9.7, 9.8, 9.9, 10), 4, []float64{0, 9.7, 9.8, 10}},
		{"equal costs", sols(1, 1, 1, 1), 3, []float64{1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Spread(tc.front, tc.k)
			if tc.want == nil && got != nil {
				t.Fatalf("Spread = %v, want nil", got)
			}
			if !slices.Equal(costs(got), tc.want) {
				t.Fatalf("Spread costs = %v, want %v", costs(got), tc.want)
			}
		})
	}
	t.Run("properties", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(6, 0))
		for range 200 {
			n := 1 + rng.IntN(30)
			c := make([]float64, n)
			for i := range c {
				c[i] = float64(rng.IntN(50))
			}
			slices.Sort(c)
			front := sols(c...)
			k := rng.IntN(n + 3)
			got := Spread(front, k)
			if want := min(max(k, 0), n); len(got) != want {
				t.Fatalf("Spread(%v, %d) has %d points, want %d", c, k, len(got), want)
			}
			if k <= 0 {
				continue
			}
			if got[0].Choice[0] != 0 {
				t.Fatalf("Spread(%v, %d) does not start at the cheapest", c, k)
			}
			if k >= 2 && got[len(got)-1].Choice[0] != n-1 {
				t.Fatalf("Spread(%v, %d) does not end at the dearest", c, k)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Choice[0] <= got[i-1].Choice[0] {
					t.Fatalf("Spread(%v, %d) repeats or reorders: %v", c, k, got)
				}
			}
		}
	})
}
