package rules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// hundredTriggers is a realistic trigger set: 100 active triggers with two
// or three conditions each, of which two match the benchmark's update.
func hundredTriggers(tb testing.TB) []*Rule {
	var rs []*Rule
	for i := range 100 {
		r := &Rule{ID: uint64(i + 1), Kind: KindTrigger, Title: "t", Active: true, Position: i,
			Conditions: &Conditions{
				All: []Condition{cond("update_type", OpIs, "updated"), cond("channel", OpIs, fmt.Sprintf("chan-%d", i))},
				Any: []Condition{cond("comment", OpContains, fmt.Sprintf("word%d", i)), cond("tags", OpIncludes, fmt.Sprintf("tag%d", i))},
			},
			Actions: []Action{act(ActAddTags, fmt.Sprintf("seen%d", i)), act(ActGroup, "g")}}
		if i == 10 || i == 90 {
			r.Conditions.All[1] = cond("channel", OpIs, "support")
		}
		if err := compileRule(r); err != nil {
			tb.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// BenchmarkTriggerEvaluation100 measures one update's trigger cycle over 100
// active triggers (evaluation and in-memory actions, no I/O).
func BenchmarkTriggerEvaluation100(b *testing.B) {
	triggers := hundredTriggers(b)
	e := New(nil, Options{})
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	comments := []string{"Hello, my VPN is down since this morning; word10 and word90 apply"}
	b.ReportAllocs()
	for b.Loop() {
		up := &update{via: "email", comments: comments}
		tk := &ticket.Ticket{ID: 1, Subject: "VPN", Status: ticket.StatusOpen, Channel: "support", Via: "email", Tags: []string{"a", "b"}}
		cs := &changeSet{t: tk, at: now}
		if n := e.runTriggerCycle(&subject{t: tk, now: now, update: up}, cs, triggers); n != 2 {
			b.Fatalf("%d fired", n)
		}
	}
}

// BenchmarkTriggerProcessUpdate100 measures the follower's whole cost per
// ticket update with 100 active triggers: reading the event, the ticket and
// its status record, the cycle, and the synced commit of the actions and
// cursor (on a real Badger in a temp dir), with updates in batches of 64.
func BenchmarkTriggerProcessUpdate100(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := New(st, Options{})
	ctx := context.Background()
	for _, r := range hundredTriggers(b) {
		r.ID = 0
		if _, err := e.CreateRule(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	var id uint64
	if err := st.Update(ctx, func(tx *store.Tx) error {
		tk := &ticket.Ticket{Subject: "VPN", Status: ticket.StatusOpen, Channel: "support", Via: "email", RequesterID: 1}
		err := tx.CreateTicket(tk)
		id = tk.ID
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.ProcessEvents(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(64, b.N-done)
		b.StopTimer()
		for range n {
			if err := st.Update(ctx, func(tx *store.Tx) error {
				return tx.CreateComment(&ticket.Comment{TicketID: id, Body: "word10 again", Public: true, Via: "email"}, store.CommentOptions{})
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := e.ProcessEvents(ctx); err != nil {
			b.Fatal(err)
		}
		done += n
	}
}
