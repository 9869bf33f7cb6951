package slackchan

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// fakeHost is channeltest's FakeHost (the core's behaviour: dedupe on
// ExternalID, the attachment policy, stored files, state and statuses) plus
// what the Slack tests need on top: Deliver failing or stalling on request,
// the deadline each Deliver's context carried, and an event log shared with
// the fake Slack to check ordering.
type fakeHost struct {
	*channeltest.FakeHost

	mu        sync.Mutex
	calls     int
	failNext  int
	stall     bool
	deadlines []time.Duration // remaining time on each Deliver's context, or noDeadline
	log       *fakeslack.EventLog
}

var errHostDown = errors.New("core unavailable")

// noDeadline is recorded for a Deliver context without a deadline.
const noDeadline = time.Duration(math.MaxInt64)

func newFakeHost() *fakeHost {
	return &fakeHost{FakeHost: channeltest.NewFakeHost()}
}

func (h *fakeHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	h.calls++
	if dl, ok := ctx.Deadline(); ok {
		h.deadlines = append(h.deadlines, time.Until(dl))
	} else {
		h.deadlines = append(h.deadlines, noDeadline)
	}
	fail, stall, log := h.failNext > 0, h.stall, h.log
	if fail {
		h.failNext--
	}
	h.mu.Unlock()
	if fail {
		return nil, errHostDown
	}
	if stall {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r, err := h.FakeHost.Deliver(ctx, msg)
	if err == nil && !r.Duplicate && log != nil {
		log.Add("deliver:" + msg.ExternalID)
	}
	return r, err
}

// delivered returns the stored messages (one per ExternalID), in order.
// Their Attachments are cleared: the files the host kept are in its
// Delivery's Files.
func (h *fakeHost) delivered() []*sdk.InboundMessage {
	var out []*sdk.InboundMessage
	for _, d := range h.Deliveries() {
		m := d.Message
		out = append(out, &m)
	}
	return out
}

// lastStatus is the latest status the channel reported.
func (h *fakeHost) lastStatus() sdk.Status {
	s := h.Statuses()
	if len(s) == 0 {
		return sdk.Status{}
	}
	return s[len(s)-1]
}

// deliverCalls counts Deliver calls, failed and stalled ones included.
func (h *fakeHost) deliverCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}
