package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
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
)

// Secrets in the core's log: a run at trace level whose plugin echoes its
// secrets back — at every log level, in its reported status
// and in a send error, as plugins quoting a provider's answer do — never
// shows them in the core's output. One secret is declared by env() in the
// config, one only by the plugin's manifest (written literally in the
// file), and the admin token is scrubbed too.
func TestLogScrubsEchoedSecrets(t *testing.T) {
	const (
		manifestSecret = "literal-manifest-secret-1"
		envSecret      = "env-config-secret-2"
		admin          = "scrub-admin-token-0123456789abcdef"
	)
	cfg := writeConfig(t, fmt.Sprintf(`
http { listen = "127.0.0.1:0" }
channel "alpha" {
  plugin = "test"
  config {
    token        = %q
    extra_secret = env("TEST_EXTRA_SECRET")
    status       = "connected"
    echo_secret  = "send"
  }
}
`, manifestSecret))
	_, logs, base, _ := startServeArgs(t, cfg, []string{"-log-level", "trace"},
		"PATCHBAY_ADMIN_TOKEN="+admin, "TEST_EXTRA_SECRET="+envSecret)
	waitFor(t, "the plugin's status report", func() bool { return strings.Contains(logs.String(), "plugin reported status") })

	if code, _, body := get(t, base+"/hooks/alpha/log"); code != 200 || body != "logged" {
		t.Fatalf("/log: %d %s", code, body)
	}
	// A reply whose send fails with the token in the error.
	resp, err := http.Post(base+"/hooks/alpha/deliver", "application/json", strings.NewReader(`{"id":"m1","conversation":"c1","text":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	var receipt struct{ TicketID uint64 }
	if err := decodeJSON(resp, &receipt); err != nil || receipt.TicketID == 0 {
		t.Fatalf("deliver: %v %+v", err, receipt)
	}
	if code, b := apiCall(t, "POST", fmt.Sprintf("%s/api/v1/tickets/%d/comments", base, receipt.TicketID), admin, map[string]any{"body": "fail-echo", "public": true}); code != 201 {
		t.Fatalf("reply: %d %s", code, b)
	}
	// A request with a wrong token that embeds the admin token.
	req, _ := http.NewRequest("GET", base+"/api/v1/tickets", nil)
	req.Header.Set("Authorization", "Bearer x"+admin)
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
	}

	for _, line := range []string{"echo at trace", "echo at debug", "echo at info", "echo at warn", "echo at error", "plugin reported status"} {
		waitFor(t, "the log line "+strconv.Quote(line), func() bool { return strings.Contains(logs.String(), line) })
	}
	waitFor(t, "the failed send", func() bool { return strings.Contains(logs.String(), "was revoked") })
	out := logs.String()
	for _, secret := range []string{manifestSecret, envSecret, admin} {
		if strings.Contains(out, secret) {
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, secret) {
					t.Errorf("log line shows a secret: %s", l)
				}
			}
		}
	}
	if n := strings.Count(out, "(redacted)"); n < 8 {
		t.Errorf("only %d redactions in the log:\n%s", n, out)
	}
}

// decodeJSON decodes and closes an HTTP answer.
func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// Weak admin token: serve refuses a PATCHBAY_ADMIN_TOKEN shorter than 32
// characters (exit status 1, saying why) unless -dev is given; an unset
// one disables the admin token and is accepted.
func TestAdminTokenMinimumLength(t *testing.T) {
	cfg := writeConfig(t, `http { listen = "127.0.0.1:0" }`)
	code, out := runBinary(t, []string{"PATCHBAY_ADMIN_TOKEN=dev-admin-token"}, "serve", "-config", cfg)
	if code != 1 || !strings.Contains(out, "shorter than 32 characters") || strings.Contains(out, "dev-admin-token") {
		t.Fatalf("short admin token: exit %d, output %q", code, out)
	}
	_, logs, base, _ := startServeArgs(t, cfg, []string{"-dev"}, "PATCHBAY_ADMIN_TOKEN=dev-admin-token")
	if !strings.Contains(logs.String(), "development mode") {
		t.Errorf("-dev does not warn: %s", logs.String())
	}
	if code, _ := apiCall(t, "GET", base+"/api/v1/me", "dev-admin-token", nil); code != 200 {
		t.Errorf("the -dev admin token: %d", code)
	}
}

// Same-uid memory and environment reads: the core is non-dumpable, so a
// plugin (or any process of the core's uid) cannot read its
// /proc/<pid>/environ (where PATCHBAY_ADMIN_TOKEN is) or attach to it.
// The kernel makes such a process's /proc files root's: as root the test
// runs the core as nobody and checks the owner; otherwise it tries the
// read itself.
func TestCoreNotDumpable(t *testing.T) {
	const admin = "dumpable-admin-token-0123456789abcdef"
	root := os.Geteuid() == 0
	dir, err := os.MkdirTemp("", "patchbay-dumpable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfgPath := filepath.Join(dir, "patchbay.hcl")
	src := fmt.Sprintf("data_dir = %q\nplugin_dir = %q\nhttp { listen = \"127.0.0.1:0\" }\n", filepath.Join(dir, "data"), pluginDir)
	if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "patchbay"), "serve", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "PATCHBAY_ADMIN_TOKEN="+admin)
	const nobody = 65534
	if root {
		for _, p := range []string{dir, binDir} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(dir, "data"), nobody, nobody); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	logs := &testutil.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	waitFor(t, "the core to listen", func() bool {
		select {
		case <-exited:
			t.Fatalf("the core exited: %s", logs.String())
		default:
		}
		return strings.Contains(logs.String(), "listening")
	})
	// The core still reads its own /proc files: the process metrics work.
	m := regexp.MustCompile(`listening: addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no address in %s", logs.String())
	}
	if code, _, body := get(t, "http://"+m[1]+"/metrics"); code != 200 || !strings.Contains(body, "process_open_fds") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("/metrics of the non-dumpable core: %d\n%.2000s", code, body)
	}
	environ := fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid)
	if root {
		st, err := os.Stat(environ)
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 0 {
			t.Fatalf("%s belongs to uid %d, the core's: the core is dumpable, so its uid's processes can read its environment", environ, uid)
		}
		return
	}
	b, err := os.ReadFile(environ)
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("reading the core's environment as its own uid: %v (admin token readable: %v)", err, strings.Contains(string(b), admin))
	}
}

