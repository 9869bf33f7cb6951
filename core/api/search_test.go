package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/search"
)

// withSearch gives the server a real search index that follows the store
// on its own goroutine, as `patchbay serve` does.
func withSearch(t *testing.T) func(*Options) {
	return func(o *Options) {
		x, err := search.Open(o.Store, search.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = x.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
			x.Close()
		})
		o.Search = x
	}
}

// searchPage is a decoded answer of GET /api/v1/search.
type searchPage struct {
	Tickets []struct {
		ID     uint64       `json:"id"`
		Status string       `json:"status"`
		Match  *searchMatch `json:"match"`
	} `json:"tickets"`
	NextCursor *string `json:"next_cursor"`
}

func (e *env) search(token, q string, extra ...string) *searchPage {
	e.t.Helper()
	path := "/api/v1/search?q=" + url.QueryEscape(q)
	for _, x := range extra {
		path += "&" + x
	}
	var p searchPage
	e.must(200, "GET", path, token, nil).decode(e.t, &p)
	return &p
}

// awaitSearch polls until q finds want tickets (the follower indexes each
// commit in the background, typically within milliseconds).
func (e *env) awaitSearch(token, q string, want int) *searchPage {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := e.search(token, q)
		if len(p.Tickets) == want || time.Now().After(deadline) {
			if len(p.Tickets) != want {
				e.t.Fatalf("search %q: %d tickets, want %d", q, len(p.Tickets), want)
			}
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSearchRoute(t *testing.T) {
	e := newEnv(t, withSearch(t))
	agent, agentID := e.agentToken("Grace", "grace@agents.test")
	t1 := e.createTicket(agent, "Refund request", "ada@customer.test")
	t2 := e.createTicket(agent, "Printer offline", "bob@customer.test")
	note := e.must(201, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", t2.ID), agent,
		map[string]any{"body": "Internal: the vendor case is Xylophage-7.", "public": false})
	var c struct {
		ID uint64 `json:"id"`
	}
	note.decode(t, &c)
	e.must(200, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", t1.ID), agent, map[string]any{"assignee_id": agentID})

	// A word only in an internal note is found, with the note as match.
	p := e.awaitSearch(agent, "xylophage", 1)
	if p.Tickets[0].ID != t2.ID || p.Tickets[0].Match == nil || p.Tickets[0].Match.CommentID != c.ID ||
		!strings.Contains(p.Tickets[0].Match.Snippet, "Xylophage-7") {
		t.Fatalf("search xylophage = %+v", p.Tickets[0])
	}
	// status:solved excludes it while it is new; status<solved keeps it.
	if p := e.search(agent, "xylophage status:solved"); len(p.Tickets) != 0 {
		t.Fatalf("status:solved found %d tickets", len(p.Tickets))
	}
	if p := e.search(agent, "xylophage status<solved"); len(p.Tickets) != 1 {
		t.Fatalf("status<solved found %d tickets", len(p.Tickets))
	}
	// assignee:me is the token's agent.
	p = e.awaitSearch(agent, "assignee:me", 1)
	if p.Tickets[0].ID != t1.ID || p.Tickets[0].Match != nil {
		t.Fatalf("assignee:me = %+v", p.Tickets)
	}
	// The admin token has no assigned tickets.
	if p := e.search(e.admin, "assignee:me"); len(p.Tickets) != 0 {
		t.Fatalf("admin assignee:me = %+v", p.Tickets)
	}
	// The requester's email finds their ticket.
	if p := e.search(agent, "requester:ada@customer.test"); len(p.Tickets) != 1 || p.Tickets[0].ID != t1.ID {
		t.Fatalf("requester:ada = %+v", p.Tickets)
	}

	// Every hit is the list's rendering of the ticket, plus "match".
	var list struct {
		Tickets []json.RawMessage `json:"tickets"`
	}
	e.must(200, "GET", "/api/v1/tickets", agent, nil).decode(t, &list)
	listed := map[uint64]map[string]any{}
	for _, raw := range list.Tickets {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		listed[uint64(m["id"].(float64))] = m
	}
	var hits struct {
		Tickets []map[string]any `json:"tickets"`
	}
	e.awaitSearch(agent, "printer xylophage", 1)
	e.must(200, "GET", "/api/v1/search?q=printer+xylophage", agent, nil).decode(t, &hits)
	got := hits.Tickets[0]
	if _, ok := got["match"]; !ok {
		t.Fatalf("no match member: %v", got)
	}
	delete(got, "match")
	want, _ := json.Marshal(listed[t2.ID])
	have, _ := json.Marshal(got)
	if !bytes.Equal(want, have) {
		t.Fatalf("search renders the ticket as\n%s\nthe list as\n%s", have, want)
	}
}

func TestSearchRoutePages(t *testing.T) {
	e := newEnv(t, withSearch(t))
	agent, _ := e.agentToken("Grace", "grace@agents.test")
	var created []uint64
	for i := range 5 {
		created = append(created, e.createTicket(agent, fmt.Sprintf("Pagination case %d", i), "ada@customer.test").ID)
	}
	e.awaitSearch(agent, "pagination", 5)
	for _, sort := range []string{"", "sort=updated_at", "sort=created_at", "sort=relevance"} {
		seen := map[uint64]bool{}
		cursor := ""
		pages := 0
		for {
			extra := []string{"limit=2"}
			if sort != "" {
				extra = append(extra, sort)
			}
			if cursor != "" {
				extra = append(extra, "cursor="+url.QueryEscape(cursor))
			}
			p := e.search(agent, "pagination", extra...)
			pages++
			for _, tk := range p.Tickets {
				if seen[tk.ID] {
					t.Fatalf("%s: ticket %d twice", sort, tk.ID)
				}
				seen[tk.ID] = true
			}
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
		}
		if pages != 3 || len(seen) != 5 {
			t.Fatalf("%s: %d pages, %d tickets", sort, pages, len(seen))
		}
	}
	// created_at puts the newest first.
	p := e.search(agent, "pagination", "sort=created_at", "limit=1")
	if p.Tickets[0].ID != created[4] || p.NextCursor == nil {
		t.Fatalf("sort=created_at first = %d, want %d", p.Tickets[0].ID, created[4])
	}
	// A cursor is bound to its query and sort.
	r := e.must(422, "GET", "/api/v1/search?q=case&sort=created_at&cursor="+url.QueryEscape(*p.NextCursor), agent, nil)
	if ae := r.apiErr(t); ae.Field != "cursor" {
		t.Fatalf("foreign cursor: %+v", ae)
	}
}

func TestSearchRouteRefusesBadInput(t *testing.T) {
	e := newEnv(t, withSearch(t))
	agent, _ := e.agentToken("Grace", "grace@agents.test")
	e.createTicket(agent, "Something", "ada@customer.test")
	before := e.snap()
	cases := []struct {
		query, field, mention string
	}{
		{"", "q", "required"},
		{"q=", "q", "required"},
		{"q=++", "q", "required"},
		{"q=colour:blue", "q", `"colour:blue"`},
		{"q=refund+status:bogus", "q", `"status:bogus"`},
		{"q=priority<low", "q", `"priority<low"`},
		{"q=created>yesterday", "q", `"created>yesterday"`},
		{"q=updated:7d", "q", `"updated:7d"`},
		{"q=assignee:nobody", "q", `"assignee:nobody"`},
		{"q=tag:", "q", `"tag:"`},
		{"q=%22unterminated", "q", "unterminated"},
		{"q=" + strings.Repeat("a", 1100), "q", "1024"},
		{"q=x&sort=priority", "sort", "relevance"},
		{"q=x&limit=0", "limit", ""},
		{"q=x&cursor=!!", "cursor", ""},
		{"q=x&cursor=AQAAAAAAAAABAAAAAA", "cursor", ""},
		{"q=x&query=y", "query", ""},
		{"q=a&q=b", "q", "once"},
	}
	for _, c := range cases {
		r := e.req("GET", "/api/v1/search?"+c.query, agent, nil)
		if r.status != 422 {
			t.Errorf("%s: status %d, want 422: %s", c.query, r.status, r.body)
			continue
		}
		ae := r.apiErr(t)
		if ae.Field != c.field || !strings.Contains(ae.Message, c.mention) {
			t.Errorf("%s: error %+v, want field %q mentioning %q", c.query, ae, c.field, c.mention)
		}
	}
	if e.snap() != before {
		t.Fatal("a refused search changed the store")
	}
	e.must(401, "GET", "/api/v1/search?q=x", "", nil)
}

func TestSearchRouteWithoutIndex(t *testing.T) {
	e := newEnv(t)
	r := e.must(503, "GET", "/api/v1/search?q=x", e.admin, nil)
	if ae := r.apiErr(t); ae.Code != CodeUnavailable {
		t.Fatalf("error %+v", ae)
	}
}
