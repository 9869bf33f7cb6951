package search

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// MaxQueryLength bounds the q parameter (bytes); MaxQueryTerms bounds its
// number of terms. Both keep one request's work small.
const (
	MaxQueryLength = 1024
	MaxQueryTerms  = 32
)

// QueryError is a query the parser refuses: Term is the offending term as
// written (empty when the query as a whole is wrong).
type QueryError struct {
	Term    string
	Message string
}

// Error implements error.
func (e *QueryError) Error() string {
	if e.Term == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", strconv.Quote(e.Term), e.Message)
}

func queryErr(term, format string, args ...any) *QueryError {
	return &QueryError{Term: term, Message: fmt.Sprintf(format, args...)}
}

// Op is the comparison of a field term.
type Op string

// The comparisons of field terms.
const (
	OpEq Op = ":"
	OpLT Op = "<"
	OpLE Op = "<="
	OpGT Op = ">"
	OpGE Op = ">="
)

// Text is a word or a quoted phrase of the query.
type Text struct {
	Value  string
	Phrase bool
	// Prefix: the word ended in '*' (value without it).
	Prefix bool
	Negate bool
	// Raw is the term as written.
	Raw string
}

// Filter is a field term such as status<solved or tag:vip.
type Filter struct {
	Field string
	Op    Op
	// Value is the value as written (unquoted).
	Value  string
	Negate bool
	// Raw is the term as written.
	Raw string
	// Values is the set of keyword values it matches (status, priority,
	// tag, channel, via, group, assignee/requester ids), resolved at
	// parse time when they need no lookup.
	Values []string
	// From and To bound a date term (zero: open); To is exclusive.
	From, To time.Time
	// Who is "me", "none", an id or an email for assignee and requester.
	Who string
}

// Query is a parsed search query.
type Query struct {
	Texts   []Text
	Filters []Filter
}

// Fields lists the field names of field terms, for messages and docs.
var Fields = []string{"status", "priority", "tag", "channel", "via", "assignee", "requester", "group", "created", "updated"}

// absent is the keyword a document holds for an unset channel, group,
// priority or assignee, so that "none" can be searched. No real value
// starts with a NUL byte (the API refuses them).
const absent = "\x00"

// statusOrder is the lifecycle order status< and status> compare by.
var statusOrder = []ticket.Status{ticket.StatusNew, ticket.StatusOpen, ticket.StatusPending, ticket.StatusHold, ticket.StatusSolved, ticket.StatusClosed}

// priorityOrder is the order priority< and priority> compare by.
var priorityOrder = []ticket.Priority{ticket.PriorityLow, ticket.PriorityNormal, ticket.PriorityHigh, ticket.PriorityUrgent}

// Parse reads a query in Patchbay's search syntax (docs/api.md): words
// (all must match), "quoted phrases", word* prefixes, field terms
// (field:value, field<value, field>value, field<=value, field>=value) and a
// leading '-' to exclude. now anchors relative dates such as updated<7d.
// Every error is a *QueryError naming the term.
func Parse(q string, now time.Time) (*Query, error) {
	if !utf8.ValidString(q) {
		return nil, queryErr("", "must be valid UTF-8")
	}
	if strings.IndexByte(q, 0) >= 0 {
		return nil, queryErr("", "must not contain NUL bytes")
	}
	if len(q) > MaxQueryLength {
		return nil, queryErr("", "must be at most %d bytes", MaxQueryLength)
	}
	out := &Query{}
	rest := q
	n := 0
	for {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		if n++; n > MaxQueryTerms {
			return nil, queryErr("", "must have at most %d terms", MaxQueryTerms)
		}
		raw, r, err := cutTerm(rest)
		if err != nil {
			return nil, err
		}
		rest = r
		if err := out.add(raw, now); err != nil {
			return nil, err
		}
	}
	if len(out.Texts) == 0 && len(out.Filters) == 0 {
		return nil, queryErr("", "must contain a word, a \"phrase\" or a field term such as status:open")
	}
	return out, nil
}

// cutTerm splits the first term off s (s starts with a non-space). A term
// runs to the next space outside double quotes.
func cutTerm(s string) (term, rest string, err error) {
	inQuote := false
	for i, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && unicode.IsSpace(r):
			return s[:i], s[i:], nil
		}
	}
	if inQuote {
		return "", "", queryErr(s, "has an unterminated quote")
	}
	return s, "", nil
}

