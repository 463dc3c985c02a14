package main

// The desk in a real browser: headless Chromium from Debian's packages,
// driven through the DevTools protocol (chromedp). Controls are found by
// their role and accessible name as Chromium computes them for screen
// readers (Accessibility.queryAXTree), so these tests also check the names
// the contract lists. Without /usr/bin/chromium they skip; .ci/run
// installs it, so CI always runs them.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

var deskScreenshots = flag.Bool("desk-screenshots", false, "write the desk's screenshots (queue, ticket page) into docs/")

// liveWithin is how soon a change must show on a page that is open.
const liveWithin = time.Second

// newBrowser starts headless Chromium with a fresh profile for the test,
// or skips the test when there is none. Its flags keep it off the network:
// on this closed network it hangs without them.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no Chromium at %s: the desk's browser tests need Debian's chromium package (apt-get install chromium); .ci/run installs it", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// tab is one person's browser: its own cookies, in a tab of the browser.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu      sync.Mutex
	dialogs []string // every JavaScript dialog that opened: none may
}

func newTab(t *testing.T, browser context.Context, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tb := &tab{t: t, name: name, ctx: ctx}
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, string(ev.Type)+": "+ev.Message)
			tb.mu.Unlock()
			go chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return tb
}

// do runs actions, each within 10 seconds.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	for _, a := range actions {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		err := chromedp.Do(ctx, a)
		cancel()
		if err != nil {
			b.t.Fatalf("%s: %v (at %s)", b.name, err, b.location())
		}
	}
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// byRole finds elements by the role and accessible name that Chromium
// computes for them, as a screen reader would be told.
func byRole(role, name string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{NodeID: n.NodeID, AccessibleName: name, Role: role})
		if err != nil {
			return nil, err
		}
		var backend []cdp.BackendNodeID
		for _, ax := range res.Nodes {
			if !ax.Ignored && ax.BackendDOMNodeID != 0 {
				backend = append(backend, ax.BackendDOMNodeID)
			}
		}
		if len(backend) == 0 {
			return nil, nil
		}
		pushed, err := cdp.Call(ctx, t, dom.PushNodesByBackendIDsToFrontend, dom.PushNodesByBackendIDsToFrontendParams{BackendNodeIDs: backend})
		if err != nil {
			return nil, err
		}
		return pushed.NodeIDs, nil
	})
}

func label(role, name string) string { return role + " " + fmt.Sprintf("%q", name) }

// click presses the control with this role and name.
func (b *tab) click(role, name string) {
	b.t.Helper()
	b.settle()
	b.do(chromedp.Click(label(role, name), byRole(role, name), chromedp.NodeVisible))
}

// fill types text into the field with this role and name.
func (b *tab) fill(role, name, text string) {
	b.t.Helper()
	b.settle()
	b.do(chromedp.SendKeys(label(role, name), text, byRole(role, name), chromedp.NodeVisible))
}

// choose picks the option with this value in the choice with this name.
func (b *tab) choose(name, value string) {
	b.t.Helper()
	b.settle()
	b.do(chromedp.SetValue(label("combobox", name), value, byRole("combobox", name), chromedp.NodeVisible))
}

// waitFor waits until the control with this role and name is on the page.
func (b *tab) waitFor(role, name string) {
	b.t.Helper()
	b.settle()
	b.do(chromedp.WaitVisible(label(role, name), byRole(role, name)))
}

func (b *tab) open(u string) {
	b.t.Helper()
	b.do(chromedp.Navigate(u))
}

// text is what the page's main part says.
func (b *tab) text() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, expr, err)
	}
	return v
}

// waitText waits up to within for the page's main part to hold text, and
// returns how long it took. A navigation while it waits (a form's answer
// loading) only makes it look again, in the new page.
func (b *tab) waitText(text string, within time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	if !b.until(`document.querySelector("main") && document.querySelector("main").innerText.includes(`+jsString(text)+`)`, within) {
		b.t.Fatalf("%s: %q did not show within %v (at %s)\n%s", b.name, text, within, b.location(), b.text())
	}
	return time.Since(start)
}

