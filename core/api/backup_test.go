package api

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
)

func TestBackupRestoresToTheSameTickets(t *testing.T) {
	e := newEnv(t)
	var want []uint64
	for i := range 3 {
		tk := e.createTicket(e.admin, "subject "+itoa(uint64(i)), "c"+itoa(uint64(i))+"@example.test")
		want = append(want, tk.ID)
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/backup", e.admin, nil)
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if len(r.body) == 0 {
		t.Fatal("empty backup")
	}

	dir := filepath.Join(t.TempDir(), "restored")
	ctx := context.Background()
	if err := store.Restore(ctx, store.Options{Dir: dir}, bytes.NewReader(r.body)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	st, err := store.Open(store.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(ctx); err != nil {
		t.Fatalf("restored store inconsistent: %v", err)
	}
	err = st.View(func(tx *store.ReadTx) error {
		for _, id := range want {
			if _, err := tx.Ticket(id); err != nil {
				t.Errorf("ticket %d missing after restore: %v", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackupIsAdminOnly(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Agent", "agent@acme.test")
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "nope", http.StatusUnauthorized},
		{"agent", agent, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.req("GET", "/api/v1/backup", tc.token, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			r.apiErr(t)
		})
	}
}
