package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	rdb "github.com/c-bata/goptuna/rdb.v2"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Defaults for Open.
const (
	// DefaultRetryBudget bounds how long one operation retries a locked
	// database before it gives up with ErrLocked.
	DefaultRetryBudget = 30 * time.Second
	// DefaultBusyTimeout is SQLite's own wait for a lock inside one attempt.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultConnectTimeout bounds connecting to a PostgreSQL server.
	DefaultConnectTimeout = 5 * time.Second
)

// sqliteHeader is the first 16 bytes of every SQLite 3 database file.
const sqliteHeader = "SQLite format 3\x00"

// Store is an open study database. It is safe for concurrent use by several
// goroutines; several Stores (in one process or many) may share one database.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dsn     string // as given, password redacted
	driver  string // "sqlite" or "postgres"
	storage *storage
	opts    options
	now     func() time.Time
	path    string   // the SQLite database file; "" for :memory: and PostgreSQL
	locks   sync.Map // lock name → chan struct{}, for Lock on :memory:

	closeOnce sync.Once
	closeErr  error
}

// Option configures Open.
type Option func(*options)

type options struct {
	retryBudget    time.Duration
	busyTimeout    time.Duration
	connectTimeout time.Duration
}

// WithRetryBudget sets how long an operation retries "database is locked",
// "busy" and serialization failures before returning ErrLocked
// (DefaultRetryBudget when d <= 0).
func WithRetryBudget(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.retryBudget = d
		}
	}
}

// WithBusyTimeout sets SQLite's busy_timeout, the wait for a lock inside one
// attempt (DefaultBusyTimeout when d <= 0; whole milliseconds). PostgreSQL
// ignores it.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.busyTimeout = d
		}
	}
}

// WithConnectTimeout bounds connecting to a PostgreSQL server
// (DefaultConnectTimeout when d <= 0; whole seconds, at least one). A
// connect_timeout in the DSN wins. SQLite ignores it.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.connectTimeout = d
		}
	}
}

// Open connects to a study database and creates the tables that are missing
// (goptuna's rdb.v2 tables and mpq's own); it changes nothing else in an
// existing database.
//
// DSN forms:
//
//	sqlite://relative/path.db      relative to the working directory
//	sqlite:///abs/path.db
//	sqlite://:memory:              one private in-memory database (one connection)
//	postgres://user:pass@host:port/db?sslmode=disable   (postgresql:// too)
//
// A sqlite DSN may carry extra go-sqlite3 parameters after "?"; mpq always
// sets _journal_mode=WAL, _busy_timeout and _txlock=immediate (the settings
// under which several workers share one file safely) and refuses a DSN that
// asks for another journal mode or transaction lock.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{
		retryBudget:    DefaultRetryBudget,
		busyTimeout:    DefaultBusyTimeout,
		connectTimeout: DefaultConnectTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		if dsn == "" {
			return nil, errors.New("store: empty storage DSN; set study.storage to sqlite://study.db or postgres://user@host:5432/db")
		}
		return nil, fmt.Errorf("store: storage %q has no scheme; use sqlite://%s or postgres://user@host:5432/db", dsn, dsn)
	}
	var (
		s   *Store
		err error
	)
	switch scheme {
	case "sqlite":
		s, err = openSQLite(ctx, dsn, rest, o)
	case "postgres", "postgresql":
		s, err = openPostgres(ctx, dsn, o)
	default:
		return nil, fmt.Errorf("store: storage %q: scheme %q is not supported; use sqlite://path/to/study.db or postgres://user@host:5432/db", redactDSN(dsn), scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.sqlDB.Close(); err != nil {
			s.closeErr = fmt.Errorf("store: closing %s: %w", s.dsn, err)
		}
	})
	return s.closeErr
}

// DSN returns the DSN the Store was opened with, its password (if any)
// replaced by "xxxxx", so that it can be printed.
func (s *Store) DSN() string { return s.dsn }

