package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// genOp is one operation of the document to generate requests for.
type genOp struct {
	method, path string
	op           *openapi3.Operation
	params       openapi3.Parameters
}

// contractOps lists the operations requests are generated for: every one
// but the provider webhooks (the plugin's answer) and the event stream
// (it never ends).
func contractOps(t testing.TB) []genOp {
	c, err := contractDoc()
	if err != nil {
		t.Fatal(err)
	}
	var ops []genOp
	for _, path := range c.doc.Paths.InMatchingOrder() {
		item := c.doc.Paths.Value(path)
		if strings.HasPrefix(path, "/hooks/") || path == "/api/v1/events" {
			continue
		}
		for method, op := range item.Operations() {
			ops = append(ops, genOp{method: method, path: path, op: op, params: append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...)})
		}
	}
	slices.SortFunc(ops, func(a, b genOp) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	return ops
}

// gen draws request parts from the document's schemas: mostly valid
// values, sometimes values of the wrong type, out of range, or unknown
// members, so that both the accepting and the refusing paths run.
type gen struct{ r *rand.Rand }

var genStrings = []string{"", "a", "VIP", " billing ", "ada@example.test", "café ✓", "x,y", "open", "high", "viewing",
	"2026-12-01T09:30:00Z", "0001", "-1", "null", "\u0000", strings.Repeat("long", 80), "support", "email", "replying"}

func (g gen) chance(p float64) bool { return g.r.Float64() < p }

func (g gen) value(s *openapi3.SchemaRef, depth int) any {
	if s == nil || s.Value == nil || depth > 4 {
		return "x"
	}
	v := s.Value
	if len(v.OneOf) > 0 {
		return g.value(v.OneOf[g.r.IntN(len(v.OneOf))], depth+1)
	}
	if len(v.AnyOf) > 0 {
		return g.value(v.AnyOf[g.r.IntN(len(v.AnyOf))], depth+1)
	}
	if len(v.AllOf) > 0 {
		return g.value(v.AllOf[0], depth+1)
	}
	if len(v.Enum) > 0 && g.chance(0.85) {
		return v.Enum[g.r.IntN(len(v.Enum))]
	}
	if g.chance(0.02) { // the wrong type
		return []any{true, 7, "s", nil, map[string]any{}}[g.r.IntN(5)]
	}
	typ := "string"
	if v.Type != nil && len(*v.Type) > 0 {
		types := v.Type.Slice()
		typ = types[g.r.IntN(len(types))]
	} else if len(v.Properties) > 0 {
		typ = "object"
	}
	switch typ {
	case "object":
		out := map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(v.Properties)) { // reproducible
			if slices.Contains(v.Required, name) && g.chance(0.92) || g.chance(0.5) {
				out[name] = g.value(v.Properties[name], depth+1)
			}
		}
		if g.chance(0.02) {
			out["unknown_member"] = 1
		}
		return out
	case "array":
		n := g.r.IntN(4)
		out := make([]any, n)
		for i := range out {
			out[i] = g.value(v.Items, depth+1)
		}
		return out
	case "integer":
		return []int64{0, 1, 2, 3, -1, 999, 1 << 53}[g.r.IntN(7)]
	case "number":
		return g.r.Float64() * 100
	case "boolean":
		return g.chance(0.5)
	case "null":
		return nil
	}
	switch v.Format {
	case "email":
		if g.chance(0.8) {
			return fmt.Sprintf("user%d@example.test", g.r.IntN(5))
		}
	case "date-time":
		if g.chance(0.8) {
			return "2026-12-01T09:30:00Z"
		}
	}
	if g.chance(0.5) {
		return fmt.Sprintf("word%d", g.r.IntN(4))
	}
	return genStrings[g.r.IntN(len(genStrings))]
}

