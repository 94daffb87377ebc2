package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/c-bata/goptuna"
	rdb "github.com/c-bata/goptuna/rdb.v2"
	"gorm.io/gorm"
)

// Storage returns the goptuna.Storage to hand to goptuna.CreateStudy and
// goptuna.LoadStudy (through goptuna.StudyOptionStorage). It is goptuna's
// rdb.v2 storage on this Store's connection, with two changes:
//
//   - every call retries "database is locked"/"busy" and serialization
//     failures with exponential backoff for up to the retry budget (30 s by
//     default), then fails with an error wrapping ErrLocked;
//   - GetAllTrials, which samplers call for every suggested parameter, keeps
//     the finished trials it has read (see the package documentation) and
//     reads only new and unfinished trials from the database.
//
// Every call returns the same value; it is safe for concurrent use.
func (s *Store) Storage() goptuna.Storage { return s.storage }

var _ goptuna.Storage = (*storage)(nil)

// storage is the retrying, caching goptuna.Storage of a Store.
type storage struct {
	s     *Store
	inner *rdb.Storage

	// mu guards caches and is held across a cache refresh, so that an
	// eviction (after a write) never races with a refresh that read the
	// row before the write.
	mu     sync.Mutex
	caches map[int]*trialCache // by study ID
}

// trialCache holds what GetAllTrials knows about one study.
type trialCache struct {
	done    []goptuna.FrozenTrial // finished trials (COMPLETE, PRUNED, FAIL), by ID
	pending map[int]struct{}      // IDs <= maxID to read again: unfinished or evicted
	maxID   int                   // highest trial ID read so far
}

func newStorage(s *Store, inner *rdb.Storage) *storage {
	return &storage{s: s, inner: inner, caches: make(map[int]*trialCache)}
}

// do runs one goptuna storage call with the retry policy.
func (st *storage) do(op string, fn func() error) error {
	return st.s.retry(context.Background(), op, fn)
}

// evict makes the next GetAllTrials read trialID again: called after every
// write to a trial, because goptuna lets attributes and parameters of a
// finished trial change.
func (st *storage) evict(trialID int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range st.caches {
		i, found := sort.Find(len(c.done), func(i int) int { return trialID - c.done[i].ID })
		if found {
			c.done = slices.Delete(c.done, i, i+1)
			c.pending[trialID] = struct{}{}
			return
		}
	}
}

// GetAllTrials returns all trials of the study ordered by ID, like rdb.v2's.
// The returned trials are copies: callers may modify them.
func (st *storage) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.caches[studyID]
	if c == nil {
		c = &trialCache{pending: make(map[int]struct{})}
		st.caches[studyID] = c
	}
	var out []goptuna.FrozenTrial
	err := st.do("GetAllTrials", func() error {
		var err error
		out, err = st.refresh(c, studyID, false)
		return err
	})
	return out, err
}

