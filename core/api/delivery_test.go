package api

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/patchbayhq/patchbay/core/outbox"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// recordingSender is a channel plugin stand-in for the outbox worker.
type recordingSender struct {
	mu   sync.Mutex
	sent []*sdk.OutboundMessage
}

func (s *recordingSender) Send(ctx context.Context, instance string, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return &sdk.SendResult{ExternalID: "provider-msg-1"}, nil
}

// TestPublicReplyIsDelivered posts a public reply through the API with the
// real outbox worker running: the reply goes out once, its delivery status
// becomes sent with the provider's id, and the change is streamed as an
// event.
func TestPublicReplyIsDelivered(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	tk := e.channelTicket("support")
	sender := &recordingSender{}
	w := outbox.New(e.st, sender, outbox.Options{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	events := e.openEvents(agent)
	<-events.comments
	var reply ticket.Comment
	e.must(201, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", agent,
		map[string]any{"body": "We are on it.", "public": true}).decode(t, &reply)

	// Wait for the delivery to be streamed as an event.
	for sent := false; !sent; {
		ev := events.next(t)
		if ev.typ != "delivery.updated" {
			continue
		}
		var data struct {
			CommentID uint64         `json:"comment_id"`
			Data      ticket.Comment `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			t.Fatal(err)
		}
		sent = data.CommentID == reply.ID && data.Data.Delivery != nil && data.Data.Delivery.Status == ticket.DeliverySent
	}

	// The comment list shows it sent, with the provider's id.
	var list commentList
	e.must(200, "GET", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", agent, nil).decode(t, &list)
	last := list.Comments[len(list.Comments)-1]
	if last.ID != reply.ID || last.Delivery == nil || last.Delivery.Status != ticket.DeliverySent || last.Delivery.ExternalID != "provider-msg-1" {
		t.Fatalf("reply after delivery: %+v", last)
	}
	sender.mu.Lock()
	if len(sender.sent) != 1 || sender.sent[0].Text != "We are on it." || sender.sent[0].CommentID != reply.ID {
		t.Fatalf("sent %+v", sender.sent)
	}
	sender.mu.Unlock()
}
