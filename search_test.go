package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// searchPieces are what the differential test and the fuzz seeds build text
// and searches from: letters whose folds differ between foldCase and the
// trigram tokenizer's own (İ ı against i, Kelvin sign, long s, final sigma,
// ß and ẞ, Georgian Mtavruli, Cherokee), LIKE and FTS5 syntax, NUL and
// other odd code points.
var searchPieces = []string{
	"a", "b", "i", "I", "İ", "ı", "s", "S", "ſ", "k", "K", "\u212a", "σ", "ς", "Σ", "ß", "ẞ", "ss",
	"é", "É", "e\u0301", "ǅ", "ǆ", "Ǆ", "Ა", "ა", "ꭰ", "Ꭰ", "ᲀ", "в", "В",
	"%", "_", "\\", `"`, `""`, "*", "-", " AND ", " OR ", "NOT ", "NEAR(", "(", ")", ":", "^", "+", "{", "}",
	"\x00", "\ufffe", "\uffff", "\ufffd", "😀", " ", "\t", "ab", "abc", "xyz", "Invoice", "INVOICE",
}

func randomPieces(r *rand.Rand, max int) string {
	var sb strings.Builder
	for range r.IntN(max + 1) {
		sb.WriteString(searchPieces[r.IntN(len(searchPieces))])
	}
	return sb.String()
}

// caseVariant changes the letter case of some of s's letters, or puts
// another letter of the same fold in their place.
func caseVariant(r *rand.Rand, s string) string {
	return strings.Map(func(c rune) rune {
		switch r.IntN(6) {
		case 0:
			return unicode.ToUpper(c)
		case 1:
			return unicode.ToLower(c)
		case 2:
			return unicode.ToTitle(c)
		case 3:
			return unicode.SimpleFold(c)
		case 4:
			return unicode.SimpleFold(unicode.SimpleFold(c))
		}
		return c
	}, s)
}

// searchBothWays runs f over every owner's tickets through the index and
// through the scan and fails unless both give the same count and tickets.
func searchBothWays(t *testing.T, st *store, f ticketFilter) (total int64, usedIndex bool) {
	t.Helper()
	f.AllOwners = true
	list := func(f ticketFilter) (int64, []string) {
		total, tickets, err := st.listTickets(context.Background(), user{}, f, 0, 10_000)
		if err != nil {
			t.Fatalf("list %+v: %v", f, err)
		}
		cases := make([]string, len(tickets))
		for i, tk := range tickets {
			cases[i] = tk.CaseNumber
		}
		return total, cases
	}
	if !st.searchIndexed {
		t.Fatal("the search index is off: both roads would be the scan")
	}
	indexTotal, indexed := list(f)
	f.scanOnly = true
	scanTotal, scanned := list(f)
	if indexTotal != scanTotal || !slices.Equal(indexed, scanned) {
		t.Errorf("search %q (open %v): the index found %d %v, the scan %d %v", f.Search, f.Open, indexTotal, indexed, scanTotal, scanned)
	}
	_, usedIndex = searchIndexMatch(foldCase(f.Search))
	return scanTotal, usedIndex
}

