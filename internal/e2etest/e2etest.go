// Package e2etest runs the real patchbay binary with real plugin binaries for
// end-to-end tests: it builds them, writes a configuration, starts and stops
// (or kills) the core, and talks to its HTTP API.
//
// A test package calls Build once from TestMain, then Start per test.
package e2etest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/testutil"
)

// AdminToken is the admin token the test core is started with.
const AdminToken = "e2e-admin-token-0123456789abcdef"

// Binaries says where Build put the binaries.
type Binaries struct {
	Patchbay  string // the core binary
	PluginDir string // holds patchbay-plugin-<kind>
}

// ModuleRoot returns the repository root (the directory of go.mod).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the patchbay module")
	}
	return filepath.Dir(mod), nil
}

// BinEnv names an environment variable holding a directory of binaries
// already built from this tree, laid out as `make build` lays out bin/
// (patchbay, plugins/patchbay-plugin-<kind>). `make test` sets it right after
// building, so the end-to-end packages do not each link the same six
// binaries again; Build then uses that directory instead of building.
const BinEnv = "PATCHBAY_E2E_BIN"

// Build compiles the core and every plugin under plugins/ into dir (or, with
// BinEnv set, checks and returns the binaries there).
func Build(dir string) (Binaries, error) {
	root, err := ModuleRoot()
	if err != nil {
		return Binaries{}, err
	}
	kinds, err := pluginKinds(root)
	if err != nil {
		return Binaries{}, err
	}
	if pre := os.Getenv(BinEnv); pre != "" {
		return prebuilt(pre, kinds)
	}
	b := Binaries{Patchbay: filepath.Join(dir, "patchbay"), PluginDir: filepath.Join(dir, "plugins")}
	jobs := map[string]string{b.Patchbay: "./core/cmd/patchbay"}
	for _, k := range kinds {
		jobs[filepath.Join(b.PluginDir, "patchbay-plugin-"+k)] = "./plugins/" + k
	}
	// Two links at a time: linking is mostly single-threaded.
	sem := make(chan struct{}, 2)
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for out, pkg := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- goBuild(root, out, pkg)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return Binaries{}, err
		}
	}
	return b, nil
}

// PluginBinary returns the binary of plugin kind: the one in BinEnv's
// directory when that is set, otherwise one built into dir.
func PluginBinary(dir, kind string) (string, error) {
	if pre := os.Getenv(BinEnv); pre != "" {
		b, err := prebuilt(pre, []string{kind})
		if err != nil {
			return "", err
		}
		return filepath.Join(b.PluginDir, "patchbay-plugin-"+kind), nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "patchbay-plugin-"+kind)
	return out, goBuild(root, out, "./plugins/"+kind)
}

// pluginKinds lists the plugins of the tree: the directories under plugins/.
func pluginKinds(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "plugins"))
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	var kinds []string
	for _, e := range entries {
		if e.IsDir() {
			kinds = append(kinds, e.Name())
		}
	}
	return kinds, nil
}

// prebuilt returns the binaries in dir, failing (rather than testing
// something else) when one of the tree's binaries is missing there.
func prebuilt(dir string, kinds []string) (Binaries, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Patchbay: filepath.Join(abs, "patchbay"), PluginDir: filepath.Join(abs, "plugins")}
	want := []string{b.Patchbay}
	for _, k := range kinds {
		want = append(want, filepath.Join(b.PluginDir, "patchbay-plugin-"+k))
	}
	for _, p := range want {
		if _, err := os.Stat(p); err != nil {
			return Binaries{}, fmt.Errorf("%s=%s: %w (run make build, or unset %s to build here)", BinEnv, dir, err, BinEnv)
		}
	}
	return b, nil
}

func goBuild(root, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return nil
}

// Options configures a core started by Start.
type Options struct {
	// Channels is HCL text with the channel blocks (and any other top-level
	// settings) appended to the generated configuration.
	Channels string
	// DataDir reuses a data directory (to restart over the same store);
	// empty means a fresh temporary one.
	DataDir string
	// Env adds environment variables to the core's environment.
	Env []string
	// WaitRunning lists channel names that must be running before Start
	// returns.
	WaitRunning []string
}

