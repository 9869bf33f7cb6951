package rules

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// placeholderRE matches {{ name }}: only dotted lower-case names, so a
// placeholder is a lookup, never code.
var placeholderRE = regexp.MustCompile(`\{\{\s*([a-z_]+(?:\.[a-z_]+)*)\s*\}\}`)

// placeholderNames are the placeholders text actions may use.
var placeholderNames = []string{
	"ticket.id", "ticket.subject", "ticket.status", "ticket.priority", "ticket.group",
	"ticket.channel", "ticket.via", "ticket.brand", "ticket.tags",
	"requester.id", "requester.name", "requester.first_name", "requester.email",
	"assignee.id", "assignee.name", "assignee.email",
}

// Placeholders returns the placeholder names text actions accept.
func Placeholders() []string { return slices.Clone(placeholderNames) }

// checkPlaceholders returns the first unknown placeholder in text, or "".
func checkPlaceholders(text string) string {
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(placeholderNames, m[1]) {
			return m[1]
		}
	}
	return ""
}

// userLookup returns a user by id (nil when unknown).
type userLookup func(id uint64) *ticket.User

// render substitutes the placeholders of text with the ticket's values.
// Values are inserted verbatim, never re-expanded.
func render(text string, t *ticket.Ticket, users userLookup) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	var req, asg *ticket.User
	reqDone, asgDone := false, false
	requester := func() *ticket.User {
		if !reqDone {
			req, reqDone = users(t.RequesterID), true
		}
		return req
	}
	assignee := func() *ticket.User {
		if !asgDone && t.AssigneeID != 0 {
			asg = users(t.AssigneeID)
		}
		asgDone = true
		return asg
	}
	return placeholderRE.ReplaceAllStringFunc(text, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		switch name {
		case "ticket.id":
			return strconv.FormatUint(t.ID, 10)
		case "ticket.subject":
			return t.Subject
		case "ticket.status":
			return string(t.Status)
		case "ticket.priority":
			return string(t.Priority)
		case "ticket.group":
			return t.Group
		case "ticket.channel":
			return t.Channel
		case "ticket.via":
			return t.Via
		case "ticket.brand":
			return t.Brand
		case "ticket.tags":
			return strings.Join(t.Tags, " ")
		case "requester.id":
			return strconv.FormatUint(t.RequesterID, 10)
		case "requester.name", "requester.first_name", "requester.email":
			u := requester()
			if u == nil {
				return ""
			}
			switch name {
			case "requester.name":
				return u.Name
			case "requester.first_name":
				first, _, _ := strings.Cut(strings.TrimSpace(u.Name), " ")
				return first
			}
			return u.Email
		case "assignee.id":
			if t.AssigneeID == 0 {
				return ""
			}
			return strconv.FormatUint(t.AssigneeID, 10)
		case "assignee.name", "assignee.email":
			u := assignee()
			if u == nil {
				return ""
			}
			if name == "assignee.name" {
				return u.Name
			}
			return u.Email
		}
		return m
	})
}
