package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
)

var (
	crashCycles = flag.Int("crash.cycles", 2, "kill -9 cycles run by TestCrashKill9 (make crashtest runs 200)")
	crashSeed   = flag.Uint64("crash.seed", 0, "random seed of TestCrashKill9 (0: from the clock; the seed is logged)")
)

// Load shape of one crash cycle.
const (
	crashSenders       = 16   // goroutines posting webhooks
	crashConversations = 6    // WhatsApp numbers per cycle: many senders share one conversation
	crashMaxPerSender  = 3000 // bound on messages per sender per cycle
	crashMaxReplies    = 200  // bound on agent replies per cycle
	crashKillTimeout   = 60 * time.Second
)

// closedConversation is the WhatsApp number whose first ticket is closed
// before the cycles; its later messages go to one follow-up ticket.
const closedConversation = "4470000000"

// crashLedger is what the test saw acknowledged, across all cycles.
type crashLedger struct {
	acked      map[string]int        // wamid -> cycle it was acknowledged in
	tickets    map[uint64]string     // ticket id -> conversation key
	replies    map[uint64]crashReply // reply comment id -> what was posted
	closed     apiTicket             // the closed ticket, as it was closed
	closedCmts int
	violations int
}

type crashReply struct {
	ticket uint64
	body   string
}

func (l *crashLedger) violate(t *testing.T, format string, args ...any) {
	t.Helper()
	l.violations++
	if l.violations <= 30 {
		t.Errorf("violation: "+format, args...)
	}
}

