package rules

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// receiver is a local webhook endpoint that verifies signatures as a
// customer's receiver would, and answers with the queued status codes.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	codes  []int
	got    []received
}

type received struct {
	delivery, timestamp string
	validSig            bool
	body                []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get(HeaderTimestamp)
	// Recompute the signature as a receiver would, without Sign.
	mac := hmac.New(sha256.New, []byte(rc.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	ok := hmac.Equal([]byte(want), []byte(r.Header.Get(HeaderSignature)))
	rc.mu.Lock()
	rc.got = append(rc.got, received{delivery: r.Header.Get(HeaderDelivery), timestamp: ts, validSig: ok, body: body})
	code := http.StatusOK
	if len(rc.codes) > 0 {
		code, rc.codes = rc.codes[0], rc.codes[1:]
	}
	rc.mu.Unlock()
	if !ok {
		code = http.StatusUnauthorized
	}
	w.WriteHeader(code)
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func TestWebhookSignedAndRetried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc := &receiver{t: t, codes: []int{http.StatusInternalServerError}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "crm", URL: srv.URL + "/hook", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wh.Secret, "whsec_") || len(wh.Secret) < 40 {
		t.Fatalf("generated secret %q", wh.Secret)
	}
	rc.secret = wh.Secret
	e.rule(&Rule{Kind: KindTrigger, Title: "tell the CRM", Active: true,
		Conditions: all(cond("update_type", OpIs, "created")), Actions: []Action{act(ActNotifyWebhook, float64(wh.ID))}})
	r := e.deliver("support", "m1", "c1", "ann", "hello")
	e.process()

	next, err := e.eng.DeliverWebhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := rc.requests()
	if len(got) != 1 || !got[0].validSig {
		t.Fatalf("first attempt: %+v", got)
	}
	if want := e.clock.Now().Add(5 * time.Second); next.Before(want) || next.After(e.clock.Now().Add(10*time.Second)) {
		t.Fatalf("retry due %v, want within the first backoff", next)
	}
	ds, err := e.eng.Deliveries(wh.ID, 10, 0)
	if err != nil || len(ds) != 1 || ds[0].Status != DeliveryPending || ds[0].AttemptCount != 1 || ds[0].Attempts[0].StatusCode != 500 {
		t.Fatalf("log after the 500: %+v (%v)", ds, err)
	}
	// Not due yet: nothing is sent.
	if _, err := e.eng.DeliverWebhooks(ctx); err != nil || len(rc.requests()) != 1 {
		t.Fatalf("sent before the backoff: %d (%v)", len(rc.requests()), err)
	}
	e.clock.Add(11 * time.Second)
	e.reopen() // deliveries are persisted: a restart keeps the retry
	if next, err := e.eng.DeliverWebhooks(ctx); err != nil || !next.IsZero() {
		t.Fatalf("second pass: next %v (%v)", next, err)
	}
	got = rc.requests()
	if len(got) != 2 || !got[1].validSig || got[1].delivery != got[0].delivery || got[0].delivery == "" {
		t.Fatalf("retry: %+v", got)
	}
	if got[1].timestamp == got[0].timestamp {
		t.Fatal("the retry reused the first attempt's timestamp")
	}
	var p webhookPayload
	if err := json.Unmarshal(got[1].body, &p); err != nil || p.DeliveryID != got[0].delivery || p.Ticket == nil || p.Ticket.ID != r.TicketID || p.Rule.Kind != KindTrigger {
		t.Fatalf("payload %s (%v)", got[1].body, err)
	}
	ds, _ = e.eng.Deliveries(wh.ID, 10, 0)
	if len(ds) != 1 || ds[0].Status != DeliveryDelivered || ds[0].AttemptCount != 2 || ds[0].Attempts[1].StatusCode != 200 {
		t.Fatalf("log after delivery: %+v", ds)
	}
	// The webhook is in use: it cannot be deleted.
	if err := e.eng.DeleteWebhook(ctx, wh.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("delete in-use webhook: %v", err)
	}
}

func TestWebhookFailures(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.WebhookMaxAttempts = 2 })
	ctx := context.Background()
	rc := &receiver{t: t, codes: []int{http.StatusBadRequest, 503, 503}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "x", URL: srv.URL, Active: true, Secret: "0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = wh.Secret
	closed := httptest.NewServer(http.NotFoundHandler())
	deadURL := closed.URL
	closed.Close()
	dead, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "dead", URL: deadURL, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	e.rule(&Rule{Kind: KindTrigger, Title: "t", Active: true, Conditions: all(cond("update_type", OpIs, "created")),
		Actions: []Action{act(ActNotifyWebhook, float64(wh.ID)), act(ActNotifyWebhook, float64(dead.ID))}})
	e.deliver("support", "m1", "c1", "ann", "one") // 400: failed at once
	e.process()
	for range 3 {
		if _, err := e.eng.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(2 * time.Hour)
	}
	ds, _ := e.eng.Deliveries(wh.ID, 10, 0)
	if len(ds) != 1 || ds[0].Status != DeliveryFailed || ds[0].AttemptCount != 1 {
		t.Fatalf("400: %+v", ds)
	}
	ds, _ = e.eng.Deliveries(dead.ID, 10, 0)
	if len(ds) != 1 || ds[0].Status != DeliveryFailed || ds[0].AttemptCount != 2 || !strings.Contains(ds[0].Attempts[0].Error, "request failed") {
		t.Fatalf("connection refused: %+v", ds)
	}
	if strings.Contains(ds[0].Attempts[0].Error, deadURL) {
		t.Fatalf("the error names the URL: %q", ds[0].Attempts[0].Error)
	}
	e.deliver("support", "m2", "c2", "bob", "two") // 503 twice: failed after MaxAttempts
	e.process()
	for range 3 {
		if _, err := e.eng.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(2 * time.Hour)
	}
	ds, _ = e.eng.Deliveries(wh.ID, 10, 0)
	if len(ds) != 2 || ds[0].Status != DeliveryFailed || ds[0].AttemptCount != 2 {
		t.Fatalf("503s: %+v", ds)
	}
	// Paging the log, newest first.
	older, _ := e.eng.Deliveries(wh.ID, 10, ds[0].Seq)
	if len(older) != 1 || older[0].Seq != ds[1].Seq {
		t.Fatalf("older page %+v", older)
	}
}

func TestWebhookValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		w     Webhook
		field string
	}{
		{Webhook{URL: "https://x.test"}, "name"},
		{Webhook{Name: "n", URL: "ftp://x.test"}, "url"},
		{Webhook{Name: "n", URL: "/relative"}, "url"},
		{Webhook{Name: "n", URL: "https://user:pw@x.test"}, "url"},
		{Webhook{Name: "n", URL: "https://x.test", Secret: "short"}, "secret"},
	}
	for _, c := range cases {
		w := c.w
		_, err := e.eng.CreateWebhook(ctx, &w)
		ve, ok := err.(*ValidationError)
		if !ok || ve.Field != c.field {
			t.Errorf("%+v: %v, want error naming %s", c.w, err, c.field)
		}
	}
	if ws, _ := e.eng.Webhooks(); len(ws) != 0 {
		t.Fatalf("refused webhooks stored: %d", len(ws))
	}
	if got := MaskSecret("whsec_abcdef123456"); got != "********3456" {
		t.Fatalf("mask %q", got)
	}
	if got := Sign("k", strconv.Itoa(1), []byte("{}")); got != Sign("k", "1", []byte("{}")) || !strings.HasPrefix(got, "sha256=") || len(got) != 71 {
		t.Fatalf("sign %q", got)
	}
}

