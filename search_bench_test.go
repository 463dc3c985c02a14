package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The search benchmarks run over a desk of 1,000,000 tickets of 1,000
// customers with the search index on, built once and kept under
// os.TempDir() (about 4 minutes to build, 1.4 GB), keyed by benchCorpusVersion
// and schema.sql: the tickets are written with the index off, then the index
// is turned on as serve -search-index does (BuildIndexSeconds), and 20,000
// subjects are changed one transaction each, so that the index has the small
// segments of a desk in use. Run them with
//
//	go test -run '^$' -bench '^BenchmarkSearch$' -benchtime 200x
//	go test -run '^$' -bench '^BenchmarkSearch(Scan|Size)$' -benchtime 5x
//
// Each query is one listTickets call (count and first page, as the list
// endpoints make); each sub-benchmark reports its p50 and p99 in ms.
const (
	benchCorpusVersion = "2"
	benchTickets       = 1_000_000
	benchCustomers     = 1_000
	benchStaff         = 5
	benchOpenShare     = 0.2 // of tickets still open
)

// benchCorpus is the cached desk and what it was built with.
type benchCorpus struct {
	Path string
	// Rare is a 5-letter term in about 0.1% of tickets; RareCount is in
	// how many exactly. None is a 5-letter term made of 3 common trigrams
	// that no ticket holds. Common is a word in many tickets.
	Rare, None, Common             string
	RareCount, CommonCount         int64
	NoneTrigramDocs                []int64 // how many tickets hold each of None's trigrams
	TotalBytes, IndexBytes         int64   // file size, and the pages of tickets_fts's tables
	TicketsBytes, BuildSeconds     float64 // the tickets table's pages; how long building took
	BuildIndexSeconds              float64 // how long turning the index on took
	TextChars, TicketsWithNonASCII int64
}

func loadBenchCorpus(b *testing.B) benchCorpus {
	b.Helper()
	sum := sha256.Sum256([]byte(schemaSQL))
	path := filepath.Join(os.TempDir(), fmt.Sprintf("ticketd-search-bench-%s-%d-%x.db", benchCorpusVersion, benchTickets, sum[:6]))
	var c benchCorpus
	if meta, err := os.ReadFile(path + ".json"); err == nil && json.Unmarshal(meta, &c) == nil {
		return c
	}
	b.Logf("building %s (%d tickets); kept for later runs", path, benchTickets)
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-keys"} {
		os.Remove(p)
	}
	c, err := buildBenchCorpus(path)
	if err != nil {
		b.Fatal(err)
	}
	meta, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(path+".json", meta, 0o600); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchWords are common words of support tickets, most common first; they
// make up 85% of the text (Zipf-distributed), pseudo-words the rest.
var benchWords = strings.Fields(`
the to and a i of is in it not on for my this with that be can we have when
are you but from our at after or error please do as was all an no page if
account login password email user users order orders app website site help
issue problem working work still now new get does will page payment time
customer customers invoice invoices update updated cannot unable shows show
button click screen mobile desktop browser chrome safari firefox version
report reports export import file files upload download data list search
settings setting profile admin dashboard message messages notification
support ticket tickets reset link links send sent receive received since
yesterday today morning again same only also there their they them what which
would could should been being because about into than then more most some any
every each other another first last next before while until during between
entry entries sweepstakes contest winner winners prize prizes rules form forms
field fields submit submitted submission checkout cart price prices total
shipping address phone number code codes coupon discount subscription plan
billing charge charged refund credit card bank transfer failed failing fails
slow loading load loads timeout times crash crashes crashed blank white black
text image images photo photos video logo color font layout mobile tablet
android iphone ios windows mac linux server network connection connect api
key keys token integration webhook zapier shopify wordpress plugin widget
embed script domain dns ssl certificate secure security access permission
denied allowed blocked spam filter inbox folder calendar date dates schedule
report daily weekly monthly year years month months day days hour hours minute
minutes second seconds wrong missing duplicate duplicated extra old latest
correct incorrect invalid valid expired expire expires renew renewal cancel
cancelled delete deleted remove removed add added change changed edit edited
create created open opened close closed save saved lost find found see seen
look looks looking try tried trying use used using need needs needed want
wants like know think thanks thank hello hi regards best team company business
store shop product products item items stock inventory quantity size sizes
language english spanish french german translation currency tax taxes vat
`)

// benchNonASCII are the words that give 5% of tickets text outside ASCII.
var benchNonASCII = strings.Fields(`École Straße GRÖSSE café naïve façade İstanbul ışık Ωmega σύστημα ΣΥΣΤΗΜΑ
日本語 данные ДАННЫЕ Ärger über Ñandú résumé ﬁle Kelvin-K`)

