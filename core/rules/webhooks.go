package rules

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/internal/backoff"
)

// Webhook request headers.
const (
	HeaderSignature = "X-Patchbay-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderTimestamp = "X-Patchbay-Timestamp" // Unix seconds of this attempt
	HeaderDelivery  = "X-Patchbay-Delivery"  // delivery id, the same on every retry
	HeaderWebhookID = "X-Patchbay-Webhook-Id"
)

// MinSecretLength is the shortest signing secret accepted.
const MinSecretLength = 16

// Sign returns the signature header value for a delivery body sent at
// timestamp (Unix seconds) with secret. Receivers recompute it over the raw
// body and compare in constant time (hmac.Equal).
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// MaskSecret shows the last four characters of a secret only.
func MaskSecret(s string) string {
	if len(s) <= 8 {
		return "********"
	}
	return "********" + s[len(s)-4:]
}

func deliveryKey(webhookID, seq uint64) string {
	return id20(webhookID) + "/" + id20(math.MaxUint64-seq) // newest first
}

func dueKey(due time.Time, webhookID, seq uint64) string {
	return id20(uint64(due.UnixNano())) + "/" + deliveryKey(webhookID, seq)
}

func compileWebhook(w *Webhook, policy NetworkPolicy) error {
	w.Name = strings.TrimSpace(w.Name)
	if w.Name == "" || len(w.Name) > MaxTitle || strings.IndexByte(w.Name, 0) >= 0 {
		return invalid("name", "must be a non-empty name of at most %d bytes", MaxTitle)
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(w.URL) > 2048 {
		return invalid("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return invalid("url", "must not carry credentials; the receiver verifies the signature instead")
	}
	if err := policy.checkURLHost(u); err != nil {
		return invalid("url", "%s", strings.TrimPrefix(err.Error(), ErrForbiddenAddress.Error()+": "))
	}
	if w.Secret != "" && (len(w.Secret) < MinSecretLength || len(w.Secret) > 256) {
		return invalid("secret", "must be %d to 256 characters (omit it to have one generated)", MinSecretLength)
	}
	return nil
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = crand.Read(b)
	return "whsec_" + hex.EncodeToString(b)
}

// Webhooks returns every webhook (with its secret: mask it before showing).
func (e *Engine) Webhooks() ([]*Webhook, error) {
	var out []*Webhook
	err := e.st.View(func(r *store.ReadTx) error {
		kvs, err := scanAll(r, spaceWebhook, "")
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			w := &Webhook{}
			if _, err := getJSON(r, spaceWebhook, kv.Key, w); err != nil {
				return err
			}
			out = append(out, w)
		}
		return nil
	})
	return out, err
}

// Webhook returns one webhook (with its secret: mask it before showing).
func (e *Engine) Webhook(id uint64) (*Webhook, error) {
	w := &Webhook{}
	var ok bool
	err := e.st.View(func(r *store.ReadTx) error {
		var err error
		ok, err = getJSON(r, spaceWebhook, id20(id), w)
		return err
	})
	if err == nil && !ok {
		err = fmt.Errorf("webhook %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// CreateWebhook stores a new webhook; an empty Secret gets a generated one.
// The returned webhook carries the secret in clear: show it once.
func (e *Engine) CreateWebhook(ctx context.Context, w *Webhook) (*Webhook, error) {
	if err := compileWebhook(w, e.opts.WebhookNetworks); err != nil {
		return nil, err
	}
	if w.Secret == "" {
		w.Secret = newSecret()
	}
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		id, err := tx.NextID(seqRule)
		if err != nil {
			return err
		}
		w.ID = id
		w.CreatedAt, w.UpdatedAt = tx.Now(), tx.Now()
		return putJSON(tx, spaceWebhook, id20(id), w)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// UpdateWebhook replaces a webhook's name, URL and active flag; an empty
// Secret keeps the current one.
func (e *Engine) UpdateWebhook(ctx context.Context, w *Webhook) (*Webhook, error) {
	if err := compileWebhook(w, e.opts.WebhookNetworks); err != nil {
		return nil, err
	}
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		var old Webhook
		ok, err := getJSON(&tx.ReadTx, spaceWebhook, id20(w.ID), &old)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("webhook %d: %w", w.ID, ErrNotFound)
		}
		if w.Secret == "" {
			w.Secret = old.Secret
		}
		w.CreatedAt, w.UpdatedAt = old.CreatedAt, tx.Now()
		return putJSON(tx, spaceWebhook, id20(w.ID), w)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// DeleteWebhook removes a webhook no trigger or automation calls
// (ErrInUse otherwise). Its pending deliveries fail; its log is removed.
func (e *Engine) DeleteWebhook(ctx context.Context, id uint64) error {
	for _, k := range []Kind{KindTrigger, KindAutomation} {
		rs, err := e.Rules(k)
		if err != nil {
			return err
		}
		for _, r := range rs {
			for _, a := range r.Actions {
				if a.Field == ActNotifyWebhook && a.a.id == id {
					return fmt.Errorf("webhook %d is called by %s %d (%q): %w", id, k, r.ID, r.Title, ErrInUse)
				}
			}
		}
	}
	return e.st.Update(ctx, func(tx *store.Tx) error {
		if _, ok, err := tx.RuleValue(spaceWebhook, id20(id)); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("webhook %d: %w", id, ErrNotFound)
		}
		ds, err := tx.RuleValues(spaceDelivery, id20(id)+"/", "", 100000)
		if err != nil {
			return err
		}
		for _, kv := range ds {
			var d Delivery
			if _, err := getJSON(&tx.ReadTx, spaceDelivery, kv.Key, &d); err != nil {
				return err
			}
			if d.Status == DeliveryPending {
				if err := tx.DeleteRuleValue(spaceDue, dueKey(d.NextAttemptAt, id, d.Seq)); err != nil {
					return err
				}
			}
			if err := tx.DeleteRuleValue(spaceDelivery, kv.Key); err != nil {
				return err
			}
		}
		return tx.DeleteRuleValue(spaceWebhook, id20(id))
	})
}

// Deliveries returns a webhook's delivery log, newest first: up to limit
// deliveries older than before (a Seq; 0: from the newest).
func (e *Engine) Deliveries(webhookID uint64, limit int, before uint64) ([]*Delivery, error) {
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	out := []*Delivery{}
	err := e.st.View(func(r *store.ReadTx) error {
		if _, ok, err := r.RuleValue(spaceWebhook, id20(webhookID)); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("webhook %d: %w", webhookID, ErrNotFound)
		}
		from := ""
		if before != 0 {
			from = deliveryKey(webhookID, before-1)
		}
		kvs, err := r.RuleValues(spaceDelivery, id20(webhookID)+"/", from, limit)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			d := &Delivery{}
			if _, err := getJSON(r, spaceDelivery, kv.Key, d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

func (e *Engine) runWebhookLoop(ctx context.Context) {
	var pruned, next time.Time
	var scanned bool
	var scannedGen uint64
	for ctx.Err() == nil {
		if now := e.opts.Clock(); now.Sub(pruned) >= time.Hour {
			pruned = now
			if n, err := e.PruneDeliveries(ctx, now.Add(-e.opts.DeliveryRetention)); err != nil && !isStopping(ctx, err) {
				e.log.Error("pruning the webhook delivery log failed", "error", err)
			} else if n > 0 {
				e.log.Debug("webhook delivery log pruned", "deliveries", n)
			}
		}
		wake := e.st.Notify()
		// Deliveries are enqueued only by the engine's own updates
		// (triggers and automations, counted by writesGen): a commit of
		// anything else (every inbound message) wakes the loop but needs no
		// scan of the queue unless a retry is due.
		gen, quiet := e.writesGen()
		wait := time.Minute
		if !quiet || !scanned || gen != scannedGen || !next.IsZero() && !e.opts.Clock().Before(next) {
			var err error
			next, err = e.DeliverWebhooks(ctx)
			scanned, scannedGen = err == nil, gen
			if err != nil {
				if isStopping(ctx, err) {
					return
				}
				e.log.Error("webhook delivery failed", "error", err)
				wait = 5 * time.Second
			}
		}
		if scanned && !next.IsZero() {
			wait = max(next.Sub(e.opts.Clock()), 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// DeliverWebhooks makes one attempt of every delivery due at the engine
// clock's time and returns when the next one is due (zero: none pending).
func (e *Engine) DeliverWebhooks(ctx context.Context) (time.Time, error) {
	for ctx.Err() == nil {
		now := e.opts.Clock()
		var due []string
		var next time.Time
		err := e.st.View(func(r *store.ReadTx) error {
			kvs, err := r.RuleValues(spaceDue, "", "", 33)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				at, _, _ := strings.Cut(kv.Key, "/")
				t := time.Unix(0, int64(parseID20(at)))
				if t.After(now) || len(due) == 32 {
					next = t
					return nil
				}
				due = append(due, kv.Key)
			}
			return nil
		})
		if err != nil {
			return time.Time{}, err
		}
		if len(due) == 0 {
			return next, nil
		}
		// Up to WebhookWorkers calls at a time, so one slow receiver does
		// not hold up the others.
		errs := make(chan error, len(due))
		sem := make(chan struct{}, e.opts.WebhookWorkers)
		var wg sync.WaitGroup
		for _, key := range due {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs <- e.attempt(ctx, key)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return time.Time{}, err
			}
		}
		if next.After(now) {
			return next, nil
		}
	}
	return time.Time{}, ctx.Err()
}

// attempt makes one HTTP call of the delivery of the due entry dueK and
// records its outcome (delivered, retry at a later due time, or failed).
func (e *Engine) attempt(ctx context.Context, dueK string) error {
	_, key, _ := strings.Cut(dueK, "/")
	var d Delivery
	var wh Webhook
	var whFound bool
	err := e.st.View(func(r *store.ReadTx) error {
		ok, err := getJSON(r, spaceDelivery, key, &d)
		if err != nil || !ok {
			return err
		}
		whFound, err = getJSON(r, spaceWebhook, id20(d.WebhookID), &wh)
		return err
	})
	if err != nil {
		return err
	}
	if d.ID == "" || d.Status != DeliveryPending {
		// A due entry without a pending delivery (its webhook was deleted
		// meanwhile): drop it, or it would stay due forever.
		return e.st.Update(ctx, func(tx *store.Tx) error {
			var cur Delivery
			if ok, err := getJSON(&tx.ReadTx, spaceDelivery, key, &cur); err != nil || ok && cur.Status == DeliveryPending {
				return err
			}
			return tx.DeleteRuleValue(spaceDue, dueK)
		})
	}
	start := e.opts.Clock()
	att := Attempt{At: start}
	retry := false
	var retryAfter time.Duration
	switch {
	case !whFound:
		att.Error = "the webhook was deleted"
	case !wh.Active:
		att.Error = "the webhook is inactive"
	default:
		att.StatusCode, retry, retryAfter, att.Error = e.call(ctx, &wh, &d, start)
		att.DurationMS = e.opts.Clock().Sub(start).Milliseconds()
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the delivery stays due
	}
	result := "delivered"
	return e.st.Update(ctx, func(tx *store.Tx) error {
		var cur Delivery
		ok, err := getJSON(&tx.ReadTx, spaceDelivery, key, &cur)
		if err != nil || !ok || cur.Status != DeliveryPending {
			return err
		}
		if err := tx.DeleteRuleValue(spaceDue, dueKey(cur.NextAttemptAt, cur.WebhookID, cur.Seq)); err != nil {
			return err
		}
		cur.AttemptCount++
		cur.Attempts = append(cur.Attempts, att)
		if len(cur.Attempts) > MaxAttemptsLogged {
			cur.Attempts = cur.Attempts[len(cur.Attempts)-MaxAttemptsLogged:]
		}
		cur.UpdatedAt = tx.Now()
		switch {
		case att.Error == "" && att.StatusCode >= 200 && att.StatusCode < 300:
			cur.Status, cur.NextAttemptAt = DeliveryDelivered, time.Time{}
		case retry && cur.AttemptCount < e.opts.WebhookMaxAttempts:
			cur.NextAttemptAt = start.Add(max(e.backoff(cur.AttemptCount), min(retryAfter, e.opts.WebhookMaxBackoff)))
			result = "retry"
			if err := tx.PutRuleValue(spaceDue, dueKey(cur.NextAttemptAt, cur.WebhookID, cur.Seq), nil); err != nil {
				return err
			}
		default:
			cur.Status, cur.NextAttemptAt = DeliveryFailed, time.Time{}
			result = "failed"
		}
		e.m.webhooks.WithLabelValues(result).Inc()
		return putJSON(tx, spaceDelivery, key, &cur)
	})
}

// backoff is the delay before retry n (1, 2…): base·2^(n-1), capped, with
// jitter (50–100 %).
func (e *Engine) backoff(n int) time.Duration {
	return backoff.Policy{Base: e.opts.WebhookBaseBackoff, Max: e.opts.WebhookMaxBackoff, JitterLow: 0.5, JitterHigh: 1}.Next(n)
}

// call POSTs the delivery. It returns the HTTP status, whether a retry can
// help (connection errors, 408, 429, 5xx), the receiver's Retry-After (in
// seconds, 0 when absent) and an error text that never includes the URL or
// the secret.
func (e *Engine) call(ctx context.Context, wh *Webhook, d *Delivery, at time.Time) (int, bool, time.Duration, string) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, false, 0, "invalid webhook URL"
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Patchbay-Webhooks/1")
	req.Header.Set(HeaderWebhookID, strconv.FormatUint(wh.ID, 10))
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(wh.Secret, ts, d.Payload))
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			// Not retried: the receiver's name resolves to an internal
			// address (see NetworkPolicy).
			msg := err.Error()
			if i := strings.Index(msg, ErrForbiddenAddress.Error()); i >= 0 {
				msg = msg[i:]
			}
			return 0, false, 0, "refused: " + msg
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, true, 0, "request failed: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return code, false, 0, ""
	case code >= 300 && code < 400:
		// Redirects are never followed: the receiver's URL must be the
		// final one (a redirect could point the call at an internal host).
		return code, false, 0, fmt.Sprintf("receiver answered %d (a redirect; redirects are not followed: set the webhook's URL to the final address)", code)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		var after time.Duration
		if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs > 0 {
			after = time.Duration(min(secs, 86400)) * time.Second
		}
		return code, true, after, fmt.Sprintf("receiver answered %d", code)
	}
	return code, false, 0, fmt.Sprintf("receiver answered %d", code)
}

// PruneDeliveries removes finished (delivered or failed) deliveries last
// updated before cutoff from the delivery log and returns how many.
func (e *Engine) PruneDeliveries(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	from := ""
	for {
		var old []string
		var next string
		err := e.st.View(func(r *store.ReadTx) error {
			kvs, err := r.RuleValues(spaceDelivery, "", from, 500)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				var d struct {
					Status    string    `json:"status"`
					UpdatedAt time.Time `json:"updated_at"`
				}
				if err := json.Unmarshal(kv.Value, &d); err != nil {
					return fmt.Errorf("rules: decode delivery: %w", err)
				}
				if d.Status != DeliveryPending && d.UpdatedAt.Before(cutoff) {
					old = append(old, kv.Key)
				}
			}
			if len(kvs) == 500 {
				next = kvs[len(kvs)-1].Key + "\x00"
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if len(old) > 0 {
			if err := e.st.Update(ctx, func(tx *store.Tx) error {
				for _, k := range old {
					if err := tx.DeleteRuleValue(spaceDelivery, k); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return total, err
			}
			total += len(old)
		}
		if next == "" {
			return total, nil
		}
		from = next
	}
}
