package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/internal/testutil"
)

// runCommand runs the patchbay binary with args and returns its exit
// status and output.
func runCommand(t *testing.T, bin e2etest.Binaries, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.Patchbay, args...)
	cmd.Env = append(append(os.Environ(), "PATCHBAY_ADMIN_TOKEN="+e2etest.AdminToken), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run patchbay %v: %v", args, err)
		}
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// deliverN posts n signed messages (one conversation each of a few) and
// fails the test unless each is acknowledged.
func deliverN(t *testing.T, core *e2etest.Core, fx *waFixture, tag string, n int) {
	t.Helper()
	hc := loadClient(4)
	defer hc.CloseIdleConnections()
	for i := range n {
		body, sig := fx.message(fmt.Sprintf("33%08d", i%7), fmt.Sprintf("wamid.%s.%d", tag, i), "message "+tag)
		a, err := postHook(context.Background(), hc, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig)
		if err != nil || a.status != http.StatusOK {
			t.Fatalf("message %d: %v %+v", i, err, a)
		}
	}
}

// largestFile is the largest file of dir with the suffix.
func largestFile(t *testing.T, dir, suffix string) (string, int64) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	var best string
	var size int64 = -1
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			best, size = p, fi.Size()
		}
	}
	if best == "" {
		t.Fatalf("no %s file in %s", suffix, dir)
	}
	return best, size
}

// TestFaultStoreDamage: the core is killed under load (its WAL holds the
// acknowledged messages), and the WAL is cut in the middle. patchbay serve
// refuses the store with an error naming the file and the way out (before,
// it started and served with a quarter of the messages gone, /healthz 200),
// and patchbay check reports the same with exit status 1.
func TestFaultStoreDamage(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	deliverN(t, core, fx, "damage", 300)
	core.Kill9()

	storeDir := filepath.Join(core.DataDir, "store")
	wal, _ := largestFile(t, storeDir, ".mem")
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	written := len(bytes.TrimRight(b, "\x00"))
	if err := os.Truncate(wal, int64(written)*6/10); err != nil {
		t.Fatal(err)
	}

	code, out := runCommand(t, bin, fx.env(), "serve", "-config", core.Config)
	if code != 1 || !strings.Contains(out, filepath.Base(wal)) || !strings.Contains(out, "patchbay restore") {
		t.Fatalf("serve on a store with a cut WAL: exit %d, want 1 naming %s and the way out:\n%s", code, filepath.Base(wal), tail(out, 3000))
	}
	for _, bad := range []string{"panic:", "fatal error:", `"listening"`, "msg=listening", "listening:"} {
		if strings.Contains(out, bad) {
			t.Errorf("serve output contains %q:\n%s", bad, tail(out, 3000))
		}
	}
	code, out = runCommand(t, bin, fx.env(), "check", "-config", core.Config)
	if code != 1 || !strings.Contains(out, filepath.Base(wal)) || strings.Contains(out, "panic:") {
		t.Fatalf("check of the damaged store: exit %d:\n%s", code, tail(out, 3000))
	}
}

// TestFaultPluginReplacedDuringSends: replies are sent while the WhatsApp
// plugin hangs (SIGSTOP); the supervisor replaces it and the sends in
// flight end. With max_attempts = 1 a send counted as an attempt would fail
// its reply: every reply must still go out, once, after the replacement.
func TestFaultPluginReplacedDuringSends(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa") + "\noutbox {\n  max_attempts = 1\n}\n", Env: fx.env(), WaitRunning: []string{"wa"}})
	body, sig := fx.message("3312345678", "wamid.replace.seed", "hello")
	if a, err := postHook(context.Background(), http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig); err != nil || a.status != 200 {
		t.Fatalf("seed message: %v %+v", err, a)
	}
	tks := listTickets(t, core, nil, nil)
	if len(tks) != 1 {
		t.Fatalf("tickets %+v", tks)
	}
	pid := onePluginPID(t, core, "whatsapp")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if bench.Alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGCONT)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	const n = 12
	ids := make([]uint64, n)
	texts := make([]string, n)
	for i := range n {
		texts[i] = fmt.Sprintf("Reply %d while the plugin hangs.", i)
		ids[i] = postReply(t, core, tks[0].ID, texts[i])
	}
	e2etest.Eventually(t, 90*time.Second, "hung plugin replaced", func() bool {
		pids := core.PluginPIDs("whatsapp")
		return len(pids) == 1 && pids[0] != pid
	})
	core.WaitChannelState("wa", "running")
	for i, id := range ids {
		e2etest.Eventually(t, 2*time.Minute, fmt.Sprintf("reply %d sent after the replacement", i), func() bool {
			st, errMsg, _ := replyDelivery(t, core, tks[0].ID, id)
			if st == "failed" {
				t.Fatalf("reply %d failed: %s (an attempt was spent on the replaced plugin)", i, errMsg)
			}
			return st == "sent"
		})
		if d := fx.graph.Delivered(texts[i]); d != 1 {
			t.Errorf("reply %d delivered %d times, want 1", i, d)
		}
	}
}

