package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// openTemp opens a new SQLite study database in t.TempDir().
func openTemp(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "study.db")
	s := openPath(t, path, opts...)
	return s, path
}

// openPath opens the SQLite database at path and closes it when t ends.
func openPath(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite://"+path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// createStudy creates a quiet goptuna study on s.
func createStudy(t testing.TB, s *Store, name string, opts ...goptuna.StudyOption) *goptuna.Study {
	t.Helper()
	opts = append([]goptuna.StudyOption{
		goptuna.StudyOptionStorage(s.Storage()),
		goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionLoadIfExists(true),
	}, opts...)
	study, err := goptuna.CreateStudy(name, opts...)
	if err != nil {
		t.Fatalf("CreateStudy(%q): %v", name, err)
	}
	return study
}

func TestOpenReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "study.db")
	s, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	study := createStudy(t, s, "persist", goptuna.StudyOptionDirection(goptuna.StudyDirectionMaximize))
	if err := study.Optimize(func(tr goptuna.Trial) (float64, error) {
		x, err := tr.SuggestInt("x", 0, 10)
		return float64(x), err
	}, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob(ctx, "calibration", "k1", []byte("ranges")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStudyMeta(ctx, StudyMeta{Study: "persist", ConfigHash: "h", Objectives: []string{"accuracy"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2 := openPath(t, path)
	loaded, err := goptuna.LoadStudy("persist", goptuna.StudyOptionStorage(s2.Storage()), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatalf("LoadStudy after reopen: %v", err)
	}
	if loaded.Direction() != goptuna.StudyDirectionMaximize {
		t.Errorf("direction = %v, want maximize", loaded.Direction())
	}
	trials, err := loaded.GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 3 {
		t.Fatalf("%d trials after reopen, want 3", len(trials))
	}
	for _, tr := range trials {
		if tr.State != goptuna.TrialStateComplete {
			t.Errorf("trial %d state %v, want Complete", tr.Number, tr.State)
		}
	}
	data, ok, err := s2.Blob(ctx, "calibration", "k1")
	if err != nil || !ok || string(data) != "ranges" {
		t.Errorf("Blob after reopen = %q, %v, %v", data, ok, err)
	}
	m, ok, err := s2.StudyMeta(ctx, "persist")
	if err != nil || !ok || m.ConfigHash != "h" {
		t.Errorf("StudyMeta after reopen = %+v, %v, %v", m, ok, err)
	}
	if _, err := goptuna.LoadStudy("missing", goptuna.StudyOptionStorage(s2.Storage()), goptuna.StudyOptionLogger(nil)); !errors.Is(err, ErrStudyNotFound) {
		t.Errorf("LoadStudy(missing) error = %v, want ErrStudyNotFound", err)
	}
}

func TestOpenDSNForms(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dsn, file string
	}{
		{"relative", "sqlite://rel.db", filepath.Join(dir, "rel.db")},
		{"relative in folder", "sqlite://sub/rel.db", filepath.Join(dir, "sub", "rel.db")},
		{"absolute, three slashes", "sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db")},
		{"relative with dot", "sqlite://./dot.db", filepath.Join(dir, "dot.db")},
		{"extra parameter", "sqlite://params.db?_busy_timeout=1000&cache=private", filepath.Join(dir, "params.db")},
		{"required parameters restated", "sqlite://same.db?_journal_mode=wal&_txlock=immediate", filepath.Join(dir, "same.db")},
		{"memory", "sqlite://:memory:", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.dsn)
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.dsn, err)
			}
			defer s.Close()
			if s.DSN() != tc.dsn {
				t.Errorf("DSN() = %q, want %q", s.DSN(), tc.dsn)
			}
			createStudy(t, s, "forms")
			if _, err := s.Storage().CreateNewTrial(1); err != nil {
				t.Fatalf("CreateNewTrial: %v", err)
			}
			if tc.file != "" {
				if _, err := os.Stat(tc.file); err != nil {
					t.Errorf("database file: %v", err)
				}
				var mode string
				if err := s.db.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "wal" {
					t.Errorf("journal_mode = %q, %v; want wal", mode, err)
				}
			}
		})
	}
	if !strings.HasPrefix(tests[2].dsn, "sqlite:///") {
		t.Fatalf("test table: %q should have three slashes", tests[2].dsn)
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://mpq:secret@db:5432/studies?sslmode=disable", "postgres://mpq:xxxxx@db:5432/studies?sslmode=disable"},
		{"postgresql://mpq@db/studies", "postgresql://mpq@db/studies"},
		{"sqlite:///tmp/a.db", "sqlite:///tmp/a.db"},
	}
	for _, tc := range tests {
		if got := redactDSN(tc.in); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// unusedPort returns a loopback TCP port that nothing listens on.
func unusedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.db")
	if err := os.WriteFile(notDB, []byte("this is a text file, not a database\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "plain")
	if err := os.WriteFile(aFile, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := unusedPort(t)
	tests := []struct {
		name string
		dsn  string
		want []string // substrings of the error
	}{
		{"missing directory", "sqlite://" + filepath.Join(dir, "nope", "study.db"),
			[]string{"cannot create database " + filepath.Join(dir, "nope", "study.db"), "directory " + filepath.Join(dir, "nope") + " does not exist", "create it or change study.storage"}},
		{"parent is a file", "sqlite://" + filepath.Join(aFile, "study.db"),
			[]string{"cannot create database", aFile + " is a file, not a directory"}},
		{"grandparent is a file", "sqlite://" + filepath.Join(aFile, "sub", "study.db"),
			[]string{"cannot create database", "is a file, not a directory"}},
		{"not a SQLite file", "sqlite://" + notDB,
			[]string{notDB + " is not a SQLite database"}},
		{"directory as database", "sqlite://" + dir,
			[]string{dir + " is a directory"}},
		{"no file", "sqlite://", []string{"names no database file"}},
		{"journal mode", "sqlite://" + filepath.Join(dir, "j.db") + "?_journal_mode=DELETE",
			[]string{"_journal_mode=DELETE", "needs _journal_mode=WAL"}},
		{"txlock", "sqlite://" + filepath.Join(dir, "j.db") + "?_txlock=deferred",
			[]string{"_txlock=deferred", "needs _txlock=immediate"}},
		{"no scheme", "study.db", []string{`"study.db" has no scheme`, "sqlite://study.db"}},
		{"empty", "", []string{"empty storage DSN"}},
		{"unknown scheme", "mysql://u:pw@h/db", []string{`scheme "mysql" is not supported`}},
		{"postgres not running", fmt.Sprintf("postgres://mpq:secret@127.0.0.1:%d/studies?sslmode=disable", port),
			[]string{fmt.Sprintf("cannot connect to PostgreSQL at 127.0.0.1:%d", port), "start the server or fix study.storage"}},
		{"postgresql not running", fmt.Sprintf("postgresql://mpq@127.0.0.1:%d/studies", port),
			[]string{fmt.Sprintf("127.0.0.1:%d", port), "start the server"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(ctx, tc.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.dsn)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("error %q lacks the store: prefix", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failing took %v", d)
			}
		})
	}
	// The failed opens left the non-SQLite file alone and created nothing.
	if b, _ := os.ReadFile(notDB); string(b) != "this is a text file, not a database\n" {
		t.Errorf("Open changed %s: %q", notDB, b)
	}
	for _, p := range []string{notDB + "-wal", notDB + "-shm", filepath.Join(dir, "j.db")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("failed Open created %s", p)
		}
	}
}

// TestOpenReadOnly needs permissions to apply: root bypasses them, so the
// test skips when it can still write after chmod.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	t.Run("directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		if f, err := os.CreateTemp(dir, "probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skip("permissions are not enforced for this user (root)")
		}
		_, err := Open(ctx, "sqlite://"+filepath.Join(dir, "study.db"))
		if err == nil || !strings.Contains(err.Error(), "directory "+dir+" is read-only") {
			t.Fatalf("error = %v, want read-only directory", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "study.db")
		s := openPath(t, path)
		s.Close()
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			f.Close()
			t.Skip("permissions are not enforced for this user (root)")
		}
		_, err := Open(ctx, "sqlite://"+path)
		if err == nil || !strings.Contains(err.Error(), "the file is read-only") {
			t.Fatalf("error = %v, want read-only file", err)
		}
	})
}

