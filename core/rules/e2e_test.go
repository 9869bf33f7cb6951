package rules_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// The end-to-end test of the business rules: the real patchbay binary, the
// real patchbay-plugin-line, a loopback fake of the LINE Messaging API and a
// local webhook receiver. Only the core and the LINE plugin are built (not
// every plugin), to keep the test light on a shared machine.

const (
	lineSecret = "e2e-line-channel-secret-0123456789"
	lineToken  = "e2e-line-channel-access-token-abcdef"
	lineUser1  = "U4af4980629c0d2a4f7e3c5a5d8b1e2f3"
	lineUser2  = "U1234567890abcdef1234567890abcdef"
)

// e2eBinaries builds the core and the LINE plugin into the test's temporary
// directory.
func e2eBinaries(t *testing.T) e2etest.Binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds the binaries; skipped with -short")
	}
	root, err := e2etest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	statModuleSources(root)
	if os.Getenv(e2etest.BinEnv) != "" {
		bins, err := e2etest.Build("")
		if err != nil {
			t.Fatal(err)
		}
		return bins
	}
	dir := t.TempDir()
	bins := e2etest.Binaries{Patchbay: filepath.Join(dir, "patchbay"), PluginDir: filepath.Join(dir, "plugins")}
	for _, b := range []struct{ pkg, out string }{
		{"./core/cmd/patchbay", bins.Patchbay},
		{"./plugins/line", filepath.Join(bins.PluginDir, "patchbay-plugin-line")},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, msg)
		}
	}
	return bins
}

// statModuleSources stats the module's Go sources: the binaries come from
// a "go build" subprocess that go test's result cache does not see, while
// files the test itself stats are part of the cache key, so any change to
// the core or the plugin reruns this test instead of replaying a pass.
func statModuleSources(root string) {
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata"):
			return filepath.SkipDir
		case !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum"):
			_, _ = os.Stat(path)
		}
		return nil
	})
}

// fakeLINE answers the Messaging API calls the plugin makes (push, profile,
// bot info) as LINE documents them, with bearer auth, and records pushes.
type fakeLINE struct {
	srv    *httptest.Server
	mu     sync.Mutex
	pushes []linePush
	n      int
}

type linePush struct {
	To, RetryKey string
	Texts        []string
}

