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
func listTicketsSQL(owner user, f ticketFilter) (count, page string, args []any) {
	var conds []string
	cond := func(c string, a ...any) {
		conds = append(conds, c)
		args = append(args, a...)
	}
	// Which index drives the query is decided here, not left to SQLite,
	// which has no statistics to choose by: one owner's index for one
	// owner's tickets, else the index of the staff list's filter. A unary +
	// keeps a column's index out.
	col := func(name string) string {
		if !f.AllOwners {
			return "+" + name
		}
		return name
	}
	if !f.AllOwners {
		cond("t.owner = ?", owner.ID)
	}
	if !f.AnyStatus {
		cond("t.open = ?", f.Open)
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
		cond("ticketd_match(t.subject, t.description, ?)", foldCase(f.Search))
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
