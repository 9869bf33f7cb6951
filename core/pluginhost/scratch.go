package pluginhost

import (
	"context"
	"io"
	"sync"

	"github.com/patchbayhq/patchbay/sdk"
)

// scratchBackend backs plugins started without a core (patchbay validate,
// patchbay plugins): state lives in memory and is thrown away afterwards,
// so a plugin that keeps generated settings in its state (a signing key)
// configures as it would in the core; storing messages or files fails with
// ErrNoBackend.
type scratchBackend struct {
	mu    sync.Mutex
	state map[string][]byte
}

func newScratchBackend() *scratchBackend { return &scratchBackend{state: map[string][]byte{}} }

func scratchKey(instance, key string) string { return instance + "\x00" + key }

// StageAttachment fails: there is no store.
func (*scratchBackend) StageAttachment(context.Context, string, StagedHeader, io.Reader) (Staged, error) {
	return Staged{}, ErrNoBackend
}

// Deliver fails: there is no store.
func (*scratchBackend) Deliver(context.Context, string, *sdk.InboundMessage, []string) (*sdk.Receipt, error) {
	return nil, ErrNoBackend
}

// UpdateDelivery fails: there is no store.
func (*scratchBackend) UpdateDelivery(context.Context, string, sdk.DeliveryUpdate) (bool, error) {
	return false, ErrNoBackend
}

// OpenAttachment fails: there is no store.
func (*scratchBackend) OpenAttachment(context.Context, string, string) (io.ReadCloser, error) {
	return nil, ErrNoBackend
}

// GetState reads the in-memory state.
func (b *scratchBackend) GetState(_ context.Context, instance, key string) ([]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.state[scratchKey(instance, key)]
	return append([]byte(nil), v...), ok, nil
}

// SetState writes the in-memory state.
func (b *scratchBackend) SetState(_ context.Context, instance, key string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state[scratchKey(instance, key)] = append([]byte(nil), value...)
	return nil
}

// DeleteState deletes from the in-memory state.
func (b *scratchBackend) DeleteState(_ context.Context, instance, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.state, scratchKey(instance, key))
	return nil
}
