package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/internal/bench"
)

// TestMain lets the test binary serve as the baseline child process
// (startBaseline re-executes os.Executable with "baseline-server").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "baseline-server" {
		if err := baselineServer(context.Background(), os.Args[2:]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBaselineServer: the baseline checks the signature like the plugin
// (401 on a bad one, nothing stored) and acknowledges only what is
// durably written.
func TestBaselineServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b, err := startBaseline(context.Background(), dir, benchSecret)
	if err != nil {
		t.Fatal(err)
	}
	next := payloads("t", 3)
	post := func(body []byte, h http.Header) int {
		req, _ := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(body))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good, h := next(1)
	bad, _ := next(2)
	tests := []struct {
		name string
		body []byte
		h    http.Header
		want int
	}{
		{"signed", good, h, 200},
		{"signature of another body", bad, h, 401},
		{"unsigned", bad, http.Header{}, 401},
		{"signed garbage", []byte("{"), http.Header{bench.WhatsAppSignatureHeader: {bench.SignWhatsApp(benchSecret, []byte("{"))}}, 400},
	}
	for _, tc := range tests {
		if got := post(tc.body, tc.h); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	b.stop()
	st, err := store.Open(store.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(func(r *store.ReadTx) error {
		for n, want := range map[string]bool{"wamid.t.1": true, "wamid.t.2": false} {
			_, ok, err := r.State(baselineInstance, n)
			if err != nil {
				return err
			}
			if ok != want {
				t.Errorf("message %s stored = %v, want %v", n, ok, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReportVerdicts(t *testing.T) {
	r := &Report{
		StartedAt: time.Unix(0, 0), FinishedAt: time.Unix(60, 0), CPUs: 2,
		Inbound: &InboundReport{Product: 12000, Baseline: 20000, Ratio: 0.6,
			Rate:      &RoundResult{System: "product", Mode: "rate", TargetRate: 2000, MsgsPerSec: 2000, P99ms: 60},
			Freshness: &FreshnessReport{Probes: 50, Found: 50, P50ms: 12, P99ms: 80, MaxMs: 95}},
		Outbox: &OutboxReport{OutboxPhase: OutboxPhase{RepliesPerSec: 1200, FirstAttemptsPerSec: 1500},
			Backlog: &OutboxPhase{RepliesPerSec: 1100, FirstAttemptsPerSec: 2000, Lost: 1}},
		Tickets: &TicketsReport{Tickets: 1000, ListP99ms: 1, PeakRSSMB: 100, StartupMs: 6000},
		Search:  &SearchReport{Tickets: 1000, Comments: 3000, TwoWordP99ms: 20, FieldOnlyP99ms: 12},
	}
	md := r.markdown()
	for _, want := range []string{
		"| durable inbound ≥ 10,000 msgs/s | 12000 msgs/s | met |",
		"| ≥ 0.5× bare baseline (aim 0.7) | 0.60× | met |",
		"p99 ack < 50 ms at 2000 msgs/s | 60.00 ms (2000 msgs/s achieved) | **missed** |",
		"zero lost (live) | 1200 replies/s (first attempts 1500/s), 1 lost | **missed** |",
		"zero lost (backlog drain) | 1100 replies/s (first attempts 2000/s), 1 lost | **missed** |",
		"| backlog (queued, then drained) | 0 | 0.00 | 1100 | 2000 |",
		"list 50 by status p99 < 5 ms | 1.00 ms | met |",
		"start-up < 5 s | 6.00 s | **missed** |",
		"| search, 1000 tickets / 3000 comments: two-word query p99 < 50 ms | 20.00 ms | met |",
		"| search, 1000 tickets / 3000 comments: field-only query p99 < 10 ms | 12.00 ms | **missed** |",
		"searchable within 1 s (p99) under the latency round's load | p99 80.0 ms, 50 of 50 found | met |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
