package mcp

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestHandlerTransport: the in-process transport hands the answer over as
// soon as the header is written and streams the body (the event stream
// depends on it), passes the caller's address on, ends the handler when
// the caller gives up, and turns a panicking handler into an error instead
// of a crash.
func TestHandlerTransport(t *testing.T) {
	release := make(chan struct{})
	ended := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		w.Header().Set("X-Remote", r.RemoteAddr)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "first\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
			io.WriteString(w, "second\n")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("GET /bug", func(http.ResponseWriter, *http.Request) { panic("bug") })
	mux.HandleFunc("GET /empty", func(http.ResponseWriter, *http.Request) {})
	c := &http.Client{Transport: handlerTransport{h: mux}}

	ctx := withRemoteAddr(context.Background(), "192.0.2.7:4321")
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://in-process/stream", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusAccepted || res.Header.Get("X-Remote") != "192.0.2.7:4321" {
		t.Fatalf("status %d, remote %q", res.StatusCode, res.Header.Get("X-Remote"))
	}
	rd := bufio.NewReader(res.Body)
	if line, err := rd.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first line before the handler ended: %q %v", line, err)
	}
	close(release)
	if rest, err := io.ReadAll(rd); err != nil || string(rest) != "second\n" {
		t.Fatalf("rest %q %v", rest, err)
	}
	<-ended

	// The caller gives up: the handler's context ends.
	ended = make(chan struct{})
	release = make(chan struct{})
	cctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(cctx, "GET", "http://in-process/stream", nil)
	if res, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	cancel()
	res.Body.Close()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler outlived its caller")
	}

	for _, path := range []string{"/abort", "/bug"} {
		req, _ = http.NewRequest("GET", "http://in-process"+path, nil)
		res, err := c.Do(req)
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
		}
		if err == nil {
			t.Errorf("%s: a panicking handler read as a whole answer", path)
		}
	}
	req, _ = http.NewRequest("GET", "http://in-process/empty", nil)
	if res, err = c.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("a handler that writes nothing: %v %v", res, err)
	}
}
