package search

import (
	"math/rand/v2"
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"
)

// tpeStartup is goptuna's TPE default number of startup trials: below it,
// a parameter is drawn at random.
const tpeStartup = 10

// seededTPE is goptuna's TPE sampler with its startup draws made
// reproducible. goptuna v0.9.0's RandomSampler, which TPE delegates the
// first tpeStartup trials to, draws categorical values from the global
// math/rand generator (which Go seeds at random) rather than from its
// seeded one, so two runs with the same seed parted at the first trial.
// Here those draws come from a generator seeded with the study's seed; once
// a parameter has tpeStartup observations, goptuna's TPE (seeded, and
// deterministic given the same history) samples it.
type seededTPE struct {
	tpe *tpe.Sampler
	mu  sync.Mutex
	rng *rand.Rand
	// trial and done cache, per trial, the finished trials TPE would
	// count (goptuna asks for one parameter at a time).
	trial int
	done  []goptuna.FrozenTrial
}

func newSeededTPE(seed uint64) *seededTPE {
	return &seededTPE{
		tpe:   tpe.NewSampler(tpe.SamplerOptionSeed(int64(seed))),
		rng:   rand.New(rand.NewPCG(seed, 0x7e5eed)),
		trial: -1,
	}
}

// Sample implements goptuna.Sampler.
func (s *seededTPE) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist interface{}) (float64, error) {
	d, ok := dist.(goptuna.CategoricalDistribution)
	if !ok || d.Single() {
		return s.tpe.Sample(study, trial, name, dist)
	}
	s.mu.Lock()
	if s.trial != trial.ID {
		trials, err := study.GetTrials()
		if err != nil {
			s.mu.Unlock()
			return 0, err
		}
		s.trial, s.done = trial.ID, s.done[:0]
		for _, t := range trials {
			if t.State == goptuna.TrialStateComplete || t.State == goptuna.TrialStatePruned {
				s.done = append(s.done, t)
			}
		}
	}
	n := 0
	for _, t := range s.done {
		if _, ok := t.InternalParams[name]; ok {
			n++
		}
	}
	if n < tpeStartup {
		v := float64(s.rng.IntN(len(d.Choices)))
		s.mu.Unlock()
		return v, nil
	}
	s.mu.Unlock()
	return s.tpe.Sample(study, trial, name, dist)
}
