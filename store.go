package main

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"database/sql/driver"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"modernc.org/sqlite"
)

//go:embed schema.sql
var schemaSQL string

// Sentinel errors of the store. Handlers map them to each endpoint's answer.
var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("owned by another user")
	errClosed    = errors.New("ticket is closed")
)

// migrations[i] brings a database from schema version i to i+1. PRAGMA
// user_version records how many have run, so a newer ticketd upgrades an
// older file in place. Append steps; never edit one that has shipped.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, schemaSQL)
		return err
	},
}

func init() {
	// SQLite's own lower() and LIKE fold ASCII only; searches fold all of
	// Unicode. VolatileArgs: the functions keep no argument past their call,
	// and only so does the driver pass TEXT whole (NUL included) and uncopied.
	sqlite.MustRegisterFunction("ticketd_fold", &sqlite.FunctionImpl{
		NArgs: 1, Deterministic: true, VolatileArgs: true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			if s, ok := args[0].(string); ok {
				return strings.Clone(foldCase(s)), nil
			}
			return nil, nil
		},
	})
	// ticketd_match(a, b, needle): whether the folded needle occurs in a or
	// in b, folded. One call per row instead of two.
	sqlite.MustRegisterFunction("ticketd_match", &sqlite.FunctionImpl{
		NArgs: 3, Deterministic: true, VolatileArgs: true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			a, _ := args[0].(string)
			b, _ := args[1].(string)
			needle, _ := args[2].(string)
			return containsFolded(a, needle) || containsFolded(b, needle), nil
		},
	})
}

// foldCase maps s to a form in which strings that differ only in letter
// case, in any script, are equal ("École" and "ÉCOLE" both become "école").
// ASCII letters fold to their lower case.
func foldCase(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
}

// containsFolded reports whether needle, already folded, occurs in
// foldCase(s). An ASCII s is searched in place: most text is ASCII, and
// folding it would allocate a copy for every row a search reads.
func containsFolded(s, needle string) bool {
	if !isASCII(s) {
		return strings.Contains(foldCase(s), needle)
	}
	if !isASCII(needle) {
		return false // a folded ASCII string is ASCII
	}
	for i := 0; i+len(needle) <= len(s); i++ {
		if asciiLowerPrefix(s[i:], needle) {
			return true
		}
	}
	return false
}

