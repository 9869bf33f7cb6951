package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// levels returns the LSM levels that hold tables.
func levels(s *Store) map[int]int {
	out := map[int]int{}
	for _, t := range s.db.Tables() {
		out[t.Level]++
	}
	return out
}

// TestCompactSettlesABulkLoad: tickets written in bulk with small
// memtables leave a backlog of L0 tables; Compact puts every table on one
// level below L0 and keeps every ticket and index intact.
func TestCompactSettlesABulkLoad(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MemTableSize: 1 << 20, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	body := strings.Repeat("x", 300)
	n := 0
	write := func() {
		if err := s.Update(ctx, func(tx *Tx) error {
			for range 20 {
				n++
				if err := tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprintf("%d %s", n, body), Status: ticket.StatusOpen, Channel: "c", RequesterID: uint64(n%7 + 1)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for range 300 {
		write()
	}
	// Badger compacts in the background: write on until flushed tables
	// wait on L0 (each memtable flush lands there), so that the store is
	// not settled before Compact runs.
	for i := 0; levels(s)[0] == 0; i++ {
		if i == 3000 {
			t.Fatalf("fixture: no table on L0 after %d tickets (levels %v)", n, levels(s))
		}
		write()
	}
	before := levels(s)
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	after := levels(s)
	if len(after) != 1 || after[0] != 0 {
		t.Fatalf("after Compact tables on levels %v (before: %v), want one level below L0", after, before)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after Compact: %v", err)
	}
	if err := s.View(func(r *ReadTx) error {
		for _, id := range []uint64{1, uint64(n / 2), uint64(n)} {
			if _, err := r.Ticket(id); err != nil {
				return fmt.Errorf("ticket %d: %w", id, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Compact(cctx); err == nil {
		t.Fatal("Compact with a cancelled context succeeded")
	}
}
