package rules

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

func TestConditionOperators(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tk := &ticket.Ticket{
		ID: 7, Subject: "VPN is down again", Status: ticket.StatusPending, Priority: ticket.PriorityHigh,
		Channel: "support", Via: "email", Brand: "acme", Group: "Tier 1", RequesterID: 3, AssigneeID: 5,
		Tags: []string{"vpn", "urgent"}, CreatedAt: now.Add(-50 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour),
		LastInboundAt: now.Add(-30 * time.Hour),
	}
	since := map[ticket.Status]time.Time{ticket.StatusPending: now.Add(-49 * time.Hour), ticket.StatusOpen: now.Add(-50 * time.Hour),
		ticket.StatusNew: now.Add(-52 * time.Hour), ticket.StatusHold: now.Add(-10*time.Hour - 30*time.Minute)}
	up := &update{created: true, via: "email", comments: []string{"Hello, my VPN is DOWN"},
		prev: &fieldSnap{Status: ticket.StatusOpen, Priority: ticket.PriorityHigh, Group: "Tier 2", AssigneeID: 5}}
	cases := []struct {
		field, op string
		value     any
		want      bool
	}{
		{"status", OpIs, "pending", true},
		{"status", OpIs, "open", false},
		{"status", OpIsNot, "open", true},
		{"status", OpIsNot, "pending", false},
		{"status", OpLessThan, "solved", true},
		{"status", OpLessThan, "open", false},
		{"status", OpGreaterThan, "open", true},
		{"status", OpGreaterThan, "hold", false},
		{"priority", OpIs, "high", true},
		{"priority", OpIsNot, "high", false},
		{"priority", OpLessThan, "urgent", true},
		{"priority", OpLessThan, "normal", false},
		{"priority", OpGreaterThan, "normal", true},
		{"priority", OpGreaterThan, "", true},
		{"priority", OpGreaterThan, "urgent", false},
		{"channel", OpIs, "support", true},
		{"channel", OpIs, "SUPPORT", true},
		{"channel", OpIsNot, "support", false},
		{"via", OpIs, "email", true},
		{"via", OpIsNot, "slack", true},
		{"brand", OpIs, "acme", true},
		{"brand", OpIsNot, "acme", false},
		{"group", OpIs, "tier 1", true},
		{"group", OpIsNot, "Tier 2", true},
		{"assignee_id", OpIs, 5.0, true},
		{"assignee_id", OpIs, 0.0, false},
		{"assignee_id", OpIsNot, 5.0, false},
		{"requester_id", OpIs, json.Number("3"), true},
		{"requester_id", OpIsNot, 3.0, false},
		{"tags", OpIncludes, []any{"vpn", "other"}, true},
		{"tags", OpIncludes, "other more", false},
		{"tags", OpNotIncludes, "other more", true},
		{"tags", OpNotIncludes, []any{"urgent"}, false},
		{"subject", OpIs, "vpn is down again", true},
		{"subject", OpIsNot, "vpn is down again", false},
		{"subject", OpContains, "DOWN", true},
		{"subject", OpContains, "printer", false},
		{"subject", OpNotContains, "printer", true},
		{"subject", OpNotContains, "vpn", false},
		{"comment", OpContains, "vpn is down", true},
		{"comment", OpNotContains, "vpn", false},
		{"comment", OpIs, "hello, my vpn is down", true},
		{"comment", OpIsNot, "hello", true},
		{"update_type", OpIs, "created", true},
		{"update_type", OpIsNot, "created", false},
		{"update_via", OpIs, "email", true},
		{"update_via", OpIsNot, "api", true},
		{"hours_since_created", OpGreaterThan, 49.5, true},
		{"hours_since_created", OpLessThan, 49.5, false},
		{"hours_since_created", OpIs, 50.0, true},
		{"hours_since_updated", OpLessThan, 3.0, true},
		{"hours_since_updated", OpGreaterThan, 3.0, false},
		{"hours_since_requester_update", OpGreaterThan, 24.0, true},
		{"hours_since_pending", OpGreaterThan, 48.0, true},
		{"hours_since_pending", OpLessThan, 48.0, false},
		{"hours_since_open", OpIs, 50.0, true},
		{"hours_since_new", OpGreaterThan, 51.0, true},
		{"hours_since_new", OpLessThan, 51.0, false},
		{"hours_since_hold", OpIs, 10.0, true},
		{"hours_since_hold", OpGreaterThan, 11.0, false},
		{"hours_since_solved", OpGreaterThan, 0.0, false}, // never solved
		// Changes against the ticket before the update (open -> pending,
		// Tier 2 -> Tier 1; priority and assignee unchanged).
		{"status", OpChanged, nil, true},
		{"status", OpNotChanged, nil, false},
		{"status", OpChangedTo, "pending", true},
		{"status", OpChangedTo, "solved", false},
		{"status", OpChangedFrom, "open", true},
		{"status", OpChangedFrom, "new", false},
		{"priority", OpChanged, nil, false},
		{"priority", OpNotChanged, nil, true},
		{"priority", OpChangedTo, "high", false},
		{"group", OpChanged, nil, true},
		{"group", OpChangedTo, "TIER 1", true},
		{"group", OpChangedFrom, "tier 2", true},
		{"assignee_id", OpChanged, nil, false},
		{"assignee_id", OpChangedFrom, 5.0, false},
	}
	for _, c := range cases {
		cd := Condition{Field: c.field, Operator: c.op, Value: c.value}
		if err := compileCondition(&cd, KindTrigger, "c"); err != nil {
			t.Fatalf("%s %s %v: compile: %v", c.field, c.op, c.value, err)
		}
		got := cd.match(&subject{t: tk, now: now, statusSince: since, update: up})
		if got != c.want {
			t.Errorf("%s %s %v = %v, want %v", c.field, c.op, c.value, got, c.want)
		}
	}
}

