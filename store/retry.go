package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// ErrLocked is wrapped by errors from operations that kept failing because
// another connection held the database (SQLite "database is locked"/"busy",
// PostgreSQL serialization failures, deadlocks and lock timeouts) for the
// whole retry budget.
var ErrLocked = errors.New("store: database locked")

// ErrStudyNotFound is wrapped by errors about a study name or ID that the
// database does not hold.
var ErrStudyNotFound = errors.New("store: study not found")

// ErrStudyExists is wrapped by the error of creating a study whose name is
// taken; the caller should load the study instead.
var ErrStudyExists = errors.New("store: study already exists")

// Backoff between attempts: 10 ms doubling up to 1 s, with up to 50 % jitter
// so that workers that collided do not collide again in step.
const (
	firstBackoff = 10 * time.Millisecond
	maxBackoff   = time.Second
)

// isRetryable reports whether err means "someone else holds the lock; the
// same operation may succeed later". Every operation retried this way either
// ran in a transaction that was rolled back or is a single statement that did
// not take effect, so running it again is safe.
func isRetryable(err error) bool {
	if err == nil {
		return false
	}
	// PostgreSQL (pgconn.PgError): serialization_failure, deadlock_detected,
	// lock_not_available.
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		switch pg.SQLState() {
		case "40001", "40P01", "55P03":
			return true
		}
		return false
	}
	// SQLite, through go-sqlite3 (or a pure-Go driver): SQLITE_BUSY is
	// "database is locked", SQLITE_LOCKED "database table is locked".
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "database table is locked") ||
		strings.Contains(msg, "sqlite_busy") ||
		strings.Contains(msg, "sqlite_locked")
}

// retry runs fn until it succeeds, fails with an error that retrying cannot
// fix (returned unchanged, so that goptuna's "err == ErrX" checks keep
// working), ctx ends, or the retry budget is spent.
func (s *Store) retry(ctx context.Context, op string, fn func() error) error {
	start := time.Now()
	delay := firstBackoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if !isRetryable(err) {
			return err
		}
		elapsed := time.Since(start)
		if elapsed >= s.opts.retryBudget {
			return fmt.Errorf("store: %s: database %s is locked by another process after %.0f s of retries (%d attempts); "+
				"another worker or program holds a write transaction: let it finish or stop it, then resume the study: %w: %w",
				op, s.dsn, elapsed.Seconds(), attempt, ErrLocked, err)
		}
		wait := delay + rand.N(delay/2+1)
		wait = min(wait, s.opts.retryBudget-elapsed)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store: %s: gave up waiting for a lock on %s: %w (last error: %v)", op, s.dsn, ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

// retryLocked runs fn until it succeeds, fails with an error retrying
// cannot fix, ctx ends or budget is spent, with retry's backoff, and
// returns fn's last error: for opening a database, before there is a
// Store to report through.
func retryLocked(ctx context.Context, budget time.Duration, fn func() error) error {
	start := time.Now()
	delay := firstBackoff
	for {
		err := fn()
		elapsed := time.Since(start)
		if !isRetryable(err) || elapsed >= budget {
			return err
		}
		t := time.NewTimer(min(delay+rand.N(delay/2+1), budget-elapsed))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}