// TestFaultOutageLongerThanRetryBudget: the provider fails every send for
// longer than the retry budget (max_attempts = 2), so every queued reply
// ends failed; GET /api/v1/channels shows the channel degraded with the
// last error and the failed count. After the outage an agent retries the
// channel's failed replies in one call, and each reaches the provider once.
func TestFaultOutageLongerThanRetryBudget(t *testing.T) {
	t.Parallel()
	var outage atomic.Bool
	outage.Store(true)
	bin := binaries(t)
	fx := newWA(t)
	fx.graph.SetScript(func(text string, attempt int) *bench.Fault {
		if outage.Load() && strings.HasPrefix(text, "Outage reply") {
			return &bench.Fault{Status: http.StatusServiceUnavailable, Code: 131000, Message: "Service temporarily unavailable"}
		}
		return nil
	})
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa") + "\noutbox {\n  max_attempts = 2\n  max_backoff = \"2s\"\n}\n", Env: fx.env(), WaitRunning: []string{"wa"}})
	body, sig := fx.message("3312345678", "wamid.outage.seed", "hello")
	if a, err := postHook(context.Background(), http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig); err != nil || a.status != 200 {
		t.Fatalf("seed message: %v %+v", err, a)
	}
	tk := listTickets(t, core, nil, nil)[0].ID
	const n = 6
	ids := make([]uint64, n)
	for i := range n {
		ids[i] = postReply(t, core, tk, fmt.Sprintf("Outage reply %d", i))
	}
	for i, id := range ids {
		e2etest.Eventually(t, 2*time.Minute, fmt.Sprintf("reply %d failed during the outage", i), func() bool {
			st, _, _ := replyDelivery(t, core, tk, id)
			return st == "failed"
		})
	}
	var chans struct {
		Channels []struct {
			Name     string `json:"name"`
			Degraded bool   `json:"degraded"`
			Outbox   struct {
				Failed    int    `json:"failed"`
				LastError string `json:"last_error"`
			} `json:"outbox"`
		} `json:"channels"`
	}
	e2etest.Eventually(t, 30*time.Second, "channel degraded with the failed count", func() bool {
		if st := core.JSON("GET", "/api/v1/channels", nil, &chans); st != 200 || len(chans.Channels) != 1 {
			return false
		}
		c := chans.Channels[0]
		return c.Degraded && c.Outbox.Failed == n && c.Outbox.LastError != ""
	})
	if _, metrics := core.Do("GET", "/metrics", nil); !strings.Contains(string(metrics), fmt.Sprintf(`patchbay_outbox_failed_replies{channel="wa"} %d`, n)) {
		t.Errorf("/metrics lacks the failed count")
	}

	outage.Store(false)
	var res struct {
		Retried int `json:"retried"`
	}
	if st := core.JSON("POST", "/api/v1/channels/wa/retry-failed", nil, &res); st != 200 || res.Retried != n {
		t.Fatalf("bulk retry: %d %+v", st, res)
	}
	for i, id := range ids {
		e2etest.Eventually(t, time.Minute, fmt.Sprintf("reply %d sent after the retry", i), func() bool {
			st, _, _ := replyDelivery(t, core, tk, id)
			return st == "sent"
		})
		if d := fx.graph.Delivered(fmt.Sprintf("Outage reply %d", i)); d != 1 {
			t.Errorf("reply %d delivered %d times, want 1", i, d)
		}
	}
	e2etest.Eventually(t, 30*time.Second, "channel no longer degraded", func() bool {
		core.JSON("GET", "/api/v1/channels", nil, &chans)
		return len(chans.Channels) == 1 && !chans.Channels[0].Degraded && chans.Channels[0].Outbox.Failed == 0
	})
}