// TestSearchIndexMatchesScan: random tickets, created, edited, resolved and
// deleted; random searches, most of them pieces of the tickets' text in
// another letter case, answer the same through the index as through the scan.
func TestSearchIndexMatchesScan(t *testing.T) {
	e := newTestEnv(t, withSearchIndex())
	ctx := context.Background()
	r := rand.New(rand.NewPCG(14, 14))
	var owners []user
	for i := range 3 {
		_, u := e.addUser(fmt.Sprintf("u%d@example.com", i), "U", false)
		owners = append(owners, u)
	}
	type live struct {
		owner      user
		caseNumber string
	}
	var tickets []*live
	var texts []string
	newText := func() string {
		s := randomPieces(r, 10)
		if s == "" {
			s = "x"
		}
		texts = append(texts, s)
		return s
	}
	searches, indexed, found := 0, 0, 0
	search := func() {
		var term string
		if r.IntN(4) > 0 && len(texts) > 0 {
			// Mostly 3 characters or more, which the index serves.
			runes := []rune(texts[r.IntN(len(texts))])
			from := r.IntN(max(1, len(runes)-2))
			to := min(len(runes), from+1+r.IntN(8))
			term = caseVariant(r, string(runes[from:to]))
		} else {
			term = caseVariant(r, randomPieces(r, 4))
		}
		f := ticketFilter{Open: r.IntN(3) > 0, Search: term}
		if r.IntN(5) == 0 {
			f.Priority = 1 + r.IntN(3)
		}
		n, usedIndex := searchBothWays(t, e.store, f)
		searches++
		if usedIndex {
			indexed++
			if n > 0 {
				found++
			}
		}
	}
	for round := range 4 {
		for range 60 {
			o := owners[r.IntN(len(owners))]
			tk, err := e.store.createTicket(ctx, o, newTicket{Subject: newText(), Description: newText(), Priority: 1 + r.IntN(3), ResourceAffected: "General"})
			if err != nil {
				t.Fatal(err)
			}
			tickets = append(tickets, &live{owner: o, caseNumber: tk.CaseNumber})
		}
		for range 30 {
			tk := tickets[r.IntN(len(tickets))]
			var ch ticketChange
			if r.IntN(2) == 0 {
				s := newText()
				ch.Subject = &s
			}
			if r.IntN(2) == 0 {
				d := newText()
				ch.Description = &d
			}
			if ch.Subject == nil && ch.Description == nil {
				note := "n"
				ch.Note = &note
			}
			if _, err := e.store.updateTicket(ctx, tk.owner, tk.caseNumber, ch); err != nil && !errors.Is(err, errClosed) && !errors.Is(err, errNotFound) {
				t.Fatal(err)
			}
		}
		for range 10 {
			tk := tickets[r.IntN(len(tickets))]
			if _, err := e.store.resolveTicket(ctx, tk.owner, tk.caseNumber, tk.owner.ID); err != nil && !errors.Is(err, errNotFound) {
				t.Fatal(err)
			}
			tk = tickets[r.IntN(len(tickets))]
			if err := e.store.deleteTicket(ctx, tk.owner, tk.caseNumber); err != nil && !errors.Is(err, errNotFound) {
				t.Fatal(err)
			}
			if _, err := e.store.fetchTicket(ctx, tk.owner, tickets[r.IntN(len(tickets))].caseNumber); err != nil && !errors.Is(err, errNotFound) {
				t.Fatal(err)
			}
		}
		for range 150 {
			search()
		}
		t.Logf("round %d: %d searches, %d through the index, %d of them found tickets", round, searches, indexed, found)
	}
	// The comparison means something only if many searches took the index
	// and found tickets.
	if indexed < searches/2 || found < indexed/4 {
		t.Errorf("%d searches, %d through the index, %d of them found tickets", searches, indexed, found)
	}
}