func benchPseudoWords(r *rand.Rand, n int) []string {
	onsets := strings.Fields("b c d f g h j k l m n p r s t v w z br cr dr fr gr pr tr bl cl fl gl pl sl st sp sk sh ch th qu")
	vowels := strings.Fields("a e i o u ai ea ou io ee oo")
	codas := append(strings.Fields("n r s t l m ck nd st x"), "", "", "")
	seen := map[string]bool{}
	for _, w := range benchWords {
		seen[w] = true
	}
	var words []string
	for len(words) < n {
		var sb strings.Builder
		for range 1 + r.IntN(3) {
			sb.WriteString(onsets[r.IntN(len(onsets))])
			sb.WriteString(vowels[r.IntN(len(vowels))])
			sb.WriteString(codas[r.IntN(len(codas))])
		}
		if w := sb.String(); len(w) >= 4 && !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// benchText draws n words: 85% from benchWords by Zipf, 15% uniformly from
// the pseudo-words (each then in ~0.1% of tickets).
type benchText struct {
	r      *rand.Rand
	zipf   *rand.Zipf
	pseudo []string
}

func (g *benchText) words(sb *strings.Builder, n int, capital bool) {
	for i := range n {
		if i > 0 {
			if g.r.IntN(12) == 0 {
				sb.WriteString(". ")
				capital = true
			} else {
				sb.WriteByte(' ')
			}
		}
		var w string
		if g.r.Float64() < 0.85 {
			w = benchWords[g.zipf.Uint64()]
		} else {
			w = g.pseudo[g.r.IntN(len(g.pseudo))]
		}
		if capital {
			w = strings.ToUpper(w[:1]) + w[1:]
			capital = false
		}
		sb.WriteString(w)
	}
}

func buildBenchCorpus(path string) (benchCorpus, error) {
	began := time.Now()
	c := benchCorpus{Path: path}
	ctx := context.Background()
	st, err := openStore(ctx, path, storeOptions{})
	if err != nil {
		return c, err
	}
	defer func() { st.close() }() // the store open at the end
	db := st.writer
	r := rand.New(rand.NewPCG(14, 1))
	g := &benchText{r: r, zipf: rand.NewZipf(r, 1.1, 2, uint64(len(benchWords)-1)), pseudo: benchPseudoWords(r, 8000)}

	tx, err := db.Begin()
	if err != nil {
		return c, err
	}
	for i := 1; i <= benchCustomers+benchStaff; i++ {
		_, err := tx.Exec("INSERT INTO users (id, token, email, full_name, admin, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			i, fmt.Sprintf("u%015d", i), fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("User %d", i), i > benchCustomers, 0)
		if err != nil {
			return c, err
		}
	}
	if err := tx.Commit(); err != nil {
		return c, err
	}

	const perStmt, perTx = 100, 20_000
	stmt := "INSERT INTO tickets (id, case_number, owner, subject, description, priority, resource_affected, platform_key, open, created_at, closed_at, closed_by, completion) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?,?),", perStmt), ",")
	platforms := []string{"General", "website", "api", "shopify", "blog", "other"}
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	args := make([]any, 0, 13*perStmt)
	var sb strings.Builder
	for first := 1; first <= benchTickets; first += perTx {
		tx, err := db.Begin()
		if err != nil {
			return c, err
		}
		ins, err := tx.Prepare(stmt)
		if err != nil {
			return c, err
		}
		for id := first; id < first+perTx && id <= benchTickets; id++ {
			sb.Reset()
			g.words(&sb, 3+r.IntN(6), true)
			subject := sb.String()
			sb.Reset()
			g.words(&sb, 15+r.IntN(46), true)
			sb.WriteByte('.')
			description := sb.String()
			if r.IntN(20) == 0 {
				description += " " + benchNonASCII[r.IntN(len(benchNonASCII))]
				c.TicketsWithNonASCII++
			}
			c.TextChars += int64(len(subject) + len(description))
			created := start + int64(id)*90_000 // one every 1.5 minutes, 3 years in all
			open := r.Float64() < benchOpenShare
			var closedAt, closedBy any
			completion := 0
			if !open {
				closedAt, closedBy, completion = created+3_600_000, "User", 100
			}
			platform := platforms[r.IntN(len(platforms))]
			args = append(args, id, ceilingCaseNumberForBench(id), 1+r.IntN(benchCustomers), subject, description,
				1+r.IntN(3), platform, foldCase(platform), open, created, closedAt, closedBy, completion)
			if len(args) == cap(args) {
				if _, err := ins.Exec(args...); err != nil {
					return c, err
				}
				args = args[:0]
			}
		}
		if len(args) > 0 {
			return c, fmt.Errorf("bench corpus: %d tickets is not a multiple of %d", benchTickets, perStmt)
		}
		ins.Close()
		if err := tx.Commit(); err != nil {
			return c, err
		}
	}
	for _, q := range []string{
		"INSERT INTO case_numbers SELECT case_number FROM tickets",
		"INSERT INTO notes (ticket_id, created_at, body) SELECT id, created_at, 'Ticket created via API' FROM tickets",
		"INSERT INTO statistics (ticket_id, created_at, user_id, action) SELECT id, created_at, owner, 'create' FROM tickets",
		"INSERT INTO notes (ticket_id, created_at, body) SELECT id, closed_at, 'Ticket resolved via API' FROM tickets WHERE NOT open",
		"INSERT INTO statistics (ticket_id, created_at, user_id, action) SELECT id, closed_at, owner, 'resolve' FROM tickets WHERE NOT open",
		"UPDATE tickets SET note_count = 2 - open, note_chars = 22 + (1 - open) * 23",
		"PRAGMA wal_checkpoint(TRUNCATE)",
	} {
		if _, err := db.Exec(q); err != nil {
			return c, fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := st.close(); err != nil {
		return c, err
	}
	indexing := time.Now()
	if st, err = openStore(ctx, path, storeOptions{searchIndex: searchIndexOn}); err != nil {
		return c, err
	}
	c.BuildIndexSeconds = time.Since(indexing).Seconds()
	for i := range 20_000 {
		id := 1 + r.IntN(benchTickets)
		err := st.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE tickets SET subject = subject || ? WHERE id = ?", fmt.Sprintf(" (%d)", i), id)
			return err
		})
		if err != nil {
			return c, err
		}
	}
	if err := c.pickTerms(ctx, st, g.pseudo); err != nil {
		return c, err
	}
	c.BuildSeconds = time.Since(began).Seconds()
	return c, c.measureSize(st.writer)
}

func ceilingCaseNumberForBench(i int) string {
	const a, b, space = 4_999_999, 1_234_567, 9_000_000
	return strconv.Itoa(1_000_000 + (a*i+b)%space)
}

// countAll counts every ticket, open or closed, that a search finds.
func countAll(ctx context.Context, st *store, term string) (int64, error) {
	var total int64
	for _, open := range []bool{true, false} {
		n, _, err := st.listTickets(ctx, user{}, ticketFilter{AllOwners: true, Open: open, Search: term}, 0, 0)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// pickTerms finds the benchmark's terms in the corpus just built.
func (c *benchCorpus) pickTerms(ctx context.Context, st *store, pseudo []string) error {
	best := int64(-1)
	for _, w := range pseudo {
		if len(w) != 5 {
			continue
		}
		n, err := countAll(ctx, st, w)
		if err != nil {
			return err
		}
		if best < 0 || abs64(n-benchTickets/1000) < abs64(best-benchTickets/1000) {
			best, c.Rare, c.RareCount = n, w, n
		}
		if abs64(n-benchTickets/1000) < benchTickets/10000 {
			break
		}
	}
	c.Common = "account"
	var err error
	if c.CommonCount, err = countAll(ctx, st, c.Common); err != nil {
		return err
	}
	// None: chain common trigrams abc+bcd+cde into abcde until no ticket
	// holds the whole.
	if _, err := st.writer.Exec("CREATE VIRTUAL TABLE temp.bench_vocab USING fts5vocab(main, tickets_fts, 'row')"); err != nil {
		return err
	}
	rows, err := st.writer.Query("SELECT term, doc FROM temp.bench_vocab WHERE length(term) = 3 AND term GLOB '[a-z][a-z][a-z]' ORDER BY doc DESC LIMIT 150")
	if err != nil {
		return err
	}
	docs := map[string]int64{}
	var common []string
	for rows.Next() {
		var term string
		var n int64
		if err := rows.Scan(&term, &n); err != nil {
			return err
		}
		docs[term] = n
		common = append(common, term)
	}
	rows.Close()
	for _, t1 := range common {
		for _, t2 := range common {
			if t2[:2] != t1[1:] {
				continue
			}
			for _, t3 := range common {
				if t3[:2] != t2[1:] || c.None != "" {
					continue
				}
				term := t1 + t3[1:]
				n, err := countAll(ctx, st, term)
				if err != nil {
					return err
				}
				if n == 0 {
					c.None, c.NoneTrigramDocs = term, []int64{docs[t1], docs[t2], docs[t3]}
				}
			}
		}
	}
	if c.None == "" {
		return fmt.Errorf("bench corpus: no 5-letter term of common trigrams matches nothing")
	}
	return nil
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (c *benchCorpus) measureSize(db *sql.DB) error {
	info, err := os.Stat(c.Path)
	if err != nil {
		return err
	}
	c.TotalBytes = info.Size()
	if err := db.QueryRow("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'tickets_fts%'").Scan(&c.IndexBytes); err != nil {
		return err
	}
	return db.QueryRow("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'tickets'").Scan(&c.TicketsBytes)
}

// BenchmarkSearch measures searches at 1,000,000 tickets: staff-wide (every
// owner's tickets) and one customer's, open and closed lists.
func BenchmarkSearch(b *testing.B) {
	c := loadBenchCorpus(b)
	b.Logf("corpus: %s", mustJSON(c))
	ctx := context.Background()
	st, err := openStore(ctx, c.Path, storeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	customer := func(i int) user { return user{ID: int64(1 + i*7919%benchCustomers)} }
	for _, tc := range []struct {
		name  string
		owner func(i int) user
		f     ticketFilter
	}{
		{"staff/rare/open", nil, ticketFilter{Open: true, Search: c.Rare}},
		{"staff/rare/closed", nil, ticketFilter{Open: false, Search: c.Rare}},
		{"staff/none/open", nil, ticketFilter{Open: true, Search: c.None}},
		{"staff/none/closed", nil, ticketFilter{Open: false, Search: c.None}},
		{"staff/common/open", nil, ticketFilter{Open: true, Search: c.Common}},
		{"customer/rare/closed", customer, ticketFilter{Open: false, Search: c.Rare}},
		{"customer/common/closed", customer, ticketFilter{Open: false, Search: c.Common}},
		{"customer/rare/open", customer, ticketFilter{Open: true, Search: c.Rare}},
		{"customer/common/open", customer, ticketFilter{Open: true, Search: c.Common}},
		{"customer/none/closed", customer, ticketFilter{Open: false, Search: c.None}},
		{"customer/2chars/closed", customer, ticketFilter{Open: false, Search: "ac"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			latencies := make([]time.Duration, 0, b.N)
			var found int64
			for i := 0; b.Loop(); i++ {
				owner, f := user{}, tc.f
				if tc.owner != nil {
					owner = tc.owner(i)
				} else {
					f.AllOwners = true
				}
				began := time.Now()
				n, _, err := st.listTickets(ctx, owner, f, 0, pageSize)
				latencies = append(latencies, time.Since(began))
				if err != nil {
					b.Fatal(err)
				}
				found += n
			}
			reportLatencies(b, latencies)
			b.ReportMetric(float64(found)/float64(len(latencies)), "found/op")
		})
	}
}

// BenchmarkSearchScan is the staff-wide search without the index: the
// substring scan of every open ticket.
func BenchmarkSearchScan(b *testing.B) {
	c := loadBenchCorpus(b)
	st, err := openStore(context.Background(), c.Path, storeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	f := ticketFilter{AllOwners: true, Open: true, Search: c.Rare, scanOnly: true}
	latencies := make([]time.Duration, 0, b.N)
	for b.Loop() {
		began := time.Now()
		if _, _, err := st.listTickets(context.Background(), user{}, f, 0, pageSize); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(began))
	}
	reportLatencies(b, latencies)
}

// BenchmarkSearchSize reports the corpus's size compacted (VACUUM INTO),
// with the search index and without it, in MB.
func BenchmarkSearchSize(b *testing.B) {
	c := loadBenchCorpus(b)
	dir := b.TempDir()
	src, err := sql.Open("sqlite", fileURI(c.Path, "mode=ro"))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	size := func(path string) float64 {
		info, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return float64(info.Size()) / 1e6
	}
	for i := 0; b.Loop(); i++ {
		with := filepath.Join(dir, fmt.Sprintf("with-%d.db", i))
		if _, err := src.Exec("VACUUM INTO ?", with); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(size(with), "MB-with-index")
		st, err := openStore(context.Background(), with, storeOptions{searchIndex: searchIndexOff})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.close(); err != nil {
			b.Fatal(err)
		}
		db, err := sql.Open("sqlite", with)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec("VACUUM"); err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.ReportMetric(size(with), "MB-without-index")
		os.Remove(with)
	}
}

func reportLatencies(b *testing.B, latencies []time.Duration) {
	slices.Sort(latencies)
	at := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func mustJSON(v any) string {
	out, _ := json.Marshal(v)
	return string(out)
}
