package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/patchbayhq/patchbay/core/search"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/bench"
)

// TicketsReport is the tickets mode's outcome.
type TicketsReport struct {
	Tickets         int     `json:"tickets"`
	BuildSeconds    float64 `json:"build_seconds"`
	StoreMB         float64 `json:"store_mb"`
	StartupMs       float64 `json:"startup_ms"`
	ListRequests    int     `json:"list_requests"`
	PageSize        int     `json:"page_size"`
	ListP50ms       float64 `json:"list_p50_ms"`
	ListP99ms       float64 `json:"list_p99_ms"`
	ListP999ms      float64 `json:"list_p999_ms"`
	RSSMB           float64 `json:"rss_mb"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	RSSAfterStartMB float64 `json:"rss_after_start_mb"`
}

// ticketStatuses is the fixture's status mix (per 20 tickets).
var ticketStatuses = []ticket.Status{
	ticket.StatusNew, ticket.StatusNew, ticket.StatusNew, ticket.StatusNew, ticket.StatusNew,
	ticket.StatusOpen, ticket.StatusOpen, ticket.StatusOpen, ticket.StatusOpen, ticket.StatusOpen, ticket.StatusOpen, ticket.StatusOpen,
	ticket.StatusPending, ticket.StatusPending, ticket.StatusPending,
	ticket.StatusHold,
	ticket.StatusSolved, ticket.StatusSolved, ticket.StatusSolved, ticket.StatusSolved,
}

// buildTickets writes n tickets through core/store: Update functions of
// 400 tickets from 8 goroutines, so that the group commit packs them into
// large synced transactions.
func buildTickets(ctx context.Context, dir string, n int, logf func(string, ...any)) error {
	st, err := store.Open(store.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		return err
	}
	channels := []string{"wa", "support", "it-help", "line"}
	err = bulkWrite(ctx, st, n, 400, 8, 100_000, "tickets", logf, func(int) func(*store.Tx, int) error {
		return func(tx *store.Tx, i int) error {
			t := &ticket.Ticket{
				Subject:         fmt.Sprintf("Order %d has not arrived", i),
				Status:          ticketStatuses[i%len(ticketStatuses)],
				Channel:         channels[i%len(channels)],
				Via:             "whatsapp",
				RequesterID:     uint64(1 + i%50_000),
				ConversationKey: fmt.Sprintf("conv-%d", i),
			}
			if i%3 == 0 {
				t.AssigneeID = uint64(1 + i%40)
			}
			return tx.CreateTicket(t)
		}
	})
	if err != nil {
		st.Close()
		return err
	}
	// A million tickets written in seconds leave Badger a compaction
	// backlog that a store grown over months does not have; settle it here
	// (as `patchbay restore` does) so the server is measured in its steady
	// state, not while it compacts the fixture.
	cstart := time.Now()
	if err := st.Compact(ctx); err != nil {
		st.Close()
		return err
	}
	logf("tickets: store compacted in %.1f s", time.Since(cstart).Seconds())
	return st.Close()
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func runTickets(ctx context.Context, o options, bin bench.Binaries, work string, logf func(string, ...any)) (*TicketsReport, error) {
	data := filepath.Join(work, "tickets")
	rep := &TicketsReport{Tickets: o.tickets, PageSize: 50, ListRequests: o.listRequests}
	start := time.Now()
	// patchbay serve keeps its Badger store in <data_dir>/store.
	if err := buildTickets(ctx, filepath.Join(data, "store"), o.tickets, logf); err != nil {
		return nil, fmt.Errorf("build fixture: %w", err)
	}
	rep.BuildSeconds = time.Since(start).Seconds()
	rep.StoreMB = float64(dirSize(data)) / (1 << 20)
	logf("tickets: %d tickets built in %.1f s (%.0f MB on disk)", o.tickets, rep.BuildSeconds, rep.StoreMB)
	// A store grown over months has its search index; without one the
	// core would rebuild it in the background while being measured.
	istart := time.Now()
	if err := buildIndex(ctx, data); err != nil {
		return nil, fmt.Errorf("build the search index: %w", err)
	}
	logf("tickets: search index built in %.1f s", time.Since(istart).Seconds())

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
	statuses := []string{"open", "new", "pending", "solved", "hold"}
	cursors := map[string]string{}
	depth := map[string]int{}
	lat := make([]time.Duration, 0, o.listRequests)
	for i := range o.listRequests {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		status := statuses[i%len(statuses)]
		q := url.Values{"status": {status}, "limit": {"50"}}
		// Three requests in four read a deeper page (following the
		// cursor up to 50 pages down), one the first page.
		if i%4 != 0 && cursors[status] != "" {
			q.Set("cursor", cursors[status])
		}
		var page struct {
			Tickets    []apiTicket `json:"tickets"`
			NextCursor *string     `json:"next_cursor"`
		}
		t0 := time.Now()
		if _, err := apiCall(ctx, hc, core.URL, "GET", "/api/v1/tickets?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		if len(page.Tickets) != 50 {
			return nil, fmt.Errorf("list %s: %d tickets, want 50", status, len(page.Tickets))
		}
		for _, t := range page.Tickets {
			if t.Status != status {
				return nil, fmt.Errorf("list %s returned a ticket with status %s", status, t.Status)
			}
		}
		if page.NextCursor != nil && depth[status] < 50 {
			cursors[status] = *page.NextCursor
			depth[status]++
		} else {
			cursors[status], depth[status] = "", 0
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return ms(lat[min(int(p*float64(len(lat))), len(lat)-1)]) }
	rep.ListP50ms, rep.ListP99ms, rep.ListP999ms = pct(0.5), pct(0.99), pct(0.999)
	if s, err := bench.ReadProc(core.PID()); err == nil {
		rep.RSSMB = float64(s.RSSBytes) / (1 << 20)
		rep.PeakRSSMB = float64(s.PeakRSSBytes) / (1 << 20)
	}
	logf("tickets: start-up %.0f ms; list 50 by status p50 %.2f ms p99 %.2f ms p99.9 %.2f ms; rss %.0f MB (peak %.0f MB)",
		rep.StartupMs, rep.ListP50ms, rep.ListP99ms, rep.ListP999ms, rep.RSSMB, rep.PeakRSSMB)
	return rep, nil
}

// buildIndex builds the search index of the store under data (as
// `patchbay reindex` does).
func buildIndex(ctx context.Context, data string) error {
	st, err := store.Open(store.Options{Dir: filepath.Join(data, "store"), GCInterval: -1})
	if err != nil {
		return err
	}
	_, err = search.Rebuild(ctx, st, search.Options{Dir: filepath.Join(data, "search")})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}
