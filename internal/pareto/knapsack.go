package pareto

import (
	"math"
	"sort"
)

const (
	errOption   = "pareto: non-finite option cost or penalty"
	errBudget   = "pareto: NaN budget"
	errTooLarge = "pareto: knapsack front too large"
	errUnsorted = "pareto: front not sorted by cost"
)

// Option is one choice for one group (layer): its cost (for example weight
// bits or BOPs) and its predicted penalty (for example Ω, the predicted loss
// increase). Both must be finite.
type Option struct {
	Cost    float64
	Penalty float64
}

// Solution picks one option per group: Choice[g] indexes groups[g]. Cost and
// Penalty are the totals of the chosen options, summed in group order.
type Solution struct {
	Choice        []int
	Cost, Penalty float64
}

// MCKFront returns the Pareto front of (total cost, total penalty) over all
// ways to pick one option from every group, sorted by cost ascending (and so
// by penalty descending). Costs are strictly increasing and penalties
// strictly decreasing: of equal totals one solution is kept.
//
// With maxPoints <= 0 the front is exact. With maxPoints > 0 each
// intermediate front is thinned after every merge to maxPoints points evenly
// spread in cost (as by [Spread]; a maxPoints of 1 is treated as 2), so the
// result has at most maxPoints solutions, all achievable and mutually
// non-dominated, but it may miss points of the exact front and its interior
// points may be dominated by ones it missed. The thinning always keeps both
// ends, so the lowest total cost and the lowest total penalty are still
// attained exactly.
//
// With no groups the front is the single empty choice of cost 0; if any group
// is empty there is no solution and MCKFront returns nil. It panics if an
// option's cost or penalty is NaN or infinite.
func MCKFront(groups [][]Option, maxPoints int) []Solution {
	if maxPoints == 1 {
		maxPoints = 2
	}
	var k knapsack
	front, ok := k.run(groups, maxPoints, math.NaN())
	if !ok {
		return nil
	}
	g := len(groups)
	choices := make([]int, len(front)*g)
	sols := make([]Solution, len(front))
	for i, c := range front {
		choice := choices[i*g : (i+1)*g : (i+1)*g]
		k.trace(i, choice)
		sols[i] = Solution{Choice: choice, Cost: c.cost, Penalty: c.pen}
	}
	return sols
}

// MCKBudget returns the minimum-penalty way to pick one option per group
// whose total cost is at most budget, exactly, or ok == false if none fits
// (or a group is empty). Of several minimum-penalty choices it returns the
// cheapest. It panics if budget is NaN or an option's cost or penalty is NaN
// or infinite.
func MCKBudget(groups [][]Option, budget float64) (sol Solution, ok bool) {
	if math.IsNaN(budget) {
		panic(errBudget)
	}
	var k knapsack
	front, ok := k.run(groups, 0, budget)
	if !ok || len(front) == 0 {
		return Solution{}, false
	}
	// Every survivor fits; the dearest has the lowest penalty.
	last := len(front) - 1
	choice := make([]int, len(groups))
	k.trace(last, choice)
	return Solution{Choice: choice, Cost: front[last].cost, Penalty: front[last].pen}, true
}

// Spread returns k solutions of front, which must be sorted by cost
// ascending, evenly spaced in cost: for t = 0..k-1 it picks the solution
// nearest to cost lo + t·(hi−lo)/(k−1), never reusing one, always taking the
// first and the last. k >= len(front) returns a copy of front, k == 1 the
// cheapest solution and k <= 0 nil. The Choice slices of the result alias
// those of front. Spread panics if front is not sorted by cost.
func Spread(front []Solution, k int) []Solution {
	for i := 1; i < len(front); i++ {
		if front[i].Cost < front[i-1].Cost {
			panic(errUnsorted)
		}
	}
	idx := spreadIndices(len(front), k, func(i int) float64 { return front[i].Cost })
	if idx == nil {
		return nil
	}
	out := make([]Solution, len(idx))
	for i, j := range idx {
		out[i] = front[j]
	}
	return out
}

// spreadIndices picks min(k, n) distinct increasing indices of a sequence of n
// non-decreasing costs, the first and last included, each nearest to its
// evenly spaced target cost among the indices that leave room for the rest.
func spreadIndices(n, k int, cost func(int) float64) []int {
	if k <= 0 || n == 0 {
		return nil
	}
	if k >= n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	if k == 1 {
		return []int{0}
	}
	lo, hi := cost(0), cost(n-1)
	idx := make([]int, k)
	idx[0], idx[k-1] = 0, n-1
	for t := 1; t < k-1; t++ {
		target := lo + (hi-lo)*float64(t)/float64(k-1)
		first, last := idx[t-1]+1, n-(k-t) // keep room for the k-1-t after
		j := first + sort.Search(last-first+1, func(x int) bool { return cost(first+x) >= target })
		if j > last {
			j = last
		}
		if j > first && target-cost(j-1) <= cost(j)-target {
			j--
		}
		idx[t] = j
	}
	return idx
}

// link is a back-pointer from a point of one group's front to the point of
// the previous front it extends and the option it adds.
type link struct {
	parent, opt int32
}

// entry is a partial solution during a merge.
type entry struct {
	cost, pen float64
	link
}

// segment is a half-open range of a merge buffer.
type segment struct{ lo, hi int }

