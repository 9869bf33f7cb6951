package rules

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

func TestActionsApply(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	base := func() *ticket.Ticket {
		return &ticket.Ticket{ID: 4, Subject: "Printer", Status: ticket.StatusOpen, Priority: ticket.PriorityLow,
			Group: "Tier 1", Brand: "acme", AssigneeID: 9, Tags: []string{"a", "b"}}
	}
	cases := []struct {
		field string
		value any
		check func(*ticket.Ticket, *changeSet) bool
	}{
		{ActStatus, "pending", func(t *ticket.Ticket, _ *changeSet) bool { return t.Status == ticket.StatusPending }},
		{ActStatus, "solved", func(t *ticket.Ticket, _ *changeSet) bool {
			return t.Status == ticket.StatusSolved && t.SolvedAt.Equal(at)
		}},
		{ActPriority, "urgent", func(t *ticket.Ticket, _ *changeSet) bool { return t.Priority == ticket.PriorityUrgent }},
		{ActPriority, "", func(t *ticket.Ticket, _ *changeSet) bool { return t.Priority == "" }},
		{ActGroup, " Tier 2 ", func(t *ticket.Ticket, _ *changeSet) bool { return t.Group == "Tier 2" }},
		{ActGroup, "", func(t *ticket.Ticket, _ *changeSet) bool { return t.Group == "" }},
		{ActBrand, "globex", func(t *ticket.Ticket, _ *changeSet) bool { return t.Brand == "globex" }},
		{ActAssignee, 0.0, func(t *ticket.Ticket, _ *changeSet) bool { return t.AssigneeID == 0 }},
		{ActAssignee, 12.0, func(t *ticket.Ticket, _ *changeSet) bool { return t.AssigneeID == 12 }},
		{ActAddTags, "c A", func(t *ticket.Ticket, _ *changeSet) bool { return slices.Equal(t.Tags, []string{"a", "b", "c"}) }},
		{ActRemoveTags, []any{"a", "zz"}, func(t *ticket.Ticket, _ *changeSet) bool { return slices.Equal(t.Tags, []string{"b"}) }},
		{ActSetTags, []any{"x", "y"}, func(t *ticket.Ticket, _ *changeSet) bool { return slices.Equal(t.Tags, []string{"x", "y"}) }},
		{ActSetTags, "", func(t *ticket.Ticket, _ *changeSet) bool { return len(t.Tags) == 0 }},
		{ActInternalNote, "Seen by {{ticket.id}}", func(_ *ticket.Ticket, cs *changeSet) bool {
			return slices.Equal(cs.notes, []string{"Seen by {{ticket.id}}"})
		}},
		{ActPublicReply, "Hi {{requester.first_name}}", func(_ *ticket.Ticket, cs *changeSet) bool {
			return slices.Equal(cs.replies, []string{"Hi {{requester.first_name}}"})
		}},
		{ActNotifyWebhook, 3.0, func(_ *ticket.Ticket, cs *changeSet) bool {
			return len(cs.webhooks) == 1 && cs.webhooks[0] == webhookCall{webhookID: 3, kind: KindTrigger, ruleID: 1}
		}},
	}
	for _, c := range cases {
		a := act(c.field, c.value)
		if err := compileAction(&a, KindTrigger, "a"); err != nil {
			t.Fatalf("%s %v: %v", c.field, c.value, err)
		}
		tk := base()
		cs := &changeSet{t: tk, at: at}
		if err := a.apply(cs, KindTrigger, 1); err != nil {
			t.Fatalf("%s %v: apply: %v", c.field, c.value, err)
		}
		if !c.check(tk, cs) {
			t.Errorf("%s %v: ticket %+v, change set %+v", c.field, c.value, tk, cs)
		}
	}
}

func TestActionRefusedByLifecycle(t *testing.T) {
	a := act(ActStatus, "closed")
	if err := compileAction(&a, KindTrigger, "a"); err != nil {
		t.Fatal(err)
	}
	tk := &ticket.Ticket{Status: ticket.StatusOpen}
	if err := a.apply(&changeSet{t: tk}, KindTrigger, 1); err == nil || tk.Status != ticket.StatusOpen {
		t.Fatalf("closing an open ticket: %v, status %s", err, tk.Status)
	}
}

