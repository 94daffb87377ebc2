package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"gorm.io/gorm/clause"
)

// StudyMeta is mpq's record of a study: the configuration it was started
// with and the objectives its results are expressed in.
type StudyMeta struct {
	Study      string   // study name, as in goptuna's studies table
	ConfigHash string   // hash of the canonical configuration
	ConfigYAML string   // the configuration as YAML text
	Objectives []string // objective names in order, e.g. ["accuracy", "size_bits"]
	MPQVersion string
	// Created is kept from the first PutStudyMeta (now when zero); Updated is
	// set by every PutStudyMeta. Both are UTC, microsecond precision.
	Created time.Time
	Updated time.Time
}

// LayerChoice is the quantization chosen for one layer in a plan.
type LayerChoice struct {
	WeightBits      int    `json:"weight_bits"`
	ActivationBits  int    `json:"activation_bits"`
	WeightQuantizer string `json:"weight_quantizer,omitempty"`
}

// Provenances of a trial result; other strings are stored as given.
const (
	ProvenanceSeed          = "seed"           // a plan seeded into the study (e.g. from the knapsack)
	ProvenanceSampler       = "sampler"        // a plan a sampler suggested
	ProvenanceEnqueuedRetry = "enqueued-retry" // a plan re-enqueued after its trial failed (see FailStale)
)

// TrialResult is one finished evaluation of a plan.
//
// Metric fields hold raw values in their own units (accuracy as a fraction,
// maximised; loss, size in bits and bit operations, minimised); NaN means
// "not measured" and is stored as NULL. Objectives is the objective vector
// in StudyMeta.Objectives order as the caller computed it (store does not
// interpret it); it may hold NaN and ±Inf.
type TrialResult struct {
	Study       string
	TrialID     int // goptuna trial ID
	TrialNumber int // goptuna trial number
	Provenance  string
	Plan        map[string]LayerChoice // by layer name
	ConfigKey   string                 // canonical plan key, for ResultByKey
	Accuracy    float64
	Loss        float64
	SizeBits    float64
	BOPs        float64
	Objectives  []float64
	Feasible    bool
	Violation   float64 // total constraint violation; 0 when feasible
	Samples     int     // evaluation samples used
	Pruned      bool
	WallSeconds float64
	Created     time.Time // now when zero; UTC, microsecond precision
}

// PutStudyMeta inserts the metadata of m.Study or replaces it (keeping the
// first Created time).
func (s *Store) PutStudyMeta(ctx context.Context, m StudyMeta) error {
	if m.Study == "" {
		return errors.New("store: PutStudyMeta: empty study name")
	}
	objectives, err := json.Marshal(orEmpty(m.Objectives))
	if err != nil {
		return fmt.Errorf("store: study %q: encoding objectives: %w", m.Study, err)
	}
	now := dbTime(s.now())
	row := studyMetaModel{
		Study:          m.Study,
		ConfigHash:     m.ConfigHash,
		ConfigYAML:     m.ConfigYAML,
		ObjectivesJSON: string(objectives),
		MPQVersion:     m.MPQVersion,
		Created:        dbTime(m.Created),
		Updated:        now,
	}
	if row.Created.IsZero() {
		row.Created = now
	}
	// One upsert statement: a concurrent writer of the same study cannot
	// slip between a lookup and an insert.
	err = s.retry(ctx, "PutStudyMeta", func() error {
		return s.db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "study_name"}},
			DoUpdates: clause.AssignmentColumns([]string{"config_hash", "config_yaml", "objectives_json", "mpq_version", "updated_at"}),
		}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("store: saving metadata of study %q in %s: %w", m.Study, s.dsn, err)
	}
	return nil
}

// StudyMeta returns the metadata of a study; false when there is none.
func (s *Store) StudyMeta(ctx context.Context, study string) (StudyMeta, bool, error) {
	var rows []studyMetaModel
	err := s.retry(ctx, "StudyMeta", func() error {
		return s.db.WithContext(ctx).Where("study_name = ?", study).Limit(1).Find(&rows).Error
	})
	if err != nil {
		return StudyMeta{}, false, fmt.Errorf("store: reading metadata of study %q from %s: %w", study, s.dsn, err)
	}
	if len(rows) == 0 {
		return StudyMeta{}, false, nil
	}
	m, err := rows[0].meta()
	if err != nil {
		return StudyMeta{}, false, fmt.Errorf("store: metadata of study %q in %s: %w", study, s.dsn, err)
	}
	return m, true, nil
}

