package main

// A ticket's notes are bounded in count and in characters (see
// maxTicketNotes), and a fetch of a large ticket never holds the writer.

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	tooManyNotes = `{"Response":false,"Message":"A ticket may have at most 1000 notes"}`
	notesTooLong = `{"Response":false,"Message":"A ticket's notes may total at most 1000000 characters"}`
)

// checkNoteCounters fails the test unless every ticket's note_count and
// note_chars are the number of its notes and their length in characters.
func checkNoteCounters(t testing.TB, st *store) {
	t.Helper()
	type counts struct{ notes, chars int }
	kept, actual := map[string]counts{}, map[string]counts{}
	rows, err := st.reader.Query("SELECT case_number, note_count, note_chars FROM tickets")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		var n counts
		if err := rows.Scan(&c, &n.notes, &n.chars); err != nil {
			t.Fatal(err)
		}
		kept[c] = n
		actual[c] = counts{}
	}
	rows.Close()
	rows, err = st.reader.Query("SELECT t.case_number, n.body FROM notes n JOIN tickets t ON t.id = n.ticket_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c, body string
		if err := rows.Scan(&c, &body); err != nil {
			t.Fatal(err)
		}
		n := actual[c]
		actual[c] = counts{n.notes + 1, n.chars + utf8.RuneCountInString(body)}
	}
	for c, want := range actual {
		if kept[c] != want {
			t.Errorf("ticket %s keeps %d notes of %d characters, has %d of %d", c, kept[c].notes, kept[c].chars, want.notes, want.chars)
		}
	}
}

func noteBody(caseNumber, note string) string {
	return fmt.Sprintf(`{"CaseId":%q,"Note":%q}`, caseNumber, note)
}

// TestTicketNoteCountBound: a ticket takes notes from updates until it has
// 1000; then an update with a note is refused, changing nothing, while one
// without a note and a resolve (whose own note goes past the bound) work.
func TestTicketNoteCountBound(t *testing.T) {
	f := newFixture(t)
	for i := 2; i <= maxTicketNotes; i++ { // the ticket's first note is "Ticket created via API"
		if r := f.post("/tickets/update", f.aliceKey, noteBody(f.open, fmt.Sprintf("note %d", i))); r.status != 200 {
			t.Fatalf("note %d: %d %s", i, r.status, r.body)
		}
	}
	before := f.ticketRow(f.open)
	f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"refused","Note":"one too many"}`)).
		expect(t, 400, tooManyNotes)
	if after := f.ticketRow(f.open); after != before {
		t.Errorf("a refused note changed the ticket: %s, was %s", after, before)
	}
	// The bound is on notes only, and after the owner and closed checks.
	f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"still editable"}`)).
		expect(t, 200, f.fill(updatedBody("still editable", oldDescription)))
	f.post("/tickets/update", f.bobKey, noteBody(f.open, "x")).
		expect(t, 403, `{"Response":false,"Message":"You do not have permission to update this ticket"}`)
	f.post("/tickets/resolve", f.aliceKey, f.fill(`{"CaseId":"{open}"}`)).
		expect(t, 200, `{"Response":true,"Message":"Ticket Resolved Successfully","Data":{"CaseNumber":"`+f.open+
			`","Subject":"still editable","Status":true,"CloseDate":"2026-01-26T12:32:29.600Z","ClosedBy":"Alice Able"}}`)
	f.post("/tickets/update", f.aliceKey, noteBody(f.open, "x")).
		expect(t, 400, `{"Response":false,"Message":"Cannot update closed ticket"}`)
	r := f.post("/tickets/fetchSingleTicket", f.aliceKey, f.fill(`{"caseNumber":"{open}"}`))
	if n := strings.Count(r.body, `"Note":`); r.status != 200 || n != maxTicketNotes+1 ||
		!strings.HasSuffix(strings.Split(r.body, `],"Files"`)[0], `"Note":"Ticket resolved via API"}`) {
		t.Errorf("fetch after resolve: %d, %d notes, the last not the resolve's", r.status, n)
	}
	checkNoteCounters(t, f.store)
}

