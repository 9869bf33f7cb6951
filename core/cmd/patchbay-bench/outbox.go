package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
)

// OutboxReport is the outbox mode's outcome. The top-level figures are the
// live phase: replies posted through the API while the outbox drains them.
// Backlog is the second phase: replies posted while the provider holds
// every send, then drained at once when it answers again.
type OutboxReport struct {
	Replies         int     `json:"replies"`
	ProviderLatency string  `json:"provider_latency"`
	ProviderErrors  float64 `json:"provider_error_rate"`
	// Workers is the outbox.workers setting the core ran with (0: its
	// default).
	Workers int `json:"workers,omitempty"`
	OutboxPhase
	// Sent counts delivery status sent at the end, over both phases.
	Sent int `json:"sent"`
	// Backlog is the backlog-drain phase (nil with -outbox-backlog=false).
	Backlog *OutboxPhase `json:"backlog,omitempty"`
	// Scans and ScannedEntries are the outbox dispatcher's reads of its due
	// index over the whole run (its metrics).
	Scans          float64 `json:"scans"`
	ScannedEntries float64 `json:"scanned_entries"`
}

// OutboxPhase is one phase's outcome.
type OutboxPhase struct {
	// Seconds is the phase's start (first POST, or the provider's release
	// for the backlog) → the last reply accepted by the provider;
	// RepliesPerSec = replies ÷ it. It includes the wait of the ~1 % of
	// replies refused with 500 for their retry (1–2 s backoff).
	Seconds       float64 `json:"seconds"`
	RepliesPerSec float64 `json:"replies_per_sec"`
	// FirstAttemptSeconds ends at the provider's answer to the last first
	// attempt instead (retries excluded); FirstAttemptsPerSec = replies ÷
	// it: the rate at which the outbox worked through the replies.
	FirstAttemptSeconds float64 `json:"first_attempt_seconds"`
	FirstAttemptsPerSec float64 `json:"first_attempts_per_sec"`
	Injected5xx         uint64  `json:"injected_5xx"`
	Lost                int     `json:"lost"` // acknowledged replies never accepted by the provider
	DuplicateSends      int     `json:"duplicate_sends"`
	// PostRepliesPerSec is the API POST rate while queueing.
	PostRepliesPerSec float64 `json:"post_replies_per_sec"`
	// CPUusPerReply is the CPU time of the core and its plugin over the
	// phase (the API POST, the outbox send and the plugin's provider call),
	// per reply; split by process.
	CPUusPerReply       float64 `json:"cpu_us_per_reply"`
	CoreCPUusPerReply   float64 `json:"core_cpu_us_per_reply"`
	PluginCPUusPerReply float64 `json:"plugin_cpu_us_per_reply"`
}

func replyText(i int) string { return fmt.Sprintf("Bench reply %d: your parcel is on its way.", i) }

// runOutbox measures the outbox: it seeds one ticket per conversation
// through the WhatsApp webhook, posts replies through the API while the
// outbox drains them to a slowed, failing fake provider (the live phase),
// optionally posts a backlog while the provider holds every send and
// times its drain, then checks every reply's delivery status.
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
	run := &outboxRun{ctx: ctx, graph: graph, core: core, hc: hc}
	if err := run.seedTickets(); err != nil {
		return nil, err
	}
	// The provider slows down and fails now, not during seeding.
	graph.SetFaults(o.latency, o.errorRate)
	run.pluginPIDs = core.PluginPIDs()

	rep := &OutboxReport{Replies: o.replies, ProviderLatency: o.latency.String(), ProviderErrors: o.errorRate, Workers: o.outboxWorkers}
	// Live: replies posted while the outbox drains them.
	cpu0, start := run.cpuNow(), time.Now()
	if rep.PostRepliesPerSec, err = run.postReplies(0, o.replies); err != nil {
		return nil, err
	}
	run.measure(&rep.OutboxPhase, 0, o.replies, start, cpu0, 0)
	logf("outbox live: %s", phaseLine(o, &rep.OutboxPhase))
	total := o.replies
	if o.outboxBacklog {
		if rep.Backlog, err = run.backlog(total, total+o.replies); err != nil {
			return nil, err
		}
		logf("outbox backlog: %s", phaseLine(o, rep.Backlog))
		total += o.replies
	}
	if rep.Sent, err = run.waitSent(total); err != nil {
		return nil, err
	}
	if rep.Scans, err = metricValue(ctx, hc, core.URL, "patchbay_outbox_scans_total"); err != nil {
		return nil, err
	}
	if rep.ScannedEntries, err = metricValue(ctx, hc, core.URL, "patchbay_outbox_scanned_entries_total"); err != nil {
		return nil, err
	}
	logf("outbox: %d of %d replies sent; %.0f due-index scans read %.0f entries", rep.Sent, total, rep.Scans, rep.ScannedEntries)
	return rep, nil
}