// refresh reads the trials of the study that c does not hold as finished,
// updates c and returns all trials. The database is read before c changes,
// so a failed refresh leaves c as it was (or empty, after a failed rebuild).
//
// Consistency without a read transaction: a trial row is read before its
// parameters, values and attributes. A trial cached as finished was finished
// when its row was read, so the child rows read afterwards are final (goptuna
// refuses new values and states for finished trials). An unfinished trial
// may come back with children newer than its row; it is read again next time.
func (st *storage) refresh(c *trialCache, studyID int, reload bool) ([]goptuna.FrozenTrial, error) {
	db := st.s.db
	// Counted before reading: when the cache misses a trial whose ID is not
	// above maxID (a sequence that handed IDs out of commit order, a reused
	// rowid), the total comes out short and the cache is rebuilt.
	var count int64
	if err := db.Model(&gTrial{}).Where("study_id = ?", studyID).Count(&count).Error; err != nil {
		return nil, err
	}
	pending := slices.Sorted(maps.Keys(c.pending))
	rows, err := fetchTrialRows(db, studyID, c.maxID, pending)
	if err != nil {
		return nil, err
	}
	fresh, err := assembleTrials(db, rows)
	if err != nil {
		return nil, err
	}
	var finished, running []goptuna.FrozenTrial
	for _, t := range fresh {
		if t.State.IsFinished() {
			finished = append(finished, t)
		} else {
			running = append(running, t)
		}
	}
	if !reload && int64(len(c.done)+len(fresh)) < count {
		*c = trialCache{pending: make(map[int]struct{})}
		return st.refresh(c, studyID, true)
	}

	// Commit to the cache: nothing below fails.
	clear(c.pending)
	for _, t := range fresh {
		c.maxID = max(c.maxID, t.ID)
	}
	for _, t := range running {
		c.pending[t.ID] = struct{}{}
	}
	c.done = mergeByID(c.done, finished)

	out := make([]goptuna.FrozenTrial, 0, len(c.done)+len(running))
	i, j := 0, 0
	for i < len(c.done) || j < len(running) {
		if j == len(running) || (i < len(c.done) && c.done[i].ID < running[j].ID) {
			out = append(out, cloneTrial(c.done[i]))
			i++
		} else {
			out = append(out, running[j]) // read just now and not kept: no copy needed
			j++
		}
	}
	return out, nil
}

// mergeByID merges two ID-sorted trial lists; add wins on equal IDs.
func mergeByID(done, add []goptuna.FrozenTrial) []goptuna.FrozenTrial {
	if len(add) == 0 {
		return done
	}
	if len(done) == 0 || done[len(done)-1].ID < add[0].ID {
		return append(done, add...) // the usual case: only newer trials finished
	}
	out := make([]goptuna.FrozenTrial, 0, len(done)+len(add))
	i, j := 0, 0
	for i < len(done) || j < len(add) {
		switch {
		case j == len(add) || (i < len(done) && done[i].ID < add[j].ID):
			out = append(out, done[i])
			i++
		case i < len(done) && done[i].ID == add[j].ID:
			out = append(out, add[j])
			i++
			j++
		default:
			out = append(out, add[j])
			j++
		}
	}
	return out
}

// cloneTrial copies the maps of t: goptuna's own code modifies them (for
// example IntersectionSearchSpace deletes from a trial's Distributions).
func cloneTrial(t goptuna.FrozenTrial) goptuna.FrozenTrial {
	t.IntermediateValues = maps.Clone(t.IntermediateValues)
	t.InternalParams = maps.Clone(t.InternalParams)
	t.Params = maps.Clone(t.Params)
	t.Distributions = maps.Clone(t.Distributions)
	t.UserAttrs = maps.Clone(t.UserAttrs)
	t.SystemAttrs = maps.Clone(t.SystemAttrs)
	return t
}

// inChunk bounds the number of bound variables per query (SQLite allows
// 32766 since 3.32, older builds 999).
const inChunk = 500

