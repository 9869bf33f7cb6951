package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// FuzzIfMatch checks the If-Match parser: a value is refused with a 422
// naming the header, or parses so that the exact current tag matches and
// a weak form of it never does.
func FuzzIfMatch(f *testing.F) {
	for _, s := range []string{`"7"`, `W/"7"`, "*", `"1", "7"`, "7", ``, ` , `, `"a"b"`, `W/`, `""`} {
		f.Add(s, uint64(7))
	}
	f.Fuzz(func(t *testing.T, v string, version uint64) {
		r := &http.Request{Header: http.Header{"If-Match": {v}}}
		m, err := parseIfMatch(r)
		if err != nil {
			if ae := asAPIError(err); ae.Status != 422 || ae.Field != "If-Match" {
				t.Fatalf("error %+v", ae)
			}
			return
		}
		tk := &ticket.Ticket{ID: 1, Version: version}
		cur := ticketETag(tk)
		err = m.check(tk)
		listed := m.any
		for _, tag := range m.tags {
			if tag == cur {
				listed = true
			}
		}
		if listed != (err == nil) {
			t.Fatalf("If-Match %q against %s: listed %v, check %v", v, cur, listed, err)
		}
		if err != nil {
			if ae := asAPIError(err); ae.Status != http.StatusPreconditionFailed || ae.Code != CodePreconditionFailed || ae.etag != cur {
				t.Fatalf("412 error %+v", ae)
			}
		}
		// The weak form of the current tag never matches.
		if weak, err := parseIfMatch(&http.Request{Header: http.Header{"If-Match": {"W/" + cur}}}); err != nil || weak.check(tk) == nil {
			t.Fatalf("weak tag matched or was refused: %v", err)
		}
	})
}

// FuzzTicketFilter checks the list filters' query parser: any query is
// refused with a 422 naming one parameter, or yields normalised filters
// (valid status and priority, normalised tags) whose cursor scope is
// stable.
func FuzzTicketFilter(f *testing.F) {
	for _, s := range []string{"tag=vip", "tag=VIP,refund&priority=high", "group=%20billing%20", "updated_since=2026-12-01T09:30:00Z",
		"via=email&status=open", "tag=a%20b", "priority=x", "updated_since=yesterday", "requester_id=0", "tag=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if err := checkQuery(q, ticketFilterParams()...); err != nil {
			return
		}
		fl, scope, err := parseTicketFilter(q)
		if err != nil {
			ae := asAPIError(err)
			if ae.Status != 422 || ae.Field == "" || !strings.Contains(strings.Join(ticketFilterParams(), " "), ae.Field) {
				t.Fatalf("query %q: error %+v", raw, ae)
			}
			return
		}
		if fl.Status != "" && !ticket.ValidStatus(fl.Status) || fl.Priority != "" && !ticket.ValidPriority(fl.Priority) {
			t.Fatalf("query %q: invalid filter accepted %+v", raw, fl)
		}
		if norm, err := ticket.NormalizeTags(fl.Tags); err != nil || strings.Join(norm, ",") != strings.Join(fl.Tags, ",") {
			t.Fatalf("query %q: tags not normalised: %q", raw, fl.Tags)
		}
		if _, again, _ := parseTicketFilter(q); again != scope {
			t.Fatalf("query %q: scope not stable", raw)
		}
	})
}

// FuzzCursor2 checks the two-number cursor: refused with a 422 naming
// "cursor", or re-encoding identically; any position round-trips.
func FuzzCursor2(f *testing.F) {
	f.Add("", uint64(1), uint64(2))
	f.Add(encodeCursor2("tickets", 1<<60, 9), uint64(0), uint64(1))
	f.Add("AQAAAAAAAAAB", uint64(5), uint64(5))
	f.Fuzz(func(t *testing.T, s string, a, b uint64) {
		c, ok, err := decodeCursor2("tickets", s)
		if err != nil {
			if ae := asAPIError(err); ae.Status != 422 || ae.Field != "cursor" {
				t.Fatalf("error %+v", ae)
			}
		} else if ok && encodeCursor2("tickets", c.A, c.B) != s {
			t.Fatalf("cursor %q decodes to %+v which encodes differently", s, c)
		}
		if b == 0 {
			return // no ticket has id 0
		}
		got, ok, err := decodeCursor2("tickets", encodeCursor2("tickets", a, b))
		if err != nil || !ok || got.A != a || got.B != b {
			t.Fatalf("round trip of %d/%d: %+v %v", a, b, got, err)
		}
	})
}
