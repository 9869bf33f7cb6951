package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/outbox"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

type fakeOutbox map[string]outbox.ChannelStatus

func (f fakeOutbox) ChannelStatus() (map[string]outbox.ChannelStatus, error) { return f, nil }

// failedReply stores a ticket on channel ch with a public reply whose
// delivery failed, as the outbox leaves it.
func failedReply(t *testing.T, st *store.Store, ch string) (tid, cid uint64) {
	t.Helper()
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		u := &ticket.User{Name: "Ann", Identities: []ticket.Identity{{Type: "whatsapp", Value: fmt.Sprint(time.Now().UnixNano())}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		tk := &ticket.Ticket{Subject: "s", Status: ticket.StatusOpen, Channel: ch, RequesterID: u.ID, ConversationKey: "1555"}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		c := &ticket.Comment{TicketID: tk.ID, AuthorID: u.ID, Body: "reply", Public: true, Via: ticket.ViaAPI,
			Delivery: &ticket.Delivery{Status: ticket.DeliveryFailed, Attempts: 20, Error: "gave up after 20 attempts: provider answered 503"}}
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return err
		}
		tid, cid = tk.ID, c.ID
		return tx.MarkFailed(ch, c.ID)
	}); err != nil {
		t.Fatal(err)
	}
	return tid, cid
}

func TestRetryCommentRoute(t *testing.T) {
	e := newEnv(t)
	tid, cid := failedReply(t, e.st, "wa")
	path := fmt.Sprintf("/api/v1/tickets/%d/comments/%d/retry", tid, cid)
	var c ticket.Comment
	e.must(200, "POST", path, e.admin, nil).decode(t, &c)
	if c.Delivery == nil || c.Delivery.Status != ticket.DeliveryPending || c.Delivery.Attempts != 0 {
		t.Fatalf("retried reply %+v", c.Delivery)
	}
	if err := e.st.View(func(r *store.ReadTx) error { _, err := r.OutboxEntry(cid); return err }); err != nil {
		t.Fatalf("no outbox entry after the retry: %v", err)
	}
	if err := e.st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Now pending: 409, nothing changes.
	r := e.req("POST", path, e.admin, nil)
	if r.status != 409 || !strings.Contains(r.apiErr(t).Message, "pending") {
		t.Fatalf("retry of a pending reply: %d %s", r.status, r.body)
	}
	cases := []struct{ path, what string }{
		{fmt.Sprintf("/api/v1/tickets/%d/comments/%d/retry", tid, cid+100), "unknown comment"},
		{fmt.Sprintf("/api/v1/tickets/%d/comments/%d/retry", tid+100, cid), "unknown ticket"},
		{fmt.Sprintf("/api/v1/tickets/%d/comments/x/retry", tid), "bad comment id"},
	}
	for _, c := range cases {
		if r := e.req("POST", c.path, e.admin, nil); r.status != 404 {
			t.Errorf("%s: %d %s, want 404", c.what, r.status, r.body)
		}
	}
	if r := e.req("POST", path, "", nil); r.status != 401 {
		t.Errorf("without a token: %d", r.status)
	}
}

func TestRetryFailedRouteAndChannelStatus(t *testing.T) {
	last := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	ob := fakeOutbox{"wa": {Depth: 2, Failed: 2, Degraded: true, ConsecutiveFailures: 7, LastError: "provider answered 503", LastErrorAt: last, OldestPending: last.Add(-time.Hour)}}
	e := newEnv(t, func(o *Options) {
		o.Channels = ChannelsFunc(func() []ChannelInfo {
			return []ChannelInfo{{Name: "mail", Plugin: "email", State: "running"}, {Name: "wa", Plugin: "whatsapp", State: "running"}}
		})
		o.Outbox = ob
	})
	_, c1 := failedReply(t, e.st, "wa")
	_, c2 := failedReply(t, e.st, "wa")
	_, other := failedReply(t, e.st, "mail")
	var out struct {
		Channel string `json:"channel"`
		Retried int    `json:"retried"`
	}
	e.must(200, "POST", "/api/v1/channels/wa/retry-failed", e.admin, nil).decode(t, &out)
	if out.Channel != "wa" || out.Retried != 2 {
		t.Fatalf("bulk retry: %+v", out)
	}
	_ = e.st.View(func(r *store.ReadTx) error {
		for _, id := range []uint64{c1, c2} {
			if _, err := r.OutboxEntry(id); err != nil {
				t.Errorf("reply %d not queued: %v", id, err)
			}
		}
		if _, err := r.OutboxEntry(other); err == nil {
			t.Errorf("the other channel's failed reply was queued")
		}
		return nil
	})
	e.must(200, "POST", "/api/v1/channels/wa/retry-failed", e.admin, nil).decode(t, &out)
	if out.Retried != 0 {
		t.Errorf("second bulk retry: %+v", out)
	}
	if r := e.req("POST", "/api/v1/channels/nope/retry-failed", e.admin, nil); r.status != 404 {
		t.Errorf("unknown channel: %d %s", r.status, r.body)
	}

	var list struct {
		Channels []struct {
			Name     string `json:"name"`
			Degraded bool   `json:"degraded"`
			Outbox   *struct {
				Depth           int        `json:"depth"`
				Failed          int        `json:"failed"`
				LastError       string     `json:"last_error"`
				OldestPendingAt *time.Time `json:"oldest_pending_at"`
			} `json:"outbox"`
		} `json:"channels"`
	}
	e.must(200, "GET", "/api/v1/channels", e.admin, nil).decode(t, &list)
	if len(list.Channels) != 2 {
		t.Fatalf("channels %+v", list)
	}
	mail, wa := list.Channels[0], list.Channels[1]
	if mail.Degraded || mail.Outbox == nil || mail.Outbox.Depth != 0 || mail.Outbox.OldestPendingAt != nil {
		t.Errorf("mail %+v %+v", mail, mail.Outbox)
	}
	if !wa.Degraded || wa.Outbox == nil || wa.Outbox.Depth != 2 || wa.Outbox.Failed != 2 || wa.Outbox.LastError != "provider answered 503" || wa.Outbox.OldestPendingAt == nil {
		t.Errorf("wa %+v %+v", wa, wa.Outbox)
	}
}

// TestRetryCommentOfClosedTicket: closed is closed: a failed reply of a
// closed ticket is not retried (409 ticket_closed) and nothing changes.
func TestRetryCommentOfClosedTicket(t *testing.T) {
	e := newEnv(t)
	tid, cid := failedReply(t, e.st, "wa")
	if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		tk, err := tx.Ticket(tid)
		if err != nil {
			return err
		}
		tk.Status = ticket.StatusClosed
		return tx.UpdateTicket(tk)
	}); err != nil {
		t.Fatal(err)
	}
	r := e.req("POST", fmt.Sprintf("/api/v1/tickets/%d/comments/%d/retry", tid, cid), e.admin, nil)
	if r.status != 409 || r.apiErr(t).Code != CodeTicketClosed {
		t.Fatalf("retry on a closed ticket: %d %s", r.status, r.body)
	}
	if err := e.st.View(func(r *store.ReadTx) error { _, err := r.OutboxEntry(cid); return err }); err == nil {
		t.Fatal("the reply of a closed ticket was queued")
	}
}
