package rules

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// sourceMarkers returns how many engine source markers the store holds.
func (e *env) sourceMarkers() int {
	e.t.Helper()
	var n int
	if err := e.st.View(func(r *store.ReadTx) error {
		kvs, err := scanAll(r, spaceSource, "")
		n = len(kvs)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestSourceMarkersReadPerPage checks the follower's page-wide read of the
// engine's source markers: an update written by triggers is recognised as
// such (the trigger set does not run on it again, whichever page holds
// it), an automation's update is seen as a rule update, and every marker
// is consumed with the cursor.
func TestSourceMarkersReadPerPage(t *testing.T) {
	for _, batch := range []int{1, 2, 3, 256} {
		t.Run("", func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.EventBatch = batch })
			e.rule(&Rule{Kind: KindTrigger, Title: "note every update", Active: true,
				Conditions: all(cond("status", OpIsNot, "closed")), Actions: []Action{act(ActInternalNote, "seen"), act(ActAddTags, "seen")}})
			e.rule(&Rule{Kind: KindTrigger, Title: "rule updates", Active: true,
				Conditions: all(cond("update_via", OpIs, "rule")), Actions: []Action{act(ActInternalNote, "rule update")}})
			e.rule(&Rule{Kind: KindAutomation, Title: "pending after 2h", Active: true,
				Conditions: all(cond("status", OpIs, "new"), cond("hours_since_created", OpGreaterThan, 2.0)), Actions: []Action{act(ActStatus, "pending")}})
			r := e.deliver("support", "m1", "c1", "ann", "hello")
			e.deliver("support", "m2", "c2", "bob", "hello")
			e.process()
			if n := countBody(e.comments(r.TicketID), "seen"); n != 1 {
				t.Fatalf("every-update trigger fired %d times on one update, want 1 (its own update re-ran it?)", n)
			}
			if n := e.sourceMarkers(); n != 0 {
				t.Fatalf("%d source markers left after processing", n)
			}
			e.clock.Add(3 * 3600e9)
			if n, err := e.eng.RunAutomations(context.Background()); err != nil || n != 2 {
				t.Fatalf("automations fired %d (%v)", n, err)
			}
			if n := e.sourceMarkers(); n == 0 {
				t.Fatal("the automation's update carries no source marker")
			}
			e.process()
			cs := e.comments(r.TicketID)
			if countBody(cs, "rule update") != 1 || countBody(cs, "seen") != 2 {
				t.Fatalf("after the automation: %d rule-update notes (want 1), %d seen (want 2)", countBody(cs, "rule update"), countBody(cs, "seen"))
			}
			if n := e.sourceMarkers(); n != 0 {
				t.Fatalf("%d source markers left after processing", n)
			}
		})
	}
}

// TestStatusTimesTrackedWithoutTriggers checks the shortcut taken when no
// trigger and no auto-reply exist (the ticket is not read): the status
// times and fields automations and later triggers need are still kept.
func TestStatusTimesTrackedWithoutTriggers(t *testing.T) {
	e := newEnv(t)
	r := e.deliver("support", "m1", "c1", "ann", "hello")
	e.process()
	e.clock.Add(3600e9)
	e.setStatus(r.TicketID, ticket.StatusPending)
	e.process()
	var rec *sinceRecord
	if err := e.st.View(func(tx *store.ReadTx) error {
		var err error
		rec, err = statusSince(tx, r.TicketID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if rec.Current != ticket.StatusPending || !rec.Since[ticket.StatusPending].Equal(e.clock.Now()) || rec.Fields == nil || rec.Fields.Status != ticket.StatusPending {
		t.Fatalf("status record %+v, want pending since %v", rec, e.clock.Now())
	}
	// A trigger created now sees the change that happens next.
	e.rule(&Rule{Kind: KindTrigger, Title: "reopened", Active: true,
		Conditions: all(cond("status", OpChangedFrom, "pending")), Actions: []Action{act(ActInternalNote, "reopened")}})
	e.deliver("support", "m2", "c1", "ann", "back again")
	e.process()
	if n := countBody(e.comments(r.TicketID), "reopened"); n != 1 {
		t.Fatalf("changed-from trigger fired %d times, want 1", n)
	}
}

// TestWebhookLoopWakesForEngineWrites runs the engine as `patchbay serve`
// does and checks that a delivery enqueued by a trigger and one enqueued by
// an automation are sent at once, while inbound traffic (which enqueues
// none) does not make the delivery loop scan its queue: the loop skips
// scans between engine updates, so a delivery it failed to notice would
// wait for its one-minute idle timer, past waitFor's deadline.
func TestWebhookLoopWakesForEngineWrites(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AutomationInterval = 50 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := &receiver{t: t}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "crm", URL: srv.URL, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = wh.Secret
	e.rule(&Rule{Kind: KindTrigger, Title: "new ticket", Active: true,
		Conditions: all(cond("update_type", OpIs, "created"), cond("subject", OpContains, "notify")), Actions: []Action{act(ActNotifyWebhook, float64(wh.ID))}})
	e.rule(&Rule{Kind: KindAutomation, Title: "stale", Active: true,
		Conditions: all(cond("status", OpIs, "new"), cond("hours_since_created", OpGreaterThan, 2.0)), Actions: []Action{act(ActNotifyWebhook, float64(wh.ID)), act(ActAddTags, "stale")}})
	done := make(chan struct{})
	go func() { defer close(done); _ = e.eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Quiet inbound traffic first: the loop learns there is nothing queued.
	for i := range 20 {
		e.deliver("support", fmt.Sprintf("q%d", i), fmt.Sprintf("quiet-%d", i%3), "bob", "hello")
	}
	e.deliver("support", "m1", "c1", "ann", "please notify")
	waitFor(t, "the trigger's webhook call", func() bool { return len(rc.requests()) == 1 })
	for i := range 20 {
		e.deliver("support", fmt.Sprintf("r%d", i), "quiet-0", "bob", "more")
	}
	e.clock.Add(3 * time.Hour)
	// Four tickets go stale: four calls.
	waitFor(t, "the automation's webhook calls", func() bool { return len(rc.requests()) == 5 })
	for _, r := range rc.requests() {
		if !r.validSig {
			t.Fatalf("badly signed call %+v", r)
		}
	}
}
