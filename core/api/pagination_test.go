package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// seedTickets stores n tickets; every third is open, the rest new; every
// fifth is on channel "chat".
func seedTickets(tb testing.TB, st *store.Store, n int) {
	tb.Helper()
	for start := 0; start < n; start += 500 {
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			for i := start; i < min(start+500, n); i++ {
				s := ticket.StatusNew
				if i%3 == 0 {
					s = ticket.StatusOpen
				}
				ch := ""
				if i%5 == 0 {
					ch = "chat"
				}
				if err := tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprint("t", i), Status: s, Channel: ch, Via: "api", RequesterID: uint64(i%7 + 1)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func TestTicketPagination(t *testing.T) {
	e := newEnv(t)
	seedTickets(t, e.st, 95)
	cases := []struct {
		query string
		want  func(i int) bool // i is 0-based creation index (id = i+1)
	}{
		{"", func(int) bool { return true }},
		{"status=open", func(i int) bool { return i%3 == 0 }},
		{"status=new&channel=chat", func(i int) bool { return i%3 != 0 && i%5 == 0 }},
		{"requester_id=2", func(i int) bool { return i%7 == 1 }},
		{"channel=chat&requester_id=1", func(i int) bool { return i%5 == 0 && i%7 == 0 }},
	}
	for _, c := range cases {
		for _, limit := range []int{1, 7, 25, 100} {
			t.Run(fmt.Sprintf("%s/limit=%d", c.query, limit), func(t *testing.T) {
				var want []uint64
				for i := 94; i >= 0; i-- {
					if c.want(i) {
						want = append(want, uint64(i+1))
					}
				}
				var got []uint64
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > 200 {
						t.Fatal("pagination does not end")
					}
					q := fmt.Sprintf("/api/v1/tickets?limit=%d&%s", limit, c.query)
					if cursor != "" {
						q += "&cursor=" + cursor
					}
					var page ticketList
					e.must(200, "GET", q, e.admin, nil).decode(t, &page)
					if len(page.Tickets) > limit {
						t.Fatalf("page of %d over limit %d", len(page.Tickets), limit)
					}
					for _, tk := range page.Tickets {
						got = append(got, tk.ID)
					}
					if page.NextCursor == nil {
						break
					}
					if len(page.Tickets) != limit {
						t.Fatalf("short page (%d) with a next cursor", len(page.Tickets))
					}
					cursor = *page.NextCursor
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("ids\n got %v\nwant %v", got, want)
				}
			})
		}
	}
	// The default page size is 25.
	var page ticketList
	e.must(200, "GET", "/api/v1/tickets", e.admin, nil).decode(t, &page)
	if len(page.Tickets) != DefaultLimit || page.NextCursor == nil {
		t.Fatalf("default page: %d tickets", len(page.Tickets))
	}
	// An empty result is an empty list with a null cursor.
	body := string(e.must(200, "GET", "/api/v1/tickets?channel=none", e.admin, nil).body)
	if body != "{\"tickets\":[],\"next_cursor\":null}\n" {
		t.Fatalf("empty list: %s", body)
	}
}

func TestCommentAndUserPagination(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	tk := e.createTicket(agent, "many", "c@example.test")
	path := "/api/v1/tickets/" + itoa(tk.ID) + "/comments"
	for i := range 11 {
		e.must(201, "POST", path, agent, map[string]any{"body": fmt.Sprint("note ", i), "public": false})
	}
	var bodies []string
	cursor := ""
	for {
		q := path + "?limit=4"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var page commentList
		e.must(200, "GET", q, agent, nil).decode(t, &page)
		for _, c := range page.Comments {
			bodies = append(bodies, c.Body)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	want := []string{"body of many"}
	for i := range 11 {
		want = append(want, fmt.Sprint("note ", i))
	}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("comments oldest first:\n got %q\nwant %q", bodies, want)
	}
	// A comments cursor is bound to its ticket.
	other := e.createTicket(agent, "other", "d@example.test")
	var page commentList
	e.must(200, "GET", path+"?limit=1", agent, nil).decode(t, &page)
	r := e.must(422, "GET", "/api/v1/tickets/"+itoa(other.ID)+"/comments?cursor="+*page.NextCursor, agent, nil)
	if r.apiErr(t).Field != "cursor" {
		t.Fatal("cursor of another ticket accepted")
	}

	// Users: newest first, without duplicates, role filter.
	for i := range 6 {
		e.createTicket(agent, "u", fmt.Sprintf("user%d@example.test", i))
	}
	var ids []uint64
	cursor = ""
	for {
		q := "/api/v1/users?role=end-user&limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var up userList
		e.must(200, "GET", q, agent, nil).decode(t, &up)
		for _, u := range up.Users {
			if u.Role != ticket.RoleEndUser {
				t.Fatalf("role filter let %s through", u.Role)
			}
			ids = append(ids, u.ID)
		}
		if up.NextCursor == nil {
			break
		}
		cursor = *up.NextCursor
	}
	if len(ids) != 8 { // c@, d@ and six user%d@
		t.Fatalf("end users %v, want 8", ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Fatalf("users not newest first: %v", ids)
		}
	}
}
