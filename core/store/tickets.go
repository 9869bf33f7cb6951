package store

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
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
	// Tags, priority, group and via are indexed when they can be a key
	// part (no NUL byte: the API refuses those, but older records or rule
	// values may hold one; such a value is not listable by that filter).
	for i, tag := range t.Tags {
		if keyable(tag) && !slices.Contains(t.Tags[:i], tag) { // one entry per distinct tag
			ks = append(ks, key(pIxTag, strSep(tag), id))
		}
	}
	if t.Priority != "" && keyable(string(t.Priority)) {
		ks = append(ks, key(pIxPriority, strSep(string(t.Priority)), id))
	}
	if t.Group != "" && keyable(t.Group) {
		ks = append(ks, key(pIxGroup, strSep(t.Group), id))
	}
	if keyable(t.Via) {
		ks = append(ks, key(pIxVia, strSep(t.Via), id))
	}
	return append(ks, updatedKey(t.UpdatedAt, t.ID))
}

// keyable reports whether v can be a string part of an index key.
func keyable(v string) bool {
	return strings.IndexByte(v, 0) < 0 && utf8.ValidString(v)
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
	t.Version = 1
	if id == 1 {
		// A new store: its tickets are indexed in the current format
		// from the start (upgrade.go).
		tx.set(metaKey(ticketIndexMeta), u64(ticketIndexFormat))
	}
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
	tx.versioned = append(tx.versioned, id)
	return tx.AppendEvent(&Event{Type: EventTicketCreated, TicketID: id, Data: t})
}

// UpdateTicket stores a changed ticket, moving its index entries, and
// appends a ticket.updated event. It sets t.Version to the stored version
// plus one (the caller's Version is ignored). A ticket stored as closed is never
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
	t.Version = old.Version + 1
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
	tx.versioned = append(tx.versioned, t.ID)
	return tx.AppendEvent(&Event{Type: EventTicketUpdated, TicketID: t.ID, Data: t})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TicketFilter selects tickets for ListTickets and CountTickets. Zero
// fields do not filter; every given field must match.
type TicketFilter struct {
	Status      ticket.Status
	Channel     string
	RequesterID uint64
	AssigneeID  uint64
	// Tags lists tags the ticket must all carry.
	Tags     []string
	Priority ticket.Priority
	Group    string
	Via      string
	// UpdatedSince keeps tickets whose UpdatedAt is at or after it.
	UpdatedSince time.Time
	// ByUpdated lists by UpdatedAt, oldest change first (then by id), for
	// sync clients; the default lists newest ticket first by id.
	ByUpdated bool
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

// EncodeUpdatedCursor returns the opaque cursor that resumes a listing by
// update time (TicketFilter.ByUpdated) after the ticket updated at at with
// that id.
func EncodeUpdatedCursor(at time.Time, lastID uint64) string {
	return base64.RawURLEncoding.EncodeToString(append(append([]byte("u1"), u64(uint64(at.UnixNano()))...), u64(lastID)...))
}

func decodeCursor(c string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 10 || string(b[:2]) != "t1" || getU64(b[2:]) == 0 || EncodeCursor(getU64(b[2:])) != c {
		return 0, ErrBadCursor
	}
	return getU64(b[2:]), nil
}

// decodeUpdatedCursor returns the index key position an updated-order
// cursor stands for.
func decodeUpdatedCursor(c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 18 || string(b[:2]) != "u1" || getU64(b[10:]) == 0 || base64.RawURLEncoding.EncodeToString(b) != c {
		return nil, ErrBadCursor
	}
	return key(pIxUpdated, b[2:10], b[10:18]), nil
}

// ticketScan is a planned listing: one index driven in key order, the
// other filters checked by point lookups of their index entries.
type ticketScan struct {
	driver []byte   // prefix of the driving index
	from   []byte   // first key to read ("" = the start of driver)
	others [][]byte // prefixes of index entries the ticket must also have
	since  uint64   // UpdatedSince in unix ns (0: none) when not driving by it
	// byUpdated: driver is the update-time index (<ns><id> after the
	// prefix); otherwise an <inv id> index.
	byUpdated bool
}

// planScan picks the most selective index given (requester, assignee,
// tag, group, channel, priority, via, status, or all tickets) to drive
// the listing, or the update-time index when asked to sort by it.
func planScan(f TicketFilter) (*ticketScan, bool, error) {
	var conds [][]byte
	if f.RequesterID != 0 {
		conds = append(conds, key(pIxReq, u64(f.RequesterID)))
	}
	if f.AssigneeID != 0 {
		conds = append(conds, key(pIxAssignee, u64(f.AssigneeID)))
	}
	for _, tag := range f.Tags {
		conds = append(conds, key(pIxTag, strSep(tag)))
	}
	if f.Group != "" {
		conds = append(conds, key(pIxGroup, strSep(f.Group)))
	}
	if f.Channel != "" {
		conds = append(conds, key(pIxChannel, strSep(f.Channel)))
	}
	if f.Priority != "" {
		conds = append(conds, key(pIxPriority, strSep(string(f.Priority))))
	}
	if f.Via != "" {
		conds = append(conds, key(pIxVia, strSep(f.Via)))
	}
	if f.Status != "" {
		conds = append(conds, key(pIxStatus, strSep(string(f.Status))))
	}
	sc := &ticketScan{}
	if f.ByUpdated {
		sc.byUpdated = true
		sc.driver = []byte(pIxUpdated)
		sc.others = conds
		if !f.UpdatedSince.IsZero() {
			sc.from = key(pIxUpdated, u64(sinceNanos(f.UpdatedSince)))
		}
		if f.Cursor != "" {
			pos, err := decodeUpdatedCursor(f.Cursor)
			if err != nil {
				return nil, false, err
			}
			pos = append(pos, 0) // strictly after the cursor's ticket
			if bytes.Compare(pos, sc.from) > 0 {
				sc.from = pos
			}
		}
		return sc, true, nil
	}
	if len(conds) == 0 {
		conds = append(conds, []byte(pIxAll))
	}
	sc.driver, sc.others = conds[0], conds[1:]
	if !f.UpdatedSince.IsZero() {
		sc.since = sinceNanos(f.UpdatedSince)
	}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, false, err
		}
		if after == 1 {
			return nil, false, nil // nothing is older than ticket 1
		}
		sc.from = key(string(sc.driver), inv(after-1))
	}
	return sc, true, nil
}

