// Listing and searching tickets, and the case folding searches use.

package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"modernc.org/sqlite"
)

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
	// The Unicode version of foldCase, which the search index records.
	sqlite.MustRegisterFunction("ticketd_unicode_version", &sqlite.FunctionImpl{
		NArgs: 0, Deterministic: true,
		Scalar: func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			return unicode.Version, nil
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

// ticketFilter selects open or closed tickets: one owner's, or every
// owner's for staff.
type ticketFilter struct {
	Open      bool
	AllOwners bool   // every owner's tickets; otherwise only those of listTickets' owner
	Search    string // a substring of subject or description, any letter case; "" for all
	Platform  string // resource_affected, any letter case; "" for all
	Priority  int    // 0 for all

	// The staff list's: its columns and order (pinned first), and its own
	// filters.
	Staff      bool
	AnyStatus  bool  // open and closed alike; Open is then ignored
	AssignedTo int64 // only the tickets assigned to this admin; 0 for any
	Unassigned bool  // only the tickets for all staff
	Pinned     *bool

	// scanOnly has a search read every candidate row even where the index
	// would narrow them: while the index is off, and the road tests
	// compare the index with.
	scanOnly bool
}

// listTickets returns how many of the owner's tickets (every owner's, with
// f.AllOwners) match f, and at most limit of them after skipping offset,
// newest first (ties: the later created first). Both come from one snapshot.
func (s *store) listTickets(ctx context.Context, owner user, f ticketFilter, offset, limit int64) (int64, []ticket, error) {
	if owner.ID == 0 && !f.AllOwners {
		// A zero user is a caller's bug; it must not widen the list.
		return 0, nil, errors.New("list tickets: no owner")
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, nil, fmt.Errorf("list tickets: %w", err)
	}
	defer tx.Rollback()
	f.scanOnly = f.scanOnly || !s.searchIndexed
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
		var created, lastActivity int64
		var assigneeName, assigneeEmail sql.NullString
		var err error
		if f.Staff {
			err = rows.Scan(&t.CaseNumber, &t.Subject, &created, &t.Priority, &t.ResourceAffected,
				&t.Open, &t.Owner.FullName, &t.Owner.Email, &assigneeName, &assigneeEmail, &t.Pin, &t.Locked, &t.Completion, &lastActivity)
		} else {
			err = rows.Scan(&t.CaseNumber, &t.Subject, &created, &t.Priority, &t.ResourceAffected)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("list tickets: %w", err)
		}
		t.Created = time.UnixMilli(created).UTC()
		t.LastActivity = time.UnixMilli(lastActivity).UTC()
		if assigneeEmail.Valid {
			t.AssignedTo = &user{FullName: assigneeName.String, Email: assigneeEmail.String}
		}
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
//
// Across every owner's tickets, the search index narrows a search to the
// tickets that may hold it, and ticketd_match still decides, so the answer
// is the scan's. One owner's search keeps the scan of that owner's tickets,
// which is faster for a customer's thousand tickets than listing every
// ticket of the desk that holds a common word (README, Performance).
func listTicketsSQL(owner user, f ticketFilter) (count, page string, args []any) {
	var conds []string
	cond := func(c string, a ...any) {
		conds = append(conds, c)
		args = append(args, a...)
	}
	needle := foldCase(f.Search)
	match, useIndex := searchIndexMatch(needle)
	useIndex = useIndex && f.AllOwners && !f.scanOnly
	// Which index drives the query is decided here, not left to SQLite,
	// which has no statistics to choose by: one owner's index for one
	// owner's tickets, the search index when it narrows a search, else the
	// index of the staff list's filter. A unary + keeps a column's index out.
	col := func(name string) string {
		if useIndex || !f.AllOwners {
			return "+" + name
		}
		return name
	}
	if !f.AllOwners {
		cond("t.owner = ?", owner.ID)
	}
	if !f.AnyStatus {
		open := "t.open"
		if useIndex {
			open = "+t.open"
		}
		cond(open+" = ?", f.Open)
	}
	if f.AssignedTo != 0 {
		cond(col("t.assigned_to")+" = ?", f.AssignedTo)
	}
	if f.Unassigned {
		cond(col("t.assigned_to") + " IS NULL")
	}
	if f.Pinned != nil {
		cond(col("t.pin")+" = ?", *f.Pinned)
	}
	if f.Search != "" {
		if useIndex {
			// The tickets whose text changed in a transaction not yet
			// re-indexed (by another program) are candidates too.
			cond("t.id IN (SELECT rowid / 2 FROM tickets_fts WHERE tickets_fts MATCH ? UNION ALL SELECT fts_rowid / 2 FROM tickets_fts_changed)", match)
		}
		cond("ticketd_match(t.subject, t.description, ?)", needle)
	}
	if f.Platform != "" {
		cond(col("t.platform_key")+" = ?", foldCase(f.Platform))
	}
	if f.Priority != 0 {
		cond(col("t.priority")+" = ?", f.Priority)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	count = "SELECT count(*) FROM tickets t" + where
	if f.Staff {
		page = `SELECT t.case_number, t.subject, t.created_at, t.priority, t.resource_affected,
		               t.open, o.full_name, o.email, a.full_name, a.email, t.pin, t.locked, t.completion,
		               (SELECT max(s.created_at) FROM statistics s WHERE s.ticket_id = t.id)
		        FROM tickets t JOIN users o ON o.id = t.owner LEFT JOIN users a ON a.id = t.assigned_to` + where +
			" ORDER BY t.pin DESC, t.created_at DESC, t.id DESC LIMIT ? OFFSET ?"
	} else {
		page = "SELECT t.case_number, t.subject, t.created_at, t.priority, t.resource_affected FROM tickets t" + where +
			" ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?"
	}
	return count, page, args
}

// maxIndexedChars bounds how much of a search the index is asked for.
// Every ticket that holds a search holds its first characters, so a prefix
// narrows as safely as the whole, and each character past the third costs
// the index one more trigram to read.
const maxIndexedChars = 16

// searchIndexMatch returns the FTS5 query that finds, in tickets_fts, every
// ticket whose folded subject or description holds needle (already folded),
// and maybe some others; ok is false when the index cannot serve needle.
// The query is one FTS5 string, the trigrams of needle's first characters
// in a row, so that every character of needle is plain text to it,
// operators, '*', '-' and parentheses included: only '"' is special inside,
// written twice. The index cannot serve needles of fewer than 3 characters
// (it holds trigrams of code points) or with a NUL (its tokenizer skips
// NULs; skipping them in the text only adds candidates).
func searchIndexMatch(needle string) (match string, ok bool) {
	if utf8.RuneCountInString(needle) < 3 || strings.IndexByte(needle, 0) >= 0 {
		return "", false
	}
	return `"` + strings.ReplaceAll(firstChars(needle, maxIndexedChars), `"`, `""`) + `"`, true
}

// The statements of reindexChanged, prepared with the writer's.
const (
	textChangedSQL = "SELECT EXISTS (SELECT 1 FROM tickets_fts_changed)"
	// One statement, in rowid order and each row's delete before its
	// insert: FTS5 gathers rows in memory only while that holds, and writes
	// out a segment at the first row that breaks it, and at the end of
	// each statement that follows one that wrote.
	reindexChangedSQL = `
		INSERT INTO tickets_fts (tickets_fts, rowid, text)
		SELECT command, fts_rowid, text FROM (
			SELECT 'delete' AS command, fts_rowid, ticketd_fold(indexed) AS text, 0 AS step
			FROM tickets_fts_changed WHERE indexed IS NOT NULL
			UNION ALL
			SELECT NULL, c.fts_rowid, ticketd_fold(CASE c.fts_rowid % 2 WHEN 0 THEN t.subject ELSE t.description END), 1
			FROM tickets_fts_changed c JOIN tickets t ON t.id = c.fts_rowid / 2)
		ORDER BY fts_rowid, step`
	clearChangedSQL = "DELETE FROM tickets_fts_changed"
)

// reindexChanged brings tickets_fts up to date with the subjects and
// descriptions the writer's transaction changed, which the triggers listed
// in tickets_fts_changed. The writer runs it once per transaction, just
// before committing, so that the index changes in the transaction of the
// change, and once, however many changes the transaction holds. While
// the index is off, no trigger lists a change.
func (s *store) reindexChanged(ctx context.Context, tx *sql.Tx) error {
	if !s.searchIndexed {
		return nil
	}
	var changed bool
	if err := s.stmt(ctx, tx, textChangedSQL).QueryRowContext(ctx).Scan(&changed); err != nil || !changed {
		return err
	}
	for _, query := range []string{reindexChangedSQL, clearChangedSQL} {
		if _, err := s.stmt(ctx, tx, query).ExecContext(ctx); err != nil {
			return fmt.Errorf("re-index changed tickets: %w", err)
		}
	}
	return nil
}

// searchIndexSetting is what openStore does with the search index.
type searchIndexSetting int

const (
	// searchIndexAsIs leaves it as the file has it: the commands that
	// neither search nor change tickets, which may run beside a server.
	searchIndexAsIs searchIndexSetting = iota
	searchIndexOn                      // builds it if it is off or folded by other Unicode tables
	searchIndexOff                     // empties it, and changes stop paying for it
)

// searchIndexTriggers list in tickets_fts_changed every ticket field whose
// text a statement changes, while the index is on: each trigger's name and
// what follows it in CREATE TRIGGER. Only a change of the text: views,
// resolves and staff fields, and an update that sets the same text, leave
// the index alone. Turning the index off drops every one named here.
var searchIndexTriggers = [][2]string{
	{"tickets_fts_insert", `AFTER INSERT ON tickets BEGIN
		INSERT OR IGNORE INTO tickets_fts_changed VALUES (2 * new.id, NULL), (2 * new.id + 1, NULL);
	END`},
	{"tickets_fts_subject", `AFTER UPDATE OF subject ON tickets
	WHEN new.subject != old.subject BEGIN
		INSERT OR IGNORE INTO tickets_fts_changed VALUES (2 * new.id, old.subject);
	END`},
	{"tickets_fts_description", `AFTER UPDATE OF description ON tickets
	WHEN new.description != old.description BEGIN
		INSERT OR IGNORE INTO tickets_fts_changed VALUES (2 * new.id + 1, old.description);
	END`},
	{"tickets_fts_delete", `AFTER DELETE ON tickets BEGIN
		INSERT OR IGNORE INTO tickets_fts_changed VALUES (2 * old.id, old.subject), (2 * old.id + 1, old.description);
	END`},
}

// setSearchIndex turns the search index on or off, in one transaction, and
// records in s whether searches may use it. Turning it on indexes every
// ticket (55 s at 1,000,000 tickets, README); it is also rebuilt
// when the file's index was folded by a ticketd with other Unicode tables,
// since a search could then miss a ticket whose text folds otherwise now,
// and a row's delete would hand FTS5 other text than it holds.
func (s *store) setSearchIndex(ctx context.Context, setting searchIndexSetting) error {
	var version sql.NullString
	if err := s.writer.QueryRowContext(ctx, "SELECT unicode_version FROM search_index").Scan(&version); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	current := version.Valid && version.String == unicode.Version
	switch {
	case setting == searchIndexAsIs, setting == searchIndexOn && current, setting == searchIndexOff && !version.Valid:
		s.searchIndexed = current
		return nil
	}
	steps := []string{"INSERT INTO tickets_fts (tickets_fts) VALUES ('delete-all')", clearChangedSQL}
	for _, trigger := range searchIndexTriggers {
		if setting == searchIndexOn {
			steps = append(steps, "CREATE TRIGGER IF NOT EXISTS "+trigger[0]+" "+trigger[1])
		} else {
			steps = append(steps, "DROP TRIGGER IF EXISTS "+trigger[0])
		}
	}
	if setting == searchIndexOn {
		steps = append(steps, `INSERT INTO tickets_fts (rowid, text)
			SELECT 2 * id, ticketd_fold(subject) FROM tickets UNION ALL
			SELECT 2 * id + 1, ticketd_fold(description) FROM tickets
			ORDER BY 1`,
			"UPDATE search_index SET unicode_version = ticketd_unicode_version()")
	} else {
		steps = append(steps, "UPDATE search_index SET unicode_version = NULL")
	}
	began := time.Now()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	defer tx.Rollback()
	for _, query := range steps {
		if _, err := tx.ExecContext(ctx, query); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	s.searchIndexed = setting == searchIndexOn
	if s.searchIndexed {
		s.log.Info("search index built", "took", time.Since(began).Round(time.Millisecond))
	} else {
		s.log.Info("search index off and emptied")
	}
	return nil
}
