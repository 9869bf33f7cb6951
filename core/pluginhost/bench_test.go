package pluginhost

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// BenchmarkHandleWebhook measures one webhook round trip through a real
// plugin process: core → plugin HandleWebhook → answer (a 1 KiB body).
// Allocations are the core's side only.
func BenchmarkHandleWebhook(b *testing.B) {
	h := startHarness(b, Supervision{}, nil, testChannel("alpha", nil))
	req := &sdk.WebhookRequest{
		Method: "POST",
		Path:   "/echo",
		Header: map[string][]string{"Content-Type": {"application/json"}, "X-Test": {"1"}},
		Body:   []byte(strings.Repeat("x", 1024)),
	}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		resp, err := h.m.Webhook(ctx, "alpha", req)
		if err != nil || resp.Status != 200 {
			b.Fatalf("webhook: %v %+v", err, resp)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/op")
}

// BenchmarkDeliver measures one Deliver round trip from a real plugin
// process: plugin Host.Deliver → broker → core Backend.Deliver → receipt.
// One webhook asks the plugin to deliver b.N messages in a row, so the
// webhook's own cost is spread over all of them. Allocations are the
// core's side only (the plugin is another process).
func BenchmarkDeliver(b *testing.B) {
	h := startHarness(b, Supervision{}, nil, testChannel("alpha", nil))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	resp, err := h.m.Webhook(ctx, "alpha", &sdk.WebhookRequest{Method: "POST", Path: "/deliver-loop", RawQuery: "n=" + strconv.Itoa(b.N)})
	elapsed := time.Since(start)
	if err != nil || resp.Status != 200 {
		b.Fatalf("deliver loop: %v %+v", err, resp)
	}
	b.StopTimer()
	if got := len(h.backend.delivered()); got != b.N {
		b.Fatalf("delivered %d, want %d", got, b.N)
	}
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/op")
}