// chunks calls fn with consecutive pieces of ids of at most inChunk.
func chunks(ids []int, fn func([]int) error) error {
	for len(ids) > 0 {
		n := min(len(ids), inChunk)
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// fetchTrialRows reads the trial rows of a study with an ID above after, and
// the rows with the given IDs, ordered by ID. after < 0 reads only ids.
func fetchTrialRows(db *gorm.DB, studyID, after int, ids []int) ([]gTrial, error) {
	var rows []gTrial
	if after >= 0 {
		if err := db.Where("study_id = ? AND trial_id > ?", studyID, after).Order("trial_id").Find(&rows).Error; err != nil {
			return nil, err
		}
	}
	err := chunks(ids, func(part []int) error {
		var more []gTrial
		if err := db.Where("study_id = ? AND trial_id IN ?", studyID, part).Find(&more).Error; err != nil {
			return err
		}
		rows = append(rows, more...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b gTrial) int { return a.ID - b.ID })
	return slices.CompactFunc(rows, func(a, b gTrial) bool { return a.ID == b.ID }), nil
}

// assembleTrials reads the parameters, intermediate values and attributes of
// the given trial rows and converts them as rdb.v2's toFrozenTrial does.
func assembleTrials(db *gorm.DB, rows []gTrial) ([]goptuna.FrozenTrial, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int, len(rows))
	byID := make(map[int]*goptuna.FrozenTrial, len(rows))
	out := make([]goptuna.FrozenTrial, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
		state, err := trialState(r.State)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", r.ID, err)
		}
		t := goptuna.FrozenTrial{
			ID:                 r.ID,
			StudyID:            r.StudyID,
			Number:             r.Number,
			State:              state,
			Value:              nullToNaN(r.Value),
			IntermediateValues: map[int]float64{},
			InternalParams:     map[string]float64{},
			Params:             map[string]interface{}{},
			Distributions:      map[string]interface{}{},
			UserAttrs:          map[string]string{},
			SystemAttrs:        map[string]string{},
		}
		if r.DatetimeStart != nil {
			t.DatetimeStart = *r.DatetimeStart
		}
		if r.DatetimeComplete != nil {
			t.DatetimeComplete = *r.DatetimeComplete
		}
		out[i] = t
		byID[r.ID] = &out[i]
	}
	err := chunks(ids, func(part []int) error {
		var params []gParam
		if err := db.Where("trial_id IN ?", part).Find(&params).Error; err != nil {
			return err
		}
		for _, p := range params {
			t := byID[p.TrialID]
			d, err := goptuna.JSONToDistribution([]byte(p.DistributionJSON))
			if err != nil {
				return fmt.Errorf("trial %d, parameter %q: %w", p.TrialID, p.Name, err)
			}
			v := nullToNaN(p.Value)
			xr, err := goptuna.ToExternalRepresentation(d, v)
			if err != nil {
				return fmt.Errorf("trial %d, parameter %q: %w", p.TrialID, p.Name, err)
			}
			t.Distributions[p.Name] = d
			t.InternalParams[p.Name] = v
			t.Params[p.Name] = xr
		}
		var values []gValue
		if err := db.Where("trial_id IN ?", part).Find(&values).Error; err != nil {
			return err
		}
		for _, v := range values {
			byID[v.TrialID].IntermediateValues[v.Step] = nullToNaN(v.Value)
		}
		for _, table := range [...]string{"trial_user_attributes", "trial_system_attributes"} {
			var attrs []gAttr
			if err := db.Table(table).Where("trial_id IN ?", part).Find(&attrs).Error; err != nil {
				return err
			}
			for _, a := range attrs {
				t := byID[a.TrialID]
				if table == "trial_user_attributes" {
					t.UserAttrs[a.Key] = a.Value
				} else {
					t.SystemAttrs[a.Key] = a.Value
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func nullToNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// trialState converts rdb.v2's state strings (rdb.v2/model.go).
func trialState(s string) (goptuna.TrialState, error) {
	switch s {
	case "RUNNING":
		return goptuna.TrialStateRunning, nil
	case "COMPLETE":
		return goptuna.TrialStateComplete, nil
	case "PRUNED":
		return goptuna.TrialStatePruned, nil
	case "FAIL":
		return goptuna.TrialStateFail, nil
	case "WAITING":
		return goptuna.TrialStateWaiting, nil
	}
	return goptuna.TrialStateRunning, fmt.Errorf("unknown trial state %q", s)
}

// checkValue refuses NaN on SQLite, which stores it as NULL; rdb.v2 then
// fails to read the trial ("converting NULL to float64 is unsupported") and
// with it every GetTrial and GetBestTrial of the study.
func (st *storage) checkValue(what string, trialID int, v float64) error {
	if math.IsNaN(v) && st.s.driver == "sqlite" {
		return fmt.Errorf("store: trial %d: %s is NaN, which SQLite stores as NULL and goptuna cannot read back; return an error from the objective to fail the trial instead", trialID, what)
	}
	return nil
}

// The remaining methods delegate to rdb.v2 with retries; writes to a trial
// evict it from the GetAllTrials cache.

// CreateNewStudy wraps ErrStudyExists when the name is taken: several
// workers starting a study with goptuna.StudyOptionLoadIfExists race between
// goptuna's LoadStudy and CreateNewStudy, and all but one must load it.
func (st *storage) CreateNewStudy(name string) (id int, err error) {
	err = st.do("CreateNewStudy", func() (e error) { id, e = st.inner.CreateNewStudy(name); return })
	if isUniqueViolation(err) {
		return -1, fmt.Errorf("store: study %q already exists in %s (another worker may have just created it; load it instead): %w", name, st.s.dsn, ErrStudyExists)
	}
	return
}

// isUniqueViolation reports a unique index conflict (SQLite or PostgreSQL).
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return pg.SQLState() == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func (st *storage) DeleteStudy(studyID int) error {
	err := st.do("DeleteStudy", func() error { return st.inner.DeleteStudy(studyID) })
	st.mu.Lock()
	delete(st.caches, studyID)
	st.mu.Unlock()
	return err
}

func (st *storage) SetStudyDirection(studyID int, direction goptuna.StudyDirection) error {
	return st.do("SetStudyDirection", func() error { return st.inner.SetStudyDirection(studyID, direction) })
}

func (st *storage) SetStudyUserAttr(studyID int, key, value string) error {
	return st.do("SetStudyUserAttr", func() error { return st.inner.SetStudyUserAttr(studyID, key, value) })
}

func (st *storage) SetStudySystemAttr(studyID int, key, value string) error {
	return st.do("SetStudySystemAttr", func() error { return st.inner.SetStudySystemAttr(studyID, key, value) })
}

// GetStudyIDFromName wraps ErrStudyNotFound when the name is unknown.
func (st *storage) GetStudyIDFromName(name string) (id int, err error) {
	err = st.do("GetStudyIDFromName", func() (e error) { id, e = st.inner.GetStudyIDFromName(name); return })
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return -1, fmt.Errorf("store: study %q does not exist in %s: %w", name, st.s.dsn, ErrStudyNotFound)
	}
	return id, err
}

func (st *storage) GetStudyIDFromTrialID(trialID int) (id int, err error) {
	err = st.do("GetStudyIDFromTrialID", func() (e error) { id, e = st.inner.GetStudyIDFromTrialID(trialID); return })
	return
}

// GetStudyNameFromID reports a missing study (rdb.v2's drops the error and
// returns "").
func (st *storage) GetStudyNameFromID(studyID int) (string, error) {
	var rows []gStudy
	err := st.do("GetStudyNameFromID", func() error {
		return st.s.db.Where("study_id = ?", studyID).Limit(1).Find(&rows).Error
	})
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", fmt.Errorf("store: no study with ID %d in %s: %w", studyID, st.s.dsn, ErrStudyNotFound)
	}
	return rows[0].Name, nil
}

func (st *storage) GetStudyDirection(studyID int) (d goptuna.StudyDirection, err error) {
	err = st.do("GetStudyDirection", func() (e error) { d, e = st.inner.GetStudyDirection(studyID); return })
	return
}

func (st *storage) GetStudyUserAttrs(studyID int) (m map[string]string, err error) {
	err = st.do("GetStudyUserAttrs", func() (e error) { m, e = st.inner.GetStudyUserAttrs(studyID); return })
	return
}

func (st *storage) GetStudySystemAttrs(studyID int) (m map[string]string, err error) {
	err = st.do("GetStudySystemAttrs", func() (e error) { m, e = st.inner.GetStudySystemAttrs(studyID); return })
	return
}

func (st *storage) GetAllStudySummaries() (ss []goptuna.StudySummary, err error) {
	err = st.do("GetAllStudySummaries", func() (e error) { ss, e = st.inner.GetAllStudySummaries(); return })
	return
}

func (st *storage) CreateNewTrial(studyID int) (id int, err error) {
	err = st.do("CreateNewTrial", func() (e error) { id, e = st.inner.CreateNewTrial(studyID); return })
	return
}

func (st *storage) CloneTrial(studyID int, base goptuna.FrozenTrial) (id int, err error) {
	err = st.do("CloneTrial", func() (e error) { id, e = st.inner.CloneTrial(studyID, base); return })
	return
}

func (st *storage) SetTrialValue(trialID int, value float64) error {
	if err := st.checkValue("value", trialID, value); err != nil {
		return err
	}
	defer st.evict(trialID)
	return st.do("SetTrialValue", func() error { return st.inner.SetTrialValue(trialID, value) })
}

func (st *storage) SetTrialIntermediateValue(trialID, step int, value float64) error {
	if err := st.checkValue(fmt.Sprintf("intermediate value at step %d", step), trialID, value); err != nil {
		return err
	}
	defer st.evict(trialID)
	return st.do("SetTrialIntermediateValue", func() error { return st.inner.SetTrialIntermediateValue(trialID, step, value) })
}

func (st *storage) SetTrialParam(trialID int, name string, internal float64, distribution interface{}) error {
	defer st.evict(trialID)
	return st.do("SetTrialParam", func() error { return st.inner.SetTrialParam(trialID, name, internal, distribution) })
}

func (st *storage) SetTrialState(trialID int, state goptuna.TrialState) error {
	defer st.evict(trialID)
	return st.do("SetTrialState", func() error { return st.inner.SetTrialState(trialID, state) })
}

func (st *storage) SetTrialUserAttr(trialID int, key, value string) error {
	defer st.evict(trialID)
	return st.do("SetTrialUserAttr", func() error { return st.inner.SetTrialUserAttr(trialID, key, value) })
}

func (st *storage) SetTrialSystemAttr(trialID int, key, value string) error {
	defer st.evict(trialID)
	return st.do("SetTrialSystemAttr", func() error { return st.inner.SetTrialSystemAttr(trialID, key, value) })
}

func (st *storage) GetTrialNumberFromID(trialID int) (n int, err error) {
	err = st.do("GetTrialNumberFromID", func() (e error) { n, e = st.inner.GetTrialNumberFromID(trialID); return })
	return
}

func (st *storage) GetTrialParam(trialID int, name string) (v float64, err error) {
	err = st.do("GetTrialParam", func() (e error) { v, e = st.inner.GetTrialParam(trialID, name); return })
	return
}

func (st *storage) GetTrial(trialID int) (t goptuna.FrozenTrial, err error) {
	err = st.do("GetTrial", func() (e error) { t, e = st.inner.GetTrial(trialID); return })
	return
}

func (st *storage) GetBestTrial(studyID int) (t goptuna.FrozenTrial, err error) {
	err = st.do("GetBestTrial", func() (e error) { t, e = st.inner.GetBestTrial(studyID); return })
	return
}

func (st *storage) GetTrialParams(trialID int) (m map[string]interface{}, err error) {
	err = st.do("GetTrialParams", func() (e error) { m, e = st.inner.GetTrialParams(trialID); return })
	return
}

func (st *storage) GetTrialUserAttrs(trialID int) (m map[string]string, err error) {
	err = st.do("GetTrialUserAttrs", func() (e error) { m, e = st.inner.GetTrialUserAttrs(trialID); return })
	return
}

func (st *storage) GetTrialSystemAttrs(trialID int) (m map[string]string, err error) {
	err = st.do("GetTrialSystemAttrs", func() (e error) { m, e = st.inner.GetTrialSystemAttrs(trialID); return })
	return
}
