package search

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mpq/internal/config"
	"mpq/store"
)

// holdExclusive takes SQLite's write lock on path with BEGIN EXCLUSIVE from
// a connection of its own (go-sqlite3, registered as "sqlite3" by the
// store's driver) and keeps it until the test ends.
func holdExclusive(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Error(err)
		return
	}
	conn, err := db.Conn(context.Background())
	if err == nil {
		_, err = conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE")
	}
	if err != nil {
		t.Errorf("taking the lock: %v", err)
		db.Close()
		return
	}
	t.Cleanup(func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		db.Close()
	})
}

// TestRunOnLockedDatabase: a database that stays locked (another program
// holds a write transaction) ends a search with an error that names the
// database and says what to do, within a bounded time, whether the lock is
// there before the start or comes in the middle of the trials.
func TestRunOnLockedDatabase(t *testing.T) {
	const budget = time.Second
	opts := []store.Option{store.WithRetryBudget(budget), store.WithBusyTimeout(50 * time.Millisecond)}
	check := func(t *testing.T, err error, elapsed, bound time.Duration, db string) {
		t.Helper()
		if !errors.Is(err, store.ErrLocked) {
			t.Fatalf("err = %v, want ErrLocked", err)
		}
		for _, want := range []string{db, "locked by another process", "let it finish or stop it"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\ndoes not say %q", err, want)
			}
		}
		if elapsed > bound {
			t.Errorf("gave up after %v, want at most %v with a %v retry budget", elapsed, bound, budget)
		}
	}
	t.Run("before the start", func(t *testing.T) {
		path := quickConfig(t, "random")
		db := filepath.Join(filepath.Dir(path), "study.db")
		runStudy(t, path, Options{Trials: 2})
		holdExclusive(t, db)
		start := time.Now()
		_, err := store.Open(context.Background(), "sqlite://"+db, opts...)
		check(t, err, time.Since(start), 5*budget, db)
	})
	t.Run("during the trials", func(t *testing.T) {
		path := quickConfig(t, "random")
		db := filepath.Join(filepath.Dir(path), "study.db")
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := OpenWorkspace(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(context.Background(), "sqlite://"+db, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var once sync.Once
		var lockedAt time.Time
		progress := func(s Status) {
			if s.Phase == "search" && s.Complete+s.Pruned >= 2 {
				once.Do(func() {
					holdExclusive(t, db)
					lockedAt = time.Now()
				})
			}
		}
		_, err = Run(context.Background(), ws, st, Options{Trials: 200, Progress: progress})
		if lockedAt.IsZero() {
			t.Fatalf("the study ended before the lock was taken: %v", err)
		}
		check(t, err, time.Since(lockedAt), 10*budget, db)
	})
}
