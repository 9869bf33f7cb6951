package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// The ETag of GET is the version member in quotes, and moves on with
// every change: a PATCH, a comment.
func TestTicketETagIsVersion(t *testing.T) {
	e := newEnv(t)
	tk := e.createTicket(e.admin, "etag", "ada@example.test")
	read := func() (string, ticket.Ticket) {
		r := e.must(200, "GET", "/api/v1/tickets/"+itoa(tk.ID), e.admin, nil)
		var got ticket.Ticket
		r.decode(t, &got)
		var raw map[string]any
		r.decode(t, &raw)
		if v, ok := raw["version"].(string); !ok || v == "" {
			t.Fatalf("version member is not a string: %s", r.body)
		}
		if want := `"` + strconv.FormatUint(got.Version, 10) + `"`; r.header.Get("ETag") != want {
			t.Fatalf("ETag %q, version %d", r.header.Get("ETag"), got.Version)
		}
		return r.header.Get("ETag"), got
	}
	first, _ := read()
	p := e.must(200, "PATCH", "/api/v1/tickets/"+itoa(tk.ID), e.admin, map[string]any{"priority": "high"})
	second, _ := read()
	if second == first || p.header.Get("ETag") != second {
		t.Fatalf("PATCH: ETag %q → %q, PATCH answered %q", first, second, p.header.Get("ETag"))
	}
	c := e.must(201, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", e.admin, map[string]any{"body": "note", "public": false})
	third, _ := read()
	if third == second || c.header.Get("ETag") != third {
		t.Fatalf("comment: ETag %q → %q, comment answered %q", second, third, c.header.Get("ETag"))
	}
	// The list carries the same version.
	var list ticketList
	e.must(200, "GET", "/api/v1/tickets", e.admin, nil).decode(t, &list)
	if len(list.Tickets) != 1 || `"`+strconv.FormatUint(list.Tickets[0].Version, 10)+`"` != third {
		t.Fatalf("list version %+v, ETag %s", list.Tickets, third)
	}
	// If-None-Match: 304 while unchanged, 200 after a change.
	r := e.must(304, "GET", "/api/v1/tickets/"+itoa(tk.ID), e.admin, nil, "If-None-Match: "+third)
	if len(r.body) != 0 || r.header.Get("ETag") != third {
		t.Fatalf("304 with body %q / ETag %q", r.body, r.header.Get("ETag"))
	}
	e.must(200, "GET", "/api/v1/tickets/"+itoa(tk.ID), e.admin, nil, "If-None-Match: "+first)
}

// The lost update: A and B read the same version; A's change with
// If-Match applies, B's with the same (now stale) If-Match is 412 and
// changes nothing, on PATCH and on comments.
func TestIfMatchPreventsLostUpdate(t *testing.T) {
	e := newEnv(t)
	a, _ := e.agentToken("Ada", "ada@example.test")
	b, _ := e.agentToken("Bob", "bob@example.test")
	tk := e.createTicket(a, "collide", "cust@example.test")
	path := "/api/v1/tickets/" + itoa(tk.ID)
	etag := e.must(200, "GET", path, b, nil).header.Get("ETag")

	ra := e.must(200, "PATCH", path, a, map[string]any{"tags": []string{"billing", "vip"}}, "If-Match: "+etag)
	before := e.snap()
	rb := e.must(412, "PATCH", path, b, map[string]any{"tags": []string{"billing", "refund"}}, "If-Match: "+etag)
	ae := rb.apiErr(t)
	if ae.Code != CodePreconditionFailed || ae.Field != "If-Match" || rb.header.Get("ETag") != ra.header.Get("ETag") {
		t.Fatalf("412 answer: %+v, ETag %q (current %q)", ae, rb.header.Get("ETag"), ra.header.Get("ETag"))
	}
	rc := e.must(412, "POST", path+"/comments", b, map[string]any{"body": "late", "public": false}, "If-Match: "+etag)
	if rc.apiErr(t).Code != CodePreconditionFailed {
		t.Fatal("comment with a stale If-Match not refused")
	}
	if after := e.snap(); after != before {
		t.Fatalf("a refused write changed the store: %+v → %+v", before, after)
	}
	if got := e.ticket(tk.ID).Tags; !slices.Equal(got, []string{"billing", "vip"}) {
		t.Fatalf("A's tags lost: %v", got)
	}
	// With the current tag B's change applies.
	cur := ra.header.Get("ETag")
	e.must(201, "POST", path+"/comments", b, map[string]any{"body": "now", "public": false}, "If-Match: "+cur)
	// Lists of tags, *, weak tags, malformed values.
	cur = e.must(200, "GET", path, b, nil).header.Get("ETag")
	cases := []struct {
		name, ifMatch string
		want          int
	}{
		{"list with the current tag", `"1", ` + cur, 200},
		{"star", "*", 200},
		{"weak tag never matches", "W/" + cur, 412},
		{"unquoted", strings.Trim(cur, `"`), 422},
		{"empty list", " , ", 422},
	}
	for _, tc := range cases {
		r := e.must(tc.want, "PATCH", path, b, map[string]any{"group": "g-" + strings.ReplaceAll(tc.name, " ", "-")}, "If-Match: "+tc.ifMatch)
		if tc.want == 422 && r.apiErr(t).Field != "If-Match" {
			t.Errorf("%s: error field %q", tc.name, r.apiErr(t).Field)
		}
	}
	// If-Match on a ticket that does not exist: 404, not 412.
	e.must(404, "PATCH", "/api/v1/tickets/999", b, map[string]any{"group": "x"}, `If-Match: "1"`)
	// Without If-Match the last writer wins (documented behaviour).
	e.must(200, "PATCH", path, b, map[string]any{"tags": []string{"lww"}})
	if got := e.ticket(tk.ID).Tags; !slices.Equal(got, []string{"lww"}) {
		t.Fatalf("last writer did not win: %v", got)
	}
}

// add_tags and remove_tags apply to the tags as they are when the change
// is written: two agents tagging from the same read both keep their tags.
func TestPatchAddRemoveTags(t *testing.T) {
	e := newEnv(t)
	tk := e.createTicket(e.admin, "tags", "ada@example.test")
	path := "/api/v1/tickets/" + itoa(tk.ID)
	e.must(200, "PATCH", path, e.admin, map[string]any{"tags": []string{"billing"}})
	e.must(200, "PATCH", path, e.admin, map[string]any{"add_tags": []string{"VIP", "billing"}})
	e.must(200, "PATCH", path, e.admin, map[string]any{"add_tags": []string{"refund"}})
	var out ticket.Ticket
	e.must(200, "PATCH", path, e.admin, map[string]any{"remove_tags": []string{"billing", "absent"}, "add_tags": []string{"late"}}).decode(t, &out)
	if !slices.Equal(out.Tags, []string{"vip", "refund", "late"}) {
		t.Fatalf("tags %v", out.Tags)
	}
	before := e.snap()
	bad := []struct {
		name  string
		body  string
		field string
	}{
		{"tags with add_tags", `{"tags":["a"],"add_tags":["b"]}`, "tags"},
		{"same tag added and removed", `{"add_tags":["a"],"remove_tags":["A"]}`, "remove_tags"},
		{"null add_tags", `{"add_tags":null}`, "add_tags"},
		{"tag with a comma", `{"add_tags":["a,b"]}`, "add_tags"},
		{"empty tag", `{"remove_tags":[""]}`, "remove_tags"},
	}
	for _, tc := range bad {
		r := e.must(422, "PATCH", path, e.admin, tc.body)
		if f := r.apiErr(t).Field; f != tc.field {
			t.Errorf("%s: field %q, want %q", tc.name, f, tc.field)
		}
	}
	// Over the tag limit through add_tags.
	many := make([]string, ticket.MaxTags)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	e.must(422, "PATCH", path, e.admin, map[string]any{"add_tags": many})
	if after := e.snap(); after != before {
		t.Fatalf("refused patches changed the store")
	}
}

// The list filters and the count route, table-driven, with pagination by
// id and by update time.
func TestListFiltersAndCount(t *testing.T) {
	e := newEnv(t)
	agent, agentID := e.agentToken("Ada", "ada@example.test")
	type spec struct {
		tags     []string
		priority string
		group    string
	}
	specs := []spec{
		{[]string{"vip"}, "high", "billing"},
		{[]string{"vip", "refund"}, "low", ""},
		{nil, "high", "it"},
		{[]string{"refund"}, "", "billing"},
		{[]string{"vip"}, "urgent", "billing"},
	}
	var ids []uint64
	for i, sp := range specs {
		body := map[string]any{"subject": fmt.Sprint("t", i), "comment": map[string]any{"body": "x"},
			"requester": map[string]any{"email": "c@example.test"}, "tags": sp.tags}
		if sp.priority != "" {
			body["priority"] = sp.priority
		}
		if sp.group != "" {
			body["group"] = sp.group
		}
		var tk ticket.Ticket
		e.must(201, "POST", "/api/v1/tickets", agent, body).decode(t, &tk)
		ids = append(ids, tk.ID)
	}
	ch := e.channelTicket("support") // via slack
	list := func(q string) []uint64 {
		var got []uint64
		cursor := ""
		for {
			var page ticketList
			e.must(200, "GET", "/api/v1/tickets?limit=2&"+q+cursor, agent, nil).decode(t, &page)
			for _, tk := range page.Tickets {
				got = append(got, tk.ID)
			}
			if page.NextCursor == nil {
				return got
			}
			cursor = "&cursor=" + *page.NextCursor
		}
	}
	rev := func(is ...int) []uint64 {
		var out []uint64
		for _, i := range is {
			out = append(out, ids[i])
		}
		return out
	}
	cases := []struct {
		q    string
		want []uint64
	}{
		{"tag=vip", rev(4, 1, 0)},
		{"tag=vip,refund", rev(1)},
		{"tag=VIP", rev(4, 1, 0)},
		{"priority=high", rev(2, 0)},
		{"group=billing", rev(4, 3, 0)},
		{"group=billing&tag=vip&priority=urgent", rev(4)},
		{"via=slack", []uint64{ch.ID}},
		{"via=api&tag=refund", rev(3, 1)},
		{"tag=nothing", nil},
		{"updated_since=2000-01-01T00:00:00Z&tag=refund", rev(3, 1)},
		{"updated_since=2999-01-01T00:00:00Z", nil},
		{"sort=updated_at&tag=vip", rev(0, 1, 4)},
	}
	for _, tc := range cases {
		if got := list(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.q, got, tc.want)
		}
		if strings.Contains(tc.q, "sort=") {
			continue
		}
		var n ticketCount
		e.must(200, "GET", "/api/v1/tickets/count?"+tc.q, agent, nil).decode(t, &n)
		if n.Count != len(tc.want) {
			t.Errorf("count %s: %d, want %d", tc.q, n.Count, len(tc.want))
		}
	}
	// Sync by update time: a change moves the ticket to the end.
	e.must(200, "PATCH", "/api/v1/tickets/"+itoa(ids[0]), agent, map[string]any{"assignee_id": agentID})
	if got, want := list("sort=updated_at&tag=vip"), rev(1, 4, 0); !slices.Equal(got, want) {
		t.Errorf("after a change: %v, want %v", got, want)
	}
	bad := []struct{ q, field string }{
		{"tag=a%20b", "tag"},
		{"tag=", "tag"},
		{"priority=extreme", "priority"},
		{"group=", "group"},
		{"updated_since=yesterday", "updated_since"},
		{"sort=subject", "sort"},
		{"via=a%00b", "via"},
		{"colour=red", "colour"},
	}
	for _, tc := range bad {
		for _, path := range []string{"/api/v1/tickets?", "/api/v1/tickets/count?"} {
			if tc.field == "sort" && strings.Contains(path, "count") {
				tc.field = "sort" // count takes no sort: unknown parameter
			}
			r := e.must(422, "GET", path+tc.q, agent, nil)
			if f := r.apiErr(t).Field; f != tc.field {
				t.Errorf("%s%s: field %q, want %q", path, tc.q, f, tc.field)
			}
		}
	}
	// A cursor of another order or other filters is refused.
	var page ticketList
	e.must(200, "GET", "/api/v1/tickets?limit=1&tag=vip", agent, nil).decode(t, &page)
	e.must(422, "GET", "/api/v1/tickets?limit=1&tag=vip&sort=updated_at&cursor="+*page.NextCursor, agent, nil)
	e.must(422, "GET", "/api/v1/tickets?limit=1&tag=refund&cursor="+*page.NextCursor, agent, nil)
}

