package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// fixture is a small helpdesk: three tickets with distinct words in every
// searchable place.
type fixture struct {
	*env
	ada, bob, grace uint64
	t1, t2, t3      uint64
	note            uint64 // internal note on t2
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{env: newEnv(t)}
	f.ada = f.user("Ada Lovelace", "ada@customer.test", ticket.RoleEndUser, ticket.Identity{Type: "whatsapp", Value: "4915112345678"})
	f.bob = f.user("Bøb Ørsted", "bob@other.test", ticket.RoleEndUser)
	f.grace = f.user("Grace Hopper", "grace@agents.test", ticket.RoleAgent)
	f.t1 = f.tkt("Refund for my order", "I was charged twice for the invoice; please refund the duplicate.", f.ada,
		func(t *ticket.Ticket) {
			t.Tags = []string{"billing", "vip"}
			t.Priority = ticket.PriorityHigh
			t.Group = "Finance"
		})
	f.clock.Add(24 * time.Hour)
	f.t2 = f.tkt("Printer offline", "The café printer on floor 3 shows a paper jam.", f.bob,
		func(t *ticket.Ticket) {
			t.Via = "whatsapp"
			t.Channel = "wa-main"
			t.AssigneeID = f.grace
			t.Status = ticket.StatusOpen
			t.Group = "IT"
		})
	f.note = f.comment(f.t2, f.grace, "Internal: vendor ticket ZX-81 opened with Contoso.", false)
	f.clock.Add(24 * time.Hour)
	f.t3 = f.tkt("Login problems", "I cannot log in since the update. The quick brown fox.", f.ada,
		func(t *ticket.Ticket) { t.Status = ticket.StatusSolved })
	f.catchUp()
	return f
}

