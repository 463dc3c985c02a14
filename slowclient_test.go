package main

// Slow and greedy clients against newHTTPServer's limits: a real server on
// a real 127.0.0.1 listener, with short limits, and raw TCP clients. The
// times here are only upper bounds on a hang, never on speed.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hangBound is how long a test waits for the server to close a connection
// that a limit should close; every limit under test is far shorter, and
// every default (the ReadHeaderTimeout aside) far longer.
const hangBound = 10 * time.Second

// shortLimits are the limits the slow-client tests run under.
var shortLimits = serverLimits{
	readHeader:     300 * time.Millisecond,
	read:           600 * time.Millisecond,
	write:          2 * time.Second,
	idle:           500 * time.Millisecond,
	maxHeaderBytes: 8192,
}

// onlyShort returns limits in which only the named one is short: a
// connection closed well within hangBound was closed by that limit.
func onlyShort(name string) serverLimits {
	l := serverLimits{readHeader: time.Minute, read: time.Minute, write: time.Minute, idle: time.Minute,
		maxHeaderBytes: shortLimits.maxHeaderBytes}
	switch name {
	case "readHeader":
		l.readHeader = shortLimits.readHeader
	case "read":
		l.read = shortLimits.read
	case "idle":
		l.idle = shortLimits.idle
	case "read and write":
		// As in defaultLimits: both deadlines pass at about the same moment.
		l.read, l.write = shortLimits.read, shortLimits.read
	case "write before read":
		// The write deadline surely passes first.
		l.read, l.write = shortLimits.read, shortLimits.read/2
	}
	return l
}

// limitedServer is the real API, over a fixture's store, served by
// newHTTPServer with the given limits; served counts the requests that
// reached the handler.
type limitedServer struct {
	*fixture
	addr   string
	served atomic.Int64
}

func startLimitedServer(t *testing.T, limits serverLimits) *limitedServer {
	t.Helper()
	s := &limitedServer{fixture: newFixture(t)}
	logger := slog.New(slog.NewTextHandler(s.logs, nil))
	api := newServer(s.store, newAuthenticator(s.store, 0), defaultPlatforms(), logger, corsPolicy{})
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.served.Add(1)
		api.ServeHTTP(w, r)
	}), logger, limits)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	// Registered after newFixture's cleanup, so it runs before the store closes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangBound)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
			srv.Close()
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

func (s *limitedServer) dial(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readUntilClosed returns what r yields until the server closes the
// connection, and fails the test if it is still open after hangBound.
func readUntilClosed(t *testing.T, conn net.Conn, r io.Reader) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(hangBound))
	b, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server had not closed the connection after %v (read so far: %q)", hangBound, b)
	}
	// io.EOF (nil here) or a reset: either way the server closed it.
	return string(b)
}

// goBadRequest is net/http's own answer to a request whose headers it gave
// up reading (Go 1.26 sends it when the header timeout strikes after part of
// a request arrived). It never comes from the handler.
const goBadRequest = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"

// TestSlowClientHeaders: a client sending its request one byte every 100 ms
// never completes its headers in time; ReadHeaderTimeout closes the
// connection (after Go's own 400 at most), and the request never reaches
// the handler.
func TestSlowClientHeaders(t *testing.T) {
	t.Parallel()
	for name, limits := range map[string]serverLimits{"short limits": shortLimits, "only ReadHeaderTimeout short": onlyShort("readHeader")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startLimitedServer(t, limits)
			conn := s.dial(t)
			request := rawPost("/tickets/fetchOpenTickets", s.aliceKey, contentLength(2)) + "{}"
			stop := make(chan struct{})
			defer close(stop)
			sentAll := make(chan bool, 1)
			go func() {
				for i := range len(request) {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := conn.Write([]byte{request[i]}); err != nil {
						return // the server closed the connection
					}
				}
				sentAll <- true
			}()
			got := readUntilClosed(t, conn, conn)
			t.Logf("before closing, the server sent %q", got)
			if got != "" && got != goBadRequest {
				t.Errorf("the server answered a request it never finished reading: %q", got)
			}
			select {
			case <-sentAll:
				t.Errorf("the whole request went out before the connection was closed")
			default:
			}
			if n := s.served.Load(); n != 0 {
				t.Errorf("%d requests reached the handler", n)
			}
		})
	}
}

