package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
)

// OutboxReport is the outbox mode's outcome.
type OutboxReport struct {
	Replies           int     `json:"replies"`
	ProviderLatency   string  `json:"provider_latency"`
	ProviderErrors    float64 `json:"provider_error_rate"`
	Seconds           float64 `json:"seconds"` // first reply posted → last reply accepted by the provider
	RepliesPerSec     float64 `json:"replies_per_sec"`
	Injected5xx       uint64  `json:"injected_5xx"`
	Sent              int     `json:"sent"` // delivery status sent at the end
	Lost              int     `json:"lost"` // acknowledged replies never accepted by the provider
	DuplicateSends    int     `json:"duplicate_sends"`
	PostRepliesPerSec float64 `json:"post_replies_per_sec"` // API POST rate while enqueuing
	// Workers is the outbox.workers setting the core ran with (0: its
	// default).
	Workers int `json:"workers,omitempty"`
	// FirstAttemptSeconds is first reply posted → the provider's answer to
	// the last first attempt (retries of the injected 5xx excluded: they
	// wait out the outbox's backoff); FirstAttemptsPerSec = replies ÷ it.
	FirstAttemptSeconds float64 `json:"first_attempt_seconds"`
	FirstAttemptsPerSec float64 `json:"first_attempts_per_sec"`
	// CPUusPerReply is the CPU time of the core and its plugin from the
	// first POST to the last accepted send (the API POST, the outbox send
	// and the plugin's provider call), per reply; split by process.
	CPUusPerReply       float64 `json:"cpu_us_per_reply"`
	CoreCPUusPerReply   float64 `json:"core_cpu_us_per_reply"`
	PluginCPUusPerReply float64 `json:"plugin_cpu_us_per_reply"`
	// Scans and ScannedEntries are the outbox dispatcher's reads of its due
	// index over the run (its metrics).
	Scans          float64 `json:"scans"`
	ScannedEntries float64 `json:"scanned_entries"`
}