// outboxRun is the outbox mode's running setup: the fake provider, the
// core, the API client and the tickets the replies answer.
type outboxRun struct {
	ctx        context.Context
	graph      *bench.FakeGraph
	core       *bench.Core
	hc         *http.Client
	tickets    []apiTicket
	pluginPIDs []int
}

// seedTickets opens the tickets to answer, one per conversation, through
// the webhook, and lists them through the API.
func (r *outboxRun) seedTickets() error {
	const tickets = 100
	seed := bench.ClosedLoop(r.ctx, r.core.URL+"/hooks/wa", 16, time.Minute, tickets, payloads("outbox", tickets))
	if seed.OK != tickets {
		return fmt.Errorf("seeding tickets: %d of %d acknowledged (%s)", seed.OK, tickets, seed.FirstError)
	}
	var list struct {
		Tickets []apiTicket `json:"tickets"`
	}
	if _, err := apiCall(r.ctx, r.hc, r.core.URL, "GET", "/api/v1/tickets?channel=wa&limit=100", nil, &list); err != nil {
		return err
	}
	if len(list.Tickets) == 0 {
		return fmt.Errorf("no tickets")
	}
	r.tickets = list.Tickets
	return nil
}

// postReplies posts replies [from, to) through the API, 16 at a time,
// spread over the tickets, and returns the POST rate.
func (r *outboxRun) postReplies(from, to int) (float64, error) {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to || r.ctx.Err() != nil {
					return
				}
				tk := r.tickets[i%len(r.tickets)].ID
				if _, err := apiCall(r.ctx, r.hc, r.core.URL, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk), map[string]any{"body": replyText(i), "public": true}, nil); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return 0, fmt.Errorf("posting replies: %w", e)
	}
	return float64(to-from) / time.Since(start).Seconds(), nil
}

// backlog is the backlog phase for replies [from, to): the provider holds
// every send while the replies are posted (the outbox then has its
// workers' worth in flight and the rest queued), then answers again: the
// drain of the backlog is the outbox's alone, without the API competing
// for the CPU.
func (r *outboxRun) backlog(from, to int) (*OutboxPhase, error) {
	b := &OutboxPhase{}
	r.graph.Hold()
	var err error
	if b.PostRepliesPerSec, err = r.postReplies(from, to); err != nil {
		r.graph.Release()
		return nil, err
	}
	cpu0, errors0 := r.cpuNow(), r.graph.Errors5xx()
	start := time.Now()
	r.graph.Release()
	r.measure(b, from, to, start, cpu0, errors0)
	return b, nil
}

// cpuNow is the CPU time so far of the core and of its plugins.
func (r *outboxRun) cpuNow() [2]float64 {
	c, _ := procSet([]int{r.core.PID()})
	p, _ := procSet(r.pluginPIDs)
	return [2]float64{c, p}
}

