package main

// Isolation between users: no endpoint lets one user read, list, update,
// resolve, close or delete another's ticket, and the refusals change
// nothing. carol is an administrator: API.md gives administrators nothing
// over other users' tickets (UserType only labels them), so she is refused
// like anyone else.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// isoTicket is one ticket of the isolation world, as a list shows it.
type isoTicket struct {
	owner, caseNumber, subject, resource, date string
	priority                                   int
	open                                       bool
}

func (k isoTicket) listed() string {
	return fmt.Sprintf(`{"CaseNumber":"%s","Subject":%s,"Date":"%s","Priority":%d,"ResourceAffected":%s}`,
		k.caseNumber, js(k.subject), k.date, k.priority, js(k.resource))
}

type isoWorld struct {
	*testEnv
	keys    map[string]string
	tickets []isoTicket // oldest first
}

// newIsoWorld: alice, bob and carol (an administrator) each have two open
// and two closed tickets, one of each on their own platform and one on
// "General", all with "shared words" in the subject; some have notes and
// views. Every ticket is a second newer than the one before.
func newIsoWorld(t *testing.T) *isoWorld {
	t.Helper()
	w := &isoWorld{testEnv: newTestEnv(t), keys: map[string]string{}}
	ctx := context.Background()
	for _, u := range []struct {
		name, full, platform string
		admin                bool
	}{
		{"alice", "Alice Able", "api", false},
		{"bob", "Bob Baker", "website", false},
		{"carol", "Carol Root", "shopify", true},
	} {
		key, owner := w.addUser(u.name+"@example.com", u.full, u.admin)
		w.keys[u.name] = key
		for i, tk := range []struct {
			what, resource string
			priority       int
			open           bool
		}{
			{"printer", u.platform, 1, true},
			{"login", "General", 2, true},
			{"outage", u.platform, 3, false},
			{"archive", "General", 2, false},
		} {
			w.clock.advance(time.Second)
			subject := fmt.Sprintf("%s's %s: shared words", u.name, tk.what)
			created, err := w.store.createTicket(ctx, owner, newTicket{
				Subject: subject, Description: "private notes of " + u.name, ResourceAffected: tk.resource, Priority: tk.priority,
			})
			if err != nil {
				t.Fatal(err)
			}
			c := created.CaseNumber
			if i%2 == 0 { // some history: a note and a view
				note := "note by " + u.name
				if _, err := w.store.updateTicket(ctx, owner, c, ticketChange{Note: &note}); err != nil {
					t.Fatal(err)
				}
				if _, err := w.store.fetchTicket(ctx, owner, c); err != nil {
					t.Fatal(err)
				}
			}
			if !tk.open {
				w.resolve(owner, c)
			}
			w.tickets = append(w.tickets, isoTicket{owner: u.name, caseNumber: c, subject: subject, resource: tk.resource,
				date: apiTime(created.Created), priority: tk.priority, open: tk.open})
		}
	}
	return w
}

func (w *isoWorld) caseNumbers() []string {
	var cs []string
	for _, k := range w.tickets {
		cs = append(cs, k.caseNumber)
	}
	return cs
}

// list renders a list answer: owner's tickets in the given state that keep
// passes, newest first, all on page 1.
func (w *isoWorld) list(owner string, open bool, keep func(isoTicket) bool) string {
	var items []string
	for i := len(w.tickets) - 1; i >= 0; i-- {
		if k := w.tickets[i]; k.owner == owner && k.open == open && keep(k) {
			items = append(items, k.listed())
		}
	}
	pages := 0
	if len(items) > 0 {
		pages = 1
	}
	return fmt.Sprintf(`{"Response":true,"Data":{"TotalTickets":%d,"Page":1,"Limit":20,"TotalPages":%d,"Tickets":[%s]},{telemetry}}`,
		len(items), pages, strings.Join(items, ","))
}

