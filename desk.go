// The web desk: staff and customers in a browser, served by the binary
// itself at GET / and under /desk/. Pages are rendered on the server with
// html/template from files embedded in the binary (desk/), so the desk
// needs no build step and nothing from the network; a small script adds
// live updates (server-sent events) and relative times.
//
// Every change goes through the API's own handlers (the customer's and
// staff's), called with the form's fields and the session's user: the same
// checks, the same store methods, the same messages. The desk adds only
// sessions, pages and the rules of a browser: an origin check on every
// POST, a CSP without inline script, no caching of pages, no CORS.

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/microcosm-cc/bluemonday"
)

//go:embed desk
var deskFiles embed.FS

// sessionCookie names the cookie that carries a desk session's token.
const sessionCookie = "ticketd_session"

// deskSecurityHeaders go on every desk answer. The CSP allows scripts,
// styles and images from the desk itself only: no inline script, no inline
// style, no frame, and forms post only to the desk.
var deskSecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
}

// serverOption configures newServer beyond what every server needs.
type serverOption func(*serverConfig)

type serverConfig struct {
	secureCookies bool
	liveInterval  time.Duration
}

// withSecureCookies is serve -secure-cookies: the session cookie is Secure
// also on requests that did not come over TLS (behind a TLS proxy).
func withSecureCookies(on bool) serverOption {
	return func(c *serverConfig) { c.secureCookies = on }
}

// desk serves the web desk.
type desk struct {
	api           *api
	origins       *http.CrossOriginProtection
	secureCookies bool
	// liveInterval is the least time between two events of one stream, so
	// that a burst of changes costs each open page one reload.
	liveInterval time.Duration
}

// deskAsset is a static file of the desk, served from memory.
type deskAsset struct {
	body        []byte
	contentType string
	version     string // a hash of body: its URL changes when it does
}

func newDesk(a *api, cfg serverConfig) *desk {
	d := &desk{
		api:           a,
		origins:       http.NewCrossOriginProtection(),
		secureCookies: cfg.secureCookies,
		liveInterval:  cfg.liveInterval,
	}
	if d.liveInterval == 0 {
		d.liveInterval = 250 * time.Millisecond
	}
	return d
}

// The desk's templates, files and sanitizer are made on first use, once
// per process: a server that serves no desk page keeps none of them in
// memory (parsed templates are ~300 KB that every collection marks).
var (
	deskPages  = sync.OnceValue(parseDeskPages)
	deskAssets = sync.OnceValue(loadDeskAssets)
	// descriptionPolicy keeps the tags the API family allows in
	// descriptions, without attributes; everything else a user wrote is
	// text. A bluemonday policy is safe for concurrent use.
	descriptionPolicy = sync.OnceValue(func() *bluemonday.Policy {
		p := bluemonday.NewPolicy()
		p.AllowElements("b", "strong", "i", "em", "p", "br", "hr")
		return p
	})
)

// deskContentTypes are the desk's files' types (fixed: the mime package
// would read the system's tables for them).
var deskContentTypes = map[string]string{
	"desk.css": "text/css; charset=utf-8",
	"desk.js":  "text/javascript; charset=utf-8",
	"icon.svg": "image/svg+xml",
}

func loadDeskAssets() map[string]deskAsset {
	assets := map[string]deskAsset{}
	for name, contentType := range deskContentTypes {
		body, err := deskFiles.ReadFile("desk/" + name)
		if err != nil {
			panic(err) // embedded at build time
		}
		sum := sha256.Sum256(body)
		assets[name] = deskAsset{body: body, contentType: contentType, version: hex.EncodeToString(sum[:6])}
	}
	return assets
}

// timeStamp is a time to show, and the now it is shown at.
type timeStamp struct{ T, Now time.Time }

