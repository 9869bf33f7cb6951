package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// A real plugin binary, through the host: a webhook makes the plugin call
// Host.Deliver over the broker, the receipt comes back to the provider, and
// a reply goes out through Send.
func TestDeliverThroughBrokerAndSendReply(t *testing.T) {
	h := startHarness(t, Supervision{}, nil,
		testChannel("alpha", map[string]any{"status": sdk.StateConnected}),
		testChannel("beta", nil))

	r := h.hook(t, "POST", "/hooks/alpha/deliver", `{"id":"m-1","conversation":"c-9","text":"my VPN is down"}`)
	if r.status != http.StatusOK {
		t.Fatalf("deliver webhook: %d %s", r.status, r.body)
	}
	var rc sdk.Receipt
	if err := json.Unmarshal([]byte(r.body), &rc); err != nil {
		t.Fatal(err)
	}
	if rc.TicketID != 7 || rc.CommentID != 1 {
		t.Errorf("receipt = %+v", rc)
	}
	got := h.backend.delivered()
	if len(got) != 1 {
		t.Fatalf("deliveries = %d", len(got))
	}
	if d := got[0]; d.instance != "alpha" || d.msg.ExternalID != "m-1" || d.msg.ConversationKey != "c-9" || d.msg.Text != "my VPN is down" || d.msg.Author.Name != "Test User" {
		t.Errorf("delivery = %s %+v", d.instance, d.msg)
	}

	// The other instance reaches the backend under its own name only.
	if r := h.hook(t, "POST", "/hooks/beta/deliver", `{"id":"m-2","conversation":"c-1","text":"hi"}`); r.status != 200 {
		t.Fatalf("beta deliver: %d %s", r.status, r.body)
	}
	if got := h.backend.delivered(); got[1].instance != "beta" {
		t.Errorf("beta delivered as %q", got[1].instance)
	}
	// Per-instance state: the same key on two instances stays apart.
	if r := h.hook(t, "POST", "/hooks/alpha/state?key=cursor&value=a1", ""); r.status != 200 || r.body != "a1" {
		t.Fatalf("alpha state: %d %s", r.status, r.body)
	}
	if r := h.hook(t, "POST", "/hooks/beta/state?key=cursor&value=b1", ""); r.status != 200 || r.body != "b1" {
		t.Fatalf("beta state: %d %s", r.status, r.body)
	}
	if v, _, _ := h.backend.GetState(context.Background(), "alpha", "cursor"); string(v) != "a1" {
		t.Errorf("alpha cursor = %q", v)
	}

	// A Deliver failure in the core reaches the provider as a 5xx.
	h.backend.mu.Lock()
	h.backend.failWith = errors.New("store unavailable")
	h.backend.mu.Unlock()
	if r := h.hook(t, "POST", "/hooks/alpha/deliver", `{"id":"m-3","conversation":"c-9","text":"again"}`); r.status != http.StatusInternalServerError {
		t.Errorf("deliver with failing backend: %d %s", r.status, r.body)
	}

	ctx := context.Background()
	res, err := h.m.Send(ctx, "alpha", &sdk.OutboundMessage{IdempotencyKey: "k1", ConversationKey: "c-9", Text: "try restarting"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != "sent-k1-c-9" {
		t.Errorf("send result = %+v", res)
	}

	sendErrs := []struct {
		text      string
		code      string
		retryable bool
		after     time.Duration
	}{
		{"fail-retry", "rate_limited", true, 2 * time.Second},
		{"fail-perm", "bad_recipient", false, 0},
	}
	for _, tt := range sendErrs {
		_, err := h.m.Send(ctx, "alpha", &sdk.OutboundMessage{IdempotencyKey: "k2", Text: tt.text})
		var se *sdk.SendError
		if !errors.As(err, &se) {
			t.Fatalf("%s: error %T %v is not a *sdk.SendError", tt.text, err, err)
		}
		if se.Code != tt.code || se.Retryable != tt.retryable || se.RetryAfter != tt.after {
			t.Errorf("%s: send error = %+v", tt.text, se)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: a plugin answer must not be ErrUnavailable", tt.text)
		}
	}
	if _, err := h.m.Send(ctx, "nope", &sdk.OutboundMessage{}); !errors.Is(err, ErrUnknownChannel) {
		t.Errorf("unknown channel send: %v", err)
	}

	infos := h.m.Channels()
	if len(infos) != 2 || infos[0].Name != "alpha" || infos[1].Name != "beta" {
		t.Fatalf("channels = %+v", infos)
	}
	a := infos[0]
	if a.State != StateRunning || a.Plugin != "test" || a.Manifest.Kind != "test" || a.Manifest.Version != "0.0.1" || a.Restarts != 0 {
		t.Errorf("alpha info = %+v", a)
	}
	if a.Status.State != sdk.StateConnected {
		t.Errorf("reported status = %+v", a.Status)
	}
	if a.Attachments.MaxBytes != 20<<20 {
		t.Errorf("attachments = %+v", a.Attachments)
	}
	if metricValue(t, h.reg, "patchbay_plugin_up", "alpha") != 1 {
		t.Error("patchbay_plugin_up{channel=alpha} != 1")
	}
}

func TestHooksHandler(t *testing.T) {
	h := startHarness(t, Supervision{}, nil, testChannel("alpha", nil))
	big := strings.Repeat("x", 4097)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string // error code for error answers
		check                    func(t *testing.T, r hookResp)
	}{
		{name: "unknown channel", method: "POST", path: "/hooks/nope/x", status: 404, code: "unknown_channel"},
		{name: "no channel", method: "GET", path: "/hooks/", status: 404, code: "unknown_channel"},
		{name: "body over limit", method: "POST", path: "/hooks/alpha/x", body: big, status: 413, code: "body_too_large"},
		{name: "forwarded with sub-path and query", method: "POST", path: "/hooks/alpha/events/v1?x=1&y=2", body: "payload", status: 200,
			check: func(t *testing.T, r hookResp) {
				var echo map[string]string
				if err := json.Unmarshal([]byte(r.body), &echo); err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"method": "POST", "path": "/events/v1", "query": "x=1&y=2", "body": "payload", "x_test": "x-test-value"}
				for k, v := range want {
					if echo[k] != v {
						t.Errorf("%s = %q, want %q", k, echo[k], v)
					}
				}
				if r.header.Get("X-Plugin") != "test" {
					t.Errorf("plugin header not forwarded: %v", r.header)
				}
			}},
		{name: "channel root is /", method: "GET", path: "/hooks/alpha", status: 200,
			check: func(t *testing.T, r hookResp) {
				if !strings.Contains(r.body, `"path":"/"`) {
					t.Errorf("body = %s", r.body)
				}
			}},
		{name: "body at the limit", method: "POST", path: "/hooks/alpha/x", body: big[:4096], status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.hook(t, tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code != tt.code || e.Error.Message == "" {
					t.Errorf("error body = %s (%v)", r.body, err)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	if n := len(h.backend.delivered()); n != 0 {
		t.Errorf("bad requests delivered %d messages", n)
	}
}

// The core's environment (admin token, provider secrets) must not reach
// plugins; the allowlisted PATH does.
func TestPluginEnvironmentNotInherited(t *testing.T) {
	t.Setenv("PATCHBAY_ADMIN_TOKEN", "core-admin-secret")
	t.Setenv("SECRET_X", "core-secret-x")
	h := startHarness(t, Supervision{}, nil, testChannel("alpha", nil))
	for _, name := range []string{"PATCHBAY_ADMIN_TOKEN", "SECRET_X"} {
		r := h.hook(t, "GET", "/hooks/alpha/env?name="+name, "")
		if r.status != 200 || r.header.Get("X-Env-Set") != "0" || r.body != "" {
			t.Errorf("%s visible to the plugin: set=%q value=%q", name, r.header.Get("X-Env-Set"), r.body)
		}
	}
	r := h.hook(t, "GET", "/hooks/alpha/env?name=PATH", "")
	if r.header.Get("X-Env-Set") != "1" || r.body == "" {
		t.Errorf("PATH not passed to the plugin: %+v", r)
	}
}

func TestChecksumPin(t *testing.T) {
	good := sha256File(t, filepath.Join(testPluginDir, BinaryPrefix+"test"))
	wrong := strings.Repeat("0", 64)
	pinnedOK := testChannel("pinned", nil)
	pinnedOK.SHA256 = good
	tampered := testChannel("tampered", nil)
	tampered.SHA256 = wrong
	h := startHarness(t, Supervision{MinBackoff: time.Second, MaxBackoff: time.Second}, nil, pinnedOK, tampered)

	if r := h.hook(t, "GET", "/hooks/pinned/x", ""); r.status != 200 {
		t.Errorf("correctly pinned channel: %d %s", r.status, r.body)
	}
	info := h.info(t, "tampered")
	if info.State != StateFailed || !strings.Contains(info.LastError, "sha256") || !strings.Contains(info.LastError, good) {
		t.Errorf("tampered channel = %s: %s", info.State, info.LastError)
	}
	r := h.hook(t, "POST", "/hooks/tampered/x", "{}")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("tampered webhook: %d Retry-After=%q", r.status, r.header.Get("Retry-After"))
	}
	if _, err := h.m.Send(context.Background(), "tampered", &sdk.OutboundMessage{Text: "x"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("send to refused channel: %v", err)
	}
	if err := checkBinary(filepath.Join(testPluginDir, BinaryPrefix+"test"), wrong); !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("checkBinary: %v", err)
	}
}

func TestRefusedChannels(t *testing.T) {
	bad := testChannel("bad", nil)
	bad.Config = json.RawMessage(`{"token":""}`)
	missing := testChannel("missing", nil)
	missing.Plugin = "nosuchkind"
	old := testChannel("old", nil)
	old.Command = filepath.Join(testPluginDir, "oldproto")
	notPlugin := testChannel("notplugin", nil)
	notPlugin.Command = "/bin/true"
	h := startHarness(t, Supervision{MinBackoff: time.Second}, nil, bad, missing, old, notPlugin, testChannel("good", nil))
	if info := h.info(t, "old"); info.State != StateFailed || !strings.Contains(info.LastError, "protocol") {
		t.Errorf("old protocol = %s: %s", info.State, info.LastError)
	}
	if info := h.info(t, "notplugin"); info.State != StateRestarting && info.State != StateFailed || info.LastError == "" {
		t.Errorf("not a plugin = %s: %s", info.State, info.LastError)
	}
	if info := h.info(t, "bad"); info.State != StateFailed || !strings.Contains(info.LastError, "token: is required") {
		t.Errorf("bad = %s: %s", info.State, info.LastError)
	}
	if info := h.info(t, "missing"); info.State != StateFailed || !strings.Contains(info.LastError, "patchbay-plugin-nosuchkind") {
		t.Errorf("missing = %s: %s", info.State, info.LastError)
	}
	if info := h.info(t, "good"); info.State != StateRunning {
		t.Errorf("good = %s: %s", info.State, info.LastError)
	}
}

// kill -9 of a plugin: its webhooks answer 503 with Retry-After while it is
// down, then it is restarted, reconfigured and serving again.
func TestKilledPluginIsRestarted(t *testing.T) {
	gate := make(chan struct{})
	var runningMu sync.Mutex
	running := map[string]int{}
	h := startHarness(t, fastSupervision(), func(m *Manager) {
		WithOnRunning(func(name string) {
			runningMu.Lock()
			running[name]++
			runningMu.Unlock()
		})(m)
		in := m.instances["alpha"]
		in.beforeLaunch = func(ctx context.Context, _ string, attempt int) {
			if attempt > 0 {
				select {
				case <-gate: // the test saw the channel down
				case <-ctx.Done():
				}
			}
		}
	}, testChannel("alpha", map[string]any{"status": sdk.StateConnected}), testChannel("beta", nil))

	oldPID := h.pid(t, "alpha")
	betaPID := h.pid(t, "beta")
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alpha seen down", func() bool { return h.info(t, "alpha").State == StateRestarting })
	down := h.hook(t, "POST", "/hooks/alpha/deliver", `{"id":"m"}`)
	if down.status != http.StatusServiceUnavailable {
		t.Fatalf("webhook while down: %d %s", down.status, down.body)
	}
	if ra, err := strconv.Atoi(down.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q", down.header.Get("Retry-After"))
	}
	if !strings.Contains(down.body, `"code":"channel_unavailable"`) {
		t.Errorf("503 body = %s", down.body)
	}
	if _, err := h.m.Send(context.Background(), "alpha", &sdk.OutboundMessage{Text: "x"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("send while down: %v", err)
	}
	if st := h.info(t, "alpha").Status; st.State != "" {
		t.Errorf("status of a dead plugin still shown: %+v", st)
	}
	// The other channel keeps serving.
	if got := h.pid(t, "beta"); got != betaPID {
		t.Errorf("beta restarted too (%d → %d)", betaPID, got)
	}
	close(gate)

	eventually(t, "alpha running again", func() bool { return h.info(t, "alpha").State == StateRunning })
	newPID := h.pid(t, "alpha")
	if newPID == oldPID {
		t.Fatal("same pid after restart")
	}
	// Reconfigured: Deliver works through the new process's broker.
	if r := h.hook(t, "POST", "/hooks/alpha/deliver", `{"id":"m-after","conversation":"c","text":"back"}`); r.status != 200 {
		t.Errorf("deliver after restart: %d %s", r.status, r.body)
	}
	info := h.info(t, "alpha")
	if info.Status.State != sdk.StateConnected {
		t.Errorf("status after restart = %+v (Start reports it again)", info.Status)
	}
	if info.Restarts != 1 || !strings.Contains(info.LastError, "exited") {
		t.Errorf("info after restart = restarts %d, last error %q", info.Restarts, info.LastError)
	}
	if v := metricValue(t, h.reg, "patchbay_plugin_restarts_total", "alpha"); v != 1 {
		t.Errorf("restarts metric = %v", v)
	}
	// WithOnRunning heard each start: alpha twice, beta once.
	runningMu.Lock()
	defer runningMu.Unlock()
	if running["alpha"] != 2 || running["beta"] != 1 {
		t.Errorf("OnRunning calls = %v", running)
	}
}

// A plugin that stops answering (SIGSTOP) is detected by the health check,
// killed and restarted.
func TestHungPluginIsRestarted(t *testing.T) {
	sup := fastSupervision()
	sup.PingInterval = 100 * time.Millisecond
	sup.PingTimeout = time.Second
	sup.PingFailures = 2
	h := startHarness(t, sup, nil, testChannel("alpha", nil))
	oldPID := h.pid(t, "alpha")
	if err := syscall.Kill(oldPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(oldPID, syscall.SIGCONT) })
	eventually(t, "a restart", func() bool { return h.info(t, "alpha").Restarts >= 1 })
	eventually(t, "alpha running again", func() bool { return h.info(t, "alpha").State == StateRunning })
	if newPID := h.pid(t, "alpha"); newPID == oldPID {
		t.Fatal("same pid after restart")
	}
	if info := h.info(t, "alpha"); !strings.Contains(info.LastError, "health check") {
		t.Errorf("last error = %q", info.LastError)
	}
	eventually(t, "the hung process killed", func() bool { return processGone(oldPID) })
}

// A webhook the plugin does not answer within the budget (hung plugin,
// stuck Deliver) gets 503 with Retry-After from the core, in time for the
// provider to retry, while the plugin may still finish on its side; one
// answered in time is passed through.
func TestWebhookTimeoutAnswers503(t *testing.T) {
	sup := fastSupervision()
	sup.WebhookTimeout = 300 * time.Millisecond
	h := startHarness(t, sup, nil, testChannel("alpha", nil))
	start := time.Now()
	r := h.hook(t, "GET", "/hooks/alpha/slow?ms=5000", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("slow webhook: %d (Retry-After %q) %s, want 503 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}
	if took := time.Since(start); took >= 5*time.Second {
		t.Fatalf("the core waited %v for the plugin: the budget was not applied", took)
	}
	if r := h.hook(t, "GET", "/hooks/alpha/slow?ms=10", ""); r.status != http.StatusOK || r.body != "slow done" {
		t.Fatalf("fast webhook: %d %s", r.status, r.body)
	}
}

// A plugin stopped with SIGSTOP answers nothing, not even at the transport
// level: every webhook still gets 503 with Retry-After once the budget is
// spent (health checks are far apart here, so only the budget can answer),
// and once the plugin runs again the same stream serves webhooks.
func TestStoppedPluginWebhooksAnswer503(t *testing.T) {
	sup := fastSupervision()
	sup.WebhookTimeout = 300 * time.Millisecond
	sup.PingInterval = 10 * time.Minute
	h := startHarness(t, sup, nil, testChannel("alpha", nil))
	pid := h.pid(t, "alpha")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	const n = 8
	start := time.Now()
	results := make(chan hookResp, n)
	for i := range n {
		go func() {
			results <- h.hook(t, "POST", "/hooks/alpha/deliver", fmt.Sprintf(`{"id":"stopped-%d","conversation":"c"}`, i))
		}()
	}
	for range n {
		r := <-results
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("webhook to a stopped plugin: %d (Retry-After %q) %s", r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if took := time.Since(start); took >= time.Minute {
		t.Errorf("webhooks to a stopped plugin took %v: the budget was not applied", took)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	eventually(t, "webhooks served again", func() bool {
		return h.hook(t, "POST", "/hooks/alpha/deliver", `{"id":"resumed","conversation":"c"}`).status == http.StatusOK
	})
	if got := h.pid(t, "alpha"); got != pid {
		t.Errorf("pid %d → %d: the plugin was restarted, want the resumed process", pid, got)
	}
}

// A plugin killed while webhooks wait on it (the plugin waiting in Deliver,
// the core still holding the commit) fails them at once with 503, long
// before the budget; nothing was acknowledged. The restarted plugin serves
// webhooks and Deliver on new streams.
func TestPluginKilledWithWebhooksInFlight(t *testing.T) {
	sup := fastSupervision()
	sup.WebhookTimeout = 5 * time.Minute
	h := startHarness(t, sup, nil, testChannel("alpha", nil))
	hold := make(chan struct{})
	h.backend.mu.Lock()
	h.backend.hold, h.backend.entered = hold, make(chan struct{}, 4)
	h.backend.mu.Unlock()
	oldPID := h.pid(t, "alpha")

	const n = 4
	start := time.Now()
	results := make(chan hookResp, n)
	for i := range n {
		go func() {
			results <- h.hook(t, "POST", "/hooks/alpha/deliver", fmt.Sprintf(`{"id":"inflight-%d","conversation":"c"}`, i))
		}()
	}
	for range n {
		<-h.backend.entered // each webhook is inside Deliver, in the core
	}
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range n {
		r := <-results
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("webhook in flight when the plugin died: %d (Retry-After %q) %s", r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if took := time.Since(start); took >= sup.WebhookTimeout/2 {
		t.Errorf("in-flight webhooks took %v to fail: they waited for the budget", took)
	}
	h.backend.mu.Lock()
	h.backend.hold = nil
	h.backend.mu.Unlock()
	close(hold) // the held Delivers answer into dead streams

	eventually(t, "alpha restarted", func() bool {
		info := h.info(t, "alpha")
		return info.Restarts >= 1 && info.State == StateRunning
	})
	if newPID := h.pid(t, "alpha"); newPID == oldPID {
		t.Fatal("same pid after restart")
	}
	if r := h.hook(t, "POST", "/hooks/alpha/deliver", `{"id":"after-restart","conversation":"c","text":"back"}`); r.status != http.StatusOK {
		t.Fatalf("deliver after restart: %d %s", r.status, r.body)
	}
}

// Stop ends every plugin and everything it spawned.
func TestStopLeavesNoOrphans(t *testing.T) {
	h := startHarness(t, Supervision{}, nil, testChannel("alpha", map[string]any{"spawn_child": true}), testChannel("beta", nil))
	pids := []int{h.pid(t, "alpha"), h.pid(t, "beta")}
	r := h.hook(t, "GET", "/hooks/alpha/child", "")
	child, err := strconv.Atoi(r.body)
	if err != nil {
		t.Fatalf("child pid: %d %s", r.status, r.body)
	}
	pids = append(pids, child)
	for _, pid := range pids {
		if processGone(pid) {
			t.Fatalf("pid %d not running before Stop", pid)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		eventually(t, "pid "+strconv.Itoa(pid)+" gone", func() bool { return processGone(pid) })
	}
	for _, c := range h.m.Channels() {
		if c.State != StateStopped {
			t.Errorf("%s state after Stop = %s", c.Name, c.State)
		}
	}
	if r := h.hook(t, "GET", "/hooks/alpha/x", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("webhook after Stop: %d", r.status)
	}
}

func TestBackoff(t *testing.T) {
	s := Supervision{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for i := 0; i < 20; i++ {
			got := s.backoff(n)
			if got < want*8/10 || got > want*12/10 {
				t.Errorf("backoff(%d) = %v, want %v ±20%%", n, got, want)
			}
		}
	}
}
