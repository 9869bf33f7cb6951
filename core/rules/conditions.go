package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Condition operators.
const (
	OpIs          = "is"
	OpIsNot       = "is_not"
	OpContains    = "contains"
	OpNotContains = "not_contains"
	OpIncludes    = "includes"     // tags: at least one of
	OpNotIncludes = "not_includes" // tags: none of
	OpLessThan    = "less_than"
	OpGreaterThan = "greater_than"
	// Change operators (triggers only) compare the ticket before and
	// after the update.
	OpChanged     = "changed"
	OpNotChanged  = "not_changed"
	OpChangedTo   = "changed_to"
	OpChangedFrom = "changed_from"
)

var changeOps = []string{OpChanged, OpNotChanged, OpChangedTo, OpChangedFrom}

// valueKind is how a field's value is written.
type valueKind int

const (
	vString   valueKind = iota
	vNumber             // hours (float)
	vID                 // a user id (0: none)
	vTags               // a list of tags or a space-separated string
	vStatus             // an ordered status
	vPriority           // an ordered priority
)

// fieldSpec describes one condition field.
type fieldSpec struct {
	kind        valueKind
	ops         []string
	triggerOnly bool
	// enum lists the accepted values of a string field (nil: any).
	enum []string
}

var (
	opsEq      = []string{OpIs, OpIsNot}
	opsOrdered = []string{OpIs, OpIsNot, OpLessThan, OpGreaterThan, OpChanged, OpNotChanged, OpChangedTo, OpChangedFrom}
	opsGroup   = []string{OpIs, OpIsNot, OpChanged, OpNotChanged, OpChangedTo, OpChangedFrom}
	opsText    = []string{OpIs, OpIsNot, OpContains, OpNotContains}
	opsHours   = []string{OpIs, OpLessThan, OpGreaterThan}
)

// conditionFields is the condition language: every field, its operators.
var conditionFields = map[string]fieldSpec{
	"status":       {kind: vStatus, ops: opsOrdered},
	"priority":     {kind: vPriority, ops: opsOrdered},
	"channel":      {kind: vString, ops: opsEq},
	"via":          {kind: vString, ops: opsEq},
	"brand":        {kind: vString, ops: opsEq},
	"group":        {kind: vString, ops: opsGroup},
	"assignee_id":  {kind: vID, ops: opsGroup},
	"requester_id": {kind: vID, ops: opsEq},
	"tags":         {kind: vTags, ops: []string{OpIncludes, OpNotIncludes}},
	"subject":      {kind: vString, ops: opsText},
	// comment is the text of the update's comments (triggers only).
	"comment": {kind: vString, ops: opsText, triggerOnly: true},
	// update_type is "created" or "updated" (triggers only).
	"update_type": {kind: vString, ops: opsEq, triggerOnly: true, enum: []string{"created", "updated"}},
	// update_via is who made the update: the plugin kind of an inbound
	// message ("email", "slack"…), "api", or "rule" (triggers only).
	"update_via": {kind: vString, ops: opsEq, triggerOnly: true},

	"hours_since_created":          {kind: vNumber, ops: opsHours},
	"hours_since_updated":          {kind: vNumber, ops: opsHours},
	"hours_since_requester_update": {kind: vNumber, ops: opsHours},
	"hours_since_new":              {kind: vNumber, ops: opsHours},
	"hours_since_open":             {kind: vNumber, ops: opsHours},
	"hours_since_pending":          {kind: vNumber, ops: opsHours},
	"hours_since_hold":             {kind: vNumber, ops: opsHours},
	"hours_since_solved":           {kind: vNumber, ops: opsHours},
}

