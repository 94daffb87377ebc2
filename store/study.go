package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/c-bata/goptuna"
	rdb "github.com/c-bata/goptuna/rdb.v2"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// StudySummary describes one study of a database, for listings.
type StudySummary struct {
	Name      string
	ID        int    // goptuna study ID; 0 when only mpq's metadata exists
	Direction string // goptuna's direction of the trial value: "minimize" or "maximize"

	// Trials by state.
	Complete, Pruned, Fail, Running, Waiting int

	// Objective names what Best measures: the study's first objective
	// (from its StudyMeta) when mpq results exist, else "value", goptuna's
	// trial value. Best is the best feasible, unpruned result of that
	// objective in its own units (the highest accuracy, the lowest loss,
	// size_bits or bops; for "value", per Direction); HasBest is false when
	// there is none.
	Objective string
	Best      float64
	HasBest   bool

	Started time.Time // start of the study's first trial; zero without trials
	HasMeta bool      // mpq metadata exists (see Store.StudyMeta)
}

// metricColumn maps an objective name to its column in mpq_trial_results
// and whether larger is better.
func metricColumn(objective string) (column string, maximize, ok bool) {
	switch objective {
	case "accuracy":
		return "accuracy", true, true
	case "loss":
		return "loss", false, true
	case "size_bits":
		return "size_bits", false, true
	case "bops":
		return "bops", false, true
	}
	return "", false, false
}

