package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/internal/testutil"
)

// fill writes a file until the disk is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 1 << 16 {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return p
		}
	}
	t.Fatal("fill: the disk never filled")
	return ""
}

// diskFullTest is the body of TestDiskFull (regressions_test.go):
// the data directory's disk fills up under webhook load. Every answer must
// be 200 (stored) or 5xx (the provider retries), the core must stay up,
// and once space returns the same messages are accepted and stored once.
func diskFullTest(t *testing.T) {
	bin := binaries(t)
	disk := testutil.SmallDisk(t, 96<<20)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{DataDir: filepath.Join(disk, "data"), Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	hc := loadClient(4)
	post := func(n int) (hookAnswer, error) {
		id := fmt.Sprintf("wamid.full.%d", n)
		body, sig := fx.message("3377700000", id, "crash "+id)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return postHook(ctx, hc, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig)
	}
	for n := range 20 {
		if a, err := post(n); err != nil || a.status != 200 {
			t.Fatalf("before the disk fills: %v %+v", err, a)
		}
	}
	filler := fill(t, disk)
	acked := map[int]bool{}
	refused := 0
	for n := 20; n < 2020 && refused < 20; n++ {
		a, err := post(n)
		switch {
		case err != nil:
			t.Fatalf("message %d on a full disk: no answer (%v); the core died? logs:\n%s", n, err, panicHead(core.Logs()))
		case a.status == 200:
			acked[n] = true
		case a.status >= 500:
			refused++
		default:
			t.Fatalf("message %d on a full disk: %d %s", n, a.status, a.body)
		}
	}
	if refused == 0 {
		t.Fatal("the full disk never refused a message")
	}
	if st, _ := core.Do("GET", "/healthz", nil); st != 503 {
		t.Fatalf("healthz on a full disk: %d, want 503", st)
	}
	// The refusals are logged once per 10 s with a count, not per webhook.
	lines := 0
	for _, l := range strings.Split(core.Logs(), "\n") {
		if strings.Contains(l, "path=/hooks/wa") && strings.Contains(l, "status=503") {
			lines++
		}
	}
	if lines == 0 || lines > 3 {
		t.Errorf("%d access log lines for %d refused webhooks, want one per 10 s", lines, refused)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e2etest.Eventually(t, 30*time.Second, "healthz 200 after space returned", func() bool {
		st, _ := core.Do("GET", "/healthz", nil)
		return st == 200
	})
	// Space is back: the provider's redeliveries are accepted.
	for n := 20; n < 20+len(acked)+refused; n++ {
		e2etest.Eventually(t, 60*time.Second, fmt.Sprintf("message %d accepted after space returned", n), func() bool {
			a, err := post(n)
			return err == nil && a.status == 200
		})
	}
	count := countExternalIDs(t, core, "wa")
	for n := range 20 + len(acked) + refused {
		if id := fmt.Sprintf("wamid.full.%d", n); count[id] != 1 {
			t.Errorf("%s stored %d times", id, count[id])
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// panicHead returns the core's log from its crash message on (the Go
// runtime's fatal error or panic line and the first goroutine), or the
// log's tail.
func panicHead(logs string) string {
	for _, marker := range []string{"unexpected fault address", "fatal error:", "panic:", "SIGBUS"} {
		if i := strings.Index(logs, marker); i >= 0 {
			return logs[i:min(len(logs), i+2500)]
		}
	}
	return tail(logs, 3000)
}
