package whatsappchan

import (
	"context"
	"errors"
	"sync"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// testHost is channeltest's FakeHost (the in-memory core: dedupe on
// ExternalID, attachment policy, state, delivery updates) with one addition:
// it can refuse one particular message a number of times, as a core whose
// commit failed for one message of a batch.
type testHost struct {
	*channeltest.FakeHost
	mu         sync.Mutex
	failures   map[string]int
	stateCount int
}

func newTestHost() *testHost {
	return &testHost{FakeHost: channeltest.NewFakeHost(), failures: make(map[string]int)}
}

// failOnce makes the next n deliveries of wamid fail.
func (h *testHost) failTimes(wamid string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures[wamid] = n
}

func (h *testHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	if h.failures[msg.ExternalID] > 0 {
		h.failures[msg.ExternalID]--
		h.mu.Unlock()
		return nil, errors.New("the core could not commit")
	}
	h.mu.Unlock()
	return h.FakeHost.Deliver(ctx, msg)
}

// GetState counts the call and reads FakeHost's state.
func (h *testHost) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	h.mu.Lock()
	h.stateCount++
	h.mu.Unlock()
	return h.FakeHost.GetState(ctx, key)
}

// SetState counts the call and writes FakeHost's state.
func (h *testHost) SetState(ctx context.Context, key string, value []byte) error {
	h.mu.Lock()
	h.stateCount++
	h.mu.Unlock()
	return h.FakeHost.SetState(ctx, key, value)
}

// stateCalls is how many GetState and SetState calls the channel made.
func (h *testHost) stateCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stateCount
}

// messages returns the stored messages (without their attachments; see
// FakeHost.Deliveries for the files).
func (h *testHost) messages() []sdk.InboundMessage {
	var out []sdk.InboundMessage
	for _, d := range h.Deliveries() {
		out = append(out, d.Message)
	}
	return out
}

// updatesFor returns the delivery updates reported for one message.
func (h *testHost) updatesFor(wamid string) []sdk.DeliveryUpdate {
	var out []sdk.DeliveryUpdate
	for _, u := range h.DeliveryUpdates() {
		if u.ExternalID == wamid {
			out = append(out, u)
		}
	}
	return out
}