// TestSlowClientBody: complete headers promising 100 bytes of body, then
// silence: ReadTimeout ends the body. The handler, already running, answers
// 408, also when the write deadline has passed with the read deadline (as
// it may with defaultLimits, whose two are equal: the server once sent
// nothing there while logging a 400), or before it; then the connection
// closes.
func TestSlowClientBody(t *testing.T) {
	t.Parallel()
	for name, limits := range map[string]serverLimits{"short limits": shortLimits, "only ReadTimeout short": onlyShort("read"),
		"ReadTimeout and WriteTimeout equal": onlyShort("read and write"), "WriteTimeout shorter": onlyShort("write before read")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startLimitedServer(t, limits)
			before := s.rows()
			conn := s.dial(t)
			if _, err := io.WriteString(conn, rawPost("/tickets/update", s.aliceKey, contentLength(100))+`{"CaseId":"`+s.open); err != nil {
				t.Fatal(err)
			}
			got := readUntilClosed(t, conn, conn)
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Fatalf("no readable answer %q: %v", got, err)
			}
			body, _ := io.ReadAll(resp.Body)
			response{status: resp.StatusCode, header: resp.Header, body: string(body)}.
				expect(t, 408, `{"Response":false,"Message":"Request timeout"}`)
			if !resp.Close {
				t.Errorf("the answer does not say the connection closes")
			}
			if !strings.Contains(s.logs.String(), "status=408") {
				t.Errorf("the log does not record the 408:\n%s", s.logs)
			}
			if n := s.served.Load(); n != 1 {
				t.Errorf("%d requests reached the handler, want 1", n)
			}
			if s.rows() != before {
				t.Errorf("a cut-short request changed tickets")
			}
		})
	}
}

// TestSlowClientIdle: a keep-alive connection serves one request after
// another, and once idle is closed by IdleTimeout.
func TestSlowClientIdle(t *testing.T) {
	t.Parallel()
	for name, limits := range map[string]serverLimits{"short limits": shortLimits, "only IdleTimeout short": onlyShort("idle")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startLimitedServer(t, limits)
			conn := s.dial(t)
			conn.SetDeadline(time.Now().Add(hangBound))
			br := bufio.NewReader(conn)
			for range 2 {
				if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: ticketd.test\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				response{status: resp.StatusCode, header: resp.Header, body: string(body)}.expect(t, 200, `{"Response":true,"Status":"ok"}`)
				if resp.Close {
					t.Fatalf("the server did not keep the connection alive")
				}
			}
			if rest := readUntilClosed(t, conn, br); rest != "" {
				t.Errorf("the server sent %q to an idle connection", rest)
			}
			if n := s.served.Load(); n != 2 {
				t.Errorf("%d requests reached the handler, want 2", n)
			}
		})
	}
}

// requestOfSize is a GET of /healthz whose line and headers take exactly
// size bytes, CRLFs included.
func requestOfSize(t *testing.T, size int) string {
	t.Helper()
	const head, tail = "GET /healthz HTTP/1.1\r\nHost: ticketd.test\r\nX-Pad: ", "\r\n\r\n"
	pad := size - len(head) - len(tail)
	if pad < 1 {
		t.Fatalf("no request has only %d bytes", size)
	}
	return head + strings.Repeat("a", pad) + tail
}

