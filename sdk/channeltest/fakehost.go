package channeltest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// File is an attachment's name, type and bytes.
type File struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Delivery is one message as the core stored it: one per ExternalID,
// however often it was delivered.
type Delivery struct {
	// Message is the message as first delivered. Its Attachments are
	// cleared: the bytes the core received are in Files.
	Message sdk.InboundMessage
	// Files are the attachments the core accepted, in order.
	Files []File
	// Rejected are the attachments the core refused (policy).
	Rejected []sdk.RejectedAttachment
	// Receipt is the answer to the first delivery.
	Receipt sdk.Receipt
	// Times counts deliveries of this ExternalID (1 + duplicates).
	Times int
}

// DefaultPolicy is the core's default attachment policy: .pdf .png .jpeg
// .jpg .gif .txt up to 20 MiB.
func DefaultPolicy() sdk.AttachmentPolicy {
	return sdk.AttachmentPolicy{Allow: []string{".pdf", ".png", ".jpeg", ".jpg", ".gif", ".txt"}, MaxBytes: 20 << 20}
}

// FakeHost is an in-memory core for one channel instance. It implements
// sdk.Host (use it directly in unit tests) and is what a Plugin started by
// this package talks to through the real gRPC boundary.
//
// Like the core it dedupes on InboundMessage.ExternalID (a redelivery is
// answered Duplicate and stored once), files messages with one
// ConversationKey under one ticket, checks attachments against its policy,
// and keeps state, delivery updates and status reports. FailDeliver makes
// it refuse deliveries, as a core that cannot commit would.
//
// It is safe for concurrent use.
type FakeHost struct {
	mu          sync.Mutex
	policy      sdk.AttachmentPolicy
	failErr     error
	calls       int
	deliveries  []*Delivery
	byID        map[string]*Delivery
	tickets     map[string]uint64
	nextTicket  uint64
	nextComment uint64
	updates     []sdk.DeliveryUpdate
	sent        map[string]bool
	state       map[string][]byte
	statuses    []sdk.Status
	stored      map[string]File
	staged      map[string]staged
	nextID      int
	changed     chan struct{}
}

var _ sdk.Host = (*FakeHost)(nil)

// NewFakeHost returns an empty FakeHost with DefaultPolicy.
func NewFakeHost() *FakeHost {
	return &FakeHost{
		policy:  DefaultPolicy(),
		byID:    map[string]*Delivery{},
		tickets: map[string]uint64{},
		sent:    map[string]bool{},
		state:   map[string][]byte{},
		stored:  map[string]File{},
		staged:  map[string]staged{},
		changed: make(chan struct{}),
	}
}

// notify wakes waiters; call with h.mu held.
func (h *FakeHost) notify() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// SetPolicy sets the attachment policy (also sent to the plugin by
// Plugin.Configure).
func (h *FakeHost) SetPolicy(p sdk.AttachmentPolicy) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.policy = p
}

// Policy returns the attachment policy.
func (h *FakeHost) Policy() sdk.AttachmentPolicy {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.policy
}

// FailDeliver makes every following Deliver fail with an error wrapping err,
// storing nothing, until FailDeliver(nil).
func (h *FakeHost) FailDeliver(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failErr = err
}

// Deliveries returns the stored messages in delivery order.
func (h *FakeHost) Deliveries() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Delivery, 0, len(h.deliveries))
	for _, d := range h.deliveries {
		out = append(out, *d)
	}
	return out
}

// Delivery returns the stored message with that provider id.
func (h *FakeHost) Delivery(externalID string) (Delivery, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.byID[externalID]
	if !ok {
		return Delivery{}, false
	}
	return *d, true
}

// DeliverCalls counts Deliver calls that reached the host: stored,
// duplicate, failed on request or invalid.
func (h *FakeHost) DeliverCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// WaitForDeliveries waits until at least n messages are stored (for
// receivers that deliver asynchronously: SMTP, sockets, polling) and returns
// them. It fails t after 30 seconds.
func (h *FakeHost) WaitForDeliveries(t testing.TB, n int) []Delivery {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		have, changed := len(h.deliveries), h.changed
		h.mu.Unlock()
		if have >= n {
			return h.Deliveries()
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("channeltest: waited 30s for %d deliveries, have %d", n, have)
			return nil
		}
	}
}

// DeliveryUpdates returns the delivery receipts the plugin reported.
func (h *FakeHost) DeliveryUpdates() []sdk.DeliveryUpdate {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.DeliveryUpdate(nil), h.updates...)
}

// MarkSent registers the provider id of a sent message, so that
// UpdateDelivery finds it. Plugin.Send does it for every successful send.
func (h *FakeHost) MarkSent(externalID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sent[externalID] = true
}

// Statuses returns the connection states the plugin reported, oldest first.
func (h *FakeHost) Statuses() []sdk.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.Status(nil), h.statuses...)
}

// State returns a copy of the instance's key/value state.
func (h *FakeHost) State() map[string][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.state)
}

// StoreAttachment keeps f as a stored attachment (an agent's upload) and
// returns an sdk.Attachment for an OutboundMessage; the plugin streams it
// with Host.OpenAttachment.
func (h *FakeHost) StoreAttachment(f File) sdk.Attachment {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	id := fmt.Sprintf("stored-%d", h.nextID)
	h.stored[id] = File{Filename: f.Filename, ContentType: f.ContentType, Data: bytes.Clone(f.Data)}
	return sdk.Attachment{ID: id, Filename: f.Filename, ContentType: f.ContentType, Size: int64(len(f.Data))}
}

