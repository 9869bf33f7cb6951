package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// retryLoad is the outcome of a load in which every sender, like Meta,
// redelivers a message until it is acknowledged.
type retryLoad struct {
	mu       sync.Mutex
	acked    []string
	statuses map[int]int
	// badRetryAfter counts 503 answers without a usable Retry-After.
	badRetryAfter int
	other         []string // unexpected answers
}

// runRetryingLoad posts senders×perSender signed messages from a few
// conversations; a message answered with anything but 200 is redelivered
// (bounded in count and time). fault runs once, after trigger
// acknowledgements.
func runRetryingLoad(t *testing.T, core *e2etest.Core, fx *waFixture, tag string, senders, perSender, trigger int, fault func()) *retryLoad {
	t.Helper()
	res := &retryLoad{statuses: map[int]int{}}
	hc := loadClient(senders)
	defer hc.CloseIdleConnections()
	var n atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(3 * time.Minute)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				wamid := fmt.Sprintf("wamid.%s.g%d.n%d", tag, g, i)
				body, sig := fx.message(fmt.Sprintf("33%08d", (g+i)%4), wamid, "crash "+wamid)
				for attempt := 0; ; attempt++ {
					if time.Now().After(deadline) || attempt > 2000 {
						t.Errorf("message %s never acknowledged", wamid)
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					a, err := postHook(ctx, hc, core.URL+"/hooks/"+"wa", body, bench.WhatsAppSignatureHeader, sig)
					cancel()
					res.mu.Lock()
					if err != nil {
						res.statuses[0]++
					} else {
						res.statuses[a.status]++
						if a.status == http.StatusServiceUnavailable {
							if s, err := strconv.Atoi(a.retryAfter); err != nil || s < 1 {
								res.badRetryAfter++
							}
						} else if a.status != http.StatusOK && len(res.other) < 10 {
							res.other = append(res.other, fmt.Sprintf("%d %s", a.status, a.body))
						}
					}
					res.mu.Unlock()
					if err == nil && a.status == http.StatusOK {
						res.mu.Lock()
						res.acked = append(res.acked, wamid)
						res.mu.Unlock()
						if n.Add(1) == int64(trigger) && fault != nil {
							once.Do(fault)
						}
						break
					}
					// Meta backs off before redelivering; a short pause
					// keeps the loop from spinning while the plugin restarts.
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// countExternalIDs reads every comment of the channel's tickets through the
// API and counts the provider message ids.
func countExternalIDs(t *testing.T, core *e2etest.Core, channel string) map[string]int {
	t.Helper()
	count := map[string]int{}
	for _, tk := range listTickets(t, core, url.Values{"channel": {channel}}, nil) {
		for _, c := range listComments(t, core, tk.ID) {
			if c.ExternalID != "" {
				count[c.ExternalID]++
			}
		}
	}
	return count
}

type apiChannel struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	Status   struct {
		State   string `json:"state"`
		Message string `json:"message"`
	} `json:"status"`
	LastError string `json:"last_error"`
}

func channelInfo(t *testing.T, core *e2etest.Core, name string) apiChannel {
	t.Helper()
	var out struct {
		Channels []apiChannel `json:"channels"`
	}
	if st := core.JSON("GET", "/api/v1/channels", nil, &out); st != 200 {
		t.Fatalf("channels: %d", st)
	}
	for _, c := range out.Channels {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("channel %s not listed", name)
	return apiChannel{}
}

func onePluginPID(t *testing.T, core *e2etest.Core, kind string) int {
	t.Helper()
	var pid int
	e2etest.Eventually(t, 60*time.Second, "one "+kind+" plugin process", func() bool {
		pids := core.PluginPIDs(kind)
		if len(pids) == 1 {
			pid = pids[0]
			return true
		}
		return false
	})
	return pid
}

// TestFaultPluginKill9UnderLoad kills the WhatsApp plugin with SIGKILL in
// the middle of a webhook load: the webhooks answer 503 with Retry-After
// while it is down, the supervisor restarts it, and every message the
// provider redelivers until acknowledged is stored exactly once.
func TestFaultPluginKill9UnderLoad(t *testing.T) {
	bin := binaries(t)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	pid := onePluginPID(t, core, "whatsapp")

	res := runRetryingLoad(t, core, fx, "kill", 8, 40, 60, func() {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill plugin: %v", err)
		}
	})
	t.Logf("answers by status: %v", res.statuses)
	if res.statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no webhook was answered 503 while the plugin was down: %v", res.statuses)
	}
	if res.badRetryAfter > 0 {
		t.Errorf("%d answers 503 without a Retry-After of at least 1 s", res.badRetryAfter)
	}
	if len(res.other) > 0 {
		t.Errorf("answers other than 200 and 503: %q", res.other)
	}
	if bench.Alive(pid) {
		t.Errorf("killed plugin %d still alive", pid)
	}
	core.WaitChannelState("wa", "running")
	if ch := channelInfo(t, core, "wa"); ch.Restarts < 1 {
		t.Errorf("channel restarts = %d, want at least 1", ch.Restarts)
	}
	if now := onePluginPID(t, core, "whatsapp"); now == pid {
		t.Errorf("plugin pid unchanged after kill")
	}
	count := countExternalIDs(t, core, "wa")
	for _, id := range res.acked {
		if count[id] != 1 {
			t.Errorf("acknowledged %s stored %d times", id, count[id])
		}
	}
	if len(res.acked) != 8*40 {
		t.Errorf("%d messages acknowledged, want %d", len(res.acked), 8*40)
	}
}

// TestFaultPluginHang stops the WhatsApp plugin with SIGSTOP: the health
// checks find it hung, the supervisor kills it (no orphan left) and starts
// a new one, and a message posted during the hang and redelivered by the
// provider is stored once.
func TestFaultPluginHang(t *testing.T) {
	t.Parallel()
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
	body, sig := fx.message("3300000099", "wamid.hang.1", "sent while the plugin hangs")
	// A webhook posted during the hang. How fast it must be answered is
	// TestHungPluginWebhookAnswered's subject;
	// here it must just never be acknowledged without being
	// stored.
	type answer struct {
		a   hookAnswer
		err error
	}
	during := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		a, err := postHook(ctx, http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig)
		during <- answer{a, err}
	}()

	e2etest.Eventually(t, 90*time.Second, "hung plugin replaced", func() bool {
		pids := core.PluginPIDs("whatsapp")
		return len(pids) == 1 && pids[0] != pid
	})
	e2etest.Eventually(t, 30*time.Second, "hung plugin process gone", func() bool { return !bench.Alive(pid) })
	core.WaitChannelState("wa", "running")
	if ch := channelInfo(t, core, "wa"); ch.Restarts < 1 {
		t.Errorf("restarts = %d after a hang", ch.Restarts)
	}
	select {
	case d := <-during:
		t.Logf("webhook posted during the hang: %d %v", d.a.status, d.err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the webhook posted during the hang never ended")
	}
	e2etest.Eventually(t, 60*time.Second, "redelivery acknowledged", func() bool {
		a, err := postHook(context.Background(), http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig)
		return err == nil && a.status == http.StatusOK
	})
	if n := countExternalIDs(t, core, "wa")["wamid.hang.1"]; n != 1 {
		t.Errorf("message sent during the hang stored %d times", n)
	}
}

// replyFixture starts a core with the WhatsApp channel and one ticket to
// reply to; script drives the fake Graph API's answers.
func replyFixture(t *testing.T, script func(text string, attempt int) *bench.Fault) (*e2etest.Core, *waFixture, uint64) {
	t.Helper()
	bin := binaries(t)
	fx := newWA(t)
	fx.graph.SetScript(script)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	body, sig := fx.message("3312345678", "wamid.reply.seed", "hello, I need help")
	if a, err := postHook(context.Background(), http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig); err != nil || a.status != 200 {
		t.Fatalf("seed message: %v %+v", err, a)
	}
	tks := listTickets(t, core, url.Values{"channel": {"wa"}}, nil)
	if len(tks) != 1 {
		t.Fatalf("tickets: %+v", tks)
	}
	return core, fx, tks[0].ID
}

func postReply(t *testing.T, core *e2etest.Core, ticketID uint64, text string) uint64 {
	t.Helper()
	var c apiComment
	if st := core.JSON("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", ticketID), map[string]any{"body": text, "public": true}, &c); st != http.StatusCreated {
		t.Fatalf("post reply: %d", st)
	}
	return c.ID
}

