package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	rdb "github.com/c-bata/goptuna/rdb.v2"
	"gorm.io/gorm"
)

// goptunaTables are the tables rdb.v2's RunAutoMigrate creates (rdb.v2/model.go).
func goptunaTables() []string {
	return []string{
		"studies", "study_user_attributes", "study_system_attributes", "trials",
		"trial_user_attributes", "trial_system_attributes", "trial_params", "trial_values",
	}
}

// Read-only mirrors of rdb.v2's models (rdb.v2/model.go, goptuna v0.9.0),
// used for the incremental trial fetch, FailStale and Studies. They are never
// migrated: goptuna owns the schema of these tables.

type gStudy struct {
	ID        int    `gorm:"column:study_id;primaryKey"`
	Name      string `gorm:"column:study_name"`
	Direction string `gorm:"column:direction"`
}

func (gStudy) TableName() string { return "studies" }

type gTrial struct {
	ID               int        `gorm:"column:trial_id;primaryKey"`
	Number           int        `gorm:"column:number"`
	StudyID          int        `gorm:"column:study_id"`
	State            string     `gorm:"column:state"`
	Value            *float64   `gorm:"column:value"` // NULL when a NaN was stored
	DatetimeStart    *time.Time `gorm:"column:datetime_start"`
	DatetimeComplete *time.Time `gorm:"column:datetime_complete"`
}

func (gTrial) TableName() string { return "trials" }

type gParam struct {
	ID               int      `gorm:"column:param_id;primaryKey"`
	TrialID          int      `gorm:"column:trial_id"`
	Name             string   `gorm:"column:param_name"`
	Value            *float64 `gorm:"column:param_value"`
	DistributionJSON string   `gorm:"column:distribution_json"`
}

func (gParam) TableName() string { return "trial_params" }

type gValue struct {
	ID      int      `gorm:"column:trial_value_id;primaryKey"`
	TrialID int      `gorm:"column:trial_id"`
	Step    int      `gorm:"column:step"`
	Value   *float64 `gorm:"column:value"`
}

func (gValue) TableName() string { return "trial_values" }

// gAttr reads trial_user_attributes and trial_system_attributes (same shape).
type gAttr struct {
	TrialID int    `gorm:"column:trial_id"`
	Key     string `gorm:"column:key"`
	Value   string `gorm:"column:value"`
}

// mpq's own tables.

type studyMetaModel struct {
	ID             int       `gorm:"column:id;primaryKey"`
	Study          string    `gorm:"column:study_name;type:varchar(512);not null;uniqueIndex:idx_mpq_study_meta_study"`
	ConfigHash     string    `gorm:"column:config_hash;type:varchar(128)"`
	ConfigYAML     string    `gorm:"column:config_yaml;type:text"`
	ObjectivesJSON string    `gorm:"column:objectives_json;type:text"`
	MPQVersion     string    `gorm:"column:mpq_version;type:varchar(64)"`
	Created        time.Time `gorm:"column:created_at"`
	Updated        time.Time `gorm:"column:updated_at"`
}

func (studyMetaModel) TableName() string { return "mpq_study_meta" }

type trialResultModel struct {
	ID             int       `gorm:"column:id;primaryKey"`
	Study          string    `gorm:"column:study_name;type:varchar(512);not null;uniqueIndex:idx_mpq_trial_results_trial,priority:1;index:idx_mpq_trial_results_key,priority:1"`
	TrialID        int       `gorm:"column:trial_id;not null;uniqueIndex:idx_mpq_trial_results_trial,priority:2"`
	TrialNumber    int       `gorm:"column:trial_number;not null"`
	Provenance     string    `gorm:"column:provenance;type:varchar(64)"`
	PlanJSON       string    `gorm:"column:plan_json;type:text"`
	ConfigKey      string    `gorm:"column:config_key;type:text"`
	ConfigKeyHash  string    `gorm:"column:config_key_sha256;type:varchar(64);index:idx_mpq_trial_results_key,priority:2"` // keys can outgrow an index entry
	Accuracy       *float64  `gorm:"column:accuracy"`
	Loss           *float64  `gorm:"column:loss"`
	SizeBits       *float64  `gorm:"column:size_bits"`
	BOPs           *float64  `gorm:"column:bops"`
	ObjectivesJSON string    `gorm:"column:objectives_json;type:text"`
	Feasible       bool      `gorm:"column:feasible;not null"`
	Violation      *float64  `gorm:"column:violation"`
	Samples        int       `gorm:"column:samples;not null"`
	Pruned         bool      `gorm:"column:pruned;not null"`
	WallSeconds    *float64  `gorm:"column:wall_seconds"`
	Created        time.Time `gorm:"column:created_at"`
}

func (trialResultModel) TableName() string { return "mpq_trial_results" }

type blobModel struct {
	ID      int       `gorm:"column:id;primaryKey"`
	Kind    string    `gorm:"column:blob_kind;type:varchar(128);not null;uniqueIndex:idx_mpq_blobs_kind_key,priority:1"`
	Key     string    `gorm:"column:blob_key;type:varchar(512);not null;uniqueIndex:idx_mpq_blobs_kind_key,priority:2"`
	Data    []byte    `gorm:"column:data"`
	Size    int64     `gorm:"column:size_bytes;not null"`
	Updated time.Time `gorm:"column:updated_at"`
}

func (blobModel) TableName() string { return "mpq_blobs" }

type heartbeatModel struct {
	TrialID int   `gorm:"column:trial_id;primaryKey;autoIncrement:false"`
	BeatNs  int64 `gorm:"column:beat_unix_ns;not null"` // integers compare exactly in SQL, unlike SQLite's text timestamps
}

func (heartbeatModel) TableName() string { return "mpq_heartbeats" }

// mpqModels are created by Open when missing.
func mpqModels() []any {
	return []any{&studyMetaModel{}, &trialResultModel{}, &blobModel{}, &heartbeatModel{}}
}

// migrate creates the missing tables and nothing else. It runs in one
// transaction (a write transaction from the start on SQLite, an advisory
// lock on PostgreSQL) so that two workers opening a fresh database at the
// same moment do not both try to create the same tables.
func (s *Store) migrate(ctx context.Context) error {
	err := s.retry(ctx, "creating tables", func() error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if s.driver == "postgres" {
				// 0x6d7071 is "mpq": an arbitrary constant shared by all mpq processes.
				if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", 0x6d7071).Error; err != nil {
					return err
				}
			}
			m := tx.Migrator()
			missing := false
			for _, t := range goptunaTables() {
				if !m.HasTable(t) {
					missing = true
					break
				}
			}
			if missing {
				// Only reached when some goptuna table is absent; on a
				// complete database RunAutoMigrate would compare and
				// possibly alter existing columns, which Open promises not
				// to do.
				if err := rdb.RunAutoMigrate(tx); err != nil {
					return fmt.Errorf("goptuna tables: %w", err)
				}
			}
			for _, model := range mpqModels() {
				if m.HasTable(model) {
					continue
				}
				if err := m.CreateTable(model); err != nil {
					return fmt.Errorf("table %T: %w", model, err)
				}
			}
			return nil
		})
	})
	if errors.Is(err, ErrLocked) {
		return err // retry's message names the database and the operation
	}
	if err != nil {
		return fmt.Errorf("store: creating tables in %s: %w", s.dsn, err)
	}
	return nil
}
