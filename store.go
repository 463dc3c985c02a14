package main

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed schema.sql
var schemaSQL string

// Sentinel errors of the store. Handlers map them to each endpoint's answer.
var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("owned by another user")
	errClosed    = errors.New("ticket is closed")
	errOpen      = errors.New("ticket is open")
	// A locked ticket is an open one: errors.Is(errLocked, errOpen).
	errLocked = fmt.Errorf("ticket is locked: %w", errOpen)
	// errNoSuchAdmin: an assignment names no enabled admin.
	errNoSuchAdmin = errors.New("no such admin")
	// A note refused by the bounds on a ticket's notes (see maxTicketNotes).
	errTooManyNotes = errors.New("the ticket has as many notes as it may")
	errNotesTooLong = errors.New("the ticket's notes are as long as they may be")
	// errDatabaseGone: the database file was removed or replaced under the
	// running store (see watchFile). A write now would be acknowledged and
	// lost, so none is accepted.
	errDatabaseGone = errors.New("database file was removed or replaced")
)

// migrations[i] brings a database from schema version i to i+1: the
// statements under "-- migration i+1" in schema.sql. PRAGMA user_version
// records how many have run, so a newer ticketd upgrades an older file in
// place, each step in one transaction.
var migrations = splitMigrations(schemaSQL)

// splitMigrations cuts the schema into its steps.
func splitMigrations(schema string) []string {
	parts := strings.Split(schema, "\n-- migration ")
	steps := make([]string, 0, len(parts)-1)
	for i, part := range parts[1:] {
		if !strings.HasPrefix(part, strconv.Itoa(i+1)) {
			panic(fmt.Sprintf("schema.sql: migration %d is out of order", i+1))
		}
		_, statements, _ := strings.Cut(part, "\n") // past the marker line
		steps = append(steps, statements)
	}
	return steps
}

// syncMode is how hard a commit waits for the disk.
type syncMode string

const (
	syncNormal syncMode = "normal" // WAL + synchronous=NORMAL: survives a process crash
	syncFull   syncMode = "full"   // WAL + synchronous=FULL: also survives a power cut
)

// store is ticketd's SQLite database. One goroutine owns the one writer
// connection and commits every change, so writes never meet "database is
// locked" from inside the process; a pool of read-only connections runs
// beside it, which WAL allows.
type store struct {
	writer     *sql.DB
	reader     *sql.DB
	checkpoint *sql.DB
	prepared   map[string]*sql.Stmt // by query text; see preparedWrites
	// The read pool's prepared statements, by query text; see preparedReads.
	preparedReads map[string]*sql.Stmt
	// The prepared statements bound to the writer's current transaction,
	// by query text: binding one costs about as much as running it, so a
	// batch binds each once. Only the writer goroutine uses them.
	txStmts   map[string]*sql.Stmt
	txStmtsOf *sql.Tx
	keyLookup *sql.Stmt // on the read pool
	bellPath  string    // see credentialsBell
	now       func() time.Time
	// beforeTicketRead, when set, runs in fetchTicket after the view is
	// counted and before the ticket is read: tests hold a fetch there.
	beforeTicketRead func()
	// searchIndexed: the search index is on and may narrow searches (setSearchIndex).
	searchIndexed bool

	// The database file as it was opened, to notice when its path no
	// longer names it (see watchFile); gone is set once it does not.
	path, walPath string
	file          os.FileInfo
	gone          atomic.Bool
	log           *slog.Logger
	// changes tells the desk's live pages that tickets changed.
	changes *ticketFeed

	ops      chan *writeOp // to the writer goroutine
	maxBatch int
	// Counters for the log: writes committed or refused, and transactions.
	writes, transactions atomic.Int64
	closing              chan struct{}
	stopped              sync.WaitGroup // the writer, checkpointer and file watcher goroutines
	closed               sync.Once

	mu  sync.Mutex // guards rng
	rng *rand.Rand // case numbers and user tokens: unique and unguessable enough, not secret
}

// storeOptions configures openStore. Zero values give the defaults.
type storeOptions struct {
	sync     syncMode
	maxBatch int              // most requests committed in one transaction; 1 = one each
	now      func() time.Time // the clock; tests pin it
	seed     *[32]byte        // seeds case numbers and user tokens; tests pin it
	log      *slog.Logger     // where a removed database file is reported; nil: slog.Default()

	searchIndex searchIndexSetting // serve -search-index; commands leave it as it is
}

