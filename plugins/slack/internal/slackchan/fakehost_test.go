package slackchan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
)

// fakeHost is an in-process sdk.Host: it stores deliveries with their
// attachment bytes (read through Open as the SDK streams them), dedupes on
// ExternalID like the core, can fail or stall Deliver, and records statuses
// and state.
type fakeHost struct {
	mu        sync.Mutex
	messages  []*sdk.InboundMessage // unique messages, in order
	files     map[string]map[string][]byte
	calls     int
	failNext  int
	stall     bool
	deadlines []time.Duration // remaining time on each Deliver's context, or noDeadline
	statuses  []sdk.Status
	state     map[string][]byte
	log       *fakeslack.EventLog
}

var errHostDown = errors.New("core unavailable")

// noDeadline is recorded for a Deliver context without a deadline.
const noDeadline = time.Duration(math.MaxInt64)

func newFakeHost() *fakeHost {
	return &fakeHost{files: map[string]map[string][]byte{}, state: map[string][]byte{}}
}

func (h *fakeHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	h.calls++
	if dl, ok := ctx.Deadline(); ok {
		h.deadlines = append(h.deadlines, time.Until(dl))
	} else {
		h.deadlines = append(h.deadlines, noDeadline)
	}
	fail, stall := h.failNext > 0, h.stall
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
	files := map[string][]byte{}
	for _, a := range msg.Attachments {
		r, err := a.Open(ctx)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", a.Filename, err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", a.Filename, err)
		}
		files[a.Filename] = b
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, m := range h.messages {
		if m.ExternalID == msg.ExternalID {
			return &sdk.Receipt{TicketID: 1, CommentID: uint64(i + 1), Duplicate: true}, nil
		}
	}
	h.messages = append(h.messages, msg)
	h.files[msg.ExternalID] = files
	if h.log != nil {
		h.log.Add("deliver:" + msg.ExternalID)
	}
	return &sdk.Receipt{TicketID: 1, CommentID: uint64(len(h.messages))}, nil
}

func (h *fakeHost) UpdateDelivery(context.Context, sdk.DeliveryUpdate) (bool, error) {
	return false, nil
}

func (h *fakeHost) OpenAttachment(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("no stored attachments in the fake host")
}

func (h *fakeHost) GetState(_ context.Context, key string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.state[key]
	return v, ok, nil
}

func (h *fakeHost) SetState(_ context.Context, key string, value []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state[key] = append([]byte(nil), value...)
	return nil
}

func (h *fakeHost) DeleteState(_ context.Context, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.state, key)
	return nil
}

func (h *fakeHost) ReportStatus(_ context.Context, s sdk.Status) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = append(h.statuses, s)
	return nil
}

func (h *fakeHost) delivered() []*sdk.InboundMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*sdk.InboundMessage(nil), h.messages...)
}

func (h *fakeHost) lastStatus() sdk.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.statuses) == 0 {
		return sdk.Status{}
	}
	return h.statuses[len(h.statuses)-1]
}

func (h *fakeHost) deliverCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}