// Studies lists every study in the database (goptuna's studies and those
// with only mpq metadata) by name, with trial counts and the best value.
func (s *Store) Studies(ctx context.Context) ([]StudySummary, error) {
	var out []StudySummary
	err := s.retry(ctx, "Studies", func() error {
		var err error
		out, err = s.studies(s.db.WithContext(ctx))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: listing studies in %s: %w", s.dsn, err)
	}
	return out, nil
}

func (s *Store) studies(db *gorm.DB) ([]StudySummary, error) {
	var studies []gStudy
	if err := db.Order("study_name").Find(&studies).Error; err != nil {
		return nil, err
	}
	var metas []studyMetaModel
	if err := db.Find(&metas).Error; err != nil {
		return nil, err
	}
	var counts []struct {
		StudyID int
		State   string
		N       int
	}
	if err := db.Model(&gTrial{}).Select("study_id, state, COUNT(*) AS n").Group("study_id, state").Scan(&counts).Error; err != nil {
		return nil, err
	}
	var firsts []struct {
		StudyID int
		First   int
	}
	if err := db.Model(&gTrial{}).Select("study_id, MIN(trial_id) AS first").Group("study_id").Scan(&firsts).Error; err != nil {
		return nil, err
	}

	byID := make(map[int]*StudySummary, len(studies))
	byName := make(map[string]*StudySummary, len(studies)+len(metas))
	list := make([]*StudySummary, 0, len(studies)+len(metas))
	for _, st := range studies {
		sum := &StudySummary{Name: st.Name, ID: st.ID, Direction: "minimize", Objective: "value"}
		if st.Direction == "MAXIMIZE" {
			sum.Direction = "maximize"
		}
		byID[st.ID] = sum
		byName[st.Name] = sum
		list = append(list, sum)
	}
	for _, c := range counts {
		sum := byID[c.StudyID]
		if sum == nil {
			continue // trials of a deleted study
		}
		switch c.State {
		case "COMPLETE":
			sum.Complete = c.N
		case "PRUNED":
			sum.Pruned = c.N
		case "FAIL":
			sum.Fail = c.N
		case "RUNNING":
			sum.Running = c.N
		case "WAITING":
			sum.Waiting = c.N
		}
	}
	firstIDs := make([]int, 0, len(firsts))
	for _, f := range firsts {
		firstIDs = append(firstIDs, f.First)
	}
	err := chunks(firstIDs, func(part []int) error {
		var rows []gTrial
		if err := db.Where("trial_id IN ?", part).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			if sum := byID[r.StudyID]; sum != nil && r.DatetimeStart != nil {
				sum.Started = r.DatetimeStart.UTC()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	metaObjective := make(map[string]string, len(metas))
	for _, row := range metas {
		sum := byName[row.Study]
		if sum == nil {
			sum = &StudySummary{Name: row.Study, Objective: "value"}
			byName[row.Study] = sum
			list = append(list, sum)
		}
		sum.HasMeta = true
		if m, err := row.meta(); err == nil && len(m.Objectives) > 0 {
			metaObjective[row.Study] = m.Objectives[0]
		}
	}

	for _, sum := range list {
		if err := s.best(db, sum, metaObjective[sum.Name]); err != nil {
			return nil, fmt.Errorf("study %q: %w", sum.Name, err)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	out := make([]StudySummary, len(list))
	for i, sum := range list {
		out[i] = *sum
	}
	return out, nil
}

// best fills the best value of sum: from mpq's results in the first
// objective when there are results, else from goptuna's complete trials.
func (s *Store) best(db *gorm.DB, sum *StudySummary, objective string) error {
	if column, maximize, ok := metricColumn(objective); ok {
		var n int64
		if err := db.Model(&trialResultModel{}).Where("study_name = ?", sum.Name).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			agg := "MIN"
			if maximize {
				agg = "MAX"
			}
			var best *float64
			err := db.Model(&trialResultModel{}).
				Select(agg+"("+column+")").
				Where("study_name = ? AND feasible = ? AND pruned = ? AND "+column+" IS NOT NULL", sum.Name, true, false).
				Scan(&best).Error
			if err != nil {
				return err
			}
			sum.Objective = objective
			if best != nil {
				sum.Best, sum.HasBest = *best, true
			}
			return nil
		}
	}
	if sum.ID == 0 {
		return nil
	}
	agg := "MIN"
	if sum.Direction == "maximize" {
		agg = "MAX"
	}
	var best *float64
	err := db.Model(&gTrial{}).Select(agg+"(value)").
		Where("study_id = ? AND state = ? AND value IS NOT NULL", sum.ID, "COMPLETE").
		Scan(&best).Error
	if err != nil {
		return err
	}
	if best != nil {
		sum.Best, sum.HasBest = *best, true
	}
	return nil
}

// ClaimTrial starts the next trial of a study for a worker, unless the study
// already has target trials finished (COMPLETE or PRUNED) or RUNNING, in
// which case ok is false. It pops the oldest WAITING trial (an enqueued
// plan) or creates a new one as goptuna's CreateNewTrial does, sets the
// trial's system attributes attrs (the worker's identity, for recovery) and
// records its first heartbeat, all in one transaction that holds the study's
// lock (SQLite's write lock; SELECT ... FOR UPDATE of the study row on
// PostgreSQL, the lock rdb.v2 takes to number new trials). Counting and
// claiming are therefore one step for every worker of every process and
// machine: a study never runs more than target trials at once, so it never
// finishes more than target unless trials are added another way, and a
// claimed trial is never without its owner, even if the worker dies right
// after the claim.
func (s *Store) ClaimTrial(ctx context.Context, studyID, target int, attrs map[string]string) (trialID int, ok bool, err error) {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	err = s.retry(ctx, "claiming a trial", func() error {
		trialID, ok = -1, false
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var studies []gStudy
			if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("study_id = ?", studyID).Limit(1).Find(&studies).Error; err != nil {
				return err
			}
			if len(studies) == 0 {
				return fmt.Errorf("no study with ID %d: %w", studyID, ErrStudyNotFound)
			}
			var busy int64
			err := tx.Model(&gTrial{}).Where("study_id = ? AND state IN ?", studyID, []string{"COMPLETE", "PRUNED", "RUNNING"}).
				Count(&busy).Error
			if err != nil {
				return err
			}
			if busy >= int64(target) {
				return nil
			}
			// rdb.v2 on the transaction: its own transactions become
			// savepoints inside this one.
			inner := rdb.NewStorage(tx)
			var waiting []gTrial
			if err := tx.Where("study_id = ? AND state = ?", studyID, "WAITING").Order("trial_id").Limit(1).Find(&waiting).Error; err != nil {
				return err
			}
			id := -1
			if len(waiting) == 1 {
				id = waiting[0].ID
				res := tx.Model(&gTrial{}).Where("trial_id = ? AND state = ?", id, "WAITING").
					Updates(map[string]any{"state": "RUNNING", "datetime_start": s.now()})
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected != 1 {
					return fmt.Errorf("trial %d left WAITING while the study was locked", id)
				}
			} else if id, err = inner.CreateNewTrial(studyID); err != nil {
				return err
			}
			for _, k := range keys {
				if err := inner.SetTrialSystemAttr(id, k, attrs[k]); err != nil {
					return err
				}
			}
			beat := heartbeatModel{TrialID: id, BeatNs: s.now().UnixNano()}
			err = tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "trial_id"}},
				DoUpdates: clause.AssignmentColumns([]string{"beat_unix_ns"}),
			}).Create(&beat).Error
			if err != nil {
				return err
			}
			trialID, ok = id, true
			return nil
		})
	})
	if errors.Is(err, ErrLocked) {
		return -1, false, err // retry's message names the database and the operation
	}
	if err != nil {
		return -1, false, fmt.Errorf("store: claiming a trial of study %d in %s: %w", studyID, s.dsn, err)
	}
	if ok {
		s.storage.evict(trialID)
	}
	return trialID, ok, nil
}

