package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/internal/testutil/metrictest"
	"github.com/patchbayhq/patchbay/sdk"
)

// testPluginDir holds patchbay-plugin-test, built once in TestMain.
var testPluginDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzz targets here need no plugin binaries; fuzz workers re-run
		// TestMain, so skip the build.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, pkg := range map[string]string{
		BinaryPrefix + "test": "github.com/patchbayhq/patchbay/internal/testplugin",
		"oldproto":            "github.com/patchbayhq/patchbay/internal/testplugin/oldproto",
	} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build test plugin:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	testPluginDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeBackend records what plugins deliver; it stands in for core/inbound.
type fakeBackend struct {
	mu         sync.Mutex
	deliveries []delivery
	state      map[string]string
	failWith   error
	// hold, when set, makes Deliver signal entered and wait for hold to
	// close (or its context to end) before it answers.
	hold    chan struct{}
	entered chan struct{}
}

type delivery struct {
	instance string
	msg      *sdk.InboundMessage
}

func newFakeBackend() *fakeBackend { return &fakeBackend{state: map[string]string{}} }

func (b *fakeBackend) StageAttachment(_ context.Context, instance string, h StagedHeader, r io.Reader) (Staged, error) {
	n, err := io.Copy(io.Discard, r)
	return Staged{ID: instance + "/" + h.Filename, Size: n}, err
}

func (b *fakeBackend) Deliver(ctx context.Context, instance string, msg *sdk.InboundMessage, _ []string) (*sdk.Receipt, error) {
	b.mu.Lock()
	hold, entered := b.hold, b.entered
	b.mu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failWith != nil {
		return nil, b.failWith
	}
	b.deliveries = append(b.deliveries, delivery{instance, msg})
	return &sdk.Receipt{TicketID: 7, CommentID: uint64(len(b.deliveries))}, nil
}

func (b *fakeBackend) UpdateDelivery(context.Context, string, sdk.DeliveryUpdate) (bool, error) {
	return false, nil
}

func (b *fakeBackend) OpenAttachment(context.Context, string, string) (io.ReadCloser, error) {
	return nil, sdk.ErrNotFound
}

func (b *fakeBackend) GetState(_ context.Context, instance, key string) ([]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.state[instance+"\x00"+key]
	return []byte(v), ok, nil
}

func (b *fakeBackend) SetState(_ context.Context, instance, key string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state[instance+"\x00"+key] = string(value)
	return nil
}

func (b *fakeBackend) DeleteState(_ context.Context, instance, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.state, instance+"\x00"+key)
	return nil
}

func (b *fakeBackend) delivered() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]delivery(nil), b.deliveries...)
}

// testChannel is a channel of the test plugin with a valid config.
func testChannel(name string, extra map[string]any) Channel {
	cfg := map[string]any{"token": "tok-" + name}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	return testChannelConfig(name, raw)
}

// testChannelConfig is a channel of the test plugin with config raw, its
// secrets found as the command finds them (config.Channel's methods).
func testChannelConfig(name string, raw json.RawMessage) Channel {
	cc := config.Channel{Name: name, Plugin: "test", Config: raw}
	return Channel{
		Name:         name,
		Plugin:       "test",
		Config:       raw,
		Attachments:  sdk.AttachmentPolicy{Allow: config.DefaultAttachmentAllow, MaxBytes: 20 << 20},
		SecretValues: cc.SecretValues,
		Redact:       cc.Redact,
	}
}

type harness struct {
	m       *Manager
	backend *fakeBackend
	srv     *httptest.Server
	reg     *prometheus.Registry
}

// fastSupervision restarts quickly so tests do not wait on backoff.
func fastSupervision() Supervision {
	return Supervision{MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, ExitPoll: 50 * time.Millisecond}
}

func startHarness(t testing.TB, sup Supervision, setup func(*Manager), channels ...Channel) *harness {
	t.Helper()
	cfg := Options{
		PluginDir:       testPluginDir,
		MaxWebhookBytes: 4096,
		Channels:        channels,
	}
	h := &harness{backend: newFakeBackend(), reg: prometheus.NewRegistry()}
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: io.Discard})
	if testing.Verbose() {
		logger.SetLevel(hclog.Info)
		logger = hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Info, Output: os.Stderr})
	}
	m, err := New(cfg, h.backend, logger, WithRegisterer(h.reg), WithSupervision(sup))
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(m)
	}
	h.m = m
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	mux := http.NewServeMux()
	mux.Handle(HooksPrefix, m.HooksHandler())
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

type hookResp struct {
	status int
	header http.Header
	body   string
}

func (h *harness) hook(t testing.TB, method, path, body string) hookResp {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "x-test-value")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return hookResp{resp.StatusCode, resp.Header, string(b)}
}

// pid asks a channel's plugin for its process id.
func (h *harness) pid(t testing.TB, channel string) int {
	t.Helper()
	r := h.hook(t, "GET", "/hooks/"+channel+"/pid", "")
	if r.status != 200 {
		t.Fatalf("pid: %d %s", r.status, r.body)
	}
	pid, err := strconv.Atoi(r.body)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func (h *harness) info(t testing.TB, name string) ChannelInfo {
	t.Helper()
	for _, c := range h.m.Channels() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no channel %q", name)
	return ChannelInfo{}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, what, cond)
}

// processGone reports whether no process with that pid exists (zombies
// count as existing).
func processGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return true
	}
	// A zombie still answers kill(0); check its state.
	b, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if rerr != nil {
		return errors.Is(rerr, os.ErrNotExist)
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] == "Z"
}

func metricValue(t testing.TB, reg *prometheus.Registry, name, channel string) float64 {
	t.Helper()
	v, _ := metrictest.Value(t, reg, name, map[string]string{"channel": channel})
	return v
}

func sha256File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// stopProcess sends SIGSTOP to pid and waits until the kernel shows it
// stopped (state T in /proc/<pid>/stat): signal delivery is asynchronous,
// and on a loaded machine a plugin could otherwise still answer a call
// made right after the kill.
func stopProcess(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("plugin %d: %v", pid, err)
		}
		// The state follows the parenthesised command name.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d did not stop: %s", pid, b)
		}
		time.Sleep(time.Millisecond)
	}
}
