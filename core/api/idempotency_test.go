package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

func TestIdempotentTicketCreation(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	other, _ := e.agentToken("Bob", "bob@example.test")
	body := map[string]any{"subject": "printer", "comment": map[string]any{"body": "it jams"}, "requester": map[string]any{"email": "c@example.test"}}

	first := e.must(201, "POST", "/api/v1/tickets", agent, body, "Idempotency-Key: key-1")
	before := e.snap()
	// Same key, same body (whitespace differs): the stored answer, nothing new.
	again := e.must(201, "POST", "/api/v1/tickets", agent,
		`{ "subject": "printer",  "comment": {"body": "it jams"}, "requester": {"email": "c@example.test"} }`, "Idempotency-Key: key-1")
	if !bytes.Equal(first.body, again.body) {
		t.Fatalf("replay differs:\n%s\n%s", first.body, again.body)
	}
	if again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("replay headers: %v", again.header)
	}
	if after := e.snap(); after != before {
		t.Fatalf("replay changed the store: %+v -> %+v", before, after)
	}
	// Same key, other body: 422 naming the header, nothing stored.
	body["subject"] = "scanner"
	r := e.must(422, "POST", "/api/v1/tickets", agent, body, "Idempotency-Key: key-1")
	if got := r.apiErr(t); got.Code != CodeIdempotencyKeyUsed || got.Field != "Idempotency-Key" {
		t.Fatalf("error %+v", got)
	}
	// Same key and body on another path is another request too.
	e.must(422, "POST", "/api/v1/tickets/1/comments", agent, map[string]any{"body": "x", "public": false}, "Idempotency-Key: key-1")
	if after := e.snap(); after != before {
		t.Fatalf("rejected request changed the store: %+v -> %+v", before, after)
	}
	// Keys are scoped per token: another token's key-1 is a new request.
	e.must(201, "POST", "/api/v1/tickets", other, body, "Idempotency-Key: key-1")
	if got := e.snap().tickets; got != 2 {
		t.Fatalf("%d tickets, want 2", got)
	}
	// Without a key, every POST creates.
	e.must(201, "POST", "/api/v1/tickets", agent, body)
	if got := e.snap().tickets; got != 3 {
		t.Fatalf("%d tickets, want 3", got)
	}
}

func TestIdempotentCommentsAndTokens(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	tk := e.channelTicket("support")
	path := "/api/v1/tickets/" + itoa(tk.ID) + "/comments"
	reply := map[string]any{"body": "on it", "public": true}
	a := e.must(201, "POST", path, agent, reply, "Idempotency-Key: reply-7")
	b := e.must(201, "POST", path, agent, reply, "Idempotency-Key: reply-7")
	if !bytes.Equal(a.body, b.body) {
		t.Fatal("comment replay differs")
	}
	var list commentList
	e.must(200, "GET", path, agent, nil).decode(t, &list)
	if len(list.Comments) != 2 { // the inbound message and one reply
		t.Fatalf("%d comments, want 2", len(list.Comments))
	}
	// A replayed token creation never shows the secret again.
	var first, replay struct {
		ID    uint64 `json:"id"`
		Token string `json:"token"`
	}
	req := map[string]any{"email": "bot@example.test"}
	e.must(201, "POST", "/api/v1/tokens", e.admin, req, "Idempotency-Key: tok-1").decode(t, &first)
	e.must(201, "POST", "/api/v1/tokens", e.admin, req, "Idempotency-Key: tok-1").decode(t, &replay)
	if first.Token == "" || replay.Token != "" || replay.ID != first.ID {
		t.Fatalf("token replay: first %+v, replay %+v", first, replay)
	}
}

// TestIdempotencyConcurrent sends the same keyed request from several
// goroutines at once: exactly one ticket is created and every caller gets
// the same answer.
func TestIdempotencyConcurrent(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	body := map[string]any{"comment": map[string]any{"body": "dup?"}, "requester": map[string]any{"email": "c@example.test"}}
	const n = 8
	raw, _ := json.Marshal(body)
	answers := make(chan *resp, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/tickets", bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+agent)
			req.Header.Set("Idempotency-Key", "same")
			res, err := e.ts.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			e.checkAnswer(req, res, b)
			answers <- &resp{status: res.StatusCode, header: res.Header, body: b}
		}()
	}
	wg.Wait()
	close(answers)
	if len(answers) != n {
		t.Fatalf("%d answers, want %d", len(answers), n)
	}
	var first []byte
	for r := range answers {
		if r.status != 201 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if first == nil {
			first = r.body
		} else if !bytes.Equal(first, r.body) {
			t.Fatalf("answers differ:\n%s\n%s", first, r.body)
		}
	}
	if got := e.snap().tickets; got != 1 {
		t.Fatalf("%d tickets, want 1", got)
	}
}