// add parses one term.
func (q *Query) add(raw string, now time.Time) error {
	t := raw
	negate := false
	if len(t) > 1 && t[0] == '-' {
		negate, t = true, t[1:]
	}
	// A field term: a name of letters and '_' before the operator.
	if name, op, value, ok := splitField(t); ok {
		f, err := parseFilter(raw, name, op, value, now)
		if err != nil {
			return err
		}
		f.Negate = negate
		q.Filters = append(q.Filters, f)
		return nil
	}
	if strings.HasPrefix(t, `"`) {
		if !strings.HasSuffix(t, `"`) || len(t) < 2 || strings.Count(t, `"`) != 2 {
			return queryErr(raw, "a phrase must be one \"quoted text\" term")
		}
		v := strings.TrimSpace(t[1 : len(t)-1])
		if !hasWord(v) {
			return queryErr(raw, "the phrase has no words")
		}
		q.Texts = append(q.Texts, Text{Value: v, Phrase: true, Negate: negate, Raw: raw})
		return nil
	}
	if strings.Contains(t, `"`) {
		return queryErr(raw, "quotes must enclose a whole term: \"a phrase\" or field:\"a value\"")
	}
	prefix := false
	if strings.HasSuffix(t, "*") {
		t = strings.TrimSuffix(t, "*")
		if utf8.RuneCountInString(t) < 2 || strings.Contains(t, "*") {
			return queryErr(raw, "a prefix search needs at least two characters before the '*'")
		}
		prefix = true
	} else if strings.Contains(t, "*") {
		return queryErr(raw, "'*' is only allowed at the end of a word")
	}
	if !hasWord(t) {
		if negate || prefix {
			return queryErr(raw, "has no words")
		}
		return nil // punctuation alone (such as "-" or "&") matches everything: skip it
	}
	q.Texts = append(q.Texts, Text{Value: t, Prefix: prefix, Negate: negate, Raw: raw})
	return nil
}

func hasWord(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			return true
		}
	}
	return false
}

// splitField recognises name:value, name<value, name>value, name<=value and
// name>=value where name is made of ASCII letters and '_'.
func splitField(t string) (name string, op Op, value string, ok bool) {
	i := 0
	for i < len(t) && (t[i] >= 'a' && t[i] <= 'z' || t[i] >= 'A' && t[i] <= 'Z' || t[i] == '_') {
		i++
	}
	if i == 0 || i == len(t) {
		return "", "", "", false
	}
	switch {
	case strings.HasPrefix(t[i:], "<="):
		op = OpLE
	case strings.HasPrefix(t[i:], ">="):
		op = OpGE
	case t[i] == ':':
		op = OpEq
	case t[i] == '<':
		op = OpLT
	case t[i] == '>':
		op = OpGT
	default:
		return "", "", "", false
	}
	return strings.ToLower(t[:i]), op, t[i+len(op):], true
}

// parseFilter checks one field term and resolves its value.
func parseFilter(raw, name string, op Op, value string, now time.Time) (Filter, error) {
	if strings.HasPrefix(value, `"`) {
		if len(value) < 2 || !strings.HasSuffix(value, `"`) || strings.Count(value, `"`) != 2 {
			return Filter{}, queryErr(raw, "a quoted value must be one \"quoted text\"")
		}
		value = value[1 : len(value)-1]
	} else if strings.Contains(value, `"`) {
		return Filter{}, queryErr(raw, "quotes must enclose the whole value: %s:\"a value\"", name)
	}
	value = strings.TrimSpace(value)
	f := Filter{Field: name, Op: op, Value: value, Raw: raw}
	if value == "" {
		return f, queryErr(raw, "needs a value after %s", op)
	}
	eqOnly := func() error {
		if op != OpEq {
			return queryErr(raw, "%s only takes %s:value", name, name)
		}
		return nil
	}
	switch name {
	case "status":
		vals, err := ordered(raw, op, strings.ToLower(value), statusOrder, "new, open, pending, hold, solved, closed")
		if err != nil {
			return f, err
		}
		f.Values = vals
	case "priority":
		v := strings.ToLower(value)
		if v == "none" {
			if err := eqOnly(); err != nil {
				return f, err
			}
			f.Values = []string{absent}
			break
		}
		vals, err := ordered(raw, op, v, priorityOrder, "low, normal, high, urgent, none")
		if err != nil {
			return f, err
		}
		f.Values = vals
	case "tag", "tags":
		f.Field = "tag"
		if err := eqOnly(); err != nil {
			return f, err
		}
		tags, err := ticket.NormalizeTags([]string{value})
		if err != nil {
			return f, queryErr(raw, "%s", err.Error())
		}
		f.Values = tags
	case "channel", "via", "group":
		if err := eqOnly(); err != nil {
			return f, err
		}
		v := value
		if name == "group" || name == "via" {
			v = strings.ToLower(v)
		}
		if strings.EqualFold(value, "none") && name != "via" {
			v = absent
		}
		f.Values = []string{v}
	case "assignee", "requester":
		if err := eqOnly(); err != nil {
			return f, err
		}
		who := strings.ToLower(value)
		switch {
		case who == "me":
		case who == "none":
			if name == "requester" {
				return f, queryErr(raw, "every ticket has a requester: give me, a user id or an email address")
			}
		case strings.Contains(who, "@"):
		default:
			id, err := strconv.ParseUint(who, 10, 64)
			if err != nil || id == 0 {
				return f, queryErr(raw, "%s takes me, none, a user id or an email address", name)
			}
			who = strconv.FormatUint(id, 10)
		}
		f.Who = who
	case "created", "updated":
		from, to, err := dateRange(raw, name, op, value, now)
		if err != nil {
			return f, err
		}
		f.From, f.To = from, to
	default:
		return f, queryErr(raw, "unknown field %q; the fields are %s (put the term in quotes to search for it as text)", name, strings.Join(Fields, ", "))
	}
	return f, nil
}

