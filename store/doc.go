// Package store persists studies: goptuna's rdb.v2 tables over gorm (SQLite or
// PostgreSQL) plus mpq's own tables for objective vectors, provenance, config
// hashes, calibration and sensitivity results. It is the only package that
// touches gorm.
package store
