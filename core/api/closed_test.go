package api

import "testing"

// TestStoreClosed: once the store is closed (shutdown), API calls answer
// 503 in the error shape instead of failing obscurely.
func TestStoreClosed(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	e.st.Close()
	for _, c := range []struct {
		method, path, token string
		body                any
	}{
		{"GET", "/api/v1/tickets", e.admin, nil},
		{"GET", "/api/v1/tickets", agent, nil},
		{"POST", "/api/v1/tickets", e.admin, map[string]any{"comment": map[string]any{"body": "b"}, "requester": map[string]any{"email": "c@example.test"}}},
		{"GET", "/api/v1/events", e.admin, nil},
		{"GET", "/api/v1/backup", e.admin, nil},
	} {
		r := e.req(c.method, c.path, c.token, c.body)
		if r.status != 503 {
			t.Errorf("%s %s: status %d: %s", c.method, c.path, r.status, r.body)
			continue
		}
		if got := r.apiErr(t); got.Code != CodeUnavailable {
			t.Errorf("%s %s: code %s", c.method, c.path, got.Code)
		}
	}
}