func (r studyMetaModel) meta() (StudyMeta, error) {
	m := StudyMeta{
		Study:      r.Study,
		ConfigHash: r.ConfigHash,
		ConfigYAML: r.ConfigYAML,
		MPQVersion: r.MPQVersion,
		Created:    r.Created.UTC(),
		Updated:    r.Updated.UTC(),
	}
	if r.ObjectivesJSON != "" {
		if err := json.Unmarshal([]byte(r.ObjectivesJSON), &m.Objectives); err != nil {
			return StudyMeta{}, fmt.Errorf("objectives %q: %w", r.ObjectivesJSON, err)
		}
	}
	return m, nil
}

// PutTrialResult records the evaluation of a trial, replacing an earlier
// record of the same (study, trial ID).
func (s *Store) PutTrialResult(ctx context.Context, r TrialResult) error {
	if r.Study == "" {
		return fmt.Errorf("store: PutTrialResult: trial %d has an empty study name", r.TrialID)
	}
	plan, err := json.Marshal(r.Plan)
	if err != nil {
		return fmt.Errorf("store: study %q, trial %d: encoding the plan: %w", r.Study, r.TrialID, err)
	}
	objectives, err := encodeFloats(r.Objectives)
	if err != nil {
		return fmt.Errorf("store: study %q, trial %d: encoding objectives: %w", r.Study, r.TrialID, err)
	}
	created := dbTime(r.Created)
	if created.IsZero() {
		created = dbTime(s.now())
	}
	row := trialResultModel{
		Study:          r.Study,
		TrialID:        r.TrialID,
		TrialNumber:    r.TrialNumber,
		Provenance:     r.Provenance,
		PlanJSON:       string(plan),
		ConfigKey:      r.ConfigKey,
		ConfigKeyHash:  keyHash(r.ConfigKey),
		Accuracy:       nanToNull(r.Accuracy),
		Loss:           nanToNull(r.Loss),
		SizeBits:       nanToNull(r.SizeBits),
		BOPs:           nanToNull(r.BOPs),
		ObjectivesJSON: objectives,
		Feasible:       r.Feasible,
		Violation:      nanToNull(r.Violation),
		Samples:        r.Samples,
		Pruned:         r.Pruned,
		WallSeconds:    nanToNull(r.WallSeconds),
		Created:        created,
	}
	// One upsert statement, so a retried evaluation replaces its row
	// instead of failing on the (study, trial) unique index.
	err = s.retry(ctx, "PutTrialResult", func() error {
		return s.db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "study_name"}, {Name: "trial_id"}},
			DoUpdates: clause.AssignmentColumns([]string{
				"trial_number", "provenance", "plan_json", "config_key", "config_key_sha256",
				"accuracy", "loss", "size_bits", "bops", "objectives_json", "feasible",
				"violation", "samples", "pruned", "wall_seconds", "created_at",
			}),
		}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("store: saving the result of trial %d of study %q in %s: %w", r.TrialID, r.Study, s.dsn, err)
	}
	return nil
}