// defaultMaxBatch bounds group commit. Batches stay small in practice
// (about 10 writes at 32 clients); the bound only caps a burst's latency.
const defaultMaxBatch = 64

// Checkpoints copy the WAL back into the database file. Run inside the
// writer's commits (SQLite's default) they stall every request waiting
// on it, so a background connection does the bulk of the copying every
// checkpointInterval. That alone never lets the WAL start over while
// writes keep coming, because some frames are always newer than the last
// checkpoint; so every catchUpInterval the writer, between two
// transactions, copies the few remaining frames itself, and its next
// transaction restarts the WAL from the beginning. The catch-up costs the
// writer two fsyncs (~10-30 ms here), once a second.
const (
	checkpointInterval = 100 * time.Millisecond
	catchUpInterval    = time.Second
)

// openStore opens (creating it, mode 0600, when missing) the database at
// path, brings its schema up to date and starts the writer.
func openStore(ctx context.Context, path string, opts storeOptions) (*store, error) {
	if opts.sync == "" {
		opts.sync = syncNormal
	}
	if opts.sync != syncNormal && opts.sync != syncFull {
		return nil, fmt.Errorf("open store: unknown sync mode %q", opts.sync)
	}
	if opts.maxBatch < 1 {
		opts.maxBatch = defaultMaxBatch
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.log == nil {
		opts.log = slog.Default()
	}
	seed := randomSeed()
	if opts.seed != nil {
		seed = *opts.seed
	}

	// SQLite would create the file with the process umask; create it first so
	// that only its owner can read it. The -wal and -shm files take its mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	f.Close()

	// The doorbell is found by the file's real path, so that a command
	// given a link to the database rings the bell the server watches.
	realPath, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &store{
		bellPath:      realPath + "-keys",
		now:           opts.now,
		rng:           rand.New(rand.NewChaCha8(seed)),
		prepared:      map[string]*sql.Stmt{},
		preparedReads: map[string]*sql.Stmt{},
		txStmts:       map[string]*sql.Stmt{},
		changes:       newTicketFeed(),
		ops:           make(chan *writeOp),
		maxBatch:      opts.maxBatch,
		closing:       make(chan struct{}),
		log:           opts.log,
	}
	err = s.open(ctx, path, opts.sync, opts.searchIndex)
	if err == nil {
		err = s.rememberFile(path)
	}
	if err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Created only once the file has proved to be a database.
	if err := touchFile(s.bellPath, false); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.stopped.Add(3)
	go s.runWriter()
	go s.runCheckpointer()
	go s.watchFile()
	return s, nil
}

// rememberFile records which file path names now that SQLite has it open,
// and where its write-ahead log is: beside the file a symbolic link
// points to, as SQLite resolves links.
func (s *store) rememberFile(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	if s.file, err = os.Stat(target); err != nil {
		return err
	}
	s.path, s.walPath = abs, target+"-wal"
	return nil
}

// fileCheckInterval is how often watchFile looks: two stat calls each time.
const fileCheckInterval = 250 * time.Millisecond

// watchFile notices when the database path no longer names the file the
// store opened (it was removed, or another file was moved there) or its
// write-ahead log is gone. SQLite would go on writing to the open but
// unlinked files, and every write acknowledged from then on would be lost
// at the next start. From that moment the store refuses every write with
// errDatabaseGone, and ping fails, until the process restarts.
func (s *store) watchFile() {
	defer s.stopped.Done()
	tick := time.NewTicker(fileCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if problem := s.fileProblem(); problem != "" {
				s.gone.Store(true)
				s.log.Error("database file was removed or replaced: refusing every write until ticketd is restarted",
					"db", s.path, "problem", problem)
				return
			}
		case <-s.closing:
			return
		}
	}
}

// fileProblem says what is wrong with the database file, or "" when its
// path still names the file opened and the write-ahead log is there. A
// stat that fails for another reason than a missing file proves nothing.
func (s *store) fileProblem() string {
	info, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "the database file was removed"
	case err == nil && !os.SameFile(info, s.file):
		return "another file was put in the database file's place"
	}
	if _, err := os.Stat(s.walPath); errors.Is(err, fs.ErrNotExist) {
		return "the database's write-ahead log (" + filepath.Base(s.walPath) + ") was removed"
	}
	return ""
}