// parseDeskPages parses each page with the layout it fills in.
func parseDeskPages() map[string]*template.Template {
	funcs := template.FuncMap{
		"stamp":    func(t, now time.Time) timeStamp { return timeStamp{t, now} },
		"ago":      relativeTime,
		"exact":    exactTime,
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"isoNano":  func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"priority": priorityName,
		"same":     strings.EqualFold,
		// The platform list's names, but general as tickets show it.
		"platformLabel": func(name string) string {
			if strings.EqualFold(name, generalPlatform) {
				return generalPlatform
			}
			return name
		},
		"describe": func(s string) template.HTML { return template.HTML(descriptionPolicy().Sanitize(s)) },
		"action":   historyAction,
		"plural": func(n int64, one, many string) string {
			if n == 1 {
				return "1 " + one
			}
			return strconv.FormatInt(n, 10) + " " + many
		},
		"asset": func(name string) string { return "/desk/assets/" + name + "?v=" + deskAssets()[name].version },
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(deskFiles, "desk/layout.html"))
	pages := map[string]*template.Template{}
	files, err := fs.Glob(deskFiles, "desk/*.html")
	if err != nil {
		panic(err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(deskFiles, file))
	}
	return pages
}

// routes lists the desk's routes; newServer serves them apart from the API's.
func (d *desk) routes() []route {
	return []route{
		{"GET", "/", d.signedIn(d.home)},
		{"GET", "/desk/login", d.loginPage},
		{"POST", "/desk/login", d.changes(d.signInWithKey)},
		{"GET", "/desk/link", d.linkPage},
		{"POST", "/desk/link", d.changes(d.signInWithLink)},
		{"POST", "/desk/logout", d.changes(d.signOut)},
		{"GET", "/desk/new", d.signedIn(d.newTicketPage)},
		{"POST", "/desk/tickets", d.changes(d.signedIn(d.createTicket))},
		{"GET", "/desk/tickets/:case", d.signedIn(d.ticketPage)},
		{"POST", "/desk/tickets/:case/:action", d.changes(d.signedIn(d.ticketAction))},
		{"GET", "/desk/events", d.events},
		{"GET", "/desk/assets/:name", d.asset},
	}
}

// isDeskPath reports whether the desk, not the API, serves path.
func isDeskPath(p string) bool { return p == "/" || strings.HasPrefix(p, "/desk/") }

// ---- what every desk answer shares ----

// deskRequest is a request of a signed-in user.
type deskRequest struct {
	w       http.ResponseWriter
	r       *http.Request
	params  httprouter.Params
	session deskSession
	me      user
	token   string // the session's, from its cookie
}

// page is what a template renders. The fields a page does not use stay empty.
type page struct {
	Now    time.Time // the store's clock, for relative times
	Title  string
	Me     *user
	Live   bool // the page follows the event stream
	Notice string
	Error  string

	Queue  *queueView
	Mine   *mineView
	Ticket *ticketView
	Form   map[string]string // what the user typed, shown again after a refusal
	Token  string            // a sign-in link's, for its form
	Linked bool              // a sign-in link that can still be spent

	Platforms []string
}

func setDeskHeaders(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range deskSecurityHeaders {
		h.Set(k, v)
	}
}

