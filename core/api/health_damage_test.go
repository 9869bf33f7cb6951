package api

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestHealthzStoreDamaged: a comment whose value-log record was damaged
// after the store checked its files (a sealed value-log file is checked
// record by record only by patchbay check) fails its read; the request
// that needed it answers 503 store_damaged, not 500, and /healthz turns
// 503 with the reason and stays so.
func TestHealthzStoreDamaged(t *testing.T) {
	dir := t.TempDir()
	opts := store.Options{Dir: dir, GCInterval: -1}
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	marker := strings.Repeat("MARKER-", 2000) // 14 KB: stored in the value log
	var tid uint64
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		tk := &ticket.Ticket{Subject: "s", Status: ticket.StatusOpen, RequesterID: 1}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		tid = tk.ID
		return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, AuthorID: 1, Body: marker, Public: true, Via: "api"}, store.CommentOptions{})
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// One more open and close seals the first value-log file.
	if st, err = store.Open(opts); err != nil {
		t.Fatal(err)
	}
	st.Close()
	vlog := filepath.Join(dir, "000001.vlog")
	b, err := os.ReadFile(vlog)
	if err != nil {
		t.Fatal(err)
	}
	// Every record holding the body (the comment, its event) is damaged.
	runs := 0
	for off := 0; ; {
		at := bytes.Index(b[off:], []byte("MARKER-MARKER"))
		if at < 0 {
			break
		}
		copy(b[off+at+100:], "DAMAGED!")
		runs++
		off += at + len(marker)
	}
	if runs == 0 {
		t.Fatal("the comment is not in 000001.vlog")
	}
	if err := os.WriteFile(vlog, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err = store.Open(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnv(t, func(o *Options) { o.Store = st })
	e.must(200, "GET", "/healthz", "", nil)
	r := e.req("GET", fmt.Sprintf("/api/v1/tickets/%d/comments", tid), e.admin, nil)
	if r.status != 503 || r.apiErr(t).Code != CodeStoreDamaged {
		t.Fatalf("comments of the damaged record: %d %s, want 503 store_damaged (read failure %+v)", r.status, r.body, st.ReadFailure())
	}
	for range 2 {
		r = e.req("GET", "/healthz", "", nil)
		if r.status != 503 {
			t.Fatalf("healthz after a failed read: %d %s", r.status, r.body)
		}
		if got := r.apiErr(t); got.Code != CodeStoreDamaged || !strings.Contains(got.Message, "patchbay check") {
			t.Fatalf("healthz error %+v", got)
		}
	}
	if f := st.ReadFailure(); f == nil || f.Reason == "" {
		t.Fatalf("ReadFailure = %+v", f)
	}
}