// ordered resolves v with op against an ordered list of values.
func ordered[T ~string](raw string, op Op, v string, order []T, allowed string) ([]string, error) {
	at := -1
	for i, o := range order {
		if string(o) == v {
			at = i
		}
	}
	if at < 0 {
		return nil, queryErr(raw, "must be one of %s", allowed)
	}
	lo, hi := 0, len(order) // [lo, hi)
	switch op {
	case OpEq:
		lo, hi = at, at+1
	case OpLT:
		hi = at
	case OpLE:
		hi = at + 1
	case OpGT:
		lo = at + 1
	case OpGE:
		lo = at
	}
	if lo >= hi {
		return nil, queryErr(raw, "matches no value")
	}
	out := make([]string, 0, hi-lo)
	for _, o := range order[lo:hi] {
		out = append(out, string(o))
	}
	return out, nil
}

// dateRange resolves a created/updated term to [from, to): a calendar day
// (2026-12-01, UTC), an RFC 3339 instant or a time ago (30min, 4h, 7d, 2w).
func dateRange(raw, name string, op Op, v string, now time.Time) (from, to time.Time, err error) {
	if day, err := time.Parse(time.DateOnly, v); err == nil {
		next := day.AddDate(0, 0, 1)
		switch op {
		case OpEq:
			return day, next, nil
		case OpLT:
			return time.Time{}, day, nil
		case OpLE:
			return time.Time{}, next, nil
		case OpGT:
			return next, time.Time{}, nil
		default: // OpGE
			return day, time.Time{}, nil
		}
	}
	var at time.Time
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		at = t
	} else if d, ok := relative(v); ok {
		at = now.Add(-d)
	} else {
		return from, to, queryErr(raw, "takes a date (2026-12-01), an RFC 3339 time or a time ago such as 30min, 4h, 7d or 2w")
	}
	switch op {
	case OpEq:
		return from, to, queryErr(raw, "compare a time with < or > (for example %s<7d); ':' takes a date such as 2026-12-01", name)
	case OpLT, OpLE:
		if op == OpLE {
			at = at.Add(time.Nanosecond)
		}
		return time.Time{}, at, nil
	default:
		if op == OpGT {
			at = at.Add(time.Nanosecond)
		}
		return at, time.Time{}, nil
	}
}

// relative parses "30min", "4h", "7d", "2w" (and long unit names such as
// "7days") into a duration.
func relative(v string) (time.Duration, bool) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 || i > 6 {
		return 0, false
	}
	n, _ := strconv.Atoi(v[:i])
	var unit time.Duration
	switch strings.ToLower(v[i:]) {
	case "min", "mins", "minute", "minutes":
		unit = time.Minute
	case "h", "hour", "hours":
		unit = time.Hour
	case "d", "day", "days":
		unit = 24 * time.Hour
	case "w", "week", "weeks":
		unit = 7 * 24 * time.Hour
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}
