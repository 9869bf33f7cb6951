package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// TestOnlineBackupUnderLoad: `patchbay backup` of a
// running core, taken while signed webhooks keep arriving and an agent
// keeps replying, restores with `patchbay restore` into a store that passes
// the crash suite's checker: store.Check clean, every message acknowledged
// before the backup started present exactly once with its body, every
// public reply acknowledged before the backup started present and either
// sent or still queued with its outbox entry.
func TestOnlineBackupUnderLoad(t *testing.T) {
	bin := binaries(t)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := loadClient(10)
	defer hc.CloseIdleConnections()

	var (
		mu      sync.Mutex
		acked   []string
		replies = map[uint64]crashReply{}
		wg      sync.WaitGroup
	)
	const senders = 8
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20000 && ctx.Err() == nil; n++ {
				wamid := fmt.Sprintf("wamid.bk.g%d.n%d", g, n)
				body, sig := fx.message(fmt.Sprintf("4471%06d", (g*7+n)%300), wamid, "crash "+wamid)
				a, err := postHook(ctx, hc, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig)
				if err != nil {
					return
				}
				if a.status == http.StatusOK {
					mu.Lock()
					acked = append(acked, wamid)
					mu.Unlock()
				}
			}
		}()
	}
	// An agent replying to the newest ticket now and then.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; n < 2000 && ctx.Err() == nil; n++ {
			var list struct {
				Tickets []apiTicket `json:"tickets"`
			}
			if core.JSON("GET", "/api/v1/tickets?channel=wa&limit=1", nil, &list) != http.StatusOK || len(list.Tickets) == 0 {
				time.Sleep(20 * time.Millisecond) // nothing to answer yet
				continue
			}
			text := fmt.Sprintf("backup reply %d", n)
			var c apiComment
			if core.JSON("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", list.Tickets[0].ID), map[string]any{"body": text, "public": true}, &c) == http.StatusCreated {
				mu.Lock()
				replies[c.ID] = crashReply{ticket: list.Tickets[0].ID, body: text}
				mu.Unlock()
			}
		}
	}()
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked), len(replies)
	}
	e2etest.Eventually(t, time.Minute, "300 acknowledged messages and 5 replies before the backup", func() bool {
		m, r := count()
		return m >= 300 && r >= 5
	})

	// What was acknowledged before the backup starts must be in it.
	l := &crashLedger{acked: map[string]int{}, tickets: map[uint64]string{}, replies: map[uint64]crashReply{}}
	mu.Lock()
	for _, id := range acked {
		l.acked[id] = 1
	}
	for id, r := range replies {
		l.replies[id] = r
	}
	mu.Unlock()

	dir := t.TempDir()
	file := filepath.Join(dir, "patchbay.backup")
	backup := exec.Command(bin.Patchbay, "backup", "-config", core.Config, "-url", core.URL, "-o", file)
	backup.Env = append(append(os.Environ(), fx.env()...), "PATCHBAY_ADMIN_TOKEN="+e2etest.AdminToken) // the server's environment, as an operator runs it
	if out, err := backup.CombinedOutput(); err != nil {
		t.Fatalf("patchbay backup under load: %v\n%s", err, out)
	}
	during, _ := count()
	// Keep the load on a little after the backup, then stop it.
	e2etest.Eventually(t, time.Minute, "more messages after the backup", func() bool {
		m, _ := count()
		return m >= during+100
	})
	cancel()
	wg.Wait()
	after, _ := count()
	if len(l.acked) == during {
		t.Logf("no message was acknowledged while the backup ran (a fast backup); the load ran before and after it")
	}

	// Restore into a fresh data directory and check it as the crash suite
	// checks a crashed store.
	restored := filepath.Join(dir, "restored")
	cfg := filepath.Join(dir, "restored.hcl")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir = %q\n", restored)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin.Patchbay, "restore", "-config", cfg, "-i", file).CombinedOutput(); err != nil {
		t.Fatalf("patchbay restore: %v\n%s", err, out)
	}
	checkCrashedStore(t, restored, l)
	if l.violations > 0 {
		t.Fatalf("%d violations in the restored store", l.violations)
	}
	t.Logf("backup under load: %d messages and %d replies acknowledged before it, %d messages by its end, %d in all; restored store checked",
		len(l.acked), len(l.replies), during, after)
}
