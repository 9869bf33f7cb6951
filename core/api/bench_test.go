package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
)

// BenchmarkListOpenTickets measures GET /api/v1/tickets?status=open&limit=50
// through the whole handler (auth, routing, store index read, JSON) on a
// store holding 100,000 tickets, a third of them open.
func BenchmarkListOpenTickets(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir(), GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedTickets(b, st, 100000)
	reg := prometheus.NewRegistry()
	srv, err := New(Options{Store: st, AdminToken: testAdminToken, Registerer: reg, Gatherer: reg, Heartbeat: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/v1/tickets?status=open&limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkPostInternalNote measures POST /api/v1/tickets/{id}/comments
// (decode, auth, one synced group commit, JSON answer) from 32 concurrent
// callers spread over 64 tickets.
func BenchmarkPostInternalNote(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir(), GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedTickets(b, st, 64)
	reg := prometheus.NewRegistry()
	srv, err := New(Options{Store: st, AdminToken: testAdminToken, Registerer: reg, Gatherer: reg, Heartbeat: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Uint64
	b.SetParallelism(16) // x GOMAXPROCS callers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := n.Add(1)%64 + 1
			req := httptest.NewRequest("POST", "/api/v1/tickets/"+strconv.FormatUint(id, 10)+"/comments",
				strings.NewReader(`{"body":"looking into it","public":false}`))
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