// until waits up to within for a JavaScript condition to hold in a page
// that has loaded; a navigation meanwhile only makes it look again.
func (b *tab) until(cond string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && !!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits for the page to have loaded: controls stay where they are.
func (b *tab) settle() {
	b.t.Helper()
	if !b.until("true", 10*time.Second) {
		b.t.Fatalf("%s: the page at %s did not load", b.name, b.location())
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (b *tab) screenshot(name string) {
	b.t.Helper()
	if !*deskScreenshots {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("docs", name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) noDialogs() {
	b.t.Helper()
	time.Sleep(100 * time.Millisecond) // a dialog's event may still be on its way
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dialogs) > 0 {
		b.t.Errorf("%s: JavaScript dialogs opened: %q", b.name, b.dialogs)
	}
}

// noSideways fails when the page scrolls sideways at the tab's width.
func (b *tab) noSideways(what string, width int64) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(width, 800))
	defer b.do(chromedp.EmulateViewport(1280, 800))
	if w := eval[int64](b, `document.documentElement.scrollWidth`); w > width {
		b.t.Errorf("%s at %d px: the page is %d px wide", what, width, w)
	}
}

// TestBrowserJourney is the desk as people use it: a customer asks, staff
// answer in the queue that updates itself, the customer sees the answer.
func TestBrowserJourney(t *testing.T) {
	e := newTestEnv(t, withRealClock())
	browser := newBrowser(t)
	customerKey, alice := e.addUser("alice@example.com", "Alice Liddell", false)
	_, sam := e.addUser("sam@example.com", "Sam Staff", true)
	otherStaffKey, _ := e.addUser("ada@example.com", "Ada Admin", true)
	older := e.addTicket(alice, "Password reset e-mail never arrives")
	ctx := context.Background()

	// The customer signs in with a key and creates a ticket.
	customer := newTab(t, browser, "customer")
	customer.open(e.url)
	customer.fill("textbox", "API key", customerKey)
	customer.click("button", "Sign in")
	customer.waitFor("button", "Sign out")
	if got := customer.text(); !strings.Contains(got, "Your tickets") || !strings.Contains(got, "Password reset e-mail never arrives") {
		t.Fatalf("the customer's list:\n%s", got)
	}
	customer.click("button", "New ticket")
	customer.fill("textbox", "Title", "Winner export times out")
	customer.fill("textbox", "Description", "Exporting the winners of a large sweepstakes never finishes.")
	customer.choose("Priority", "3")
	customer.click("button", "Create ticket")
	customer.waitText("Ticket created.", 5*time.Second)
	created := strings.TrimPrefix(eval[string](customer, `location.pathname`), "/desk/tickets/")
	if !possibleCaseNumber(created) {
		t.Fatalf("after Create ticket the customer is at %s", eval[string](customer, `location.href`))
	}

	// Staff sign in by link and see it in the queue.
	link, err := newSignInLink(ctx, e.store, sam.Email, e.url)
	if err != nil {
		t.Fatal(err)
	}
	staff := newTab(t, browser, "staff")
	staff.open(link)
	staff.click("button", "Sign in")
	staff.waitFor("button", "Sign out")
	staff.waitText("Winner export times out", time.Second)
	staff.waitFor("combobox", "Filter priority")
	staff.waitFor("combobox", "Filter platform")
	staff.waitFor("searchbox", "Search")

	// Tickets created or changed by anyone show in the open queue by
	// themselves: by the customer in the desk, through the API, by
	// another staff member.
	customer.open(e.url + "/desk/new")
	customer.fill("textbox", "Title", "Entry form rejects plus signs")
	customer.fill("textbox", "Description", "a+b@example.com cannot enter.")
	customer.click("button", "Create ticket")
	took := staff.waitText("Entry form rejects plus signs", liveWithin)
	t.Logf("a ticket created in the desk showed in the open queue after %v", took)
	r := e.post("/tickets/create", customerKey, `{"Title":"Created through the API","Description":"d","Priority":1}`)
	if r.status != 201 {
		t.Fatal(r.body)
	}
	took = staff.waitText("Created through the API", liveWithin)
	t.Logf("a ticket created through the API showed after %v", took)
	e.post("/staff/tickets/update", otherStaffKey, `{"CaseId":"`+older+`","AssignTo":"ada@example.com"}`)
	took = staff.waitText("Ada Admin", liveWithin)
	t.Logf("another staff member's assignment showed after %v", took)
	staff.noSideways("the queue", 375)
	staff.screenshot("desk-queue.png")

	// The customer keeps their ticket open while staff work on it.
	customer.open(e.url + "/desk/tickets/" + created)
	customer.waitFor("button", "Reply")

	// Staff open it, reply (from the keyboard), add an internal note,
	// assign, resolve and reopen.
	staff.do(chromedp.Click("link to the ticket", chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		res, err := cdp.Call(ctx, t, dom.QuerySelectorAll, dom.QuerySelectorAllParams{NodeID: n.NodeID, Selector: `a[href="/desk/tickets/` + created + `"]`})
		return res.NodeIDs, err
	}), chromedp.NodeVisible))
	staff.waitFor("button", "Internal note")
	staff.fill("textbox", "Message", "Thanks, we are looking at the export now.")
	staff.do(chromedp.KeyEvent("\t"))
	if got := eval[string](staff, `document.activeElement.textContent`); got != "Reply" {
		t.Errorf("Tab from the message went to %q, not Reply", got)
	}
	staff.do(chromedp.KeyEvent("\r"))
	staff.waitText("Reply posted.", 5*time.Second)
	took = customer.waitText("Thanks, we are looking at the export now.", liveWithin)
	t.Logf("the staff reply showed on the customer's open page after %v", took)

	staff.fill("textbox", "Message", "Batch size is 10k; try 1k first.")
	staff.click("button", "Internal note")
	staff.waitText("Internal note added.", 5*time.Second)
	staff.choose("Assign to", sam.Email)
	staff.click("button", "Assign")
	staff.waitText("Assignment saved.", 5*time.Second)
	staff.waitText("assigned to Sam Staff", time.Second)
	staff.screenshot("desk-ticket.png")
	staff.noSideways("the staff ticket page", 375)
	staff.click("button", "Resolve")
	staff.waitText("Ticket resolved.", 5*time.Second)
	customer.waitText("This ticket is closed.", liveWithin)
	staff.click("button", "Reopen")
	staff.waitText("Ticket reopened.", 5*time.Second)
	customer.waitText("Ticket reopened by Sam Staff", liveWithin)
	if got := strings.Join(e.statistics(created), " "); got != "create reply note assign resolve reopen" {
		t.Errorf("statistics: %s", got)
	}

	// The customer saw the reply, never the note; after a reload too.
	if got := customer.text(); strings.Contains(got, "Batch size") || strings.Contains(got, "Internal") {
		t.Errorf("the customer's page shows the internal note:\n%s", got)
	}
	customer.open(e.url + "/desk/tickets/" + created)
	if got := customer.text(); !strings.Contains(got, "Thanks, we are looking at the export now.") || strings.Contains(got, "Batch size") {
		t.Errorf("the customer's page after a reload:\n%s", got)
	}
	customer.noSideways("the customer's ticket page", 375)

	// The customer edits, then resolves; then deletes another ticket.
	customer.click("button", "Edit")
	customer.do(chromedp.Clear(label("textbox", "Title"), byRole("textbox", "Title")))
	customer.fill("textbox", "Title", "Winner export times out (large sweepstakes)")
	customer.click("button", "Save")
	customer.waitText("Ticket updated.", 5*time.Second)
	customer.waitText("Winner export times out (large sweepstakes)", time.Second)
	customer.click("button", "Resolve")
	customer.waitText("Ticket resolved.", 5*time.Second)
	customer.open(e.url + "/desk/tickets/" + older)
	customer.click("button", "Delete")
	customer.waitText("Delete this ticket?", 5*time.Second)
	customer.click("button", "Delete")
	customer.waitText("Ticket deleted.", 5*time.Second)
	if _, err := e.store.staffTicket(ctx, older); err == nil {
		t.Error("the deleted ticket is still there")
	}
	customer.noSideways("the customer's list", 375)

	// Sign out: the session ends, and the back button shows nothing private.
	staff.click("button", "Sign out")
	staff.waitText("You are signed out.", 5*time.Second)
	staff.do(chromedp.NavigateBack())
	staff.waitFor("textbox", "API key")
	if got := staff.text(); strings.Contains(got, "Winner export") {
		t.Errorf("after signing out, Back shows:\n%s", got)
	}
	staff.open(e.url + "/desk/tickets/" + created)
	staff.waitFor("button", "Sign in")
	customer.noDialogs()
	staff.noDialogs()
}

