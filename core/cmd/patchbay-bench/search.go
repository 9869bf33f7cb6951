package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/search"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/bench"
)

// SearchReport is the search mode's outcome.
type SearchReport struct {
	Tickets          int     `json:"tickets"`
	Comments         int     `json:"comments"`
	FixtureSeconds   float64 `json:"fixture_seconds"`
	IndexSeconds     float64 `json:"index_build_seconds"`
	IndexTicketsSec  float64 `json:"index_build_tickets_per_sec"`
	IndexMB          float64 `json:"index_mb"`
	StoreMB          float64 `json:"store_mb"`
	StartupMs        float64 `json:"startup_ms"`
	RSSAfterStartMB  float64 `json:"rss_after_start_mb"`
	RSSMB            float64 `json:"rss_mb"`
	PeakRSSMB        float64 `json:"peak_rss_mb"`
	Requests         int     `json:"requests_per_kind"`
	TwoWordP50ms     float64 `json:"two_word_p50_ms"`
	TwoWordP99ms     float64 `json:"two_word_p99_ms"`
	TwoWordHits      float64 `json:"two_word_mean_page"`
	FieldOnlyP50ms   float64 `json:"field_only_p50_ms"`
	FieldOnlyP99ms   float64 `json:"field_only_p99_ms"`
	FieldAndWordP99  float64 `json:"field_and_word_p99_ms"`
	PhraseP99ms      float64 `json:"phrase_p99_ms"`
	RelevanceSampled string  `json:"example_query"`
}

