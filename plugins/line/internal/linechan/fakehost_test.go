package linechan

import (
	"context"
	"fmt"
	"sync"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// testHost is channeltest's FakeHost (the core's behaviour: dedupe on
// ExternalID, policy checks, statuses, stored files) plus failures of one
// particular message, to test a request that fails halfway.
type testHost struct {
	*channeltest.FakeHost

	mu      sync.Mutex
	failFor map[string]int // ExternalID -> Deliver calls left to fail
}

func newTestHost() *testHost {
	return &testHost{FakeHost: channeltest.NewFakeHost(), failFor: map[string]int{}}
}

func (h *testHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	if h.failFor[msg.ExternalID] > 0 {
		h.failFor[msg.ExternalID]--
		h.mu.Unlock()
		return nil, fmt.Errorf("store unavailable")
	}
	h.mu.Unlock()
	return h.FakeHost.Deliver(ctx, msg)
}

// failDeliveries makes the next n deliveries of externalID fail.
func (h *testHost) failDeliveries(externalID string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failFor[externalID] = n
}

func (h *testHost) lastStatus() sdk.Status {
	s := h.Statuses()
	if len(s) == 0 {
		return sdk.Status{}
	}
	return s[len(s)-1]
}
