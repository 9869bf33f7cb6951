package inbound

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// BenchmarkDeliver measures durable (synced) Deliver throughput with 1, 16
// and 64 concurrent senders, each message its own conversation half the
// time and an existing one otherwise.
func BenchmarkDeliver(b *testing.B) {
	for _, senders := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			e := newEnv(b)
			var next atomic.Int64
			cpu0 := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + senders - 1) / senders
			for g := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						conv := fmt.Sprintf("c%d", n%500)
						m := &sdk.InboundMessage{ExternalID: fmt.Sprintf("m%d-%d", g, i), ConversationKey: conv, Author: sdk.Party{ExternalID: conv}, Text: "benchmark message body of a typical length, a sentence or two.", Raw: []byte(`{"type":"message","text":"benchmark"}`)}
						if _, err := e.svc.Deliver(context.Background(), "it-help", m, nil); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			// CPU per message is what a loaded machine cannot distort.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
			st := e.st.Stats()
			if st.Commits > 0 {
				b.ReportMetric(float64(st.Updates)/float64(st.Commits), "msgs/commit")
				b.ReportMetric(float64(st.CommitTime.Microseconds())/float64(st.Commits), "µs/commit")
			}
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
