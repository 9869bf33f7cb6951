// Package ticket holds Patchbay's domain: tickets, comments, users and their
// identities, and the lifecycle rules that change them. It does no I/O; the
// store persists these types and the API serialises them (the JSON names
// are the API's, see docs/api.md).
package ticket

import "time"

// Status is a ticket's state.
type Status string

// The ticket statuses, in Zendesk's order.
const (
	StatusNew     Status = "new"
	StatusOpen    Status = "open"
	StatusPending Status = "pending"
	StatusHold    Status = "hold"
	StatusSolved  Status = "solved"
	StatusClosed  Status = "closed"
)

// Priority is a ticket's priority; empty means none set.
type Priority string

// The priorities.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Via values other than a plugin kind.
const (
	ViaAPI          = "api"
	ViaClosedTicket = "closed_ticket"
	ViaRule         = "rule"
	// ViaSystem marks notes written by the core itself (e.g. a rejected
	// attachment).
	ViaSystem = "system"
)

// Ticket is one conversation with a requester.
type Ticket struct {
	ID          uint64    `json:"id"`
	Subject     string    `json:"subject"`
	Status      Status    `json:"status"`
	Priority    Priority  `json:"priority,omitempty"`
	Channel     string    `json:"channel"` // channel instance name; "" for API tickets
	Via         string    `json:"via"`     // plugin kind, "api" or "closed_ticket"
	Brand       string    `json:"brand,omitempty"`
	RequesterID uint64    `json:"requester_id"`
	AssigneeID  uint64    `json:"assignee_id,omitempty"`
	Group       string    `json:"group,omitempty"`
	Tags        []string  `json:"tags"`
	FollowUpOf  uint64    `json:"follow_up_of,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// SolvedAt is when the ticket last became solved (auto-close timer).
	SolvedAt time.Time `json:"solved_at,omitzero"`
	// ConversationKey is the channel conversation the ticket belongs to.
	ConversationKey string `json:"conversation_key,omitempty"`
	// LastInboundAt is when the requester last wrote on the channel.
	LastInboundAt time.Time `json:"last_inbound_at,omitzero"`
	// Version changes with every stored change of the ticket (its fields,
	// and every comment added to it). The store sets it; the API serves it
	// as the ticket's strong ETag and checks If-Match against it. It is a
	// decimal counter sent as a JSON string: clients compare it, never
	// compute with it.
	Version uint64 `json:"version,string"`
}

// Comment is one message on a ticket: an inbound message, a public reply or
// an internal note.
type Comment struct {
	ID          uint64       `json:"id"`
	TicketID    uint64       `json:"ticket_id"`
	AuthorID    uint64       `json:"author_id"`
	Body        string       `json:"body"`
	HTMLBody    string       `json:"html_body,omitempty"`
	Public      bool         `json:"public"`
	Via         string       `json:"via"`
	ExternalID  string       `json:"external_id,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	Attachments []Attachment `json:"attachments"`
	// Delivery is set on outbound public replies on a channel.
	Delivery *Delivery `json:"delivery,omitempty"`
	// AutoSubmitted marks automatic inbound mail or bot messages.
	AutoSubmitted bool              `json:"auto_submitted,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// Attachment is a stored file on a comment.
type Attachment struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// Delivery statuses of an outbound reply.
const (
	DeliveryPending   = "pending"
	DeliverySent      = "sent"
	DeliveryDelivered = "delivered"
	DeliveryRead      = "read"
	DeliveryFailed    = "failed"
)

// Delivery is the state of an outbound reply's delivery to the provider.
type Delivery struct {
	Status     string    `json:"status"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts"`
	ExternalID string    `json:"external_id,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// Role is a user's role.
type Role string

// The roles.
const (
	RoleEndUser Role = "end-user"
	RoleAgent   Role = "agent"
	RoleAdmin   Role = "admin"
)

// User is an end user or an agent, with every identity known for them.
type User struct {
	ID         uint64     `json:"id"`
	Name       string     `json:"name"`
	Email      string     `json:"email,omitempty"`
	Phone      string     `json:"phone,omitempty"`
	Role       Role       `json:"role"`
	Identities []Identity `json:"identities"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// MergedInto is set on a user merged into another; such a user is no
	// longer listed and its identities belong to the target.
	MergedInto uint64 `json:"merged_into,omitempty"`
}

// Identity is one way to reach a user: Type is "email", "slack",
// "whatsapp", "line", "api"…; Value is normalised (lower-cased email,
// "T123:U456", WhatsApp id without "+", LINE user id).
type Identity struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}