// FuzzSearchIndex: a ticket created with any subject and description, then
// given another subject, is found through the index exactly when the scan
// finds it, by any search, and by none once deleted.
func FuzzSearchIndex(f *testing.F) {
	for _, seed := range [][4]string{
		{"ınvoice", "d", "", "INVOICE"},
		{"İstanbul", "STRAẞE", "", "istanbul"},
		{"\u212aelvin", "", "", "kel"},
		{"Σίσυφος", "ſſs", "", "ΣΊΣΥΦΟς"},
		{"a\x00bc", "abc", "", "abc"},
		{"x", "y", `say "hi" AND (bye) OR NEAR(x) -a *b`, `"hi" and (bye)`},
		{"100% under_score C:\\temp", "", "", "% UNDER_"},
		{"ᲀᲀᲀ", "Ꭰꭰꭰ", "ვვვ", "ВВВ"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	e := newTestEnv(f, withSearchIndex())
	_, owner := e.addUser("fuzz@example.com", "F", false)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, subject, description, newSubject, search string) {
		if subject == "" || description == "" || search == "" {
			return
		}
		tk, err := e.store.createTicket(ctx, owner, newTicket{Subject: subject, Description: description, Priority: 1, ResourceAffected: "General"})
		if err != nil {
			t.Fatal(err)
		}
		searchBothWays(t, e.store, ticketFilter{Open: true, Search: search})
		if newSubject != "" {
			if _, err := e.store.updateTicket(ctx, owner, tk.CaseNumber, ticketChange{Subject: &newSubject}); err != nil {
				t.Fatal(err)
			}
			searchBothWays(t, e.store, ticketFilter{Open: true, Search: search})
		}
		if err := e.store.deleteTicket(ctx, owner, tk.CaseNumber); err != nil {
			t.Fatal(err)
		}
		if n, _ := searchBothWays(t, e.store, ticketFilter{Open: true, Search: search}); n != 0 {
			t.Errorf("search %q finds %d tickets after the only one was deleted", search, n)
		}
	})
}

// TestSearchIndexFolding: searches in every letter case find text that
// foldCase folds alike and the trigram tokenizer's own folding does not,
// and FTS5 syntax in a search is plain text.
func TestSearchIndexFolding(t *testing.T) {
	e := newTestEnv(t, withSearchIndex())
	_, u := e.addUser("a@example.com", "A", false)
	subjects := map[string]string{}
	for _, s := range []string{
		"ınvoıce dotless", "İNVOİCE dotted", "\u212aelvin sign", "ſtatus long s", "ΣΊΣΥΦΟΣ final ς",
		"STRAẞE capital sharp s", "ᲀᲁᲂ old Cyrillic", "ᲐᲑᲒ Mtavruli", "ꭰꭱꭲ Cherokee",
		`say "hi" AND (bye) OR NEAR(x) -a *b ^c d:e`, "a\x00bcd after a NUL",
	} {
		subjects[e.addTicket(u, s)] = s
	}
	for _, tc := range []struct {
		search string
		want   []string // subjects, newest first
	}{
		{"INVOICE", []string{"İNVOİCE dotted", "ınvoıce dotless"}},
		{"invoice dot", []string{"İNVOİCE dotted", "ınvoıce dotless"}},
		{"kelvin", []string{"\u212aelvin sign"}},
		{"STATUS", []string{"ſtatus long s"}},
		{"σίσυφος", []string{"ΣΊΣΥΦΟΣ final ς"}},
		{"final σ", []string{"ΣΊΣΥΦΟΣ final ς"}},
		{"straße", []string{"STRAẞE capital sharp s"}},
		{"вдо", []string{"ᲀᲁᲂ old Cyrillic"}},
		{"აბგ", []string{"ᲐᲑᲒ Mtavruli"}},
		{"ᎠᎡᎢ", []string{"ꭰꭱꭲ Cherokee"}},
		{`"hi" and (bye)`, []string{`say "hi" AND (bye) OR NEAR(x) -a *b ^c d:e`}},
		{"NEAR(X) -A *B ^C D:E", []string{`say "hi" AND (bye) OR NEAR(x) -a *b ^c d:e`}},
		{`"`, []string{`say "hi" AND (bye) OR NEAR(x) -a *b ^c d:e`}},
		{`""""`, nil},
		{"bcd after", []string{"a\x00bcd after a NUL"}},
		{"abcd", nil}, // the tokenizer skips the NUL; ticketd_match does not
		{"a\x00b", []string{"a\x00bcd after a NUL"}},
	} {
		total, tickets, err := e.store.listTickets(context.Background(), user{}, ticketFilter{AllOwners: true, Open: true, Search: tc.search}, 0, 20)
		if err != nil {
			t.Fatalf("search %q: %v", tc.search, err)
		}
		var got []string
		for _, tk := range tickets {
			got = append(got, subjects[tk.CaseNumber])
		}
		if total != int64(len(tc.want)) || !slices.Equal(got, tc.want) {
			t.Errorf("search %q: %d %q, want %q", tc.search, total, got, tc.want)
		}
		searchBothWays(t, e.store, ticketFilter{Open: true, Search: tc.search})
	}
}

