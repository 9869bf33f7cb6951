package e2e

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// TestHungPluginWebhookAnswered: while a plugin hangs (SIGSTOP), a
// webhook for its channel is answered within the channel's webhook budget
// (the manifest's WebhookTimeout; WhatsApp uses the core's 10 s default,
// Slack declares 3 s) with 503 and Retry-After, so that the provider
// redelivers later instead of holding a connection to a dead plugin. (Found
// by this suite: the core used to wait until the hang was detected.)
func TestHungPluginWebhookAnswered(t *testing.T) {
	bin := binaries(t)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	pid := onePluginPID(t, core, "whatsapp")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if bench.Alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGCONT)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	body, sig := fx.message("3300000098", "wamid.hang.2", "sent while the plugin hangs")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a, err := postHook(ctx, http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig)
	if err != nil {
		t.Fatalf("webhook during the plugin hang got no answer within 15 s (budget 10 s): %v", err)
	}
	if a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
		t.Fatalf("webhook during the plugin hang: %d (Retry-After %q), want 503 with Retry-After", a.status, a.retryAfter)
	}
}

// TestDiskFull: a full disk under the data directory makes inbound answer
// 5xx (the provider retries) and /healthz 503, keeps the core up, and the
// redeliveries are accepted once space returns (see diskFullTest; it mounts
// a 96 MiB tmpfs, so it runs as root only). Found by this suite: the core
// used to die of SIGBUS in Badger's mmapped WAL; the store now refuses
// writes below a free-space reserve (core/store/space.go).
func TestDiskFull(t *testing.T) { diskFullTest(t) }

// TestOutboxRestartsDoNotCountAsAttempts: a queued reply that comes due
// while the core restarts is tried before the channel's plugin runs; that
// "channel is starting" failure must not count as a delivery attempt (found
// by the crash suite: after max_attempts restarts such a reply used to end
// "failed" though the provider never refused it). The outbox now waits for
// the channel (outbox.Options.Unavailable, Worker.ChannelUp).
func TestOutboxRestartsDoNotCountAsAttempts(t *testing.T) {
	const text = "Queued across restarts."
	var first time.Time
	core, fx, tk := replyFixture(t, func(body string, attempt int) *bench.Fault {
		if body == text && attempt == 1 {
			return &bench.Fault{Status: http.StatusInternalServerError, Code: 131000, Message: "Something went wrong"}
		}
		return nil
	})
	id := postReply(t, core, tk, text)
	e2etest.Eventually(t, time.Minute, "the first, failed attempt recorded", func() bool {
		st, _, attempts := replyDelivery(t, core, tk, id)
		return st == "pending" && attempts == 1
	})
	first = fx.graph.AttemptTimes(text)[0]
	for range 2 {
		core.Kill9()
		// Restart once the retry is overdue (the first backoff is at most
		// 4 s), so that it is due the moment the core starts.
		for time.Since(first) < 5*time.Second {
			time.Sleep(100 * time.Millisecond)
		}
		core.Restart()
		first = time.Now()
	}
	e2etest.Eventually(t, 2*time.Minute, "reply sent", func() bool {
		st, _, _ := replyDelivery(t, core, tk, id)
		return st == "sent"
	})
	_, _, attempts := replyDelivery(t, core, tk, id)
	// The provider may have seen one more attempt than was recorded: a
	// kill right after it accepted the reply and before "sent" committed is
	// the outbox's documented at-least-once window. It must never have seen
	// fewer: an attempt it did not see was a restart counted as an attempt.
	if n := fx.graph.Attempts(text); attempts > n {
		t.Fatalf("delivery counts %d attempts; the provider saw %d (restarts were counted as attempts)", attempts, n)
	}
}
