package channeltest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/patchbayhq/patchbay/internal/wire"
	"github.com/patchbayhq/patchbay/sdk"
)

// CallTimeout bounds every call a Plugin makes to the plugin.
const CallTimeout = 60 * time.Second

// Plugin is a channel plugin running behind the real plugin boundary
// (go-plugin, gRPC, the broker serving the Host back), wired to a FakeHost.
// Start one with New (in process) or Launch (a built binary). Its methods
// fail the test on transport errors and return what the plugin answered.
// When the test ends, a started plugin is stopped (Stop), then ended.
type Plugin struct {
	// Host is the fake core the plugin delivers to. Set its policy before
	// Configure.
	Host *FakeHost
	// Instance is the channel instance name sent with Configure ("test").
	Instance string
	// PublicURL is sent with Configure.
	PublicURL string

	client *wire.ChannelClient

	mu      sync.Mutex
	running bool // Start succeeded and Stop was not called
}

// shutdown stops a running plugin's receivers before the plugin is ended,
// as the core does.
func (p *Plugin) shutdown() {
	p.mu.Lock()
	running := p.running
	p.running = false
	p.mu.Unlock()
	if running {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.client.Stop(ctx)
	}
	_ = p.client.Close()
}

// New serves ch in this process through go-plugin's gRPC server and broker
// (the code path of a real plugin binary, minus the process) and returns the
// host's side of it. The plugin is shut down when the test ends.
func New(t testing.TB, ch sdk.Channel) *Plugin {
	t.Helper()
	logger := testLogger(t, "plugin")
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         wire.ServerPlugins(ch, logger),
		GRPCServer:      wire.NewGRPCServer,
		Logger:          logger,
		Test:            &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	var cfg *plugin.ReattachConfig
	select {
	case cfg = <-reattach:
	case <-closed:
		cancel()
		t.Fatal("channeltest: the plugin server stopped before it served")
	case <-time.After(CallTimeout):
		cancel()
		t.Fatal("channeltest: the plugin server did not start")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.ClientPlugins(),
		Reattach:         cfg,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  wire.GRPCDialOptions(),
		Logger:           testLogger(t, "host"),
	})
	p := dispense(t, client)
	t.Cleanup(func() {
		p.shutdown()
		client.Kill()
		cancel()
		select {
		case <-closed:
		case <-time.After(CallTimeout):
			t.Error("channeltest: the in-process plugin server did not stop")
		}
	})
	return p
}

// Launch starts the plugin binary at path the way the core does: go-plugin
// handshake, AutoMTLS, gRPC with raised limits, and an environment that is
// env only (the test's environment is not inherited). The process is killed
// when the test ends.
func Launch(t testing.TB, path string, env ...string) *Plugin {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = env
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.ClientPlugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AutoMTLS:         true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  wire.GRPCDialOptions(),
		StartTimeout:     CallTimeout,
		Logger:           testLogger(t, "plugin"),
	})
	p := dispense(t, client)
	t.Cleanup(func() {
		p.shutdown()
		client.Kill()
	})
	return p
}

func dispense(t testing.TB, client *plugin.Client) *Plugin {
	t.Helper()
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		t.Fatalf("channeltest: start plugin: %v", err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		client.Kill()
		t.Fatalf("channeltest: dispense %q: %v", wire.PluginName, err)
	}
	cc, ok := raw.(*wire.ChannelClient)
	if !ok {
		client.Kill()
		t.Fatalf("channeltest: dispensed %T, not a channel client", raw)
	}
	return &Plugin{Host: NewFakeHost(), Instance: "test", PublicURL: "http://127.0.0.1/hooks/test", client: cc}
}

func callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), CallTimeout)
}

// Describe returns the plugin's manifest (with the protocol version it
// announced).
func (p *Plugin) Describe(t testing.TB) sdk.Manifest {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	m, err := p.client.Describe(ctx)
	if err != nil {
		t.Fatalf("channeltest: Describe: %v", err)
	}
	return m
}

// Configure sends config (the channel's config block as JSON) with the
// FakeHost as the plugin's Host and returns the field errors, if any. Any
// other failure of Configure fails the test: invalid configuration must be
// reported as sdk.FieldErrors.
func (p *Plugin) Configure(t testing.TB, config json.RawMessage) sdk.FieldErrors {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	fe, err := p.client.Configure(ctx, p.Instance, config, p.Host.Policy(), p.PublicURL, backend{p.Host})
	if err != nil {
		t.Fatalf("channeltest: Configure failed with an error that is not sdk.FieldErrors: %v", err)
	}
	return fe
}

// MustConfigure is Configure that fails the test on field errors.
func (p *Plugin) MustConfigure(t testing.TB, config json.RawMessage) {
	t.Helper()
	if fe := p.Configure(t, config); len(fe) > 0 {
		t.Fatalf("channeltest: Configure rejected a valid configuration: %v", fe)
	}
}

// Start calls the plugin's Start.
func (p *Plugin) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	if err := p.client.Start(ctx); err != nil {
		t.Fatalf("channeltest: Start: %v", err)
	}
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
}

// Stop calls the plugin's Stop.
func (p *Plugin) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
	if err := p.client.Stop(ctx); err != nil {
		t.Fatalf("channeltest: Stop: %v", err)
	}
}

// Webhook forwards one provider request to the plugin as the core does for
// /hooks/<instance><path> and returns its answer. path is "/" at least; a
// query string after "?" goes to RawQuery.
func (p *Plugin) Webhook(t testing.TB, method, path string, header http.Header, body []byte) *sdk.WebhookResponse {
	t.Helper()
	req := &sdk.WebhookRequest{Method: method, Path: path, Header: header, Body: body, RemoteAddr: "127.0.0.1:50000"}
	for i := 0; i < len(path); i++ {
		if path[i] == '?' {
			req.Path, req.RawQuery = path[:i], path[i+1:]
			break
		}
	}
	if req.Path == "" {
		req.Path = "/"
	}
	return p.WebhookRequest(t, req)
}

// WebhookRequest forwards req to the plugin and returns its answer.
func (p *Plugin) WebhookRequest(t testing.TB, req *sdk.WebhookRequest) *sdk.WebhookResponse {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	resp, err := p.client.HandleWebhook(ctx, req)
	if err != nil {
		t.Fatalf("channeltest: HandleWebhook failed (the plugin must answer the provider, with 5xx if need be): %v", err)
	}
	return resp
}

// Send asks the plugin to send msg. A provider failure comes back as a
// *sdk.SendError; a successful send's provider id is registered with the
// FakeHost (MarkSent) so that delivery updates for it are found.
func (p *Plugin) Send(t testing.TB, msg *sdk.OutboundMessage) (*sdk.SendResult, *sdk.SendError) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	res, err := p.client.Send(ctx, msg)
	var se *sdk.SendError
	if errors.As(err, &se) {
		return nil, se
	}
	if err != nil {
		t.Fatalf("channeltest: Send: %v", err)
	}
	if res.ExternalID != "" {
		p.Host.MarkSent(res.ExternalID)
	}
	return res, nil
}

// testLogger logs through t while the test runs and drops lines after it
// ended (go-plugin may log from its goroutines during shutdown).
func testLogger(t testing.TB, name string) hclog.Logger {
	w := &tbWriter{t: t}
	t.Cleanup(w.close)
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: w})
}

type tbWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

// Write logs one plugin log line on the test, until the test ends.
func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(trimNewline(p)))
	}
	return len(p), nil
}

func (w *tbWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
