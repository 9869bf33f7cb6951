package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// commentList is the answer of GET /api/v1/tickets/{id}/comments.
type commentList struct {
	Comments   []*ticket.Comment `json:"comments"`
	NextCursor *string           `json:"next_cursor"`
}

// DefaultCommentLimit is the page size of comment lists when limit is
// absent: most conversations fit in one page.
const DefaultCommentLimit = 100

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	q, err := query(r, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q, DefaultCommentLimit)
	if err != nil {
		return err
	}
	scope := fmt.Sprintf("comments\x00%d", id)
	c, _, err := decodeCursor(scope, q.Get("cursor"))
	if err != nil {
		return err
	}
	var list []*ticket.Comment
	err = s.view(func(tx *store.ReadTx) error {
		if _, err := tx.Ticket(id); errors.Is(err, store.ErrNotFound) {
			return notFound("ticket %d not found", id)
		} else if err != nil {
			return err
		}
		var err error
		list, err = tx.Comments(id, c.After, limit+1)
		return err
	})
	if err != nil {
		return err
	}
	out := commentList{Comments: list}
	if len(list) > limit {
		out.Comments = list[:limit]
		next := encodeCursor(scope, list[limit-1].ID)
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// commentCreate is the body of POST /api/v1/tickets/{id}/comments.
type commentCreate struct {
	Body *string `json:"body"`
	// Public is required: true sends a reply on the ticket's channel,
	// false adds an internal note. (No default: a note must never go out
	// by accident.)
	Public *bool                   `json:"public"`
	Status optional[ticket.Status] `json:"status"`
	// AttachmentIDs are uploads (POST /api/v1/attachments) to attach.
	AttachmentIDs []string `json:"attachment_ids"`
}

func (in *commentCreate) validate() error {
	if in.Body == nil || strings.TrimSpace(*in.Body) == "" {
		return invalidField("body", "must not be empty")
	}
	if err := checkText("body", *in.Body, 1<<30); err != nil {
		return err
	}
	if in.Public == nil {
		return invalidField("public", "is required: true for a public reply on the ticket's channel, false for an internal note")
	}
	if in.Status.Set && !in.Status.Null && !ticket.ValidStatus(in.Status.Value) {
		return invalidField("status", "must be one of open, pending, hold, solved, closed")
	}
	return nil
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in commentCreate
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	var status *ticket.Status
	if in.Status.Set && !in.Status.Null {
		status = &in.Status.Value
	}
	pre, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	principal := principalFrom(r.Context())
	return s.commit(w, r, body, func(tx *store.Tx) (*result, error) {
		t, err := tx.Ticket(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("ticket %d not found", id)
		}
		if err != nil {
			return nil, err
		}
		// Checked in the writing transaction: no change comes between.
		if err := pre.check(t); err != nil {
			return nil, err
		}
		if t.Status == ticket.StatusClosed {
			return nil, ticketClosed(id)
		}
		actor, err := s.actorID(tx, principal)
		if err != nil {
			return nil, err
		}
		tx.SetActor(actor)
		// Apply the lifecycle first: an invalid status fails before any
		// write (and a failing function's writes are discarded anyway).
		if _, err := ticket.ApplyAgentComment(t, actor, *in.Public, status, tx.Now()); err != nil {
			return nil, err
		}
		files, err := s.attachmentsForComment(tx, t, in.AttachmentIDs, *in.Public)
		if err != nil {
			return nil, err
		}
		c := &ticket.Comment{
			TicketID:    id,
			AuthorID:    actor,
			Body:        *in.Body,
			Public:      *in.Public,
			Via:         ticket.ViaAPI,
			Attachments: files,
		}
		outbound := c.Public && t.Channel != ""
		if outbound {
			c.Delivery = &ticket.Delivery{Status: ticket.DeliveryPending, UpdatedAt: tx.Now()}
		}
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return nil, err
		}
		for _, f := range files {
			if _, err := tx.ClaimStaged(f.ID, id, c.ID); err != nil {
				return nil, err
			}
		}
		if outbound {
			// The reply and its outbox entry commit together: the outbox
			// worker sends it once this transaction is durable.
			if err := tx.EnqueueReply(t, c); err != nil {
				return nil, err
			}
		}
		if err := tx.UpdateTicket(t); err != nil {
			return nil, err
		}
		return &result{
			status: http.StatusCreated,
			// ETag is the ticket's new version (the comment itself never
			// changes): the next If-Match of this client.
			header: http.Header{"Location": {fmt.Sprintf("/api/v1/tickets/%d/comments", id)}, "Etag": {ticketETag(t)}},
			body:   c,
		}, nil
	})
}
