package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	var ok map[string]string
	e.must(200, "GET", "/healthz", "", nil).decode(t, &ok)
	if ok["status"] != "ok" {
		t.Fatalf("healthz answered %v", ok)
	}
	e.st.Close()
	r := e.must(503, "GET", "/healthz", "", nil)
	if got := r.apiErr(t); got.Code != CodeUnavailable {
		t.Fatalf("code %q, want %q", got.Code, CodeUnavailable)
	}
}

func TestMetricsRecordLatencyByRoute(t *testing.T) {
	e := newEnv(t)
	tk := e.createTicket(e.admin, "metrics", "m@example.test")
	e.must(200, "GET", "/api/v1/tickets/"+itoa(tk.ID), e.admin, nil)
	e.must(404, "GET", "/api/v1/tickets/999", e.admin, nil)
	e.must(404, "GET", "/nowhere", "", nil)
	body := string(e.must(200, "GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`patchbay_http_request_duration_seconds_count{code="200",route="GET /api/v1/tickets/{id}"} 1`,
		`patchbay_http_request_duration_seconds_count{code="404",route="GET /api/v1/tickets/{id}"} 1`,
		`patchbay_http_request_duration_seconds_count{code="201",route="POST /api/v1/tickets"} 1`,
		`patchbay_http_request_duration_seconds_count{code="404",route="unmatched"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Two servers on one registry share the collectors.
	if _, err := New(Options{Store: e.st, Registerer: e.reg}); err != nil {
		t.Fatalf("second server on the registry: %v", err)
	}
	// An open event stream is counted, not timed.
	s := e.openEvents(e.admin)
	<-s.comments
	if body := string(e.must(200, "GET", "/metrics", "", nil).body); !strings.Contains(body, "patchbay_http_event_streams 1") || strings.Contains(body, `route="GET /api/v1/events"`) {
		t.Errorf("event stream metrics wrong:\n%s", body)
	}
	if strings.Contains(body, "/api/v1/tickets/"+itoa(tk.ID)+`"`) {
		t.Error("metrics are labelled by raw path, not route pattern")
	}
}

// TestOpenAPICoversRoutes walks every registered route pattern and fails if
// the OpenAPI document does not describe it, and the other way round.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "GET", "/api/v1/openapi.json", "", nil)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	routed := map[string]bool{}
	for _, p := range e.srv.Patterns() {
		method, path, ok := strings.Cut(p, " ")
		if !ok { // a method-less pattern: the /hooks/ subtree
			method, path = "", p
		}
		if strings.HasSuffix(path, "/") && path != "/" {
			path += "{channel}/{rest}"
		}
		item, found := doc.Paths[path]
		if !found {
			t.Errorf("route %q: path %s missing from openapi.json", p, path)
			continue
		}
		methods := []string{strings.ToLower(method)}
		if method == "" {
			methods = []string{"get", "post", "put", "patch", "delete"}
		}
		for _, m := range methods {
			if _, ok := item[m]; !ok {
				t.Errorf("route %q: operation %s %s missing from openapi.json", p, m, path)
			}
			routed[m+" "+path] = true
		}
	}
	for path, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "post", "put", "patch", "delete":
				if !routed[m+" "+path] {
					t.Errorf("openapi.json documents %s %s, which is not routed", m, path)
				}
			}
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	r := e.must(404, "GET", "/api/v1/nothing", e.admin, nil)
	if r.apiErr(t).Code != CodeNotFound {
		t.Fatal("wrong code")
	}
	r = e.must(405, "PUT", "/api/v1/tickets", e.admin, nil)
	if r.apiErr(t).Code != CodeMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") {
		t.Fatalf("405 without Allow: %v", r.header)
	}
}

func TestHooksMountedWithoutAuth(t *testing.T) {
	var got string
	hooks := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Method + " " + r.URL.Path
		w.WriteHeader(http.StatusAccepted)
	})
	e := newEnv(t, func(o *Options) { o.Hooks = hooks })
	e.must(202, "POST", "/hooks/support/events", "", "{}")
	if got != "POST /hooks/support/events" {
		t.Fatalf("hooks handler saw %q", got)
	}
	// Without a hooks handler, /hooks/ is a JSON 404.
	e2 := newEnv(t)
	if e2.must(404, "POST", "/hooks/x", "", "{}").apiErr(t).Code != CodeNotFound {
		t.Fatal("wrong code")
	}
}

func TestChannelsNeverShowConfig(t *testing.T) {
	list := ChannelsFunc(func() []ChannelInfo {
		return []ChannelInfo{{
			Name: "support", Plugin: "email", Brand: "acme", State: "running", Restarts: 2,
			Status:      sdkStatus("connected"),
			Attachments: sdkPolicy([]string{".pdf"}, 1<<20),
		}}
	})
	e := newEnv(t, func(o *Options) { o.Channels = list })
	var out struct {
		Channels []map[string]any `json:"channels"`
	}
	e.must(200, "GET", "/api/v1/channels", e.admin, nil).decode(t, &out)
	if len(out.Channels) != 1 {
		t.Fatalf("channels: %v", out)
	}
	c := out.Channels[0]
	for k, want := range map[string]any{"name": "support", "plugin": "email", "brand": "acme", "state": "running", "restarts": 2.0} {
		if c[k] != want {
			t.Errorf("%s = %v, want %v", k, c[k], want)
		}
	}
	if c["status"].(map[string]any)["state"] != "connected" {
		t.Errorf("status: %v", c["status"])
	}
	if _, ok := c["capabilities"].(map[string]any); !ok {
		t.Errorf("no capabilities: %v", c)
	}
	if _, ok := c["config"]; ok {
		t.Error("channel config leaked")
	}
	// No channels configured: an empty list, not null.
	e2 := newEnv(t)
	if body := string(e2.must(200, "GET", "/api/v1/channels", e2.admin, nil).body); !strings.Contains(body, `"channels":[]`) {
		t.Fatalf("empty channels: %s", body)
	}
}

// TestOpenAPIRefsResolve checks that every $ref in the document points at
// a component that exists.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				n++
				var cur any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, ok := cur.(map[string]any)
					if !ok || m[part] == nil {
						t.Errorf("unresolved $ref %s", ref)
						return
					}
					cur = m[part]
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if n == 0 {
		t.Fatal("no $ref found")
	}
}