// Unknown query parameters are refused on every route of the document
// (the provider webhooks excepted), before anything happens.
func TestUnknownQueryParameterOnEveryRoute(t *testing.T) {
	e := newEnv(t)
	tk := e.createTicket(e.admin, "q", "ada@example.test")
	before := e.snap()
	for _, p := range e.srv.Patterns() {
		method, path, ok := strings.Cut(p, " ")
		if !ok || strings.HasPrefix(path, "/hooks/") {
			continue
		}
		path = strings.NewReplacer("{id}", itoa(tk.ID), "{macro_id}", "1", "{channel}", "support").Replace(path)
		r := e.req(method, path+"?bogus_param=1", e.admin, nil)
		if r.status != 422 || r.apiErr(t).Field != "bogus_param" {
			t.Errorf("%s %s?bogus_param=1: %d %s", method, path, r.status, r.body)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("refused requests changed the store")
	}
}

// Ids are decimal without leading zeros; invalid UTF-8 in a JSON body is a
// 422, not a silent U+FFFD.
func TestCanonicalIDsAndUTF8(t *testing.T) {
	e := newEnv(t)
	tk := e.createTicket(e.admin, "ids", "ada@example.test")
	for _, path := range []string{"/api/v1/tickets/000" + itoa(tk.ID), "/api/v1/tickets/+" + itoa(tk.ID), "/api/v1/tickets/0", "/api/v1/users/01"} {
		e.must(404, "DELETE", "/api/v1/tokens/0001", e.admin, nil)
		e.must(404, "GET", path, e.admin, nil)
	}
	before := e.snap()
	for _, body := range [][]byte{
		[]byte("{\"body\":\"caf\xe9\",\"public\":false}"),
		[]byte("{\"body\":\"ok\",\"public\":false,\"x\xff\":1}"),
		[]byte(`{"body":"lone \ud800 high","public":false}`),
		[]byte(`{"body":"lone \udc00 low","public":false}`),
		[]byte(`{"body":"reversed \udc00\ud800","public":false}`),
	} {
		r := e.must(422, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", e.admin, body)
		if ae := r.apiErr(t); !strings.Contains(ae.Message, "UTF-8") && !strings.Contains(ae.Message, "surrogate") {
			t.Errorf("message %q", ae.Message)
		}
	}
	if after := e.snap(); after != before {
		t.Fatal("invalid UTF-8 changed the store")
	}
	// Valid multi-byte text is kept byte for byte.
	var c ticket.Comment
	e.must(201, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", e.admin, `{"body":"café ✓ \ud83d\ude00 \\ud800","public":false}`).decode(t, &c)
	if c.Body != "café ✓ 😀 \\ud800" {
		t.Fatalf("body %q", c.Body)
	}
}
