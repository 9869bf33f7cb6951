package whatsappchan

import (
	"fmt"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
)

func TestSeenSetBounded(t *testing.T) {
	var s seenSet
	for i := 0; i < seenCapacity+10; i++ {
		s.add(fmt.Sprint(i))
	}
	s.add("5000") // already present: no eviction
	if s.has("0") || s.has("9") {
		t.Error("the oldest ids were not forgotten")
	}
	if !s.has("10") || !s.has(fmt.Sprint(seenCapacity+9)) || !s.has("5000") {
		t.Error("recent ids were forgotten")
	}
	if len(s.ids) != seenCapacity {
		t.Errorf("holds %d ids, want %d", len(s.ids), seenCapacity)
	}
}

// A redelivered batch neither downloads its media again nor asks the core
// again for messages already durable; the one that failed is delivered.
func TestRedeliverySkipsDurableMessages(t *testing.T) {
	h := newHarness(t)
	sha := h.graph.AddMedia("3001", "application/pdf", []byte("%PDF redelivery"))
	body := h.notification(customer(),
		fakegraph.MediaMessage(customerWaID, "wamid.R1", "document", map[string]any{"id": "3001", "mime_type": "application/pdf", "sha256": sha, "filename": "a.pdf"}, testNow),
		fakegraph.TextMessage(customerWaID, "wamid.R2", "second", testNow))
	h.host.failTimes("wamid.R2", 1)
	wantStatus(t, h.post(body), 500)
	calls := h.host.DeliverCalls()
	wantStatus(t, h.post(body), 200)
	if h.graph.Hits("download") != 1 || h.graph.Hits("lookup") != 1 {
		t.Errorf("media fetched again on redelivery: lookup %d, download %d", h.graph.Hits("lookup"), h.graph.Hits("download"))
	}
	if got := h.host.DeliverCalls() - calls; got != 1 {
		t.Errorf("redelivery made %d Deliver calls, want 1 (the failed message)", got)
	}
	if n := len(h.host.messages()); n != 2 {
		t.Fatalf("stored %d messages, want 2", n)
	}
}
