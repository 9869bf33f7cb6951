package api

import (
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestBadInput sends every class of bad request and checks the status, the
// JSON error shape with its code and field, and that the store is
// unchanged (no event, ticket, comment, user or token was written).
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	agent, agentID := e.agentToken("Ada", "ada@example.test")
	open := e.createTicket(agent, "open one", "c1@example.test")
	e.must(201, "POST", "/api/v1/tickets/"+itoa(open.ID)+"/comments", agent, map[string]any{"body": "hi", "public": true})
	closed := e.createTicket(agent, "closed one", "c2@example.test")
	e.must(200, "PATCH", "/api/v1/tickets/"+itoa(closed.ID), agent, map[string]any{"status": "solved"})
	e.must(200, "PATCH", "/api/v1/tickets/"+itoa(closed.ID), agent, map[string]any{"status": "closed"})
	endUser := open.RequesterID
	var otherCursor struct {
		Next string `json:"next_cursor"`
	}
	e.must(200, "GET", "/api/v1/tickets?limit=1", agent, nil).decode(t, &otherCursor)
	if otherCursor.Next == "" {
		t.Fatal("no cursor from a full page")
	}

	okTicket := `{"subject":"s","comment":{"body":"b"},"requester":{"email":"n@example.test"}}`
	tp := "/api/v1/tickets/" + itoa(open.ID)
	cp := tp + "/comments"
	closedPath := "/api/v1/tickets/" + itoa(closed.ID)
	big := `{"subject":"` + strings.Repeat("x", 70<<10) + `","comment":{"body":"b"},"requester":{"email":"n@example.test"}}`

	cases := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		code, field        string
	}{
		// Malformed bodies: 400.
		{"malformed JSON", "POST", "/api/v1/tickets", `{"subject": "x",`, nil, 400, CodeMalformedJSON, ""},
		{"not JSON", "POST", "/api/v1/tickets", `subject=x`, nil, 400, CodeMalformedJSON, ""},
		{"empty body", "POST", "/api/v1/tickets", ``, nil, 400, CodeMalformedJSON, ""},
		{"trailing data", "POST", "/api/v1/tickets", okTicket + `{}`, nil, 400, CodeMalformedJSON, ""},
		{"array body", "POST", "/api/v1/tickets", `[1,2]`, nil, 400, CodeBadRequest, ""},
		{"malformed PATCH", "PATCH", tp, `{"status":`, nil, 400, CodeMalformedJSON, ""},
		// Wrong media type and size.
		{"form body", "POST", "/api/v1/tickets", okTicket, []string{"Content-Type: application/x-www-form-urlencoded"}, 415, CodeUnsupportedMedia, "Content-Type"},
		{"oversized body", "POST", "/api/v1/tickets", big, nil, 413, CodeBodyTooLarge, ""},
		{"oversized PATCH", "PATCH", tp, `{"subject":"` + strings.Repeat("y", 70<<10) + `"}`, nil, 413, CodeBodyTooLarge, ""},
		// Unknown and mistyped fields: 422 naming the field.
		{"unknown field", "POST", "/api/v1/tickets", `{"subjct":"s","comment":{"body":"b"},"requester":{"email":"n@example.test"}}`, nil, 422, CodeUnknownField, "subjct"},
		{"nested unknown field", "POST", "/api/v1/tickets", `{"comment":{"bdy":"b"},"requester":{"email":"n@example.test"}}`, nil, 422, CodeUnknownField, "comment.bdy"},
		{"case-mismatched field", "POST", "/api/v1/tickets", `{"Subject":"s","comment":{"body":"b"},"requester":{"email":"n@example.test"}}`, nil, 422, CodeUnknownField, "Subject"},
		{"repeated field", "POST", "/api/v1/tickets", `{"comment":{"body":"b","body":"c"},"requester":{"email":"n@example.test"}}`, nil, 422, CodeInvalidField, "comment.body"},
		{"wrong type", "POST", "/api/v1/tickets", `{"comment":{"body":5},"requester":{"email":"n@example.test"}}`, nil, 422, CodeInvalidField, "comment.body"},
		{"wrong element type", "POST", "/api/v1/tickets", `{"comment":{"body":"b"},"requester":{"email":"n@example.test"},"tags":["a",2]}`, nil, 422, CodeInvalidField, "tags[1]"},
		{"missing comment", "POST", "/api/v1/tickets", `{"subject":"s","requester":{"email":"n@example.test"}}`, nil, 422, CodeInvalidField, "comment"},
		{"blank comment body", "POST", "/api/v1/tickets", `{"comment":{"body":"  "},"requester":{"email":"n@example.test"}}`, nil, 422, CodeInvalidField, "comment.body"},
		{"missing requester", "POST", "/api/v1/tickets", `{"comment":{"body":"b"}}`, nil, 422, CodeInvalidField, "requester"},
		{"bad requester email", "POST", "/api/v1/tickets", `{"comment":{"body":"b"},"requester":{"email":"Ann <a@b.test>"}}`, nil, 422, CodeInvalidField, "requester.email"},
		{"bad priority", "POST", "/api/v1/tickets", `{"comment":{"body":"b"},"requester":{"email":"n@example.test"},"priority":"asap"}`, nil, 422, CodeInvalidField, "priority"},
		{"bad tag", "POST", "/api/v1/tickets", `{"comment":{"body":"b"},"requester":{"email":"n@example.test"},"tags":["two words"]}`, nil, 422, CodeInvalidField, "tags"},
		{"assignee not an agent", "POST", "/api/v1/tickets", `{"comment":{"body":"b"},"requester":{"email":"n@example.test"},"assignee_id":` + itoa(endUser) + `}`, nil, 422, CodeInvalidField, "assignee_id"},
		{"negative id", "PATCH", tp, `{"assignee_id":-1}`, nil, 422, CodeInvalidField, "assignee_id"},
		{"bad status", "PATCH", tp, `{"status":"done"}`, nil, 422, CodeInvalidField, "status"},
		{"back to new", "PATCH", tp, `{"status":"new"}`, nil, 422, CodeInvalidField, "status"},
		{"close unsolved", "PATCH", tp, `{"status":"closed"}`, nil, 422, CodeInvalidField, "status"},
		{"null status", "PATCH", tp, `{"status":null}`, nil, 422, CodeInvalidField, "status"},
		{"null subject", "PATCH", tp, `{"subject":null}`, nil, 422, CodeInvalidField, "subject"},
		{"assign end user", "PATCH", tp, `{"assignee_id":` + itoa(endUser) + `}`, nil, 422, CodeInvalidField, "assignee_id"},
		{"assign unknown user", "PATCH", tp, `{"assignee_id":9999}`, nil, 422, CodeInvalidField, "assignee_id"},
		{"PATCH unknown field", "PATCH", tp, `{"statuss":"open"}`, nil, 422, CodeUnknownField, "statuss"},
		{"comment without public", "POST", cp, `{"body":"x"}`, nil, 422, CodeInvalidField, "public"},
		{"comment public not bool", "POST", cp, `{"body":"x","public":"yes"}`, nil, 422, CodeInvalidField, "public"},
		{"empty comment", "POST", cp, `{"body":"","public":false}`, nil, 422, CodeInvalidField, "body"},
		{"comment bad status", "POST", cp, `{"body":"x","public":true,"status":"nope"}`, nil, 422, CodeInvalidField, "status"},
		{"comment back to new", "POST", cp, `{"body":"x","public":true,"status":"new"}`, nil, 422, CodeInvalidField, "status"},
		{"long idempotency key", "POST", "/api/v1/tickets", okTicket, []string{"Idempotency-Key: " + strings.Repeat("k", 300)}, 422, CodeInvalidField, "Idempotency-Key"},
		{"idempotency key with space", "POST", "/api/v1/tickets", okTicket, []string{"Idempotency-Key: a b"}, 422, CodeInvalidField, "Idempotency-Key"},
		// Closed tickets: 409.
		{"patch closed", "PATCH", closedPath, `{"priority":"high"}`, nil, 409, CodeTicketClosed, ""},
		{"comment on closed", "POST", closedPath + "/comments", `{"body":"x","public":false}`, nil, 409, CodeTicketClosed, ""},
		// Unknown resources: 404.
		{"unknown ticket", "GET", "/api/v1/tickets/9999", nil, nil, 404, CodeNotFound, ""},
		{"non-numeric ticket", "GET", "/api/v1/tickets/abc", nil, nil, 404, CodeNotFound, ""},
		{"ticket zero", "GET", "/api/v1/tickets/0", nil, nil, 404, CodeNotFound, ""},
		{"patch unknown ticket", "PATCH", "/api/v1/tickets/9999", `{"status":"open"}`, nil, 404, CodeNotFound, ""},
		{"comment on unknown ticket", "POST", "/api/v1/tickets/9999/comments", `{"body":"x","public":true}`, nil, 404, CodeNotFound, ""},
		{"comments of unknown ticket", "GET", "/api/v1/tickets/9999/comments", nil, nil, 404, CodeNotFound, ""},
		{"unknown user", "GET", "/api/v1/users/9999", nil, nil, 404, CodeNotFound, ""},
		{"unknown attachment", "GET", "/api/v1/attachments/nope", nil, nil, 404, CodeNotFound, ""},
		{"merge unknown user", "POST", "/api/v1/users/9999/merge", `{"into":` + itoa(endUser) + `}`, nil, 404, CodeNotFound, ""},
		// Users and merge.
		{"merge into self", "POST", "/api/v1/users/" + itoa(endUser) + "/merge", `{"into":` + itoa(endUser) + `}`, nil, 422, CodeInvalidField, "into"},
		{"merge into unknown", "POST", "/api/v1/users/" + itoa(endUser) + "/merge", `{"into":9999}`, nil, 422, CodeInvalidField, "into"},
		{"merge without into", "POST", "/api/v1/users/" + itoa(endUser) + "/merge", `{}`, nil, 422, CodeInvalidField, "into"},
		{"merge an agent", "POST", "/api/v1/users/" + itoa(agentID) + "/merge", `{"into":` + itoa(endUser) + `}`, nil, 422, CodeInvalidField, "id"},
		{"bad identity", "GET", "/api/v1/users?identity=ada", nil, nil, 422, CodeInvalidField, "identity"},
		{"bad role", "GET", "/api/v1/users?role=boss", nil, nil, 422, CodeInvalidField, "role"},
		// Query parameters.
		{"limit over max", "GET", "/api/v1/tickets?limit=101", nil, nil, 422, CodeInvalidField, "limit"},
		{"limit zero", "GET", "/api/v1/tickets?limit=0", nil, nil, 422, CodeInvalidField, "limit"},
		{"limit not a number", "GET", "/api/v1/tickets?limit=ten", nil, nil, 422, CodeInvalidField, "limit"},
		{"malformed query", "GET", "/api/v1/tickets?cursor=%%%", nil, nil, 400, CodeBadRequest, ""},
		{"forged cursor", "GET", "/api/v1/tickets?cursor=AAAA", nil, nil, 422, CodeInvalidField, "cursor"},
		{"cursor of other filters", "GET", "/api/v1/tickets?status=open&cursor=" + otherCursor.Next, nil, nil, 422, CodeInvalidField, "cursor"},
		{"bad status filter", "GET", "/api/v1/tickets?status=done", nil, nil, 422, CodeInvalidField, "status"},
		{"bad requester filter", "GET", "/api/v1/tickets?requester_id=x", nil, nil, 422, CodeInvalidField, "requester_id"},
		{"unknown filter", "GET", "/api/v1/tickets?stauts=open", nil, nil, 422, CodeUnknownField, "stauts"},
		{"repeated filter", "GET", "/api/v1/tickets?status=open&status=new", nil, nil, 422, CodeInvalidField, "status"},
		{"comments limit", "GET", cp + "?limit=500", nil, nil, 422, CodeInvalidField, "limit"},
		{"unknown events parameter", "GET", "/api/v1/events?since=3", nil, nil, 422, CodeUnknownField, "since"},
		{"bad after", "GET", "/api/v1/events?after=-1", nil, nil, 422, CodeInvalidField, "after"},
		{"bad Last-Event-ID", "GET", "/api/v1/events", nil, []string{"Last-Event-ID: abc"}, 422, CodeInvalidField, "Last-Event-ID"},
		{"token bad role", "POST", "/api/v1/tokens", `{"email":"z@example.test","role":"root"}`, nil, 422, CodeInvalidField, "role"},
		{"token without email", "POST", "/api/v1/tokens", `{"name":"Z"}`, nil, 422, CodeInvalidField, "email"},
		{"token unknown user", "POST", "/api/v1/tokens", `{"user_id":9999}`, nil, 422, CodeInvalidField, "user_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snap()
			token := agent
			if strings.HasPrefix(c.path, "/api/v1/tokens") {
				token = e.admin
			}
			hdr := append([]string(nil), c.hdr...)
			if c.body != nil {
				hdr = append([]string{"Content-Type: application/json"}, hdr...)
			}
			r := e.req(c.method, c.path, token, c.body, hdr...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			got := r.apiErr(t)
			if got.Code != c.code || got.Field != c.field {
				t.Fatalf("error %+v, want code %q field %q", got, c.code, c.field)
			}
			if after := e.snap(); after != before {
				t.Fatalf("store changed: %+v -> %+v", before, after)
			}
		})
	}
	// The closed ticket is untouched.
	if tk := e.ticket(closed.ID); tk.Status != ticket.StatusClosed || tk.Priority != "" {
		t.Fatalf("closed ticket changed: %+v", tk)
	}
	// Nothing reached the outbox.
	_ = e.st.View(func(tx *store.ReadTx) error {
		n, err := tx.OutboxLen()
		if err != nil || n != 0 {
			t.Errorf("outbox has %d entries (%v)", n, err)
		}
		return nil
	})
}
