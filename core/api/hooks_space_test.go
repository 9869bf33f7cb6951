package api

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/core/store"
)

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHooksRefusedForLackOfDisk: while the disk is short, webhooks answer
// 503 with Retry-After before the plugin sees them (it would fail the
// message with a 500), the access log says so once, not per webhook, and
// webhooks pass again once space returns.
func TestHooksRefusedForLackOfDisk(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 20)
	st, err := store.Open(store.Options{Dir: t.TempDir(), GCInterval: -1, MinFreeBytes: 8 << 20,
		FreeSpace: func(string) (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var plugin atomic.Int64
	var logs lockedLog
	e := newEnv(t, func(o *Options) {
		o.Store = st
		o.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
		o.Hooks = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			plugin.Add(1)
			w.WriteHeader(http.StatusOK)
		})
	})
	for range 50 {
		r := e.req("POST", "/hooks/wa/webhook", "", map[string]any{"entry": []any{}})
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Fatalf("webhook on a full disk: %d (Retry-After %q) %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		if got := r.apiErr(t); got.Code != CodeUnavailable || !strings.Contains(got.Message, "disk space") {
			t.Fatalf("webhook error %+v", got)
		}
	}
	if n := plugin.Load(); n != 0 {
		t.Fatalf("the plugin saw %d webhooks on a full disk", n)
	}
	if n := strings.Count(logs.String(), "/hooks/wa/webhook"); n != 1 {
		t.Fatalf("%d access log lines for 50 refused webhooks, want 1:\n%s", n, logs.String())
	}
	free.Store(1 << 40)
	if r := e.req("POST", "/hooks/wa/webhook", "", map[string]any{"entry": []any{}}); r.status != 200 || plugin.Load() != 1 {
		t.Fatalf("webhook after space returned: %d %s", r.status, r.body)
	}
}
