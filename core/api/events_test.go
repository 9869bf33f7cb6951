package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	id, typ, data string
}

// sseStream reads events from an open stream on a goroutine.
type sseStream struct {
	events   chan sseEvent
	comments chan string
	done     chan struct{} // closed when the stream ends
	cancel   context.CancelFunc
	status   int
	ctype    string
}

func (e *env) openEvents(token string, hdr ...string) *sseStream {
	e.t.Helper()
	return e.openEventsPath("/api/v1/events", token, hdr...)
}

func (e *env) openEventsPath(path, token string, hdr ...string) *sseStream {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		// A refused stream is a JSON answer: it must match the document.
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		e.checkAnswer(req, res, b)
		res.Body = io.NopCloser(bytes.NewReader(b))
	}
	s := &sseStream{events: make(chan sseEvent, 1024), comments: make(chan string, 1024), done: make(chan struct{}), cancel: cancel, status: res.StatusCode, ctype: res.Header.Get("Content-Type")}
	e.t.Cleanup(cancel)
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.id != "" || cur.data != "" {
					s.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.comments <- strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	return s
}

// next waits for the next event (generous deadline for a loaded machine).
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
	}
	return sseEvent{}
}

// until reads events until one of type typ arrives, returning all read.
func (s *sseStream) until(t *testing.T, typ string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for {
		ev := s.next(t)
		out = append(out, ev)
		if ev.typ == typ {
			return out
		}
	}
}

func TestEventsStreamAndResume(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	s := e.openEvents(agent)
	if s.status != 200 || s.ctype != "text/event-stream" {
		t.Fatalf("status %d, content type %q", s.status, s.ctype)
	}
	// Wait for the stream's opening comment so the ticket below is "new".
	select {
	case <-s.comments:
	case <-time.After(20 * time.Second):
		t.Fatal("stream did not open")
	}
	tk := e.createTicket(agent, "first", "c@example.test")
	evs := s.until(t, "comment.created")
	var sawTicket bool
	var lastID uint64
	for _, ev := range evs {
		id, err := strconv.ParseUint(ev.id, 10, 64)
		if err != nil || id <= lastID {
			t.Fatalf("event ids not increasing: %q after %d", ev.id, lastID)
		}
		lastID = id
		var data struct {
			Seq      uint64          `json:"seq"`
			Type     string          `json:"type"`
			TicketID uint64          `json:"ticket_id"`
			Data     json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			t.Fatalf("event data %q: %v", ev.data, err)
		}
		if data.Seq != id || data.Type != ev.typ {
			t.Fatalf("event %s: data %+v", ev.id, data)
		}
		if ev.typ == "ticket.created" && data.TicketID == tk.ID {
			sawTicket = true
		}
	}
	if !sawTicket {
		t.Fatalf("no ticket.created for ticket %d in %v", tk.ID, evs)
	}
	s.cancel()

	// While disconnected: a reply and a status change.
	e.must(201, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", agent, map[string]any{"body": "hello", "public": true})
	e.must(200, "PATCH", "/api/v1/tickets/"+itoa(tk.ID), agent, map[string]any{"status": "pending"})

	// Resume: exactly the events after lastID, in order, none repeated.
	r := e.openEvents(agent, "Last-Event-ID: "+strconv.FormatUint(lastID, 10))
	got := r.until(t, "ticket.updated")
	got = append(got, r.until(t, "ticket.updated")...)
	var types []string
	prev := lastID
	for _, ev := range got {
		id, _ := strconv.ParseUint(ev.id, 10, 64)
		if id != prev+1 {
			t.Fatalf("resumed stream skipped or repeated: %s after %d", ev.id, prev)
		}
		prev = id
		types = append(types, ev.typ)
	}
	if want := "comment.created ticket.updated ticket.updated"; strings.Join(types, " ") != want {
		t.Fatalf("resumed types %v, want %s", types, want)
	}
	// The after query parameter works like Last-Event-ID.
	a := e.openEventsPath("/api/v1/events?after="+strconv.FormatUint(lastID, 10), agent)
	if ev := a.next(t); ev.id != strconv.FormatUint(lastID+1, 10) {
		t.Fatalf("after=: first event %s, want %d", ev.id, lastID+1)
	}
}

func TestEventsHeartbeat(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Heartbeat = 20 * time.Millisecond })
	s := e.openEvents(e.admin)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case c := <-s.comments:
			if c == "heartbeat" {
				return
			}
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}
}

func TestEventsEndOnClose(t *testing.T) {
	e := newEnv(t)
	s := e.openEvents(e.admin)
	<-s.comments
	e.srv.Close()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("stream still open after Server.Close")
	}
	// Other requests still work.
	e.must(200, "GET", "/api/v1/tickets", e.admin, nil)
}