// TestBrowserXSS renders a corpus of script-bearing titles, descriptions
// and notes for both roles: no dialog opens, no handler attribute or
// javascript: URL survives, and the markup descriptions may keep renders.
func TestBrowserXSS(t *testing.T) {
	f := newDeskFixture(t, withRealClock())
	browser := newBrowser(t)
	ctx := context.Background()
	var cases []string
	for i, p := range xssPayloads {
		tk, err := f.store.createTicket(ctx, f.alice, newTicket{
			Subject: firstChars(fmt.Sprintf("%d %s", i, p), maxTitle), Description: allowedMarkup + p, Priority: 1 + i%3, ResourceAffected: generalPlatform,
		})
		if err != nil {
			t.Fatal(err)
		}
		note := "customer: " + p
		if _, err := f.store.updateTicket(ctx, f.alice, tk.CaseNumber, ticketChange{Note: &note}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.replyToTicket(ctx, f.sam, tk.CaseNumber, "public: "+p, false); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.replyToTicket(ctx, f.sam, tk.CaseNumber, "internal: "+p, true); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tk.CaseNumber)
	}
	const inspect = `(() => {
		const bad = [];
		for (const el of document.querySelectorAll("*")) {
			for (const a of el.attributes) {
				if (/^on/i.test(a.name) || /^\s*javascript:/i.test(a.value) || (a.name === "style")) bad.push(el.tagName + " " + a.name + "=" + a.value);
			}
		}
		for (const s of document.scripts) if (!s.src.includes("/desk/assets/desk.js")) bad.push("SCRIPT " + s.outerHTML.slice(0, 80));
		for (const el of document.querySelectorAll("iframe, object, embed, base, meta[http-equiv], form:not([action^='/desk/']):not([action='/'])")) bad.push(el.outerHTML.slice(0, 80));
		return bad.join("\n");
	})()`
	const rich = `(() => { const d = document.querySelector(".note-first .rich"); return d ? ["b","strong","i","em","p","br","hr"].filter(t => !d.querySelector(t)).join(",") : "no description"; })()`
	for _, who := range []struct {
		name string
		key  string
	}{{"customer", f.customerKey}, {"staff", f.staffKey}} {
		b := newTab(t, browser, who.name)
		b.open(f.url + "/desk/login")
		b.fill("textbox", "API key", who.key)
		b.click("button", "Sign in")
		b.waitFor("button", "Sign out")
		if bad := eval[string](b, inspect); bad != "" {
			t.Errorf("%s list: %s", who.name, bad)
		}
		for i, c := range cases {
			b.open(f.url + "/desk/tickets/" + c)
			b.waitFor("button", "Reply")
			if bad := eval[string](b, inspect); bad != "" {
				t.Errorf("%s, ticket of payload %d %q:\n%s", who.name, i, xssPayloads[i], bad)
			}
			if missing := eval[string](b, rich); missing != "" {
				t.Errorf("%s, ticket of payload %d: the allowed tags %s did not render", who.name, i, missing)
			}
			if got := b.text(); !strings.Contains(got, "public: ") || strings.Contains(got, "internal: ") != (who.name == "staff") {
				t.Errorf("%s, ticket of payload %d: notes shown:\n%s", who.name, i, got)
			}
		}
		// The customer's edit form holds the raw text, still inert.
		if who.name == "customer" {
			b.open(f.url + "/desk/tickets/" + cases[len(cases)-1] + "?edit=1")
			b.waitFor("button", "Save")
			if bad := eval[string](b, inspect); bad != "" {
				t.Errorf("the edit form: %s", bad)
			}
		}
		b.noDialogs()
	}
}