func TestConditionFallbacks(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tk := &ticket.Ticket{Status: ticket.StatusSolved, SolvedAt: now.Add(-97 * time.Hour), UpdatedAt: now.Add(-97 * time.Hour)}
	c := cond("hours_since_solved", OpGreaterThan, 96.0)
	if err := compileCondition(&c, KindAutomation, "c"); err != nil {
		t.Fatal(err)
	}
	if !c.match(&subject{t: tk, now: now}) {
		t.Fatal("hours_since_solved should fall back to solved_at")
	}
	// Trigger-only fields never match outside an update.
	for _, f := range []string{"comment", "update_type", "update_via"} {
		v := any("x")
		if f == "update_type" {
			v = "created"
		}
		c := cond(f, OpIs, v)
		if err := compileCondition(&c, KindTrigger, "c"); err != nil {
			t.Fatal(err)
		}
		if c.match(&subject{t: tk, now: now}) {
			t.Errorf("%s matched without an update", f)
		}
	}
}

func TestConditionValidationNamesTheField(t *testing.T) {
	cases := []struct {
		kind  Kind
		c     Condition
		field string
	}{
		{KindTrigger, cond("colour", OpIs, "red"), "c.field"},
		{KindTrigger, cond("status", OpContains, "open"), "c.operator"},
		{KindTrigger, cond("status", OpIs, "opened"), "c.value"},
		{KindTrigger, cond("priority", OpIs, 3.0), "c.value"},
		{KindTrigger, cond("priority", OpIs, nil), "c.value"},
		{KindTrigger, cond("tags", OpIs, "vpn"), "c.operator"},
		{KindTrigger, cond("tags", OpIncludes, 7.0), "c.value"},
		{KindTrigger, cond("tags", OpIncludes, ""), "c.value"},
		{KindTrigger, cond("tags", OpIncludes, []any{"ok", 1.0}), "c.value"},
		{KindTrigger, cond("assignee_id", OpIs, -1.0), "c.value"},
		{KindTrigger, cond("assignee_id", OpIs, 1.5), "c.value"},
		{KindTrigger, cond("subject", OpContains, " "), "c.value"},
		{KindTrigger, cond("subject", OpIs, 3.0), "c.value"},
		{KindTrigger, cond("update_type", OpIs, "deleted"), "c.value"},
		{KindTrigger, cond("hours_since_created", OpGreaterThan, "soon"), "c.value"},
		{KindTrigger, cond("hours_since_created", OpGreaterThan, -2.0), "c.value"},
		{KindTrigger, cond("hours_since_created", OpGreaterThan, 1e300), "c.value"},
		{KindTrigger, cond("hours_since_created", OpContains, 2.0), "c.operator"},
		{KindAutomation, cond("comment", OpContains, "x"), "c.field"},
		{KindView, cond("update_type", OpIs, "created"), "c.field"},
		{KindAutomation, cond("status", OpChangedTo, "solved"), "c.operator"},
		{KindView, cond("group", OpChanged, nil), "c.operator"},
		{KindTrigger, cond("status", OpChanged, "solved"), "c.value"},
		{KindTrigger, cond("status", OpChangedTo, "done"), "c.value"},
		{KindTrigger, cond("brand", OpChanged, nil), "c.operator"},
	}
	for _, c := range cases {
		cd := c.c
		err := compileCondition(&cd, c.kind, "c")
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s %+v: error %v, want one naming %s", c.kind, c.c, err, c.field)
		}
	}
}