// param renders a parameter value for a path, query or header.
func (g gen) param(p *openapi3.Parameter) string {
	switch p.Name {
	case "id", "macro_id":
		return []string{"1", "2", "1", "2", "1", "3", "999", "abc", "0001", "0"}[g.r.IntN(10)]
	case "channel":
		return []string{"support", "nope"}[g.r.IntN(2)]
	case "If-Match", "If-None-Match":
		return []string{`"1"`, `"2"`, `"3"`, "*", `W/"1"`, "1", ""}[g.r.IntN(7)]
	case "cursor":
		return []string{"", "AQAAAAAAAAAB", "bogus", "AgAAAAAAAAAAAAAAAAAAAAEAAAAA"}[g.r.IntN(4)]
	}
	v := g.value(p.Schema, 0)
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// request builds one request of op against base.
func (g gen) request(base string, op genOp) (*http.Request, []byte) {
	path := op.path
	q := make([]string, 0)
	hdr := http.Header{}
	for _, pr := range op.params {
		p := pr.Value
		switch p.In {
		case "path":
			v := g.param(p)
			if op.path == "/api/v1/tokens/{id}" && (v == "1" || v == "2" || v == "3") {
				v = "999" // keep the agent token for the other requests
			}
			path = strings.ReplaceAll(path, "{"+p.Name+"}", pathEscape(v))
		case "query":
			if g.chance(0.4) {
				q = append(q, queryEscape(p.Name)+"="+queryEscape(g.param(p)))
			}
		case "header":
			if g.chance(0.4) {
				// Values net/http cannot send (control bytes) are left out,
				// and so are values with surrounding spaces, which HTTP
				// strips on the way (the server never sees them).
				if v := g.param(p); v != "" && v == strings.TrimSpace(v) && !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					hdr.Set(p.Name, v)
				}
			}
		}
	}
	if g.chance(0.05) {
		q = append(q, "unknown_param=1")
	}
	var body []byte
	if rb := op.op.RequestBody; rb != nil && rb.Value != nil {
		if mt := rb.Value.Content.Get("application/json"); mt != nil {
			body, _ = json.Marshal(g.value(mt.Schema, 0))
			hdr.Set("Content-Type", "application/json")
		} else {
			body = []byte("some bytes")
			hdr.Set("Content-Type", "application/octet-stream")
		}
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	req, err := http.NewRequest(strings.ToUpper(op.method), u, bytes.NewReader(body))
	if err != nil {
		req, _ = http.NewRequest(strings.ToUpper(op.method), base+"/api/v1/tickets/bad", nil)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return req, body
}

func pathEscape(s string) string {
	return strings.NewReplacer("/", "%2F", "?", "%3F", "#", "%23", "%", "%25", " ", "%20", "\x00", "%00").Replace(s)
}
func queryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D", "#", "%23", " ", "%20", "+", "%2B", "\x00", "%00").Replace(s)
}

// contractEnv is a server with the rules engine, two tickets, a macro and
// an agent token, for generated requests.
func contractEnv(t *testing.T) (*env, string) {
	e := newEnv(t, withRules)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	e.createTicket(agent, "one", "c1@example.test")
	e.createTicket(agent, "two", "c2@example.test")
	e.must(201, "POST", "/api/v1/macros", e.admin, map[string]any{"title": "m", "actions": []map[string]any{{"field": "add_tags", "value": "macro"}}})
	return e, agent
}

// sendGenerated sends one generated request and checks the contract: no
// 5xx (the rules routes' 503 without an engine aside, this server has
// one), the answer valid against the document (through the suite's own
// check), and a request the server accepted (2xx) valid against the
// document too: the document never refuses what the server takes.
func sendGenerated(t *testing.T, e *env, agent string, g gen, op genOp) {
	t.Helper()
	req, body := g.request(e.ts.URL, op)
	token := e.admin
	if g.chance(0.3) {
		token = agent
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	desc := fmt.Sprintf("%s %s body %.300s", req.Method, req.URL.RequestURI(), body)
	if res.StatusCode >= 500 {
		t.Errorf("%s: %d %s", desc, res.StatusCode, got)
	}
	if err := checkContract(req, res.StatusCode, res.Header, got); err != nil {
		t.Errorf("%s: answer %d breaks openapi.json: %v\n%.300s", desc, res.StatusCode, err, got)
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		c, err := contractDoc()
		if err != nil {
			t.Fatal(err)
		}
		route, params, err := c.router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s: accepted but not routed by the document: %v", desc, err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s: the server accepted (%d) a request openapi.json refuses: %v", desc, res.StatusCode, err)
		}
	}
}

// TestContractNullMembers: members the server takes as null (tags,
// attachment_ids, a rule's conditions…) are nullable in the document, so
// a request the server accepts is one the document accepts.
func TestContractNullMembers(t *testing.T) {
	e, _ := contractEnv(t)
	cases := []struct{ method, path, body string }{
		{"POST", "/api/v1/tickets", `{"comment":{"body":"b"},"requester":{"email":"n@example.test"},"tags":null}`},
		{"PATCH", "/api/v1/tickets/1", `{"tags":null}`},
		{"POST", "/api/v1/tickets/1/comments", `{"body":"b","public":false,"attachment_ids":null}`},
		{"POST", "/api/v1/macros", `{"title":"n","conditions":null,"actions":[{"field":"add_tags","value":"x"}],"active":null}`},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, e.ts.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "application/json")
		checkAccepted(t, e, req, []byte(tc.body))
	}
}

// checkAccepted sends req and requires a 2xx whose request the document
// accepts.
func checkAccepted(t *testing.T, e *env, req *http.Request, body []byte) {
	t.Helper()
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	e.checkAnswer(req, res, got)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, got)
	}
	c, err := contractDoc()
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		t.Errorf("%s %s: the server accepted a request openapi.json refuses: %v", req.Method, req.URL.Path, err)
	}
}

// TestContractGeneratedRequests sends requests generated from the
// document to every operation, with fixed seeds.
func TestContractGeneratedRequests(t *testing.T) {
	e, agent := contractEnv(t)
	ops := contractOps(t)
	g := gen{rand.New(rand.NewPCG(1, 2))}
	for range 25 {
		for _, op := range ops {
			sendGenerated(t, e, agent, g, op)
		}
	}
}

// FuzzContractRequests lets the fuzzer pick the seed and operation of
// generated requests.
func FuzzContractRequests(f *testing.F) {
	for i := range uint64(8) {
		f.Add(i, uint8(i*7))
	}
	f.Fuzz(func(t *testing.T, seed uint64, opIndex uint8) {
		e, agent := contractEnv(t)
		ops := contractOps(t)
		g := gen{rand.New(rand.NewPCG(seed, uint64(opIndex)))}
		for i := range 4 {
			sendGenerated(t, e, agent, g, ops[(int(opIndex)+i)%len(ops)])
		}
	})
}