// TestCrashKill9 proves "acknowledged means durable" with the real binary
// and the real WhatsApp plugin: cycles of many goroutines posting signed
// webhooks (and an agent posting public replies) → kill -9 of the core at a
// random moment → checks on the store as the crash left it (store.Check,
// every acknowledged message and reply present, ticket ids never reused)
// → restart over the same data dir → checks through the API (every
// acknowledged message exactly once, closed ticket unchanged). At the end
// every acknowledged reply reaches the fake provider (duplicates counted
// and reported: the documented at-least-once window).
func TestCrashKill9(t *testing.T) {
	bin := binaries(t)
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("crash suite: %d cycles, seed %d (rerun with -crash.seed=%d)", *crashCycles, seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	l := &crashLedger{acked: map[string]int{}, tickets: map[uint64]string{}, replies: map[uint64]crashReply{}}
	setupClosedTicket(t, core, fx, l)

	for cycle := 1; cycle <= *crashCycles; cycle++ {
		killAfter := 20 + rng.IntN(400)
		prevMax := maxKey(l.tickets)
		acks, replies := crashLoad(t, core, fx, cycle, killAfter, prevMax)
		for _, id := range acks {
			l.acked[id] = cycle
		}
		for id, r := range replies {
			l.replies[id] = r
		}
		checkCrashedStore(t, core.DataDir, l)
		core.Restart()
		core.WaitChannelState("wa", "running")
		checkCycleAPI(t, core, l, cycle, prevMax, acks)
		if cycle%10 == 0 || cycle == *crashCycles {
			t.Logf("cycle %d/%d: %d acknowledged messages, %d tickets, %d replies so far, %d violations",
				cycle, *crashCycles, len(l.acked), len(l.tickets), len(l.replies), l.violations)
		}
		if t.Failed() && l.violations > 30 {
			break
		}
	}

	// The closed ticket's customer kept writing: one follow-up ticket.
	var followUps []apiTicket
	for _, tk := range listTickets(t, core, url.Values{"channel": {"wa"}}, nil) {
		if tk.FollowUpOf == l.closed.ID {
			followUps = append(followUps, tk)
		}
	}
	wrote := false // did the closed ticket's customer get a message acknowledged?
	for id := range l.acked {
		wrote = wrote || strings.HasPrefix(id, "wamid.cc.")
	}
	if len(followUps) > 1 || (wrote && len(followUps) == 0) {
		l.violate(t, "%d follow-ups of the closed ticket %d, want one", len(followUps), l.closed.ID)
	}
	for _, f := range followUps {
		if f.Via != "closed_ticket" || f.Status == "closed" {
			l.violate(t, "follow-up %+v of the closed ticket: want an open ticket via closed_ticket", f)
		}
	}

	// Every acknowledged reply ends at the provider; count duplicates.
	undelivered := func() map[uint64]crashReply {
		out := map[uint64]crashReply{}
		for id, r := range l.replies {
			if fx.graph.Delivered(r.body) == 0 {
				out[id] = r
			}
		}
		return out
	}
	deadline := time.Now().Add(3 * time.Minute)
	for len(undelivered()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling the fake provider's record
	}
	// A reply not at the provider yet must still be queued (pending): not
	// lost. Restarts count as failed attempts today (see
	// TestOutboxRestartsDoNotCountAsAttempts), so a reply caught by many
	// kills can be waiting out a long backoff when the drain ends.
	queued := 0
	for id, r := range undelivered() {
		var got apiComment
		for _, c := range listComments(t, core, r.ticket) {
			if c.ID == id {
				got = c
			}
		}
		if got.Delivery == nil || got.Delivery.Status != "pending" {
			l.violate(t, "reply %d never reached the provider and is not queued: %+v", id, got.Delivery)
			continue
		}
		queued++
		t.Logf("reply %d still queued 3 minutes after the last cycle: %s after %d attempts (%s)",
			id, got.Delivery.Status, got.Delivery.Attempts, got.Delivery.Error)
	}
	// After a clean stop, the store once more: every queued reply has its
	// outbox entry, and everything above still holds.
	core.Stop()
	checkCrashedStore(t, core.DataDir, l)
	dups := 0
	for _, r := range l.replies {
		if n := fx.graph.Delivered(r.body); n > 1 {
			dups += n - 1
		}
	}
	t.Logf("crash suite: %d cycles, %d acknowledged messages, %d tickets, %d acknowledged replies (%d still queued at the end, %d duplicate sends at the provider: crash between send and record), %d violations",
		*crashCycles, len(l.acked), len(l.tickets), len(l.replies), queued, dups, l.violations)
	if l.violations > 0 {
		t.Fatalf("%d violations", l.violations)
	}
}

// setupClosedTicket creates a ticket, closes it and remembers it: crashes
// must never change it.
func setupClosedTicket(t *testing.T, core *e2etest.Core, fx *waFixture, l *crashLedger) {
	t.Helper()
	body, sig := fx.message(closedConversation, "wamid.closed.1", "please close me")
	if a, err := postHook(context.Background(), http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig); err != nil || a.status != 200 {
		t.Fatalf("seed message: %v %+v", err, a)
	}
	tks := listTickets(t, core, url.Values{"channel": {"wa"}}, nil)
	if len(tks) != 1 {
		t.Fatalf("tickets after the seed message: %+v", tks)
	}
	id := tks[0].ID
	for _, s := range []string{"solved", "closed"} {
		if st, b := core.Do("PATCH", fmt.Sprintf("/api/v1/tickets/%d", id), map[string]any{"status": s}); st != 200 {
			t.Fatalf("PATCH status %s: %d %s", s, st, b)
		}
	}
	if st := core.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d", id), nil, &l.closed); st != 200 || l.closed.Status != "closed" {
		t.Fatalf("closed ticket: %d %+v", st, l.closed)
	}
	l.closedCmts = len(listComments(t, core, id))
	l.tickets[id] = l.closed.ConversationKey
	l.acked["wamid.closed.1"] = 0
}

func maxKey(m map[uint64]string) uint64 {
	var mx uint64
	for k := range m {
		mx = max(mx, k)
	}
	return mx
}