// measure waits (bounded) until the provider accepted replies [from, to)
// and fills the phase's figures, timed from start; cpu0 and errors0 are
// the CPU times and injected errors at start.
func (r *outboxRun) measure(p *OutboxPhase, from, to int, start time.Time, cpu0 [2]float64, errors0 uint64) {
	sent, seen, missing := r.awaitAccepted(from, to)
	if n := float64(to - from - missing); n > 0 {
		cpu1 := r.cpuNow()
		p.CoreCPUusPerReply = (cpu1[0] - cpu0[0]) / n * 1e6
		p.PluginCPUusPerReply = (cpu1[1] - cpu0[1]) / n * 1e6
		p.CPUusPerReply = p.CoreCPUusPerReply + p.PluginCPUusPerReply
	}
	p.Lost = missing
	for i := from; i < to; i++ {
		if n := seen[replyText(i)]; n > 1 {
			p.DuplicateSends += n - 1
		}
	}
	var last time.Time
	for _, s := range sent {
		if s.At.After(last) {
			last = s.At
		}
	}
	p.Seconds = last.Sub(start).Seconds()
	if p.Seconds > 0 {
		p.RepliesPerSec = float64(to-from-p.Lost) / p.Seconds
	}
	p.Injected5xx = r.graph.Errors5xx() - errors0
	var firstDone time.Time
	for i := from; i < to; i++ {
		if ts := r.graph.AttemptTimes(replyText(i)); len(ts) > 0 && ts[0].After(firstDone) {
			firstDone = ts[0]
		}
	}
	if p.FirstAttemptSeconds = firstDone.Sub(start).Seconds(); p.FirstAttemptSeconds > 0 {
		p.FirstAttemptsPerSec = float64(to-from) / p.FirstAttemptSeconds
	}
}

// awaitAccepted polls the fake provider's record (for up to ten minutes)
// until it accepted every reply [from, to), and returns the record, how
// many times it accepted each text, and how many replies it is missing.
func (r *outboxRun) awaitAccepted(from, to int) (sent []bench.Sent, seen map[string]int, missing int) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		sent = r.graph.Sent()
		seen = map[string]int{}
		for _, s := range sent {
			seen[s.Text]++
		}
		missing = 0
		for i := from; i < to; i++ {
			if seen[replyText(i)] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) || r.ctx.Err() != nil {
			return sent, seen, missing
		}
		time.Sleep(100 * time.Millisecond) // polling the fake's record
	}
}

// waitSent counts the replies whose delivery status the API shows as
// sent, polling briefly until total are (the core records "sent" just
// after the provider's answer).
func (r *outboxRun) waitSent(total int) (int, error) {
	sent := 0
	for range 100 {
		sent = 0
		for _, tk := range r.tickets {
			n, err := r.sentOn(tk.ID)
			if err != nil {
				return 0, err
			}
			sent += n
		}
		if sent >= total {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return sent, nil
}

// sentOn counts the comments of ticket id whose delivery status is sent,
// page by page.
func (r *outboxRun) sentOn(id uint64) (int, error) {
	sent, cursor := 0, ""
	for {
		var page struct {
			Comments   []apiComment `json:"comments"`
			NextCursor *string      `json:"next_cursor"`
		}
		p := fmt.Sprintf("/api/v1/tickets/%d/comments?limit=100", id)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, err := apiCall(r.ctx, r.hc, r.core.URL, "GET", p, nil, &page); err != nil {
			return 0, err
		}
		for _, c := range page.Comments {
			if c.Delivery != nil && c.Delivery.Status == "sent" {
				sent++
			}
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return sent, nil
		}
		cursor = *page.NextCursor
	}
}

// phaseLine is one phase's log line.
func phaseLine(o options, p *OutboxPhase) string {
	return fmt.Sprintf("%d replies in %.2f s = %.0f replies/s (first attempts %.0f/s; provider %s latency, %d injected 5xx); cpu %.0f µs/reply (core %.0f, plugin %.0f); posted %.0f/s; lost %d, duplicate sends %d",
		o.replies, p.Seconds, p.RepliesPerSec, p.FirstAttemptsPerSec, o.latency, p.Injected5xx,
		p.CPUusPerReply, p.CoreCPUusPerReply, p.PluginCPUusPerReply, p.PostRepliesPerSec, p.Lost, p.DuplicateSends)
}