func TestSearchIndexMatch(t *testing.T) {
	for _, tc := range []struct {
		needle, match string
		ok            bool
	}{
		{"ab", "", false},
		{"日本", "", false},
		{"abc", `"abc"`, true},
		{"日本語", `"日本語"`, true},
		{`a"b`, `"a""b"`, true},
		{`"""`, `""""""""`, true},
		{"a b", `"a b"`, true},
		{"a\x00bc", "", false},
		{"0123456789abcdefghij", `"0123456789abcdef"`, true},
	} {
		match, ok := searchIndexMatch(tc.needle)
		if match != tc.match || ok != tc.ok {
			t.Errorf("searchIndexMatch(%q) = %q, %v; want %q, %v", tc.needle, match, ok, tc.match, tc.ok)
		}
	}
}

// ftsStructure is the index's structure record, which every change to the
// index rewrites.
func ftsStructure(t *testing.T, st *store) string {
	t.Helper()
	var block []byte
	if err := st.reader.QueryRow("SELECT block FROM tickets_fts_data WHERE id = 10").Scan(&block); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", block)
}

// indexedTickets returns the tickets the index alone finds for a search.
func indexedTickets(t *testing.T, st *store, search string) []string {
	t.Helper()
	match, ok := searchIndexMatch(foldCase(search))
	if !ok {
		t.Fatalf("the index cannot serve %q", search)
	}
	rows, err := st.reader.Query(`SELECT case_number FROM tickets WHERE id IN (SELECT rowid / 2 FROM tickets_fts WHERE tickets_fts MATCH ?) ORDER BY id`, match)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cases []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cases = append(cases, c)
	}
	return cases
}

// TestSearchIndexFollowsChanges: the index follows every change to subject
// and description in the change's own transaction, and no other change
// touches it.
func TestSearchIndexFollowsChanges(t *testing.T) {
	e := newTestEnv(t, withSearchIndex())
	ctx := context.Background()
	_, u := e.addUser("a@example.com", "A", false)
	c := e.addTicket(u, "Printer on fire")
	other := e.addTicket(u, "Another ticket")
	if got := indexedTickets(t, e.store, "PRINTER"); !slices.Equal(got, []string{c}) {
		t.Errorf("after create: %v", got)
	}

	unchanged := func(what string, change func()) {
		t.Helper()
		before := ftsStructure(t, e.store)
		change()
		if after := ftsStructure(t, e.store); after != before {
			t.Errorf("%s changed the index", what)
		}
	}
	note := "a note"
	same := "Printer on fire"
	unchanged("a fetch (views)", func() {
		if _, err := e.store.fetchTicket(ctx, u, c); err != nil {
			t.Fatal(err)
		}
	})
	unchanged("an update with a note only", func() {
		if _, err := e.store.updateTicket(ctx, u, c, ticketChange{Note: &note}); err != nil {
			t.Fatal(err)
		}
	})
	unchanged("an update to the same title", func() {
		if _, err := e.store.updateTicket(ctx, u, c, ticketChange{Subject: &same}); err != nil {
			t.Fatal(err)
		}
	})
	unchanged("a resolve", func() { e.resolve(u, other) })

	// A write that fails after changing the text leaves the index as it was.
	failed := errors.New("fails after writing")
	err := e.store.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE tickets SET subject = 'Scanner jammed' WHERE case_number = ?", c); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatal(err)
	}
	if got := indexedTickets(t, e.store, "scanner"); len(got) != 0 {
		t.Errorf("a failed write's text is in the index: %v", got)
	}

	title, description := "Scanner jammed", "Paper stuck in the feeder"
	if _, err := e.store.updateTicket(ctx, u, c, ticketChange{Subject: &title, Description: &description}); err != nil {
		t.Fatal(err)
	}
	for search, want := range map[string][]string{"printer": nil, "of printer": nil, "SCANNER": {c}, "feeder": {c}} {
		if got := indexedTickets(t, e.store, search); !slices.Equal(got, want) {
			t.Errorf("after update, %q finds %v, want %v", search, got, want)
		}
	}
	if err := e.store.deleteTicket(ctx, u, c); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := e.store.reader.QueryRow("SELECT count(DISTINCT rowid / 2) FROM tickets_fts WHERE tickets_fts MATCH '\"tic\" OR \"sca\"'").Scan(&rows); err != nil || rows != 1 {
		t.Errorf("after delete the index holds %d of the two tickets, %v; want only the other", rows, err)
	}
	var changed int
	if err := e.store.reader.QueryRow("SELECT count(*) FROM tickets_fts_changed").Scan(&changed); err != nil || changed != 0 {
		t.Errorf("%d changes left to re-index after the writer's commits, %v", changed, err)
	}
	if _, err := e.store.writer.Exec("INSERT INTO tickets_fts (tickets_fts, rank) VALUES ('integrity-check', 0)"); err != nil {
		t.Errorf("fts5 integrity-check: %v", err)
	}
}