// Heartbeat records that the process evaluating trialID is alive. Call it
// periodically (well within the olderThan given to FailStale) while the
// trial runs, and Release when it ends.
func (s *Store) Heartbeat(ctx context.Context, trialID int) error {
	row := heartbeatModel{TrialID: trialID, BeatNs: s.now().UnixNano()}
	err := s.retry(ctx, "Heartbeat", func() error {
		return s.db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "trial_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"beat_unix_ns"}),
		}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("store: heartbeat of trial %d in %s: %w", trialID, s.dsn, err)
	}
	return nil
}

// Release drops the heartbeat of trialID; releasing a trial without one is
// not an error.
func (s *Store) Release(ctx context.Context, trialID int) error {
	err := s.retry(ctx, "Release", func() error {
		return s.db.WithContext(ctx).Where("trial_id = ?", trialID).Delete(&heartbeatModel{}).Error
	})
	if err != nil {
		return fmt.Errorf("store: releasing the heartbeat of trial %d in %s: %w", trialID, s.dsn, err)
	}
	return nil
}

// FailStale marks as FAIL the RUNNING trials of a study whose last heartbeat
// (or, without one, whose start) is older than olderThan: trials left
// RUNNING by a process that died, which goptuna would keep forever. It
// returns them, now FAIL, with their parameters, so that the caller can
// enqueue their configurations again (Study.EnqueueTrial takes
// trial.InternalParams as they are: choice indices for categoricals).
func (s *Store) FailStale(ctx context.Context, study string, olderThan time.Duration) ([]goptuna.FrozenTrial, error) {
	if olderThan <= 0 {
		return nil, fmt.Errorf("store: FailStale: olderThan must be positive, got %v (it separates dead workers from live ones: use several heartbeat periods)", olderThan)
	}
	studyID, err := s.storage.GetStudyIDFromName(study)
	if err != nil {
		if errors.Is(err, ErrStudyNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("store: FailStale: %w", err)
	}
	var failed []int
	err = s.retry(ctx, "FailStale", func() error {
		failed = failed[:0]
		// One transaction: the trials are chosen from the heartbeats read
		// here and must still be RUNNING and without a newer heartbeat when
		// they are failed. SQLite's immediate transaction keeps every other
		// writer out meanwhile; on PostgreSQL the trial rows are locked and
		// the UPDATE re-checks the heartbeat.
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			now := s.now()
			cutoff := now.Add(-olderThan)
			var running []gTrial
			err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
				Where("study_id = ? AND state = ?", studyID, "RUNNING").Order("trial_id").Find(&running).Error
			if err != nil {
				return err
			}
			ids := make([]int, len(running))
			for i, r := range running {
				ids[i] = r.ID
			}
			beats := make(map[int]int64, len(ids))
			err = chunks(ids, func(part []int) error {
				var rows []heartbeatModel
				if err := tx.Where("trial_id IN ?", part).Find(&rows).Error; err != nil {
					return err
				}
				for _, b := range rows {
					beats[b.TrialID] = b.BeatNs
				}
				return nil
			})
			if err != nil {
				return err
			}
			var stale []int
			for _, r := range running {
				if ns, ok := beats[r.ID]; ok {
					if ns < cutoff.UnixNano() {
						stale = append(stale, r.ID)
					}
				} else if r.DatetimeStart == nil || r.DatetimeStart.Before(cutoff) {
					stale = append(stale, r.ID)
				}
			}
			err = chunks(stale, func(part []int) error {
				return tx.Model(&gTrial{}).
					Where("trial_id IN ? AND state = ?", part, "RUNNING").
					Where("NOT EXISTS (SELECT 1 FROM mpq_heartbeats h WHERE h.trial_id = trials.trial_id AND h.beat_unix_ns >= ?)", cutoff.UnixNano()).
					Updates(map[string]any{"state": "FAIL", "datetime_complete": now}).Error
			})
			if err != nil {
				return err
			}
			return chunks(stale, func(part []int) error {
				var rows []gTrial
				if err := tx.Where("trial_id IN ? AND state = ?", part, "FAIL").Find(&rows).Error; err != nil {
					return err
				}
				done := make([]int, len(rows))
				for i, r := range rows {
					done[i] = r.ID
				}
				failed = append(failed, done...)
				if len(done) == 0 {
					return nil
				}
				return tx.Where("trial_id IN ?", done).Delete(&heartbeatModel{}).Error
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: failing stale trials of study %q in %s: %w", study, s.dsn, err)
	}
	var trials []goptuna.FrozenTrial
	err = s.retry(ctx, "FailStale", func() error {
		rows, err := fetchTrialRows(s.db.WithContext(ctx), studyID, -1, failed)
		if err != nil {
			return err
		}
		trials, err = assembleTrials(s.db.WithContext(ctx), rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading the trials FailStale failed in study %q in %s: %w", study, s.dsn, err)
	}
	return trials, nil
}
