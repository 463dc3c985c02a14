package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"modernc.org/sqlite"
)

// ticketd's schema.sql calls ticketd_fold (migration 2 folds each ticket's
// platform into platform_key), so ceiling (b), which runs that schema,
// registers it as ticketd does (store_search.go).
func init() {
	sqlite.MustRegisterFunction("ticketd_fold", &sqlite.FunctionImpl{
		NArgs: 1, Deterministic: true, VolatileArgs: true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			if s, ok := args[0].(string); ok {
				return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s), nil
			}
			return nil, nil
		},
	})
}

// ---- ceiling (a): a no-op net/http handler ----

// noopServer is an in-process HTTP server whose handler does only what any
// JSON API must: read the body, decode it, encode and write a reply.
type noopServer struct {
	addr string
	srv  *http.Server
}

func startNoop() (*noopServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("no-op server: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(noopUpdate), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return &noopServer{addr: ln.Addr().String(), srv: srv}, nil
}

func (n *noopServer) close() { n.srv.Close() }

// noopReply has the shape of ticketd's update answer, so that the reply is
// as long as ticketd's and costs as much to encode.
type noopReply struct {
	Response bool   `json:"Response"`
	Message  string `json:"Message"`
	Ticket   struct {
		CaseNumber  string `json:"CaseNumber"`
		Subject     string `json:"Subject"`
		Description string `json:"Description"`
		Priority    int    `json:"Priority"`
		Status      bool   `json:"Status"`
	} `json:"Ticket"`
}

func noopUpdate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	var fields map[string]any
	if err == nil {
		err = json.Unmarshal(body, &fields)
	}
	if err != nil {
		http.Error(w, `{"Response":false,"Message":"Invalid JSON body"}`, http.StatusBadRequest)
		return
	}
	reply := noopReply{Response: true, Message: "Ticket updated successfully"}
	reply.Ticket.CaseNumber, _ = fields["CaseId"].(string)
	reply.Ticket.Subject, _ = fields["Title"].(string)
	reply.Ticket.Description, _ = fields["Description"].(string)
	reply.Ticket.Priority = 2
	out, err := json.Marshal(reply)
	if err != nil {
		http.Error(w, `{"Response":false,"Message":"Internal server error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(out)
}

// ---- ceiling (b): the update transaction alone ----

const (
	ceilingUpdate = `UPDATE tickets SET subject = coalesce(?, subject), description = coalesce(?, description)
		WHERE case_number = ? AND owner = ? AND open
		RETURNING id, case_number, subject, description, priority, open`
	ceilingStatistic  = `INSERT INTO statistics (ticket_id, created_at, user_id, action) VALUES (?, ?, ?, 'update')`
	updateDescription = "Users are unable to submit entries on both mobile and desktop versions"
)

// sqliteCeiling builds a fresh database like ticketd's (same schema file,
// same rows per ticket) and runs ticketd's update transaction on it from one
// goroutine, as fast as it goes, for warmUp and then d.
func sqliteCeiling(ctx context.Context, schemaPath, dbPath, syncMode string, users, tickets int, d time.Duration) (runResult, error) {
	dsn := dbPath + "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(" + strings.ToUpper(syncMode) + ")&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return runResult{}, fmt.Errorf("ceiling (b): open: %w", err)
	}
	defer db.Close()
	// One connection, like ticketd's writer: with _txlock=immediate every
	// BEGIN is BEGIN IMMEDIATE, and nothing else competes for the lock.
	db.SetMaxOpenConns(1)

	if err := createSchema(ctx, db, schemaPath); err != nil {
		return runResult{}, err
	}
	began := time.Now()
	fmt.Printf("ceiling (b): inserting %d users and %d tickets into %s\n", users, tickets, dbPath)
	if err := populate(ctx, db, users, tickets); err != nil {
		return runResult{}, err
	}
	fmt.Printf("ceiling (b): inserted in %.1fs\n", time.Since(began).Seconds())
	return runUpdates(ctx, db, users, tickets, d)
}

// createSchema executes ticketd's schema.sql, read at run time so that the
// ceiling follows the schema as it changes.
func createSchema(ctx context.Context, db *sql.DB, path string) error {
	schema, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ceiling (b): read schema: %w", err)
	}
	if _, err := db.ExecContext(ctx, string(schema)); err != nil {
		return fmt.Errorf("ceiling (b): create schema from %s: %w", path, err)
	}
	return nil
}

// ceilingCaseNumber gives ticket i a unique 7-digit case number in a
// scattered order, as ticketd's random ones are: i ↦ (a·i + b) mod 9,000,000
// is one-to-one because a shares no factor with 9,000,000 = 2⁶·3²·5⁶.
func ceilingCaseNumber(i int) string {
	const a, b, space = 4_999_999, 1_234_567, 9_000_000
	return strconv.Itoa(1_000_000 + (a*i+b)%space)
}

// ceilingOwner is the user id of ticket i: users get ids 1..users and
// tickets round-robin, as the load generator spreads them.
func ceilingOwner(i, users int) int64 { return int64(i%users + 1) }

// populate inserts the users, then the tickets with what ticketd stores with
// each (its case number, "create" statistic and creation note), in batches
// so that the WAL stays small.
func populate(ctx context.Context, db *sql.DB, users, tickets int) error {
	now := time.Now().UnixMilli()
	for u := 1; u <= users; u++ {
		if _, err := db.ExecContext(ctx,
			"INSERT INTO users (id, token, email, full_name, created_at) VALUES (?, ?, ?, ?, ?)",
			u, fmt.Sprintf("benchtoken%d", u), fmt.Sprintf("bench%d@example.com", u), fmt.Sprintf("Bench User %d", u), now); err != nil {
			return fmt.Errorf("ceiling (b): insert user %d: %w", u, err)
		}
	}
	const batch = 10_000
	for first := 0; first < tickets; first += batch {
		if err := insertTickets(ctx, db, first, min(first+batch, tickets), users, now); err != nil {
			return fmt.Errorf("ceiling (b): insert tickets %d–%d: %w", first, min(first+batch, tickets), err)
		}
	}
	return nil
}

func insertTickets(ctx context.Context, db *sql.DB, from, to, users int, now int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i := from; i < to; i++ {
		caseNumber, owner := ceilingCaseNumber(i), ceilingOwner(i, users)
		if _, err := tx.ExecContext(ctx, "INSERT INTO case_numbers (case_number) VALUES (?)", caseNumber); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tickets (case_number, owner, subject, description, priority, resource_affected, created_at)
			VALUES (?, ?, ?, ?, 2, 'General', ?)`,
			caseNumber, owner, "bench ticket "+strconv.Itoa(i), "Created by the ticketd benchmark, to be updated over and over", now)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO statistics (ticket_id, created_at, user_id, action) VALUES (?, ?, ?, 'create')", id, now, owner); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO notes (ticket_id, created_at, body) VALUES (?, ?, 'Ticket created via API')", id, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// runUpdates runs the update transaction over the tickets in turn and
// records the latency of each that completes inside the measured window.
func runUpdates(ctx context.Context, db *sql.DB, users, tickets int, d time.Duration) (runResult, error) {
	update, err := db.PrepareContext(ctx, ceilingUpdate)
	if err != nil {
		return runResult{}, fmt.Errorf("ceiling (b): prepare update: %w", err)
	}
	defer update.Close()
	statistic, err := db.PrepareContext(ctx, ceilingStatistic)
	if err != nil {
		return runResult{}, fmt.Errorf("ceiling (b): prepare statistic: %w", err)
	}
	defer statistic.Close()

	r := runResult{conns: 1, window: d, statuses: map[int]int{}}
	start := time.Now().Add(warmUp)
	end := start.Add(d)
	cpu := watchCPU(ctx, 0, start, end)
	for n := 0; ctx.Err() == nil && time.Now().Before(end); n++ {
		i := n % tickets
		title := "UPDATED: Issue with sweepstakes entry " + strconv.Itoa(n)
		t0 := time.Now()
		err := updateOnce(ctx, db, update, statistic, title, ceilingCaseNumber(i), ceilingOwner(i, users))
		t1 := time.Now()
		if err != nil {
			return r, fmt.Errorf("ceiling (b): update ticket %d: %w", i, err)
		}
		if !t1.Before(start) && t1.Before(end) {
			r.latencies = append(r.latencies, t1.Sub(t0))
		}
	}
	total := merge([]runResult{r}, 1, d)
	total.cpu = cpu()
	return total, ctx.Err()
}

// updateOnce is ticketd's update transaction: BEGIN IMMEDIATE; the
// conditional UPDATE … RETURNING; the "update" statistic; COMMIT.
func updateOnce(ctx context.Context, db *sql.DB, update, statistic *sql.Stmt, title, caseNumber string, owner int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var (
		id, priority                  int64
		gotCase, subject, description string
		open                          bool
	)
	err = tx.StmtContext(ctx, update).QueryRowContext(ctx, title, updateDescription, caseNumber, owner).
		Scan(&id, &gotCase, &subject, &description, &priority, &open)
	if errors.Is(err, sql.ErrNoRows) {
		return errors.New("no row matched: the ticket should exist, be open and be the owner's")
	}
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if _, err := tx.StmtContext(ctx, statistic).ExecContext(ctx, id, time.Now().UnixMilli(), owner); err != nil {
		return fmt.Errorf("insert statistic: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
