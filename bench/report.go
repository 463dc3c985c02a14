package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// clean reports whether every answer was 200, no request failed and
// ticketd stopped cleanly.
func (res results) clean() bool {
	if res.stopFailed {
		return false
	}
	for _, r := range slices.Concat(res.ticketd, res.noop) {
		if r.failures() > 0 {
			return false
		}
	}
	return true
}

// printRun prints one run as soon as it is done, loudly if anything failed.
func printRun(w io.Writer, name, unit string, r runResult) {
	fmt.Fprintf(w, "%s: %.0f %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d in %v)\n",
		name, r.rate(), unit,
		fmtLatency(r.percentile(0.50)), fmtLatency(r.percentile(0.90)),
		fmtLatency(r.percentile(0.99)), fmtLatency(r.percentile(0.999)), fmtLatency(r.percentile(1)),
		len(r.latencies), r.window)
	if r.cpu.known {
		fmt.Fprintf(w, "    %v\n", r.cpu)
	}
	if r.failures() > 0 {
		fmt.Fprintf(w, "!!!!!! %s: %d FAILED REQUESTS (%s); the first: %s\n",
			strings.ToUpper(name), r.failures(), failureSummary(r), r.firstBad)
	}
}

// percentile is the latency below or at which a fraction q of the answers
// completed (nearest rank); 0 when there were none.
func (r runResult) percentile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.latencies)))) - 1
	return r.latencies[max(i, 0)]
}

// failureSummary lists the non-200 answers by code, then transport errors.
func failureSummary(r runResult) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(r.statuses)) {
		parts = append(parts, fmt.Sprintf("%d×%d", r.statuses[code], code))
	}
	if r.transport > 0 {
		parts = append(parts, fmt.Sprintf("%d transport errors", r.transport))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func fmtLatency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}

func fmtRSS(bytes int64) string {
	if bytes == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}

func fmtRatio(num, den float64) string {
	if den == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", num/den)
}

// printReport prints the ratios and the final markdown table: one row per
// ticketd run, then the ceilings' rows.
func printReport(w io.Writer, cfg config, res results) {
	fmt.Fprintln(w)
	for i, r := range res.ticketd {
		fmt.Fprintf(w, "ticketd at %d conns: %.0f req/s", r.conns, r.rate())
		if res.noop != nil {
			fmt.Fprintf(w, " = %s× ceiling (a) no-op HTTP (%.0f req/s)", fmtRatio(r.rate(), res.noop[i].rate()), res.noop[i].rate())
		}
		if res.sqlite != nil {
			fmt.Fprintf(w, " = %s× ceiling (b) SQLite (%.0f tx/s, right after)", fmtRatio(r.rate(), res.sqlite[i].rate()), res.sqlite[i].rate())
		}
		fmt.Fprintln(w)
	}
	if len(res.ticketd) > 1 && res.rss[0] != 0 {
		fmt.Fprintln(w, "peak RSS is the server's VmHWM since it started (seeding included), read after each run")
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| config | conns | req/s | p50 | p90 | p99 | p99.9 | non-200 | peak RSS | ×(a) | ×(b) |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for i, r := range res.ticketd {
		ra, rb := "–", "–"
		if res.noop != nil {
			ra = fmtRatio(r.rate(), res.noop[i].rate())
		}
		if res.sqlite != nil {
			rb = fmtRatio(r.rate(), res.sqlite[i].rate())
		}
		tableRow(w, res.label, r, fmtRSS(res.rss[i]), ra, rb)
	}
	for _, r := range res.noop {
		tableRow(w, "(a) no-op net/http handler", r, "–", "–", "–")
	}
	for i, r := range res.sqlite {
		tableRow(w, fmt.Sprintf("(b) SQLite update tx, 1 goroutine, sync=%s (tx/s), after the %d-conn run", cfg.sync, res.ticketd[i].conns), r, "–", "–", "–")
	}
}

func tableRow(w io.Writer, config string, r runResult, rss, ratioA, ratioB string) {
	fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
		config, r.conns, r.rate(),
		fmtLatency(r.percentile(0.50)), fmtLatency(r.percentile(0.90)),
		fmtLatency(r.percentile(0.99)), fmtLatency(r.percentile(0.999)),
		failureSummary(r), rss, ratioA, ratioB)
}
