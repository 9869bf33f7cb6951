package channel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/patchbayhq/patchbay/sdk"
)

// fakeHost is an in-process sdk.Host recording what the channel hands the
// core: delivered messages (with their attachments read in full), delivery
// updates and state. Deliver deduplicates on ExternalID like the core.
type fakeHost struct {
	mu          sync.Mutex
	delivered   []*sdk.InboundMessage
	files       map[string][]byte // wamid/filename -> content
	seen        map[string]bool
	failDeliver map[string]int // wamid -> remaining failures ("*" for any)
	policy      *sdk.AttachmentPolicy
	known       map[string]bool // outbound wamids the core knows
	updates     []sdk.DeliveryUpdate
	state       map[string][]byte
	statuses    []sdk.Status
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		files:       make(map[string][]byte),
		seen:        make(map[string]bool),
		failDeliver: make(map[string]int),
		known:       make(map[string]bool),
		state:       make(map[string][]byte),
	}
}

func (h *fakeHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	for _, k := range []string{msg.ExternalID, "*"} {
		if h.failDeliver[k] > 0 {
			h.failDeliver[k]--
			h.mu.Unlock()
			return nil, errors.New("store unavailable")
		}
	}
	dup := h.seen[msg.ExternalID]
	h.mu.Unlock()
	r := &sdk.Receipt{TicketID: 1, CommentID: 1, Duplicate: dup}
	if dup {
		return r, nil
	}
	files := make(map[string][]byte)
	for _, a := range msg.Attachments {
		if h.policy != nil && !h.policy.Allows(a.Filename, a.Size) {
			r.Rejected = append(r.Rejected, sdk.RejectedAttachment{Filename: a.Filename, Reason: "refused by policy"})
			continue
		}
		rc, err := a.Open(ctx)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", a.Filename, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", a.Filename, err)
		}
		if a.SHA256 != "" {
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != a.SHA256 {
				return nil, fmt.Errorf("attachment %s: sha256 mismatch", a.Filename)
			}
		}
		files[msg.ExternalID+"/"+a.Filename] = data
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[msg.ExternalID] = true
	h.delivered = append(h.delivered, msg)
	for k, v := range files {
		h.files[k] = v
	}
	return r, nil
}

func (h *fakeHost) UpdateDelivery(_ context.Context, u sdk.DeliveryUpdate) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.known[u.ExternalID] {
		return false, nil
	}
	h.updates = append(h.updates, u)
	return true, nil
}

func (h *fakeHost) OpenAttachment(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("no stored attachments in this fake")
}

func (h *fakeHost) GetState(_ context.Context, key string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.state[key]
	return append([]byte(nil), v...), ok, nil
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

func (h *fakeHost) messages() []*sdk.InboundMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*sdk.InboundMessage(nil), h.delivered...)
}

func (h *fakeHost) deliveryUpdates() []sdk.DeliveryUpdate {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.DeliveryUpdate(nil), h.updates...)
}

func (h *fakeHost) file(wamid, name string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.files[wamid+"/"+name]
	return b, ok
}
