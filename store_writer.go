// The store's one writer: group commit, prepared statements, checkpoints.

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
)

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
		var err error
		if s.gone.Load() {
			err = errDatabaseGone // see watchFile
		} else {
			err = s.commitBatch(batch, results)
		}
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
// or zero-row result undoes only its own changes, re-indexes the text they
// changed for searches, and commits them all. It
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
		if err := s.reindexChanged(ctx, tx); err != nil {
			return err
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
	if err := s.reindexChanged(ctx, tx); err != nil {
		return err
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
	findAdminSQL, issueCaseNumberSQL, insertTicketSQL, insertStatisticSQL, insertNoteSQL, countNoteSQL,
	changeTicketSQL, updatedTicketSQL, ticketIDSQL, ticketOwnerSQL, explainMissSQL, resolveTicketSQL, reopenTicketSQL,
	staffStateSQL, staffUpdateSQL, deleteTicketSQL,
	countViewSQL,
	textChangedSQL, reindexChangedSQL, clearChangedSQL,
}

// preparedReads are the read pool's statements, prepared once at start-up.
var preparedReads = []string{selectTicketSQL, selectNotesSQL, selectStatisticsSQL}

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

// readStmt returns the statement prepared on the read pool at start-up for
// query, in tx, a transaction of the read pool.
func (s *store) readStmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	prepared, ok := s.preparedReads[query]
	if !ok {
		panic("statement not prepared at start-up: " + query)
	}
	return tx.StmtContext(ctx, prepared)
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
