package rules

import (
	"reflect"
	"slices"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestViewDriverFilter: a view reads the store index its "is" conditions
// name (status, channel, assignee, requester); other operators and fields
// are checked ticket by ticket.
func TestViewDriverFilter(t *testing.T) {
	cases := []struct {
		name string
		all  []Condition
		want store.TicketFilter
	}{
		{"status", []Condition{cond("status", OpIs, "pending")}, store.TicketFilter{Status: ticket.StatusPending}},
		{"channel, any case", []Condition{cond("channel", OpIs, " Support ")}, store.TicketFilter{Channel: "support"}},
		{"assignee and requester", []Condition{cond("assignee_id", OpIs, 4.0), cond("requester_id", OpIs, 9.0)}, store.TicketFilter{AssigneeID: 4, RequesterID: 9}},
		{"all four", []Condition{cond("subject", OpContains, "x"), cond("status", OpIs, "open"), cond("channel", OpIs, "it-help"), cond("assignee_id", OpIs, 2.0)},
			store.TicketFilter{Status: ticket.StatusOpen, Channel: "it-help", AssigneeID: 2}},
		{"no index for is_not or other fields", []Condition{cond("status", OpIsNot, "open"), cond("channel", OpIsNot, "x"), cond("group", OpIs, "g")}, store.TicketFilter{}},
		{"unassigned is no index", []Condition{cond("assignee_id", OpIs, 0.0)}, store.TicketFilter{}},
	}
	for _, c := range cases {
		cs := &Conditions{All: c.all}
		if err := compileConditions(cs, KindView); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := driverFilter(cs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: filter %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestViewTickets: a view lists its matching tickets newest first, pages
// with Next, and matches the channel whatever the case it was written in.
func TestViewTickets(t *testing.T) {
	e := newEnv(t)
	var support []uint64
	for i, conv := range []string{"c1", "c2", "c3", "c4"} {
		r := e.deliver("support", "m"+conv, conv, "u"+conv, "hello")
		if i != 2 {
			support = append(support, r.TicketID)
		} else {
			e.setStatus(r.TicketID, ticket.StatusPending)
		}
	}
	e.deliver("it-help", "s1", "D1", "T1:U1", "hello")
	v := e.rule(&Rule{Kind: KindView, Title: "New on support", Active: true,
		Conditions: all(cond("channel", OpIs, "SUPPORT"), cond("status", OpIs, "new"))})
	var got []uint64
	var after uint64
	for range 10 {
		page, err := e.eng.ViewTickets(v.ID, 2, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Tickets {
			got = append(got, tk.ID)
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	slices.Reverse(support)
	if !slices.Equal(got, support) {
		t.Fatalf("view listed %v, want %v (newest first)", got, support)
	}
}
