package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// FuzzCompileRule feeds rule definitions as the API receives them: a
// definition is either refused with a validation error naming a field, or
// compiles and evaluates against a ticket without panicking.
func FuzzCompileRule(f *testing.F) {
	f.Add([]byte(`{"kind":"trigger","title":"t","conditions":{"all":[{"field":"status","operator":"is","value":"new"}]},"actions":[{"field":"add_tags","value":"a b"}]}`))
	f.Add([]byte(`{"kind":"automation","title":"a","conditions":{"all":[{"field":"hours_since_solved","operator":"greater_than","value":96}]},"actions":[{"field":"status","value":"closed"}]}`))
	f.Add([]byte(`{"kind":"view","title":"v","conditions":{"any":[{"field":"tags","operator":"includes","value":["x"]},{"field":"priority","operator":"less_than","value":"high"}]}}`))
	f.Add([]byte(`{"kind":"macro","title":"m","actions":[{"field":"public_reply","value":"Hi {{requester.name}}"},{"field":"assignee_id","value":1e300}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Rule
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := compileRule(&r)
		if err != nil {
			ve, ok := err.(*ValidationError)
			if !ok || ve.Field == "" {
				t.Fatalf("error %v does not name a field", err)
			}
			return
		}
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		tk := &ticket.Ticket{ID: 1, Status: ticket.StatusSolved, SolvedAt: now.Add(-100 * time.Hour), Tags: []string{"x"}}
		r.Conditions.match(&subject{t: tk, now: now, update: &update{created: true, comments: []string{"hi"}}})
		cs := &changeSet{t: tk, at: now}
		for i := range r.Actions {
			_ = r.Actions[i].apply(cs, r.Kind, 1)
		}
		for _, n := range append(cs.notes, cs.replies...) {
			render(n, tk, func(uint64) *ticket.User { return nil })
		}
	})
}

// FuzzRender checks that substitution never executes or re-expands
// anything: text without "{{" comes back unchanged.
func FuzzRender(f *testing.F) {
	f.Add("Hi {{requester.name}}, #{{ticket.id}}", "{{ticket.subject}}")
	f.Add("{{ {{ticket.id}} }}", "}}{{")
	f.Fuzz(func(t *testing.T, text, subject string) {
		tk := &ticket.Ticket{ID: 9, Subject: subject, RequesterID: 2}
		users := func(uint64) *ticket.User { return &ticket.User{Name: subject} }
		out := render(text, tk, users)
		if !strings.Contains(text, "{{") && out != text {
			t.Fatalf("render changed %q into %q", text, out)
		}
	})
}
