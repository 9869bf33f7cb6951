package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/testutil"
)

// searchCount answers how many tickets GET /api/v1/search finds for q
// (-1 while the index is being rebuilt).
func searchCount(t *testing.T, base, token, q string) int {
	t.Helper()
	code, body := apiCall(t, "GET", base+"/api/v1/search?q="+url.QueryEscape(q), token, nil)
	if code == http.StatusServiceUnavailable {
		return -1
	}
	var page struct {
		Tickets []json.RawMessage `json:"tickets"`
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil {
		t.Fatalf("search %q: %d %s", q, code, body)
	}
	return len(page.Tickets)
}

// The served core indexes what it stores; kill -9 and a restart resume
// the index (the tickets written before the kill stay searchable, new ones
// are added); `patchbay reindex` rebuilds a deleted or damaged index
// offline and refuses while the server holds the store.
func TestSearchIndexAcrossRestartsAndReindex(t *testing.T) {
	const token = "search-admin-token-42-0123456789abcdef"
	addr := testutil.FreeAddr(t)
	cfg := writeConfig(t, `http { listen = "`+addr+`" }`)
	create := func(base, subject, body string) {
		t.Helper()
		code, out := apiCall(t, "POST", base+"/api/v1/tickets", token, map[string]any{
			"subject": subject, "comment": map[string]any{"body": body},
			"requester": map[string]any{"name": "Ann", "email": "ann@example.test"},
		})
		if code != http.StatusCreated {
			t.Fatalf("create ticket: %d %s", code, out)
		}
	}
	cmd, _, base, exited := startServe(t, cfg, "PATCHBAY_ADMIN_TOKEN="+token)
	create(base, "first", "the gnomon casts a shadow")
	create(base, "second", "a sundial gnomon again")
	waitFor(t, "the tickets in the index", func() bool { return searchCount(t, base, token, "gnomon") == 2 })

	if code, out := runBinary(t, nil, "reindex", "-config", cfg); code == 0 || !strings.Contains(out, "stop the server") {
		t.Errorf("reindex while serving: exit %d, %s", code, out)
	}

	// kill -9: nothing is closed or flushed.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	cmd, _, base, exited = startServe(t, cfg, "PATCHBAY_ADMIN_TOKEN="+token)
	waitFor(t, "the index after kill -9", func() bool { return searchCount(t, base, token, "gnomon") == 2 })
	create(base, "third", "gnomon number three")
	waitFor(t, "the new ticket", func() bool { return searchCount(t, base, token, "gnomon") == 3 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}

	// A damaged index: reindex rebuilds it from the store.
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var data string
	for _, line := range strings.Split(string(src), "\n") {
		if v, ok := strings.CutPrefix(line, "data_dir = "); ok {
			data = strings.Trim(v, `"`)
		}
	}
	index := filepath.Join(data, "search")
	if err := os.WriteFile(filepath.Join(index, "index_meta.json"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runBinary(t, nil, "reindex", "-config", cfg)
	if code != 0 || !strings.Contains(out, "3 tickets indexed") {
		t.Fatalf("reindex: exit %d, %s", code, out)
	}
	_, _, base, _ = startServe(t, cfg, "PATCHBAY_ADMIN_TOKEN="+token)
	if n := searchCount(t, base, token, "gnomon"); n != 3 {
		t.Fatalf("after reindex the server found %d tickets, want 3 at once", n)
	}

	if code, out := runBinary(t, nil, "reindex", "-config", "/does/not/exist.hcl"); code == 0 {
		t.Errorf("reindex with a missing config: exit 0, %s", out)
	}
}