func asciiLowerPrefix(s, lowerPrefix string) bool {
	for j := range len(lowerPrefix) {
		c := s[j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lowerPrefix[j] {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
	// The prepared statements bound to the writer's current transaction,
	// by query text: binding one costs about as much as running it, so a
	// batch binds each once. Only the writer goroutine uses them.
	txStmts   map[string]*sql.Stmt
	txStmtsOf *sql.Tx
	keyLookup *sql.Stmt // on the read pool
	keysPath  string    // see keysVersion
	now       func() time.Time

	ops      chan *writeOp // to the writer goroutine
	maxBatch int
	// Counters for the log: writes committed or refused, and transactions.
	writes, transactions atomic.Int64
	closing              chan struct{}
	stopped              sync.WaitGroup // the writer and checkpointer goroutines
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

	if err := touchFile(path+"-keys", false); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &store{
		keysPath: path + "-keys",
		now:      opts.now,
		rng:      rand.New(rand.NewChaCha8(seed)),
		prepared: map[string]*sql.Stmt{},
		txStmts:  map[string]*sql.Stmt{},
		ops:      make(chan *writeOp),
		maxBatch: opts.maxBatch,
		closing:  make(chan struct{}),
	}
	if err := s.open(ctx, path, opts.sync); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.stopped.Add(2)
	go s.runWriter()
	go s.runCheckpointer()
	return s, nil
}

func (s *store) open(ctx context.Context, path string, mode syncMode) error {
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
	if s.reader, err = openPool(path+common+"&_pragma=query_only(1)", 8); err != nil {
		return err
	}
	if s.checkpoint, err = openPool(path+common, 1); err != nil {
		return err
	}
	for _, query := range preparedWrites {
		if s.prepared[query], err = s.writer.PrepareContext(ctx, query); err != nil {
			return fmt.Errorf("prepare %q: %w", query, err)
		}
	}
	if s.keyLookup, err = s.reader.PrepareContext(ctx, keyLookupSQL); err != nil {
		return fmt.Errorf("prepare key lookup: %w", err)
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
	if err := migrations[version](ctx, tx); err != nil {
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

// ---- the writer ----

// writeFunc makes one request's changes inside the writer's transaction.
// Its ctx is the writer's, not the request's: a client that goes away must
// not interrupt a transaction that holds other clients' writes.
type writeFunc func(ctx context.Context, tx *sql.Tx) error

// writeOp is one request's writes, waiting for the writer goroutine.
type writeOp struct {
	ctx  context.Context // the request's: if it ends before its turn, fn never runs
	fn   writeFunc
	done chan error
}

var errStoreClosed = errors.New("store closed")

// write has the writer goroutine run fn in a transaction, and returns once
// that transaction has committed (fn's changes are durable) or fn's error
// (its changes are undone). Every change of the store goes through it.
func (s *store) write(ctx context.Context, fn writeFunc) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- op:
		return <-op.done
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errStoreClosed
	}
}

// runWriter is group commit: it takes every write waiting (up to maxBatch)
// and commits them in one transaction. Nothing waits on a timer, so at low
// load a batch is one request.
func (s *store) runWriter() {
	defer s.stopped.Done()
	batch := make([]*writeOp, 0, s.maxBatch)
	opErrs := make([]error, s.maxBatch)
	lastCatchUp := time.Now()
	for {
		select {
		case op := <-s.ops:
			batch = append(batch[:0], op)
		case <-s.closing:
			return
		}
		s.takeWaiting(&batch)
		// Found alone, a write lets the handlers that are already runnable
		// reach the queue before its batch closes. This is no timer: with
		// nothing else to run it returns at once, so a lone request still
		// commits alone. Under load it took the batch from 3.5 to 9-10 writes
		// (32 connections), and each commit costs as much as ~1.5 updates.
		// Yielding also when others were waiting, after a -sync full commit
		// say, only kept the writer from them: 3% fewer requests in 3 pairs
		// of runs.
		if len(batch) == 1 && s.maxBatch > 1 {
			runtime.Gosched()
			s.takeWaiting(&batch)
		}
		results := opErrs[:len(batch)]
		err := s.commitBatch(batch, results)
		s.writes.Add(int64(len(batch)))
		s.transactions.Add(1)
		for i, op := range batch {
			op.done <- firstErr(err, results[i])
		}
		if time.Since(lastCatchUp) >= catchUpInterval && !s.catchUp() {
			lastCatchUp = time.Now()
		}
	}
}

// takeWaiting adds the writes waiting in the queue to batch, up to maxBatch.
func (s *store) takeWaiting(batch *[]*writeOp) {
	for len(*batch) < s.maxBatch {
		select {
		case op := <-s.ops:
			*batch = append(*batch, op)
		default:
			return
		}
	}
}

// catchUp copies the frames the background checkpoints left in the WAL,
// between two of the writer's transactions, so that its next transaction
// restarts the WAL. It reports whether it found the background checkpointer
// holding the checkpoint lock: then the writer tries again after its next
// batch, not a second later. Left to the next second, collisions ran for
// seconds in a row under load, and the WAL grew until SQLite's own
// autocheckpoint stalled a commit for ~250 ms. Any other failure (a long
// reader still using old frames, say) waits for the next interval.
func (s *store) catchUp() (busy bool) {
	var locked, frames, copied int
	err := s.writer.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&locked, &frames, &copied)
	return err == nil && locked != 0
}

// commitBatch runs each op in its own SAVEPOINT, so that one op's failure
// or zero-row result undoes only its own changes, and commits them all. It
// returns an error only when the transaction as a whole failed.
func (s *store) commitBatch(batch []*writeOp, results []error) error {
	ctx := context.Background()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(batch) == 1 {
		if results[0] = runOp(ctx, tx, batch[0]); results[0] != nil {
			return nil // nothing to commit; the deferred rollback undoes it
		}
		return tx.Commit()
	}
	for i, op := range batch {
		if _, err := s.stmt(ctx, tx, savepointSQL).ExecContext(ctx); err != nil {
			return err
		}
		if results[i] = runOp(ctx, tx, op); results[i] != nil {
			if _, err := s.stmt(ctx, tx, rollbackToSavepointSQL).ExecContext(ctx); err != nil {
				return err
			}
		}
		if _, err := s.stmt(ctx, tx, releaseSavepointSQL).ExecContext(ctx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// runOp runs one op's function; a panic in it is its own error, not the
// writer's end.
func runOp(ctx context.Context, tx *sql.Tx, op *writeOp) (err error) {
	if err := op.ctx.Err(); err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in write: %v\n%s", v, debug.Stack())
		}
	}()
	return op.fn(ctx, tx)
}

const (
	savepointSQL           = "SAVEPOINT request"
	rollbackToSavepointSQL = "ROLLBACK TO request"
	releaseSavepointSQL    = "RELEASE request"
)

// preparedWrites are the writer's statements, prepared once at start-up so
// that no request pays for parsing them.
var preparedWrites = []string{
	savepointSQL, rollbackToSavepointSQL, releaseSavepointSQL,
	issueCaseNumberSQL, insertTicketSQL, insertStatisticSQL, insertNoteSQL,
	updateTicketSQL, updatedTicketSQL, explainMissSQL, resolveTicketSQL, deleteTicketSQL,
	fetchTicketSQL, selectNotesSQL, selectStatisticsSQL,
}

// stmt returns the statement prepared at start-up for query, in tx, the
// writer's transaction.
func (s *store) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if tx != s.txStmtsOf {
		clear(s.txStmts) // database/sql closed them with their transaction
		s.txStmtsOf = tx
	}
	if bound, ok := s.txStmts[query]; ok {
		return bound
	}
	prepared, ok := s.prepared[query]
	if !ok {
		panic("statement not prepared at start-up: " + query)
	}
	bound := tx.StmtContext(ctx, prepared)
	s.txStmts[query] = bound
	return bound
}

// runCheckpointer copies the WAL into the database file now and then from
// its own connection, so that checkpoints (which sync the file) stay off the
// writer's commits.
func (s *store) runCheckpointer() {
	defer s.stopped.Done()
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			// A busy or failed checkpoint is retried on the next tick, and the
			// writer's own autocheckpoint still bounds the WAL.
			s.checkpoint.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		case <-s.closing:
			return
		}
	}
}

// ping reports whether the database answers a query.
func (s *store) ping(ctx context.Context) error {
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

// ---- users and API keys ----

// user is an account: the owner of tickets and API keys.
type user struct {
	ID       int64
	Token    string // public id (UserToken); never a key
	Email    string
	FullName string
	Admin    bool
}

// apiKeyInfo is what "key list" shows of a key: never the key or its hash.
type apiKeyInfo struct {
	ID       int64
	Email    string
	Created  time.Time
	LastUsed *time.Time
	Revoked  *time.Time
}

// keysVersion returns a number that changes whenever a key is added or
// revoked, by this process or any other: the size of the file beside the
// database to which every such change appends a byte once it has committed.
// A cache of keys is current while the number stays the same. It returns -1
// when the file cannot be read: then nothing may be cached.
func (s *store) keysVersion() int64 {
	info, err := os.Stat(s.keysPath)
	if err != nil {
		return -1
	}
	return info.Size()
}

// keysChanged records a committed change of the keys (see keysVersion).
func (s *store) keysChanged() error {
	if err := touchFile(s.keysPath, true); err != nil {
		return fmt.Errorf("record key change (running servers may keep using the old keys until restarted): %w", err)
	}
	return nil
}

// touchFile creates the file, mode 0600, when missing, and appends a byte
// to it when grow is set.
func touchFile(path string, grow bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if grow {
		_, err = f.Write([]byte{'\n'})
	}
	return errors.Join(err, f.Close())
}

// addKey stores the hash of a new key for the user with this email,
// creating the user when the email is new (fullName, or the email when
// blank, and admin apply only then). It returns the key's id.
func (s *store) addKey(ctx context.Context, email, fullName string, admin bool, hash []byte) (int64, error) {
	if fullName == "" {
		fullName = email
	}
	var keyID int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		userID, err := s.ensureUser(ctx, tx, email, fullName, admin)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx,
			"INSERT INTO api_keys (user_id, hash, created_at) VALUES (?, ?, ?) RETURNING id",
			userID, hash, s.millis()).Scan(&keyID)
	})
	if err != nil {
		return 0, fmt.Errorf("add key for %s: %w", email, err)
	}
	return keyID, s.keysChanged()
}

