package pluginhost

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

func TestSplitHookPath(t *testing.T) {
	tests := []struct {
		path, channel, sub string
		ok                 bool
	}{
		{"/hooks/slack", "slack", "/", true},
		{"/hooks/slack/", "slack", "/", true},
		{"/hooks/slack/events/v1", "slack", "/events/v1", true},
		{"/hooks/", "", "/", true},
		{"/hooks", "", "", false},
		{"/api/v1/tickets", "", "", false},
	}
	for _, tt := range tests {
		ch, sub, ok := splitHookPath(tt.path)
		if ch != tt.channel || sub != tt.sub || ok != tt.ok {
			t.Errorf("splitHookPath(%q) = %q %q %v", tt.path, ch, sub, ok)
		}
	}
}

// FuzzSplitHookPath checks the routing of provider URLs: the channel never
// contains a slash, the plugin's path always starts with one, and together
// they give back the request path.
func FuzzSplitHookPath(f *testing.F) {
	for _, s := range []string{"/hooks/a/b", "/hooks/", "/hooks//x", "/x", "/hooks/a%2Fb/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		ch, sub, ok := splitHookPath(p)
		if !ok {
			if strings.HasPrefix(p, HooksPrefix) {
				t.Fatalf("%q rejected", p)
			}
			return
		}
		if strings.Contains(ch, "/") || !strings.HasPrefix(sub, "/") {
			t.Fatalf("%q → %q %q", p, ch, sub)
		}
		back := HooksPrefix + ch + sub
		if back != p && back != p+"/" {
			t.Fatalf("%q → %q %q does not rebuild the path (%q)", p, ch, sub, back)
		}
	})
}

// Announced but unsent bodies: a webhook announcing a large
// Content-Length (within the limit) that sends only a few bytes costs the
// bytes sent, not the announced size (the buffer grows in bounded chunks
// as bytes arrive); the bytes that did arrive are read whole, and a body
// over the limit is refused.
func TestWebhookBodyReadInBoundedChunks(t *testing.T) {
	const announced = 1 << 20
	sent := strings.Repeat("x", 1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 20
	for range rounds {
		r := httptest.NewRequest("POST", "/hooks/a/", io.MultiReader(strings.NewReader(sent), errReader{io.ErrUnexpectedEOF}))
		r.ContentLength = announced
		if _, err := readBody(httptest.NewRecorder(), r, announced); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated body: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > 4*readChunk {
		t.Fatalf("reading 1000 bytes of an announced %d allocated %d bytes per request", announced, per)
	}
	for _, n := range []int{0, 1, readChunk - 1, readChunk, 3*readChunk + 7, announced} {
		body := strings.Repeat("y", n)
		r := httptest.NewRequest("POST", "/hooks/a/", strings.NewReader(body))
		got, err := readBody(httptest.NewRecorder(), r, announced)
		if err != nil || string(got) != body {
			t.Fatalf("%d bytes: read %d, %v", n, len(got), err)
		}
	}
	r := httptest.NewRequest("POST", "/hooks/a/", strings.NewReader(strings.Repeat("z", announced+1)))
	r.ContentLength = -1
	var mbe *http.MaxBytesError
	if _, err := readBody(httptest.NewRecorder(), r, announced); !errors.As(err, &mbe) {
		t.Fatalf("over the limit: %v", err)
	}
}

// errReader fails every Read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
