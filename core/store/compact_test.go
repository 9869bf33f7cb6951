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
	const n = 6000
	body := strings.Repeat("x", 300)
	for from := 0; from < n; from += 20 {
		if err := s.Update(ctx, func(tx *Tx) error {
			for i := from; i < from+20; i++ {
				if err := tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprintf("%d %s", i, body), Status: ticket.StatusOpen, Channel: "c", RequesterID: uint64(i%7 + 1)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	before := levels(s)
	if before[0] < 2 {
		t.Fatalf("fixture: tables on levels %v, want a backlog on L0 before Compact", before)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	after := levels(s)
	if len(after) != 1 || after[0] != 0 {
		t.Fatalf("after Compact tables on levels %v, want one level below L0", after)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after Compact: %v", err)
	}
	if err := s.View(func(r *ReadTx) error {
		for _, id := range []uint64{1, n / 2, n} {
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
