package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestDecodeJSONPatch(t *testing.T) {
	cases := []struct {
		body        string
		status      int
		code, field string
		check       func(t *testing.T, p *ticketPatchBody)
	}{
		{`{}`, 0, "", "", func(t *testing.T, p *ticketPatchBody) {
			if p.Status.Set || p.Tags.Set || p.AssigneeID.Set {
				t.Error("absent fields marked set")
			}
		}},
		{`{"assignee_id":null,"tags":null,"priority":"low"}`, 0, "", "", func(t *testing.T, p *ticketPatchBody) {
			if !p.AssigneeID.Set || !p.AssigneeID.Null || !p.Tags.Null || p.Priority.Value != "low" {
				t.Errorf("%+v", p)
			}
		}},
		{`{"assignee_id":7}`, 0, "", "", func(t *testing.T, p *ticketPatchBody) {
			if !p.AssigneeID.Set || p.AssigneeID.Null || p.AssigneeID.Value != 7 {
				t.Errorf("%+v", p)
			}
		}},
		{`{"assignee_id":1.5}`, 422, CodeInvalidField, "assignee_id", nil},
		{`{"assignee_id":"7"}`, 422, CodeInvalidField, "assignee_id", nil},
		{`{"assignee_id":18446744073709551616}`, 422, CodeInvalidField, "assignee_id", nil},
		{`{"tags":"vpn"}`, 422, CodeInvalidField, "tags", nil},
		{`{"tags":[null]}`, 422, CodeInvalidField, "tags[0]", nil},
		{`{"status":true}`, 422, CodeInvalidField, "status", nil},
		{`{"nope":1}`, 422, CodeUnknownField, "nope", nil},
		{`{"status":"open","status":"solved"}`, 422, CodeInvalidField, "status", nil},
		{`{"tags":[],"subject":"a","tags":["x"]}`, 422, CodeInvalidField, "tags", nil},
		{`{"tags":[` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `]}`, 422, CodeInvalidField, "tags[0]" + strings.Repeat("[0]", 30), nil},
		{`{"status":"open"} x`, 400, CodeMalformedJSON, "", nil},
		{`{"status":"open"`, 400, CodeMalformedJSON, "", nil},
		{`"open"`, 400, CodeBadRequest, "", nil},
		{`null`, 400, CodeBadRequest, "", nil},
		{"   ", 400, CodeMalformedJSON, "", nil},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			var p ticketPatchBody
			err := decodeJSON([]byte(c.body), &p)
			if c.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				c.check(t, &p)
				return
			}
			ae := asAPIError(err)
			if ae.Status != c.status || ae.Code != c.code || ae.Field != c.field {
				t.Fatalf("got %+v, want %d %s %q", ae, c.status, c.code, c.field)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := encodeCursor("scope-a", 42)
	got, ok, err := decodeCursor("scope-a", c)
	if err != nil || !ok || got.After != 42 {
		t.Fatalf("round trip: %+v %v %v", got, ok, err)
	}
	if _, _, err := decodeCursor("scope-b", c); asAPIError(err).Field != "cursor" {
		t.Fatalf("cursor accepted for another scope: %v", err)
	}
	if _, ok, err := decodeCursor("scope-a", ""); ok || err != nil {
		t.Fatal("empty cursor is not the first page")
	}
}

// TestLogsCarryNoSecrets runs requests carrying tokens (in the header and,
// wrongly, in the query string) and checks that the access log holds none.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace, JSONFormat: true})
	e := newEnv(t, func(o *Options) { o.Logger = logger })
	agent, _ := e.agentToken("Ada", "ada@example.test")
	e.must(200, "GET", "/api/v1/tickets", agent, nil)
	e.must(401, "GET", "/api/v1/tickets", agent+"x", nil)
	e.req("GET", "/api/v1/tickets?token="+agent, agent, nil)
	// An unknown query parameter is refused, and its value not logged.
	e.must(422, "GET", "/healthz?secret="+testAdminToken, "", nil)
	logs := buf.String()
	if !strings.Contains(logs, `"route":"GET /api/v1/tickets"`) {
		t.Fatalf("no access log line: %s", logs)
	}
	for _, secret := range []string{agent, testAdminToken, hashToken(agent)} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log leaks a secret: %s", logs)
		}
	}
	// Every line is JSON with the token id, never the token.
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
	}
}
