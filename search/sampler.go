package search

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"

	"github.com/c-bata/goptuna"

	"mpq/internal/pareto"
)

// Trial attributes mpq writes on every goptuna trial it finishes, so that
// samplers in any process can read the objective vectors.
const (
	attrObjectives = "mpq:objectives" // JSON []float64, minimised
	attrFeasible   = "mpq:feasible"   // "true" or "false"
	attrViolation  = "mpq:violation"  // total normalised constraint violation
)

// observed is one finished trial as the samplers see it.
type observed struct {
	pt        Point
	obj       []float64
	feasible  bool
	pruned    bool // obj holds a partial evaluation
	violation float64
}

// history reads the study's trials: finished ones with their objective
// vectors, the set of points already taken (finished, running or waiting),
// so that no sampler proposes a plan twice, and the running and waiting
// ones' points.
func history(study *goptuna.Study, sp *Space) ([]observed, map[string]bool, []Point, error) {
	trials, err := study.GetTrials()
	if err != nil {
		return nil, nil, nil, err
	}
	var done []observed
	var pending []Point
	taken := make(map[string]bool, len(trials))
	for _, t := range trials {
		params := t.InternalParams
		if fp, ok := t.SystemAttrs["fixed_params"]; ok && len(params) == 0 {
			_ = json.Unmarshal([]byte(fp), &params)
		}
		pt, ok := sp.FromInternal(params)
		if !ok {
			continue
		}
		if t.State != goptuna.TrialStateFail {
			taken[pt.Key()] = true
		}
		if t.State == goptuna.TrialStateRunning || t.State == goptuna.TrialStateWaiting {
			pending = append(pending, pt)
		}
		if t.State != goptuna.TrialStateComplete && t.State != goptuna.TrialStatePruned {
			continue
		}
		var obj []float64
		if json.Unmarshal([]byte(t.UserAttrs[attrObjectives]), &obj) != nil || len(obj) == 0 {
			continue
		}
		o := observed{pt: pt, obj: obj, feasible: t.UserAttrs[attrFeasible] == "true" && t.State == goptuna.TrialStateComplete,
			pruned: t.State == goptuna.TrialStatePruned}
		_ = json.Unmarshal([]byte(t.UserAttrs[attrViolation]), &o.violation)
		done = append(done, o)
	}
	return done, taken, pending, nil
}

// Sampler is mpq's relative sampler for the whole bitwidth space. Its
// modes are:
//
//   - "auto": multi-objective, for studies seeded with the sensitivity-
//     predicted front. With one quality and one cost objective and the
//     runner's cost model (setGuide), every proposal is the plan with the
//     largest expected hypervolume improvement under a Gaussian process
//     fitted to the finished trials (refine.go): summed over reference
//     accuracies from a quarter of a point to the whole range below the
//     best plan found, each relative to the hypervolume already reached
//     there, two proposals in three weighing the near-lossless end of the
//     front. Otherwise half of the proposals move one or two layers of a
//     random Pareto-optimal plan one step along their choice list (a local
//     search along the front) and the other half come from a
//     multi-objective Parzen estimator (MOTPE: good = the best quarter by
//     non-domination rank and crowding, infeasible plans ranked after every
//     feasible one; per-parameter smoothed choice frequencies l and g; the
//     best of 24 candidates drawn from l by log l − log g).
//   - "mo": MOTPE alone after 8 random plans, without seeding (for
//     comparison).
//   - "random": uniform over plans not yet taken.
//   - "exhaustive": the plans in mixed-radix order, each once.
//
// It never proposes a plan another trial already took, while one is left.
// Proposals are deterministic given the seed and the study's history (and,
// with several workers, the plans still running).
type Sampler struct {
	space   *Space
	mode    string
	seed    uint64
	startup int

	// proposed holds the plans this process handed out: workers of one
	// process sample concurrently, before either trial's params are stored.
	mu       sync.Mutex
	proposed []Point
	guide    *guide // set by the runner for auto; nil: no refinement
}

var _ goptuna.RelativeSampler = (*Sampler)(nil)

// NewSampler returns a sampler over sp in mode (auto, mo, random,
// exhaustive) with a seed. Without setGuide, auto uses the local search and
// MOTPE.
func NewSampler(sp *Space, mode string, seed uint64) *Sampler {
	return &Sampler{space: sp, mode: mode, seed: seed, startup: 8}
}

// setGuide hands the sampler the runner's cost model and constraints.
func (s *Sampler) setGuide(g *guide) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guide = g
}

