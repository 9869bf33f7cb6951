package inbound

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/sdk"
)

// crashDirEnv switches the test binary into the crash child: it delivers
// messages from many goroutines forever, printing "ACK <instance> <id>
// <ticket> <comment>" after each Deliver returned, until it is killed.
const crashDirEnv = "PATCHBAY_CRASH_CHILD_DIR"

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("crash child only")
	}
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	svc := New(st, testInstances, Options{})
	var mu sync.Mutex
	out := os.Stdout
	run := os.Getpid()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				id := fmt.Sprintf("p%d-g%d-n%d", run, g, n)
				conv := fmt.Sprintf("conv-%d", (g*7+n)%24)
				m := &sdk.InboundMessage{ExternalID: id, ConversationKey: conv, Author: sdk.Party{ExternalID: conv}, Text: "crash " + id, Raw: []byte(`{"id":"` + id + `"}`)}
				var att []string
				if n%10 == 3 {
					s, err := svc.StageAttachment(context.Background(), "support", StagedHeader{Filename: id + ".txt", Size: -1}, strings.NewReader(strings.Repeat(id, 200)))
					if err != nil {
						fmt.Fprintln(os.Stderr, "stage:", err)
						os.Exit(3)
					}
					att = []string{s.ID}
				}
				inst := "it-help"
				if att != nil {
					inst = "support"
				}
				r, err := svc.Deliver(context.Background(), inst, m, att)
				if err != nil {
					fmt.Fprintln(os.Stderr, "deliver:", err)
					os.Exit(4)
				}
				// Redeliver some messages: still one comment each.
				if n%5 == 0 {
					if _, err := svc.Deliver(context.Background(), inst, m, nil); err != nil {
						os.Exit(5)
					}
				}
				mu.Lock()
				fmt.Fprintf(out, "ACK %s %s %d %d\n", inst, id, r.TicketID, r.CommentID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type ack struct {
	instance, id    string
	ticket, comment uint64
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short")
	}
	dir := t.TempDir()
	cycles := 3
	var acked []ack
	lastTicket := uint64(0)
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		killAt := 300 + 250*cycle
		n := 0
		killed := false
		deadline := time.Now().Add(2 * time.Minute)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "ACK ") {
				continue
			}
			var a ack
			if _, err := fmt.Sscanf(line, "ACK %s %s %d %d", &a.instance, &a.id, &a.ticket, &a.comment); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			acked = append(acked, a)
			n++
			if !killed && (n >= killAt || time.Now().After(deadline)) {
				// kill -9 in the middle of the load: writes in flight.
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("child exited by itself: %v\n%s", err, stderr.String())
		}
		if n == 0 {
			t.Fatalf("child acknowledged nothing: %s", stderr.String())
		}
		t.Logf("cycle %d: %d acknowledged before kill -9", cycle, n)

		st, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Check(context.Background()); err != nil {
			st.Close()
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		seen := map[string]bool{}
		err = st.View(func(r *store.ReadTx) error {
			for _, a := range acked {
				c, err := r.CommentByExternalID(a.instance, a.id)
				if err != nil {
					return fmt.Errorf("acknowledged message %s lost: %w", a.id, err)
				}
				if c.ID != a.comment || c.TicketID != a.ticket {
					return fmt.Errorf("message %s is comment %d/%d, acknowledged as %d/%d", a.id, c.TicketID, c.ID, a.ticket, a.comment)
				}
				if seen[a.id] {
					return fmt.Errorf("message %s acknowledged twice", a.id)
				}
				seen[a.id] = true
			}
			// Exactly once: no external id appears on two comments.
			last, _ := r.LastID(store.SeqTicket)
			if last < lastTicket {
				return fmt.Errorf("ticket sequence went back from %d to %d", lastTicket, last)
			}
			lastTicket = last
			count := map[string]int{}
			for id := uint64(1); id <= last; id++ {
				cs, err := r.Comments(id, 0, 0)
				if err != nil {
					return err
				}
				for _, c := range cs {
					if c.ExternalID != "" {
						count[c.ExternalID]++
						if count[c.ExternalID] > 1 {
							return fmt.Errorf("message %s stored %d times", c.ExternalID, count[c.ExternalID])
						}
					}
				}
			}
			return nil
		})
		st.Close()
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
	}
}
