package rules

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestAutoCloseAutomation: the standard automation seeded on first start
// closes a ticket solved for more than 96 hours (by the injected clock),
// leaves a younger one alone, survives restarts, and stays editable.
func TestAutoCloseAutomation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	autos, err := e.eng.Rules(KindAutomation)
	if err != nil || len(autos) != 1 || autos[0].Title != "Close ticket 4 days after status is set to solved" {
		t.Fatalf("seeded automations %+v (%v)", autos, err)
	}
	a := e.deliver("it-help", "m1", "t:u", "T:U1", "a")
	b := e.deliver("it-help", "m2", "t:v", "T:U2", "b")
	e.setStatus(a.TicketID, ticket.StatusSolved)
	e.clock.Add(48 * time.Hour)
	e.setStatus(b.TicketID, ticket.StatusSolved)
	e.process()
	if n, _ := e.eng.RunAutomations(ctx); n != 0 {
		t.Fatalf("closed %d too early", n)
	}
	e.clock.Add(48*time.Hour + time.Minute)
	e.reopen() // the schedule is driven by stored times: a restart changes nothing
	if n, err := e.eng.RunAutomations(ctx); err != nil || n != 1 {
		t.Fatalf("auto-close closed %d (%v), want 1", n, err)
	}
	if s := e.ticket(a.TicketID).Status; s != ticket.StatusClosed {
		t.Fatalf("ticket a %s", s)
	}
	if s := e.ticket(b.TicketID).Status; s != ticket.StatusSolved {
		t.Fatalf("ticket b %s", s)
	}
	e.clock.Add(48 * time.Hour)
	if n, _ := e.eng.RunAutomations(ctx); n != 1 {
		t.Fatalf("second run closed %d", n)
	}
	if n, _ := e.eng.RunAutomations(ctx); n != 0 {
		t.Fatalf("third run closed %d", n)
	}
	// Reopening the store does not seed the automation again, even after
	// an admin deleted it.
	if err := e.eng.DeleteRule(ctx, KindAutomation, autos[0].ID); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if autos, _ := e.eng.Rules(KindAutomation); len(autos) != 0 {
		t.Fatalf("automation re-seeded: %+v", autos)
	}
}

func TestAutoCloseDelayIsConfigurable(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AutoCloseAfter = 24 * time.Hour })
	a := e.deliver("support", "m1", "c1", "ann", "a")
	e.setStatus(a.TicketID, ticket.StatusSolved)
	e.clock.Add(25 * time.Hour)
	if n, err := e.eng.RunAutomations(context.Background()); err != nil || n != 1 {
		t.Fatalf("closed %d (%v)", n, err)
	}
}

// TestAutomationFiresOncePerQualifyingState: an automation whose actions do
// not nullify its conditions fires once; it fires again only after the
// ticket left the qualifying state and came back.
func TestAutomationFiresOncePerQualifyingState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.rule(&Rule{Kind: KindAutomation, Title: "remind pending", Active: true,
		Conditions: all(cond("status", OpIs, "pending"), cond("hours_since_pending", OpGreaterThan, 48.0)),
		Actions:    []Action{act(ActAddTags, "reminded"), act(ActInternalNote, "Pending for 2 days: {{ticket.subject}}")}})
	r := e.deliver("support", "m1", "c1", "ann", "Printer")
	e.setStatus(r.TicketID, ticket.StatusPending)
	e.process()
	e.clock.Add(47 * time.Hour)
	if n, _ := e.eng.RunAutomations(ctx); n != 0 {
		t.Fatalf("fired %d before 48h", n)
	}
	e.clock.Add(2 * time.Hour)
	for i := range 3 {
		if n, err := e.eng.RunAutomations(ctx); err != nil || n != boolInt(i == 0) {
			t.Fatalf("run %d fired %d (%v)", i, n, err)
		}
	}
	if n := countBody(e.comments(r.TicketID), "Pending for 2 days: Printer"); n != 1 {
		t.Fatalf("%d notes", n)
	}
	if tk := e.ticket(r.TicketID); !slices.Contains(tk.Tags, "reminded") {
		t.Fatalf("tags %v", tk.Tags)
	}
	// The requester answers (back to open), later the ticket is pending again.
	e.deliver("support", "m2", "c1", "ann", "here you go")
	e.process()
	if n, _ := e.eng.RunAutomations(ctx); n != 0 {
		t.Fatalf("fired %d on an open ticket", n)
	}
	e.setStatus(r.TicketID, ticket.StatusPending)
	e.process()
	e.clock.Add(24 * time.Hour)
	if n, _ := e.eng.RunAutomations(ctx); n != 0 {
		t.Fatalf("fired %d: hours since pending restarted", n)
	}
	e.clock.Add(25 * time.Hour)
	if n, _ := e.eng.RunAutomations(ctx); n != 1 {
		t.Fatalf("fired %d after the ticket qualified again", n)
	}
	if n := countBody(e.comments(r.TicketID), "Pending for 2 days: Printer"); n != 2 {
		t.Fatalf("%d notes", n)
	}
}

func TestRuleValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	agent := e.agent("agent")
	var enduser uint64
	r := e.deliver("support", "m1", "c1", "ann", "x")
	enduser = e.ticket(r.TicketID).RequesterID
	cases := []struct {
		name  string
		r     Rule
		field string
	}{
		{"no title", Rule{Kind: KindTrigger, Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActGroup, "x")}}, "title"},
		{"trigger without conditions", Rule{Kind: KindTrigger, Title: "t", Actions: []Action{act(ActGroup, "x")}}, "conditions"},
		{"trigger without actions", Rule{Kind: KindTrigger, Title: "t", Conditions: all(cond("status", OpIs, "new"))}, "actions"},
		{"automation without time", Rule{Kind: KindAutomation, Title: "a", Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActGroup, "x")}}, "conditions.all"},
		{"macro with conditions", Rule{Kind: KindMacro, Title: "m", Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActGroup, "x")}}, "conditions"},
		{"view with actions", Rule{Kind: KindView, Title: "v", Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActGroup, "x")}}, "actions"},
		{"bad condition", Rule{Kind: KindView, Title: "v", Conditions: &Conditions{Any: []Condition{cond("status", OpIs, "x")}}}, "conditions.any[0].value"},
		{"bad action", Rule{Kind: KindMacro, Title: "m", Actions: []Action{act(ActGroup, "x"), act("nope", 1.0)}}, "actions[1].field"},
		{"unknown assignee", Rule{Kind: KindMacro, Title: "m", Actions: []Action{act(ActAssignee, 999.0)}}, "actions[0].value"},
		{"end user assignee", Rule{Kind: KindMacro, Title: "m", Actions: []Action{act(ActAssignee, float64(enduser))}}, "actions[0].value"},
		{"unknown webhook", Rule{Kind: KindTrigger, Title: "t", Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActNotifyWebhook, 77.0)}}, "actions[0].value"},
		{"unknown kind", Rule{Kind: "sla", Title: "x"}, "kind"},
	}
	before, _ := e.eng.Rules(KindMacro)
	for _, c := range cases {
		r := c.r
		_, err := e.eng.CreateRule(ctx, &r)
		ve, ok := err.(*ValidationError)
		if !ok || ve.Field != c.field {
			t.Errorf("%s: %v, want a validation error naming %s", c.name, err, c.field)
		}
	}
	if after, _ := e.eng.Rules(KindMacro); len(after) != len(before) {
		t.Fatal("a refused rule was stored")
	}
	if _, err := e.eng.CreateRule(ctx, &Rule{Kind: KindMacro, Title: "ok", Actions: []Action{act(ActAssignee, float64(agent))}}); err != nil {
		t.Fatalf("agent assignee: %v", err)
	}
}

// TestCloseWithNote: an automation may close a ticket and leave a note in
// the same update.
func TestCloseWithNote(t *testing.T) {
	e := newEnv(t)
	e.rule(&Rule{Kind: KindAutomation, Title: "close with note", Active: true, Position: -1,
		Conditions: all(cond("status", OpIs, "solved"), cond("hours_since_solved", OpGreaterThan, 1.0)),
		Actions:    []Action{act(ActStatus, "closed"), act(ActInternalNote, "Closed after {{ticket.status}}")}})
	r := e.deliver("support", "m1", "c1", "ann", "x")
	e.setStatus(r.TicketID, ticket.StatusSolved)
	e.clock.Add(2 * time.Hour)
	if n, err := e.eng.RunAutomations(context.Background()); err != nil || n != 1 {
		t.Fatalf("fired %d (%v)", n, err)
	}
	if s := e.ticket(r.TicketID).Status; s != ticket.StatusClosed {
		t.Fatalf("status %s", s)
	}
	if n := countBody(e.comments(r.TicketID), "Closed after closed"); n != 1 {
		t.Fatalf("%d notes", n)
	}
}

