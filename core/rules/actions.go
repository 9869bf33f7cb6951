package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Action fields.
const (
	ActStatus        = "status"
	ActPriority      = "priority"
	ActGroup         = "group"
	ActAssignee      = "assignee_id"
	ActBrand         = "brand"
	ActAddTags       = "add_tags"
	ActRemoveTags    = "remove_tags"
	ActSetTags       = "set_tags"
	ActInternalNote  = "internal_note"
	ActPublicReply   = "public_reply"
	ActNotifyWebhook = "notify_webhook"
)

// ActionFields lists every action field.
var actionFields = []string{ActStatus, ActPriority, ActGroup, ActAssignee, ActBrand,
	ActAddTags, ActRemoveTags, ActSetTags, ActInternalNote, ActPublicReply, ActNotifyWebhook}

// ActionFields returns the action field names.
func ActionFields() []string { return slices.Clone(actionFields) }

// Limits of action values.
const (
	maxTextAction = 64 << 10
	maxNameValue  = 255
)

type compiledAction struct {
	str    string
	id     uint64
	tags   []string
	status ticket.Status
	prio   ticket.Priority
}

// compileAction checks a and fills its compiled value. Whether a webhook or
// an assignee exists is checked by the engine, which can read the store.
func compileAction(a *Action, kind Kind, path string) error {
	vpath := path + ".value"
	var ca compiledAction
	switch a.Field {
	case ActStatus:
		s, _ := asString(a.Value)
		if !ticket.ValidStatus(ticket.Status(s)) || s == string(ticket.StatusNew) {
			return invalid(vpath, "must be one of open, pending, hold, solved, closed")
		}
		ca.status = ticket.Status(s)
	case ActPriority:
		s, ok := asString(a.Value)
		if !ok || !ticket.ValidPriority(ticket.Priority(s)) {
			return invalid(vpath, "must be one of low, normal, high, urgent, or \"\" (none)")
		}
		ca.prio = ticket.Priority(s)
	case ActGroup, ActBrand:
		s, ok := asString(a.Value)
		s = strings.TrimSpace(s)
		if !ok || len(s) > maxNameValue || strings.IndexByte(s, 0) >= 0 {
			return invalid(vpath, "must be a string of at most %d bytes (\"\" clears it)", maxNameValue)
		}
		ca.str = s
	case ActAssignee:
		id, ok := asID(a.Value)
		if !ok {
			return invalid(vpath, "must be an agent's user id (0 unassigns)")
		}
		ca.id = id
	case ActAddTags, ActRemoveTags, ActSetTags:
		if a.Field == ActSetTags {
			if s, ok := a.Value.(string); ok && strings.TrimSpace(s) == "" {
				ca.tags = []string{}
				break
			}
			if l, ok := a.Value.([]any); ok && len(l) == 0 {
				ca.tags = []string{}
				break
			}
		}
		tags, err := asTags(a.Value)
		if err != nil {
			return invalid(vpath, "%s", err.Error())
		}
		ca.tags = tags
	case ActInternalNote, ActPublicReply:
		s, ok := asString(a.Value)
		if !ok || strings.TrimSpace(s) == "" {
			return invalid(vpath, "must be a non-empty text")
		}
		if len(s) > maxTextAction || strings.IndexByte(s, 0) >= 0 {
			return invalid(vpath, "must be at most %d bytes without NUL", maxTextAction)
		}
		if bad := checkPlaceholders(s); bad != "" {
			return invalid(vpath, "unknown placeholder {{%s}}; known: %s", bad, strings.Join(placeholderNames, ", "))
		}
		ca.str = s
	case ActNotifyWebhook:
		if kind == KindMacro {
			return invalid(path+".field", "notify_webhook is not available in macros")
		}
		id, ok := asID(a.Value)
		if !ok || id == 0 {
			return invalid(vpath, "must be a webhook id")
		}
		ca.id = id
	default:
		return invalid(path+".field", "unknown action %q; one of %s", a.Field, strings.Join(actionFields, ", "))
	}
	a.a = ca
	return nil
}

// webhookCall is a notify_webhook action to enqueue.
type webhookCall struct {
	webhookID uint64
	kind      Kind
	ruleID    uint64
}

// changeSet accumulates the effect of actions on one ticket before they
// are written (or, for a macro preview, only shown).
type changeSet struct {
	t        *ticket.Ticket
	at       time.Time
	notes    []string
	replies  []string
	webhooks []webhookCall
}

// apply applies one compiled action to the change set. It returns an error
// for an action the ticket's state refuses (e.g. closing an open ticket);
// the caller skips that action and logs it.
func (a *Action) apply(cs *changeSet, kind Kind, ruleID uint64) error {
	t := cs.t
	ca := &a.a
	switch a.Field {
	case ActStatus:
		if t.Status == ca.status {
			return nil
		}
		st := ca.status
		if _, err := (ticket.Patch{Status: &st}).Apply(t, 0, cs.at); err != nil {
			return fmt.Errorf("set status %s on a %s ticket: %w", st, t.Status, err)
		}
	case ActPriority:
		t.Priority = ca.prio
	case ActGroup:
		t.Group = ca.str
	case ActBrand:
		t.Brand = ca.str
	case ActAssignee:
		t.AssigneeID = ca.id
	case ActAddTags:
		var add []string
		for _, tag := range ca.tags {
			if !slices.Contains(t.Tags, tag) && !slices.Contains(add, tag) {
				add = append(add, tag)
			}
		}
		if len(t.Tags)+len(add) > ticket.MaxTags {
			return fmt.Errorf("add %d tags to a ticket with %d: at most %d tags", len(add), len(t.Tags), ticket.MaxTags)
		}
		t.Tags = append(t.Tags, add...)
	case ActRemoveTags:
		t.Tags = slices.DeleteFunc(slices.Clone(t.Tags), func(tag string) bool { return slices.Contains(ca.tags, tag) })
	case ActSetTags:
		t.Tags = slices.Clone(ca.tags)
	case ActInternalNote:
		cs.notes = append(cs.notes, ca.str)
	case ActPublicReply:
		cs.replies = append(cs.replies, ca.str)
	case ActNotifyWebhook:
		cs.webhooks = append(cs.webhooks, webhookCall{webhookID: ca.id, kind: kind, ruleID: ruleID})
	}
	return nil
}

// ticketFields is the part of a ticket actions change.
type ticketFields struct {
	status   ticket.Status
	priority ticket.Priority
	group    string
	brand    string
	assignee uint64
	tags     string
	solvedAt time.Time
}

func fieldsOf(t *ticket.Ticket) ticketFields {
	return ticketFields{t.Status, t.Priority, t.Group, t.Brand, t.AssigneeID, strings.Join(t.Tags, "\x00"), t.SolvedAt}
}
