package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"
)

// Lock takes the lock called name on the database: of all the Stores open
// on one database, in this process or others (on PostgreSQL, on any
// machine), one at a time holds it. It is advisory: it keeps nobody from
// reading or writing, so the holder may use the database freely, through
// this Store or any other. It waits for at most the retry budget, then
// fails with an error that wraps ErrLocked and names the database. The
// returned function releases the lock; a process that dies holding it
// releases it too (the operating system drops its file locks, the server
// ends its session), so a killed worker never blocks the others.
//
// On a SQLite file the lock is an flock(2) on a file next to the database
// (its path plus "-mpqlock"), which works between processes of one machine,
// as SQLite itself does; all names share that one lock; on PostgreSQL it is a session-level advisory lock
// (pg_try_advisory_lock) held by a connection of its own; on
// sqlite://:memory:, which no other Store can open, a lock of this Store.
func (s *Store) Lock(ctx context.Context, name string) (unlock func(), err error) {
	var try func() (bool, error)
	var release func()
	switch {
	case s.driver == "postgres":
		try, release, err = s.pgLock(ctx, name)
	case s.path != "":
		try, release, err = s.fileLock(name)
	default:
		try, release = s.memLock(name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: lock %q on %s: %w", name, s.dsn, err)
	}
	start := time.Now()
	delay := firstBackoff
	for attempt := 1; ; attempt++ {
		ok, err := try()
		if err != nil {
			release()
			return nil, fmt.Errorf("store: lock %q on %s: %w", name, s.dsn, err)
		}
		if ok {
			var once sync.Once
			return func() { once.Do(release) }, nil
		}
		elapsed := time.Since(start)
		if elapsed >= s.opts.retryBudget {
			release()
			return nil, fmt.Errorf("store: lock %q on %s is still held by another worker after %.1f s (%d attempts); "+
				"if no mpq process is running on this study, remove stale processes and resume: %w",
				name, s.dsn, elapsed.Seconds(), attempt, ErrLocked)
		}
		wait := min(delay+rand.N(delay/2+1), s.opts.retryBudget-elapsed)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, fmt.Errorf("store: lock %q on %s: %w", name, s.dsn, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// lockKey maps a lock name to a PostgreSQL advisory lock key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mpq:" + name))
	return int64(h.Sum64())
}

// pgLock tries pg_try_advisory_lock on a connection of its own; release
// unlocks (if locked) and returns the connection, or drops it when the
// unlock fails so that no pooled session keeps the lock.
func (s *Store) pgLock(ctx context.Context, name string) (try func() (bool, error), release func(), err error) {
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	key := lockKey(name)
	locked := false
	try = func() (bool, error) {
		err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&locked)
		return locked, err
	}
	release = func() {
		if locked {
			var ok bool
			err := conn.QueryRowContext(context.Background(), "SELECT pg_advisory_unlock($1)", key).Scan(&ok)
			if err != nil || !ok {
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}
		conn.Close()
	}
	return try, release, nil
}

// fileLock opens the lock file next to the SQLite database.
func (s *Store) fileLock(name string) (try func() (bool, error), release func(), err error) {
	_ = name // one lock file per database; names share it
	f, err := os.OpenFile(s.path+"-mpqlock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	try = func() (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
			return false, nil
		}
		return err == nil, err
	}
	release = func() { f.Close() } // closing drops the flock
	return try, release, nil
}

// memLock is a lock of this Store, for databases no other Store can open.
func (s *Store) memLock(name string) (try func() (bool, error), release func()) {
	v, _ := s.locks.LoadOrStore(name, make(chan struct{}, 1))
	sem := v.(chan struct{})
	held := false
	try = func() (bool, error) {
		select {
		case sem <- struct{}{}:
			held = true
			return true, nil
		default:
			return false, nil
		}
	}
	release = func() {
		if held {
			<-sem
		}
	}
	return try, release
}
