package api

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// A token over its burst gets 429 with Retry-After and RateLimit headers;
// another token is not affected; the bucket refills with time.
func TestRateLimitPerToken(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(o *Options) {
		o.Clock = clock
		o.RateLimit = RateLimit{PerMinute: 60, Burst: 3} // one a second
	})
	ada, _ := e.agentToken("Ada", "ada@example.test") // the admin token's first request
	bob, _ := e.agentToken("Bob", "bob@example.test") // and its second
	for i := range 3 {
		r := e.must(200, "GET", "/api/v1/me", ada, nil)
		if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) || r.header.Get("RateLimit-Reset") == "" {
			t.Fatalf("request %d: headers %v", i, r.header)
		}
	}
	before := e.snap()
	r := e.must(429, "POST", "/api/v1/tickets", ada, map[string]any{"comment": map[string]any{"body": "x"}, "requester": map[string]any{"email": "c@example.test"}})
	if ae := r.apiErr(t); ae.Code != CodeRateLimited {
		t.Fatalf("code %q", ae.Code)
	}
	if r.header.Get("Retry-After") != "1" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers %v", r.header)
	}
	if after := e.snap(); after != before {
		t.Fatal("a refused request changed the store")
	}
	// Refused requests do not use up the bucket further: one second later
	// exactly one more passes.
	e.must(200, "GET", "/api/v1/me", bob, nil) // another token has its own bucket
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	e.must(200, "GET", "/api/v1/me", ada, nil)
	e.must(429, "GET", "/api/v1/me", ada, nil)
	// Public routes are not limited.
	for range 5 {
		if r := e.must(200, "GET", "/healthz", "", nil); r.header.Get("RateLimit-Limit") != "" {
			t.Fatal("public route carries rate limit headers")
		}
	}
	// Unauthenticated requests are refused before the limiter (401).
	e.must(401, "GET", "/api/v1/me", "wrong-token", nil)
}

// Without a configured limit no request is refused and no header is set.
func TestRateLimitOff(t *testing.T) {
	e := newEnv(t)
	for range 50 {
		if r := e.must(200, "GET", "/api/v1/me", e.admin, nil); r.header.Get("RateLimit-Limit") != "" {
			t.Fatal("rate limit headers without a limit")
		}
	}
}