// sendRaw writes request on a new connection to addr and reads the answer.
func sendRaw(t *testing.T, addr, request string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(hangBound))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("request of %d bytes: %v", len(request), err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestSlowClientHugeHeaders: a request whose line and headers take more
// than maxHeaderBytes gets Go's 431 and never reaches the handler; one of
// exactly maxHeaderBytes is served.
func TestSlowClientHugeHeaders(t *testing.T) {
	t.Parallel()
	s := startLimitedServer(t, shortLimits)
	for _, size := range []int{shortLimits.maxHeaderBytes + 1, 4 * shortLimits.maxHeaderBytes} {
		if status, body := sendRaw(t, s.addr, requestOfSize(t, size)); status != 431 || body != "431 Request Header Fields Too Large" {
			t.Errorf("headers of %d bytes: %d %q", size, status, body)
		}
	}
	if n := s.served.Load(); n != 0 {
		t.Errorf("%d requests with huge headers reached the handler", n)
	}
	if status, body := sendRaw(t, s.addr, requestOfSize(t, shortLimits.maxHeaderBytes)); status != 200 || body != `{"Response":true,"Status":"ok"}` {
		t.Errorf("headers of exactly %d bytes: %d %q", shortLimits.maxHeaderBytes, status, body)
	}
	// A POST whose body arrives with its headers: the body does not count.
	request := rawPost("/tickets/fetchClosedTickets", s.aliceKey, contentLength(2))
	request = strings.Replace(request, "\r\n\r\n", "\r\nX-Pad: "+strings.Repeat("a", shortLimits.maxHeaderBytes-len(request)-9)+"\r\n\r\n", 1) + "{}"
	if status, body := sendRaw(t, s.addr, request); status != 200 || body != s.fill(closedListBody) {
		t.Errorf("a POST of %d bytes of headers: %d %q", len(request)-2, status, body)
	}
	if n := s.served.Load(); n != 2 {
		t.Errorf("%d requests reached the handler, want 2", n)
	}
}

// TestOptionsStar: "OPTIONS *" is a method no path serves: the contract's
// 405, with the methods the server serves, not net/http's empty 200.
func TestOptionsStar(t *testing.T) {
	t.Parallel()
	s := startLimitedServer(t, shortLimits)
	conn := s.dial(t)
	conn.SetDeadline(time.Now().Add(hangBound))
	if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: ticketd.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	response{status: resp.StatusCode, header: resp.Header, body: string(body)}.
		expect(t, 405, `{"Response":false,"Message":"Method Not Allowed","Code":405}`)
	if allow := resp.Header.Get("Allow"); allow != "DELETE, GET, POST" {
		t.Errorf("Allow = %q, want %q", allow, "DELETE, GET, POST")
	}
}

func TestDefaultLimits(t *testing.T) {
	l := defaultLimits
	if l.readHeader <= 0 || l.read <= 0 || l.write <= 0 || l.idle <= 0 || l.maxHeaderBytes <= 0 {
		t.Errorf("a zero default limit turns that limit off: %+v", l)
	}
	if l.readHeader > l.read {
		t.Errorf("readHeader %v is longer than read %v, which cuts headers first", l.readHeader, l.read)
	}
	// newHTTPServer puts each limit where it belongs.
	srv := newHTTPServer(http.NotFoundHandler(), discardLogger(), l)
	// net/http reads goHeaderSlack bytes past MaxHeaderBytes.
	if srv.ReadHeaderTimeout != l.readHeader || srv.ReadTimeout != l.read || srv.WriteTimeout != l.write ||
		srv.IdleTimeout != l.idle || srv.MaxHeaderBytes+goHeaderSlack != l.maxHeaderBytes || !srv.DisableGeneralOptionsHandler {
		t.Errorf("newHTTPServer(defaultLimits) = %+v", srv)
	}
}

// TestServeUsesDefaultLimits runs "ticketd serve" (run(), in process) and
// observes two of defaultLimits from outside, where Go's own defaults would
// differ: a request line and headers of maxHeaderBytes + 1 (far under Go's
// 1 MB default) get 431, of exactly maxHeaderBytes are served (before, up
// to 4 KiB more were); and a client dribbling its headers is
// cut off, which with Go's default (no ReadHeaderTimeout) never happens.
// read, write and idle (30 s, 30 s, 120 s) are not observed: that would
// take minutes, or a change to main.go exposing the server runServe builds.
func TestServeUsesDefaultLimits(t *testing.T) {
	t.Parallel()
	if over := defaultLimits.maxHeaderBytes + 8192; over >= http.DefaultMaxHeaderBytes {
		t.Fatalf("maxHeaderBytes %d cannot be told from Go's default", defaultLimits.maxHeaderBytes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	db := t.TempDir() + "/limits.db"
	p := startServe(t, ctx, func(string) string { return "" }, "-db", db)
	addr := strings.TrimPrefix(p.addr, "http://")
	defer func() {
		cancel()
		if err := <-p.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	if status, body := sendRaw(t, addr, requestOfSize(t, defaultLimits.maxHeaderBytes)); status != 200 || body != `{"Response":true,"Status":"ok"}` {
		t.Errorf("headers at the limit: %d %s", status, body)
	}
	if status, body := sendRaw(t, addr, requestOfSize(t, defaultLimits.maxHeaderBytes+1)); status != 431 || body != "431 Request Header Fields Too Large" {
		t.Errorf("headers over the limit: %d %s", status, body)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		request := "GET /healthz HTTP/1.1\r\nHost: ticketd.test\r\nX-Pad: " + strings.Repeat("a", 1000) + "\r\n\r\n"
		for i := range len(request) {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{request[i]}); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(defaultLimits.readHeader + hangBound))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a client dribbling its headers was not cut off within %v", defaultLimits.readHeader+hangBound)
	}
	if len(b) != 0 && string(b) != goBadRequest {
		t.Errorf("the server answered unfinished headers: %q", b)
	}
}