// TestBrowserCrossOriginForm: a page on another origin that posts a form to
// the desk, with the staff member signed in, changes nothing.
func TestBrowserCrossOriginForm(t *testing.T) {
	f := newDeskFixture(t, withRealClock())
	browser := newBrowser(t)
	before := f.ticketRow(f.ticket)
	attack := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Win</title><form method="post" action="%s/desk/tickets/%s/resolve">
			<input type="hidden" name="message" value="pwned"><button>Claim your prize</button></form>`, f.url, f.ticket)
	}
	evil := httptest.NewServer(http.HandlerFunc(attack))
	defer evil.Close()
	staff := newTab(t, browser, "staff")
	staff.open(f.url + "/desk/login")
	staff.fill("textbox", "API key", f.staffKey)
	staff.click("button", "Sign in")
	staff.waitFor("button", "Sign out")
	// Another site (localhost is not 127.0.0.1), and the same site on
	// another port, which sends the SameSite=Lax cookie: both refused.
	for _, origin := range []string{strings.Replace(evil.URL, "127.0.0.1", "localhost", 1), evil.URL} {
		staff.open(origin)
		staff.click("button", "Claim your prize")
		staff.do(chromedp.WaitVisible(`refused`, chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
			res, err := cdp.Call(ctx, t, dom.QuerySelectorAll, dom.QuerySelectorAllParams{NodeID: n.NodeID, Selector: `.flash-error`})
			return res.NodeIDs, err
		})))
		if got := staff.text(); !strings.Contains(got, "This request came from another site, so it was refused. Nothing was changed.") {
			t.Errorf("from %s: %s", origin, got)
		}
	}
	if got := f.ticketRow(f.ticket); got != before {
		t.Errorf("a cross-origin form changed the ticket: %s, was %s", got, before)
	}
	staff.open(f.url)
	staff.waitFor("button", "Sign out") // still signed in
}