func TestSearchMatchesEverySearchableText(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		q    string
		want []uint64
	}{
		{"refund", []uint64{f.t1}},                       // subject and body
		{"printer", []uint64{f.t2}},                      // subject
		{"jam", []uint64{f.t2}},                          // public comment body only
		{"contoso", []uint64{f.t2}},                      // internal note only
		{"CONTOSO", []uint64{f.t2}},                      // case folded
		{"cafe", []uint64{f.t2}},                         // diacritics folded in the text
		{"orsted", []uint64{f.t2}},                       // … and in the requester's name
		{"Ørsted", []uint64{f.t2}},                       // … and in the query
		{"charges", []uint64{f.t1}},                      // stem: charged ~ charges
		{"refunding", []uint64{f.t1}},                    // stem: refund ~ refunding
		{"lovelace", []uint64{f.t1, f.t3}},               // requester name
		{"ada@customer.test", []uint64{f.t1, f.t3}},      // requester email
		{"4915112345678", []uint64{f.t1, f.t3}},          // requester identity
		{"vip", []uint64{f.t1}},                          // tag as a word
		{"printer jam", []uint64{f.t2}},                  // AND of words across fields
		{"printer refund", []uint64{}},                   // AND: no ticket has both
		{"jam contoso", []uint64{f.t2}},                  // words in two different comments
		{`"quick brown fox"`, []uint64{f.t3}},            // phrase
		{`"fox brown quick"`, []uint64{}},                // phrase order matters
		{"duplic*", []uint64{f.t1}},                      // prefix
		{"refund -vip", []uint64{}},                      // negated word
		{"login -refund", []uint64{f.t3}},                // negated word
		{"nonexistentword", []uint64{}},                  // nothing
		{"ZX-81", []uint64{f.t2}},                        // punctuation inside a token
		{"ada@customer.test printer", []uint64{}},        // requester and word AND
		{"tag:billing refund", []uint64{f.t1}},           // field and word
		{"status:open contoso", []uint64{f.t2}},          // field and internal note word
		{"status:solved contoso", []uint64{}},            // the e2e "status:solved" check
		{"log", []uint64{f.t3}},                          // stem: "log in" and "Login"?
		{`"paper jam" floor`, []uint64{f.t2}},            // phrase and word
		{`-"paper jam"`, []uint64{f.t1, f.t3}},           // negated phrase alone
		{"requester:bob@other.test jam", []uint64{f.t2}}, // requester by email with a word
	}
	for _, c := range cases {
		if got := f.search(c.q, 0); !sameSet(got, c.want) {
			t.Errorf("search %q = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestSearchFieldTerms(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		q    string
		want []uint64
	}{
		{"status:new", []uint64{f.t1}},
		{"status:open", []uint64{f.t2}},
		{"status<solved", []uint64{f.t1, f.t2}},
		{"status<=solved", []uint64{f.t1, f.t2, f.t3}},
		{"status>open", []uint64{f.t3}},
		{"status>=open", []uint64{f.t2, f.t3}},
		{"-status:new", []uint64{f.t2, f.t3}},
		{"tag:vip", []uint64{f.t1}},
		{"tag:VIP", []uint64{f.t1}},
		{"tags:billing", []uint64{f.t1}},
		{"priority:high", []uint64{f.t1}},
		{"priority<high", []uint64{}},
		{"priority>=normal", []uint64{f.t1}},
		{"priority:none", []uint64{f.t2, f.t3}},
		{"channel:support", []uint64{f.t1, f.t3}},
		{"channel:wa-main", []uint64{f.t2}},
		{"via:whatsapp", []uint64{f.t2}},
		{"via:email", []uint64{f.t1, f.t3}},
		{"assignee:me", []uint64{f.t2}},
		{"assignee:none", []uint64{f.t1, f.t3}},
		{"assignee:grace@agents.test", []uint64{f.t2}},
		{"assignee:" + itoa(f.grace), []uint64{f.t2}},
		{"requester:ada@customer.test", []uint64{f.t1, f.t3}},
		{"requester:ADA@customer.test", []uint64{f.t1, f.t3}},
		{"requester:" + itoa(f.bob), []uint64{f.t2}},
		{"requester:nobody@nowhere.test", []uint64{}},
		{"requester:me", []uint64{}},
		{"-assignee:me", []uint64{f.t1, f.t3}},
		{"group:it", []uint64{f.t2}},
		{"group:IT", []uint64{f.t2}},
		{`group:"finance"`, []uint64{f.t1}},
		{"group:none", []uint64{f.t3}},
		{"created:2026-12-07", []uint64{f.t1}},
		{"created>2026-12-07", []uint64{f.t2, f.t3}},
		{"created>=2026-12-08", []uint64{f.t2, f.t3}},
		{"created<2026-12-08", []uint64{f.t1}},
		{"created<=2026-12-08", []uint64{f.t1, f.t2}},
		{"created>2026-12-08T12:00:00Z", []uint64{f.t3}},
		{"updated>30h", []uint64{f.t2, f.t3}}, // the clock is at t3's creation, a day after t2's
		{"updated<30h", []uint64{f.t1}},
		{"updated<7d", []uint64{}},
		{"updated>7d status<solved", []uint64{f.t1, f.t2}},
	}
	for _, c := range cases {
		if got := f.search(c.q, f.grace); !sameSet(got, c.want) {
			t.Errorf("search %q = %v, want %v", c.q, got, c.want)
		}
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestSearchFollowsChanges(t *testing.T) {
	f := newFixture(t)
	// A new comment, a status change and a requester rename are each
	// searchable after the follower's next batch.
	f.comment(f.t1, f.grace, "Escalated to the Zyxwv team.", false)
	f.patch(f.t3, func(tk *ticket.Ticket) { tk.Status = ticket.StatusClosed; tk.Tags = []string{"resolved"} })
	f.update(func(tx *store.Tx) error {
		u, err := tx.User(f.bob)
		if err != nil {
			return err
		}
		u.Name = "Robert Quillfeather"
		return tx.UpdateUser(u)
	})
	if got := f.search("zyxwv", 0); len(got) != 0 {
		t.Fatalf("found %v before indexing", got)
	}
	f.catchUp()
	for q, want := range map[string][]uint64{
		"zyxwv":                {f.t1},
		"status:closed":        {f.t3},
		"status:solved":        {},
		"tag:resolved":         {f.t3},
		"quillfeather":         {f.t2},
		"orsted":               {},
		"zyxwv status<solved":  {f.t1},
		"zyxwv status:solved":  {},
		"quillfeather printer": {f.t2},
	} {
		if got := f.search(q, 0); !sameSet(got, want) {
			t.Errorf("search %q = %v, want %v", q, got, want)
		}
	}
	if f.x.Indexed() == 0 {
		t.Fatal("Indexed() = 0 after catching up")
	}
}

func TestSearchMatchShowsTheComment(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("lorem ipsum dolor sit amet ", 10) + "the flux capacitor overheated badly " + strings.Repeat("consectetur adipiscing elit ", 10)
	c := f.comment(f.t3, f.grace, long, true)
	f.catchUp()
	res, err := f.x.Search(context.Background(), Request{Query: "capacitor overheating", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].TicketID != f.t3 {
		t.Fatalf("hits = %+v", res.Hits)
	}
	h := res.Hits[0]
	if h.CommentID != c {
		t.Errorf("comment_id = %d, want %d", h.CommentID, c)
	}
	if !strings.Contains(h.Snippet, "flux capacitor overheated") || !strings.HasPrefix(h.Snippet, "…") || !strings.HasSuffix(h.Snippet, "…") || len(h.Snippet) > 200 {
		t.Errorf("snippet = %q", h.Snippet)
	}
	// The internal note is where "contoso" is.
	res, err = f.x.Search(context.Background(), Request{Query: "contoso", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].CommentID != f.note || !strings.Contains(res.Hits[0].Snippet, "Contoso") {
		t.Errorf("hits = %+v, want the note %d", res.Hits, f.note)
	}
	// A subject-only match has a snippet and no comment.
	res, err = f.x.Search(context.Background(), Request{Query: "offline", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].CommentID != 0 || res.Hits[0].Snippet != "Printer offline" {
		t.Errorf("hits = %+v, want the subject", res.Hits)
	}
	// Field terms alone match nowhere in particular.
	res, err = f.x.Search(context.Background(), Request{Query: "status:open", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].CommentID != 0 || res.Hits[0].Snippet != "" {
		t.Errorf("hits = %+v, want no match", res.Hits)
	}
}

func TestSearchSortAndPages(t *testing.T) {
	e := newEnv(t)
	u := e.user("Ann", "ann@example.test", ticket.RoleEndUser)
	var all []uint64
	for i := range 23 {
		body := "common word"
		if i%3 == 0 {
			body = "common word common word common" // ranks higher
		}
		all = append(all, e.tkt("ticket", body, u))
		e.clock.Add(time.Minute)
	}
	// Touch the first ticket last: it is the most recently updated.
	e.patch(all[0], func(t *ticket.Ticket) { t.Priority = ticket.PriorityLow })
	e.catchUp()
	for _, sort := range []string{"", SortRelevance, SortUpdatedAt, SortCreatedAt} {
		for _, q := range []string{"common", "status:new"} {
			var got []uint64
			var after []string
			pages := 0
			for {
				res, err := e.x.Search(context.Background(), Request{Query: q, Sort: sort, Limit: 5, After: after})
				if err != nil {
					t.Fatalf("sort %q q %q: %v", sort, q, err)
				}
				pages++
				got = append(got, ids(res.Hits)...)
				if !res.More {
					break
				}
				after = res.Hits[len(res.Hits)-1].After
			}
			if pages != 5 || len(got) != 23 || !sameSet(got, all) {
				t.Fatalf("sort %q q %q: %d pages, %v", sort, q, pages, got)
			}
			switch {
			case sort == SortUpdatedAt && got[0] != all[0]:
				t.Errorf("sort updated_at: first %d, want %d", got[0], all[0])
			case sort == SortCreatedAt && (got[0] != all[22] || got[22] != all[0]):
				t.Errorf("sort created_at: %v", got)
			case q == "status:new" && sort == "" && got[0] != all[22]:
				t.Errorf("field-only query: %v, want newest first", got)
			case q == "common" && (sort == "" || sort == SortRelevance) && got[0]%3 != all[0]%3:
				t.Errorf("relevance: %v, want the tickets with more occurrences first", got)
			}
		}
	}
}

func TestSearchRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	bad := []struct {
		req  Request
		term string
	}{
		{Request{Query: "colour:blue"}, "colour:blue"},
		{Request{Query: "refund status:bogus"}, "status:bogus"},
		{Request{Query: "x", Sort: "priority"}, ""},
	}
	for _, c := range bad {
		c.req.Limit = 10
		_, err := f.x.Search(context.Background(), c.req)
		qe := queryError(err)
		if qe == nil || qe.Term != c.term {
			t.Errorf("search %+v: err = %v, want a QueryError about %q", c.req, err, c.term)
		}
	}
	for _, after := range [][]string{{"x", "y"}, {"1.5"}, {"1.5", "12"}, {"NaN", "00000000000000000001"}} {
		_, err := f.x.Search(context.Background(), Request{Query: "refund", Limit: 10, After: after})
		if !errors.Is(err, ErrBadCursor) {
			t.Errorf("after %q: err = %v, want ErrBadCursor", after, err)
		}
	}
}

func TestIndexResumesFromItsCursor(t *testing.T) {
	f := newFixture(t)
	seq := f.x.Indexed()
	f.closeIndex()
	// Changes while the index is closed (the server was killed after
	// they committed): the reopened index resumes from its cursor.
	late := f.tkt("Late arrival", "written while the indexer was down: quokka", f.ada)
	x, err := Open(f.st, Options{Dir: f.indexDir(), Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if !x.Ready() || x.Indexed() != seq {
		t.Fatalf("reopened index: ready %v at %d, want ready at %d (no rebuild)", x.Ready(), x.Indexed(), seq)
	}
	f.x = x
	if got := f.search("refund", 0); !sameSet(got, []uint64{f.t1}) {
		t.Fatalf("kept documents: %v", got)
	}
	f.catchUp()
	if got := f.search("quokka", 0); !sameSet(got, []uint64{late}) {
		t.Fatalf("after catching up: %v", got)
	}
}

func TestIndexRebuildsFromTheStore(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(t *testing.T, f *fixture)
	}{
		{"missing", func(t *testing.T, f *fixture) {
			if err := os.RemoveAll(f.indexDir()); err != nil {
				t.Fatal(err)
			}
		}},
		{"corrupt", func(t *testing.T, f *fixture) {
			if err := os.WriteFile(filepath.Join(f.indexDir(), "index_meta.json"), []byte("{not json"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"older format", func(t *testing.T, f *fixture) {
			x, err := Open(f.st, Options{Dir: f.indexDir()})
			if err != nil {
				t.Fatal(err)
			}
			if err := x.idx.SetInternal(keyFormat, []byte("patchbay-search-0")); err != nil {
				t.Fatal(err)
			}
			x.Close()
		}},
		{"behind the trimmed log", func(t *testing.T, f *fixture) {
			x, err := Open(f.st, Options{Dir: f.indexDir()})
			if err != nil {
				t.Fatal(err)
			}
			x.indexed.Store(2)
			x.Close()
			if n, err := f.st.TrimEvents(context.Background(), f.clock.Now().Add(time.Hour)); err != nil || n == 0 {
				t.Fatalf("TrimEvents = %d, %v", n, err)
			}
		}},
		{"ahead of the store", func(t *testing.T, f *fixture) {
			x, err := Open(f.st, Options{Dir: f.indexDir()})
			if err != nil {
				t.Fatal(err)
			}
			x.indexed.Store(1 << 40) // Close persists it as the cursor
			x.Close()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.closeIndex()
			c.spoil(t, f)
			x, err := Open(f.st, Options{Dir: f.indexDir(), Clock: f.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { x.Close() })
			if x.Ready() {
				t.Fatal("a spoilt index was used as it was")
			}
			if _, err := x.Search(context.Background(), Request{Query: "refund", Limit: 1}); !errors.Is(err, ErrRebuilding) {
				t.Fatalf("search while rebuilding: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- x.Run(ctx) }()
			deadline := time.Now().Add(20 * time.Second)
			for !x.Ready() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			f.x = x
			for q, want := range map[string][]uint64{"refund": {f.t1}, "contoso": {f.t2}, "status<solved": {f.t1, f.t2}} {
				if got := f.search(q, 0); !sameSet(got, want) {
					t.Errorf("search %q after rebuild = %v, want %v", q, got, want)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRebuildOffline(t *testing.T) {
	f := newFixture(t)
	f.closeIndex()
	n, err := Rebuild(context.Background(), f.st, Options{Dir: f.indexDir()})
	if err != nil || n != 3 {
		t.Fatalf("Rebuild = %d, %v; want 3 tickets", n, err)
	}
	f.openIndex()
	if !f.x.Ready() {
		t.Fatal("not ready after Rebuild")
	}
	if got := f.search("jam", 0); !sameSet(got, []uint64{f.t2}) {
		t.Fatalf("search after Rebuild = %v", got)
	}
}

func TestSnippet(t *testing.T) {
	text := "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega"
	i := strings.Index(text, "omicron")
	cases := []struct {
		text       string
		start, end int
		want       string
	}{
		{"short text here", 6, 10, "short text here"},
		{"  spaced\n\ntext  ", 2, 8, "spaced text"},
		{text, i, i + 7, "…beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega"},
		{"out of range", 40, 50, "out of range"},
		{"é", 1, 2, "é"},
	}
	for _, c := range cases {
		if got := Snippet(c.text, c.start, c.end); got != c.want {
			t.Errorf("Snippet(%q, %d, %d) = %q, want %q", c.text, c.start, c.end, got, c.want)
		}
	}
}

// Simple equality queries are answered from the store's ticket indexes;
// they must find exactly what the full-text index finds (here through
// sort=created_at, which the store does not answer), newest first.
func TestStoreAnsweredQueriesAgreeWithTheIndex(t *testing.T) {
	f := newFixture(t)
	extra := f.tkt("Another", "more text", f.bob, func(tk *ticket.Ticket) { tk.AssigneeID = f.grace; tk.Status = ticket.StatusOpen })
	f.catchUp()
	for _, q := range []string{"status:open", "status:new", "channel:support", "channel:wa-main", "assignee:me", "assignee:" + itoa(f.grace),
		"requester:ada@customer.test", "requester:" + itoa(f.bob), "status:open assignee:me requester:" + itoa(f.bob), "status:closed"} {
		parsed, err := Parse(q, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := f.x.storeFilter(parsed, Request{Query: q, Actor: f.grace}); !ok || err != nil {
			t.Fatalf("%q is not answered by the store (%v)", q, err)
		}
		fromStore := f.search(q, f.grace)
		res, err := f.x.Search(context.Background(), Request{Query: q, Actor: f.grace, Sort: SortCreatedAt, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if fromIndex := ids(res.Hits); !sameSet(fromStore, fromIndex) {
			t.Errorf("%q: store %v, index %v", q, fromStore, fromIndex)
		}
		for i := 1; i < len(fromStore); i++ {
			if fromStore[i] > fromStore[i-1] {
				t.Errorf("%q: %v is not newest first", q, fromStore)
			}
		}
	}
	if got := f.search("status:open", 0); !sameSet(got, []uint64{f.t2, extra}) {
		t.Fatalf("status:open = %v", got)
	}
	// Anything else goes to the index.
	for _, q := range []string{"status<solved", "tag:vip", "-status:open", "assignee:none", "status:open status:new", "refund status:open", "priority:high"} {
		parsed, err := Parse(q, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := f.x.storeFilter(parsed, Request{Query: q}); ok {
			t.Errorf("%q would be answered by the store", q)
		}
	}
}

// Field-only queries in the default order look at windows of the newest
// ticket ids; their pages must equal those of a full sort of every match.
func TestFieldOnlyWindowsEqualAFullSort(t *testing.T) {
	e := newEnv(t)
	u := e.user("Ann", "ann@example.test", ticket.RoleEndUser)
	for i := range 40 {
		tags := []string{"even"}
		if i%7 == 3 {
			tags = []string{"rare"}
		}
		e.tkt(fmt.Sprintf("ticket %d", i), "body", u, func(tk *ticket.Ticket) {
			tk.Tags = tags
			if i%3 == 0 {
				tk.Status = ticket.StatusSolved
			}
		})
		e.clock.Add(time.Minute)
	}
	e.catchUp()
	e.x.window = 2 // many windows per page
	pages := func(q, sort string) []uint64 {
		var all []uint64
		var after []string
		for range 50 {
			res, err := e.x.Search(context.Background(), Request{Query: q, Sort: sort, Limit: 3, After: after})
			if err != nil {
				t.Fatalf("%q %q: %v", q, sort, err)
			}
			all = append(all, ids(res.Hits)...)
			if !res.More {
				return all
			}
			after = res.Hits[len(res.Hits)-1].After
		}
		t.Fatalf("%q: too many pages", q)
		return nil
	}
	for _, q := range []string{"status<solved", "tag:rare", "-tag:rare", "tag:even status:solved", "priority:none", "tag:nothing"} {
		windowed, full := pages(q, ""), pages(q, SortCreatedAt)
		if !slices.Equal(windowed, full) {
			t.Errorf("%q: windowed %v, full sort %v", q, windowed, full)
		}
	}
	if got := pages("tag:rare", ""); len(got) != 6 {
		t.Errorf("tag:rare = %v, want 6 tickets", got)
	}
}