func replyDelivery(t *testing.T, core *e2etest.Core, ticketID, commentID uint64) (status, errMsg string, attempts int) {
	t.Helper()
	for _, c := range listComments(t, core, ticketID) {
		if c.ID == commentID && c.Delivery != nil {
			return c.Delivery.Status, c.Delivery.Error, c.Delivery.Attempts
		}
	}
	return "", "", 0
}

// TestFaultProviderRetryThenSent: the provider answers 429 with
// Retry-After, then 500, then accepts. The reply ends "sent" and reached
// the provider exactly once; the Retry-After wait was honoured.
func TestFaultProviderRetryThenSent(t *testing.T) {
	t.Parallel()
	const text = "Your replacement ships today."
	const retryAfter = 5 // seconds, above the outbox's first backoff (1–2 s)
	core, fx, tk := replyFixture(t, func(body string, attempt int) *bench.Fault {
		if body != text {
			return nil
		}
		switch attempt {
		case 1:
			return &bench.Fault{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(retryAfter), Code: 130429, Message: "Rate limit hit"}
		case 2:
			return &bench.Fault{Status: http.StatusInternalServerError, Code: 131000, Message: "Something went wrong"}
		}
		return nil
	})
	id := postReply(t, core, tk, text)
	e2etest.Eventually(t, 2*time.Minute, "reply sent after 429 and 500", func() bool {
		st, _, _ := replyDelivery(t, core, tk, id)
		return st == "sent"
	})
	if n := fx.graph.Delivered(text); n != 1 {
		t.Errorf("provider accepted the reply %d times, want 1", n)
	}
	times := fx.graph.AttemptTimes(text)
	if len(times) != 3 {
		t.Fatalf("send attempts = %d, want 3 (429, 500, ok)", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < retryAfter*time.Second {
		t.Errorf("retried %s after a 429 with Retry-After %d s", gap, retryAfter)
	}
	if _, _, attempts := replyDelivery(t, core, tk, id); attempts != 3 {
		t.Errorf("delivery attempts = %d, want 3", attempts)
	}
}

// TestFaultProviderConnectionReset: the provider resets the connection
// twice without accepting the message, then accepts it: the reply ends
// "sent", delivered once.
func TestFaultProviderConnectionReset(t *testing.T) {
	t.Parallel()
	const text = "Sent after two connection resets."
	core, fx, tk := replyFixture(t, func(body string, attempt int) *bench.Fault {
		if body == text && attempt <= 2 {
			return &bench.Fault{Reset: true}
		}
		return nil
	})
	id := postReply(t, core, tk, text)
	e2etest.Eventually(t, 2*time.Minute, "reply sent after resets", func() bool {
		st, _, _ := replyDelivery(t, core, tk, id)
		return st == "sent"
	})
	if n, a := fx.graph.Delivered(text), fx.graph.Attempts(text); n != 1 || a != 3 {
		t.Errorf("delivered %d times in %d attempts, want 1 in 3", n, a)
	}
}

// TestFaultProviderPermanentError: a permanent provider error marks the
// reply failed with the provider's reason, after one attempt.
func TestFaultProviderPermanentError(t *testing.T) {
	t.Parallel()
	const text = "This one cannot be delivered."
	core, fx, tk := replyFixture(t, func(body string, attempt int) *bench.Fault {
		if body == text {
			return &bench.Fault{Status: http.StatusBadRequest, Code: 131026, Message: "Message Undeliverable"}
		}
		return nil
	})
	id := postReply(t, core, tk, text)
	var errMsg string
	e2etest.Eventually(t, 2*time.Minute, "reply failed", func() bool {
		var st string
		st, errMsg, _ = replyDelivery(t, core, tk, id)
		return st == "failed"
	})
	if !strings.Contains(errMsg, "131026") && !strings.Contains(errMsg, "Undeliverable") {
		t.Errorf("failure reason %q does not name the provider's error", errMsg)
	}
	if n := fx.graph.Attempts(text); n != 1 {
		t.Errorf("a permanent error was retried: %d attempts", n)
	}
	if n := fx.graph.Delivered(text); n != 0 {
		t.Errorf("delivered %d times", n)
	}
}