// TestSearchFindsChangesMadeElsewhere: a change written by another program
// (here straight SQL, not the writer) is found by searches at once, through
// tickets_fts_changed, and indexed by the writer's next transaction.
func TestSearchFindsChangesMadeElsewhere(t *testing.T) {
	e := newTestEnv(t, withSearchIndex())
	_, u := e.addUser("a@example.com", "A", false)
	tk, err := e.store.createTicket(context.Background(), u, newTicket{Subject: "Printer on fire", Description: "It smokes", Priority: 1, ResourceAffected: "General"})
	if err != nil {
		t.Fatal(err)
	}
	c := tk.CaseNumber
	if _, err := e.store.writer.Exec("UPDATE tickets SET subject = 'Scanner jammed' WHERE case_number = ?", c); err != nil {
		t.Fatal(err)
	}
	search := func(term string) int64 {
		t.Helper()
		n, _ := searchBothWays(t, e.store, ticketFilter{Open: true, Search: term})
		return n
	}
	if n, old := search("SCANNER"), search("printer"); n != 1 || old != 0 {
		t.Errorf("before re-indexing: %d tickets hold %q, %d hold %q; want 1 and 0", n, "SCANNER", old, "printer")
	}
	if got := indexedTickets(t, e.store, "scanner"); len(got) != 0 {
		t.Fatalf("indexed before the writer ran: %v", got)
	}
	e.addTicket(u, "another")
	if got := indexedTickets(t, e.store, "scanner"); !slices.Equal(got, []string{c}) {
		t.Errorf("after the writer's next transaction the index finds %v, want %s", got, c)
	}
	if got := indexedTickets(t, e.store, "printer"); len(got) != 0 {
		t.Errorf("the old subject is still indexed: %v", got)
	}
}