func TestConditionsAllAny(t *testing.T) {
	tk := &ticket.Ticket{Status: ticket.StatusOpen, Tags: []string{"a"}}
	mk := func(all, anyc []Condition) *Conditions {
		cs := &Conditions{All: all, Any: anyc}
		if err := compileConditions(cs, KindView); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	open := cond("status", OpIs, "open")
	solved := cond("status", OpIs, "solved")
	tagA := cond("tags", OpIncludes, "a")
	cases := []struct {
		name string
		cs   *Conditions
		want bool
	}{
		{"all match", mk([]Condition{open, tagA}, nil), true},
		{"one of all fails", mk([]Condition{open, solved}, nil), false},
		{"any: one matches", mk(nil, []Condition{solved, tagA}), true},
		{"any: none matches", mk(nil, []Condition{solved}), false},
		{"all and any", mk([]Condition{open}, []Condition{solved, tagA}), true},
		{"all ok, any fails", mk([]Condition{open}, []Condition{solved}), false},
	}
	for _, c := range cases {
		if got := c.cs.match(&subject{t: tk}); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestChangeOperatorsAfterFields: change operators compare the fields
// before the update with the fields as the update left them, plus what the
// trigger cycle changed, not with later changes to the ticket.
func TestChangeOperatorsAfterFields(t *testing.T) {
	open := fieldSnap{Status: ticket.StatusOpen, Group: "A"}
	solved := fieldSnap{Status: ticket.StatusSolved, Group: "A"}
	cases := []struct {
		name     string
		up       update
		ticketSt ticket.Status
		op       string
		value    any
		want     bool
	}{
		{"no backlog, no change", update{prev: &open, after: &open, base: open}, ticket.StatusOpen, OpChanged, nil, false},
		{"the cycle changed it", update{prev: &open, after: &open, base: open}, ticket.StatusPending, OpChangedTo, "pending", true},
		{"solved later (backlog): not this update's change", update{prev: &open, after: &open, base: solved}, ticket.StatusSolved, OpChanged, nil, false},
		{"this update solved it, still solved", update{prev: &open, after: &solved, base: solved}, ticket.StatusSolved, OpChangedTo, "solved", true},
		{"this update solved it, reopened since", update{prev: &open, after: &solved, base: open}, ticket.StatusOpen, OpChangedFrom, "open", true},
		{"no after: the ticket now", update{prev: &open}, ticket.StatusHold, OpChangedTo, "hold", true},
	}
	for _, c := range cases {
		cd := cond("status", c.op, c.value)
		if err := compileCondition(&cd, KindTrigger, "c"); err != nil {
			t.Fatal(err)
		}
		up := c.up
		if got := cd.match(&subject{t: &ticket.Ticket{Status: c.ticketSt, Group: "A"}, update: &up}); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