// render writes a page. It renders into memory first, so that a template
// fault is a clean 500.
func (d *desk) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var buf bytes.Buffer
	p.Now = d.api.store.now()
	if err := deskPages()[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		d.fault(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	setDeskHeaders(w)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message renders a page that only says something: an error, a dead link.
func (d *desk) message(w http.ResponseWriter, r *http.Request, status int, me *user, title, text string) {
	d.render(w, r, status, "message", page{Title: title, Me: me, Error: text})
}

// fault answers a server fault: logged with a reference, as the API's are,
// and shown without detail.
func (d *desk) fault(w http.ResponseWriter, r *http.Request, err error) {
	_, _, body := errorAnswer(d.api.log, codedErrors, err, "method", r.Method, "path", r.URL.Path)
	setDeskHeaders(w)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintln(w, body.Message)
}

// refusal shows err as the API would answer it, on the desk: its status
// and message. A fault is answered by fault.
func (d *desk) refusal(w http.ResponseWriter, r *http.Request, err error) (int, string, bool) {
	var ae *apiError
	if errors.As(err, &ae) || errors.Is(err, errTooManyNotes) || errors.Is(err, errNotesTooLong) {
		status, _, body := errorAnswer(d.api.log, codedErrors, err, "method", r.Method, "path", r.URL.Path)
		return status, body.Message, true
	}
	d.fault(w, r, err)
	return 0, "", false
}

func redirect(w http.ResponseWriter, to string) {
	setDeskHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}

// changes guards a state change: it must come from the desk's own pages
// (http.CrossOriginProtection: Sec-Fetch-Site, else Origin against Host),
// and its form is read within the API's body limit.
func (d *desk) changes(next httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, params httprouter.Params) {
		if err := d.origins.Check(r); err != nil {
			d.message(w, r, http.StatusForbidden, nil, "Refused", "This request came from another site, so it was refused. Nothing was changed.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				d.message(w, r, http.StatusRequestEntityTooLarge, nil, "Too large", "That was more than the desk accepts at once (1 MiB). Nothing was changed.")
				return
			}
			d.message(w, r, http.StatusBadRequest, nil, "Bad request", "The form could not be read. Nothing was changed.")
			return
		}
		next(w, r, params)
	}
}

// currentSession returns the request's live session and its token.
func (d *desk) currentSession(w http.ResponseWriter, r *http.Request) (deskSession, string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return deskSession{}, "", errInvalidToken
	}
	ds, touched, err := d.api.auth.session(r.Context(), c.Value)
	if err != nil {
		return deskSession{}, "", err
	}
	if touched {
		d.setSessionCookie(w, r, c.Value) // 30 more days from now
	}
	return ds, c.Value, nil
}

// signedIn makes h a page for signed-in users: without a live session a
// GET goes to the sign-in page, and a change is refused.
func (d *desk) signedIn(h func(ctx context.Context, dr *deskRequest)) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, params httprouter.Params) {
		ds, token, err := d.currentSession(w, r)
		switch {
		case errors.Is(err, errInvalidToken):
			if _, noCookie := r.Cookie(sessionCookie); noCookie == nil {
				d.clearSessionCookie(w, r) // a dead session's cookie
			}
			if r.Method == http.MethodGet {
				redirect(w, "/desk/login")
				return
			}
			d.message(w, r, http.StatusUnauthorized, nil, "Signed out", "Your session has ended. Sign in again to continue; nothing was changed.")
			return
		case err != nil:
			d.fault(w, r, err)
			return
		}
		h(r.Context(), &deskRequest{w: w, r: r, params: params, session: ds, me: ds.User, token: token})
	}
}

func (d *desk) setSessionCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", MaxAge: int(sessionIdle.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || d.secureCookies,
	})
}

func (d *desk) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || d.secureCookies,
	})
}

// doneMessages are the notices a page shows after a change succeeded,
// named in the query of the page the change went on to: never user text.
var doneMessages = map[string]string{
	"created":   "Ticket created. Staff will answer here.",
	"replied":   "Reply posted.",
	"noted":     "Internal note added. Only staff can see it.",
	"assigned":  "Assignment saved.",
	"saved":     "Changes saved.",
	"edited":    "Ticket updated.",
	"resolved":  "Ticket resolved.",
	"reopened":  "Ticket reopened.",
	"deleted":   "Ticket deleted.",
	"signedout": "You are signed out.",
}

// ---- signing in and out ----

func (d *desk) loginPage(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if _, _, err := d.currentSession(w, r); err == nil {
		redirect(w, "/")
		return
	}
	d.render(w, r, http.StatusOK, "login", page{Title: "Sign in", Notice: doneMessages[r.URL.Query().Get("done")]})
}

func (d *desk) signInWithKey(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	u, keyID, err := d.api.auth.keyUser(r.Context(), strings.TrimSpace(r.PostForm.Get("key")))
	switch {
	case errors.Is(err, errInvalidToken):
		d.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in", Error: "That API key is not valid. Check it, or ask for a sign-in link."})
		return
	case errors.Is(err, errDisabled):
		d.render(w, r, http.StatusForbidden, "login", page{Title: "Sign in", Error: disabledAccount})
		return
	case err != nil:
		d.fault(w, r, err)
		return
	}
	token, hash := newSessionToken()
	if _, err := d.api.store.startSession(r.Context(), keyID, hash); err != nil {
		if errors.Is(err, errNotFound) { // revoked or disabled a moment ago
			d.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in", Error: "That API key is not valid. Check it, or ask for a sign-in link."})
			return
		}
		d.fault(w, r, err)
		return
	}
	d.api.log.Info("desk sign-in", "user", u.Email, "with", "key")
	d.setSessionCookie(w, r, token)
	redirect(w, "/")
}

