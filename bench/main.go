// Command bench measures ticketd's hot path, POST /tickets/update, against its
// two ceilings in one run, and prints a table:
//
//   - ticketd: a freshly built server on a fresh database, driven for -d by C
//     keep-alive connections (after a 1 s warm-up that is not counted); each
//     connection uses one user's key and cycles through that user's tickets,
//     so every answer should be 200.
//   - ceiling (a): the same load generator against an in-process no-op
//     net/http handler that decodes the same body and writes a same-sized
//     reply: what HTTP and JSON alone cost on this machine.
//   - ceiling (b): the update transaction (BEGIN IMMEDIATE; UPDATE … RETURNING;
//     INSERT statistics; COMMIT) run by one goroutine straight on SQLite, on a
//     fresh file with the same schema and data: what one writer with a commit
//     per update can do. It runs right after each ticketd run (the server
//     idle), so that each ×(b) compares figures from the same minute.
//
// The load generator runs in this process and shares the CPUs with the server
// (2 cores on the reference machine), so absolute figures are lower than with
// a separate client machine; ceiling (a) is measured under the same sharing,
// which keeps the ratio ×(a) meaningful. Each run also prints how much CPU
// the server, the load generator and other processes used, so that a run
// disturbed by something else on the machine shows as such.
//
// Run it from the module root:
//
//	go run ./bench                          # 32 conns, 10 s, 32 users, 10,000 tickets
//	go run ./bench -c 8,32,64 -d 5s         # several connection counts, one server
//	go run ./bench -sync full               # synchronous=FULL (server and ceiling b)
//	go run ./bench -serverflag=-max-batch=1 # extra flags for "ticketd serve", repeatable
//	go run ./bench -url http://127.0.0.1:8080 -keys keys.txt [-pid PID]
//
// It exits with status 1 when any answer was not 200 or any request failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// warmUp runs before every measured window and is not counted: it opens the
// connections and lets the server's caches and the Go runtime settle.
const warmUp = time.Second

// seedConns is how many connections create the tickets.
const seedConns = 32

type config struct {
	conns        []int
	duration     time.Duration
	users        int
	tickets      int
	sync         string
	url          string
	keysFile     string
	pid          int
	serverFlags  []string
	skipCeilings bool
	bin          string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	clean, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if !clean {
		fmt.Fprintln(os.Stderr, "bench: FAILED: some answers were not 200, some requests failed, or ticketd did not stop cleanly (see above)")
		os.Exit(1)
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func parseConfig(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	conns := fs.String("c", "32", "connections; a comma list (8,32,64) runs each in turn")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "measured duration of each run")
	fs.IntVar(&cfg.users, "users", 32, "users (one API key each); with -url, one user per key instead")
	fs.IntVar(&cfg.tickets, "tickets", 10000, "tickets to create, spread over the users")
	fs.StringVar(&cfg.sync, "sync", "normal", "normal or full: the server's -sync and ceiling (b)'s synchronous")
	fs.StringVar(&cfg.url, "url", "", "target an already-running server (needs -keys)")
	fs.StringVar(&cfg.keysFile, "keys", "", "with -url: file with one API key per line")
	fs.IntVar(&cfg.pid, "pid", 0, "with -url: the server's pid, to report its peak RSS")
	fs.Var((*stringList)(&cfg.serverFlags), "serverflag", "extra flag for \"ticketd serve\" (repeatable)")
	fs.BoolVar(&cfg.skipCeilings, "skip-ceilings", false, "measure ticketd only")
	fs.StringVar(&cfg.bin, "bin", "", "use this ticketd binary instead of building one")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if cfg.conns, err = parseConns(*conns); err != nil {
		return cfg, err
	}
	return cfg, validate(cfg)
}

func parseConns(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-c: %q is not a positive number", part)
		}
		out = append(out, n)
	}
	return out, nil
}

func validate(cfg config) error {
	switch {
	case cfg.sync != "normal" && cfg.sync != "full":
		return fmt.Errorf("-sync must be normal or full, not %q", cfg.sync)
	case cfg.duration <= 0:
		return errors.New("-d must be positive")
	case cfg.users < 1:
		return errors.New("-users must be at least 1")
	case cfg.url == "" && cfg.tickets < cfg.users:
		// Every connection needs a ticket its user owns.
		return errors.New("-tickets must be at least -users")
	case cfg.url != "" && cfg.keysFile == "":
		return errors.New("-url needs -keys FILE")
	case cfg.url == "" && (cfg.keysFile != "" || cfg.pid != 0):
		return errors.New("-keys and -pid go with -url")
	case cfg.url != "" && (cfg.bin != "" || len(cfg.serverFlags) > 0):
		return errors.New("-bin and -serverflag do not go with -url")
	}
	return nil
}

