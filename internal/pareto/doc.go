// Package pareto holds the multi-objective utilities shared by the search and
// the reports: Pareto dominance and non-dominated sorting, NSGA-II crowding
// distance, exact hypervolume and per-point hypervolume contributions, and an
// exact multiple-choice knapsack solver for per-layer bit allocation.
//
// # Conventions
//
// Every objective is minimised. Callers negate objectives to be maximised
// (accuracy becomes -accuracy). A point is a []float64 holding one value per
// objective; all points handed to one call must have the same length, and a
// length mismatch is a programmer error that panics with a message prefixed
// "pareto:". Results for points containing NaN are unspecified.
//
// No function retains or modifies its arguments. Returned slices are freshly
// allocated, except that [Spread] returns Solutions whose Choice slices alias
// those of its input.
//
// # Dominance and sorting
//
// a dominates b when a is no worse in every objective and strictly better in
// at least one ([Dominates]). [Front] returns the first non-dominated front,
// keeping only the first of several identical points. [Ranks] is the fast
// non-dominated sort of NSGA-II, O(M·N²) for N points and M objectives, and
// gives identical points identical ranks. [CrowdingDistance] is the NSGA-II
// density estimate within one front. Both follow
//
//	K. Deb, A. Pratap, S. Agarwal, T. Meyarivan. A fast and elitist
//	multiobjective genetic algorithm: NSGA-II. IEEE Transactions on
//	Evolutionary Computation 6(2):182–197, 2002.
//
// # Hypervolume
//
// [Hypervolume] is the Lebesgue measure of the region dominated by the points
// and bounded above by a reference point. It is exact up to rounding. One
// objective is a minimum. Two objectives are an O(N log N) sweep over the
// points sorted by the first objective. Three objectives are the HSO
// dimension sweep ("hypervolume by slicing objectives":
//
//	L. While, P. Hingston, L. Barone, S. Huband. A faster algorithm for
//	calculating hypervolume. IEEE Transactions on Evolutionary Computation
//	10(1):29–38, 2006):
//
// the points are taken in increasing third objective and each slab between
// consecutive values contributes the area of the two-objective front seen so
// far, kept incrementally. Four or more objectives use the WFG algorithm
//
//	L. While, L. Bradstreet, L. Barone. A fast way of calculating exact
//	hypervolumes. IEEE Transactions on Evolutionary Computation
//	16(1):86–95, 2012,
//
// which sums the exclusive contributions of the points sorted worst-first in
// the last objective; each is a slab of one objective less, the point's box
// minus the hypervolume of its non-dominated "limit set", and the recursion
// bottoms out in the three-objective sweep.
//
// [Contributions] gives each point's exclusive contribution HV(S) − HV(S∖{p}),
// the weights used by the multi-objective TPE sampler (Y. Ozaki, Y. Tanigaki,
// S. Watanabe, M. Onishi. Multiobjective tree-structured Parzen estimator for
// computationally expensive optimization problems. GECCO 2020). In two
// objectives it is an O(N log N) sweep; otherwise each contribution is one
// WFG limit-set computation, the point's box minus the hypervolume of
// {max(p, q) : q ≠ p}.
//
// # Multiple-choice knapsack
//
// Choosing one bit width per layer so that the summed cost (weight bits, BOPs)
// meets a budget while the summed predicted penalty (for example the
// Hessian-weighted perturbation Ω of HAWQ) is minimal is a multiple-choice
// knapsack problem (P. Sinha, A. A. Zoltners. The multiple-choice knapsack
// problem. Operations Research 27(3):503–515, 1979). HAWQ-V3 solves it with an
// integer linear program (Z. Yao et al. HAWQ-V3: Dyadic neural network
// quantization. ICML 2021). Costs here may be large and non-integral, so
// instead of a dynamic program over an integer cost grid, [MCKFront] builds
// the exact Pareto front of (total cost, total penalty) by merging groups one
// at a time and discarding dominated partial sums, the list-merging scheme of
// G. L. Nemhauser and Z. Ullmann (Discrete dynamic programming and capital
// allocation. Management Science 15(9):494–505, 1969). Each merge shifts the
// current front by every option of the next group and merges the shifted
// lists pairwise in a balanced tree, pruning as it goes, so a merge costs
// O(F·m·log m) for a front of F points and m options. Partial solutions are
// remembered as back-pointers (parent index, option index) per group, so
// memory is linear in the summed front sizes rather than front × groups
// choice slices.
//
// Totals are accumulated in group order starting from zero, exactly as a
// sequential loop over the chosen options would, so reported totals equal
// such sums bit for bit. Floating-point addition is monotone, so pruning a
// dominated partial sum never loses a non-dominated total. Among equal total
// costs only the lowest penalty is kept; among identical (cost, penalty)
// pairs one solution is kept, chosen deterministically.
//
// [MCKBudget] runs the same merge while discarding partial sums that cannot
// meet the budget even with the cheapest option in every remaining group, and
// returns the cheapest-penalty survivor. [Spread] thins a front to k
// solutions evenly spaced in cost.
package pareto
