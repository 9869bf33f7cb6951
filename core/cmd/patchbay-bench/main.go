// Command patchbay-bench is Patchbay's load generator (`make bench`). It
// drives the real patchbay binary and real plugin binaries over loopback
// and reports JSON and a Markdown table:
//
//   - inbound: signed WhatsApp webhooks through the full path (core HTTP →
//     plugin → Deliver → synced group commit → 200) against a bare
//     baseline (HTTP → the same HMAC check → synced group-commit write
//     through core/store), interleaved A B A B; then the product at a fixed
//     rate for the acknowledgement latency.
//   - outbox: agent replies drained to a fake Graph API with 50 ms latency
//     and 1 % 5xx answers; replies/s and zero lost.
//   - tickets: a store of N tickets (1,000,000 by default, built directly
//     through core/store, its search index built offline), then the core's
//     start-up time, RSS and the latency of listing 50 tickets by status.
//   - search: a store of N tickets with 3 comments each (built directly
//     through core/store), the search index's offline build rate, then the
//     core's RSS with the index open and the latency of two-word,
//     field-only, mixed and phrase searches. The inbound latency round also
//     probes search freshness (a committed message found by search).
//
// Usage: patchbay-bench [flags] [all|inbound|outbox|tickets|search]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
)

// options are the command's flags.
type options struct {
	binDir, outDir, workDir string

	concurrency   int
	duration      time.Duration
	rounds        int
	conversations int
	rate          float64
	rateDuration  time.Duration

	replies   int
	latency   time.Duration
	errorRate float64
	// outboxWorkers, when > 0, is written as outbox { workers = N }.
	outboxWorkers int
	// outboxBacklog adds the backlog-drain phase.
	outboxBacklog bool

	tickets      int
	listRequests int

	searchTickets  int
	searchComments int
	searchRequests int
	freshEvery     time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "baseline-server" {
		return baselineServer(ctx, args[1:])
	}
	var o options
	fs := flag.NewFlagSet("patchbay-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.binDir, "bin", "", "directory with patchbay and plugins/ (default: build them into a temporary directory)")
	fs.StringVar(&o.outDir, "out", "bench-results", "where results.json and results.md are written")
	fs.StringVar(&o.workDir, "work", "", "directory for data directories (default: a temporary one, removed afterwards)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "inbound: concurrent webhook senders")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "inbound: length of each throughput round")
	fs.IntVar(&o.rounds, "rounds", 2, "inbound: rounds of each system (A B A B…)")
	fs.IntVar(&o.conversations, "conversations", 1000, "inbound: distinct WhatsApp senders")
	fs.Float64Var(&o.rate, "rate", 2000, "inbound: fixed rate (messages/s) of the latency round; 0 skips it")
	fs.DurationVar(&o.rateDuration, "rate-duration", 15*time.Second, "inbound: length of the latency round")
	fs.IntVar(&o.replies, "replies", 20000, "outbox: replies to drain per phase")
	fs.DurationVar(&o.latency, "provider-latency", 50*time.Millisecond, "outbox: fake provider latency")
	fs.Float64Var(&o.errorRate, "provider-errors", 0.01, "outbox: share of sends the fake provider answers 500")
	fs.BoolVar(&o.outboxBacklog, "outbox-backlog", true, "outbox: after the live phase, drain a backlog of as many replies queued while the provider held every send")
	fs.IntVar(&o.outboxWorkers, "outbox-workers", 0, "outbox: the core's outbox.workers setting (0: its default)")
	fs.IntVar(&o.tickets, "tickets", 1_000_000, "tickets: tickets in the store")
	fs.IntVar(&o.listRequests, "list-requests", 2000, "tickets: list requests measured")
	fs.IntVar(&o.searchTickets, "search-tickets", 1_000_000, "search: tickets in the store")
	fs.IntVar(&o.searchComments, "search-comments", 3, "search: comments per ticket")
	fs.IntVar(&o.searchRequests, "search-requests", 1000, "search: requests measured per kind of query")
	fs.DurationVar(&o.freshEvery, "fresh-every", 200*time.Millisecond, "inbound: interval of the search freshness probes during the latency round (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mode := "all"
	if fs.NArg() > 0 {
		mode = fs.Arg(0)
	}
	switch mode {
	case "all", "inbound", "outbox", "tickets", "search":
	default:
		return fmt.Errorf("unknown mode %q (all, inbound, outbox, tickets, search)", mode)
	}

	work := o.workDir
	if work == "" {
		d, err := os.MkdirTemp("", "patchbay-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	bin, err := binaries(ctx, o.binDir, work)
	if err != nil {
		return err
	}
	rep := newReport(o)
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	if mode == "all" || mode == "inbound" {
		r, err := runInbound(ctx, o, bin, work, logf)
		if err != nil {
			return fmt.Errorf("inbound: %w", err)
		}
		rep.Inbound = r
	}
	if mode == "all" || mode == "outbox" {
		r, err := runOutbox(ctx, o, bin, work, logf)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		rep.Outbox = r
	}
	if mode == "all" || mode == "tickets" {
		r, err := runTickets(ctx, o, bin, work, logf)
		if err != nil {
			return fmt.Errorf("tickets: %w", err)
		}
		rep.Tickets = r
	}
	if mode == "all" || mode == "search" {
		r, err := runSearch(ctx, o, bin, work, logf)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		rep.Search = r
	}
	rep.FinishedAt = time.Now().UTC()
	return rep.write(o.outDir, stdout)
}

// binaries uses prebuilt binaries or builds them from the module.
func binaries(ctx context.Context, dir, work string) (bench.Binaries, error) {
	if dir != "" {
		b := bench.Binaries{Patchbay: filepath.Join(dir, "patchbay"), PluginDir: filepath.Join(dir, "plugins")}
		if _, err := os.Stat(b.Patchbay); err != nil {
			return b, fmt.Errorf("-bin: %w", err)
		}
		return b, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return bench.Binaries{}, fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return bench.Binaries{}, errors.New("run inside the patchbay module, or pass -bin")
	}
	return bench.Build(ctx, filepath.Dir(mod), filepath.Join(work, "bin"))
}