// sinceNanos is t in unix ns for the update-time index, 0 before 1970.
func sinceNanos(t time.Time) uint64 {
	if t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixNano())
}

// run calls fn with each matching ticket id in listing order until fn
// returns false.
func (sc *ticketScan) run(r *ReadTx, fn func(id uint64, updatedNs uint64) (bool, error)) error {
	const page = 256
	from := sc.from
	for {
		pairs, err := r.r.scan(sc.driver, from, page, true)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			rest := p.Key[len(sc.driver):]
			var id, at uint64
			if sc.byUpdated {
				at, id = getU64(rest), getU64(rest[8:])
			} else {
				id = ^getU64(rest)
			}
			match := true
			for _, o := range sc.others {
				_, ok, err := r.r.get(key(string(o), inv(id)))
				if err != nil {
					return err
				}
				if !ok {
					match = false
					break
				}
			}
			if !match {
				continue
			}
			more, err := fn(id, at)
			if err != nil || !more {
				return err
			}
		}
		if len(pairs) < page {
			return nil
		}
		last := pairs[len(pairs)-1].Key
		from = append(append([]byte(nil), last...), 0)
	}
}

// ListTickets returns tickets matching every filter, newest first by id
// (or by update time, oldest change first, with ByUpdated), and the
// cursor of the next page ("" when this is the last page). It reads one
// index (the most selective filter given) and checks the other filters
// by point lookups of their index entries, so no ticket outside the
// result is decoded (except to check UpdatedSince when listing by id).
//
// A listing by update time is stable while tickets change: its cursor is
// a position in update-time order, so a ticket changed after it was
// listed moves past the cursor and is listed again on a later page;
// none is skipped.
func (r *ReadTx) ListTickets(f TicketFilter) ([]*ticket.Ticket, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	sc, ok, err := planScan(f)
	if err != nil || !ok {
		return []*ticket.Ticket{}, "", err
	}
	out := make([]*ticket.Ticket, 0, limit)
	var next string
	err = sc.run(r, func(id, _ uint64) (bool, error) {
		t, err := r.Ticket(id)
		if err != nil {
			return false, err
		}
		if sc.since != 0 && uint64(t.UpdatedAt.UnixNano()) < sc.since {
			return true, nil
		}
		if len(out) == limit {
			// One more match exists: there is a next page.
			last := out[len(out)-1]
			if sc.byUpdated {
				next = EncodeUpdatedCursor(last.UpdatedAt, last.ID)
			} else {
				next = EncodeCursor(last.ID)
			}
			return false, nil
		}
		out = append(out, t)
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// CountTickets returns how many tickets match every filter of f (its
// Limit, Cursor and ByUpdated are ignored). It reads index keys only,
// except to check UpdatedSince together with other filters.
func (r *ReadTx) CountTickets(f TicketFilter) (int, error) {
	f.Cursor, f.ByUpdated = "", !f.UpdatedSince.IsZero()
	sc, ok, err := planScan(f)
	if err != nil || !ok {
		return 0, err
	}
	n := 0
	err = sc.run(r, func(uint64, uint64) (bool, error) {
		n++
		return true, nil
	})
	return n, err
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
