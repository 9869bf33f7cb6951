package rules

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// author says who writes the comments of a change set: a rule (author 0,
// via "rule": public replies go out as automatic replies) or the agent
// applying a macro.
type author struct {
	id  uint64
	via string
}

var ruleAuthor = author{via: ticket.ViaRule}

func txUsers(r *store.ReadTx) userLookup {
	return func(id uint64) *ticket.User {
		u, err := r.User(id)
		if err != nil {
			return nil
		}
		return u
	}
}

// buildComments renders the change set's notes and replies as comments
// (not stored).
func buildComments(r *store.ReadTx, cs *changeSet, by author) []*ticket.Comment {
	users := txUsers(r)
	var out []*ticket.Comment
	for _, n := range cs.notes {
		out = append(out, &ticket.Comment{TicketID: cs.t.ID, AuthorID: by.id, Body: render(n, cs.t, users), Via: by.via, CreatedAt: cs.at, Attachments: []ticket.Attachment{}})
	}
	for _, b := range cs.replies {
		c := &ticket.Comment{TicketID: cs.t.ID, AuthorID: by.id, Body: render(b, cs.t, users), Public: true, Via: by.via, CreatedAt: cs.at, Attachments: []ticket.Attachment{}}
		if cs.t.Channel != "" {
			c.Delivery = &ticket.Delivery{Status: ticket.DeliveryPending}
		}
		out = append(out, c)
	}
	return out
}

// writeChanges stores the change set: the ticket when its fields changed,
// the notes, the public replies with their outbox entries, and the webhook
// deliveries, all in tx. before is the ticket's state before the actions.
func writeChanges(tx *store.Tx, cs *changeSet, before ticketFields, by author) ([]*ticket.Comment, error) {
	comments := buildComments(&tx.ReadTx, cs, by)
	if by.via != ticket.ViaRule {
		for _, c := range comments {
			if c.Public {
				if _, err := ticket.ApplyAgentComment(cs.t, by.id, true, nil, cs.at); err != nil {
					return nil, err
				}
			}
		}
	}
	// Comments first: the ticket may be closing, and a closed ticket
	// takes no comment.
	for _, c := range comments {
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return nil, err
		}
		if c.Public {
			if err := tx.EnqueueReply(cs.t, c); err != nil {
				return nil, err
			}
		}
	}
	if fieldsOf(cs.t) != before || (by.via != ticket.ViaRule && len(comments) > 0) {
		if err := tx.UpdateTicket(cs.t); err != nil {
			return nil, err
		}
	}
	for _, w := range cs.webhooks {
		if err := enqueueDelivery(tx, w, cs.t); err != nil {
			return nil, err
		}
	}
	return comments, nil
}

// webhookPayload is the JSON body of a webhook delivery.
type webhookPayload struct {
	DeliveryID string         `json:"delivery_id"`
	WebhookID  uint64         `json:"webhook_id"`
	Event      string         `json:"event"`
	Rule       payloadRule    `json:"rule"`
	Ticket     *ticket.Ticket `json:"ticket"`
	At         string         `json:"at"`
}

type payloadRule struct {
	Kind Kind   `json:"kind"`
	ID   uint64 `json:"id"`
}

// enqueueDelivery persists one webhook delivery (due now) in tx. A
// deleted or inactive webhook gets no delivery.
func enqueueDelivery(tx *store.Tx, w webhookCall, t *ticket.Ticket) error {
	var wh Webhook
	ok, err := getJSON(&tx.ReadTx, spaceWebhook, id20(w.webhookID), &wh)
	if err != nil || !ok || !wh.Active {
		return err
	}
	seq, err := tx.NextID(seqDelivery)
	if err != nil {
		return err
	}
	now := tx.Now()
	id := uuid.NewString()
	body, err := json.Marshal(webhookPayload{
		DeliveryID: id, WebhookID: wh.ID, Event: string(w.kind) + ".fired",
		Rule: payloadRule{Kind: w.kind, ID: w.ruleID}, Ticket: t, At: now.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	})
	if err != nil {
		return fmt.Errorf("rules: encode webhook payload: %w", err)
	}
	d := &Delivery{ID: id, Seq: seq, WebhookID: wh.ID, RuleKind: w.kind, RuleID: w.ruleID, TicketID: t.ID,
		Status: DeliveryPending, Attempts: []Attempt{}, NextAttemptAt: now, Payload: body, CreatedAt: now, UpdatedAt: now}
	if err := putJSON(tx, spaceDelivery, deliveryKey(wh.ID, seq), d); err != nil {
		return err
	}
	return tx.PutRuleValue(spaceDue, dueKey(now, wh.ID, seq), nil)
}
