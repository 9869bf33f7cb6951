package api

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// TestHealthzDiskShort: while the data directory's disk is short of space
// /healthz answers 503 with Retry-After and says why; API writes fail with
// a 5xx and change nothing; both recover by themselves when space returns.
func TestHealthzDiskShort(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	st, err := store.Open(store.Options{Dir: t.TempDir(), GCInterval: -1, MinFreeBytes: 8 << 20,
		FreeSpace: func(string) (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnv(t, func(o *Options) { o.Store = st })
	e.must(200, "GET", "/healthz", "", nil)
	e.createTicket(e.admin, "before", "a@example.test")

	free.Store(1 << 20)
	r := e.req("POST", "/api/v1/tickets", e.admin, map[string]any{"subject": "on a full disk", "requester": map[string]any{"email": "b@example.test"}, "comment": map[string]any{"body": "hi"}})
	if r.status < 500 {
		t.Fatalf("create on a full disk: %d %s, want 5xx", r.status, r.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = e.req("GET", "/healthz", "", nil)
		if r.status == 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("healthz on a full disk: %d %v", r.status, r.header)
	}
	if got := r.apiErr(t); got.Code != CodeUnavailable || !strings.Contains(got.Message, "insufficient disk space") || !strings.Contains(got.Message, "1 MiB free") {
		t.Fatalf("healthz error %+v", got)
	}
	var list struct {
		Tickets []map[string]any `json:"tickets"`
	}
	e.must(200, "GET", "/api/v1/tickets", e.admin, nil).decode(t, &list)
	if len(list.Tickets) != 1 {
		t.Fatalf("%d tickets after a refused create, want 1", len(list.Tickets))
	}

	free.Store(1 << 40)
	for {
		r = e.req("GET", "/healthz", "", nil)
		if r.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.status != 200 {
		t.Fatalf("healthz after space returned: %d %s", r.status, r.body)
	}
	e.createTicket(e.admin, "after", "c@example.test")
}