func newStore(db *gorm.DB, sqlDB *sql.DB, dsn, driver string, o options) *Store {
	s := &Store{db: db, sqlDB: sqlDB, dsn: redactDSN(dsn), driver: driver, opts: o, now: time.Now}
	s.storage = newStorage(s, rdb.NewStorage(db))
	return s
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		// Errors are returned, never printed: gorm's default logger writes
		// "record not found" for every miss to stdout.
		Logger:               logger.Discard,
		DisableAutomaticPing: true,
	}
}

func openSQLite(ctx context.Context, dsn, rest string, o options) (*Store, error) {
	path, query, _ := strings.Cut(rest, "?")
	if path == "" {
		return nil, fmt.Errorf("store: storage %q names no database file; use sqlite://study.db", dsn)
	}
	params, err := sqliteParams(dsn, query, o)
	if err != nil {
		return nil, err
	}
	memory := path == ":memory:"
	if !memory {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("store: database %s: %w", path, err)
		}
		path = abs
		if err := checkSQLitePath(path); err != nil {
			return nil, err
		}
	}
	sqlDB, err := sql.Open(sqlite.DriverName, path+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("store: opening database %s: %w", path, err)
	}
	if memory {
		// Every connection to ":memory:" is a database of its own: keep
		// exactly one, forever.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	}
	// Connections that open a new file at the same moment race to switch
	// it to WAL mode, and SQLite reports the losers busy at once, without
	// waiting out the busy timeout: retry them.
	if err := retryLocked(ctx, o.retryBudget, func() error { return sqlDB.PingContext(ctx) }); err != nil {
		sqlDB.Close()
		return nil, sqliteOpenError(path, err)
	}
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), gormConfig())
	if err != nil {
		sqlDB.Close()
		return nil, sqliteOpenError(path, err)
	}
	s := newStore(db, sqlDB, dsn, "sqlite", o)
	if !memory {
		s.path = path
	}
	return s, nil
}

// sqliteParams merges the DSN's own go-sqlite3 parameters with the ones mpq
// requires.
func sqliteParams(dsn, query string, o options) (string, error) {
	user, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("store: storage %q: bad parameters after \"?\": %w", dsn, err)
	}
	busy := o.busyTimeout.Milliseconds()
	if busy < 1 {
		busy = 1
	}
	required := map[string]string{"_journal_mode": "WAL", "_txlock": "immediate"}
	for key, want := range required {
		for _, got := range user[key] {
			if !strings.EqualFold(got, want) {
				return "", fmt.Errorf("store: storage %q sets %s=%s; mpq needs %s=%s so that several workers can share the file without \"database is locked\" failures: remove the parameter",
					dsn, key, got, key, want)
			}
		}
		user.Del(key)
	}
	if len(user["_busy_timeout"]) == 0 {
		user.Set("_busy_timeout", fmt.Sprint(busy))
	}
	user.Set("_journal_mode", "WAL")
	user.Set("_txlock", "immediate")
	return user.Encode(), nil
}