// ensureUser returns the id of the user with this email, creating it first
// when there is none.
func (s *store) ensureUser(ctx context.Context, tx *sql.Tx, email, fullName string, admin bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE email = ?", email).Scan(&id)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	err = tx.QueryRowContext(ctx,
		"INSERT INTO users (token, email, full_name, admin, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		s.randomHex(12), email, fullName, admin, s.millis()).Scan(&id)
	return id, err
}

// listKeys returns every key, oldest first.
func (s *store) listKeys(ctx context.Context) ([]apiKeyInfo, error) {
	rows, err := s.reader.QueryContext(ctx, `
		SELECT k.id, u.email, k.created_at, k.last_used_at, k.revoked_at
		FROM api_keys k JOIN users u ON u.id = k.user_id
		ORDER BY k.id`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var keys []apiKeyInfo
	for rows.Next() {
		var k apiKeyInfo
		var created int64
		var lastUsed, revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Email, &created, &lastUsed, &revoked); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		k.Created = time.UnixMilli(created).UTC()
		k.LastUsed = optionalTime(lastUsed)
		k.Revoked = optionalTime(revoked)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// revokeKey revokes the key with this id. It returns errNotFound when there
// is no such key; revoking a revoked key succeeds and keeps the first time.
func (s *store) revokeKey(ctx context.Context, id int64) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return changedARow(tx.ExecContext(ctx,
			"UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", s.millis(), id))
	})
	if err != nil {
		return fmt.Errorf("revoke key %d: %w", id, err)
	}
	return s.keysChanged()
}