// TestAutoCloseFollowsConfigUntilEdited: the seeded automation takes the
// configured delay (tickets.auto_close_after) on every start until an admin
// edits it; from then on the admin's version stands.
func TestAutoCloseFollowsConfigUntilEdited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hoursOf := func() (*Rule, float64) {
		t.Helper()
		autos, err := e.eng.Rules(KindAutomation)
		if err != nil || len(autos) != 1 {
			t.Fatalf("automations %+v (%v)", autos, err)
		}
		for _, c := range autos[0].Conditions.All {
			if c.Field == "hours_since_solved" {
				return autos[0], c.c.num
			}
		}
		t.Fatalf("no hours_since_solved in %+v", autos[0])
		return nil, 0
	}
	seeded, h := hoursOf()
	if h != 96 {
		t.Fatalf("seeded with %v hours", h)
	}
	// The operator shortens the delay in the config and restarts.
	e.opts.AutoCloseAfter = 48 * time.Hour
	e.reopen()
	a, h := hoursOf()
	if h != 48 || a.ID != seeded.ID || a.Title != "Close ticket 2 days after status is set to solved" || !a.CreatedAt.Equal(seeded.CreatedAt) {
		t.Fatalf("after the config change: %v hours, %+v", h, a)
	}
	r := e.deliver("support", "m1", "c1", "ann", "a")
	e.setStatus(r.TicketID, ticket.StatusSolved)
	e.clock.Add(49 * time.Hour)
	if n, err := e.eng.RunAutomations(ctx); err != nil || n != 1 || e.ticket(r.TicketID).Status != ticket.StatusClosed {
		t.Fatalf("closed %d (%v) after 49h with a 48h delay", n, err)
	}
	// An admin edits it: the config no longer changes it.
	edit := *a
	edit.Title = "Close after 3 days"
	edit.Conditions = all(cond("status", OpIs, "solved"), cond("hours_since_solved", OpGreaterThan, 72.0))
	edit.Actions = []Action{act(ActStatus, "closed")}
	if _, err := e.eng.UpdateRule(ctx, &edit); err != nil {
		t.Fatal(err)
	}
	e.opts.AutoCloseAfter = 24 * time.Hour
	e.reopen()
	if a, h := hoursOf(); h != 72 || a.Title != "Close after 3 days" {
		t.Fatalf("the config overrode the admin's edit: %v hours, %+v", h, a)
	}
}

// TestAutomationSkipsABadTicket: a ticket whose change cannot be evaluated
// or written (here a corrupt status record) is skipped and logged; the
// automation still fires on the other tickets of its batch.
func TestAutomationSkipsABadTicket(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.rule(&Rule{Kind: KindAutomation, Title: "remind pending", Active: true,
		Conditions: all(cond("status", OpIs, "pending"), cond("hours_since_pending", OpGreaterThan, 48.0)),
		Actions:    []Action{act(ActAddTags, "reminded")}})
	var ids []uint64
	for _, conv := range []string{"c1", "c2", "c3"} {
		r := e.deliver("support", "m"+conv, conv, "u"+conv, "x")
		e.setStatus(r.TicketID, ticket.StatusPending)
		ids = append(ids, r.TicketID)
	}
	e.process()
	e.update(func(tx *store.Tx) error { return tx.PutRuleValue(spaceSince, id20(ids[1]), []byte("{corrupt")) })
	e.clock.Add(49 * time.Hour)
	n, err := e.eng.RunAutomations(ctx)
	if err != nil || n != 2 {
		t.Fatalf("fired %d (%v), want 2 with the bad ticket skipped", n, err)
	}
	for i, id := range ids {
		if got := slices.Contains(e.ticket(id).Tags, "reminded"); got != (i != 1) {
			t.Errorf("ticket %d reminded: %v", id, got)
		}
	}
}