// knapsack is the state of one front-merging run: per-group back-pointers
// and reusable buffers.
type knapsack struct {
	levels [][]link
	cur    []entry
	a, b   []entry
	segs   []segment
}

// run merges the groups one at a time. With maxPoints > 0 it thins each
// front; with a non-NaN budget it drops partial sums that cannot fit even
// with the cheapest option of every remaining group. It returns the final
// front, sorted by cost ascending with penalties strictly decreasing, or
// ok == false if a group is empty.
func (k *knapsack) run(groups [][]Option, maxPoints int, budget float64) (front []entry, ok bool) {
	minCost := make([]float64, len(groups))
	for g, opts := range groups {
		if len(opts) == 0 {
			return nil, false
		}
		minCost[g] = math.Inf(1)
		for _, o := range opts {
			if math.IsNaN(o.Cost) || math.IsInf(o.Cost, 0) || math.IsNaN(o.Penalty) || math.IsInf(o.Penalty, 0) {
				panic(errOption)
			}
			minCost[g] = min(minCost[g], o.Cost)
		}
	}
	useBudget := !math.IsNaN(budget)
	// fits reports whether a partial cost c after group g can still end
	// within budget, completing it exactly as the final sum would be formed.
	fits := func(c float64, g int) bool {
		for _, m := range minCost[g+1:] {
			c += m
		}
		return c <= budget
	}
	k.levels = make([][]link, len(groups))
	k.cur = append(k.cur[:0], entry{link: link{-1, -1}})
	if useBudget && !fits(0, -1) {
		return nil, true
	}
	for g, opts := range groups {
		merged := k.merge(opts)
		if useBudget {
			// fits is monotone in the partial cost: keep a prefix.
			merged = merged[:sort.Search(len(merged), func(i int) bool { return !fits(merged[i].cost, g) })]
		}
		if maxPoints > 0 && len(merged) > maxPoints {
			idx := spreadIndices(len(merged), maxPoints, func(i int) float64 { return merged[i].cost })
			for t, i := range idx {
				merged[t] = merged[i]
			}
			merged = merged[:len(idx)]
		}
		links := make([]link, len(merged))
		for i, e := range merged {
			links[i] = e.link
		}
		k.levels[g] = links
		k.cur = append(k.cur[:0], merged...)
		if len(k.cur) == 0 {
			return nil, true
		}
	}
	return k.cur, true
}

// merge returns the pruned front of k.cur shifted by every option: each
// shifted copy (already sorted by cost) is pruned in place in its own segment
// of buffer a, then neighbouring segments are merged pairwise, ping-ponging
// between a and b, each merge writing into the space of its two inputs.
func (k *knapsack) merge(opts []Option) []entry {
	n, m := len(k.cur), len(opts)
	if n > math.MaxInt32/m {
		panic(errTooLarge)
	}
	if need := n * m; cap(k.a) < need {
		// Fronts mostly grow from group to group: grow geometrically.
		size := max(need, 2*cap(k.a))
		k.a = make([]entry, size)
		k.b = make([]entry, size)
	}
	src, dst := k.a[:n*m], k.b[:n*m]
	segs := k.segs[:0]
	for o, op := range opts {
		lo := o * n
		out := src[lo:lo]
		for i, c := range k.cur {
			out = push(out, entry{c.cost + op.Cost, c.pen + op.Penalty, link{int32(i), int32(o)}})
		}
		segs = append(segs, segment{lo, lo + len(out)})
	}
	for len(segs) > 1 {
		next := segs[:0]
		for s := 0; s < len(segs); s += 2 {
			x := segs[s]
			if s+1 == len(segs) {
				copy(dst[x.lo:x.hi], src[x.lo:x.hi])
				next = append(next, x)
				continue
			}
			y := segs[s+1]
			out := mergeFronts(dst[x.lo:x.lo], src[x.lo:x.hi], src[y.lo:y.hi])
			next = append(next, segment{x.lo, x.lo + len(out)})
		}
		segs = next
		src, dst = dst, src
	}
	k.segs = segs
	return src[segs[0].lo:segs[0].hi]
}

// mergeFronts appends to out the pruned merge of two fronts sorted by cost,
// taking x first on equal costs.
func mergeFronts(out, x, y []entry) []entry {
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		if x[i].cost <= y[j].cost {
			out = push(out, x[i])
			i++
		} else {
			out = push(out, y[j])
			j++
		}
	}
	for ; i < len(x); i++ {
		out = push(out, x[i])
	}
	for ; j < len(y); j++ {
		out = push(out, y[j])
	}
	return out
}

// push appends e to a front being built in non-decreasing cost order,
// keeping costs strictly increasing and penalties strictly decreasing: an
// entry of equal cost replaces the last one only if its penalty is lower,
// and an entry of higher cost is kept only if its penalty is lower.
func push(out []entry, e entry) []entry {
	if n := len(out); n > 0 {
		last := &out[n-1]
		if !(e.pen < last.pen) {
			return out
		}
		if e.cost == last.cost {
			*last = e
			return out
		}
	}
	return append(out, e)
}

// trace writes into choice the options of final front point i.
func (k *knapsack) trace(i int, choice []int) {
	for g := len(k.levels) - 1; g >= 0; g-- {
		l := k.levels[g][i]
		choice[g] = int(l.opt)
		i = int(l.parent)
	}
}
