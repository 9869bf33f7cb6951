package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries says where the core and the plugins are.
type Binaries struct {
	Patchbay  string // the core binary
	PluginDir string // holds patchbay-plugin-<kind>
}

// Build compiles the core and every plugin under plugins/ into dir, from
// the module rooted at root.
func Build(ctx context.Context, root, dir string) (Binaries, error) {
	b := Binaries{Patchbay: filepath.Join(dir, "patchbay"), PluginDir: filepath.Join(dir, "plugins")}
	build := func(out, pkg string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
		return nil
	}
	if err := build(b.Patchbay, "./core/cmd/patchbay"); err != nil {
		return Binaries{}, err
	}
	entries, err := os.ReadDir(filepath.Join(root, "plugins"))
	if err != nil {
		return Binaries{}, fmt.Errorf("list plugins: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := build(filepath.Join(b.PluginDir, "patchbay-plugin-"+e.Name()), "./plugins/"+e.Name()); err != nil {
				return Binaries{}, err
			}
		}
	}
	return b, nil
}

// AdminToken is the admin token cores started by StartCore accept.
const AdminToken = "bench-admin-token-0123456789abcdef"

// Core is a running patchbay serve process.
type Core struct {
	URL     string
	DataDir string
	// Startup is the time from exec to a healthy /healthz with every
	// awaited channel running.
	Startup time.Duration

	bin  Binaries
	cmd  *exec.Cmd
	done chan error
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 4<<20 { // keep the tail bounded
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CoreOptions configure StartCore.
type CoreOptions struct {
	DataDir  string   // required
	Channels string   // HCL appended to the configuration
	Env      []string // added to the environment
	Wait     []string // channels that must be running
	LogLevel string   // default "warn"
}

// FreeAddr returns a free loopback address.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartCore writes a configuration next to the data directory and starts
// the core, waiting (up to two minutes) until it is healthy and the awaited
// channels run.
func StartCore(ctx context.Context, bin Binaries, o CoreOptions) (*Core, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	// The bench drives the core with one (admin) token far above the
	// per-token rate limit, a safety net for real deployments: it is off
	// here, so the figures measure the core, not the limiter's 429s.
	cfg := fmt.Sprintf("data_dir = %q\nplugin_dir = %q\nhttp {\n  listen = %q\n}\nrate_limit {\n  requests_per_minute = 0\n}\n\n%s\n", o.DataDir, bin.PluginDir, addr, o.Channels)
	path := o.DataDir + ".hcl"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	c := &Core{URL: "http://" + addr, DataDir: o.DataDir, bin: bin, logs: &lockedBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(bin.Patchbay, "serve", "-config", path, "-log-level", o.LogLevel)
	c.cmd.Env = append(append(os.Environ(), "PATCHBAY_ADMIN_TOKEN="+AdminToken), o.Env...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	start := time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start patchbay: %w", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.Kill()
			return nil, fmt.Errorf("patchbay not ready in time; logs:\n%s", c.Logs())
		}
		select {
		case err := <-c.done:
			c.done <- err
			return nil, fmt.Errorf("patchbay exited: %v; logs:\n%s", err, c.Logs())
		default:
		}
		if c.ready(hc, o.Wait) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Startup = time.Since(start)
	return c, nil
}

func (c *Core) ready(hc *http.Client, wait []string) bool {
	resp, err := hc.Get(c.URL + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	if len(wait) == 0 {
		return true
	}
	req, _ := http.NewRequest(http.MethodGet, c.URL+"/api/v1/channels", nil)
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	resp, err = hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	for _, name := range wait {
		if !strings.Contains(buf.String(), fmt.Sprintf(`"name":%q`, name)) {
			return false
		}
	}
	return strings.Count(buf.String(), `"state":"running"`) >= len(wait)
}

// PID is the core's process id.
func (c *Core) PID() int { return c.cmd.Process.Pid }

// PluginPIDs are the core's live plugin processes.
func (c *Core) PluginPIDs() []int { return Children(c.PID(), c.bin.PluginDir) }

// Logs returns the core's output (bounded).
func (c *Core) Logs() string { return c.logs.String() }

// Stop ends the core with SIGTERM (SIGKILL after 30 s).
func (c *Core) Stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("patchbay: %w", err)
		}
		return err
	case <-time.After(30 * time.Second):
		c.Kill()
		return errors.New("patchbay did not stop within 30 s")
	}
}

// Kill ends the core with SIGKILL.
func (c *Core) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
	c.done <- nil
}