func (s *store) open(ctx context.Context, path string, mode syncMode, search searchIndexSetting) error {
	// busy_timeout comes first so that the pragmas after it wait out another
	// process (a "ticketd key" command) instead of failing.
	common := "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	var err error
	// wal_autocheckpoint is only a last resort that bounds the WAL (400 MB)
	// should the checkpoints above fall behind, e.g. behind a long read.
	s.writer, err = openPool(path+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous("+string(mode)+")"+
		"&_pragma=wal_autocheckpoint(100000)&_pragma=journal_size_limit(134217728)&_txlock=immediate", 1)
	if err != nil {
		return err
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.setSearchIndex(ctx, search); err != nil {
		return err
	}
	if s.reader, err = openPool(path+common+"&_pragma=query_only(1)", readConns); err != nil {
		return err
	}
	if s.checkpoint, err = openPool(path+common, 1); err != nil {
		return err
	}
	// Every connection opens the database and its write-ahead log now, and
	// keeps them: one opening them later, after they were removed, would
	// create new, empty ones at the path (see watchFile).
	if err := openConns(ctx, s.reader, readConns); err != nil {
		return err
	}
	if err := openConns(ctx, s.checkpoint, 1); err != nil {
		return err
	}
	for _, query := range preparedWrites {
		if s.prepared[query], err = s.writer.PrepareContext(ctx, query); err != nil {
			return fmt.Errorf("prepare %q: %w", query, err)
		}
	}
	for _, query := range preparedReads {
		if s.preparedReads[query], err = s.reader.PrepareContext(ctx, query); err != nil {
			return fmt.Errorf("prepare %q: %w", query, err)
		}
	}
	if s.keyLookup, err = s.reader.PrepareContext(ctx, keyLookupSQL); err != nil {
		return fmt.Errorf("prepare key lookup: %w", err)
	}
	return nil
}

// readConns is the size of the read pool.
const readConns = 8

// openConns opens n connections of db, each of which reads the database
// once (which opens its write-ahead log), and leaves them idle in db.
func openConns(ctx context.Context, db *sql.DB, n int) error {
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		var tables int
		if err := c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
			return err
		}
	}
	return nil
}

func openPool(dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// close stops the writer after the writes it was given, then closes every
// connection. The last to close checkpoints the WAL into the database file.
func (s *store) close() error {
	s.changes.close()
	s.closed.Do(func() { close(s.closing) })
	s.stopped.Wait()
	return s.closeDBs()
}

func (s *store) closeDBs() error {
	var errs []error
	// The writer goes last: the last connection to close checkpoints.
	for _, db := range []*sql.DB{s.reader, s.checkpoint, s.writer} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// migrate runs every migration step the file has not yet had, each in its
// own transaction together with the user_version that records it.
func (s *store) migrate(ctx context.Context) error {
	for {
		done, err := s.migrateStep(ctx)
		if err != nil || done {
			return err
		}
	}
}

func (s *store) migrateStep(ctx context.Context) (done bool, err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("migrate: read schema version: %w", err)
	}
	switch {
	case version == len(migrations):
		return true, nil
	case version > len(migrations):
		return false, fmt.Errorf("migrate: database schema version %d is newer than this ticketd (%d)", version, len(migrations))
	}
	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", version+1, err)
	}
	// PRAGMA takes no parameters; version is an int, not input.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(version+1)); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", version+1, err)
	}
	return false, nil
}

// ping reports whether the database answers a query, and is still the
// file the store opened.
func (s *store) ping(ctx context.Context) error {
	if s.gone.Load() {
		return errDatabaseGone
	}
	var n int
	return s.reader.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE id = 0").Scan(&n)
}

func (s *store) millis() int64 { return s.now().UnixMilli() }

// randomHex returns n random bytes from the store's generator, hex-encoded.
func (s *store) randomHex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 2*n)
	s.mu.Lock()
	for i := range n {
		v := byte(s.rng.Uint32())
		b[2*i], b[2*i+1] = digits[v>>4], digits[v&15]
	}
	s.mu.Unlock()
	return string(b)
}

func (s *store) randomCaseNumber() string {
	s.mu.Lock()
	n := 1_000_000 + s.rng.IntN(9_000_000)
	s.mu.Unlock()
	return strconv.Itoa(n)
}

// randomSeed returns 32 bytes from the operating system's generator.
func randomSeed() [32]byte {
	var seed [32]byte
	crand.Read(seed[:])
	return seed
}
