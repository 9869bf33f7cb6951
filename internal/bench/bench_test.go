package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWhatsAppSignature(t *testing.T) {
	body := WhatsAppText("106540352242922", "4915100000001", "Ana", "wamid.1", "hi", time.Unix(1700000000, 0))
	sig := SignWhatsApp("s3cret", body)
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"valid", "s3cret", body, sig, true},
		{"wrong secret", "other", body, sig, false},
		{"tampered body", "s3cret", append(bytes.Clone(body), ' '), sig, false},
		{"missing", "s3cret", body, "", false},
		{"no prefix", "s3cret", body, strings.TrimPrefix(sig, "sha256="), false},
		{"upper-case hex", "s3cret", body, "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256=")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyWhatsApp(tc.secret, tc.body, tc.header); got != tc.want {
				t.Errorf("VerifyWhatsApp = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWhatsAppMessageID(t *testing.T) {
	body := WhatsAppText("1", "4915100000001", "Ana", "wamid.XYZ", "where is my order?", time.Now())
	id, text, err := WhatsAppMessageID(body)
	if err != nil || id != "wamid.XYZ" || text != "where is my order?" {
		t.Fatalf("WhatsAppMessageID = %q %q %v", id, text, err)
	}
	for _, bad := range []string{``, `{}`, `{"entry":[]}`, `{"entry":[{"changes":[{"value":{"messages":[{"id":""}]}}]}]}`, `[`} {
		if _, _, err := WhatsAppMessageID([]byte(bad)); err == nil {
			t.Errorf("WhatsAppMessageID(%q) accepted", bad)
		}
	}
}

func FuzzWhatsAppMessageID(f *testing.F) {
	f.Add(WhatsAppText("1", "2", "n", "wamid.1", "t", time.Unix(0, 0)))
	f.Add([]byte(`{"entry":[{"changes":[{"value":{"messages":[{"id":"x"}]}}]}]}`))
	f.Add([]byte(`{"entry":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, _, err := WhatsAppMessageID(b)
		if err == nil && id == "" {
			t.Fatal("accepted a message without id")
		}
	})
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.PPID != os.Getppid() || p.RSSBytes <= 0 || p.PeakRSSBytes < p.RSSBytes || p.CPUSeconds < 0 {
		t.Fatalf("ReadProc(self) = %+v", p)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("ReadProc of a missing pid succeeded")
	}
}

func TestFakeGraphScriptAndCounts(t *testing.T) {
	g, err := NewFakeGraph("123", "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.SetScript(func(text string, attempt int) *Fault {
		if text == "flaky" && attempt == 1 {
			return &Fault{Status: 429, RetryAfter: "3", Code: 130429, Message: "Rate limit hit"}
		}
		return nil
	})
	send := func(token, text string) *http.Response {
		b, _ := json.Marshal(map[string]any{"messaging_product": "whatsapp", "to": "4915100000001", "type": "text", "text": map[string]string{"body": text}})
		req, _ := http.NewRequest("POST", g.URL+"/123/messages", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		token, text string
		status      int
		retryAfter  string
	}{
		{"bad", "flaky", 401, ""},
		{"tok", "flaky", 429, "3"},
		{"tok", "flaky", 200, ""},
		{"tok", "fine", 200, ""},
	}
	for _, tc := range tests {
		resp := send(tc.token, tc.text)
		if resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != tc.retryAfter {
			t.Errorf("send(%s, %s) = %d Retry-After %q, want %d %q", tc.token, tc.text, resp.StatusCode, resp.Header.Get("Retry-After"), tc.status, tc.retryAfter)
		}
	}
	if g.Attempts("flaky") != 2 || g.Delivered("flaky") != 1 || g.Delivered("fine") != 1 || len(g.Sent()) != 2 {
		t.Errorf("attempts %d delivered %d/%d sent %d", g.Attempts("flaky"), g.Delivered("flaky"), g.Delivered("fine"), len(g.Sent()))
	}
}

func TestLoadRunners(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	next := func(int64) ([]byte, http.Header) { return []byte("{}"), http.Header{} }
	res := ClosedLoop(context.Background(), srv.URL, 4, time.Minute, 200, next)
	if res.OK+res.Failed != 200 || res.Failed != 20 || len(res.Latencies) != int(res.OK) || res.FirstError != "status 503" {
		t.Fatalf("closed loop: ok %d failed %d lat %d first %q", res.OK, res.Failed, len(res.Latencies), res.FirstError)
	}
	if res.Percentile(0.5) > res.Percentile(0.99) {
		t.Fatal("percentiles not ordered")
	}
	n.Store(1) // no failures aligned with the first request
	res = OpenLoop(context.Background(), srv.URL, 200, 500*time.Millisecond, 16, next)
	if res.OK+res.Failed != 100 {
		t.Fatalf("open loop sent %d, want 100", res.OK+res.Failed)
	}
}
