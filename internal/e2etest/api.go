package e2etest

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Ticket is a ticket as the API answers it, with the fields end-to-end tests
// read.
type Ticket struct {
	ID          uint64   `json:"id"`
	Subject     string   `json:"subject"`
	Status      string   `json:"status"`
	Channel     string   `json:"channel"`
	Via         string   `json:"via"`
	RequesterID uint64   `json:"requester_id"`
	FollowUpOf  uint64   `json:"follow_up_of"`
	Group       string   `json:"group"`
	Tags        []string `json:"tags"`
}

// Comment is a comment as the API answers it, with the fields end-to-end
// tests read.
type Comment struct {
	ID            uint64            `json:"id"`
	AuthorID      uint64            `json:"author_id"`
	Body          string            `json:"body"`
	Public        bool              `json:"public"`
	Via           string            `json:"via"`
	ExternalID    string            `json:"external_id"`
	AutoSubmitted bool              `json:"auto_submitted"`
	Metadata      map[string]string `json:"metadata"`
	CreatedAt     time.Time         `json:"created_at"`
	Attachments   []Attachment      `json:"attachments"`
	Delivery      *Delivery         `json:"delivery"`
}

// Attachment is a comment's attachment as the API answers it.
type Attachment struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// Delivery is a public reply's delivery state as the API answers it.
type Delivery struct {
	Status     string `json:"status"`
	Error      string `json:"error"`
	ExternalID string `json:"external_id"`
}

// commentsPage is how many comments Comments asks for: more than any
// end-to-end test writes on one ticket.
const commentsPage = 100

// Tickets lists the tickets of a channel instance (GET
// /api/v1/tickets?channel=…); any answer but 200 fails the test.
func (c *Core) Tickets(channel string) []Ticket {
	c.t.Helper()
	var out struct {
		Tickets []Ticket `json:"tickets"`
	}
	if st := c.JSON("GET", "/api/v1/tickets?channel="+url.QueryEscape(channel), nil, &out); st != http.StatusOK {
		c.t.Fatalf("GET tickets of %s: %d", channel, st)
	}
	return out.Tickets
}

// Comments lists ticket id's comments, oldest first (GET
// /api/v1/tickets/{id}/comments); any answer but 200 fails the test.
func (c *Core) Comments(id uint64) []Comment {
	c.t.Helper()
	var out struct {
		Comments []Comment `json:"comments"`
	}
	if st := c.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d/comments?limit=%d", id, commentsPage), nil, &out); st != http.StatusOK {
		c.t.Fatalf("GET comments of ticket %d: %d", id, st)
	}
	return out.Comments
}