const keyLookupSQL = `
	SELECT k.id, u.id, u.token, u.email, u.full_name, u.admin
	FROM api_keys k JOIN users u ON u.id = k.user_id
	WHERE k.hash = ? AND k.revoked_at IS NULL`

// userByKeyHash returns the key's id and its user when the key exists and is
// not revoked, else errNotFound. It reads committed state on every call, so a
// revocation by any process counts from the next request.
func (s *store) userByKeyHash(ctx context.Context, hash []byte) (int64, user, error) {
	var keyID int64
	var u user
	err := s.keyLookup.QueryRowContext(ctx, hash).Scan(&keyID, &u.ID, &u.Token, &u.Email, &u.FullName, &u.Admin)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, user{}, errNotFound
	}
	if err != nil {
		return 0, user{}, fmt.Errorf("look up key: %w", err)
	}
	return keyID, u, nil
}

// touchKeys records when keys were last used (key id to Unix milliseconds).
func (s *store) touchKeys(ctx context.Context, lastUsed map[int64]int64) error {
	if len(lastUsed) == 0 {
		return nil
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for id, ms := range lastUsed {
			if _, err := tx.ExecContext(ctx,
				"UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?", ms, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record key use: %w", err)
	}
	return nil
}

// countUsersAndKeys returns how many users and how many usable keys exist.
func (s *store) countUsersAndKeys(ctx context.Context) (users, keys int, err error) {
	err = s.reader.QueryRowContext(ctx, `
		SELECT (SELECT count(*) FROM users),
		       (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL)`).Scan(&users, &keys)
	if err != nil {
		return 0, 0, fmt.Errorf("count users and keys: %w", err)
	}
	return users, keys, nil
}

// ---- tickets ----

// ticket is a ticket's own fields, without its notes and statistics.
type ticket struct {
	ID               int64
	CaseNumber       string
	Subject          string
	Description      string
	Priority         int
	ResourceAffected string
	Open             bool
	Created          time.Time
	Closed           *time.Time
	ClosedBy         *string
	Views            int64
}

// ticketEntry is a note or a statistics entry.
type ticketEntry struct {
	ID        int64
	Date      time.Time
	Text      string // the note, or the statistics action
	UserToken string // statistics only
}

// ticketDetail is a ticket with its owner, notes and statistics, oldest first.
type ticketDetail struct {
	ticket
	Owner      user
	Notes      []ticketEntry
	Statistics []ticketEntry
}

// newTicket is what creating a ticket takes.
type newTicket struct {
	Subject, Description, ResourceAffected string
	Priority                               int
}

// ticketChange is an update: nil fields are left as they are.
type ticketChange struct {
	Subject, Description, Note *string
}

// createTicket creates an open ticket owned by owner, with a fresh case
// number, its "Ticket created via API" note and its "create" statistic.
func (s *store) createTicket(ctx context.Context, owner user, nt newTicket) (ticket, error) {
	var t ticket
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		t, err = s.insertTicket(ctx, tx, owner, nt)
		return err
	})
	if err != nil {
		return ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	return t, nil
}

const insertTicketSQL = `
	INSERT INTO tickets (case_number, owner, subject, description, priority, resource_affected, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	RETURNING id, case_number, subject, description, priority, resource_affected, open, created_at`

func (s *store) insertTicket(ctx context.Context, tx *sql.Tx, owner user, nt newTicket) (ticket, error) {
	caseNumber, err := s.issueCaseNumber(ctx, tx)
	if err != nil {
		return ticket{}, err
	}
	now := s.millis()
	var t ticket
	var created int64
	err = s.stmt(ctx, tx, insertTicketSQL).QueryRowContext(ctx, caseNumber, owner.ID, nt.Subject, nt.Description, nt.Priority, nt.ResourceAffected, now).
		Scan(&t.ID, &t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.ResourceAffected, &t.Open, &created)
	if err != nil {
		return ticket{}, err
	}
	t.Created = time.UnixMilli(created).UTC()
	return t, s.record(ctx, tx, t.ID, owner.ID, now, "create", "Ticket created via API")
}

const issueCaseNumberSQL = "INSERT INTO case_numbers (case_number) VALUES (?) ON CONFLICT DO NOTHING"

// issueCaseNumber draws random case numbers until one has never been issued.
func (s *store) issueCaseNumber(ctx context.Context, tx *sql.Tx) (string, error) {
	// 9,000,000 numbers: even with most of them taken, a hundred draws miss
	// only when the space is all but exhausted.
	for range 100 {
		n := s.randomCaseNumber()
		res, err := s.stmt(ctx, tx, issueCaseNumberSQL).ExecContext(ctx, n)
		if err != nil {
			return "", err
		}
		if added, err := res.RowsAffected(); err != nil || added == 1 {
			return n, err
		}
	}
	return "", errors.New("issue case number: no free case number found")
}

const (
	insertStatisticSQL = "INSERT INTO statistics (ticket_id, created_at, user_id, action) VALUES (?, ?, ?, ?)"
	insertNoteSQL      = "INSERT INTO notes (ticket_id, created_at, body) VALUES (?, ?, ?)"
)

// record writes a statistics entry, and a note when note is not empty.
func (s *store) record(ctx context.Context, tx *sql.Tx, ticketID, userID, now int64, action, note string) error {
	if _, err := s.stmt(ctx, tx, insertStatisticSQL).ExecContext(ctx, ticketID, now, userID, action); err != nil {
		return err
	}
	if note == "" {
		return nil
	}
	_, err := s.stmt(ctx, tx, insertNoteSQL).ExecContext(ctx, ticketID, now, note)
	return err
}

// updateTicketSQL decides an update. Its WHERE clause is the whole rule:
// only the owner, only while open.
const updateTicketSQL = `
	UPDATE tickets SET subject = coalesce(?, subject), description = coalesce(?, description)
	WHERE case_number = ? AND owner = ? AND open`

// updatedTicketSQL reads the row an update has just changed, for the answer.
// Reading it apart costs less than RETURNING, which builds a temporary table
// for every statement: ~4 µs of the writer's time per update.
const updatedTicketSQL = "SELECT id, case_number, subject, description, priority, open FROM tickets WHERE case_number = ?"

// updateTicket applies ch to the caller's open ticket and records an
// "update" statistic (and ch.Note) in the same transaction. It returns
// errNotFound, errForbidden (another user's ticket) or errClosed (the
// caller's, but closed), in that precedence.
func (s *store) updateTicket(ctx context.Context, caller user, caseNumber string, ch ticketChange) (ticket, error) {
	var t ticket
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := changedARow(s.stmt(ctx, tx, updateTicketSQL).ExecContext(ctx, ch.Subject, ch.Description, caseNumber, caller.ID))
		if errors.Is(err, errNotFound) {
			return s.explainMiss(ctx, tx, caseNumber, caller.ID)
		}
		if err != nil {
			return err
		}
		err = s.stmt(ctx, tx, updatedTicketSQL).QueryRowContext(ctx, caseNumber).
			Scan(&t.ID, &t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.Open)
		if err != nil {
			return err
		}
		note := ""
		if ch.Note != nil {
			note = *ch.Note
		}
		return s.record(ctx, tx, t.ID, caller.ID, s.millis(), "update", note)
	})
	if err != nil {
		return ticket{}, fmt.Errorf("update ticket %s: %w", caseNumber, err)
	}
	return t, nil
}

