package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

func TestLaterFnSeesEarlierWritesInBatch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	// 64 concurrent "get or create the conversation's ticket" functions:
	// whatever the batching, exactly one ticket.
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx *Tx) error {
				if _, err := tx.TicketByConversation("wa", "c1"); err == nil {
					return nil
				} else if !errors.Is(err, ErrNotFound) {
					return err
				}
				return tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew, Channel: "wa", ConversationKey: "c1"})
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var last uint64
	s.View(func(r *ReadTx) error { last, _ = r.LastID(SeqTicket); return nil })
	if last != 1 {
		t.Fatalf("%d tickets", last)
	}
	if st := s.Stats(); st.Updates != 64 || st.Commits > 64 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatchSplitWhenTooBig(t *testing.T) {
	// A tiny memtable makes Badger's transaction limit small (~15% of it):
	// many concurrent writers overflow one transaction and must be split,
	// each caller still answered after its own commit.
	s, err := Open(Options{Dir: t.TempDir(), MemTableSize: 1 << 20, MaxBatchBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := bytes.Repeat([]byte("v"), 2000) // under the value threshold: counts fully
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Update(ctx, func(tx *Tx) error {
				for j := range 5 {
					if err := tx.SetState("x", fmt.Sprintf("k%d-%d", i, j), val); err != nil {
						return err
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.View(func(r *ReadTx) error {
		for i := range 200 {
			for j := range 5 {
				if _, ok, _ := r.State("x", fmt.Sprintf("k%d-%d", i, j)); !ok {
					t.Fatalf("k%d-%d missing", i, j)
				}
			}
		}
		return nil
	})
	// One function larger than a transaction fails alone.
	err = s.Update(ctx, func(tx *Tx) error {
		for j := range 200 {
			tx.SetState("y", fmt.Sprint(j), val)
		}
		return nil
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized update: %v", err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetState("z", "ok", []byte("1")) }); err != nil {
		t.Fatalf("store unusable after oversized update: %v", err)
	}
}

func TestPanicAndCancelledContext(t *testing.T) {
	s := openTest(t)
	err := s.Update(context.Background(), func(tx *Tx) error {
		tx.SetState("a", "b", []byte("c"))
		panic("bug")
	})
	if err == nil {
		t.Fatal("panic not reported")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Update(ctx, func(tx *Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	s.View(func(r *ReadTx) error {
		if _, ok, _ := r.State("a", "b"); ok {
			t.Fatal("panicking function's write kept")
		}
		return nil
	})
	s.Close()
	if err := s.Update(context.Background(), func(tx *Tx) error { return nil }); !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestSequencesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir})
	mustUpdate(t, s, func(tx *Tx) error {
		for range 3 {
			if err := tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew}); err != nil {
				return err
			}
		}
		return nil
	})
	s.Close()
	s, _ = Open(Options{Dir: dir})
	defer s.Close()
	var tk ticket.Ticket
	tk.Status = ticket.StatusOpen
	mustUpdate(t, s, func(tx *Tx) error { return tx.CreateTicket(&tk) })
	if tk.ID != 4 {
		t.Fatalf("id %d after reopen, want 4", tk.ID)
	}
}

func TestListTicketsFilters(t *testing.T) {
	s := openTest(t)
	mustUpdate(t, s, func(tx *Tx) error {
		for i := range 30 {
			tk := &ticket.Ticket{Status: []ticket.Status{ticket.StatusNew, ticket.StatusOpen, ticket.StatusPending}[i%3], Channel: []string{"a", "b"}[i%2], RequesterID: uint64(i%5 + 1), AssigneeID: uint64(i % 4)}
			if err := tx.CreateTicket(tk); err != nil {
				return err
			}
		}
		return nil
	})
	cases := []struct {
		f    TicketFilter
		want func(id uint64) bool
	}{
		{TicketFilter{}, func(id uint64) bool { return true }},
		{TicketFilter{Status: ticket.StatusOpen}, func(id uint64) bool { return (id-1)%3 == 1 }},
		{TicketFilter{Channel: "b", Status: ticket.StatusNew}, func(id uint64) bool { return (id-1)%2 == 1 && (id-1)%3 == 0 }},
		{TicketFilter{RequesterID: 2, Channel: "a"}, func(id uint64) bool { return (id-1)%5 == 1 && (id-1)%2 == 0 }},
		{TicketFilter{AssigneeID: 3}, func(id uint64) bool { return (id-1)%4 == 3 }},
		{TicketFilter{Status: ticket.StatusSolved}, func(id uint64) bool { return false }},
	}
	for i, c := range cases {
		var want []uint64
		for id := uint64(30); id >= 1; id-- {
			if c.want(id) {
				want = append(want, id)
			}
		}
		var got []uint64
		f := c.f
		f.Limit = 4
		for pages := 0; pages < 20; pages++ {
			var page []*ticket.Ticket
			var next string
			if err := s.View(func(r *ReadTx) error {
				var err error
				page, next, err = r.ListTickets(f)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			for _, tk := range page {
				got = append(got, tk.ID)
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("case %d: got %v want %v", i, got, want)
		}
	}
	for _, bad := range []string{"!!", "dDE", EncodeCursor(0)} {
		err := s.View(func(r *ReadTx) error {
			_, _, err := r.ListTickets(TicketFilter{Cursor: bad})
			return err
		})
		if !errors.Is(err, ErrBadCursor) {
			t.Fatalf("cursor %q: %v", bad, err)
		}
	}
}

func TestTokensAndIdempotency(t *testing.T) {
	s := openTest(t)
	tok := &Token{Hash: "abc123", UserID: 1, Role: ticket.RoleAgent}
	mustUpdate(t, s, func(tx *Tx) error { return tx.PutToken(tok) })
	mustUpdate(t, s, func(tx *Tx) error { _, err := tx.RevokeToken(tok.ID); return err })
	s.View(func(r *ReadTx) error {
		got, err := r.TokenByHash("abc123")
		if err != nil || !got.Revoked() || got.ID != 1 {
			t.Fatalf("token %+v %v", got, err)
		}
		if _, err := r.TokenByHash("nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		return nil
	})
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutToken(&Token{Hash: "abc123"}) }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate hash: %v", err)
	}
	rec := &IdempotencyRecord{Scope: "tok1", Key: "k", RequestHash: "h", Status: 201, Body: []byte(`{"id":1}`), ExpiresAt: time.Now().Add(time.Hour)}
	mustUpdate(t, s, func(tx *Tx) error { return tx.PutIdempotency(rec) })
	s.View(func(r *ReadTx) error {
		got, err := r.Idempotency("tok1", "k")
		if err != nil || got.Status != 201 || string(got.Body) != `{"id":1}` {
			t.Fatalf("record %+v %v", got, err)
		}
		if _, err := r.Idempotency("tok2", "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other scope: %v", err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx *Tx) error {
		return tx.PutIdempotency(&IdempotencyRecord{Scope: "tok1", Key: "old", ExpiresAt: time.Now().Add(-time.Second)})
	})
	s.View(func(r *ReadTx) error {
		if _, err := r.Idempotency("tok1", "old"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired record: %v", err)
		}
		return nil
	})
}

func TestEventsAndNotify(t *testing.T) {
	s := openTest(t)
	ch := s.Notify()
	mustUpdate(t, s, func(tx *Tx) error {
		tk := &ticket.Ticket{Status: ticket.StatusNew}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, Body: "x"}, CommentOptions{})
	})
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after commit")
	}
	evs, err := s.EventsAfter(0, 10)
	if err != nil || len(evs) != 2 || evs[0].Type != EventTicketCreated || evs[1].Type != EventCommentCreated || evs[1].Seq != 2 {
		t.Fatalf("events %+v %v", evs, err)
	}
	if _, ok := evs[0].Data.([]byte); ok {
		t.Fatal("data not raw JSON")
	}
	evs, _ = s.EventsAfter(1, 10)
	if len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("after 1: %+v", evs)
	}
}

func TestBackupRestore(t *testing.T) {
	s := openTest(t)
	mustUpdate(t, s, func(tx *Tx) error {
		for range 50 {
			if err := tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusOpen, Channel: "wa", RequesterID: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Restore(context.Background(), Options{Dir: dir}, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := Restore(context.Background(), Options{Dir: dir}, bytes.NewReader(buf.Bytes())); err == nil {
		t.Fatal("restore into a non-empty directory accepted")
	}
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	r.View(func(rt *ReadTx) error {
		ts, _, err := rt.ListTickets(TicketFilter{Channel: "wa", Limit: 100})
		n = len(ts)
		return err
	})
	if n != 50 {
		t.Fatalf("%d tickets restored", n)
	}
	var tk ticket.Ticket
	tk.Status = ticket.StatusNew
	mustUpdate(t, r, func(tx *Tx) error { return tx.CreateTicket(&tk) })
	if tk.ID != 51 {
		t.Fatalf("restored sequence issued %d", tk.ID)
	}
}

func TestCheckFindsViolations(t *testing.T) {
	s := openTest(t)
	var id uint64
	mustUpdate(t, s, func(tx *Tx) error {
		tk := &ticket.Ticket{Status: ticket.StatusOpen, Channel: "wa"}
		err := tx.CreateTicket(tk)
		id = tk.ID
		return err
	})
	// Corrupt: drop the status index entry, add a stale one.
	mustUpdate(t, s, func(tx *Tx) error {
		tx.del(key(pIxStatus, strSep("open"), inv(id)))
		tx.set(key(pIxStatus, strSep("pending"), inv(id)), nil)
		return nil
	})
	err := s.Check(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("missing index entry")) || !bytes.Contains([]byte(err.Error()), []byte("stale index entry")) {
		t.Fatalf("check: %v", err)
	}
}

// TestCheckFindsBrokenRawPayload: Check reports a raw payload record whose
// chunked attachment is gone, and accepts the intact inline and chunked ones.
func TestCheckFindsBrokenRawPayload(t *testing.T) {
	s := openTest(t)
	big := bytes.Repeat([]byte("r"), MaxInlineRaw+1)
	meta := &AttachmentMeta{Filename: "raw", ContentType: "message/rfc822", Instance: "mail", Raw: true}
	if err := s.WriteAttachment(context.Background(), meta, bytes.NewReader(big), 0); err != nil {
		t.Fatal(err)
	}
	var chunked uint64
	mustUpdate(t, s, func(tx *Tx) error {
		tk := &ticket.Ticket{Status: ticket.StatusNew, Channel: "mail"}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		if err := tx.CreateComment(&ticket.Comment{TicketID: tk.ID, Public: true, ExternalID: "small"}, CommentOptions{Instance: "mail", Raw: []byte("hi"), RawContentType: "text/plain"}); err != nil {
			return err
		}
		c := &ticket.Comment{TicketID: tk.ID, Public: true, ExternalID: "big"}
		if err := tx.CreateComment(c, CommentOptions{Instance: "mail", RawAttachment: meta.ID, RawContentType: "message/rfc822"}); err != nil {
			return err
		}
		chunked = c.ID
		return nil
	})
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("intact store: %v", err)
	}
	if _, rc, err := s.OpenRaw(chunked); err != nil {
		t.Fatal(err)
	} else if got, _ := io.ReadAll(rc); !bytes.Equal(got, big) {
		t.Fatalf("raw read back %d bytes", len(got))
	}
	mustUpdate(t, s, func(tx *Tx) error {
		tx.del(attMetaKey(meta.ID))
		return nil
	})
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "raw payload of comment") {
		t.Fatalf("check: %v", err)
	}
}

func TestTrimEvents(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, err := Open(Options{Dir: t.TempDir(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for day := range 5 {
		mustUpdate(t, s, func(tx *Tx) error {
			return tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew, Subject: fmt.Sprint(day)})
		})
		mu.Lock()
		now = now.Add(24 * time.Hour)
		mu.Unlock()
	}
	n, err := s.TrimEvents(context.Background(), clock().Add(-2*24*time.Hour-time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("trimmed %d (%v), want 3", n, err)
	}
	s.View(func(r *ReadTx) error {
		first, _ := r.FirstEventSeq()
		if first != 4 {
			t.Fatalf("first event %d, want 4", first)
		}
		evs, _ := r.EventsAfter(0, 10)
		if len(evs) != 2 || evs[0].Seq != 4 {
			t.Fatalf("events %+v", evs)
		}
		return nil
	})
	// Seqs are not reused after a trim.
	mustUpdate(t, s, func(tx *Tx) error { return tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew}) })
	evs, _ := s.EventsAfter(5, 10)
	if len(evs) != 1 || evs[0].Seq != 6 {
		t.Fatalf("after trim %+v", evs)
	}
}

func TestEncodeEventMatchesJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.FixedZone("x", 3600))
	cases := []*Event{
		{Seq: 1, Type: "ticket.created", TicketID: 7, At: at, Data: json.RawMessage(`{"id":7}`)},
		{Seq: 2, Type: `odd "type"`, UserID: 3, At: at, Data: map[string]uint64{"a": 1}},
		{Seq: 3, Type: "x", At: at},
		{Seq: 4, Type: "ticket.updated", TicketID: 7, ActorID: 12, At: at, Data: json.RawMessage(`{"id":7}`)},
		{Seq: 5, Type: "a<b>&c\u2028d\\e\te", CommentID: 9, At: at},
		{Seq: 6, Type: "bad \xff utf-8", At: at},
		{Seq: 7, Type: "ünïcode ✓", At: at},
	}
	for _, ev := range cases {
		got, err := encodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(ev)
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		json.Unmarshal(want, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("hand-encoded %s\njson.Marshal %s", got, want)
		}
	}
}