// ConditionFields returns the names of every condition field, sorted.
func ConditionFields() []string {
	out := make([]string, 0, len(conditionFields))
	for f := range conditionFields {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// maxHours bounds hours values (100 years).
const maxHours = 876000

func isHours(field string) bool { return strings.HasPrefix(field, "hours_since_") }

// compiled is a condition's value, checked and normalised once.
type compiled struct {
	str   string
	num   float64
	id    uint64
	tags  []string
	rank  int
	ready bool
	// change marks a change operator (compared against the update's prev).
	change bool
}

var statusRank = map[ticket.Status]int{
	ticket.StatusNew: 1, ticket.StatusOpen: 2, ticket.StatusPending: 3,
	ticket.StatusHold: 4, ticket.StatusSolved: 5, ticket.StatusClosed: 6,
}

var priorityRank = map[ticket.Priority]int{
	"": 0, ticket.PriorityLow: 1, ticket.PriorityNormal: 2, ticket.PriorityHigh: 3, ticket.PriorityUrgent: 4,
}

// asString accepts a JSON string.
func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// asNumber accepts a JSON number (float64 or json.Number) or a numeric
// string.
func asNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case int:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

func asID(v any) (uint64, bool) {
	f, ok := asNumber(v)
	if !ok || f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return 0, false
	}
	return uint64(f), true
}

// asTags accepts a list of strings or one space-separated string.
func asTags(v any) ([]string, error) {
	var raw []string
	switch x := v.(type) {
	case string:
		raw = strings.Fields(x)
	case []string:
		raw = x
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("must be a list of tags (strings)")
			}
			raw = append(raw, s)
		}
	default:
		return nil, fmt.Errorf("must be a list of tags or a space-separated string")
	}
	tags, err := ticket.NormalizeTags(raw)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, fmt.Errorf("must name at least one tag")
	}
	return tags, nil
}

// compileCondition checks c for a rule of kind and fills its compiled value.
// path is the JSON path of the condition, for errors.
func compileCondition(c *Condition, kind Kind, path string) error {
	spec, ok := conditionFields[c.Field]
	if !ok {
		return invalid(path+".field", "unknown field %q; one of %s", c.Field, strings.Join(ConditionFields(), ", "))
	}
	if spec.triggerOnly && kind != KindTrigger {
		return invalid(path+".field", "%s is only available in triggers", c.Field)
	}
	if !slices.Contains(spec.ops, c.Operator) {
		return invalid(path+".operator", "%q is not an operator of %s; one of %s", c.Operator, c.Field, strings.Join(spec.ops, ", "))
	}
	if slices.Contains(changeOps, c.Operator) && kind != KindTrigger {
		return invalid(path+".operator", "%s is only available in triggers", c.Operator)
	}
	vpath := path + ".value"
	cv := compiled{change: slices.Contains(changeOps, c.Operator)}
	if c.Operator == OpChanged || c.Operator == OpNotChanged {
		if c.Value != nil {
			return invalid(vpath, "must be omitted (or null) with %s", c.Operator)
		}
		cv.ready = true
		c.c = cv
		return nil
	}
	switch spec.kind {
	case vString:
		s, ok := asString(c.Value)
		if !ok {
			return invalid(vpath, "must be a string")
		}
		if strings.IndexByte(s, 0) >= 0 || len(s) > 1000 {
			return invalid(vpath, "must be at most 1000 bytes without NUL")
		}
		if (c.Operator == OpContains || c.Operator == OpNotContains) && strings.TrimSpace(s) == "" {
			return invalid(vpath, "must not be empty")
		}
		if spec.enum != nil && !slices.Contains(spec.enum, s) {
			return invalid(vpath, "must be one of %s", strings.Join(spec.enum, ", "))
		}
		cv.str = strings.ToLower(strings.TrimSpace(s))
	case vNumber:
		f, ok := asNumber(c.Value)
		if !ok || f < 0 || f > maxHours {
			return invalid(vpath, "must be a number of hours from 0 to %d", maxHours)
		}
		cv.num = f
	case vID:
		id, ok := asID(c.Value)
		if !ok {
			return invalid(vpath, "must be a user id (0: none)")
		}
		cv.id = id
	case vTags:
		tags, err := asTags(c.Value)
		if err != nil {
			return invalid(vpath, "%s", err.Error())
		}
		cv.tags = tags
	case vStatus:
		s, _ := asString(c.Value)
		r, ok := statusRank[ticket.Status(s)]
		if !ok {
			return invalid(vpath, "must be one of new, open, pending, hold, solved, closed")
		}
		cv.str, cv.rank = s, r
	case vPriority:
		s, isStr := asString(c.Value)
		r, ok := priorityRank[ticket.Priority(s)]
		if !ok || !isStr {
			return invalid(vpath, "must be one of low, normal, high, urgent, or \"\" (none)")
		}
		cv.str, cv.rank = s, r
	}
	cv.ready = true
	c.c = cv
	return nil
}