const explainMissSQL = "SELECT owner, open FROM tickets WHERE case_number = ?"

// explainMiss says why a conditional statement matched no row: errNotFound,
// errForbidden or errClosed. It runs inside the same transaction, so the
// answer describes the state the statement saw; it never decides anything.
func (s *store) explainMiss(ctx context.Context, tx *sql.Tx, caseNumber string, callerID int64) error {
	var owner int64
	var open bool
	err := s.stmt(ctx, tx, explainMissSQL).QueryRowContext(ctx, caseNumber).Scan(&owner, &open)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound
	case err != nil:
		return err
	case owner != callerID:
		return errForbidden
	case !open:
		return errClosed
	}
	return fmt.Errorf("ticket %s matched no row but is open and owned by the caller", caseNumber)
}

const resolveTicketSQL = `
	UPDATE tickets SET open = 0, closed_at = ?, closed_by = ?
	WHERE case_number = ? AND owner = ? AND open
	RETURNING id, case_number, subject, closed_at, closed_by`

// resolveTicket closes the caller's open ticket, with its "Ticket resolved
// via API" note and "resolve" statistic. It returns errNotFound when the
// ticket does not exist, is another user's, or is already closed.
func (s *store) resolveTicket(ctx context.Context, caller user, caseNumber string) (ticket, error) {
	var t ticket
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := s.millis()
		var closed int64
		var closedBy string
		err := s.stmt(ctx, tx, resolveTicketSQL).QueryRowContext(ctx, now, caller.FullName, caseNumber, caller.ID).
			Scan(&t.ID, &t.CaseNumber, &t.Subject, &closed, &closedBy)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		closedAt := time.UnixMilli(closed).UTC()
		t.Closed, t.ClosedBy = &closedAt, &closedBy
		return s.record(ctx, tx, t.ID, caller.ID, now, "resolve", "Ticket resolved via API")
	})
	if err != nil {
		return ticket{}, fmt.Errorf("resolve ticket %s: %w", caseNumber, err)
	}
	return t, nil
}

