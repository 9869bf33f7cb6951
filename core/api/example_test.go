package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/api"
	"github.com/patchbayhq/patchbay/core/store"
)

// ExampleNew wires the API on a store and creates a ticket with the admin
// token.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "patchbay-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	srv, err := api.New(api.Options{
		Store:      st,
		AdminToken: "s3cret-admin-token",
		Registerer: reg,
		Gatherer:   reg,
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	req := httptest.NewRequest("POST", "/api/v1/tickets", strings.NewReader(
		`{"subject": "VPN down", "comment": {"body": "Cannot connect"}, "requester": {"email": "cleo@example.test"}}`))
	req.Header.Set("Authorization", "Bearer s3cret-admin-token")
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Location"))

	req = httptest.NewRequest("GET", "/api/v1/tickets/1", nil)
	w = httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	fmt.Println(w.Code, http.StatusText(w.Code))
	// Output:
	// 201 /api/v1/tickets/1
	// 401 Unauthorized
}
