package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
)

// WhatsApp channel settings of every bench core.
const (
	benchPhoneID = "106540352242922"
	benchToken   = "EAAbench-access-token"
	benchSecret  = "bench-app-secret"
)

func whatsappChannel(graphURL string) string {
	return fmt.Sprintf(`
channel "wa" {
  plugin = "whatsapp"
  config {
    phone_number_id = %q
    access_token    = env("BENCH_WA_TOKEN")
    app_secret      = env("BENCH_WA_SECRET")
    verify_token    = "bench-verify"
    api_url         = %q
  }
}
`, benchPhoneID, graphURL)
}

var whatsappEnv = []string{"BENCH_WA_TOKEN=" + benchToken, "BENCH_WA_SECRET=" + benchSecret}

// RoundResult is one measured load run.
type RoundResult struct {
	System      string  `json:"system"` // "product" or "baseline"
	Round       int     `json:"round"`
	Mode        string  `json:"mode"` // "closed" (concurrency) or "rate"
	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	Seconds     float64 `json:"seconds"`
	OK          int64   `json:"ok"`
	Failed      int64   `json:"failed"`
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	P999ms      float64 `json:"p999_ms"`
	CPUusPerMsg float64 `json:"cpu_us_per_msg"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	FirstError  string  `json:"first_error,omitempty"`
	// CoreCPUusPerMsg and PluginCPUusPerMsg split the product's CPU.
	CoreCPUusPerMsg   float64 `json:"core_cpu_us_per_msg,omitempty"`
	PluginCPUusPerMsg float64 `json:"plugin_cpu_us_per_msg,omitempty"`
	StartupMs         float64 `json:"startup_ms,omitempty"`
	ProcessCount      int     `json:"processes"`
}

// InboundReport is the inbound mode's outcome.
type InboundReport struct {
	Rounds []RoundResult `json:"rounds"`
	// Product and Baseline are the mean messages/s of their rounds.
	Product  float64 `json:"product_msgs_per_sec"`
	Baseline float64 `json:"baseline_msgs_per_sec"`
	Ratio    float64 `json:"ratio"`
	// Rate is the product at a fixed rate (latency under a given load);
	// BaselineRate the baseline at the same rate.
	Rate         *RoundResult `json:"rate,omitempty"`
	BaselineRate *RoundResult `json:"baseline_rate,omitempty"`
	// Freshness is the search probe run alongside the latency round.
	Freshness *FreshnessReport `json:"search_freshness,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procSet sums CPU and peak RSS over processes.
func procSet(pids []int) (cpu float64, peakRSS int64) {
	for _, p := range pids {
		if s, err := bench.ReadProc(p); err == nil {
			cpu += s.CPUSeconds
			peakRSS += s.PeakRSSBytes
		}
	}
	return cpu, peakRSS
}

func fillRound(r *RoundResult, res *bench.LoadResult, cpu float64, peak int64) {
	r.Seconds = res.Elapsed.Seconds()
	r.OK, r.Failed = res.OK, res.Failed
	r.MsgsPerSec = res.Rate()
	r.P50ms, r.P99ms, r.P999ms = ms(res.Percentile(0.5)), ms(res.Percentile(0.99)), ms(res.Percentile(0.999))
	if res.OK > 0 {
		r.CPUusPerMsg = cpu / float64(res.OK) * 1e6
	}
	r.PeakRSSMB = float64(peak) / (1 << 20)
	r.FirstError = res.FirstError
}

// payloads returns signed notifications: message n comes from one of
// conversations senders and has a unique id.
func payloads(tag string, conversations int) bench.Payload {
	return func(n int64) ([]byte, http.Header) {
		waID := fmt.Sprintf("49151%07d", n%int64(conversations))
		body := bench.WhatsAppText(benchPhoneID, waID, "Customer "+waID, fmt.Sprintf("wamid.%s.%d", tag, n), "Hello, my order has not arrived yet.", time.Now())
		h := http.Header{}
		h.Set(bench.WhatsAppSignatureHeader, bench.SignWhatsApp(benchSecret, body))
		return body, h
	}
}

func runInbound(ctx context.Context, o options, bin bench.Binaries, work string, logf func(string, ...any)) (*InboundReport, error) {
	graph, err := bench.NewFakeGraph(benchPhoneID, benchToken)
	if err != nil {
		return nil, err
	}
	defer graph.Close()
	rep := &InboundReport{}
	const maxRequests = 50_000_000 // bound on any one round
	var sumP, sumB float64
	for round := 1; round <= o.rounds; round++ {
		for _, system := range []string{"product", "baseline"} {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			dir := filepath.Join(work, fmt.Sprintf("inbound-%s-%d", system, round))
			r := RoundResult{System: system, Round: round, Mode: "closed", Concurrency: o.concurrency}
			tag := fmt.Sprintf("%s%d", system[:1], round)
			switch system {
			case "product":
				core, err := bench.StartCore(ctx, bin, bench.CoreOptions{DataDir: dir, Channels: whatsappChannel(graph.URL), Env: whatsappEnv, Wait: []string{"wa"}})
				if err != nil {
					return nil, err
				}
				pids := append([]int{core.PID()}, core.PluginPIDs()...)
				cpu0, _ := procSet(pids)
				core0, _ := procSet(pids[:1])
				res := bench.ClosedLoop(ctx, core.URL+"/hooks/wa", o.concurrency, o.duration, maxRequests, payloads(tag, o.conversations))
				cpu1, peak := procSet(pids)
				core1, _ := procSet(pids[:1])
				fillRound(&r, res, cpu1-cpu0, peak)
				if res.OK > 0 {
					r.CoreCPUusPerMsg = (core1 - core0) / float64(res.OK) * 1e6
					r.PluginCPUusPerMsg = r.CPUusPerMsg - r.CoreCPUusPerMsg
				}
				r.StartupMs = ms(core.Startup)
				r.ProcessCount = len(pids)
				if err := core.Stop(); err != nil {
					logf("product core stop: %v", err)
				}
				sumP += r.MsgsPerSec
			case "baseline":
				b, err := startBaseline(ctx, dir, benchSecret)
				if err != nil {
					return nil, err
				}
				pids := []int{b.pid()}
				cpu0, _ := procSet(pids)
				res := bench.ClosedLoop(ctx, b.url, o.concurrency, o.duration, maxRequests, payloads(tag, o.conversations))
				cpu1, peak := procSet(pids)
				fillRound(&r, res, cpu1-cpu0, peak)
				r.ProcessCount = 1
				b.stop()
				sumB += r.MsgsPerSec
			}
			split := ""
			if system == "product" {
				split = fmt.Sprintf(" (core %.0f, plugin %.0f)", r.CoreCPUusPerMsg, r.PluginCPUusPerMsg)
			}
			logf("inbound %-8s round %d: %8.0f msgs/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  cpu %5.0f µs/msg%s  peak rss %5.1f MB  failed %d %s",
				system, round, r.MsgsPerSec, r.P50ms, r.P99ms, r.P999ms, r.CPUusPerMsg, split, r.PeakRSSMB, r.Failed, r.FirstError)
			rep.Rounds = append(rep.Rounds, r)
		}
	}
	if o.rounds > 0 {
		rep.Product, rep.Baseline = sumP/float64(o.rounds), sumB/float64(o.rounds)
		if rep.Baseline > 0 {
			rep.Ratio = rep.Product / rep.Baseline
		}
	}
	if o.rate > 0 {
		dir := filepath.Join(work, "inbound-rate")
		core, err := bench.StartCore(ctx, bin, bench.CoreOptions{DataDir: dir, Channels: whatsappChannel(graph.URL), Env: whatsappEnv, Wait: []string{"wa"}})
		if err != nil {
			return nil, err
		}
		pids := append([]int{core.PID()}, core.PluginPIDs()...)
		cpu0, _ := procSet(pids)
		var fresh chan *FreshnessReport
		probeCtx, stopProbe := context.WithCancel(ctx)
		if o.freshEvery > 0 {
			fresh = make(chan *FreshnessReport, 1)
			go func() { fresh <- probeFreshness(probeCtx, core.URL, core.URL+"/hooks/wa", o.freshEvery) }()
		}
		res := bench.OpenLoop(ctx, core.URL+"/hooks/wa", o.rate, o.rateDuration, 1024, payloads("rate", o.conversations))
		stopProbe()
		if fresh != nil {
			rep.Freshness = <-fresh
			logf("search freshness under %.0f/s: %d of %d probes found, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
				o.rate, rep.Freshness.Found, rep.Freshness.Probes, rep.Freshness.P50ms, rep.Freshness.P99ms, rep.Freshness.MaxMs)
		}
		cpu1, peak := procSet(pids)
		r := RoundResult{System: "product", Mode: "rate", TargetRate: o.rate, ProcessCount: len(pids)}
		fillRound(&r, res, cpu1-cpu0, peak)
		r.StartupMs = ms(core.Startup)
		if err := core.Stop(); err != nil {
			logf("rate core stop: %v", err)
		}
		logf("inbound product at %.0f/s: %8.0f msgs/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  cpu %5.0f µs/msg  failed %d",
			o.rate, r.MsgsPerSec, r.P50ms, r.P99ms, r.P999ms, r.CPUusPerMsg, r.Failed)
		rep.Rate = &r

		b, err := startBaseline(ctx, filepath.Join(work, "inbound-rate-baseline"), benchSecret)
		if err != nil {
			return nil, err
		}
		bpids := []int{b.pid()}
		cpu0, _ = procSet(bpids)
		res = bench.OpenLoop(ctx, b.url, o.rate, o.rateDuration, 1024, payloads("brate", o.conversations))
		cpu1, peak = procSet(bpids)
		br := RoundResult{System: "baseline", Mode: "rate", TargetRate: o.rate, ProcessCount: 1}
		fillRound(&br, res, cpu1-cpu0, peak)
		b.stop()
		logf("inbound baseline at %.0f/s: %8.0f msgs/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  cpu %5.0f µs/msg  failed %d",
			o.rate, br.MsgsPerSec, br.P50ms, br.P99ms, br.P999ms, br.CPUusPerMsg, br.Failed)
		rep.BaselineRate = &br
	}
	return rep, nil
}