// schema returns the SQL that defines every table and index of a database.
func schema(t *testing.T, s *Store) string {
	t.Helper()
	var rows []string
	if err := s.db.Raw("SELECT name || ': ' || COALESCE(sql, '') FROM sqlite_master ORDER BY name").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return strings.Join(rows, "\n")
}

func TestOpenChangesNothingButMissingTables(t *testing.T) {
	s, path := openTemp(t)
	createStudy(t, s, "keep")
	before := schema(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openPath(t, path)
	if after := schema(t, s2); after != before {
		t.Errorf("reopening changed the schema:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A goptuna-only database (as goptuna's own tools create) gains mpq's
	// tables and keeps goptuna's exactly.
	s3, path3 := openTemp(t)
	for _, m := range mpqModels() {
		if err := s3.db.Migrator().DropTable(m); err != nil {
			t.Fatal(err)
		}
	}
	goptunaOnly := schema(t, s3)
	s3.Close()
	s4 := openPath(t, path3)
	after := schema(t, s4)
	if !containsAll(after, strings.Split(goptunaOnly, "\n")) {
		t.Errorf("goptuna's tables changed:\nbefore:\n%s\nafter:\n%s", goptunaOnly, after)
	}
	if !s4.db.Migrator().HasTable("mpq_trial_results") {
		t.Error("mpq tables were not created")
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func TestOpenConcurrentFreshDatabase(t *testing.T) {
	// Workers that open a new file at the same moment must not trip over
	// each other's CREATE TABLE.
	path := filepath.Join(t.TempDir(), "fresh.db")
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), "sqlite://"+path)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestSQLiteHeaderCheckReadsOnly(t *testing.T) {
	// A real database passes the header check without being rewritten.
	s, path := openTemp(t)
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if err := checkSQLiteFile(path, fi.Size()); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("checkSQLiteFile changed the file")
	}
}
