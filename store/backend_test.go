package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// postgresEnv names a PostgreSQL server for the tests that run on every
// backend, as a DSN whose user may create databases, for example
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. Unset, only
// SQLite runs.
const postgresEnv = "MPQ_TEST_POSTGRES"

// opener opens a new, empty database and returns it with a DSN that opens
// more handles on it.
type opener func(t testing.TB, opts ...Option) (*Store, string)

// forEachBackend runs test on SQLite and, when postgresEnv is set, on
// PostgreSQL.
func forEachBackend(t *testing.T, test func(t *testing.T, fresh opener)) {
	t.Run("sqlite", func(t *testing.T) { test(t, sqliteFresh) })
	if admin := os.Getenv(postgresEnv); admin != "" {
		t.Run("postgres", func(t *testing.T) { test(t, postgresFresh(admin)) })
	}
}

func sqliteFresh(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "study.db")
	return openDSN(t, dsn, opts...), dsn
}

// openDSN opens dsn and closes the Store when t ends.
func openDSN(t testing.TB, dsn string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresFresh creates a database per call on the admin server and drops
// it when the test ends.
func postgresFresh(admin string) opener {
	var seq atomic.Int64
	return func(t testing.TB, opts ...Option) (*Store, string) {
		t.Helper()
		adminDB, err := gorm.Open(postgres.Open(admin), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatalf("%s: %v", postgresEnv, err)
		}
		sqlDB, _ := adminDB.DB()
		t.Cleanup(func() { sqlDB.Close() })
		name := fmt.Sprintf("mpq_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
		if err := adminDB.Exec("CREATE DATABASE " + name).Error; err != nil {
			t.Fatalf("creating database %s: %v", name, err)
		}
		u, err := url.Parse(admin)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		dsn := u.String()
		t.Cleanup(func() {
			if err := adminDB.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error; err != nil && !strings.Contains(err.Error(), "closed") {
				t.Errorf("dropping database %s: %v", name, err)
			}
		})
		return openDSN(t, dsn, opts...), dsn
	}
}
