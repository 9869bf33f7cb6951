package search

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// FuzzParse feeds arbitrary q values to the parser and then to a real
// index: the parser never panics, refuses only with a *QueryError that
// says what is wrong, keeps every term as written, and whatever it accepts
// runs as a search without any other error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"refund", `"paper jam" floor`, "status<solved tag:vip", "-tag:vip refund*", "assignee:me", "assignee:none",
		"requester:ada@customer.test", "group:\"Tier 2\"", "created>2026-12-01", "updated<7d", "updated>=4h", "priority:none",
		"colour:blue", `"unterminated`, "status:bogus", "*", "-", "a*b", "ab*", "ZX-81", "Café ÆØÅ", "\x00", "\xff", "-\"x\"",
		"updated:7d", "created<=2026-02-30", "status>closed", "tag:", `tag:"a b"`, strings.Repeat("w ", 40),
	} {
		f.Add(s)
	}
	e := newEnv(f)
	u := e.user("Ada", "ada@customer.test", ticket.RoleEndUser)
	e.tkt("Refund for my order", "The café printer shows a paper jam.", u, func(t *ticket.Ticket) { t.Tags = []string{"vip"} })
	e.catchUp()
	f.Fuzz(func(t *testing.T, q string) {
		parsed, err := Parse(q, e.clock.Now())
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) || qe.Message == "" {
				t.Fatalf("Parse(%q): %v is not a QueryError with a message", q, err)
			}
			if qe.Term != "" && !strings.Contains(q, qe.Term) {
				t.Fatalf("Parse(%q): the error names %q, which is not in the query", q, qe.Term)
			}
			return
		}
		if len(parsed.Texts)+len(parsed.Filters) == 0 {
			t.Fatalf("Parse(%q) accepted a query without terms", q)
		}
		for _, x := range parsed.Texts {
			if !strings.Contains(q, x.Raw) || x.Value == "" {
				t.Fatalf("Parse(%q): text %+v", q, x)
			}
		}
		for _, x := range parsed.Filters {
			if !strings.Contains(q, x.Raw) {
				t.Fatalf("Parse(%q): filter %+v", q, x)
			}
			if !x.From.IsZero() && !x.To.IsZero() && !x.From.Before(x.To) {
				t.Fatalf("Parse(%q): empty date range %+v", q, x)
			}
		}
		_, err = e.x.Search(context.Background(), Request{Query: q, Actor: u, Limit: 5})
		var qe *QueryError
		if err != nil && !errors.As(err, &qe) {
			t.Fatalf("Search(%q): %v", q, err)
		}
	})
}
