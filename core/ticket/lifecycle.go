package ticket

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrClosed is returned by every rule that would change a closed ticket.
// Closed is final: the API answers 409 Conflict.
var ErrClosed = errors.New("ticket is closed")

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists the invalid fields of a patch or a new ticket; the
// API answers 422 naming them.
type ValidationError struct {
	Fields []FieldError
}

// Error lists the invalid fields.
func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "invalid ticket change: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// ValidStatus reports whether s is one of the six statuses.
func ValidStatus(s Status) bool {
	switch s {
	case StatusNew, StatusOpen, StatusPending, StatusHold, StatusSolved, StatusClosed:
		return true
	}
	return false
}

// ValidPriority reports whether p is a priority; empty (none) is valid.
func ValidPriority(p Priority) bool {
	switch p {
	case "", PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent:
		return true
	}
	return false
}

// Tag limits.
const (
	MaxTagLength = 80
	MaxTags      = 100
)

// NormalizeTags lower-cases, trims and deduplicates tags, keeping their
// order. A tag must be non-empty, at most MaxTagLength bytes, and contain no
// whitespace or comma (Zendesk's rule); the first offending tag is reported.
func NormalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, raw := range tags {
		t := strings.ToLower(strings.TrimSpace(raw))
		switch {
		case t == "":
			return nil, errors.New("tags must not be empty")
		case len(t) > MaxTagLength:
			return nil, fmt.Errorf("tag %q is longer than %d bytes", t, MaxTagLength)
		case strings.ContainsAny(t, " \t\r\n,"):
			return nil, fmt.Errorf("tag %q must not contain whitespace or commas", t)
		case !utf8.ValidString(raw) || strings.ContainsFunc(t, unicode.IsControl):
			return nil, fmt.Errorf("tag %q must be valid UTF-8 without control characters", t)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, fmt.Errorf("at most %d tags", MaxTags)
	}
	return out, nil
}

// Patch is a change to a ticket requested by an agent; nil fields are left
// alone. AssigneeID pointing at 0 unassigns.
type Patch struct {
	Subject    *string   `json:"subject,omitempty"`
	Status     *Status   `json:"status,omitempty"`
	Priority   *Priority `json:"priority,omitempty"`
	AssigneeID *uint64   `json:"assignee_id,omitempty"`
	Group      *string   `json:"group,omitempty"`
	Tags       *[]string `json:"tags,omitempty"`
}

// MaxSubjectLength bounds a ticket subject.
const MaxSubjectLength = 1000

// Validate checks the patch's values against the ticket's current state
// without changing anything. It returns a *ValidationError naming every
// invalid field, or ErrClosed for a closed ticket.
func (p Patch) Validate(t *Ticket) error {
	if t.Status == StatusClosed {
		return ErrClosed
	}
	var ve ValidationError
	if p.Subject != nil {
		if strings.TrimSpace(*p.Subject) == "" {
			ve.add("subject", "must not be empty")
		} else if len(*p.Subject) > MaxSubjectLength {
			ve.add("subject", "must be at most %d bytes", MaxSubjectLength)
		}
	}
	if p.Status != nil {
		s := *p.Status
		switch {
		case !ValidStatus(s):
			ve.add("status", "must be one of new, open, pending, hold, solved, closed")
		case s == StatusNew && t.Status != StatusNew:
			ve.add("status", "a ticket never returns to new")
		case s == StatusClosed && t.Status != StatusSolved:
			ve.add("status", "a ticket must be solved before it is closed")
		}
	}
	if p.Priority != nil && !ValidPriority(*p.Priority) {
		ve.add("priority", "must be one of low, normal, high, urgent or empty")
	}
	if p.Tags != nil {
		if _, err := NormalizeTags(*p.Tags); err != nil {
			ve.add("tags", "%s", err.Error())
		}
	}
	if len(ve.Fields) > 0 {
		return &ve
	}
	return nil
}

// Apply validates the patch and applies it to t as agent actorID at time at.
// Solving an unassigned ticket assigns it to the acting agent (when actorID
// is not 0); becoming solved records SolvedAt, leaving solved clears it.
// On error t is unchanged. It reports whether anything changed.
func (p Patch) Apply(t *Ticket, actorID uint64, at time.Time) (bool, error) {
	if err := p.Validate(t); err != nil {
		return false, err
	}
	before := snapshot(t)
	if p.Subject != nil {
		t.Subject = strings.TrimSpace(*p.Subject)
	}
	if p.Priority != nil {
		t.Priority = *p.Priority
	}
	if p.AssigneeID != nil {
		t.AssigneeID = *p.AssigneeID
	}
	if p.Group != nil {
		t.Group = strings.TrimSpace(*p.Group)
	}
	if p.Tags != nil {
		tags, _ := NormalizeTags(*p.Tags)
		t.Tags = tags
	}
	if p.Status != nil {
		setStatus(t, *p.Status, at)
		if *p.Status == StatusSolved && t.AssigneeID == 0 {
			t.AssigneeID = actorID
		}
	}
	changed := !snapshot(t).equal(before)
	if changed {
		t.UpdatedAt = at
	}
	return changed, nil
}

type ticketState struct {
	subject, group string
	status         Status
	priority       Priority
	assignee       uint64
	tags           string
}

func snapshot(t *Ticket) ticketState {
	return ticketState{t.Subject, t.Group, t.Status, t.Priority, t.AssigneeID, strings.Join(t.Tags, "\x00")}
}

func (s ticketState) equal(o ticketState) bool { return s == o }

