package store

import (
	"testing"
	"time"
)

// RetryWaiting moves only the instance's entries that wait for their
// channel and are due later.
func TestRetryWaiting(t *testing.T) {
	s := openTest(t)
	later := time.Now().Add(time.Hour)
	entries := []*OutboxEntry{
		{CommentID: 1, Instance: "wa", WaitingForChannel: true, NextAttemptAt: later},   // moves
		{CommentID: 2, Instance: "wa", NextAttemptAt: later},                            // waits for the provider
		{CommentID: 3, Instance: "mail", WaitingForChannel: true, NextAttemptAt: later}, // another channel
		{CommentID: 4, Instance: "wa", WaitingForChannel: true},                         // already due
	}
	mustUpdate(t, s, func(tx *Tx) error {
		for _, e := range entries {
			if err := tx.PutOutbox(e); err != nil {
				return err
			}
		}
		return nil
	})
	var moved int
	mustUpdate(t, s, func(tx *Tx) error {
		var err error
		moved, err = tx.RetryWaiting("wa", 1000)
		return err
	})
	if moved != 1 {
		t.Fatalf("moved %d, want 1", moved)
	}
	s.View(func(r *ReadTx) error {
		due, next, err := r.DueOutbox(time.Now().Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint64]bool{}
		for _, e := range due {
			got[e.CommentID] = true
		}
		if len(due) != 2 || !got[1] || !got[4] || next.IsZero() {
			t.Fatalf("due %v, next %v", got, next)
		}
		return nil
	})
}