func TestIsolation(t *testing.T) {
	const (
		forbidden      = `{"Response":false,"Message":"You do not have permission to update this ticket"}`
		fetchNotFound  = `{"Response":false,"Message":"Ticket Not Found or Access Denied","Code":404}`
		closeNotFound  = `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`
		deleteNotFound = `{"Response":false,"Message":"Ticket Not Found, Already Closed, or Not Owned by User","Code":404}`
	)
	w := newIsoWorld(t)
	before := ticketStates(w.testEnv, w.caseNumbers()...)
	users := []string{"alice", "bob", "carol"}

	for _, attacker := range users {
		key := w.keys[attacker]
		for _, victim := range w.tickets {
			if victim.owner == attacker {
				continue
			}
			c := victim.caseNumber
			state := map[bool]string{true: "open", false: "closed"}[victim.open]
			t.Run(fmt.Sprintf("%s on %s's %s %s", attacker, victim.owner, state, c), func(t *testing.T) {
				for _, body := range []string{
					`{"CaseId":"` + c + `","Title":"hijacked"}`,
					`{"caseid":` + c + `,"Note":"hijacked"}`,
					`{"CaseId":" ` + c + `\u3000","Title":"hijacked","Description":"hijacked","Note":"hijacked"}`,
				} {
					w.post("/tickets/update", key, body).expect(t, 403, forbidden)
				}
				for _, body := range []string{`{"caseNumber":"` + c + `"}`, `{"CASENUMBER":` + c + `}`} {
					w.post("/tickets/fetchSingleTicket", key, body).expect(t, 404, fetchNotFound)
				}
				for _, body := range []string{`{"CaseId":"` + c + `"}`, `{"caseId":` + c + `}`} {
					w.post("/tickets/resolve", key, body).expect(t, 404, closeNotFound)
					w.post("/tickets/delete", key, body).expect(t, 404, deleteNotFound)
				}
				w.post("/support/tickets/"+c+"/close", key, ``).expect(t, 404, closeNotFound)

				// The lists, filtered so that the victim's ticket matches, show
				// only the attacker's own tickets.
				for _, open := range []bool{true, false} {
					path := map[bool]string{true: "/tickets/fetchOpenTickets", false: "/tickets/fetchClosedTickets"}[open]
					none := func(isoTicket) bool { return false }
					all := func(isoTicket) bool { return true }
					for _, q := range []struct {
						body string
						keep func(isoTicket) bool
					}{
						{`{"search":` + js(victim.subject) + `}`, none},
						{`{"search":` + js(strings.ToUpper(victim.owner)) + `}`, none},
						{`{"search":"private notes of ` + victim.owner + `"}`, none},
						{`{"platform":` + js(victim.resource) + `}`, func(k isoTicket) bool { return k.resource == victim.resource }},
						{`{"search":"SHARED WORDS","platform":` + js(strings.ToLower(victim.resource)) + `,"priority":` + fmt.Sprint(victim.priority) + `}`,
							func(k isoTicket) bool { return k.resource == victim.resource && k.priority == victim.priority }},
						{`{"search":"shared words"}`, all},
						{``, all},
					} {
						r := w.post(path, key, q.body)
						r.expect(t, 200, fill(w.list(attacker, open, q.keep), "{telemetry}", w.telemetry(key)))
					}
				}
			})
		}
	}

	if after := ticketStates(w.testEnv, w.caseNumbers()...); after != before {
		t.Errorf("refused requests changed tickets:\nbefore\n%s\nafter\n%s", before, after)
	}

	// A never-issued case number gets the same answers as another user's
	// ticket on every endpoint but update, which tells them apart by design.
	t.Run("another's ticket looks like no ticket", func(t *testing.T) {
		key := w.keys["alice"]
		w.post("/tickets/fetchSingleTicket", key, `{"caseNumber":"1000000"}`).expect(t, 404, fetchNotFound)
		w.post("/tickets/resolve", key, `{"CaseId":"1000000"}`).expect(t, 404, closeNotFound)
		w.post("/tickets/delete", key, `{"CaseId":"1000000"}`).expect(t, 404, deleteNotFound)
		w.post("/support/tickets/1000000/close", key, ``).expect(t, 404, closeNotFound)
		w.post("/tickets/update", key, `{"CaseId":"1000000","Title":"x"}`).
			expect(t, 404, `{"Response":false,"Message":"Ticket not found"}`)
	})

	// And each ticket was there to be had: its owner reads it.
	t.Run("owners still reach their tickets", func(t *testing.T) {
		for _, k := range w.tickets {
			r := w.post("/tickets/fetchSingleTicket", w.keys[k.owner], `{"caseNumber":"`+k.caseNumber+`"}`)
			if r.status != 200 || !strings.Contains(r.body, `"Subject":`+js(k.subject)) ||
				!strings.Contains(r.body, `"Email":"`+k.owner+`@example.com"`) {
				t.Errorf("%s fetching own %s: %d %s", k.owner, k.caseNumber, r.status, r.body)
			}
		}
	})
}
