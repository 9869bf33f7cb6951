package wire_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/patchbayhq/patchbay/internal/wire"
	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

// connect serves impl through real gRPC, the way sdk.Serve does (go-plugin's
// server in test mode: the same gRPC server options, the broker), and
// returns the host's ChannelClient.
func connect(t testing.TB, impl sdk.Channel) *wire.ChannelClient {
	t.Helper()
	cc, _ := connectStoppable(t, impl)
	return cc
}

// connectStoppable is connect that also returns a function stopping the
// plugin's server at once (every connection closed, as when the plugin
// process dies).
func connectStoppable(t testing.TB, impl sdk.Channel) (*wire.ChannelClient, func()) {
	t.Helper()
	logger := hclog.NewNullLogger()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         wire.ServerPlugins(impl, logger),
		GRPCServer:      wire.NewGRPCServer,
		Logger:          logger,
		Test:            &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	var cfg *plugin.ReattachConfig
	select {
	case cfg = <-reattach:
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("plugin server did not start")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.ClientPlugins(),
		Reattach:         cfg,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  wire.GRPCDialOptions(),
		Logger:           logger,
	})
	rpc, err := client.Client()
	if err != nil {
		cancel()
		t.Fatalf("client: %v", err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		cancel()
		t.Fatalf("dispense: %v", err)
	}
	cc := raw.(*wire.ChannelClient)
	t.Cleanup(func() {
		_ = cc.Close()
		client.Kill()
		cancel()
		<-closed
	})
	return cc, cancel
}

// memBackend is a HostBackend in memory that records what it receives.
type memBackend struct {
	mu          sync.Mutex
	staged      map[string][]byte
	headers     map[string]wire.StagedHeader
	delivered   []*sdk.InboundMessage
	ids         [][]string
	state       map[string][]byte
	statuses    []sdk.Status
	updates     []sdk.DeliveryUpdate
	stored      map[string][]byte
	failDeliver error
	rejectExt   string
	maxChunk    int
	seq         int
}

func newMemBackend() *memBackend {
	return &memBackend{staged: map[string][]byte{}, headers: map[string]wire.StagedHeader{}, state: map[string][]byte{}, stored: map[string][]byte{}}
}

func (b *memBackend) StageAttachment(ctx context.Context, h wire.StagedHeader, r io.Reader) (wire.Staged, error) {
	if b.rejectExt != "" && len(h.Filename) >= len(b.rejectExt) && h.Filename[len(h.Filename)-len(b.rejectExt):] == b.rejectExt {
		b.mu.Lock()
		b.seq++
		id := fmt.Sprintf("rej-%d", b.seq)
		b.mu.Unlock()
		return wire.Staged{ID: id, Rejected: true, Reason: "type not allowed"}, nil
	}
	var buf bytes.Buffer
	p := make([]byte, 1<<20)
	for {
		n, err := r.Read(p)
		buf.Write(p[:n])
		b.mu.Lock()
		if n > b.maxChunk {
			b.maxChunk = n
		}
		b.mu.Unlock()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return wire.Staged{}, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	id := fmt.Sprintf("att-%d", b.seq)
	b.staged[id] = buf.Bytes()
	b.headers[id] = h
	return wire.Staged{ID: id, Size: int64(buf.Len())}, nil
}

func (b *memBackend) Deliver(ctx context.Context, msg *sdk.InboundMessage, ids []string) (*sdk.Receipt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failDeliver != nil {
		return nil, b.failDeliver
	}
	b.delivered = append(b.delivered, msg)
	b.ids = append(b.ids, ids)
	return &sdk.Receipt{TicketID: 7, CommentID: uint64(len(b.delivered))}, nil
}

func (b *memBackend) UpdateDelivery(ctx context.Context, u sdk.DeliveryUpdate) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.updates = append(b.updates, u)
	return u.ExternalID == "known", nil
}

func (b *memBackend) OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.stored[id]
	if !ok {
		return nil, fmt.Errorf("attachment %s: %w", id, sdk.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b *memBackend) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.state[key]
	return v, ok, nil
}

func (b *memBackend) SetState(ctx context.Context, key string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state[key] = value
	return nil
}

func (b *memBackend) DeleteState(ctx context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.state, key)
	return nil
}

func (b *memBackend) ReportStatus(ctx context.Context, s sdk.Status) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statuses = append(b.statuses, s)
	return nil
}

// probeChannel is a channel whose behaviour each test sets with functions.
// It keeps the Host it was configured with.
type probeChannel struct {
	mu        sync.Mutex
	host      sdk.Host
	req       sdk.ConfigureRequest
	configure func(sdk.ConfigureRequest) error
	webhook   func(ctx context.Context, h sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error)
	send      func(ctx context.Context, m *sdk.OutboundMessage) (*sdk.SendResult, error)
	started   bool
	stopped   bool
}

func (c *probeChannel) Describe(ctx context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{Kind: "probe", Version: "0.1.0", ConfigFields: []sdk.ConfigField{{Name: "token", Type: "string", Required: true, Secret: true}}}, nil
}

func (c *probeChannel) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	if c.configure != nil {
		if err := c.configure(req); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.host, c.req = req.Host, req
	return nil
}

func (c *probeChannel) Host() sdk.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.host
}

func (c *probeChannel) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	return nil
}

func (c *probeChannel) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	return nil
}

func (c *probeChannel) HandleWebhook(ctx context.Context, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	if c.webhook == nil {
		return &sdk.WebhookResponse{Status: http.StatusNoContent}, nil
	}
	return c.webhook(ctx, c.Host(), r)
}

func (c *probeChannel) Send(ctx context.Context, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
	if c.send == nil {
		return &sdk.SendResult{ExternalID: "sent-" + m.IdempotencyKey}, nil
	}
	return c.send(ctx, m)
}

// configured connects ch and configures it with backend.
func configured(t testing.TB, ch *probeChannel, backend wire.HostBackend) *wire.ChannelClient {
	t.Helper()
	cc := connect(t, ch)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fe, err := cc.Configure(ctx, "probe-1", []byte(`{"token":"x"}`), sdk.AttachmentPolicy{Allow: []string{".pdf"}, MaxBytes: 1 << 20}, "https://hooks.test/probe-1", backend)
	if err != nil || len(fe) > 0 {
		t.Fatalf("configure: %v %v", fe, err)
	}
	return cc
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
