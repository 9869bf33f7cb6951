package main

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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
)

// Built once in TestMain: the patchbay binary and the test plugin.
var (
	binDir    string
	pluginDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchbay-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	pluginDir = filepath.Join(dir, "plugins")
	builds := [][]string{
		{"go", "build", "-o", filepath.Join(dir, "patchbay"), "."},
		{"go", "build", "-o", filepath.Join(pluginDir, "patchbay-plugin-test"), "github.com/patchbayhq/patchbay/internal/testplugin"},
	}
	for _, b := range builds {
		cmd := exec.Command(b[0], b[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", strings.Join(b, " "), err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "patchbay.hcl")
	src := fmt.Sprintf("data_dir = %q\nplugin_dir = %q\n%s", t.TempDir(), pluginDir, body)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, what, cond)
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The real binary serving the real test plugin: webhooks, /healthz,
// /metrics, an isolated plugin environment, and a graceful SIGTERM that
// finishes an in-flight request and leaves no plugin process behind.
func TestServeEndToEnd(t *testing.T) {
	cfgPath := writeConfig(t, `
http { listen = "127.0.0.1:0" }
channel "alpha" {
  plugin = "test"
  config {
    token = env("TEST_CHANNEL_TOKEN")
  }
}
`)
	const secret = "tok-very-secret-123"
	cmd, logs, base, exited := startServe(t, cfgPath, "TEST_CHANNEL_TOKEN="+secret, "PATCHBAY_ADMIN_TOKEN=admin-secret-xyz-0123456789abcdef0123")

	if code, _, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz: %d %s", code, body)
	}
	if code, _, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, `patchbay_plugin_up{channel="alpha"} 1`) {
		t.Errorf("metrics: %d, plugin_up missing", code)
	}
	if code, _, body := get(t, base+"/hooks/nope/x"); code != 404 || !strings.Contains(body, "unknown_channel") {
		t.Errorf("unknown channel: %d %s", code, body)
	}
	code, hdr, body := get(t, base+"/hooks/alpha/env?name=PATCHBAY_ADMIN_TOKEN")
	if code != 200 || hdr.Get("X-Env-Set") != "0" || body != "" {
		t.Errorf("admin token visible to the plugin: %d %q %q", code, hdr.Get("X-Env-Set"), body)
	}
	code, _, body = get(t, base+"/hooks/alpha/pid")
	pluginPID, err := strconv.Atoi(body)
	if code != 200 || err != nil {
		t.Fatalf("pid: %d %s", code, body)
	}

	// An in-flight webhook when SIGTERM arrives still gets its answer.
	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/hooks/alpha/slow?ms=1500")
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- result{code: resp.StatusCode, body: string(b)}
	}()
	waitFor(t, "the slow request to reach the plugin", func() bool { return strings.Contains(logs.String(), "slow request started") })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-slow
	if r.err != nil || r.code != 200 || r.body != "slow done" {
		t.Errorf("in-flight request during shutdown: %+v", r)
	}
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("serve exited with status %d\n%s", code, logs.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	waitFor(t, "the plugin process gone", func() bool {
		err := syscall.Kill(pluginPID, 0)
		return errors.Is(err, syscall.ESRCH)
	})
	out := logs.String()
	if !strings.Contains(out, `channel configured: channel=alpha plugin=test`) || !strings.Contains(out, "(redacted)") {
		t.Errorf("no redacted channel config in the debug log:\n%s", out)
	}
	// Plugin logs come through the core's logger, tagged with the channel.
	if !regexp.MustCompile(`slow request started: channel=alpha plugin=test`).MatchString(out) {
		t.Errorf("plugin log line not tagged with its channel:\n%s", out)
	}
	if !strings.Contains(out, "stopped") {
		t.Errorf("no clean stop in the log:\n%s", out)
	}
	for _, s := range []string{secret, "admin-secret-xyz-0123456789abcdef0123"} {
		if strings.Contains(out, s) {
			t.Errorf("log contains a secret %q", s)
		}
	}
}

// startServe runs `patchbay serve` on cfgPath and returns the process, its
// log, its base URL and a channel closed when it exits.
func startServe(t *testing.T, cfgPath string, env ...string) (*exec.Cmd, *testutil.LockedBuffer, string, <-chan struct{}) {
	t.Helper()
	return startServeArgs(t, cfgPath, []string{"-log-level", "debug"}, env...)
}

// startServeArgs is startServe with serve's flags (besides -config).
func startServeArgs(t *testing.T, cfgPath string, args []string, env ...string) (*exec.Cmd, *testutil.LockedBuffer, string, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "patchbay"), append([]string{"serve", "-config", cfgPath}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logs := &testutil.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addrRE := regexp.MustCompile(`listening: addr=(\S+)`)
	var base string
	waitFor(t, "the listening log line", func() bool {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
			return true
		}
		return false
	})
	return cmd, logs, base, exited
}