// SampleRelative implements goptuna.RelativeSampler.
func (s *Sampler) SampleRelative(study *goptuna.Study, trial goptuna.FrozenTrial, _ map[string]interface{}) (map[string]float64, error) {
	if _, fixed := trial.SystemAttrs["fixed_params"]; fixed {
		return map[string]float64{}, nil
	}
	if s.space.NumParams() == 0 {
		return map[string]float64{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	done, taken, pending, err := history(study, s.space)
	if err != nil {
		return nil, err
	}
	// Plans this process handed out whose trials have not stored their
	// parameters yet are pending too (in the order handed out, so that
	// proposals stay reproducible).
	for _, p := range s.proposed {
		if k := p.Key(); !taken[k] {
			pending = append(pending, p)
			taken[k] = true
		}
	}
	rng := rand.New(rand.NewPCG(s.seed, uint64(trial.Number)*0x9e3779b97f4a7c15+1))
	pt := s.propose(rng, done, taken, pending)
	s.proposed = append(s.proposed, pt)
	return s.space.Internal(pt), nil
}

func (s *Sampler) propose(rng *rand.Rand, done []observed, taken map[string]bool, pending []Point) Point {
	switch s.mode {
	case "exhaustive":
		total := s.space.Size()
		for i := 0; float64(i) < total && i < 1<<26; i++ {
			if pt := s.space.Enumerate(i); !taken[pt.Key()] {
				return pt
			}
		}
		return s.space.Enumerate(0)
	case "random":
		return s.random(rng, taken)
	}
	if s.mode == "auto" && s.guide != nil {
		// The seeds are the initial design: refine from the first
		// proposal on.
		levels := fineLevels
		if len(done)%coarseEvery == 0 {
			levels = coarseLevels
		}
		if pt, ok := s.refine(rng, done, taken, pending, levels); ok {
			return pt
		}
	}
	if len(done) < s.startup {
		return s.random(rng, taken)
	}
	if s.mode == "auto" && rng.Float64() < 0.5 {
		if pt, ok := s.mutateFront(rng, done, taken); ok {
			return pt
		}
	}
	return s.motpe(rng, done, taken)
}

func (s *Sampler) randomPoint(rng *rand.Rand) Point {
	pt := make(Point, len(s.space.params))
	for j, p := range s.space.params {
		pt[j] = rng.IntN(p.n)
	}
	return pt
}

func (s *Sampler) random(rng *rand.Rand, taken map[string]bool) Point {
	pt := s.randomPoint(rng)
	for try := 0; try < 200 && taken[pt.Key()]; try++ {
		pt = s.randomPoint(rng)
	}
	return pt
}

// order sorts finished trials best first: feasible before infeasible, then
// by non-domination rank, then by crowding distance (larger first);
// infeasible ones by violation.
func order(done []observed) []int {
	var feas []int
	var pts [][]float64
	for i, o := range done {
		if o.feasible {
			feas = append(feas, i)
			pts = append(pts, o.obj)
		}
	}
	rank := make([]int, len(done))
	crowd := make([]float64, len(done))
	if len(pts) > 0 {
		r := pareto.Ranks(pts)
		for k, i := range feas {
			rank[i] = r[k]
		}
		byRank := map[int][]int{}
		for k, rk := range r {
			byRank[rk] = append(byRank[rk], k)
		}
		for _, ks := range byRank {
			cd := pareto.CrowdingDistance(pts, ks)
			for q, k := range ks {
				crowd[feas[k]] = cd[q]
			}
		}
	}
	idx := make([]int, len(done))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		oa, ob := done[idx[a]], done[idx[b]]
		if oa.feasible != ob.feasible {
			return oa.feasible
		}
		if !oa.feasible {
			return oa.violation < ob.violation
		}
		if rank[idx[a]] != rank[idx[b]] {
			return rank[idx[a]] < rank[idx[b]]
		}
		return crowd[idx[a]] > crowd[idx[b]]
	})
	return idx
}

func (s *Sampler) mutateFront(rng *rand.Rand, done []observed, taken map[string]bool) (Point, bool) {
	var front []int
	var pts [][]float64
	var feas []int
	for i, o := range done {
		if o.feasible {
			feas = append(feas, i)
			pts = append(pts, o.obj)
		}
	}
	if len(pts) == 0 {
		return nil, false
	}
	for _, k := range pareto.Front(pts) {
		front = append(front, feas[k])
	}
	for try := 0; try < 60; try++ {
		base := done[front[rng.IntN(len(front))]].pt
		pt := slices.Clone(base)
		moves := 1
		if rng.Float64() < 0.3 {
			moves = 2
		}
		for m := 0; m < moves; m++ {
			j := rng.IntN(len(pt))
			n := s.space.params[j].n
			if rng.IntN(2) == 0 {
				pt[j] = max(pt[j]-1, 0)
			} else {
				pt[j] = min(pt[j]+1, n-1)
			}
		}
		if !taken[pt.Key()] {
			return pt, true
		}
	}
	return nil, false
}

func (s *Sampler) motpe(rng *rand.Rand, done []observed, taken map[string]bool) Point {
	idx := order(done)
	nGood := max(1, min(int(math.Ceil(0.25*float64(len(done)))), 25))
	nParams := len(s.space.params)
	lw := make([][]float64, nParams)
	gw := make([][]float64, nParams)
	for j, p := range s.space.params {
		lw[j] = make([]float64, p.n)
		gw[j] = make([]float64, p.n)
		for k := range lw[j] { // prior: one pseudo-observation spread evenly
			lw[j][k] = 1 / float64(p.n)
			gw[j][k] = 1 / float64(p.n)
		}
	}
	for r, i := range idx {
		for j, v := range done[i].pt {
			if r < nGood {
				lw[j][v]++
			} else {
				gw[j][v]++
			}
		}
	}
	for j := range lw {
		normalize(lw[j])
		normalize(gw[j])
	}
	best, bestScore := Point(nil), math.Inf(-1)
	for c := 0; c < 24; c++ {
		pt := make(Point, nParams)
		score := 0.0
		for j := range pt {
			pt[j] = draw(rng, lw[j])
			score += math.Log(lw[j][pt[j]]) - math.Log(gw[j][pt[j]])
		}
		if taken[pt.Key()] {
			continue
		}
		if score > bestScore {
			best, bestScore = pt, score
		}
	}
	if best == nil {
		return s.random(rng, taken)
	}
	return best
}

func normalize(w []float64) {
	sum := 0.0
	for _, v := range w {
		sum += v
	}
	for i := range w {
		w[i] /= sum
	}
}

func draw(rng *rand.Rand, w []float64) int {
	u := rng.Float64()
	for i, v := range w {
		u -= v
		if u < 0 {
			return i
		}
	}
	return len(w) - 1
}