// TestTicketNoteCharsBound: a ticket's notes may total 1,000,000
// characters (not bytes), its own "Ticket created via API" (22) included.
func TestTicketNoteCharsBound(t *testing.T) {
	f := newFixture(t)
	for i := range 49 {
		if r := f.post("/tickets/update", f.aliceKey, noteBody(f.open, long20000)); r.status != 200 {
			t.Fatalf("note %d: %d %s", i, r.status, r.body)
		}
	}
	// 22 + 49 × 20,000 = 980,022 characters so far: 19,978 more fit.
	before := f.ticketRow(f.open)
	f.post("/tickets/update", f.aliceKey, noteBody(f.open, strings.Repeat("x", 19_979))).expect(t, 400, notesTooLong)
	if after := f.ticketRow(f.open); after != before {
		t.Errorf("a refused note changed the ticket: %s, was %s", after, before)
	}
	f.post("/tickets/update", f.aliceKey, noteBody(f.open, strings.Repeat("é", 19_978))).
		expect(t, 200, f.fill(updatedBody("Issue with sweepstakes entry", oldDescription)))
	f.post("/tickets/update", f.aliceKey, noteBody(f.open, "x")).expect(t, 400, notesTooLong)
	// Another ticket of the same owner is not affected.
	f.post("/tickets/update", f.aliceKey, noteBody(f.closed, "x")).
		expect(t, 400, `{"Response":false,"Message":"Cannot update closed ticket"}`)
	checkNoteCounters(t, f.store)
}

// TestFetchLeavesTheWriterFree: while a fetch of a large ticket is reading
// its notes, another user's update goes through the writer and is answered.
// Before, the fetch read every note inside the writer's transaction, and
// every write of every user waited for it.
func TestFetchLeavesTheWriterFree(t *testing.T) {
	f := newFixture(t)
	for i := range 49 {
		if r := f.post("/tickets/update", f.aliceKey, noteBody(f.open, long20000)); r.status != 200 {
			t.Fatalf("note %d: %d %s", i, r.status, r.body)
		}
	}
	reading, release := make(chan struct{}), make(chan struct{})
	f.store.beforeTicketRead = func() {
		close(reading)
		<-release
	}
	fetched := make(chan response, 1)
	go func() {
		fetched <- f.post("/tickets/fetchSingleTicket", f.aliceKey, f.fill(`{"caseNumber":"{open}"}`))
	}()
	select {
	case <-reading:
	case <-time.After(hangBound):
		close(release)
		t.Fatal("the fetch never began to read the ticket")
	}
	updated := make(chan response, 1)
	go func() {
		updated <- f.post("/tickets/update", f.bobKey, f.fill(`{"CaseId":"{bobOpen}","Title":"while alice fetches","Note":"n"}`))
	}()
	select {
	case r := <-updated:
		r.expect(t, 200, `{"Response":true,"Message":"Ticket updated successfully","Ticket":{"CaseNumber":"`+f.bobOpen+
			`","Subject":"while alice fetches","Description":"Description of Bob's issue","Priority":2,"Status":false}}`)
	case <-time.After(hangBound):
		close(release)
		t.Fatalf("an update waited %v for a fetch in progress", hangBound)
	}
	// The fetch reads one snapshot taken after its view was counted: an
	// update of the same ticket made meanwhile is in it, title and note.
	f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"changed while fetching","Note":"late note"}`))
	close(release)
	r := <-fetched
	if r.status != 200 || !strings.Contains(r.body, `"Subject":"changed while fetching"`) ||
		!strings.Contains(r.body, `"Note":"late note"}],"Files"`) || !strings.Contains(r.body, `"Views":1,`) ||
		strings.Count(r.body, `"Note":`) != 51 || !strings.Contains(r.body, `"Action":"update"}],"Status"`) {
		t.Errorf("fetch: %d %.300s…", r.status, r.body)
	}
	checkNoteCounters(t, f.store)
}