// crashLoad runs one cycle's load and kills the core with SIGKILL once
// killAfter messages were acknowledged. It returns the acknowledged message
// ids and replies.
func crashLoad(t *testing.T, core *e2etest.Core, fx *waFixture, cycle, killAfter int, prevMax uint64) ([]string, map[uint64]crashReply) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := loadClient(crashSenders + 2)
	defer hc.CloseIdleConnections()
	hooks := core.URL + "/hooks/wa"

	var (
		mu       sync.Mutex
		acks     []string
		replies  = map[uint64]crashReply{}
		nAcks    atomic.Int64
		kill     = make(chan struct{})
		killOnce sync.Once
		wg       sync.WaitGroup
	)
	ack := func(id string) {
		mu.Lock()
		acks = append(acks, id)
		mu.Unlock()
		if nAcks.Add(1) >= int64(killAfter) {
			killOnce.Do(func() { close(kill) })
		}
	}
	for g := range crashSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range crashMaxPerSender {
				if ctx.Err() != nil {
					return
				}
				waID := fmt.Sprintf("44%04d%04d", cycle%10000, (g+n)%crashConversations)
				wamid := fmt.Sprintf("wamid.c%d.g%d.n%d", cycle, g, n)
				if g == 0 && n%10 == 5 { // now and then, the closed ticket's customer
					waID, wamid = closedConversation, fmt.Sprintf("wamid.cc.c%d.n%d", cycle, n)
				}
				body, sig := fx.message(waID, wamid, "crash "+wamid)
				a, err := postHook(ctx, hc, hooks, body, bench.WhatsAppSignatureHeader, sig)
				if err != nil {
					return // the core is gone
				}
				if a.status == http.StatusOK {
					ack(wamid)
				}
				if n%4 == 3 { // Meta redelivers: still one comment
					if a, err := postHook(ctx, hc, hooks, body, bench.WhatsAppSignatureHeader, sig); err != nil {
						return
					} else if a.status == http.StatusOK {
						ack(wamid)
					}
				}
			}
		}()
	}
	// An agent answering this cycle's newest ticket.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := range crashMaxReplies {
			if ctx.Err() != nil {
				return
			}
			var list struct {
				Tickets []apiTicket `json:"tickets"`
			}
			st, b := core.Do("GET", "/api/v1/tickets?channel=wa&limit=1", nil)
			if st == 0 {
				return
			}
			if st == 200 && jsonInto(b, &list) == nil && len(list.Tickets) == 1 && list.Tickets[0].ID > prevMax {
				tk := list.Tickets[0].ID
				text := fmt.Sprintf("reply c%d n%d", cycle, n)
				var c apiComment
				st, b := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk), map[string]any{"body": text, "public": true})
				if st == 0 {
					return
				}
				if st == http.StatusCreated && jsonInto(b, &c) == nil {
					mu.Lock()
					replies[c.ID] = crashReply{ticket: tk, body: text}
					mu.Unlock()
				}
			}
			select { // pace the agent: a few replies per second
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	pids := core.PluginPIDs("whatsapp")
	select {
	case <-kill:
	case <-time.After(crashKillTimeout):
		t.Logf("cycle %d: only %d acknowledgements before the kill timeout", cycle, nAcks.Load())
	}
	core.Kill9()
	cancel()
	wg.Wait()
	// The plugin must not outlive the core (Pdeathsig).
	e2etest.Eventually(t, 30*time.Second, "plugin processes gone after kill -9 of the core", func() bool {
		for _, p := range pids {
			if bench.Alive(p) {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	return acks, replies
}

// checkCrashedStore opens the store exactly as the crash left it (before
// any restart can repair anything) and checks it.
func checkCrashedStore(t *testing.T, dir string, l *crashLedger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// patchbay serve keeps Badger in <data_dir>/store.
	if _, err := os.Stat(filepath.Join(dir, "store", "MANIFEST")); err != nil {
		t.Fatalf("no store where the core keeps it: %v", err)
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "store"), GCInterval: -1})
	if err != nil {
		t.Fatalf("open the crashed store: %v", err)
	}
	defer st.Close()
	if err := st.Check(ctx); err != nil {
		l.violate(t, "store check after kill -9: %v", err)
	}
	err = st.View(func(r *store.ReadTx) error {
		// Every acknowledged message present.
		for id, cycle := range l.acked {
			c, err := r.CommentByExternalID("wa", id)
			if errors.Is(err, store.ErrNotFound) {
				l.violate(t, "acknowledged message %s (cycle %d) lost", id, cycle)
				continue
			} else if err != nil {
				return err
			}
			if c.Body != "crash "+id && id != "wamid.closed.1" {
				l.violate(t, "message %s stored with body %q", id, c.Body)
			}
		}
		// Exactly once: count external ids over every ticket's comments.
		seen := map[string]int{}
		last, err := r.LastID(store.SeqTicket)
		if err != nil {
			return err
		}
		for id := uint64(1); id <= last; id++ {
			cs, err := r.Comments(id, 0, 0)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.ExternalID != "" {
					seen[c.ExternalID]++
				}
			}
		}
		for id, n := range seen {
			if n != 1 {
				l.violate(t, "message %s stored %d times", id, n)
			}
		}
		// Ticket ids never reused: each known id still names its conversation.
		for id, conv := range l.tickets {
			tk, err := r.Ticket(id)
			if err != nil {
				l.violate(t, "ticket %d: %v", id, err)
				continue
			}
			if tk.ConversationKey != conv {
				l.violate(t, "ticket %d now holds conversation %q, was %q", id, tk.ConversationKey, conv)
			}
		}
		// Every acknowledged public reply is still there, sent or queued.
		for id, rep := range l.replies {
			c, err := r.Comment(id)
			if err != nil {
				l.violate(t, "acknowledged reply %d lost: %v", id, err)
				continue
			}
			if c.Body != rep.body || c.TicketID != rep.ticket || !c.Public {
				l.violate(t, "reply %d changed: %+v", id, c)
			}
			if c.Delivery == nil {
				l.violate(t, "reply %d has no delivery", id)
				continue
			}
			switch c.Delivery.Status {
			case ticket.DeliverySent:
			case ticket.DeliveryPending:
				if _, err := r.OutboxEntry(id); err != nil {
					l.violate(t, "reply %d pending but not queued: %v", id, err)
				}
			default:
				l.violate(t, "reply %d delivery %q (%s)", id, c.Delivery.Status, c.Delivery.Error)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the crashed store: %v", err)
	}
}

// checkCycleAPI checks the restarted core through the API: this cycle's
// tickets are new ids holding every acknowledged message exactly once, and
// the closed ticket is unchanged.
func checkCycleAPI(t *testing.T, core *e2etest.Core, l *crashLedger, cycle int, prevMax uint64, acks []string) {
	t.Helper()
	fresh := listTickets(t, core, url.Values{"channel": {"wa"}}, func(tk apiTicket) bool { return tk.ID <= prevMax })
	count := map[string]int{}
	for _, tk := range fresh {
		if old, ok := l.tickets[tk.ID]; ok {
			l.violate(t, "cycle %d: ticket id %d reused (was %q)", cycle, tk.ID, old)
		}
		l.tickets[tk.ID] = tk.ConversationKey
		for _, c := range listComments(t, core, tk.ID) {
			if c.ExternalID != "" {
				count[c.ExternalID]++
			}
		}
	}
	for _, id := range acks {
		if strings.HasPrefix(id, "wamid.cc.") {
			continue // in the closed ticket's follow-up, an older ticket: the store check counts it
		}
		if count[id] != 1 {
			l.violate(t, "cycle %d: acknowledged message %s appears %d times through the API", cycle, id, count[id])
		}
	}
	var closed apiTicket
	if st := core.JSON("GET", "/api/v1/tickets/"+strconv.FormatUint(l.closed.ID, 10), nil, &closed); st != 200 {
		l.violate(t, "closed ticket %d: status %d", l.closed.ID, st)
	} else if closed.Status != "closed" || !closed.UpdatedAt.Equal(l.closed.UpdatedAt) {
		l.violate(t, "closed ticket changed: %+v, was %+v", closed, l.closed)
	}
	if n := len(listComments(t, core, l.closed.ID)); n != l.closedCmts {
		l.violate(t, "closed ticket has %d comments, had %d", n, l.closedCmts)
	}
}