// subject is what conditions are evaluated against.
type subject struct {
	t   *ticket.Ticket
	now time.Time
	// statusSince is when the ticket last entered each status (may be nil).
	statusSince map[ticket.Status]time.Time
	// update describes the triggering update (triggers only).
	update *update
	subj   []string // lower-cased subject, see lowerSubject
}

// update is one ticket create/update as seen by triggers.
type update struct {
	created  bool
	via      string
	comments []string // bodies of the comments of the update
	// prev is the ticket's fields before the update (nil: unknown, so
	// nothing counts as changed).
	prev *fieldSnap
	// after is the ticket's fields as the update left them (nil: the
	// ticket as it is now). When the follower reads a backlog, the ticket
	// may have changed since; change operators compare prev with after,
	// plus what the trigger cycle itself changed (see base).
	after *fieldSnap
	// base is the ticket's fields when the trigger cycle began: a field
	// of the subject ticket that differs from base was changed by a
	// trigger of this cycle, which counts as a change of the update.
	base  fieldSnap
	lower []string // lower-cased comments, see lowerComments
}

// snapOf returns the fields of t that change operators look at.
func snapOf(t *ticket.Ticket) fieldSnap {
	return fieldSnap{Status: t.Status, Priority: t.Priority, Group: t.Group, AssigneeID: t.AssigneeID}
}

// afterFields is what the update (and the trigger cycle so far) made of
// the fields change operators look at.
func (u *update) afterFields(t *ticket.Ticket) fieldSnap {
	now := snapOf(t)
	if u.after == nil {
		return now
	}
	out := *u.after
	if now.Status != u.base.Status {
		out.Status = now.Status
	}
	if now.Priority != u.base.Priority {
		out.Priority = now.Priority
	}
	if now.Group != u.base.Group {
		out.Group = now.Group
	}
	if now.AssigneeID != u.base.AssigneeID {
		out.AssigneeID = now.AssigneeID
	}
	return out
}

func (s *subject) hoursSince(field string) (float64, bool) {
	var at time.Time
	switch field {
	case "hours_since_created":
		at = s.t.CreatedAt
	case "hours_since_updated":
		at = s.t.UpdatedAt
	case "hours_since_requester_update":
		at = s.t.LastInboundAt
	default:
		st := ticket.Status(strings.TrimPrefix(field, "hours_since_"))
		at = s.statusSince[st]
		if at.IsZero() {
			switch {
			case st == ticket.StatusSolved && !s.t.SolvedAt.IsZero():
				at = s.t.SolvedAt
			case st == s.t.Status:
				// Entered before the engine tracked it: the last update is
				// the latest it can have happened.
				at = s.t.UpdatedAt
			}
		}
	}
	if at.IsZero() {
		return 0, false
	}
	return s.now.Sub(at).Hours(), true
}

// matchChange evaluates a change operator: the field's value before the
// update (prev) against now.
func (c *Condition) matchChange(s *subject) bool {
	if s.update == nil || s.update.prev == nil {
		return false
	}
	p, t := s.update.prev, s.update.afterFields(s.t)
	var before, after, want string
	switch c.Field {
	case "status":
		before, after, want = string(p.Status), string(t.Status), c.c.str
	case "priority":
		before, after, want = string(p.Priority), string(t.Priority), c.c.str
	case "group":
		before, after, want = strings.ToLower(p.Group), strings.ToLower(t.Group), c.c.str
	case "assignee_id":
		before, after, want = strconv.FormatUint(p.AssigneeID, 10), strconv.FormatUint(t.AssigneeID, 10), strconv.FormatUint(c.c.id, 10)
	default:
		return false
	}
	switch c.Operator {
	case OpChanged:
		return before != after
	case OpNotChanged:
		return before == after
	case OpChangedTo:
		return before != after && after == want
	case OpChangedFrom:
		return before != after && before == want
	}
	return false
}