const (
	fetchTicketSQL = `
		UPDATE tickets SET views = views + 1
		WHERE case_number = ? AND owner = ?
		RETURNING id, case_number, subject, description, priority, resource_affected, open,
		          created_at, closed_at, closed_by, views`
	selectNotesSQL      = "SELECT id, created_at, body, '' FROM notes WHERE ticket_id = ? ORDER BY id"
	selectStatisticsSQL = `
		SELECT s.id, s.created_at, s.action, u.token
		FROM statistics s JOIN users u ON u.id = s.user_id
		WHERE s.ticket_id = ? ORDER BY s.id`
)

// fetchTicket returns the caller's ticket with its notes and statistics,
// counting this fetch in its views. It returns errNotFound when the ticket
// does not exist or is another user's.
func (s *store) fetchTicket(ctx context.Context, caller user, caseNumber string) (ticketDetail, error) {
	d := ticketDetail{Owner: caller}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		t := &d.ticket
		var created int64
		var closed sql.NullInt64
		var closedBy sql.NullString
		err := s.stmt(ctx, tx, fetchTicketSQL).QueryRowContext(ctx, caseNumber, caller.ID).
			Scan(&t.ID, &t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.ResourceAffected, &t.Open,
				&created, &closed, &closedBy, &t.Views)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		t.Created = time.UnixMilli(created).UTC()
		t.Closed = optionalTime(closed)
		if closedBy.Valid {
			t.ClosedBy = &closedBy.String
		}
		if d.Notes, err = queryEntries(ctx, s.stmt(ctx, tx, selectNotesSQL), t.ID); err != nil {
			return err
		}
		d.Statistics, err = queryEntries(ctx, s.stmt(ctx, tx, selectStatisticsSQL), t.ID)
		return err
	})
	if err != nil {
		return ticketDetail{}, fmt.Errorf("fetch ticket %s: %w", caseNumber, err)
	}
	return d, nil
}