// check applies the policy to a file of that name and size; it returns the
// rejection reason, or "".
func (h *FakeHost) check(filename string, size int64) string {
	h.mu.Lock()
	p := h.policy
	h.mu.Unlock()
	if p.MaxBytes > 0 && size > p.MaxBytes {
		return fmt.Sprintf("larger than the %d-byte limit", p.MaxBytes)
	}
	if !p.Allows(filename, 0) {
		return "file type not allowed"
	}
	return ""
}

// Deliver stores msg like the core: attachments are read and checked
// against the policy, then the message is deduplicated on ExternalID.
func (h *FakeHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	if msg == nil {
		return nil, errors.New("channeltest: deliver: nil message")
	}
	var files []File
	var rejected []sdk.RejectedAttachment
	for _, a := range msg.Attachments {
		if a.Open == nil {
			return nil, fmt.Errorf("channeltest: deliver: attachment %q has no Open", a.Filename)
		}
		if reason := h.check(a.Filename, max(a.Size, 0)); reason != "" {
			rejected = append(rejected, sdk.RejectedAttachment{Filename: a.Filename, Reason: reason})
			continue
		}
		data, err := readAll(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("channeltest: deliver: attachment %q: %w", a.Filename, err)
		}
		if reason := h.check(a.Filename, int64(len(data))); reason != "" {
			rejected = append(rejected, sdk.RejectedAttachment{Filename: a.Filename, Reason: reason})
			continue
		}
		files = append(files, File{Filename: a.Filename, ContentType: a.ContentType, Data: data})
	}
	return h.commit(msg, files, rejected)
}

func readAll(ctx context.Context, a sdk.Attachment) ([]byte, error) {
	rc, err := a.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if a.Size >= 0 && int64(len(data)) != a.Size {
		return nil, fmt.Errorf("has %d bytes, declared %d", len(data), a.Size)
	}
	if a.SHA256 != "" {
		sum := sha256.Sum256(data)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), a.SHA256) {
			return nil, errors.New("does not match its declared sha256")
		}
	}
	return data, nil
}

// commit is the one place deliveries are recorded, for both paths (direct
// sdk.Host use and the gRPC Host service).
func (h *FakeHost) commit(msg *sdk.InboundMessage, files []File, rejected []sdk.RejectedAttachment) (*sdk.Receipt, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	defer h.notify()
	if h.failErr != nil {
		return nil, fmt.Errorf("channeltest: the core could not store the message: %w", h.failErr)
	}
	if msg.ExternalID == "" {
		return nil, errors.New("channeltest: deliver: the message has no ExternalID (the provider's message id), so redeliveries cannot be recognised")
	}
	if msg.ConversationKey == "" {
		return nil, errors.New("channeltest: deliver: the message has no ConversationKey")
	}
	if d, ok := h.byID[msg.ExternalID]; ok {
		d.Times++
		r := d.Receipt
		r.Duplicate = true
		r.Rejected = append([]sdk.RejectedAttachment(nil), d.Rejected...)
		return &r, nil
	}
	ticket, ok := h.tickets[msg.ConversationKey]
	if !ok {
		h.nextTicket++
		ticket = h.nextTicket
		h.tickets[msg.ConversationKey] = ticket
	}
	h.nextComment++
	stored := *msg
	stored.Attachments = nil
	stored.ReplyTo = append([]string(nil), msg.ReplyTo...)
	stored.Raw = bytes.Clone(msg.Raw)
	stored.Metadata = maps.Clone(msg.Metadata)
	d := &Delivery{
		Message:  stored,
		Files:    files,
		Rejected: rejected,
		Receipt:  sdk.Receipt{TicketID: ticket, CommentID: h.nextComment, Rejected: rejected},
		Times:    1,
	}
	h.deliveries = append(h.deliveries, d)
	h.byID[msg.ExternalID] = d
	r := d.Receipt
	r.Rejected = append([]sdk.RejectedAttachment(nil), rejected...)
	return &r, nil
}

// UpdateDelivery records u; found is true for ids passed to MarkSent (or
// returned by a successful Plugin.Send).
func (h *FakeHost) UpdateDelivery(ctx context.Context, u sdk.DeliveryUpdate) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updates = append(h.updates, u)
	h.notify()
	return h.sent[u.ExternalID], nil
}

// OpenAttachment opens a file kept with StoreAttachment; an unknown id gives
// an error wrapping sdk.ErrNotFound.
func (h *FakeHost) OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.stored[id]
	if !ok {
		return nil, fmt.Errorf("attachment %q: %w", id, sdk.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(f.Data)), nil
}

// GetState returns a state value.
func (h *FakeHost) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.state[key]
	return bytes.Clone(v), ok, nil
}

// SetState stores a state value.
func (h *FakeHost) SetState(ctx context.Context, key string, value []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state[key] = bytes.Clone(value)
	h.notify()
	return nil
}

// DeleteState removes a state value.
func (h *FakeHost) DeleteState(ctx context.Context, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.state, key)
	h.notify()
	return nil
}

// ReportStatus records a connection state.
func (h *FakeHost) ReportStatus(ctx context.Context, s sdk.Status) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = append(h.statuses, s)
	h.notify()
	return nil
}
