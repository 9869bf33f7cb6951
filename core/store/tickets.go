package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Sequence names.
const (
	SeqTicket  = "ticket"
	SeqComment = "comment"
	SeqUser    = "user"
	SeqEvent   = "event"
	SeqToken   = "token"
)

// ErrBadCursor is returned by ListTickets for a cursor it did not issue.
var ErrBadCursor = errors.New("store: invalid cursor")

// checkName refuses strings that cannot be both a key part and a JSON
// value: a NUL byte (the key separator) or invalid UTF-8 (JSON would
// rewrite it, and the object would no longer match its index key).
func checkName(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("store: %s contains a NUL byte: %w", field, ErrInvalid)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("store: %s is not valid UTF-8: %w", field, ErrInvalid)
	}
	return nil
}

// Ticket returns the ticket with that id, or ErrNotFound.
func (r *ReadTx) Ticket(id uint64) (*ticket.Ticket, error) {
	if c, ok := r.tickets[id]; ok {
		return cloneTicket(c), nil
	}
	t, shared, ok, err := getRecord(r, ticketKey(id), fixTicket, cloneTicket)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("ticket %d: %w", id, ErrNotFound)
	}
	if shared {
		if r.tickets != nil {
			r.tickets[id] = t
		}
		return cloneTicket(t), nil
	}
	if r.tickets != nil {
		r.tickets[id] = cloneTicket(t)
	}
	return t, nil
}

// fixTicket gives a decoded ticket the empty tag list the API shows.
func fixTicket(t *ticket.Ticket) {
	if t.Tags == nil {
		t.Tags = []string{}
	}
}

func cloneTicket(t *ticket.Ticket) *ticket.Ticket {
	c := *t
	c.Tags = append(make([]string, 0, len(t.Tags)), t.Tags...)
	if t.CCIDs != nil {
		c.CCIDs = append([]uint64(nil), t.CCIDs...)
	}
	return &c
}

// remember refreshes the transaction's decoded copy of a written ticket.
func (tx *Tx) remember(t *ticket.Ticket) {
	if tx.tickets != nil {
		tx.tickets[t.ID] = cloneTicket(t)
	}
}

// TicketByConversation returns the latest ticket of a channel conversation
// (possibly closed), or ErrNotFound.
func (r *ReadTx) TicketByConversation(instance, conversation string) (*ticket.Ticket, error) {
	v, ok, err := r.r.get(convKey(instance, conversation))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("conversation %s/%s: %w", instance, conversation, ErrNotFound)
	}
	return r.Ticket(getU64(v))
}

// indexKeys returns every secondary index key a ticket in this state must
// have (the conversation index is kept separately: it names the latest
// ticket of a conversation).
func indexKeys(t *ticket.Ticket) [][]byte {
	id := inv(t.ID)
	ks := [][]byte{
		key(pIxAll, id),
		key(pIxStatus, strSep(string(t.Status)), id),
		key(pIxChannel, strSep(t.Channel), id),
		key(pIxReq, u64(t.RequesterID), id),
	}
	if t.AssigneeID != 0 {
		ks = append(ks, key(pIxAssignee, u64(t.AssigneeID), id))
	}
	if t.Status == ticket.StatusSolved {
		ks = append(ks, solvedKey(t.SolvedAt, t.ID))
	}
	return ks
}

func validateTicket(t *ticket.Ticket) error {
	if !ticket.ValidStatus(t.Status) {
		return fmt.Errorf("store: ticket status %q: %w", t.Status, ErrInvalid)
	}
	if err := checkName("channel", t.Channel); err != nil {
		return err
	}
	return checkName("conversation key", t.ConversationKey)
}

// ErrInvalid is returned (wrapped) for a value the store refuses to keep.
var ErrInvalid = errors.New("invalid value")

