package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// workload is what the load generator sends: one key per user and, per user,
// the case numbers of the tickets that user owns.
type workload struct {
	keys  []string
	cases [][]string // cases[u] are owned by keys[u]
}

// seedTickets creates total tickets through POST /tickets/create, ticket n
// for user n mod len(keys), over seedConns connections.
func seedTickets(ctx context.Context, addr string, keys []string, total int) (workload, error) {
	users := len(keys)
	w := workload{keys: keys, cases: make([][]string, users)}
	for u := range users {
		w.cases[u] = make([]string, (total-u+users-1)/users)
	}
	fmt.Printf("creating %d tickets over %d users with %d connections\n", total, users, seedConns)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	began := time.Now()
	stopProgress := reportProgress(&done, total, began)
	var wg sync.WaitGroup
	for range min(seedConns, total) {
		wg.Go(func() {
			if err := seedWorker(ctx, addr, &w, total, &next, &done); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	stopProgress()
	if err := context.Cause(ctx); err != nil {
		return w, fmt.Errorf("create tickets: %w", err)
	}
	elapsed := time.Since(began)
	fmt.Printf("created %d tickets in %.1fs (%.0f/s)\n", total, elapsed.Seconds(), float64(total)/elapsed.Seconds())
	return w, nil
}

// reportProgress prints how far the seeding is every 10 s until stopped, so
// a run with a million tickets does not look hung.
func reportProgress(done *atomic.Int64, total int, began time.Time) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				n := done.Load()
				rate := float64(n) / time.Since(began).Seconds()
				left := time.Duration(float64(int64(total)-n) / max(rate, 1) * float64(time.Second))
				fmt.Printf("  %d/%d tickets (%.0f/s, about %v left)\n", n, total, rate, left.Round(time.Second))
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// seedWorker creates tickets until next passes total.
func seedWorker(ctx context.Context, addr string, w *workload, total int, next, done *atomic.Int64) error {
	c := newHTTPConn(addr, time.Time{})
	c.timeout = 30 * time.Second
	defer c.close()
	users := len(w.keys)
	var body, req []byte
	for ctx.Err() == nil {
		n := int(next.Add(1) - 1)
		if n >= total {
			return nil
		}
		user := n % users
		body = appendCreateBody(body[:0], n)
		req = appendRequest(req[:0], addr, "/tickets/create", w.keys[user], body)
		caseNumber, err := createTicket(c, req)
		if err != nil {
			return fmt.Errorf("ticket %d for user %d: %w", n, user, err)
		}
		w.cases[user][n/users] = caseNumber
		done.Add(1)
	}
	return ctx.Err()
}

// createTicket sends one create request and returns the new case number.
// A request that fails in transport is sent again on a new connection: at
// worst that creates a ticket nobody updates, which is harmless.
func createTicket(c *httpConn, req []byte) (string, error) {
	var lastErr error
	for range 3 {
		status, body, err := c.roundTrip(req)
		if err != nil {
			lastErr = err
			continue
		}
		if status != 201 {
			return "", fmt.Errorf("status %d, want 201: %s", status, clip(body))
		}
		var answer struct{ Data struct{ CaseNumber string } }
		if err := json.Unmarshal(body, &answer); err != nil {
			return "", fmt.Errorf("decode answer %s: %w", clip(body), err)
		}
		if !validCaseNumber(answer.Data.CaseNumber) {
			return "", fmt.Errorf("answer has no usable CaseNumber: %s", clip(body))
		}
		return answer.Data.CaseNumber, nil
	}
	return "", lastErr
}

// validCaseNumber reports whether s is 7 characters of A-Z/0-9, which also
// makes it safe to put into a JSON string as it is.
func validCaseNumber(s string) bool {
	if len(s) != 7 {
		return false
	}
	for _, ch := range []byte(s) {
		if !('0' <= ch && ch <= '9' || 'A' <= ch && ch <= 'Z') {
			return false
		}
	}
	return true
}

func appendCreateBody(dst []byte, n int) []byte {
	dst = append(dst, `{"Title":"bench ticket `...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, `","Description":"Created by the ticketd benchmark, to be updated over and over","Priority":2}`...)
}

// appendUpdateBody appends the seed document's update body, with a counter
// in the title so that every update changes the row.
func appendUpdateBody(dst []byte, caseNumber string, n int) []byte {
	dst = append(dst, `{"CaseId":"`...)
	dst = append(dst, caseNumber...)
	dst = append(dst, `","Title":"UPDATED: Issue with sweepstakes entry `...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, `","Description":"Users are unable to submit entries on both mobile and desktop versions"}`...)
}

// runResult is one measured run.
type runResult struct {
	conns     int
	window    time.Duration
	latencies []time.Duration // of the answers completed inside the window, sorted
	statuses  map[int]int     // answers other than 200 by code, warm-up included
	transport int             // failed requests (dial, write, read, framing), warm-up included
	firstBad  string          // the first failure or non-200 answer, for the report
	cpu       cpuUse          // who used the CPUs during the window
}

// rate is answers per second inside the measured window.
func (r runResult) rate() float64 { return float64(len(r.latencies)) / r.window.Seconds() }

// failures counts non-200 answers and failed requests.
func (r runResult) failures() int {
	n := r.transport
	for _, count := range r.statuses {
		n += count
	}
	return n
}

// drive runs the update load: conns connections, each with one user's key,
// cycling through that user's tickets, for warmUp and then d. Connection i
// has user i mod users; connections that share a user start at different
// points of its tickets. Each connection sends its next request as soon as
// the answer to the last one arrives (a closed loop), so latencies are those
// of a server kept busy, not of a fixed arrival rate. serverPid, when not 0,
// is the server process whose CPU use is reported.
func drive(ctx context.Context, addr string, w workload, conns int, d time.Duration, serverPid int) runResult {
	users := len(w.keys)
	perUser := (conns + users - 1) / users
	start := time.Now().Add(warmUp)
	end := start.Add(d)
	cpu := watchCPU(ctx, serverPid, start, end)
	stats := make([]runResult, conns)
	var wg sync.WaitGroup
	for i := range conns {
		user := i % users
		cases := w.cases[user]
		first := (i / users) * len(cases) / perUser
		wg.Go(func() { stats[i] = updateWorker(ctx, addr, w.keys[user], cases, first, start, end) })
	}
	wg.Wait()
	r := merge(stats, conns, d)
	r.cpu = cpu()
	return r
}

// failurePause keeps a worker whose server is gone from spinning on dials.
const failurePause = 10 * time.Millisecond

// updateWorker sends updates on one connection until end, and records the
// latency of every answer that completes in [start, end).
func updateWorker(ctx context.Context, addr, key string, cases []string, first int, start, end time.Time) runResult {
	r := runResult{statuses: map[int]int{}, latencies: make([]time.Duration, 0, 4096)}
	// The deadline is fixed for the whole run rather than reset per request,
	// which would cost a timer update each time.
	c := newHTTPConn(addr, end.Add(10*time.Second))
	defer c.close()
	var body, req []byte
	for n := 0; ctx.Err() == nil && time.Now().Before(end); n++ {
		body = appendUpdateBody(body[:0], cases[(first+n)%len(cases)], n)
		req = appendRequest(req[:0], addr, "/tickets/update", key, body)
		t0 := time.Now()
		status, answer, err := c.roundTrip(req)
		t1 := time.Now()
		if err != nil {
			r.transport++
			r.noteBad("transport error: " + err.Error())
			time.Sleep(failurePause)
			continue
		}
		if status != 200 {
			r.statuses[status]++
			r.noteBad(fmt.Sprintf("status %d: %s", status, clip(answer)))
		}
		if !t1.Before(start) && t1.Before(end) {
			r.latencies = append(r.latencies, t1.Sub(t0))
		}
	}
	return r
}

func (r *runResult) noteBad(what string) {
	if r.firstBad == "" {
		r.firstBad = what
	}
}

// merge adds up the workers' results and sorts the latencies.
func merge(workers []runResult, conns int, window time.Duration) runResult {
	total := runResult{conns: conns, window: window, statuses: map[int]int{}}
	for _, w := range workers {
		total.latencies = append(total.latencies, w.latencies...)
		for code, n := range w.statuses {
			total.statuses[code] += n
		}
		total.transport += w.transport
		if total.firstBad == "" {
			total.firstBad = w.firstBad
		}
	}
	slices.Sort(total.latencies)
	return total
}

// clip shortens an answer body for an error message.
func clip(b []byte) string {
	const max = 300
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