func TestPruneDeliveries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "w", URL: srv.URL, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	e.rule(&Rule{Kind: KindTrigger, Title: "t", Active: true, Conditions: all(cond("update_type", OpIs, "created")), Actions: []Action{act(ActNotifyWebhook, float64(wh.ID))}})
	e.deliver("support", "m1", "c1", "a", "one")
	e.process()
	if _, err := e.eng.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(40 * 24 * time.Hour)
	e.deliver("support", "m2", "c2", "b", "two") // stays pending: not delivered yet
	e.process()
	n, err := e.eng.PruneDeliveries(ctx, e.clock.Now().Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	ds, _ := e.eng.Deliveries(wh.ID, 10, 0)
	if len(ds) != 1 || ds[0].Status != DeliveryPending {
		t.Fatalf("log after pruning %+v", ds)
	}
}

// TestOrphanDueEntryIsDropped: a due entry whose delivery is gone does not
// keep the deliverer busy forever.
func TestOrphanDueEntryIsDropped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.update(func(tx *store.Tx) error {
		return tx.PutRuleValue(spaceDue, dueKey(e.clock.Now(), 5, 1), nil)
	})
	next, err := e.eng.DeliverWebhooks(ctx)
	if err != nil || !next.IsZero() {
		t.Fatalf("next %v (%v)", next, err)
	}
	_ = e.st.View(func(r *store.ReadTx) error {
		if kvs, _ := r.RuleValues(spaceDue, "", "", 10); len(kvs) != 0 {
			t.Errorf("due entries left: %v", kvs)
		}
		return nil
	})
}

// TestWebhookRetryAfter: a 429 with Retry-After delays the retry at least
// that long.
func TestWebhookRetryAfter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "w", URL: srv.URL, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	e.rule(&Rule{Kind: KindTrigger, Title: "t", Active: true, Conditions: all(cond("update_type", OpIs, "created")), Actions: []Action{act(ActNotifyWebhook, float64(wh.ID))}})
	e.deliver("support", "m1", "c1", "a", "one")
	e.process()
	next, err := e.eng.DeliverWebhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := next.Sub(e.clock.Now()); d < 120*time.Second {
		t.Fatalf("retry in %v, want at least the Retry-After of 2m", d)
	}
}

// The webhook retry delay doubles from WebhookBaseBackoff, is capped at
// WebhookMaxBackoff and jittered to 50–100 % of it, for any retry count.
func TestWebhookBackoffCappedWithJitter(t *testing.T) {
	e := &Engine{opts: Options{WebhookBaseBackoff: 10 * time.Second, WebhookMaxBackoff: time.Hour}}
	for _, n := range []int{1, 2, 5, 9, 30, 31, 64, 1 << 20} {
		want := time.Hour
		if n <= 9 {
			want = min(10*time.Second<<(n-1), time.Hour)
		}
		for range 20 {
			if d := e.backoff(n); d < want/2 || d > want {
				t.Fatalf("retry %d: backoff %v outside [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