// deadLink is what a sign-in link that cannot be spent says.
const deadLink = "This sign-in link has expired or was already used."

// linkPage shows a sign-in link's page: its Sign in button spends the link
// (a POST), so that a link previewer that fetches the URL spends nothing.
func (d *desk) linkPage(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	token := r.URL.Query().Get("token")
	alive := false
	if wellFormedSessionToken(token) {
		var err error
		if alive, err = d.api.store.signInLinkAlive(r.Context(), hashKey(token)); err != nil {
			d.fault(w, r, err)
			return
		}
	}
	if !alive {
		d.render(w, r, http.StatusGone, "link", page{Title: "Sign in", Error: deadLink})
		return
	}
	d.render(w, r, http.StatusOK, "link", page{Title: "Sign in", Token: token, Linked: true})
}

func (d *desk) signInWithLink(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	token := r.PostForm.Get("token")
	if !wellFormedSessionToken(token) {
		d.render(w, r, http.StatusGone, "link", page{Title: "Sign in", Error: deadLink})
		return
	}
	sessionToken, sessionHash := newSessionToken()
	ds, err := d.api.store.spendSignInLink(r.Context(), hashKey(token), sessionHash)
	if errors.Is(err, errNotFound) {
		d.render(w, r, http.StatusGone, "link", page{Title: "Sign in", Error: deadLink})
		return
	}
	if err != nil {
		d.fault(w, r, err)
		return
	}
	d.api.log.Info("desk sign-in", "user", ds.User.Email, "with", "link")
	d.setSessionCookie(w, r, sessionToken)
	redirect(w, "/")
}

func (d *desk) signOut(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if c, err := r.Cookie(sessionCookie); err == nil && wellFormedSessionToken(c.Value) {
		if err := committedOrLog(d.api.store.endSession(r.Context(), hashKey(c.Value)), d.api.log); err != nil {
			d.fault(w, r, err)
			return
		}
		d.api.auth.forgetSession(c.Value)
	}
	d.clearSessionCookie(w, r)
	redirect(w, "/desk/login?done=signedout")
}

// committedOrLog passes err on, except a change that committed without
// ringing the doorbell: this server forgets the session itself, and the
// others notice within a second.
func committedOrLog(err error, log *slog.Logger) error {
	if errors.Is(err, errBellNotRung) {
		log.Warn("sign-out", "err", err)
		return nil
	}
	return err
}

// newSignInLink makes a one-time sign-in link for the user with this
// e-mail, on the desk at base: its token is shown only in the link, and
// stored only as a hash.
func newSignInLink(ctx context.Context, st *store, email, base string) (string, error) {
	token, hash := newSessionToken()
	if _, err := st.addSignInLink(ctx, email, hash); err != nil {
		return "", err
	}
	return base + "/desk/link?token=" + token, nil
}

// deskBaseURL is the desk's URL for a listen address (HOST:PORT) or a URL.
// A host that names every interface (or none) is reached on 127.0.0.1.
func deskBaseURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// ---- pages ----

// home is the staff queue for staff, and a customer's own tickets for
// everyone else.
func (d *desk) home(ctx context.Context, dr *deskRequest) {
	if dr.me.Admin {
		d.queuePage(ctx, dr)
		return
	}
	d.minePage(ctx, dr)
}

// queueView is the staff queue as a page shows it.
type queueView struct {
	Status, Assigned, Priority, Platform, Search string
	Tickets                                      []ticket
	Total, Page, Pages                           int64
	Prev, Next                                   string // URLs; "" at either end
	Filtered                                     bool   // a filter or search narrows the list
}

// TabURL is the queue's URL with the assignment tab set to assigned (any,
// me, unassigned), the other filters kept.
func (q *queueView) TabURL(assigned string) string {
	return queueURL(q, assigned, 1)
}