// Core is a running patchbay process.
type Core struct {
	t       testing.TB
	bin     Binaries
	opts    Options
	URL     string // http://127.0.0.1:port
	DataDir string
	Config  string
	cmd     *exec.Cmd
	done    chan error
	logs    *testutil.LockedBuffer
}

// FreePort returns a free loopback TCP address.
func FreePort(t testing.TB) string {
	t.Helper()
	return testutil.FreeAddr(t)
}

// Start writes a configuration and starts the core; it is stopped at the
// end of the test.
func Start(t testing.TB, bin Binaries, opts Options) *Core {
	t.Helper()
	dir := t.TempDir()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(dir, "data")
	}
	addr := FreePort(t)
	cfg := fmt.Sprintf("data_dir = %q\nplugin_dir = %q\nhttp {\n  listen = %q\n}\n\n%s\n",
		opts.DataDir, bin.PluginDir, addr, opts.Channels)
	path := filepath.Join(dir, "patchbay.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Core{t: t, bin: bin, opts: opts, URL: "http://" + addr, DataDir: opts.DataDir, Config: path}
	c.start()
	t.Cleanup(c.Stop)
	return c
}

func (c *Core) start() {
	c.t.Helper()
	c.logs = &testutil.LockedBuffer{}
	cmd := exec.Command(c.bin.Patchbay, "serve", "-config", c.Config)
	cmd.Env = append(os.Environ(), "PATCHBAY_ADMIN_TOKEN="+AdminToken)
	cmd.Env = append(cmd.Env, c.opts.Env...)
	cmd.Stdout = c.logs
	cmd.Stderr = c.logs
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start patchbay: %v", err)
	}
	c.cmd = cmd
	c.done = make(chan error, 1)
	go func() { c.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			c.t.Fatalf("patchbay did not become healthy; logs:\n%s", c.Logs())
		}
		select {
		case err := <-c.done:
			c.done <- err
			c.t.Fatalf("patchbay exited early: %v; logs:\n%s", err, c.Logs())
		default:
		}
		resp, err := http.Get(c.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range c.opts.WaitRunning {
		c.WaitChannelState(name, "running")
	}
}

// Logs returns what the core printed so far.
func (c *Core) Logs() string { return c.logs.String() }

// WaitChannelState polls GET /api/v1/channels until the channel has state.
func (c *Core) WaitChannelState(name, state string) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		var out struct {
			Channels []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			} `json:"channels"`
		}
		if status := c.JSON("GET", "/api/v1/channels", nil, &out); status == http.StatusOK {
			for _, ch := range out.Channels {
				if ch.Name == name {
					last = ch.State
					if ch.State == state {
						return
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("channel %s never reached state %q (last %q); logs:\n%s", name, state, last, c.Logs())
}

// Stop ends the core with SIGTERM and waits for it.
func (c *Core) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// Kill9 kills the core with SIGKILL, as a crash would.
func (c *Core) Kill9() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	c.cmd = nil
}

// Restart starts the core again over the same data directory.
func (c *Core) Restart() {
	c.t.Helper()
	c.start()
}

// Do sends an API request with the admin token and returns the status and
// body.
func (c *Core) Do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Hook posts body to the channel's webhook, /hooks/<channel>, with header
// (the provider's content type and signature; no API token, as a provider
// sends none) and returns the status and the answer's body. A request that
// gets no answer fails the test.
func (c *Core) Hook(channel string, body []byte, header http.Header) (int, []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/hooks/"+channel, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("POST /hooks/%s: %v", channel, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// JSON is Do that decodes a 2xx answer into out.
func (c *Core) JSON(method, path string, body, out any) int {
	c.t.Helper()
	status, b := c.Do(method, path, body)
	if status >= 200 && status < 300 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return status
}

// Eventually polls f until it returns true or the deadline passes (see
// testutil.Eventually).
func Eventually(t testing.TB, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, what, f)
}
