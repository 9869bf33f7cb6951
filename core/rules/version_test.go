package rules

import (
	"context"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Every write path of the rules engine moves the ticket's version on (the
// API's ETag and If-Match rely on it): an inbound message and a follow-up
// message, a trigger's field change, a trigger's internal note alone, and
// the auto-close automation.
func TestRulesWritesMoveTheTicketVersion(t *testing.T) {
	e := newEnv(t)
	last := uint64(0)
	step := func(name string, id uint64) {
		t.Helper()
		v := e.ticket(id).Version
		if v <= last {
			t.Fatalf("%s: version %d after %d", name, v, last)
		}
		last = v
	}
	r := e.deliver("it-help", "m1", "c:1", "T:U1", "printer broken")
	step("inbound message", r.TicketID)
	e.deliver("it-help", "m2", "c:1", "T:U1", "still broken")
	step("second inbound message", r.TicketID)

	e.rule(&Rule{Kind: KindTrigger, Title: "tag printers", Active: true,
		Conditions: all(cond("comment", OpContains, "toner")), Actions: []Action{act(ActAddTags, "printer")}})
	e.deliver("it-help", "m3", "c:1", "T:U1", "toner empty")
	step("third message", r.TicketID)
	e.process()
	if tags := e.ticket(r.TicketID).Tags; len(tags) != 1 || tags[0] != "printer" {
		t.Fatalf("trigger did not tag: %v", tags)
	}
	step("trigger's tag", r.TicketID)

	e.rule(&Rule{Kind: KindTrigger, Title: "note on urgent", Active: true,
		Conditions: all(cond("comment", OpContains, "urgent")), Actions: []Action{act(ActInternalNote, "escalate")}})
	e.deliver("it-help", "m4", "c:1", "T:U1", "urgent please")
	step("fourth message", r.TicketID)
	e.process()
	if n := countBody(e.comments(r.TicketID), "escalate"); n != 1 {
		t.Fatalf("%d notes", n)
	}
	step("trigger's note alone", r.TicketID)

	e.setStatus(r.TicketID, ticket.StatusSolved)
	step("status change", r.TicketID)
	e.clock.Add(100 * time.Hour)
	if n, err := e.eng.RunAutomations(context.Background()); err != nil || n != 1 {
		t.Fatalf("auto-close: %d %v", n, err)
	}
	step("auto-close", r.TicketID)
}