// results is everything the report prints.
type results struct {
	label   string      // the ticketd configuration
	work    workload    // the users and tickets ticketd was measured with
	ticketd []runResult // one per connection count
	rss     []int64     // ticketd's VmHWM in bytes after each run; 0 when unknown
	noop    []runResult // ceiling (a), one per connection count; nil when skipped
	sqlite  []runResult // ceiling (b), measured after each ticketd run; nil when skipped

	stopFailed bool // ticketd did not exit with status 0 on SIGTERM
}

// run does the whole benchmark. clean is false when some answer was not 200,
// some request failed, or ticketd did not stop cleanly.
func run(ctx context.Context, cfg config) (clean bool, err error) {
	users := strconv.Itoa(cfg.users)
	if cfg.url != "" {
		users = "one per key"
	}
	fmt.Printf("ticketd bench: %d CPUs shared by the server and this load generator; users=%s tickets=%d sync=%s, %v per run after a %v warm-up\n",
		runtime.NumCPU(), users, cfg.tickets, cfg.sync, cfg.duration, warmUp)
	dir, err := os.MkdirTemp("", "ticketd-bench-")
	if err != nil {
		return false, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	res := results{label: serverLabel(cfg)}
	if err := measureTicketd(ctx, cfg, dir, &res); err != nil {
		return false, err
	}
	if !cfg.skipCeilings {
		if err := measureCeilings(ctx, cfg, &res); err != nil {
			return false, err
		}
	}
	printReport(os.Stdout, cfg, res)
	return res.clean(), nil
}

func serverLabel(cfg config) string {
	if cfg.url != "" {
		return "ticketd at " + cfg.url
	}
	return strings.Join(append([]string{"ticketd -sync " + cfg.sync}, cfg.serverFlags...), " ")
}

// measureTicketd starts (or finds) the server, creates the tickets and runs
// the update load once per connection count.
func measureTicketd(ctx context.Context, cfg config, dir string, res *results) error {
	tgt, err := openTarget(ctx, cfg, dir)
	if err != nil {
		return err
	}
	defer tgt.close()

	work, err := seedTickets(ctx, tgt.addr, tgt.keys, cfg.tickets)
	if err != nil {
		return tgt.explain(err)
	}
	for _, c := range cfg.conns {
		tgt.resetLog()
		r := drive(ctx, tgt.addr, work, c, cfg.duration, tgt.pid)
		if err := ctx.Err(); err != nil {
			return err // interrupted: the run is incomplete
		}
		printRun(os.Stdout, fmt.Sprintf("ticketd, %d conns", c), "req/s", r)
		if err := tgt.checkAlive(); err != nil {
			return err
		}
		res.ticketd = append(res.ticketd, r)
		res.rss = append(res.rss, tgt.peakRSS())
		if !cfg.skipCeilings {
			b, err := measureSQLiteCeiling(ctx, cfg, dir, len(work.keys), c)
			if err != nil {
				return err
			}
			res.sqlite = append(res.sqlite, b)
		}
	}
	res.work = work
	// A server that does not stop cleanly spoils no figure, so report it
	// and carry on to the ceilings.
	if err := tgt.stop(); err != nil {
		fmt.Printf("!!!!!! ticketd did not stop cleanly: %v\n", err)
		res.stopFailed = true
	}
	return nil
}

// measureCeilings runs ceiling (a) at every connection count.
func measureCeilings(ctx context.Context, cfg config, res *results) error {
	noop, err := startNoop()
	if err != nil {
		return err
	}
	defer noop.close()
	for _, c := range cfg.conns {
		r := drive(ctx, noop.addr, res.work, c, cfg.duration, 0)
		if err := ctx.Err(); err != nil {
			return err
		}
		printRun(os.Stdout, fmt.Sprintf("ceiling (a) no-op net/http, %d conns", c), "req/s", r)
		res.noop = append(res.noop, r)
	}
	return nil
}

// measureSQLiteCeiling runs ceiling (b) on a fresh file with the same users
// and tickets as ticketd had (with -url: one user per key). It runs right
// after each ticketd run, while the server sits idle, because this kind of
// machine drifts: ceiling (b) measured a few minutes apart gave 5,750 and
// 7,450 tx/s, and a ratio of figures taken minutes apart moved with it.
func measureSQLiteCeiling(ctx context.Context, cfg config, dir string, users, conns int) (runResult, error) {
	root, err := moduleRoot()
	if err != nil {
		return runResult{}, err
	}
	r, err := sqliteCeiling(ctx, filepath.Join(root, "schema.sql"), filepath.Join(dir, fmt.Sprintf("ceiling-%d.db", conns)),
		cfg.sync, users, cfg.tickets, cfg.duration)
	if err != nil {
		return runResult{}, err
	}
	r.conns = 1
	printRun(os.Stdout, fmt.Sprintf("ceiling (b) SQLite update tx, 1 goroutine, sync=%s, after the %d-conn run", cfg.sync, conns), "tx/s", r)
	return r, nil
}
