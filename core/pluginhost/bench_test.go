package pluginhost

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTicks = 100

// processCPU returns the CPU time (user + system) used so far by this
// process (pid 0) or by the process pid.
func processCPU(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th of them.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// measureCPU reports the CPU time per operation of the core (this process:
// the benchmark loop is a small part of it) and of the plugin process, as
// core-cpu-µs/op and plugin-cpu-µs/op. The plugin's figure has the 10 ms
// resolution of /proc, spread over b.N.
func measureCPU(b *testing.B, pluginPID int) {
	core, plugin := processCPU(b, 0), processCPU(b, pluginPID)
	b.Cleanup(func() {
		if b.N == 0 {
			return
		}
		b.ReportMetric(float64((processCPU(b, 0)-core).Microseconds())/float64(b.N), "core-cpu-µs/op")
		b.ReportMetric(float64((processCPU(b, pluginPID)-plugin).Microseconds())/float64(b.N), "plugin-cpu-µs/op")
	})
}

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
	pid := h.pid(b, "alpha")
	b.ReportAllocs()
	measureCPU(b, pid)
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
	pid := h.pid(b, "alpha")
	b.ReportAllocs()
	b.ResetTimer()
	measureCPU(b, pid)
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
