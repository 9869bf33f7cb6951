package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestListenPprofAddresses(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr error // nil: listens
		anyErr  bool
	}{
		{addr: "127.0.0.1:0"},
		{addr: "localhost:0"},
		{addr: "0.0.0.0:0", wantErr: errPprofAddr},
		{addr: ":0", wantErr: errPprofAddr},
		{addr: "192.0.2.1:6060", wantErr: errPprofAddr},
		{addr: "example.com:6060", wantErr: errPprofAddr},
		{addr: "127.0.0.1", anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ln, err := listenPprof(tt.addr)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("listenPprof(%q) = %v, want %v", tt.addr, err, tt.wantErr)
				}
			case tt.anyErr:
				if err == nil {
					ln.Close()
					t.Fatalf("listenPprof(%q) succeeded, want an error", tt.addr)
				}
			default:
				if err != nil {
					t.Fatalf("listenPprof(%q): %v", tt.addr, err)
				}
				ln.Close()
			}
		})
	}
}

func TestPprofMuxServesProfiles(t *testing.T) {
	srv := httptest.NewServer(pprofMux())
	defer srv.Close()
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %.80q, want 200 containing %q", path, resp.StatusCode, body, want)
		}
	}
	resp, err := http.Get(srv.URL + "/api/v1/tickets")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v1/tickets on the profiling mux = %d, want 404", resp.StatusCode)
	}
}

// DNS rebinding: the profiling listener is on loopback, but a page in the
// operator's browser can point its own name at 127.0.0.1; the browser then
// sends that name as Host. Only loopback Hosts are served.
func TestPprofRefusesNonLoopbackHost(t *testing.T) {
	srv := httptest.NewServer(loopbackOnly(pprofMux()))
	defer srv.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	tests := []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST", http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"127.1.2.3", http.StatusOK},
		{"evil.example:" + port, http.StatusForbidden},
		{"evil.example", http.StatusForbidden},
		{"localhost.evil.example", http.StatusForbidden},
		{"192.0.2.1:" + port, http.StatusForbidden},
		{"0.0.0.0:" + port, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/debug/pprof/cmdline", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("Host %q: %d, want %d", tt.host, resp.StatusCode, tt.want)
			}
		})
	}
}