// TestFaultShutdownOnFullDisk: another process fills the data directory's
// disk to the last byte while the core holds acknowledged messages in its
// memtable; SIGTERM must end the core cleanly (Badger's close-time flush
// would fault with SIGBUS), and after space returns a restart has every
// message, replayed from the WAL.
func TestFaultShutdownOnFullDisk(t *testing.T) {
	bin := binaries(t)
	disk := testutil.SmallDisk(t, 128<<20)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{DataDir: filepath.Join(disk, "data"), Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	deliverN(t, core, fx, "shutdown", 200)
	filler := fill(t, disk)
	for {
		// fill stops at the first ENOSPC of a 64 KiB write: take the last
		// pages too.
		f, err := os.OpenFile(filler, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, werr := f.Write(make([]byte, 4096))
		f.Close()
		if werr != nil {
			break
		}
	}
	core.Stop()
	logs := core.Logs()
	for _, bad := range []string{"SIGBUS", "fatal error:", "unexpected fault address", "panic:"} {
		if strings.Contains(logs, bad) {
			t.Fatalf("the core crashed at shutdown on a full disk:\n%s", panicHead(logs))
		}
	}
	if !strings.Contains(logs, "without flushing") || !strings.Contains(logs, "stopped") {
		t.Fatalf("shutdown on a full disk did not skip the flush cleanly:\n%s", tail(logs, 3000))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	core.Restart()
	count := countExternalIDs(t, core, "wa")
	for i := range 200 {
		if id := fmt.Sprintf("wamid.shutdown.%d", i); count[id] != 1 {
			t.Errorf("%s stored %d times after the restart", id, count[id])
		}
	}
}

// TestFaultValueLogDamageWhileServing: a value-log record of a stored
// message is damaged in a file the core only walks at start (an older,
// sealed one). The core starts; the first read of that record answers 503
// store_damaged (it was a 500 per request, with /healthz 200), /healthz
// turns 503 store_damaged, and patchbay check on the stopped core names the
// file.
func TestFaultValueLogDamageWhileServing(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	long := strings.Repeat("DAMAGE-ME ", 800) // 8 KB: the comment is stored in the value log
	body, sig := fx.message("3300000042", "wamid.vlog.1", long)
	if a, err := postHook(context.Background(), http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig); err != nil || a.status != 200 {
		t.Fatalf("message: %v %+v", err, a)
	}
	tk := listTickets(t, core, nil, nil)[0].ID
	core.Stop()
	core.Restart() // a new value-log file: the first one is sealed
	core.Stop()

	vlog := filepath.Join(core.DataDir, "store", "000001.vlog")
	b, err := os.ReadFile(vlog)
	if err != nil {
		t.Fatal(err)
	}
	damaged := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte("DAMAGE-ME DAMAGE-ME"))
		if i < 0 {
			break
		}
		copy(b[off+i+100:], "XXXXXXXX")
		damaged++
		off += i + len(long)
	}
	if damaged == 0 {
		t.Fatal("the message is not in 000001.vlog")
	}
	if err := os.WriteFile(vlog, b, 0o600); err != nil {
		t.Fatal(err)
	}
	core.Restart()
	if st, _ := core.Do("GET", "/healthz", nil); st != 200 {
		t.Fatalf("healthz before the damaged record is read: %d", st)
	}
	st, msg := core.Do("GET", fmt.Sprintf("/api/v1/tickets/%d/comments", tk), nil)
	if st != 503 || !strings.Contains(string(msg), "store_damaged") {
		t.Fatalf("comments of the damaged record: %d %s", st, msg)
	}
	st, msg = core.Do("GET", "/healthz", nil)
	if st != 503 || !strings.Contains(string(msg), "store_damaged") {
		t.Fatalf("healthz after a failed read: %d %s", st, msg)
	}
	core.Stop()
	code, out := runCommand(t, bin, fx.env(), "check", "-config", core.Config)
	if code != 1 || !strings.Contains(out, "000001.vlog") {
		t.Fatalf("check: exit %d:\n%s", code, tail(out, 3000))
	}
}
