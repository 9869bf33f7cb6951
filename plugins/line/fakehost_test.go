package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/patchbayhq/patchbay/sdk"
)

// fakeHost is an in-process sdk.Host: it stores delivered messages (with
// their attachment bytes, read during Deliver as the real host streams
// them), dedupes on ExternalID like the core, and can be told to fail.
type fakeHost struct {
	mu        sync.Mutex
	stored    []storedMessage
	byID      map[string]int
	calls     int
	failFor   map[string]int // ExternalID -> Deliver calls left to fail
	statuses  []sdk.Status
	files     map[string][]byte
	nextFiles int
}

type storedMessage struct {
	msg   sdk.InboundMessage
	files map[string][]byte // by filename
}

func newFakeHost() *fakeHost {
	return &fakeHost{byID: map[string]int{}, files: map[string][]byte{}, failFor: map[string]int{}}
}

func (h *fakeHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	h.calls++
	if h.failFor[msg.ExternalID] > 0 {
		h.failFor[msg.ExternalID]--
		h.mu.Unlock()
		return nil, fmt.Errorf("store unavailable")
	}
	h.mu.Unlock()
	files := map[string][]byte{}
	for _, a := range msg.Attachments {
		rc, err := a.Open(ctx)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", a.Filename, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if a.Size >= 0 && int64(len(data)) != a.Size {
			return nil, fmt.Errorf("%s: size %d, declared %d", a.Filename, len(data), a.Size)
		}
		if a.SHA256 != "" {
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != a.SHA256 {
				return nil, fmt.Errorf("%s: sha256 mismatch", a.Filename)
			}
		}
		files[a.Filename] = data
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if i, ok := h.byID[msg.ExternalID]; ok {
		return &sdk.Receipt{TicketID: 1, CommentID: uint64(i + 1), Duplicate: true}, nil
	}
	h.stored = append(h.stored, storedMessage{msg: *msg, files: files})
	h.byID[msg.ExternalID] = len(h.stored) - 1
	return &sdk.Receipt{TicketID: 1, CommentID: uint64(len(h.stored))}, nil
}

func (h *fakeHost) UpdateDelivery(ctx context.Context, u sdk.DeliveryUpdate) (bool, error) {
	return false, nil
}

func (h *fakeHost) OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	data, ok := h.files[id]
	if !ok {
		return nil, fmt.Errorf("attachment %s not found", id)
	}
	return io.NopCloser(strings.NewReader(string(data))), nil
}

func (h *fakeHost) addFile(data []byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextFiles++
	id := fmt.Sprintf("att%d", h.nextFiles)
	h.files[id] = data
	return id
}

func (h *fakeHost) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	return nil, false, nil
}
func (h *fakeHost) SetState(ctx context.Context, key string, value []byte) error { return nil }
func (h *fakeHost) DeleteState(ctx context.Context, key string) error            { return nil }

func (h *fakeHost) ReportStatus(ctx context.Context, s sdk.Status) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = append(h.statuses, s)
	return nil
}

// failDeliveries makes the next n deliveries of externalID fail.
func (h *fakeHost) failDeliveries(externalID string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failFor[externalID] = n
}

func (h *fakeHost) deliverCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func (h *fakeHost) messages() []storedMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]storedMessage(nil), h.stored...)
}

func (h *fakeHost) lastStatus() sdk.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.statuses) == 0 {
		return sdk.Status{}
	}
	return h.statuses[len(h.statuses)-1]
}