// TestEventsManySubscribers opens several streams, some from the start of
// the log (behind the hub's deliberately tiny ring, so they read the log
// directly, then catch up), while tickets are created concurrently; every
// stream must see every event exactly once, in order.
func TestEventsManySubscribers(t *testing.T) {
	e := newEnv(t)
	e.srv.hub.maxRing = 4
	agent, _ := e.agentToken("Ada", "ada@example.test")
	for i := range 5 {
		e.createTicket(agent, "before "+strconv.Itoa(i), "c@example.test")
	}
	streams := []*sseStream{
		e.openEventsPath("/api/v1/events?after=0", agent),
		e.openEventsPath("/api/v1/events?after=3", agent),
		e.openEvents(agent),
		e.openEvents(agent),
	}
	for _, s := range streams[2:] {
		<-s.comments // opened at the end of the log
	}
	start := e.snap().events
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/tickets", strings.NewReader(
					`{"comment":{"body":"b"},"requester":{"email":"c`+strconv.Itoa(i*10+j)+`@example.test"}}`))
				req.Header.Set("Authorization", "Bearer "+agent)
				res, err := e.ts.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				e.checkAnswer(req, res, b)
				if res.StatusCode != 201 {
					t.Errorf("status %d", res.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	end := e.snap().events
	from := []uint64{0, 3, start, start}
	for i, s := range streams {
		want := from[i] + 1
		for want <= end {
			ev := s.next(t)
			id, _ := strconv.ParseUint(ev.id, 10, 64)
			if id != want {
				t.Fatalf("stream %d: event %d, want %d", i, id, want)
			}
			want++
		}
	}
}

func TestEventsTypeFilter(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	s := e.openEventsPath("/api/v1/events?after=0&types=comment.created,%20ticket.updated", agent)
	tk := e.createTicket(agent, "filtered", "c@example.test")
	e.must(200, "PATCH", "/api/v1/tickets/"+itoa(tk.ID), agent, map[string]any{"priority": "high"})
	var types []string
	for _, ev := range s.until(t, "ticket.updated") {
		types = append(types, ev.typ)
	}
	if got := strings.Join(types, " "); got != "comment.created ticket.updated" {
		t.Fatalf("filtered stream: %s", got)
	}
	r := e.must(422, "GET", "/api/v1/events?types=comment.deleted", agent, nil)
	if got := r.apiErr(t); got.Field != "types" {
		t.Fatalf("error %+v", got)
	}
}

// A resume point whose following events were trimmed from the log (past
// the retention) answers 410 events_expired instead of silently skipping
// them; a resume point still covered by the log, and after=0, stream.
func TestEventsExpiredResume(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	for i := range 3 {
		e.createTicket(agent, "t"+strconv.Itoa(i), "c@example.test")
	}
	var last uint64
	if err := e.st.View(func(tx *store.ReadTx) error {
		var err error
		last, err = tx.LastID(store.SeqEvent)
		return err
	}); err != nil || last < 3 {
		t.Fatalf("last event %d (%v)", last, err)
	}
	if n, err := e.st.TrimEvents(context.Background(), time.Now().Add(time.Hour)); err != nil || n != int(last) {
		t.Fatalf("trimmed %d of %d (%v)", n, last, err)
	}
	e.createTicket(agent, "after the trim", "c@example.test") // first kept event: last+1

	gone := []struct {
		name, path, field string
		hdr               []string
	}{
		{"old Last-Event-ID", "/api/v1/events", "Last-Event-ID", []string{"Last-Event-ID: 1"}},
		{"old after", "/api/v1/events?after=" + strconv.FormatUint(last-1, 10), "after", nil},
	}
	t.Run("id after the end of the log", func(t *testing.T) {
		r := e.req("GET", "/api/v1/events", agent, nil, "Last-Event-ID: 999999")
		if ae := r.apiErr(t); r.status != http.StatusUnprocessableEntity || ae.Code != CodeInvalidField || ae.Field != "Last-Event-ID" {
			t.Fatalf("status %d, error %+v", r.status, ae)
		}
	})
	for _, g := range gone {
		t.Run(g.name, func(t *testing.T) {
			r := e.req("GET", g.path, agent, nil, g.hdr...)
			if r.status != http.StatusGone {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if ae := r.apiErr(t); ae.Code != CodeEventsExpired || ae.Field != g.field {
				t.Fatalf("error %+v", ae)
			}
		})
	}
	for _, ok := range []string{"Last-Event-ID: " + strconv.FormatUint(last, 10), "Last-Event-ID: 0"} {
		t.Run(ok, func(t *testing.T) {
			s := e.openEvents(agent, ok)
			if s.status != http.StatusOK {
				t.Fatalf("status %d", s.status)
			}
			select {
			case ev := <-s.events:
				if ev.id != strconv.FormatUint(last+1, 10) {
					t.Fatalf("first event %+v, want id %d", ev, last+1)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no event")
			}
			s.cancel()
		})
	}
}

// Changes made with a token are authored by its agent user: each event of
// a create, a patch, a reply and a merge names the agent as actor_id.
func TestEventsNameTheActor(t *testing.T) {
	e := newEnv(t)
	agent, agentID := e.agentToken("Ada", "ada@example.test")
	var last uint64
	e.st.View(func(tx *store.ReadTx) error { last, _ = tx.LastID(store.SeqEvent); return nil })
	tk := e.createTicket(agent, "printer", "c1@example.test")
	other := e.createTicket(agent, "printer again", "c2@example.test")
	tp := "/api/v1/tickets/" + itoa(tk.ID)
	e.must(200, "PATCH", tp, agent, map[string]any{"priority": "high"})
	e.must(201, "POST", tp+"/comments", agent, map[string]any{"body": "on it", "public": false})
	e.must(200, "POST", "/api/v1/users/"+itoa(other.RequesterID)+"/merge", agent, map[string]any{"into": tk.RequesterID})
	evs, err := e.st.EventsAfter(last, 100)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %d, %v", len(evs), err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Type] = true
		if ev.ActorID != agentID {
			t.Errorf("%s (seq %d): actor %d, want the agent %d", ev.Type, ev.Seq, ev.ActorID, agentID)
		}
	}
	for _, typ := range []string{store.EventTicketCreated, store.EventTicketUpdated, store.EventCommentCreated, store.EventUserMerged} {
		if !seen[typ] {
			t.Errorf("no %s event among %v", typ, seen)
		}
	}
}