func queueURL(q *queueView, assigned string, pageNumber int64) string {
	v := url.Values{}
	for _, kv := range [][2]string{{"assigned", assigned}, {"status", q.Status}, {"priority", q.Priority}, {"platform", q.Platform}, {"search", q.Search}} {
		if kv[1] != "" && !(kv[0] == "assigned" && kv[1] == "any") && !(kv[0] == "status" && kv[1] == "open") {
			v.Set(kv[0], kv[1])
		}
	}
	if pageNumber > 1 {
		v.Set("page", strconv.FormatInt(pageNumber, 10))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// queryFields reads the named query parameters as the API's body fields:
// text, or a whole number where the API takes one.
func queryFields(q url.Values, text []string, numbers []string) fields {
	f := fields{}
	for _, name := range text {
		if v := q.Get(name); v != "" {
			f[strings.ToLower(name)] = jsonText(v)
		}
	}
	for _, name := range numbers {
		if v := q.Get(name); v != "" {
			f[strings.ToLower(name)] = jsonNumber(v)
		}
	}
	return f
}

func jsonText(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// jsonNumber is a form's number as the API would get it: digits are a
// number, anything else a string (which the API refuses as it would).
func jsonNumber(s string) json.RawMessage {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for i, c := range s {
		if (c < '0' || c > '9') && !(i == 0 && c == '-' && len(s) > 1) {
			return jsonText(s)
		}
	}
	return json.RawMessage(s)
}

func jsonBool(b bool) json.RawMessage {
	if b {
		return json.RawMessage("true")
	}
	return json.RawMessage("false")
}

func (d *desk) queuePage(ctx context.Context, dr *deskRequest) {
	q := dr.r.URL.Query()
	v := &queueView{
		Status: q.Get("status"), Assigned: q.Get("assigned"),
		Priority: q.Get("priority"), Platform: q.Get("platform"), Search: strings.TrimSpace(q.Get("search")),
	}
	if v.Status == "" {
		v.Status = "open"
	}
	if v.Assigned == "" {
		v.Assigned = "any"
	}
	v.Filtered = v.Priority != "" || v.Platform != "" || v.Search != ""
	p := page{Title: "Queue", Me: &dr.me, Live: true, Queue: v, Platforms: d.api.platforms.names,
		Notice: doneMessages[q.Get("done")]}
	// The staff API's own reading of its filters.
	sf, pageNumber, err := d.api.staffQuery(ctx, dr.me, queryFields(q, []string{"status", "assigned", "search", "platform"}, []string{"priority", "page"}))
	if err != nil {
		status, msg, ok := d.refusal(dr.w, dr.r, err)
		if ok {
			p.Error = msg
			d.render(dr.w, dr.r, status, "queue", p)
		}
		return
	}
	v.Page = pageNumber
	if !sf.none {
		v.Total, v.Tickets, err = d.api.store.listTickets(ctx, sf.owner, sf.ticketFilter, (pageNumber-1)*pageSize, pageSize)
		if err != nil {
			d.fault(dr.w, dr.r, err)
			return
		}
	}
	v.Pages = (v.Total + pageSize - 1) / pageSize
	if pageNumber > 1 {
		v.Prev = queueURL(v, v.Assigned, pageNumber-1)
	}
	if pageNumber < v.Pages {
		v.Next = queueURL(v, v.Assigned, pageNumber+1)
	}
	d.render(dr.w, dr.r, http.StatusOK, "queue", p)
}

// mineView is a customer's own tickets as a page shows them.
type mineView struct {
	Closed             bool
	Search             string
	Tickets            []ticket
	Total, Page, Pages int64
	Prev, Next         string
}

func mineURL(closed bool, search string, pageNumber int64) string {
	v := url.Values{}
	if closed {
		v.Set("status", "closed")
	}
	if search != "" {
		v.Set("search", search)
	}
	if pageNumber > 1 {
		v.Set("page", strconv.FormatInt(pageNumber, 10))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// TabURL is the list's URL for open tickets or closed ones.
func (m *mineView) TabURL(closed bool) string { return mineURL(closed, m.Search, 1) }

func (d *desk) minePage(ctx context.Context, dr *deskRequest) {
	q := dr.r.URL.Query()
	v := &mineView{Closed: q.Get("status") == "closed", Search: strings.TrimSpace(q.Get("search"))}
	p := page{Title: "Your tickets", Me: &dr.me, Live: true, Mine: v, Notice: doneMessages[q.Get("done")]}
	// The customer lists' own reading of their filters.
	filter, pageNumber, err := d.api.listQuery(queryFields(q, []string{"search"}, []string{"page"}))
	if err != nil {
		status, msg, ok := d.refusal(dr.w, dr.r, err)
		if ok {
			p.Error = msg
			d.render(dr.w, dr.r, status, "mine", p)
		}
		return
	}
	filter.Open = !v.Closed
	v.Page = pageNumber
	v.Total, v.Tickets, err = d.api.store.listTickets(ctx, dr.me, filter, (pageNumber-1)*pageSize, pageSize)
	if err != nil {
		d.fault(dr.w, dr.r, err)
		return
	}
	v.Pages = (v.Total + pageSize - 1) / pageSize
	if pageNumber > 1 {
		v.Prev = mineURL(v.Closed, v.Search, pageNumber-1)
	}
	if pageNumber < v.Pages {
		v.Next = mineURL(v.Closed, v.Search, pageNumber+1)
	}
	d.render(dr.w, dr.r, http.StatusOK, "mine", p)
}

func (d *desk) newTicketPage(_ context.Context, dr *deskRequest) {
	d.render(dr.w, dr.r, http.StatusOK, "new", page{Title: "New ticket", Me: &dr.me, Platforms: d.api.platforms.names,
		Form: map[string]string{"priority": "2", "platform": "general"}})
}

// createTicket is POST /tickets/create for the signed-in user.
func (d *desk) createTicket(ctx context.Context, dr *deskRequest) {
	form := formValues(dr.r, "title", "description", "priority", "platform")
	f := fields{
		"title":       jsonText(form["title"]),
		"description": jsonText(form["description"]),
		"priority":    jsonNumber(form["priority"]),
	}
	if form["platform"] != "" {
		f["resourceaffected"] = jsonText(form["platform"])
	}
	_, body, err := d.api.handleTicketCreate(ctx, caller{user: dr.me}, d.apiRequest(dr, f))
	if err != nil {
		status, msg, ok := d.refusal(dr.w, dr.r, err)
		if ok {
			d.render(dr.w, dr.r, status, "new", page{Title: "New ticket", Me: &dr.me, Platforms: d.api.platforms.names, Form: form, Error: msg})
		}
		return
	}
	redirect(dr.w, "/desk/tickets/"+body.(createResponse).Data.CaseNumber+"?done=created")
}

// formValues returns the named form fields as typed.
func formValues(r *http.Request, names ...string) map[string]string {
	v := map[string]string{}
	for _, name := range names {
		v[name] = r.PostForm.Get(name)
	}
	return v
}

// apiRequest is the request an API handler gets from the desk: the form's
// fields, and what the request says of the client.
func (d *desk) apiRequest(dr *deskRequest, f fields) request {
	return request{fields: f, params: dr.params, userAgent: dr.r.UserAgent(), clientIP: peerAddress(dr.r)}
}

// ticketView is one ticket as its page shows it.
type ticketView struct {
	ticketDetail
	Staff              bool
	Admins             []user
	Editing, Deleting  bool
	Internal           int // how many of its notes are internal
	AssignedToEmail    string
	CanReply, CanClose bool
}

func (d *desk) ticketPage(ctx context.Context, dr *deskRequest) {
	q := dr.r.URL.Query()
	d.showTicket(ctx, dr, http.StatusOK, page{Notice: doneMessages[q.Get("done")]}, q.Get("edit") == "1", q.Get("delete") == "1")
}

// showTicket renders the ticket page, with p's notice, error and form.
func (d *desk) showTicket(ctx context.Context, dr *deskRequest, status int, p page, editing, deleting bool) {
	caseNumber := dr.params.ByName("case")
	staff := dr.me.Admin
	var t ticketDetail
	err := errNotFound
	if possibleCaseNumber(caseNumber) {
		switch {
		case staff:
			t, err = d.api.store.staffTicket(ctx, caseNumber)
		case dr.r.Header.Get("X-Desk-Live") != "":
			// The page's own live refresh: the customer has it open already.
			t, err = d.api.store.ownTicket(ctx, dr.me, caseNumber)
		default:
			t, err = d.api.store.fetchTicket(ctx, dr.me, caseNumber)
		}
	}
	if errors.Is(err, errNotFound) {
		d.message(dr.w, dr.r, http.StatusNotFound, &dr.me, "Not found", "There is no ticket "+caseNumber+" that you can see.")
		return
	}
	if err != nil {
		d.fault(dr.w, dr.r, err)
		return
	}
	v := &ticketView{ticketDetail: t, Staff: staff, CanReply: t.Open, CanClose: t.Open}
	v.Editing = editing && !staff && t.Open
	v.Deleting = deleting && !staff && t.Open
	for _, n := range t.Notes {
		if n.Internal {
			v.Internal++
		}
	}
	if staff {
		if v.Admins, err = d.api.store.admins(ctx); err != nil {
			d.fault(dr.w, dr.r, err)
			return
		}
		if t.AssignedTo != nil {
			v.AssignedToEmail = t.AssignedTo.Email
		}
	}
	p.Title, p.Me, p.Live, p.Ticket, p.Platforms = "#"+t.CaseNumber+" "+t.Subject, &dr.me, true, v, d.api.platforms.names
	if p.Form == nil {
		p.Form = map[string]string{}
	}
	d.render(dr.w, dr.r, status, "ticket", p)
}

// ticketAction makes one change to a ticket through the API's handler for
// it: the customer's for a customer, the staff API's for staff.
func (d *desk) ticketAction(ctx context.Context, dr *deskRequest) {
	caseNumber := dr.params.ByName("case")
	f := fields{"caseid": jsonText(caseNumber)}
	form := formValues(dr.r, "message", "title", "description")
	var h apiHandler
	var done string
	editing := false
	switch action := dr.params.ByName("action"); {
	case action == "reply" && dr.me.Admin:
		internal := dr.r.PostForm.Get("internal") == "true"
		f["note"], f["internal"] = jsonText(form["message"]), jsonBool(internal)
		h, done = staffOnly(d.api.handleStaffReply), "replied"
		if internal {
			done = "noted"
		}
	case action == "reply": // the customer's: the update's public Note
		f["note"] = jsonText(form["message"])
		h, done = d.api.handleTicketUpdate, "replied"
	case action == "edit" && !dr.me.Admin:
		f["title"], f["description"] = jsonText(form["title"]), jsonText(form["description"])
		h, done, editing = d.api.handleTicketUpdate, "edited", true
	case action == "resolve" && dr.me.Admin:
		h, done = staffOnly(d.api.handleStaffResolve), "resolved"
	case action == "resolve":
		h, done = d.api.handleTicketResolve, "resolved"
	case action == "delete" && !dr.me.Admin:
		h, done = d.api.handleTicketDelete, "deleted"
	case action == "reopen" && dr.me.Admin:
		h, done = staffOnly(d.api.handleStaffReopen), "reopened"
	case action == "assign" && dr.me.Admin:
		f["assignto"] = jsonText(dr.r.PostForm.Get("assign"))
		h, done = staffOnly(d.api.handleStaffUpdate), "assigned"
	case action == "update" && dr.me.Admin:
		f["priority"] = jsonNumber(dr.r.PostForm.Get("priority"))
		f["completion"] = jsonNumber(dr.r.PostForm.Get("completion"))
		f["resourceaffected"] = jsonText(dr.r.PostForm.Get("platform"))
		f["pin"] = jsonBool(dr.r.PostForm.Get("pin") == "on")
		f["locked"] = jsonBool(dr.r.PostForm.Get("locked") == "on")
		h, done = staffOnly(d.api.handleStaffUpdate), "saved"
	default:
		d.message(dr.w, dr.r, http.StatusNotFound, &dr.me, "Not found", "The desk has no such action.")
		return
	}
	if _, _, err := h(ctx, caller{user: dr.me}, d.apiRequest(dr, f)); err != nil {
		status, msg, ok := d.refusal(dr.w, dr.r, err)
		if !ok {
			return
		}
		switch status {
		case http.StatusNotFound:
			d.message(dr.w, dr.r, status, &dr.me, "Not found", msg)
			return
		case http.StatusForbidden:
			d.message(dr.w, dr.r, status, &dr.me, "Not yours", msg)
			return
		}
		d.showTicket(ctx, dr, status, page{Error: msg, Form: form}, editing, false)
		return
	}
	if done == "deleted" {
		redirect(dr.w, "/?done=deleted")
		return
	}
	redirect(dr.w, "/desk/tickets/"+caseNumber+"?done="+done)
}

// ---- live updates ----

// events is the stream a live page follows: an "change" event whenever a
// ticket it may show changed (every ticket for staff, the customer's own
// for a customer), at most one per liveInterval, and "ended" when the
// session has ended. Shutting the server down ends every stream.
func (d *desk) events(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	ds, token, err := d.currentSession(w, r)
	if err != nil {
		if !errors.Is(err, errInvalidToken) {
			d.fault(w, r, err)
			return
		}
		setDeskHeaders(w)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "signed out", http.StatusUnauthorized)
		return
	}
	// The server's read and write timeouts are for requests; a stream
	// lives until its page closes.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	setDeskHeaders(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	owner := ds.User.ID
	if ds.User.Admin {
		owner = anyOwner
	}
	feed := d.api.store.changes
	watch, stop := feed.watch(owner)
	defer stop()
	send := func(event string) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, event); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// still reports whether the session goes on with the same role; a
	// stream of staff must not go on for a user who is staff no longer.
	still := func() bool {
		now, _, err := d.api.auth.session(r.Context(), token)
		return err == nil && now.User.Admin == ds.User.Admin
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	heartbeat := time.NewTicker(20 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-feed.done():
			return
		case <-heartbeat.C:
			if !still() {
				send("ended")
				return
			}
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-watch.changed:
			if !still() {
				send("ended")
				return
			}
			if !send("change") {
				return
			}
			// Changes in the next moment wait in watch.changed: one event.
			select {
			case <-time.After(d.liveInterval):
			case <-r.Context().Done():
				return
			case <-feed.done():
				return
			}
		}
	}
}

// ---- static files ----

func (d *desk) asset(w http.ResponseWriter, r *http.Request, params httprouter.Params) {
	a, ok := deskAssets()[params.ByName("name")]
	if !ok {
		writeError(w, r, d.api.log, codedErrors, errRouteNotFound)
		return
	}
	setDeskHeaders(w)
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	w.Write(a.body)
}

// ---- how pages say things ----

// relativeTime says how long before now t was: "just now", "5 min ago",
// "3 h ago", "yesterday", "4 days ago", then the date. desk.js says the
// same in the browser as time passes.
func relativeTime(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", max(1, int(d.Round(time.Minute)/time.Minute)))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	case d < 48*time.Hour:
		return "yesterday"
	case d < 7*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	case t.Year() == now.Year():
		return t.UTC().Format("2 Jan")
	}
	return t.UTC().Format("2 Jan 2006")
}

// exactTime is a time in full, shown on hover (desk.js shows it in the
// reader's own time zone).
func exactTime(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:04:05 UTC") }

func priorityName(p int) string {
	switch p {
	case 1:
		return "Low"
	case 2:
		return "Medium"
	case 3:
		return "High"
	}
	return strconv.Itoa(p)
}

// historyAction says what a statistics entry records, after its user's name.
func historyAction(action string) string {
	if s, ok := map[string]string{
		"create": "opened the ticket", "update": "updated the ticket", "reply": "replied",
		"note": "added an internal note", "assign": "changed the assignee", "priority": "changed the priority",
		"completion": "changed the completion", "pin": "pinned the ticket", "unpin": "unpinned the ticket",
		"lock": "locked the ticket", "unlock": "unlocked the ticket", "platform": "changed the platform",
		"resolve": "resolved the ticket", "reopen": "reopened the ticket",
	}[action]; ok {
		return s
	}
	return action
}
