// Package store persists studies: goptuna's rdb.v2 tables over gorm (SQLite or
// PostgreSQL) plus mpq's own tables for objective vectors, provenance, config
// hashes, calibration and sensitivity results. It is the only package that
// touches gorm.
//
// # Opening
//
// Open takes a DSN: sqlite://path/to/study.db (relative to the working
// directory, or sqlite:///abs/path.db), sqlite://:memory:, or
// postgres://user:pass@host:5432/db (postgresql:// too). SQLite files are
// opened with _journal_mode=WAL, _busy_timeout=5000 and _txlock=immediate:
// with go-sqlite3's defaults, several workers sharing one file fail with
// "database is locked" as soon as two deferred transactions try to upgrade
// their read locks, and goptuna leaves their trials RUNNING. Open checks the
// path before SQLite sees it (missing or non-directory parent, read-only
// directory or file, a file that is not a SQLite database) and fails with a
// message that says what to change; a PostgreSQL server that does not answer
// fails within the connect timeout (5 s) naming host:port.
//
// Open creates the tables that are missing and changes nothing else: when all
// of goptuna's tables exist it does not run rdb.RunAutoMigrate (gorm's
// AutoMigrate may alter existing columns), and mpq's tables are only ever
// created. Table creation runs in one write transaction (an advisory lock on
// PostgreSQL) so that workers opening a fresh database together do not
// collide. WAL mode itself is recorded in the file's header.
//
// # Tables
//
// goptuna's: studies, study_user_attributes, study_system_attributes, trials,
// trial_params, trial_values, trial_user_attributes, trial_system_attributes
// (rdb.v2/model.go). mpq's, all prefixed mpq_:
//
//	mpq_study_meta     one row per study name: config hash and YAML, objective names, mpq version
//	mpq_trial_results  one row per (study, trial ID): plan, config key, raw metrics, objective vector
//	mpq_blobs          cached analysis results by (kind, key)
//	mpq_heartbeats     last heartbeat of each running trial, in Unix nanoseconds
//
// Floats: metric columns store NaN as NULL (SQLite cannot hold NaN; it turns
// it into NULL) and read NULL back as NaN. Objective vectors are JSON with
// NaN and ±Inf written as the strings "NaN", "+Inf" and "-Inf". Times are
// stored in UTC at microsecond precision.
//
// # Storage for goptuna
//
// Store.Storage wraps rdb.v2's storage. Every call is retried while the
// database reports "database is locked"/"busy" (SQLite) or a serialization
// failure, deadlock or lock timeout (PostgreSQL SQLSTATE 40001, 40P01,
// 55P03), with exponential backoff from 10 ms to 1 s and jitter, for at most
// the retry budget (30 s; WithRetryBudget), then it fails with an error
// wrapping ErrLocked that names the database. Retrying is safe: every such
// call either ran in a transaction that was rolled back or is one statement
// that did not take effect. Other errors pass through unchanged, because
// goptuna compares its sentinels with == (ErrTrialCannotBeUpdated ends the
// race for a WAITING trial). Two errors are translated: an unknown study name
// wraps ErrStudyNotFound and a taken one wraps ErrStudyExists, so callers can
// tell a first start from a resume without importing gorm. NaN trial values
// are refused on SQLite, where they would be stored as NULL and make rdb.v2
// fail to read the study.
//
// Samplers call GetAllTrials for every suggested parameter; rdb.v2 reads
// every trial, its parameters and attributes each time and decodes every
// distribution from JSON, so a study spends O(T²) in storage (measured: 62–72 s
// in GetAllTrials for 1,000 trials over four categorical parameters). The wrapper keeps, per
// study, the trials it has read in a finished state (COMPLETE, PRUNED, FAIL)
// and the highest trial ID it has read. Each call then:
//
//  1. counts the study's trials;
//  2. reads the trial rows with an ID above the highest one, and the rows of
//     the trials it last saw RUNNING or WAITING (or whose cache entry a write
//     evicted);
//  3. reads parameters, intermediate values and attributes of those trials
//     only (IN lists of at most 500 IDs), and converts them as rdb.v2 does;
//  4. keeps the finished ones, and returns copies of all trials in ID order.
//
// It queries rdb.v2's tables through read-only mirrors of its models rather
// than through rdb.v2's methods: rdb.v2 can read one trial (GetTrial, five
// queries) or all of them, not "the trials above ID n", and fetching new
// trials one by one would cost five queries each. Tests compare every view
// with rdb.v2's own GetAllTrials.
//
// Correctness across processes rests on three facts. Finished trials do not
// change: goptuna refuses new values, intermediate values and states once a
// trial is finished; the parameters and attributes it still lets a caller
// write are evicted from this Store's cache on write (another process writing
// attributes into a finished trial is not seen by a warm cache). New trials
// get higher IDs: rdb.v2 creates trials while holding a lock on the study
// (SQLite's write lock; SELECT ... FOR UPDATE on PostgreSQL), so IDs are
// handed out in commit order within a study; if a trial with a lower ID
// appears anyway, the count of step 1 comes out above what the cache holds
// and the cache is rebuilt. A trial row is read before its child rows, so a
// trial cached as finished was finished before its children were read.
// goptuna never deletes single trials; a study deleted through another handle
// keeps being served from a warm cache until this Store is reopened.
//
// GetAllTrials returns copies of the cached trials' maps: goptuna's own
// IntersectionSearchSpace deletes from a trial's Distributions. Copying is
// most of what the wrapper costs (measured: 3–4.5 s of GetAllTrials over the
// same 1,000-trial study, against 1 s without copies and 62–72 s for rdb.v2;
// goptuna's in-memory storage, which shares its maps, takes 0.2–0.3 s).
//
// # Dead workers
//
// goptuna has no heartbeat: a worker that dies leaves its trial RUNNING
// forever. ClaimTrial records a trial's first heartbeat; the worker calls
// Heartbeat(ctx, trialID) periodically while it evaluates the trial and
// Release when done; on resume, FailStale fails the
// RUNNING trials whose heartbeat (or, without one, start time) is older than
// a threshold, in one transaction, and returns them with their parameters so
// their configurations can be enqueued again (Study.EnqueueTrial takes the
// internal values in FrozenTrial.InternalParams). Heartbeats are integers
// because SQLite stores times as text that does not compare across offsets.
//
// # Claiming trials
//
// ClaimTrial is how workers start trials: in one transaction holding the
// study's lock (SQLite's write lock; the study row FOR UPDATE on PostgreSQL,
// the lock rdb.v2 takes to number trials) it counts the study's finished and
// running trials and, below the target, pops the oldest WAITING trial or
// creates a new one, setting its owner attribute and first heartbeat. Two
// workers therefore never both take the last place of a study, whatever
// process or machine they run in, and a claimed trial always has an owner
// for recovery to judge. (Counting with GetAllTrials and then creating a
// trial is two steps: workers of different processes that count at the same
// moment all start a trial, and a study ends with more than its target.)
//
// Lock is an advisory lock by name, for work that one worker should do for
// all (seeding a new study): an flock on "<database>-mpqlock" next to a
// SQLite file, a session-level advisory lock on PostgreSQL. The operating
// system or the server drops it when its holder dies.
//
// # Concurrency
//
// A Store is safe for concurrent use. Several Stores, in one process or
// many, may share a database; each keeps its own cache. Measured on SQLite:
// four workers with their own handle run 25 TPE trials each on one file with
// every trial COMPLETE exactly once and numbers 0..99.
package store
