package store

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
	rdb "github.com/c-bata/goptuna/rdb.v2"
)

// BenchmarkStorageOverhead measures the storage work of a study of 1,000
// trials over four 4-way categorical parameters, with one GetAllTrials per
// trial as a sampler makes: plain rdb.v2 against Store.Storage(), with
// goptuna's in-memory storage as the floor. -short runs 100 trials.
//
// Metrics per op (one whole study): getall-s is the time spent in
// GetAllTrials, total-s everything.
func BenchmarkStorageOverhead(b *testing.B) {
	trials := 1000
	if testing.Short() {
		trials = 100
	}
	storages := []struct {
		name string
		make func(*Store) goptuna.Storage
	}{
		{"rdbv2", func(s *Store) goptuna.Storage { return rdb.NewStorage(s.db) }},
		{"cached", func(s *Store) goptuna.Storage { return s.Storage() }},
		{"inmemory", func(*Store) goptuna.Storage { return goptuna.NewInMemoryStorage() }},
	}
	for _, st := range storages {
		b.Run(fmt.Sprintf("%s/trials=%d", st.name, trials), func(b *testing.B) {
			benchmarkStudy(b, trials, st.make)
		})
	}
}

// sinkTrials keeps the compiler from discarding benchmarked results.
var sinkTrials []goptuna.FrozenTrial

func benchmarkStudy(b *testing.B, trials int, makeStorage func(*Store) goptuna.Storage) {
	cat := goptuna.CategoricalDistribution{Choices: []string{"2", "4", "8", "16"}}
	var getAll, total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s := openPath(b, filepath.Join(b.TempDir(), fmt.Sprintf("bench%d.db", i)))
		st := makeStorage(s)
		studyID, err := st.CreateNewStudy("bench")
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		b.StartTimer()
		start := time.Now()
		for n := range trials {
			id, err := st.CreateNewTrial(studyID)
			if err != nil {
				b.Fatal(err)
			}
			sum := 0.0
			for p := range 4 {
				v := float64(rng.IntN(4))
				sum += v
				if err := st.SetTrialParam(id, fmt.Sprintf("layer%d", p), v, cat); err != nil {
					b.Fatal(err)
				}
			}
			t0 := time.Now()
			sinkTrials, err = st.GetAllTrials(studyID)
			getAll += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			if len(sinkTrials) != n+1 {
				b.Fatalf("GetAllTrials returned %d trials, want %d", len(sinkTrials), n+1)
			}
			if err := st.SetTrialValue(id, sum); err != nil {
				b.Fatal(err)
			}
			if err := st.SetTrialState(id, goptuna.TrialStateComplete); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(getAll.Seconds()/float64(b.N), "getall-s/op")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s/op")
}