// TrialResults returns the results of a study ordered by trial number.
func (s *Store) TrialResults(ctx context.Context, study string) ([]TrialResult, error) {
	var rows []trialResultModel
	err := s.retry(ctx, "TrialResults", func() error {
		return s.db.WithContext(ctx).Where("study_name = ?", study).Order("trial_number, trial_id").Find(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading results of study %q from %s: %w", study, s.dsn, err)
	}
	out := make([]TrialResult, len(rows))
	for i, row := range rows {
		if out[i], err = row.result(); err != nil {
			return nil, fmt.Errorf("store: study %q in %s: %w", study, s.dsn, err)
		}
	}
	return out, nil
}

// ResultByKey returns an evaluation of the plan with the given config key,
// for reuse instead of evaluating it again: a complete (not pruned)
// evaluation if there is one, else the one that used the most samples;
// among equals, the earliest trial. False when the plan was never evaluated.
func (s *Store) ResultByKey(ctx context.Context, study, key string) (TrialResult, bool, error) {
	var rows []trialResultModel
	err := s.retry(ctx, "ResultByKey", func() error {
		return s.db.WithContext(ctx).
			Where("study_name = ? AND config_key_sha256 = ? AND config_key = ?", study, keyHash(key), key).
			Order("pruned, samples DESC, trial_number, trial_id").Limit(1).Find(&rows).Error
	})
	if err != nil {
		return TrialResult{}, false, fmt.Errorf("store: looking up plan %q in study %q in %s: %w", key, study, s.dsn, err)
	}
	if len(rows) == 0 {
		return TrialResult{}, false, nil
	}
	r, err := rows[0].result()
	if err != nil {
		return TrialResult{}, false, fmt.Errorf("store: study %q in %s: %w", study, s.dsn, err)
	}
	return r, true, nil
}

func (row trialResultModel) result() (TrialResult, error) {
	r := TrialResult{
		Study:       row.Study,
		TrialID:     row.TrialID,
		TrialNumber: row.TrialNumber,
		Provenance:  row.Provenance,
		ConfigKey:   row.ConfigKey,
		Accuracy:    nullToNaN(row.Accuracy),
		Loss:        nullToNaN(row.Loss),
		SizeBits:    nullToNaN(row.SizeBits),
		BOPs:        nullToNaN(row.BOPs),
		Feasible:    row.Feasible,
		Violation:   nullToNaN(row.Violation),
		Samples:     row.Samples,
		Pruned:      row.Pruned,
		WallSeconds: nullToNaN(row.WallSeconds),
		Created:     row.Created.UTC(),
	}
	if row.PlanJSON != "" && row.PlanJSON != "null" {
		if err := json.Unmarshal([]byte(row.PlanJSON), &r.Plan); err != nil {
			return TrialResult{}, fmt.Errorf("trial %d: plan: %w", row.TrialID, err)
		}
	}
	var err error
	if r.Objectives, err = decodeFloats(row.ObjectivesJSON); err != nil {
		return TrialResult{}, fmt.Errorf("trial %d: objectives: %w", row.TrialID, err)
	}
	return r, nil
}

// PutBlob stores data under (kind, key), replacing what was there. kind
// names what the data is ("calibration", "sensitivity"); key is a hash the
// caller builds from everything the data depends on.
func (s *Store) PutBlob(ctx context.Context, kind, key string, data []byte) error {
	if kind == "" || key == "" {
		return fmt.Errorf("store: PutBlob: empty kind %q or key %q", kind, key)
	}
	if data == nil {
		data = []byte{}
	}
	row := blobModel{Kind: kind, Key: key, Data: data, Size: int64(len(data)), Updated: dbTime(s.now())}
	// One upsert statement: concurrent workers computing the same analysis
	// both succeed and the last write wins (their data is the same).
	err := s.retry(ctx, "PutBlob", func() error {
		return s.db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "blob_kind"}, {Name: "blob_key"}},
			DoUpdates: clause.AssignmentColumns([]string{"data", "size_bytes", "updated_at"}),
		}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("store: saving %s %s (%d bytes) in %s: %w", kind, key, len(data), s.dsn, err)
	}
	return nil
}

// Blob returns the data stored under (kind, key); false when there is none.
func (s *Store) Blob(ctx context.Context, kind, key string) ([]byte, bool, error) {
	var rows []blobModel
	err := s.retry(ctx, "Blob", func() error {
		return s.db.WithContext(ctx).Where("blob_kind = ? AND blob_key = ?", kind, key).Limit(1).Find(&rows).Error
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: reading %s %s from %s: %w", kind, key, s.dsn, err)
	}
	if len(rows) == 0 {
		return nil, false, nil
	}
	if int64(len(rows[0].Data)) != rows[0].Size {
		return nil, false, fmt.Errorf("store: %s %s in %s is damaged: %d bytes stored, %d expected; delete the database row or the file and recompute",
			kind, key, s.dsn, len(rows[0].Data), rows[0].Size)
	}
	if rows[0].Data == nil {
		return []byte{}, true, nil
	}
	return rows[0].Data, true, nil
}

// dbTime is t in UTC at the precision every supported database keeps.
func dbTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func keyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

func nanToNull(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// encodeFloats writes v as a JSON array; NaN and ±Inf, which JSON numbers
// cannot hold, become the strings "NaN", "+Inf" and "-Inf".
func encodeFloats(v []float64) (string, error) {
	if v == nil {
		return "", nil
	}
	items := make([]any, len(v))
	for i, x := range v {
		switch {
		case math.IsNaN(x):
			items[i] = "NaN"
		case math.IsInf(x, 1):
			items[i] = "+Inf"
		case math.IsInf(x, -1):
			items[i] = "-Inf"
		default:
			items[i] = x
		}
	}
	b, err := json.Marshal(items)
	return string(b), err
}

func decodeFloats(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return nil, err
	}
	out := make([]float64, len(items))
	for i, raw := range items {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			x, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = x
			continue
		}
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return out, nil
}
