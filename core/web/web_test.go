package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := New(Options{Version: "v-test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, ts *httptest.Server, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestPagesAndAssets(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		path     string
		status   int
		ctype    string
		contains string
	}{
		{"/", 200, "text/html; charset=utf-8", `<script type="module" src="/assets/app.js">`},
		{"/signin", 200, "text/html; charset=utf-8", "Patchbay v-test"},
		{"/tickets/42", 200, "text/html; charset=utf-8", `id="main"`},
		{"/admin", 200, "text/html; charset=utf-8", `id="main"`},
		{"/admin/tokens", 200, "text/html; charset=utf-8", `id="main"`},
		{"/assets/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"/assets/api.js", 200, "text/javascript; charset=utf-8", "X-CSRF-Token"},
		{"/assets/style.css", 200, "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"/assets/icon.svg", 200, "image/svg+xml", "<svg"},
		{"/tickets/abc", 404, "text/html; charset=utf-8", "Page not found"},
		{"/assets/missing.js", 404, "text/html; charset=utf-8", "Page not found"},
		{"/templates/shell.html", 404, "text/html; charset=utf-8", "Page not found"},
		{"/assets/../templates/shell.html", 404, "text/html; charset=utf-8", "Page not found"},
	}
	for _, c := range cases {
		res, body := get(t, ts, "GET", c.path)
		if res.StatusCode != c.status || res.Header.Get("Content-Type") != c.ctype || !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.path, res.StatusCode, res.Header.Get("Content-Type"), c.contains, strings.Contains(body, c.contains))
		}
		// Every answer carries the security headers.
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "connect-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", c.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP allows inline code: %q", c.path, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", c.path, res.Header)
		}
	}
}

// TestShellHasNoInlineCode checks the pages against the policy: no inline
// script or style, no handler attributes, nothing from another origin.
func TestShellHasNoInlineCode(t *testing.T) {
	ts := newTestServer(t)
	for _, p := range []string{"/", "/nope"} {
		_, body := get(t, ts, "GET", p)
		for _, bad := range []string{"<style", "style=", "onclick", "onload", "javascript:", "http://", "https://", "<script>"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s has %q", p, bad)
			}
		}
	}
	for name, a := range mustHandler(t).assets {
		if !strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".css") {
			continue // the icon's SVG namespace is a URI, not a request
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://"} {
			if strings.Contains(string(a.body), bad) {
				t.Errorf("%s uses %q", name, bad)
			}
		}
	}
}

func mustHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestConditionalAndMethods(t *testing.T) {
	ts := newTestServer(t)
	res, _ := get(t, ts, "GET", "/assets/app.js")
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("asset validators: %v", res.Header)
	}
	res, body := get(t, ts, "GET", "/assets/app.js", "If-None-Match: "+etag)
	if res.StatusCode != 304 || body != "" {
		t.Fatalf("revalidation: %d %q", res.StatusCode, body)
	}
	res, body = get(t, ts, "HEAD", "/")
	if res.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD /: %d %q", res.StatusCode, body)
	}
	res, _ = get(t, ts, "POST", "/")
	if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /: %d %v", res.StatusCode, res.Header)
	}
}