// setStatus changes the status and keeps SolvedAt in step.
func setStatus(t *Ticket, s Status, at time.Time) {
	if s == t.Status {
		return
	}
	if s == StatusSolved {
		t.SolvedAt = at
	} else if s != StatusClosed {
		t.SolvedAt = time.Time{}
	}
	t.Status = s
}

// ApplyRequesterMessage applies a new message from the requester (or any
// end user) on the ticket: pending, hold and solved go back to open; new and
// open stay as they are. A closed ticket returns ErrClosed (the caller opens
// a follow-up instead, see NewFollowUp).
func ApplyRequesterMessage(t *Ticket, at time.Time) (bool, error) {
	if t.Status == StatusClosed {
		return false, ErrClosed
	}
	changed := false
	switch t.Status {
	case StatusPending, StatusHold, StatusSolved:
		setStatus(t, StatusOpen, at)
		changed = true
	}
	t.UpdatedAt = at
	return changed, nil
}

// ApplyAgentComment applies a comment written by agent agentID. A public
// reply on a new ticket moves it to open unless the request names a status
// (status non-nil), in which case that status is applied with the patch
// rules (so solving unassigns nobody and assigns the agent). An internal note
// changes the status only when one is named.
func ApplyAgentComment(t *Ticket, agentID uint64, public bool, status *Status, at time.Time) (bool, error) {
	if t.Status == StatusClosed {
		return false, ErrClosed
	}
	if status != nil {
		changed, err := Patch{Status: status}.Apply(t, agentID, at)
		t.UpdatedAt = at
		return changed, err
	}
	t.UpdatedAt = at
	if public && t.Status == StatusNew {
		setStatus(t, StatusOpen, at)
		return true, nil
	}
	return false, nil
}

// CloseIfDue closes a solved ticket whose SolvedAt is at least after ago at
// now (the auto-close rule). It reports whether the ticket was closed.
func CloseIfDue(t *Ticket, after time.Duration, now time.Time) bool {
	if t.Status != StatusSolved || t.SolvedAt.IsZero() || now.Sub(t.SolvedAt) < after {
		return false
	}
	t.Status = StatusClosed
	t.UpdatedAt = now
	return true
}

// NewFollowUp returns the follow-up ticket for a new message in a closed
// ticket's conversation: same channel, brand, conversation, requester,
// group and tags, linked by FollowUpOf, via closed_ticket, status new. The
// caller assigns the id and sets the subject when the message has one.
func NewFollowUp(closed *Ticket, at time.Time) *Ticket {
	tags := append([]string(nil), closed.Tags...)
	if tags == nil {
		tags = []string{}
	}
	return &Ticket{
		Subject:         closed.Subject,
		Status:          StatusNew,
		Priority:        closed.Priority,
		Channel:         closed.Channel,
		Via:             ViaClosedTicket,
		Brand:           closed.Brand,
		RequesterID:     closed.RequesterID,
		Group:           closed.Group,
		Tags:            tags,
		FollowUpOf:      closed.ID,
		ConversationKey: closed.ConversationKey,
		CreatedAt:       at,
		UpdatedAt:       at,
	}
}

// deliveryRank orders receipt statuses; a receipt never moves a delivery
// backwards (read never returns to delivered).
func deliveryRank(s string) int {
	switch s {
	case DeliveryPending:
		return 0
	case DeliverySent:
		return 1
	case DeliveryDelivered:
		return 2
	case DeliveryRead:
		return 3
	}
	return -1
}

// ApplyReceipt applies a provider delivery receipt (sent, delivered, read,
// failed) to d. Out-of-order receipts that would move the status backwards
// are ignored; failed applies only while the message is not yet known to be
// delivered. It reports whether d changed; an unknown status is an error.
func ApplyReceipt(d *Delivery, status, errText string, at time.Time) (bool, error) {
	switch status {
	case DeliveryFailed:
		if d.Status == DeliveryFailed || deliveryRank(d.Status) >= deliveryRank(DeliveryDelivered) {
			return false, nil
		}
		d.Status = DeliveryFailed
		d.Error = errText
		d.UpdatedAt = at
		return true, nil
	case DeliverySent, DeliveryDelivered, DeliveryRead:
		if d.Status == DeliveryFailed && status == DeliverySent {
			return false, nil
		}
		if d.Status != DeliveryFailed && deliveryRank(status) <= deliveryRank(d.Status) {
			return false, nil
		}
		d.Status = status
		d.Error = ""
		d.UpdatedAt = at
		return true, nil
	}
	return false, fmt.Errorf("unknown delivery status %q", status)
}

// NormalizeIdentity returns the stored form of an identity value: email
// addresses are trimmed and lower-cased, WhatsApp and phone ids lose their
// leading "+" and any space around it, other values are trimmed. The
// result normalises to itself.
func NormalizeIdentity(typ, value string) Identity {
	typ = strings.ToLower(strings.TrimSpace(typ))
	value = strings.TrimSpace(value)
	switch typ {
	case "email":
		value = strings.ToLower(value)
	case "whatsapp", "phone", "sms":
		value = strings.TrimLeftFunc(value, func(r rune) bool { return r == '+' || unicode.IsSpace(r) })
	}
	return Identity{Type: typ, Value: value}
}

// SubjectFrom returns a ticket subject: the message subject when it has
// one, else the first non-empty line of the text, shortened to 150 bytes
// at a rune boundary; "(no subject)" when both are empty.
func SubjectFrom(subject, text string) string {
	s := strings.TrimSpace(subject)
	if s == "" {
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				s = line
				break
			}
		}
	}
	if s == "" {
		return "(no subject)"
	}
	const max = 150
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut]) + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
