package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kind names a kind of rule.
type Kind string

// The rule kinds stored as Rule.
const (
	KindTrigger    Kind = "trigger"
	KindAutomation Kind = "automation"
	KindMacro      Kind = "macro"
	KindView       Kind = "view"
)

// Kinds lists the kinds stored as Rule, in API order.
var Kinds = []Kind{KindTrigger, KindAutomation, KindMacro, KindView}

// Errors returned by the engine.
var (
	// ErrNotFound is returned (wrapped) for an unknown rule, webhook,
	// auto-reply or ticket.
	ErrNotFound = errors.New("rules: not found")
	// ErrInUse is returned when deleting a webhook that a rule still calls.
	ErrInUse = errors.New("rules: in use")
)

// ValidationError names the invalid field of a definition (a JSON path
// such as "conditions.all[1].operator") and why.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("rules: %s: %s", e.Field, e.Message)
}

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Condition is one test on a ticket: {"field": "status", "operator": "is",
// "value": "solved"}. Value is a string, a number or a list of strings
// depending on the field.
type Condition struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`

	c compiled
}

// Conditions match when every condition of All and at least one of Any
// (when Any is not empty) match.
type Conditions struct {
	All []Condition `json:"all"`
	Any []Condition `json:"any"`
}

// Action is one change: {"field": "group", "value": "Tier 2"}.
type Action struct {
	Field string `json:"field"`
	Value any    `json:"value"`

	a compiledAction
}

// Rule is a trigger, an automation, a macro or a view. Triggers and
// automations have conditions and actions, macros actions only, views
// conditions only.
type Rule struct {
	ID          uint64 `json:"id"`
	Kind        Kind   `json:"kind"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Active      bool   `json:"active"`
	// Position orders triggers and automations (then id); lower runs first.
	Position   int         `json:"position"`
	Conditions *Conditions `json:"conditions,omitempty"`
	Actions    []Action    `json:"actions,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// Webhook is an outgoing webhook target. Secret signs every delivery; the
// API shows it once, at creation, and masked afterwards.
type Webhook struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Active    bool      `json:"active"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AutoReply is a channel instance's first-response message, sent once on
// each new ticket created from that channel.
type AutoReply struct {
	Channel   string    `json:"channel"`
	Active    bool      `json:"active"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Delivery statuses of a webhook delivery.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one webhook call with its attempts (the delivery log). ID is
// sent as X-Patchbay-Delivery and stays the same across retries.
type Delivery struct {
	ID            string          `json:"id"`
	Seq           uint64          `json:"seq"`
	WebhookID     uint64          `json:"webhook_id"`
	RuleKind      Kind            `json:"rule_kind,omitempty"`
	RuleID        uint64          `json:"rule_id,omitempty"`
	TicketID      uint64          `json:"ticket_id,omitempty"`
	Status        string          `json:"status"`
	AttemptCount  int             `json:"attempt_count"`
	Attempts      []Attempt       `json:"attempts"`
	NextAttemptAt time.Time       `json:"next_attempt_at,omitzero"`
	Payload       json.RawMessage `json:"payload"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// Attempt is one HTTP call of a delivery.
type Attempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

// MaxAttemptsLogged bounds the attempts kept on one delivery (the newest).
const MaxAttemptsLogged = 20