// TestAddTagsKeepsTheTagLimit: adding tags past ticket.MaxTags is refused
// (the action is skipped, the ticket keeps its tags), as the API refuses it.
func TestAddTagsKeepsTheTagLimit(t *testing.T) {
	tags := make([]string, 0, ticket.MaxTags)
	for i := range ticket.MaxTags - 1 {
		tags = append(tags, fmt.Sprintf("t%d", i))
	}
	ok := act(ActAddTags, "t0 last")
	over := act(ActAddTags, "one two")
	for _, a := range []*Action{&ok, &over} {
		if err := compileAction(a, KindTrigger, "a"); err != nil {
			t.Fatal(err)
		}
	}
	tk := &ticket.Ticket{Status: ticket.StatusOpen, Tags: slices.Clone(tags)}
	if err := ok.apply(&changeSet{t: tk}, KindTrigger, 1); err != nil || len(tk.Tags) != ticket.MaxTags {
		t.Fatalf("up to the limit: %v, %d tags", err, len(tk.Tags))
	}
	if err := over.apply(&changeSet{t: tk}, KindTrigger, 1); err == nil || len(tk.Tags) != ticket.MaxTags || slices.Contains(tk.Tags, "one") {
		t.Fatalf("past the limit: %v, %d tags", err, len(tk.Tags))
	}
}

func TestActionValidationNamesTheField(t *testing.T) {
	cases := []struct {
		kind  Kind
		a     Action
		field string
	}{
		{KindTrigger, act("explode", 1.0), "a.field"},
		{KindTrigger, act(ActStatus, "new"), "a.value"},
		{KindTrigger, act(ActStatus, "done"), "a.value"},
		{KindTrigger, act(ActPriority, "p1"), "a.value"},
		{KindTrigger, act(ActGroup, 5.0), "a.value"},
		{KindTrigger, act(ActAssignee, "bob"), "a.value"},
		{KindTrigger, act(ActAddTags, ""), "a.value"},
		{KindTrigger, act(ActRemoveTags, []any{3.0}), "a.value"},
		{KindTrigger, act(ActInternalNote, "  "), "a.value"},
		{KindTrigger, act(ActPublicReply, "Hi {{requester.password}}"), "a.value"},
		{KindTrigger, act(ActPublicReply, "{{ ticket.id }} {{ printf \"%s\" }}"), ""}, // not a placeholder: kept as text
		{KindTrigger, act(ActNotifyWebhook, 0.0), "a.value"},
		{KindMacro, act(ActNotifyWebhook, 1.0), "a.field"},
	}
	for _, c := range cases {
		a := c.a
		err := compileAction(&a, c.kind, "a")
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.a, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s %+v: error %v, want one naming %s", c.kind, c.a, err, c.field)
		}
	}
}

func TestRender(t *testing.T) {
	tk := &ticket.Ticket{ID: 42, Subject: "VPN", Status: ticket.StatusOpen, Priority: "high", Group: "Net",
		Channel: "support", Via: "email", Brand: "acme", Tags: []string{"a", "b"}, RequesterID: 1, AssigneeID: 2}
	users := func(id uint64) *ticket.User {
		switch id {
		case 1:
			return &ticket.User{ID: 1, Name: "Ada Lovelace", Email: "ada@example.test"}
		case 2:
			return &ticket.User{ID: 2, Name: "Bob Agent", Email: "bob@example.test"}
		}
		return nil
	}
	cases := map[string]string{
		"#{{ticket.id}} {{ ticket.subject }}":                    "#42 VPN",
		"{{ticket.status}}/{{ticket.priority}}/{{ticket.group}}": "open/high/Net",
		"{{ticket.channel}} {{ticket.via}} {{ticket.brand}}":     "support email acme",
		"{{ticket.tags}}": "a b",
		"Hi {{requester.first_name}} ({{requester.name}})":     "Hi Ada (Ada Lovelace)",
		"{{requester.email}} {{requester.id}}":                 "ada@example.test 1",
		"{{assignee.name}} {{assignee.email}} {{assignee.id}}": "Bob Agent bob@example.test 2",
		"{{unknown.thing}} stays":                              "{{unknown.thing}} stays",
		"no placeholders":                                      "no placeholders",
		"{{ticket.subject}}{{ticket.subject}}":                 "VPNVPN",
	}
	for in, want := range cases {
		if got := render(in, tk, users); got != want {
			t.Errorf("render(%q) = %q, want %q", in, got, want)
		}
	}
	// A value containing a placeholder is not expanded again.
	tk.Subject = "{{requester.email}}"
	if got := render("{{ticket.subject}}", tk, users); got != "{{requester.email}}" {
		t.Errorf("value re-expanded: %q", got)
	}
}