// TestSearchIndexRebuiltForOtherUnicode: a file whose index was folded with
// other Unicode tables than this ticketd's gets it rebuilt when opened.
func TestSearchIndexRebuiltForOtherUnicode(t *testing.T) {
	e := newTestEnv(t, withSearchIndex())
	_, u := e.addUser("a@example.com", "A", false)
	c := e.addTicket(u, "Printer on fire")
	ctx := context.Background()
	for _, q := range []string{
		"INSERT INTO tickets_fts (tickets_fts) VALUES ('delete-all')",
		"UPDATE search_index SET unicode_version = '9.0.0'",
	} {
		if _, err := e.store.writer.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if got := indexedTickets(t, e.store, "printer"); len(got) != 0 {
		t.Fatalf("the emptied index still finds %v", got)
	}
	e.store.close()
	st, err := openStore(ctx, e.dbPath, storeOptions{searchIndex: searchIndexOn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if got := indexedTickets(t, st, "printer"); !slices.Equal(got, []string{c}) {
		t.Errorf("after reopening, the index finds %v, want %s", got, c)
	}
	var version string
	if err := st.reader.QueryRow("SELECT unicode_version FROM search_index").Scan(&version); err != nil || version != unicode.Version {
		t.Errorf("search_index records %q, %v; want %s", version, err, unicode.Version)
	}
}

// TestSearchIndexOnAndOff: serve -search-index builds the index over the
// tickets already there; a server without it empties the index, and its
// changes no longer touch it; commands (searchIndexAsIs) leave it as it
// is. Searches answer alike in every state (the last one also compared
// with the scan).
func TestSearchIndexOnAndOff(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ticketd.db")
	open := func(setting searchIndexSetting) *store {
		t.Helper()
		st, err := openStore(ctx, path, storeOptions{searchIndex: setting})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	state := func(st *store) string {
		t.Helper()
		var version sql.NullString
		var triggers int
		if err := st.reader.QueryRow(`SELECT (SELECT unicode_version FROM search_index),
			(SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'tickets_fts_%')`).Scan(&version, &triggers); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("indexed %v, version %q, %d triggers", st.searchIndexed, version.String, triggers)
	}
	on := fmt.Sprintf("indexed true, version %q, 4 triggers", unicode.Version)
	const off = `indexed false, version "", 0 triggers`
	search := func(st *store, term string, want int64) {
		t.Helper()
		n, _, err := st.listTickets(ctx, user{}, ticketFilter{AllOwners: true, Open: true, Search: term}, 0, pageSize)
		if err != nil || n != want {
			t.Errorf("search %q: %d tickets, %v; want %d", term, n, err, want)
		}
	}

	st := open(searchIndexAsIs)
	if got := state(st); got != off {
		t.Errorf("a new file: %s, want %s", got, off)
	}
	_, hash := newAPIKey()
	if _, err := st.addKey(ctx, "a@example.com", "A", false, hash); err != nil {
		t.Fatal(err)
	}
	_, owner, err := st.userByKeyHash(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := st.createTicket(ctx, owner, newTicket{Subject: "Printer on fire", Description: "It smokes", Priority: 1, ResourceAffected: "General"})
	if err != nil {
		t.Fatal(err)
	}
	search(st, "PRINTER", 1)
	st.close()

	st = open(searchIndexOn)
	if got := state(st); got != on {
		t.Errorf("turned on: %s, want %s", got, on)
	}
	if got := indexedTickets(t, st, "printer"); !slices.Equal(got, []string{tk.CaseNumber}) {
		t.Errorf("turned on, the index finds %v, want the ticket made before", got)
	}
	st.close()

	st = open(searchIndexAsIs)
	if got := state(st); got != on {
		t.Errorf("opened by a command: %s, want %s", got, on)
	}
	st.close()

	st = open(searchIndexOff)
	if got := state(st); got != off {
		t.Errorf("turned off: %s, want %s", got, off)
	}
	subject := "Scanner jammed"
	if _, err := st.updateTicket(ctx, owner, tk.CaseNumber, ticketChange{Subject: &subject}); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := st.reader.QueryRow(`SELECT count(*) FROM tickets_fts WHERE tickets_fts MATCH '"pri" OR "sca" OR "smo"'`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("turned off, the index holds %d rows, %v", rows, err)
	}
	search(st, "scanner", 1)
	search(st, "printer", 0)
	st.close()

	st = open(searchIndexOn)
	defer st.close()
	if got := indexedTickets(t, st, "scanner"); !slices.Equal(got, []string{tk.CaseNumber}) {
		t.Errorf("turned on again, the index finds %v for the new subject", got)
	}
	if got := indexedTickets(t, st, "printer"); len(got) != 0 {
		t.Errorf("turned on again, the index finds %v for the old subject", got)
	}
	if n, _ := searchBothWays(t, st, ticketFilter{Open: true, Search: "scanner"}); n != 1 {
		t.Errorf("turned on again, search scanner: %d tickets, want 1", n)
	}
}
