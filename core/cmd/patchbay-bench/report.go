package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Report is everything one run measured (results.json).
type Report struct {
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
	CPUs       int            `json:"cpus"`
	GoVersion  string         `json:"go_version"`
	Settings   map[string]any `json:"settings"`
	Inbound    *InboundReport `json:"inbound,omitempty"`
	Outbox     *OutboxReport  `json:"outbox,omitempty"`
	Tickets    *TicketsReport `json:"tickets,omitempty"`
	Search     *SearchReport  `json:"search,omitempty"`
}

func newReport(o options) *Report {
	return &Report{
		StartedAt: time.Now().UTC(),
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Settings: map[string]any{
			"concurrency": o.concurrency, "duration": o.duration.String(), "rounds": o.rounds,
			"conversations": o.conversations, "rate": o.rate, "rate_duration": o.rateDuration.String(),
			"replies": o.replies, "provider_latency": o.latency.String(), "provider_errors": o.errorRate,
			"tickets": o.tickets, "list_requests": o.listRequests,
			"search_tickets": o.searchTickets, "search_comments": o.searchComments, "search_requests": o.searchRequests,
			"fresh_every": o.freshEvery.String(),
		},
	}
}

// verdict renders a target check.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// markdown renders the report as Markdown tables.
func (r *Report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# patchbay-bench results\n\n%s, %d CPUs, %s, run took %s.\n\n",
		r.StartedAt.Format(time.RFC3339), r.CPUs, r.GoVersion, r.FinishedAt.Sub(r.StartedAt).Round(time.Second))
	if in := r.Inbound; in != nil {
		b.WriteString("## Inbound: signed WhatsApp webhooks, acknowledged after a synced commit\n\n")
		b.WriteString("| system | round | load | msgs/s | p50 ms | p99 ms | p99.9 ms | CPU µs/msg | peak RSS MB | failed |\n")
		b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		rows := in.Rounds
		if in.Rate != nil {
			rows = append(rows, *in.Rate)
		}
		if in.BaselineRate != nil {
			rows = append(rows, *in.BaselineRate)
		}
		for _, x := range rows {
			load := fmt.Sprintf("%d concurrent", x.Concurrency)
			round := fmt.Sprint(x.Round)
			if x.Mode == "rate" {
				load, round = fmt.Sprintf("%.0f/s fixed", x.TargetRate), "latency"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %.0f | %.1f | %d |\n",
				x.System, round, load, x.MsgsPerSec, x.P50ms, x.P99ms, x.P999ms, x.CPUusPerMsg, x.PeakRSSMB, x.Failed)
		}
		for _, x := range in.Rounds {
			if x.System == "product" && x.CoreCPUusPerMsg > 0 {
				fmt.Fprintf(&b, "\nProduct round %d CPU per message: core %.0f µs, WhatsApp plugin %.0f µs.", x.Round, x.CoreCPUusPerMsg, x.PluginCPUusPerMsg)
			}
		}
		fmt.Fprintf(&b, "\n\nProduct %.0f msgs/s, baseline %.0f msgs/s: ratio **%.2f**.\n\n", in.Product, in.Baseline, in.Ratio)
	}
	if o := r.Outbox; o != nil {
		b.WriteString("## Outbox: replies drained to a fake provider\n\n")
		workers := "default"
		if o.Workers > 0 {
			workers = fmt.Sprint(o.Workers)
		}
		fmt.Fprintf(&b, "%d replies per phase, provider latency %s, %.0f %% answered 500, outbox workers: %s.\n\n", o.Replies, o.ProviderLatency, 100*o.ProviderErrors, workers)
		b.WriteString("| phase | API POST replies/s | seconds | replies/s | first attempts/s | CPU µs/reply (core + plugin) | injected 5xx | lost | duplicate sends |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		row := func(name string, p *OutboxPhase) {
			fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.0f | %.0f | %.0f (%.0f + %.0f) | %d | %d | %d |\n", name, p.PostRepliesPerSec, p.Seconds, p.RepliesPerSec, p.FirstAttemptsPerSec,
				p.CPUusPerReply, p.CoreCPUusPerReply, p.PluginCPUusPerReply, p.Injected5xx, p.Lost, p.DuplicateSends)
		}
		row("live (posted while draining)", &o.OutboxPhase)
		if o.Backlog != nil {
			row("backlog (queued, then drained)", o.Backlog)
		}
		fmt.Fprintf(&b, "\nSent at the end: %d. The outbox's due-index scans: %.0f, reading %.0f entries.\n\n", o.Sent, o.Scans, o.ScannedEntries)
	}
	if t := r.Tickets; t != nil {
		b.WriteString("## Many tickets\n\n")
		b.WriteString("| tickets | store MB | build s | start-up ms | list 50 by status p50 ms | p99 ms | p99.9 ms | RSS after start MB | RSS MB | peak RSS MB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| %d | %.0f | %.1f | %.0f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f |\n\n", t.Tickets, t.StoreMB, t.BuildSeconds, t.StartupMs, t.ListP50ms, t.ListP99ms, t.ListP999ms, t.RSSAfterStartMB, t.RSSMB, t.PeakRSSMB)
	}
	if x := r.Search; x != nil {
		b.WriteString("## Full-text search\n\n")
		b.WriteString("| tickets | comments | store MB | index MB | index build s | tickets/s | start-up ms | two words p50 / p99 ms | field terms p50 / p99 ms | word + fields p99 ms | phrase p99 ms | RSS after start MB | RSS MB | peak RSS MB |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| %d | %d | %.0f | %.0f | %.1f | %.0f | %.0f | %.2f / %.2f | %.2f / %.2f | %.2f | %.2f | %.0f | %.0f | %.0f |\n\n",
			x.Tickets, x.Comments, x.StoreMB, x.IndexMB, x.IndexSeconds, x.IndexTicketsSec, x.StartupMs, x.TwoWordP50ms, x.TwoWordP99ms,
			x.FieldOnlyP50ms, x.FieldOnlyP99ms, x.FieldAndWordP99, x.PhraseP99ms, x.RSSAfterStartMB, x.RSSMB, x.PeakRSSMB)
	}
	if in := r.Inbound; in != nil && in.Freshness != nil {
		f := in.Freshness
		fmt.Fprintf(&b, "Search freshness during the inbound latency round: %d of %d probe messages found; commit → searchable p50 %.1f ms, p99 %.1f ms, max %.1f ms.\n\n", f.Found, f.Probes, f.P50ms, f.P99ms, f.MaxMs)
	}
	b.WriteString("## Targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	if in := r.Inbound; in != nil {
		fmt.Fprintf(&b, "| durable inbound ≥ 10,000 msgs/s | %.0f msgs/s | %s |\n", in.Product, verdict(in.Product >= 10000))
		fmt.Fprintf(&b, "| ≥ 0.5× bare baseline (aim 0.7) | %.2f× | %s |\n", in.Ratio, verdict(in.Ratio >= 0.5))
		if in.Rate != nil {
			fmt.Fprintf(&b, "| p99 ack < 50 ms at %.0f msgs/s | %.2f ms (%.0f msgs/s achieved) | %s |\n", in.Rate.TargetRate, in.Rate.P99ms, in.Rate.MsgsPerSec,
				verdict(in.Rate.P99ms < 50 && in.Rate.Failed == 0 && in.Rate.MsgsPerSec >= 0.95*in.Rate.TargetRate))
		}
	}
	if o := r.Outbox; o != nil {
		lost := o.Lost
		if o.Backlog != nil {
			lost += o.Backlog.Lost
		}
		fmt.Fprintf(&b, "| outbox ≥ 1,000 replies/s, zero lost (live) | %.0f replies/s (first attempts %.0f/s), %d lost | %s |\n", o.RepliesPerSec, o.FirstAttemptsPerSec, lost, verdict(o.RepliesPerSec >= 1000 && lost == 0))
		if bl := o.Backlog; bl != nil {
			fmt.Fprintf(&b, "| outbox ≥ 1,000 replies/s, zero lost (backlog drain) | %.0f replies/s (first attempts %.0f/s), %d lost | %s |\n", bl.RepliesPerSec, bl.FirstAttemptsPerSec, lost, verdict(bl.RepliesPerSec >= 1000 && lost == 0))
		}
	}
	if t := r.Tickets; t != nil {
		fmt.Fprintf(&b, "| %d tickets: list 50 by status p99 < 5 ms | %.2f ms | %s |\n", t.Tickets, t.ListP99ms, verdict(t.ListP99ms < 5))
		fmt.Fprintf(&b, "| %d tickets: core RSS < 500 MB | %.0f MB peak | %s |\n", t.Tickets, t.PeakRSSMB, verdict(t.PeakRSSMB < 500))
		fmt.Fprintf(&b, "| %d tickets: start-up < 5 s | %.2f s | %s |\n", t.Tickets, t.StartupMs/1000, verdict(t.StartupMs < 5000))
	}
	if x := r.Search; x != nil {
		fmt.Fprintf(&b, "| search, %d tickets / %d comments: two-word query p99 < 50 ms | %.2f ms | %s |\n", x.Tickets, x.Comments, x.TwoWordP99ms, verdict(x.TwoWordP99ms < 50))
		fmt.Fprintf(&b, "| search, %d tickets / %d comments: field-only query p99 < 10 ms | %.2f ms | %s |\n", x.Tickets, x.Comments, x.FieldOnlyP99ms, verdict(x.FieldOnlyP99ms < 10))
	}
	if in := r.Inbound; in != nil && in.Freshness != nil {
		f := in.Freshness
		fmt.Fprintf(&b, "| search: a committed message searchable within 1 s (p99) under the latency round's load | p99 %.1f ms, %d of %d found | %s |\n", f.P99ms, f.Found, f.Probes, verdict(f.Probes > 0 && f.Found == f.Probes && f.P99ms < 1000))
	}
	return b.String()
}

// write prints the Markdown and writes results.json and results.md.
func (r *Report) write(dir string, stdout io.Writer) error {
	md := r.markdown()
	fmt.Fprint(stdout, md)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644)
}
