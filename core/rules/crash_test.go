package rules

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

const crashChildEnv = "PATCHBAY_RULES_CRASH_CHILD"

// TestMain lets the crash test re-execute this test binary as the child
// process that runs triggers and is killed midway.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild processes the event log a few events per transaction and
// prints the cursor after every commit, until killed.
func crashChild(dir string) int {
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	eng := New(st, Options{EventBatch: 5})
	ctx := context.Background()
	for {
		n, err := eng.processPage(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c, _ := eng.Cursor()
		fmt.Printf("cursor %d\n", c)
		if n == 0 {
			return 0
		}
	}
}

// TestCrashNeitherLosesNorDoublesTriggers kills (SIGKILL) a process running
// triggers midway through the event log, reopens the store and finishes:
// every qualifying update got its trigger's actions exactly once.
func TestCrashNeitherLosesNorDoublesTriggers(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	dir := t.TempDir()
	const tickets = 200
	{
		st, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		eng := New(st, Options{WebhookNetworks: testReceiverNetworks})
		ctx := context.Background()
		wh, err := eng.CreateWebhook(ctx, &Webhook{Name: "w", URL: "http://127.0.0.1:9/never-called", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.CreateRule(ctx, &Rule{Kind: KindTrigger, Title: "mark", Active: true,
			Conditions: all(cond("update_type", OpIs, "created"), cond("subject", OpContains, "even")),
			Actions: []Action{act(ActAddTags, "marked"), act(ActInternalNote, "fired on {{ticket.id}}"),
				act(ActNotifyWebhook, float64(wh.ID))}}); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= tickets; i++ {
			subj := "odd"
			if i%2 == 0 {
				subj = "even"
			}
			if err := st.Update(ctx, func(tx *store.Tx) error {
				tk := &ticket.Ticket{Subject: subj, Status: ticket.StatusNew, Via: ticket.ViaAPI, RequesterID: 1}
				if err := tx.CreateTicket(tk); err != nil {
					return err
				}
				return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, Body: subj, Public: true, Via: ticket.ViaAPI}, store.CommentOptions{})
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64 = tickets * 2
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killedAt := uint64(0)
	for sc.Scan() {
		c, _ := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "cursor "), 10, 64)
		if c >= last/3 {
			killedAt = c
			_ = cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	werr := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child was not killed (it ended with %v)", werr)
	}
	if killedAt == 0 || killedAt >= last {
		t.Fatalf("child was not killed midway (cursor %d of %d)", killedAt, last)
	}

	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := New(st, Options{})
	c, _ := eng.Cursor()
	if c < killedAt {
		t.Fatalf("cursor after the crash %d, but the child printed %d", c, killedAt)
	}
	if _, err := eng.ProcessEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	var end uint64
	_ = st.View(func(r *store.ReadTx) error { end, _ = r.LastID(store.SeqEvent); return nil })
	if c, _ := eng.Cursor(); c != end || end <= last {
		t.Fatalf("cursor %d after catching up, want the log's end %d", c, end)
	}
	ws, err := eng.Webhooks()
	if err != nil || len(ws) != 1 {
		t.Fatalf("webhooks %v (%v)", ws, err)
	}
	perTicket := map[uint64]int{}
	for before := uint64(0); ; {
		ds, err := eng.Deliveries(ws[0].ID, 100, before)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			perTicket[d.TicketID]++
		}
		if len(ds) < 100 {
			break
		}
		before = ds[len(ds)-1].Seq
	}
	err = st.View(func(r *store.ReadTx) error {
		for id := uint64(1); id <= tickets; id++ {
			tk, err := r.Ticket(id)
			if err != nil {
				return err
			}
			cs, err := r.Comments(id, 0, 0)
			if err != nil {
				return err
			}
			want := 0
			if id%2 == 0 {
				want = 1
			}
			if n := countBody(cs, fmt.Sprintf("fired on %d", id)); n != want {
				return fmt.Errorf("ticket %d: trigger fired %d times, want %d", id, n, want)
			}
			if perTicket[id] != want {
				return fmt.Errorf("ticket %d: %d webhook deliveries, want %d", id, perTicket[id], want)
			}
			if slices.Contains(tk.Tags, "marked") != (want == 1) {
				return fmt.Errorf("ticket %d: tags %v", id, tk.Tags)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