// match evaluates one compiled condition.
func (c *Condition) match(s *subject) bool {
	cv := &c.c
	t := s.t
	if cv.change {
		return c.matchChange(s)
	}
	switch c.Field {
	case "status":
		return compareRank(c.Operator, statusRank[t.Status], cv.rank)
	case "priority":
		return compareRank(c.Operator, priorityRank[t.Priority], cv.rank)
	case "channel":
		return eqOp(c.Operator, strings.EqualFold(t.Channel, cv.str))
	case "via":
		return eqOp(c.Operator, strings.EqualFold(t.Via, cv.str))
	case "brand":
		return eqOp(c.Operator, strings.EqualFold(t.Brand, cv.str))
	case "group":
		return eqOp(c.Operator, strings.EqualFold(t.Group, cv.str))
	case "assignee_id":
		return eqOp(c.Operator, t.AssigneeID == cv.id)
	case "requester_id":
		return eqOp(c.Operator, t.RequesterID == cv.id)
	case "tags":
		has := false
		for _, want := range cv.tags {
			if slices.Contains(t.Tags, want) {
				has = true
				break
			}
		}
		if c.Operator == OpIncludes {
			return has
		}
		return !has
	case "subject":
		return textOp(c.Operator, s.lowerSubject(), cv.str)
	case "comment":
		if s.update == nil {
			return false
		}
		return textOp(c.Operator, s.update.lowerComments(), cv.str)
	case "update_type":
		if s.update == nil {
			return false
		}
		v := "updated"
		if s.update.created {
			v = "created"
		}
		return eqOp(c.Operator, v == cv.str)
	case "update_via":
		if s.update == nil {
			return false
		}
		return eqOp(c.Operator, strings.EqualFold(s.update.via, cv.str))
	}
	if isHours(c.Field) {
		h, ok := s.hoursSince(c.Field)
		if !ok {
			return false
		}
		switch c.Operator {
		case OpLessThan:
			return h < cv.num
		case OpGreaterThan:
			return h > cv.num
		case OpIs:
			return math.Floor(h) == cv.num
		}
	}
	return false
}

func eqOp(op string, eq bool) bool {
	if op == OpIsNot {
		return !eq
	}
	return eq
}

func compareRank(op string, have, want int) bool {
	switch op {
	case OpIs:
		return have == want
	case OpIsNot:
		return have != want
	case OpLessThan:
		return have < want
	case OpGreaterThan:
		return have > want
	}
	return false
}

// lowerSubject returns the ticket's subject lower-cased, computed once per
// evaluation (actions do not change the subject).
func (s *subject) lowerSubject() []string {
	if s.subj == nil {
		s.subj = []string{strings.ToLower(s.t.Subject)}
	}
	return s.subj
}

// lowerComments returns the update's comments lower-cased, computed once.
func (u *update) lowerComments() []string {
	if u.lower == nil {
		u.lower = make([]string, len(u.comments))
		for i, c := range u.comments {
			u.lower[i] = strings.ToLower(c)
		}
	}
	return u.lower
}

// textOp compares lower-cased texts: is/is_not against the whole (trimmed)
// text, contains/not_contains as a substring of any text.
func textOp(op string, texts []string, want string) bool {
	found := false
	for _, lt := range texts {
		switch op {
		case OpIs, OpIsNot:
			found = found || strings.TrimSpace(lt) == want
		default:
			found = found || strings.Contains(lt, want)
		}
	}
	if op == OpIsNot || op == OpNotContains {
		return !found
	}
	return found
}

// compileConditions checks and compiles a condition set.
func compileConditions(cs *Conditions, kind Kind) error {
	for i := range cs.All {
		if err := compileCondition(&cs.All[i], kind, fmt.Sprintf("conditions.all[%d]", i)); err != nil {
			return err
		}
	}
	for i := range cs.Any {
		if err := compileCondition(&cs.Any[i], kind, fmt.Sprintf("conditions.any[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// Match reports whether the compiled conditions match s.
func (cs *Conditions) match(s *subject) bool {
	if cs == nil {
		return true
	}
	for i := range cs.All {
		if !cs.All[i].match(s) {
			return false
		}
	}
	if len(cs.Any) == 0 {
		return true
	}
	for i := range cs.Any {
		if cs.Any[i].match(s) {
			return true
		}
	}
	return false
}