// kill -9 of the core: its plugins die with it (parent-death signal), so
// none is left running without a core.
func TestPluginsDieWithKilledCore(t *testing.T) {
	cfgPath := writeConfig(t, `
http { listen = "127.0.0.1:0" }
channel "alpha" {
  plugin = "test"
  config {
    token = "t"
  }
}
`)
	cmd, _, base, exited := startServe(t, cfgPath)
	code, _, body := get(t, base+"/hooks/alpha/pid")
	pid, err := strconv.Atoi(body)
	if code != 200 || err != nil {
		t.Fatalf("pid: %d %s", code, body)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	waitFor(t, "the plugin to die with the core", func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) || isZombie(pid)
	})
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestValidateCommand(t *testing.T) {
	tests := []struct {
		name   string
		config string
		code   int
		want   []string
		absent []string
	}{
		{"valid", `
channel "good" {
  plugin = "test"
  config {
    token = "t"
  }
}`, 0, []string{`channel "good" (test 0.0.1`, "ok"}, nil},
		{"field errors", `
channel "good" {
  plugin = "test"
  config {
    token = "t"
  }
}
channel "bad" {
  plugin = "test"
  config {
    colour = "red"
  }
}
channel "empty" {
  plugin = "test"
}`, 1, []string{`channel "good" (test`, `channel "bad": config.colour: unknown field`, `channel "empty": config.token: is required`, "2 of 3 channel(s) failed"}, nil},
		{"missing plugin", `
channel "mail" {
  plugin = "nosuchkind"
}`, 1, []string{`channel "mail" (nosuchkind): plugin binary not found`}, nil},
		{"config error names file and line", `
channel "x" {
  plugin = "test"
  colour = "red"
}`, 1, []string{"patchbay.hcl:6", `"colour"`}, nil},
		{"a plugin echoing its secret is redacted", `
channel "leaky" {
  plugin = "test"
  config {
    token       = "tok-literal-secret"
    echo_secret = "configure"
  }
}`, 1, []string{`channel "leaky" (test): configure: the provider rejected token (redacted)`}, []string{"tok-literal-secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.config)
			code, stdout, stderr := runCmd(t, "validate", "-config", path)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(stdout+stderr, a) {
					t.Errorf("output shows %q:\n%s\n%s", a, stdout, stderr)
				}
			}
		})
	}
}

func TestPluginsCommand(t *testing.T) {
	code, stdout, stderr := runCmd(t, "plugins", "-dir", pluginDir)
	if code != 0 || !strings.Contains(stdout, "test 0.0.1 — Test channel") || !strings.Contains(stdout, "token") || !strings.Contains(stdout, "secret") {
		t.Errorf("plugins: %d\n%s\n%s", code, stdout, stderr)
	}
	// With -config, a channel's explicit command is listed too.
	bin, err := os.ReadFile(filepath.Join(pluginDir, "patchbay-plugin-test"))
	if err != nil {
		t.Fatal(err)
	}
	custom := filepath.Join(t.TempDir(), "custom-plugin")
	if err := os.WriteFile(custom, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCmd(t, "plugins", "-config", writeConfig(t, fmt.Sprintf(`
channel "custom" {
  plugin  = "test"
  command = %q
}`, custom)), "-json")
	var out struct {
		PluginDir string `json:"plugin_dir"`
		Plugins   []struct {
			Path     string
			Manifest struct{ Kind string }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 0 {
		t.Fatalf("plugins -json: %d %v\n%s", code, err, stdout)
	}
	if !strings.Contains(stdout, `"config_fields"`) || !strings.Contains(stdout, `"secret": true`) || !strings.Contains(stdout, `"webhooks": true`) {
		t.Errorf("plugins -json lacks snake_case manifest fields:\n%s", stdout)
	}
	if out.PluginDir != pluginDir || len(out.Plugins) != 2 || out.Plugins[0].Manifest.Kind != "test" || out.Plugins[1].Path != custom || out.Plugins[1].Manifest.Kind != "test" {
		t.Errorf("plugins -json = %+v", out)
	}
	if code, _, _ := runCmd(t, "plugins", "-dir", "x", "-config", "y"); code != 2 {
		t.Errorf("-dir with -config: exit %d", code)
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{[]string{"version"}, 0, fmt.Sprintf("patchbay dev (plugin protocol %d,", sdk.ProtocolVersion)},
		{[]string{}, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve", "-nope"}, 2, "flag provided but not defined"},
		{[]string{"serve", "-config", "/does/not/exist.hcl"}, 1, "no such file"},
		{[]string{"serve", "-log-level", "loud"}, 2, "unknown -log-level"},
		{[]string{"validate", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"help"}, 0, "patchbay serve"},
		{[]string{"help"}, 0, "patchbay mcp"},
		{[]string{"mcp", "-token-env", "PATCHBAY_TEST_UNSET_TOKEN"}, 2, "PATCHBAY_TEST_UNSET_TOKEN (from -token-env) is empty or unset"},
		{[]string{"mcp", "-token-env", ""}, 2, "-token-env must name an environment variable"},
		{[]string{"mcp", "-token", "pbt_x"}, 2, "flag provided but not defined: -token"},
		{[]string{"mcp", "-token-env", "PATH", "-url", "ftp://core.test"}, 2, "must start with http:// or https://"},
		{[]string{"mcp", "-token-env", "PATH", "-url", "http://127.0.0.1:1"}, 1, "calling the Patchbay API"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.out) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
		})
	}
}

// The listener cannot be taken: serve fails cleanly and starts no plugin.
func TestServeListenError(t *testing.T) {
	cfg := writeConfig(t, `
http { listen = "256.0.0.1:1" }
`)
	code, _, stderr := runCmd(t, "serve", "-config", cfg)
	if code != 1 || !strings.Contains(stderr, "listen on 256.0.0.1:1") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