// CreateTicket assigns the next ticket id, stores the ticket with its index
// entries, makes it the conversation's latest ticket when it has a channel
// and conversation key, and appends a ticket.created event. CreatedAt and
// UpdatedAt default to the transaction time.
func (tx *Tx) CreateTicket(t *ticket.Ticket) error {
	if err := validateTicket(t); err != nil {
		return err
	}
	id, err := tx.NextID(SeqTicket)
	if err != nil {
		return err
	}
	t.ID = id
	if t.CreatedAt.IsZero() {
		t.CreatedAt = tx.now
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	if t.Status == ticket.StatusSolved && t.SolvedAt.IsZero() {
		t.SolvedAt = t.UpdatedAt
	}
	if err := tx.setJSON(ticketKey(id), t); err != nil {
		return err
	}
	for _, k := range indexKeys(t) {
		tx.set(k, nil)
	}
	if t.Channel != "" && t.ConversationKey != "" {
		tx.set(convKey(t.Channel, t.ConversationKey), u64(id))
	}
	tx.remember(t)
	return tx.AppendEvent(&Event{Type: EventTicketCreated, TicketID: id, Data: t})
}

// UpdateTicket stores a changed ticket, moving its index entries, and
// appends a ticket.updated event. A ticket stored as closed is never
// changed again: ticket.ErrClosed. Channel, conversation key and requester
// may change (merge moves requesters); CreatedAt is kept.
func (tx *Tx) UpdateTicket(t *ticket.Ticket) error {
	if err := validateTicket(t); err != nil {
		return err
	}
	old, err := tx.Ticket(t.ID)
	if err != nil {
		return err
	}
	if old.Status == ticket.StatusClosed {
		return fmt.Errorf("ticket %d: %w", t.ID, ticket.ErrClosed)
	}
	t.CreatedAt = old.CreatedAt
	if t.UpdatedAt.IsZero() || !t.UpdatedAt.After(old.UpdatedAt) {
		t.UpdatedAt = maxTime(old.UpdatedAt, tx.now)
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	if t.Status == ticket.StatusSolved && t.SolvedAt.IsZero() {
		t.SolvedAt = t.UpdatedAt
	}
	want := make(map[string]bool)
	for _, k := range indexKeys(t) {
		want[string(k)] = true
	}
	for _, k := range indexKeys(old) {
		if want[string(k)] {
			delete(want, string(k)) // unchanged: no write
		} else {
			tx.del(k)
		}
	}
	for k := range want {
		tx.set([]byte(k), nil)
	}
	if old.Channel != t.Channel || old.ConversationKey != t.ConversationKey {
		if old.Channel != "" && old.ConversationKey != "" {
			if v, ok, err := tx.r.get(convKey(old.Channel, old.ConversationKey)); err == nil && ok && getU64(v) == t.ID {
				tx.del(convKey(old.Channel, old.ConversationKey))
			}
		}
		if t.Channel != "" && t.ConversationKey != "" {
			tx.set(convKey(t.Channel, t.ConversationKey), u64(t.ID))
		}
	}
	if err := tx.setJSON(ticketKey(t.ID), t); err != nil {
		return err
	}
	tx.remember(t)
	return tx.AppendEvent(&Event{Type: EventTicketUpdated, TicketID: t.ID, Data: t})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TicketFilter selects tickets for ListTickets. Zero fields do not filter.
type TicketFilter struct {
	Status      ticket.Status
	Channel     string
	RequesterID uint64
	AssigneeID  uint64
	// Limit is the page size (default 25, at most 100).
	Limit int
	// Cursor is the NextCursor of the previous page ("" for the first).
	Cursor string
}

// Listing limits.
const (
	DefaultLimit = 25
	MaxLimit     = 100
)

// EncodeCursor returns the opaque cursor that resumes a newest-first listing
// after the ticket id (exported for tests and other listings).
func EncodeCursor(lastID uint64) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte("t1"), u64(lastID)...))
}

func decodeCursor(c string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 10 || string(b[:2]) != "t1" || getU64(b[2:]) == 0 || EncodeCursor(getU64(b[2:])) != c {
		return 0, ErrBadCursor
	}
	return getU64(b[2:]), nil
}

// ListTickets returns tickets newest first (by id) matching every filter,
// and the cursor of the next page ("" when this is the last page). It reads
// one index (the most selective filter given: requester, assignee, channel,
// then status, or all tickets) and checks the other filters by point
// lookups of their index entries, so no ticket outside the result is
// decoded.
func (r *ReadTx) ListTickets(f TicketFilter) ([]*ticket.Ticket, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var after uint64
	if f.Cursor != "" {
		var err error
		if after, err = decodeCursor(f.Cursor); err != nil {
			return nil, "", err
		}
	}
	type cond struct{ prefix []byte }
	var conds []cond
	if f.RequesterID != 0 {
		conds = append(conds, cond{key(pIxReq, u64(f.RequesterID))})
	}
	if f.AssigneeID != 0 {
		conds = append(conds, cond{key(pIxAssignee, u64(f.AssigneeID))})
	}
	if f.Channel != "" {
		conds = append(conds, cond{key(pIxChannel, strSep(f.Channel))})
	}
	if f.Status != "" {
		conds = append(conds, cond{key(pIxStatus, strSep(string(f.Status)))})
	}
	if len(conds) == 0 {
		conds = append(conds, cond{[]byte(pIxAll)})
	}
	driver, others := conds[0], conds[1:]
	var from []byte
	if after != 0 {
		from = key(string(driver.prefix), inv(after-1))
		if after == 1 {
			return []*ticket.Ticket{}, "", nil
		}
	}
	out := make([]*ticket.Ticket, 0, limit)
	const page = 256
	for {
		pairs, err := r.r.scan(driver.prefix, from, page, true)
		if err != nil {
			return nil, "", err
		}
		for _, p := range pairs {
			id := ^getU64(p.Key[len(driver.prefix):])
			match := true
			for _, o := range others {
				_, ok, err := r.r.get(key(string(o.prefix), inv(id)))
				if err != nil {
					return nil, "", err
				}
				if !ok {
					match = false
					break
				}
			}
			if !match {
				continue
			}
			if len(out) == limit {
				// One more match exists: there is a next page.
				return out, EncodeCursor(out[len(out)-1].ID), nil
			}
			t, err := r.Ticket(id)
			if err != nil {
				return nil, "", err
			}
			out = append(out, t)
		}
		if len(pairs) < page {
			return out, "", nil
		}
		last := pairs[len(pairs)-1].Key
		from = append(append([]byte(nil), last...), 0)
	}
}

// SolvedBefore returns up to limit ids of solved tickets whose SolvedAt is
// before t, oldest first (the auto-close index).
func (r *ReadTx) SolvedBefore(t time.Time, limit int) ([]uint64, error) {
	pairs, err := r.r.scan([]byte(pIxSolved), nil, limit, true)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	cut := uint64(t.UnixNano())
	for _, p := range pairs {
		at := getU64(p.Key[len(pIxSolved):])
		if at >= cut {
			break
		}
		ids = append(ids, getU64(p.Key[len(pIxSolved)+8:]))
	}
	return ids, nil
}
