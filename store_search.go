// Listing and searching tickets, and the case folding searches use.

package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
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