// checkSQLitePath explains, before SQLite tries, why a database file cannot
// be opened for writing. It reads the file's header but writes nothing into
// the database.
func checkSQLitePath(path string) error {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("store: cannot create database %s: directory %s does not exist; create it or change study.storage", path, dir)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("store: cannot create database %s: a parent of %s is a file, not a directory; change study.storage", path, dir)
	case err != nil:
		return fmt.Errorf("store: cannot create database %s: %w", path, err)
	case !di.IsDir():
		return fmt.Errorf("store: cannot create database %s: %s is a file, not a directory; change study.storage", path, dir)
	}
	fi, err := os.Stat(path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: database %s: %w", path, err)
	}
	if exists && fi.IsDir() {
		return fmt.Errorf("store: database %s is a directory; point study.storage at a .db file", path)
	}
	if exists {
		if err := checkSQLiteFile(path, fi.Size()); err != nil {
			return err
		}
	}
	// SQLite creates the database and, in WAL mode, its -wal and -shm files
	// next to it: the directory must be writable even when the file exists.
	probe, err := os.CreateTemp(dir, ".mpq-probe-*")
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("store: cannot write database %s: directory %s is read-only (SQLite needs to create %s-wal and %s-shm next to it); make it writable or change study.storage",
				path, dir, filepath.Base(path), filepath.Base(path))
		}
		return fmt.Errorf("store: cannot write database %s: %w", path, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

func checkSQLiteFile(path string, size int64) error {
	if size > 0 {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("store: cannot read database %s: %w", path, err)
		}
		head := make([]byte, len(sqliteHeader))
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil || string(head) != sqliteHeader {
			return fmt.Errorf("store: %s is not a SQLite database (it does not start with the SQLite header); point study.storage at a study .db file or a new path", path)
		}
	} // SQLite treats an empty file as an empty database.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("store: cannot write database %s: the file is read-only; mpq records trials in it: make it writable (chmod u+w) or copy it", path)
		}
		return fmt.Errorf("store: database %s: %w", path, err)
	}
	return f.Close()
}

func sqliteOpenError(path string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "file is not a database"):
		return fmt.Errorf("store: %s is not a SQLite database; point study.storage at a study .db file or a new path: %w", path, err)
	case strings.Contains(msg, "readonly") || strings.Contains(msg, "read-only"):
		return fmt.Errorf("store: cannot write database %s: it or its directory is read-only; make them writable or change study.storage: %w", path, err)
	case isRetryable(err):
		return fmt.Errorf("store: database %s is locked by another process; wait for it or stop it: %w", path, err)
	}
	return fmt.Errorf("store: opening database %s: %w", path, err)
}

func openPostgres(ctx context.Context, dsn string, o options) (*Store, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: storage %s is not a valid URL; use postgres://user:pass@host:5432/db", redactDSN(dsn))
	}
	if u.Host == "" && u.Path == "" {
		return nil, fmt.Errorf("store: storage %s names no server or database; use postgres://user@host:5432/db", redactDSN(dsn))
	}
	addr := postgresAddr(u)
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		secs := int((o.connectTimeout + time.Second - 1) / time.Second)
		q.Set("connect_timeout", fmt.Sprint(max(secs, 1)))
		u.RawQuery = q.Encode()
	}
	db, err := gorm.Open(postgres.Open(u.String()), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("store: storage %s: %v; fix study.storage", redactDSN(dsn), stripDSN(err, dsn))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: storage %s: %w", redactDSN(dsn), err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		var nerr net.Error
		if errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded) ||
			strings.Contains(err.Error(), "dial error") || strings.Contains(err.Error(), "connection refused") {
			return nil, fmt.Errorf("store: cannot connect to PostgreSQL at %s (%s); start the server or fix study.storage", addr, netCause(err))
		}
		return nil, fmt.Errorf("store: PostgreSQL at %s refused %s: %s; check the user, password and database name in study.storage",
			addr, redactDSN(dsn), oneLine(stripDSN(err, dsn)))
	}
	return newStore(db, sqlDB, dsn, "postgres", o), nil
}

// netCause is the network error under a failed connect, on one line: pgx
// reports every attempt (TLS, then plain) on lines of their own.
func netCause(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return oneLine(err.Error())
}

// oneLine joins the lines of a multi-line message.
func oneLine(msg string) string {
	return strings.Join(strings.Fields(msg), " ")
}

// postgresAddr is the host:port a postgres URL points at, for messages.
func postgresAddr(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = u.Query().Get("host")
	}
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = u.Query().Get("port")
	}
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port)
}

// redactDSN hides the password of a URL-shaped DSN.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(dsn, "@") {
			return "(unparsable DSN)"
		}
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// stripDSN renders err without the DSN's password.
func stripDSN(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, has := u.User.Password(); has && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
