package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
)

// BenchmarkListOpenTickets measures GET /api/v1/tickets?status=open&limit=50
// through the whole handler (auth, routing, store index read, JSON) on a
// store holding 30,000 tickets, a third of them open.
func BenchmarkListOpenTickets(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir(), GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedTickets(b, st, 30000)
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