// FreshnessReport is how long a committed inbound message took to be
// found by search while the inbound latency round ran.
type FreshnessReport struct {
	Probes int     `json:"probes"`
	Found  int     `json:"found"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// vocabulary is a deterministic list of made-up words (so that no English
// stemming rule merges two of them by accident and queries can pick words
// of a known frequency).
func vocabulary(n int) []string {
	syll := []string{"ka", "lo", "mi", "ru", "te", "no", "vi", "sa", "po", "de", "zu", "fe", "ga", "hi", "bo", "ny"}
	out := make([]string, n)
	for i := range n {
		var b strings.Builder
		v := i
		for range 3 {
			b.WriteString(syll[v%len(syll)])
			v /= len(syll)
		}
		b.WriteString(syll[(i*7+3)%len(syll)])
		fmt.Fprintf(&b, "x%d", i%97) // keeps every word distinct
		out[i] = b.String()
	}
	return out
}

// searchFixture writes n tickets with perTicket comments each (words drawn
// from a Zipf distribution over the vocabulary, like real text), 10,000
// requesters, tags and priorities, through core/store.
func searchFixture(ctx context.Context, dir string, n, perTicket int, vocab []string, logf func(string, ...any)) error {
	st, err := store.Open(store.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		return err
	}
	const users = 10_000
	for from := 0; from < users; from += 500 {
		err = st.Update(ctx, func(tx *store.Tx) error {
			for i := from; i < from+500; i++ {
				u := &ticket.User{Name: fmt.Sprintf("Customer %s %d", vocab[i%len(vocab)], i), Email: fmt.Sprintf("c%d@customer.test", i), Role: ticket.RoleEndUser,
					Identities: []ticket.Identity{{Type: "email", Value: fmt.Sprintf("c%d@customer.test", i)}}}
				if err := tx.CreateUser(u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			st.Close()
			return err
		}
	}
	channels := []string{"wa", "support", "it-help", "line"}
	tags := []string{"billing", "vip", "refund", "shipping", "bug", "login", "invoice", "outage"}
	prios := []ticket.Priority{"", ticket.PriorityLow, ticket.PriorityNormal, ticket.PriorityHigh, ticket.PriorityUrgent}
	err = bulkWrite(ctx, st, n, 100, 4, 50_000, "search: tickets", logf, func(w int) func(*store.Tx, int) error {
		rng := rand.New(rand.NewPCG(uint64(w), 42))
		zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(vocab)-1))
		text := func(words int) string {
			var b strings.Builder
			for i := range words {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(vocab[zipf.Uint64()])
			}
			return b.String()
		}
		return func(tx *store.Tx, i int) error {
			t := &ticket.Ticket{
				Subject:     text(6),
				Status:      ticketStatuses[i%len(ticketStatuses)],
				Priority:    prios[i%len(prios)],
				Channel:     channels[i%len(channels)],
				Via:         "whatsapp",
				RequesterID: uint64(1 + i%users),
				Tags:        []string{tags[i%len(tags)]},
			}
			if i%3 == 0 {
				t.AssigneeID = uint64(1 + i%40)
			}
			if err := tx.CreateTicket(t); err != nil {
				return err
			}
			for c := range perTicket {
				cm := &ticket.Comment{TicketID: t.ID, AuthorID: t.RequesterID, Body: text(25 + c*5), Public: c != 2, Via: "whatsapp"}
				if err := tx.CreateComment(cm, store.CommentOptions{}); err != nil {
					return err
				}
			}
			return nil
		}
	})
	if err != nil {
		st.Close()
		return err
	}
	if err := st.Compact(ctx); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

// runSearch builds a store of tickets and comments, builds its search index
// offline (the build rate), starts the core on it and measures queries over
// HTTP and the core's RSS with the index open.
func runSearch(ctx context.Context, o options, bin bench.Binaries, work string, logf func(string, ...any)) (*SearchReport, error) {
	data := filepath.Join(work, "search")
	vocab := vocabulary(20_000)
	rep := &SearchReport{Tickets: o.searchTickets, Comments: o.searchTickets * o.searchComments, Requests: o.searchRequests}
	start := time.Now()
	if err := searchFixture(ctx, filepath.Join(data, "store"), o.searchTickets, o.searchComments, vocab, logf); err != nil {
		return nil, fmt.Errorf("build fixture: %w", err)
	}
	rep.FixtureSeconds = time.Since(start).Seconds()
	rep.StoreMB = float64(dirSize(filepath.Join(data, "store"))) / (1 << 20)
	logf("search: %d tickets, %d comments written in %.1f s (%.0f MB)", rep.Tickets, rep.Comments, rep.FixtureSeconds, rep.StoreMB)

	// The index build, as `patchbay reindex` runs it.
	st, err := store.Open(store.Options{Dir: filepath.Join(data, "store"), GCInterval: -1})
	if err != nil {
		return nil, err
	}
	start = time.Now()
	n, err := search.Rebuild(ctx, st, search.Options{Dir: filepath.Join(data, "search")})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("index build: %w", err)
	}
	rep.IndexSeconds = time.Since(start).Seconds()
	rep.IndexTicketsSec = float64(n) / rep.IndexSeconds
	rep.IndexMB = float64(dirSize(filepath.Join(data, "search"))) / (1 << 20)
	logf("search: index of %d tickets built in %.1f s (%.0f tickets/s, %.0f MB)", n, rep.IndexSeconds, rep.IndexTicketsSec, rep.IndexMB)

	core, err := bench.StartCore(ctx, bin, bench.CoreOptions{DataDir: data})
	if err != nil {
		return nil, err
	}
	defer core.Stop()
	rep.StartupMs = ms(core.Startup)
	if s, err := bench.ReadProc(core.PID()); err == nil {
		rep.RSSAfterStartMB = float64(s.RSSBytes) / (1 << 20)
	}
	hc := bench.NewLoadClient(1)
	defer hc.CloseIdleConnections()
	rng := rand.New(rand.NewPCG(7, 7))
	// Words of rank 20..2000: each is in thousands of tickets of a large
	// fixture, so a two-word query scores and ranks many documents.
	word := func() string { return vocab[20+rng.IntN(1980)] }
	fields := []string{"status:open", "status<solved", "tag:vip", "priority:high", "channel:support", "assignee:none",
		"status:pending tag:billing", "requester:c42@customer.test", "updated>7d", "assignee:7 status:open"}
	measure := func(kind string, q func(i int) string) (p50, p99, meanPage float64, err error) {
		lat := make([]time.Duration, 0, o.searchRequests)
		total := 0
		for i := range o.searchRequests {
			if ctx.Err() != nil {
				return 0, 0, 0, ctx.Err()
			}
			var page struct {
				Tickets []apiTicket `json:"tickets"`
			}
			t0 := time.Now()
			if _, err := apiCall(ctx, hc, core.URL, http.MethodGet, "/api/v1/search?limit=25&q="+url.QueryEscape(q(i)), nil, &page); err != nil {
				return 0, 0, 0, err
			}
			lat = append(lat, time.Since(t0))
			total += len(page.Tickets)
		}
		slices.Sort(lat)
		pct := func(p float64) float64 { return ms(lat[min(int(p*float64(len(lat))), len(lat)-1)]) }
		logf("search: %s p50 %.2f ms p99 %.2f ms (%.1f tickets per page)", kind, pct(0.5), pct(0.99), float64(total)/float64(len(lat)))
		return pct(0.5), pct(0.99), float64(total) / float64(len(lat)), nil
	}
	rep.RelevanceSampled = word() + " " + word()
	if rep.TwoWordP50ms, rep.TwoWordP99ms, rep.TwoWordHits, err = measure("two words", func(int) string { return word() + " " + word() }); err != nil {
		return nil, err
	}
	if rep.FieldOnlyP50ms, rep.FieldOnlyP99ms, _, err = measure("field terms only", func(i int) string { return fields[i%len(fields)] }); err != nil {
		return nil, err
	}
	if _, rep.FieldAndWordP99, _, err = measure("word and field terms", func(i int) string { return word() + " " + fields[i%len(fields)] }); err != nil {
		return nil, err
	}
	if _, rep.PhraseP99ms, _, err = measure("two-word phrase", func(int) string { return `"` + word() + " " + word() + `"` }); err != nil {
		return nil, err
	}
	if s, err := bench.ReadProc(core.PID()); err == nil {
		rep.RSSMB = float64(s.RSSBytes) / (1 << 20)
		rep.PeakRSSMB = float64(s.PeakRSSBytes) / (1 << 20)
	}
	logf("search: core start-up %.0f ms, rss %.0f MB after start, %.0f MB after the queries (peak %.0f MB)", rep.StartupMs, rep.RSSAfterStartMB, rep.RSSMB, rep.PeakRSSMB)
	return rep, nil
}

// probeFreshness runs until ctx ends: every interval it posts one inbound
// WhatsApp message holding a word of its own (acknowledged after the
// synced commit), then polls the search API until the word is found.
func probeFreshness(ctx context.Context, base, hookURL string, interval time.Duration) *FreshnessReport {
	hc := bench.NewLoadClient(2)
	defer hc.CloseIdleConnections()
	rep := &FreshnessReport{}
	var lat []time.Duration
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return finishFreshness(rep, lat)
		case <-tick.C:
		}
		word := fmt.Sprintf("freshprobe%dq", i)
		body := bench.WhatsAppText(benchPhoneID, fmt.Sprintf("4916%08d", i), "Probe", fmt.Sprintf("wamid.probe.%d.%d", time.Now().UnixNano(), i), "probe "+word, time.Now())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, strings.NewReader(string(body)))
		if err != nil {
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(bench.WhatsAppSignatureHeader, bench.SignWhatsApp(benchSecret, body))
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		acked := time.Now()
		rep.Probes++
		deadline := acked.Add(10 * time.Second)
		for time.Now().Before(deadline) {
			var page struct {
				Tickets []apiTicket `json:"tickets"`
			}
			if _, err := apiCall(context.WithoutCancel(ctx), hc, base, http.MethodGet, "/api/v1/search?q="+word, nil, &page); err == nil && len(page.Tickets) > 0 {
				rep.Found++
				lat = append(lat, time.Since(acked))
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func finishFreshness(rep *FreshnessReport, lat []time.Duration) *FreshnessReport {
	if len(lat) == 0 {
		return rep
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return ms(lat[min(int(p*float64(len(lat))), len(lat)-1)]) }
	rep.P50ms, rep.P99ms, rep.MaxMs = pct(0.5), pct(0.99), ms(lat[len(lat)-1])
	return rep
}
