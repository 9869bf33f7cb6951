package main

import (
	"net/http"
	"strings"
	"testing"
)

// /metrics of the wired core shows what operators alert on: inbound
// messages (stored and duplicates), Deliver latency, plugin state and API
// latency. (Restart and outbox series appear with their first event; their
// packages test them.)
func TestMetricsOfTheWiredCore(t *testing.T) {
	cfg := writeConfig(t, `
http { listen = "127.0.0.1:0" }
channel "alpha" {
  plugin = "test"
  config {
    token = "t"
  }
}
`)
	const token = "metrics-admin-token-0123456789abcdef"
	_, _, base, _ := startServe(t, cfg, "PATCHBAY_ADMIN_TOKEN="+token)
	for range 2 { // the second is a duplicate
		resp, err := http.Post(base+"/hooks/alpha/deliver", "application/json",
			strings.NewReader(`{"ID":"m-1","Conversation":"c-1","Text":"hello"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("deliver: %d", resp.StatusCode)
		}
	}
	if code, _ := apiCall(t, "GET", base+"/api/v1/tickets", token, nil); code != http.StatusOK {
		t.Fatalf("list tickets: %d", code)
	}
	_, _, body := get(t, base+"/metrics")
	for _, want := range []string{
		`patchbay_inbound_messages_total{instance="alpha",result="stored"} 1`,
		`patchbay_inbound_messages_total{instance="alpha",result="duplicate"} 1`,
		`patchbay_inbound_deliver_seconds_count{instance="alpha"}`,
		`patchbay_plugin_up{channel="alpha"} 1`,
		`patchbay_http_request_duration_seconds_count{code="200",route="GET /api/v1/tickets"}`,
		`go_goroutines`,
		`patchbay_store_disk_free_bytes `,
		`patchbay_store_disk_reserve_bytes `,
		`patchbay_store_writes_refused 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
