package pareto_test

import (
	"fmt"

	"mpq/internal/pareto"
)

func ExampleFront() {
	// (error, size) pairs; the last point repeats the first.
	points := [][]float64{{0.10, 8}, {0.12, 4}, {0.15, 6}, {0.30, 2}, {0.10, 8}}
	fmt.Println(pareto.Front(points))
	fmt.Println(pareto.Ranks(points))
	// Output:
	// [0 1 3]
	// [0 0 1 0 0]
}

func ExampleHypervolume() {
	points := [][]float64{{1, 3}, {2, 2}, {3, 1}}
	ref := []float64{4, 4}
	fmt.Println(pareto.Hypervolume(points, ref))
	fmt.Println(pareto.Contributions(points, ref))
	// Output:
	// 6
	// [1 1 1]
}

func ExampleMCKBudget() {
	// Three layers of 1000, 5000 and 2000 weights, each at 4 or 8 bits;
	// cost is weight bits, penalty the predicted loss increase.
	groups := [][]pareto.Option{
		{{Cost: 4 * 1000, Penalty: 0.30}, {Cost: 8 * 1000, Penalty: 0.01}},
		{{Cost: 4 * 5000, Penalty: 0.05}, {Cost: 8 * 5000, Penalty: 0.002}},
		{{Cost: 4 * 2000, Penalty: 0.20}, {Cost: 8 * 2000, Penalty: 0.02}},
	}
	sol, ok := pareto.MCKBudget(groups, 40000)
	fmt.Println(ok, sol.Choice, sol.Cost, fmt.Sprintf("%.3f", sol.Penalty))

	for _, s := range pareto.MCKFront(groups, 0) {
		fmt.Println(s.Choice, s.Cost, fmt.Sprintf("%.3f", s.Penalty))
	}
	// Output:
	// true [1 0 0] 36000 0.260
	// [0 0 0] 32000 0.550
	// [1 0 0] 36000 0.260
	// [1 0 1] 44000 0.080
	// [1 1 1] 64000 0.032
}