// rawRequest opens a connection and sends a request's headers and the
// first bytes of a body of announced length n, leaving the rest unsent.
func rawRequest(t *testing.T, base, path string, n int, first string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, n, first)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return conn, bufio.NewReader(conn)
}

// Slow webhook bodies through the real binary: at most
// http.max_webhook_in_flight requests of a channel are in progress at once
// (one more is 503 with Retry-After at once, before its body is read); a
// provider webhook whose body stalls is answered 408 once
// http.body_read_timeout passes; a slot frees when its request ends.
func TestSlowWebhookBodiesBounded(t *testing.T) {
	cfg := writeConfig(t, `
http {
  listen                = "127.0.0.1:0"
  body_read_timeout     = "10s"
  max_webhook_in_flight = 2
}
channel "alpha" {
  plugin = "test"
  config { token = "slow-body-token" }
}
`)
	_, logs, base, _ := startServe(t, cfg)
	waitFor(t, "the plugin to run", func() bool { return strings.Contains(logs.String(), "plugin running") })
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(id string) (int, string, http.Header) {
		resp, err := client.Post(base+"/hooks/alpha/deliver", "application/json", strings.NewReader(`{"id":"`+id+`","conversation":"c","text":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), resp.Header
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	// Two senders that stall their bodies hold both slots.
	conn1, _ := rawRequest(t, base, "/hooks/alpha/deliver", 1000, `{"id":"m1",`)
	waitFor(t, "the first slow webhook in progress", func() bool { return inFlight(t, base) == 1 })
	_, slow2 := rawRequest(t, base, "/hooks/alpha/deliver", 1000, `{"id":"m2",`)
	waitFor(t, "the second slow webhook in progress", func() bool { return inFlight(t, base) == 2 })
	// A third is refused at once.
	code, body, hdr := post("m3")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "too_many_webhooks") || hdr.Get("Retry-After") == "" {
		t.Fatalf("webhook over the in-flight cap: %d %s %v", code, body, hdr)
	}
	// The first slow sender goes away: its slot frees.
	conn1.Close()
	n := 0
	waitFor(t, "a slot to free", func() bool {
		n++
		code, _, _ := post(fmt.Sprintf("m4-%d", n))
		return code == http.StatusOK
	})
	// The second is cut at the body read deadline.
	res, err := http.ReadResponse(slow2, nil)
	if err != nil {
		t.Fatalf("stalled body: no answer: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "body_timeout") || !res.Close {
		t.Fatalf("stalled body: %d %s (close %v), want 408 closing the connection", res.StatusCode, b, res.Close)
	}
}

// inFlight reads patchbay_webhooks_in_flight{channel="alpha"} from /metrics.
func inFlight(t *testing.T, base string) int {
	t.Helper()
	_, _, body := get(t, base+"/metrics")
	m := regexp.MustCompile(`(?m)^patchbay_webhooks_in_flight\{channel="alpha"\} (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// metricValue reads one unlabelled metric from /metrics (-1 when absent).
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	_, _, body := get(t, base+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// Stalled stream at shutdown, through the real binary: an event-stream
// client that stopped reading, while megabytes of events wait for it,
// does not hold SIGTERM for the 30 s drain: streams are ended first, with
// an immediate write deadline. (The stream write timeout is set to an hour
// here, so only the shutdown path can end the stream.)
func TestShutdownNotHeldByStalledStream(t *testing.T) {
	const admin = "stall-admin-token-0123456789abcdef"
	cfg := writeConfig(t, `
http {
  listen               = "127.0.0.1:0"
  stream_write_timeout = "1h"
}`)
	cmd, _, base, exited := startServe(t, cfg, "PATCHBAY_ADMIN_TOKEN="+admin)
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		_ = c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		return serr
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", admin)
	waitFor(t, "the stream to open", func() bool { return metricValue(t, base, "patchbay_http_event_streams") == 1 })

	// Far more events than any socket buffer holds: the stream's write blocks.
	code, b := apiCall(t, "POST", base+"/api/v1/tickets", admin, map[string]any{"subject": "flood",
		"comment": map[string]any{"body": "first"}, "requester": map[string]any{"name": "Ada", "email": "ada@customer.test"}})
	var tk struct{ ID uint64 }
	if err := json.Unmarshal(b, &tk); code != 201 || err != nil {
		t.Fatalf("ticket: %d %s", code, b)
	}
	big := strings.Repeat("x", 800<<10)
	for range 12 {
		if code, b := apiCall(t, "POST", fmt.Sprintf("%s/api/v1/tickets/%d/comments", base, tk.ID), admin, map[string]any{"body": big, "public": false}); code != 201 {
			t.Fatalf("comment: %d %.200s", code, b)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-exited:
		t.Logf("exited %v after SIGTERM", time.Since(start))
	case <-time.After(20 * time.Second):
		t.Fatal("serve is still running 20 s after SIGTERM: the stalled stream holds the shutdown")
	}
}