const deleteTicketSQL = "DELETE FROM tickets WHERE case_number = ? AND owner = ? AND open"

// deleteTicket deletes the caller's open ticket with its notes and
// statistics. It returns errNotFound when the ticket does not exist, is
// closed, or is another user's. Its case number stays issued.
func (s *store) deleteTicket(ctx context.Context, caller user, caseNumber string) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return changedARow(s.stmt(ctx, tx, deleteTicketSQL).ExecContext(ctx, caseNumber, caller.ID))
	})
	if err != nil {
		return fmt.Errorf("delete ticket %s: %w", caseNumber, err)
	}
	return nil
}

// ticketFilter selects one owner's open or closed tickets.
type ticketFilter struct {
	Open     bool
	Search   string // a substring of subject or description, any letter case; "" for all
	Platform string // resource_affected, any letter case; "" for all
	Priority int    // 0 for all
}

// listTickets returns how many of the owner's tickets match f, and at most
// limit of them after skipping offset, newest first (ties: the later created
// first). Both come from one snapshot.
func (s *store) listTickets(ctx context.Context, owner user, f ticketFilter, offset, limit int64) (int64, []ticket, error) {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, nil, fmt.Errorf("list tickets: %w", err)
	}
	defer tx.Rollback()
	countSQL, pageSQL, args := listTicketsSQL(owner, f)
	var total int64
	if err := tx.QueryRowContext(ctx, countSQL, args...).Scan(&total); err != nil {
		return 0, nil, fmt.Errorf("list tickets: count: %w", err)
	}
	tickets := []ticket{}
	if offset >= total {
		return total, tickets, nil
	}
	rows, err := tx.QueryContext(ctx, pageSQL, append(args, limit, offset)...)
	if err != nil {
		return 0, nil, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t ticket
		var created int64
		if err := rows.Scan(&t.CaseNumber, &t.Subject, &created, &t.Priority, &t.ResourceAffected); err != nil {
			return 0, nil, fmt.Errorf("list tickets: %w", err)
		}
		t.Created = time.UnixMilli(created).UTC()
		tickets = append(tickets, t)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("list tickets: %w", err)
	}
	return total, tickets, nil
}

// listTicketsSQL returns listTickets' count and page statements and their
// arguments (the page statement takes limit and offset after them). Only the
// filters in use are in the WHERE clause, so that a plain count needs only
// the index on (owner, open, created_at), which also gives the order.
// ticketd_match, not LIKE: every character of a search is literal.
func listTicketsSQL(owner user, f ticketFilter) (count, page string, args []any) {
	where := " WHERE owner = ? AND open = ?"
	args = []any{owner.ID, f.Open}
	if f.Search != "" {
		where += " AND ticketd_match(subject, description, ?)"
		args = append(args, foldCase(f.Search))
	}
	if f.Platform != "" {
		where += " AND ticketd_fold(resource_affected) = ?"
		args = append(args, foldCase(f.Platform))
	}
	if f.Priority != 0 {
		where += " AND priority = ?"
		args = append(args, f.Priority)
	}
	count = "SELECT count(*) FROM tickets" + where
	page = "SELECT case_number, subject, created_at, priority, resource_affected FROM tickets" + where +
		" ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
	return count, page, args
}

func queryEntries(ctx context.Context, query *sql.Stmt, ticketID int64) ([]ticketEntry, error) {
	rows, err := query.QueryContext(ctx, ticketID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := []ticketEntry{}
	for rows.Next() {
		var e ticketEntry
		var ms int64
		if err := rows.Scan(&e.ID, &ms, &e.Text, &e.UserToken); err != nil {
			return nil, err
		}
		e.Date = time.UnixMilli(ms).UTC()
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

func optionalTime(ms sql.NullInt64) *time.Time {
	if !ms.Valid {
		return nil
	}
	t := time.UnixMilli(ms.Int64).UTC()
	return &t
}

// changedARow takes an Exec's outcome: errNotFound when it changed no row.
func changedARow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return firstErr(err, errNotFound)
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