func runOutbox(ctx context.Context, o options, bin bench.Binaries, work string, logf func(string, ...any)) (*OutboxReport, error) {
	graph, err := bench.NewFakeGraph(benchPhoneID, benchToken)
	if err != nil {
		return nil, err
	}
	defer graph.Close()
	hcl := whatsappChannel(graph.URL)
	if o.outboxWorkers > 0 {
		hcl += fmt.Sprintf("\noutbox {\n  workers = %d\n}\n", o.outboxWorkers)
	}
	core, err := bench.StartCore(ctx, bin, bench.CoreOptions{DataDir: filepath.Join(work, "outbox"), Channels: hcl, Env: whatsappEnv, Wait: []string{"wa"}})
	if err != nil {
		return nil, err
	}
	defer core.Stop()
	hc := bench.NewLoadClient(32)
	defer hc.CloseIdleConnections()

	// Tickets to answer: one per conversation.
	const tickets = 100
	seed := bench.ClosedLoop(ctx, core.URL+"/hooks/wa", 16, time.Minute, tickets, payloads("outbox", tickets))
	if seed.OK != tickets {
		return nil, fmt.Errorf("seeding tickets: %d of %d acknowledged (%s)", seed.OK, tickets, seed.FirstError)
	}
	var list struct {
		Tickets []apiTicket `json:"tickets"`
	}
	if _, err := apiCall(ctx, hc, core.URL, "GET", "/api/v1/tickets?channel=wa&limit=100", nil, &list); err != nil {
		return nil, err
	}
	if len(list.Tickets) == 0 {
		return nil, fmt.Errorf("no tickets")
	}
	// The provider slows down and fails now, not during seeding.
	graph.SetFaults(o.latency, o.errorRate)

	rep := &OutboxReport{Replies: o.replies, ProviderLatency: o.latency.String(), ProviderErrors: o.errorRate, Workers: o.outboxWorkers}
	pluginPIDs := core.PluginPIDs()
	coreCPU0, _ := procSet([]int{core.PID()})
	pluginCPU0, _ := procSet(pluginPIDs)
	text := func(i int) string { return fmt.Sprintf("Bench reply %d: your parcel is on its way.", i) }
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.replies || ctx.Err() != nil {
					return
				}
				tk := list.Tickets[i%len(list.Tickets)].ID
				if _, err := apiCall(ctx, hc, core.URL, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk), map[string]any{"body": text(i), "public": true}, nil); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return nil, fmt.Errorf("posting replies: %w", e)
	}
	rep.PostRepliesPerSec = float64(o.replies) / time.Since(start).Seconds()

	// Wait (bounded) until the provider accepted every reply.
	deadline := time.Now().Add(10 * time.Minute)
	var last time.Time
	for {
		sent := graph.Sent()
		seen := map[string]int{}
		for _, s := range sent {
			seen[s.Text]++
			if s.At.After(last) {
				last = s.At
			}
		}
		missing := 0
		for i := range o.replies {
			if seen[text(i)] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			coreCPU1, _ := procSet([]int{core.PID()})
			pluginCPU1, _ := procSet(pluginPIDs)
			if n := float64(o.replies - missing); n > 0 {
				rep.CoreCPUusPerReply = (coreCPU1 - coreCPU0) / n * 1e6
				rep.PluginCPUusPerReply = (pluginCPU1 - pluginCPU0) / n * 1e6
				rep.CPUusPerReply = rep.CoreCPUusPerReply + rep.PluginCPUusPerReply
			}
			rep.Lost = missing
			rep.DuplicateSends = len(sent) - len(seen)
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the fake's record
	}
	rep.Seconds = last.Sub(start).Seconds()
	if rep.Seconds > 0 {
		rep.RepliesPerSec = float64(o.replies-rep.Lost) / rep.Seconds
	}
	rep.Injected5xx = graph.Errors5xx()
	var firstDone time.Time
	for i := range o.replies {
		if ts := graph.AttemptTimes(text(i)); len(ts) > 0 && ts[0].After(firstDone) {
			firstDone = ts[0]
		}
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		for i := range o.replies {
			if ts := graph.AttemptTimes(text(i)); len(ts) > 1 {
				var ds []string
				for _, t := range ts {
					ds = append(ds, fmt.Sprintf("%.2f", t.Sub(start).Seconds()))
				}
				logf("reply %d attempts at %v", i, ds)
			}
		}
	}
	if rep.FirstAttemptSeconds = firstDone.Sub(start).Seconds(); rep.FirstAttemptSeconds > 0 {
		rep.FirstAttemptsPerSec = float64(o.replies) / rep.FirstAttemptSeconds
	}

	// Every reply's delivery status through the API (the core records
	// "sent" just after the provider's answer: poll briefly).
	for range 100 {
		rep.Sent = 0
		for _, tk := range list.Tickets {
			cursor := ""
			for {
				var page struct {
					Comments   []apiComment `json:"comments"`
					NextCursor *string      `json:"next_cursor"`
				}
				p := fmt.Sprintf("/api/v1/tickets/%d/comments?limit=100", tk.ID)
				if cursor != "" {
					p += "&cursor=" + url.QueryEscape(cursor)
				}
				if _, err := apiCall(ctx, hc, core.URL, "GET", p, nil, &page); err != nil {
					return nil, err
				}
				for _, c := range page.Comments {
					if c.Delivery != nil && c.Delivery.Status == "sent" {
						rep.Sent++
					}
				}
				if page.NextCursor == nil || *page.NextCursor == "" {
					break
				}
				cursor = *page.NextCursor
			}
		}
		if rep.Sent >= o.replies {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rep.Scans, err = metricValue(ctx, hc, core.URL, "patchbay_outbox_scans_total"); err != nil {
		return nil, err
	}
	if rep.ScannedEntries, err = metricValue(ctx, hc, core.URL, "patchbay_outbox_scanned_entries_total"); err != nil {
		return nil, err
	}
	logf("outbox: %.0f due-index scans read %.0f entries", rep.Scans, rep.ScannedEntries)
	logf("outbox: %d replies in %.2f s = %.0f replies/s (first attempts %.0f/s; provider %s latency, %d injected 5xx); cpu %.0f µs/reply (core %.0f, plugin %.0f); posted %.0f/s; sent %d, lost %d, duplicate sends %d",
		o.replies, rep.Seconds, rep.RepliesPerSec, rep.FirstAttemptsPerSec, o.latency, rep.Injected5xx,
		rep.CPUusPerReply, rep.CoreCPUusPerReply, rep.PluginCPUusPerReply, rep.PostRepliesPerSec, rep.Sent, rep.Lost, rep.DuplicateSends)
	return rep, nil
}