func newFakeLINE(t *testing.T) *fakeLINE {
	f := &fakeLINE{}
	profiles := map[string]string{lineUser1: "Sakura Tanaka", lineUser2: "Kenji Sato"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/bot/message/push", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			To       string `json:"to"`
			Messages []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.To == "" || len(req.Messages) == 0 {
			lineJSON(w, 400, `{"message":"The request body has 1 error(s)"}`)
			return
		}
		p := linePush{To: req.To, RetryKey: r.Header.Get("X-Line-Retry-Key")}
		for _, m := range req.Messages {
			p.Texts = append(p.Texts, m.Text)
		}
		f.mu.Lock()
		f.pushes = append(f.pushes, p)
		f.n++
		id := fmt.Sprintf("req-%04d", f.n)
		f.mu.Unlock()
		w.Header().Set("X-Line-Request-Id", id)
		lineJSON(w, 200, `{"sentMessages":[{"id":"sent-`+id+`","quoteToken":"qt"}]}`)
	})
	mux.HandleFunc("GET /v2/bot/profile/{userId}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := profiles[r.PathValue("userId")]
		if !ok {
			lineJSON(w, 404, `{"message":"Not found"}`)
			return
		}
		b, _ := json.Marshal(map[string]string{"displayName": name, "userId": r.PathValue("userId"), "language": "ja"})
		lineJSON(w, 200, string(b))
	})
	mux.HandleFunc("GET /v2/bot/info", func(w http.ResponseWriter, r *http.Request) {
		lineJSON(w, 200, `{"userId":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","basicId":"@acme","displayName":"Acme Support","chatMode":"chat","markAsReadMode":"manual"}`)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+lineToken {
			lineJSON(w, 401, `{"message":"Authentication failed. Confirm that the access token in the authorization header is valid."}`)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func lineJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// textsTo returns the texts pushed to a LINE user, in order.
func (f *fakeLINE) textsTo(user string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.pushes {
		if p.To == user {
			out = append(out, p.Texts...)
		}
	}
	return out
}

// lineMessage is a LINE webhook body with one text message event, and its
// X-Line-Signature (base64 HMAC-SHA256 of the body with the channel secret).
func lineMessage(eventID, user, msgID, text string) ([]byte, string) {
	t, _ := json.Marshal(text)
	body := fmt.Appendf(nil, `{"destination":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","events":[{"type":"message",`+
		`"message":{"id":%q,"type":"text","quoteToken":"q3Plxr4AgKd","text":%s},"webhookEventId":%q,`+
		`"deliveryContext":{"isRedelivery":false},"timestamp":1700000000123,"source":{"type":"user","userId":%q},`+
		`"replyToken":"38ef843bde154d9b91c21320ffd17a0f","mode":"active"}]}`, msgID, t, eventID, user)
	m := hmac.New(sha256.New, []byte(lineSecret))
	m.Write(body)
	return body, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// hookReceiver is a customer's webhook endpoint: it checks the signature
// over the raw body and the timestamp as docs/rules.md tells receivers to,
// and answers 500 to the first call.
type hookReceiver struct {
	mu     sync.Mutex
	secret string
	calls  []hookCall
}

type hookCall struct {
	delivery string
	valid    bool
	body     []byte
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Patchbay-Timestamp")
	mac := hmac.New(sha256.New, []byte(h.secretValue()))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	fresh := err == nil && time.Since(time.Unix(sec, 0)).Abs() < 5*time.Minute
	valid := fresh && hmac.Equal([]byte(want), []byte(r.Header.Get("X-Patchbay-Signature")))
	h.mu.Lock()
	h.calls = append(h.calls, hookCall{delivery: r.Header.Get("X-Patchbay-Delivery"), valid: valid, body: body})
	first := len(h.calls) == 1
	h.mu.Unlock()
	switch {
	case !valid:
		w.WriteHeader(http.StatusUnauthorized)
	case first:
		w.WriteHeader(http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *hookReceiver) secretValue() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.secret
}

func (h *hookReceiver) received() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// TestEndToEndInboundMessageFiresTrigger: a LINE message delivered to the
// real core through the real LINE plugin fires a trigger that assigns a
// group, tags the ticket, replies and calls an outgoing webhook; the
// channel's auto-reply follows. Both replies arrive at the fake LINE API;
// the webhook call is verified at a local receiver, retried after its 500
// with the same delivery id, and shown in the delivery log.
func TestEndToEndInboundMessageFiresTrigger(t *testing.T) {
	bins := e2eBinaries(t)
	line := newFakeLINE(t)
	recv := &hookReceiver{}
	hooks := httptest.NewServer(recv)
	defer hooks.Close()
	core := e2etest.Start(t, bins, e2etest.Options{
		Channels: fmt.Sprintf(`
# The webhook receiver of this test listens on loopback.
outgoing_webhooks { allow_networks = ["127.0.0.0/8"] }

channel "line-support" {
  plugin = "line"
  brand  = "acme"
  config {
    channel_secret       = %q
    channel_access_token = %q
    api_url              = %q
    data_api_url         = %q
  }
}
`, lineSecret, lineToken, line.srv.URL, line.srv.URL),
		WaitRunning: []string{"line-support"},
	})
	must := func(want int, method, path string, body, out any) {
		t.Helper()
		status, b := core.Do(method, path, body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
	}

	var wh struct {
		ID     uint64 `json:"id"`
		Secret string `json:"secret"`
	}
	must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "CRM", "url": hooks.URL + "/patchbay"}, &wh)
	recv.mu.Lock()
	recv.secret = wh.Secret
	recv.mu.Unlock()
	must(201, "POST", "/api/v1/triggers", map[string]any{
		"title": "Parcel questions to Logistics",
		"conditions": map[string]any{"all": []any{
			map[string]any{"field": "update_type", "operator": "is", "value": "created"},
			map[string]any{"field": "channel", "operator": "is", "value": "line-support"},
			map[string]any{"field": "comment", "operator": "contains", "value": "parcel"},
		}},
		"actions": []any{
			map[string]any{"field": "group", "value": "Logistics"},
			map[string]any{"field": "add_tags", "value": "parcel line_vip"},
			map[string]any{"field": "public_reply", "value": "Hi {{requester.first_name}}, #{{ticket.id}} is with {{ticket.group}}."},
			map[string]any{"field": "notify_webhook", "value": wh.ID},
		},
	}, nil)
	must(201, "PUT", "/api/v1/auto_replies/line-support", map[string]any{"body": "Thanks {{requester.first_name}}, we got request #{{ticket.id}}."}, nil)

	post := func(body []byte, sig string) {
		t.Helper()
		if st, _ := core.Hook("line-support", body, http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Line-Signature": {sig}}); st != http.StatusOK {
			t.Fatalf("webhook answered %d; logs:\n%s", st, core.Logs())
		}
	}
	post(lineMessage("01HRULESE2E00000000000001", lineUser1, "600000000000000001", "My parcel is late"))

	listTickets := func() []e2etest.Ticket { return core.Tickets("line-support") }
	ts := listTickets()
	if len(ts) != 1 || ts[0].Via != "line" {
		t.Fatalf("tickets %+v", ts)
	}
	id := ts[0].ID
	wantReply := fmt.Sprintf("Hi Sakura, #%d is with Logistics.", id)
	wantAuto := fmt.Sprintf("Thanks Sakura, we got request #%d.", id)
	e2etest.Eventually(t, 60*time.Second, "the trigger's reply and the auto-reply at the fake LINE API", func() bool {
		return len(line.textsTo(lineUser1)) >= 2
	})
	if got := line.textsTo(lineUser1); len(got) != 2 || !slices.Contains(got, wantReply) || !slices.Contains(got, wantAuto) {
		t.Fatalf("pushed to the requester %q, want %q and %q", got, wantReply, wantAuto)
	}
	var tk e2etest.Ticket
	must(200, "GET", fmt.Sprintf("/api/v1/tickets/%d", id), nil, &tk)
	if tk.Group != "Logistics" || !slices.Contains(tk.Tags, "parcel") || !slices.Contains(tk.Tags, "line_vip") {
		t.Fatalf("ticket after the trigger %+v", tk)
	}
	e2etest.Eventually(t, 60*time.Second, "both replies marked sent", func() bool {
		sent := 0
		for _, c := range core.Comments(id) {
			if c.Via == "rule" && c.Public && c.Delivery != nil && c.Delivery.Status == "sent" && c.Delivery.ExternalID != "" {
				sent++
			}
		}
		return sent == 2
	})

	// The requester writes again on the same ticket (an update: no
	// trigger, no auto-reply), then another user opens a ticket without
	// "parcel" (the auto-reply only). Once that one's auto-reply arrived,
	// the follow-up was processed too (the log is read in order).
	post(lineMessage("01HRULESE2E00000000000002", lineUser1, "600000000000000002", "Any news on the parcel?"))
	post(lineMessage("01HRULESE2E00000000000003", lineUser2, "600000000000000003", "Hello there"))
	e2etest.Eventually(t, 60*time.Second, "the second user's auto-reply", func() bool { return len(line.textsTo(lineUser2)) > 0 })
	ts = listTickets()
	if len(ts) != 2 {
		t.Fatalf("tickets %+v", ts)
	}
	if got, want := line.textsTo(lineUser2), []string{fmt.Sprintf("Thanks Kenji, we got request #%d.", ts[0].ID)}; !slices.Equal(got, want) {
		t.Fatalf("pushed to the second user %q, want %q", got, want)
	}
	if got := line.textsTo(lineUser1); len(got) != 2 {
		t.Fatalf("the follow-up message was answered again: %q", got)
	}
	if ts[0].Group != "" || len(ts[0].Tags) != 0 {
		t.Fatalf("the trigger fired on a ticket without parcel: %+v", ts[0])
	}

	// The webhook: a 500 first, then the retry (same delivery id, a fresh
	// valid signature) is accepted; the delivery log shows both attempts.
	e2etest.Eventually(t, 90*time.Second, "the webhook retry after the 500", func() bool { return len(recv.received()) >= 2 })
	calls := recv.received()
	if len(calls) != 2 || !calls[0].valid || !calls[1].valid || calls[0].delivery == "" || calls[0].delivery != calls[1].delivery || !bytes.Equal(calls[0].body, calls[1].body) {
		t.Fatalf("webhook calls %+v", calls)
	}
	var payload struct {
		DeliveryID string `json:"delivery_id"`
		Event      string `json:"event"`
		Ticket     struct {
			ID    uint64 `json:"id"`
			Group string `json:"group"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(calls[1].body, &payload); err != nil || payload.DeliveryID != calls[0].delivery || payload.Event != "trigger.fired" || payload.Ticket.ID != id || payload.Ticket.Group != "Logistics" {
		t.Fatalf("payload %s (%v)", calls[1].body, err)
	}
	var log struct {
		Deliveries []struct {
			ID           string `json:"id"`
			Status       string `json:"status"`
			AttemptCount int    `json:"attempt_count"`
			Attempts     []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
		} `json:"deliveries"`
	}
	e2etest.Eventually(t, 30*time.Second, "the delivery logged as delivered", func() bool {
		must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", wh.ID), nil, &log)
		return len(log.Deliveries) == 1 && log.Deliveries[0].Status == "delivered"
	})
	d := log.Deliveries[0]
	if d.ID != calls[0].delivery || d.AttemptCount != 2 || len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 500 || d.Attempts[1].StatusCode != 204 {
		t.Fatalf("delivery log %+v", d)
	}
}
