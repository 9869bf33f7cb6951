package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// DefaultPresenceTTL is how long a presence lasts unless renewed.
const DefaultPresenceTTL = 30 * time.Second

// EventPresenceUpdated is the event-stream type of presence changes. It is
// not part of the durable event log: it has no id, is never replayed, and
// a stream that falls behind may miss some (presence is advisory).
const EventPresenceUpdated = "presence.updated"

// Presence states. PresenceLeft is only reported (an agent left or their
// presence expired); clients send viewing or replying.
const (
	PresenceViewing  = "viewing"
	PresenceReplying = "replying"
	PresenceLeft     = "left"
)

// presenceSubBuffer is how many presence events wait for a slow stream
// before newer ones are dropped for it.
const presenceSubBuffer = 64

// PresenceEntry is one agent on one ticket.
type PresenceEntry struct {
	TicketID  uint64    `json:"ticket_id"`
	UserID    uint64    `json:"user_id"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at"`
}

// presenceEvent is a presence.updated event as the stream sends it: the
// shape of the durable log's events, without seq.
type presenceEvent struct {
	Type     string        `json:"type"`
	TicketID uint64        `json:"ticket_id"`
	UserID   uint64        `json:"user_id"`
	At       time.Time     `json:"at"`
	Data     PresenceEntry `json:"data"`
}

// presence is the in-memory table of who is viewing or replying to which
// ticket. Entries expire after ttl unless renewed; changes (a new state, a
// departure, an expiry) go to every subscribed event stream.
type presence struct {
	ttl  time.Duration
	now  func() time.Time
	done <-chan struct{}

	mu       sync.Mutex
	byTicket map[uint64]map[uint64]*PresenceEntry
	subs     map[chan []byte]struct{}
	sweeping bool
}

func newPresence(ttl time.Duration, now func() time.Time, done <-chan struct{}) *presence {
	return &presence{ttl: ttl, now: now, done: done,
		byTicket: map[uint64]map[uint64]*PresenceEntry{}, subs: map[chan []byte]struct{}{}}
}

// subscribe returns a channel of encoded presence events and its cancel.
func (p *presence) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, presenceSubBuffer)
	p.mu.Lock()
	p.subs[ch] = struct{}{}
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		delete(p.subs, ch)
		p.mu.Unlock()
	}
}

// publishLocked sends e to every subscriber without waiting (p.mu held).
func (p *presence) publishLocked(e PresenceEntry, at time.Time) {
	b, err := json.Marshal(presenceEvent{Type: EventPresenceUpdated, TicketID: e.TicketID, UserID: e.UserID, At: at, Data: e})
	if err != nil {
		return
	}
	for ch := range p.subs {
		select {
		case ch <- b:
		default: // a stream this far behind misses advisory events
		}
	}
}

// set records (or renews) a user's presence on a ticket and reports the
// change when the state is new.
func (p *presence) set(ticketID, userID uint64, name, state string) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	users := p.byTicket[ticketID]
	if users == nil {
		users = map[uint64]*PresenceEntry{}
		p.byTicket[ticketID] = users
	}
	e, ok := users[userID]
	changed := !ok || e.State != state
	if !ok {
		e = &PresenceEntry{TicketID: ticketID, UserID: userID}
		users[userID] = e
	}
	e.Name, e.State, e.ExpiresAt = name, state, now.Add(p.ttl)
	if changed {
		p.publishLocked(*e, now)
	}
	if !p.sweeping {
		p.sweeping = true
		go p.sweep()
	}
}

// leave removes a user's presence on a ticket, reporting it; it returns
// false when there was none.
func (p *presence) leave(ticketID, userID uint64) bool {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byTicket[ticketID][userID]
	if !ok {
		return false
	}
	p.removeLocked(e, now)
	return true
}

func (p *presence) removeLocked(e *PresenceEntry, now time.Time) {
	delete(p.byTicket[e.TicketID], e.UserID)
	if len(p.byTicket[e.TicketID]) == 0 {
		delete(p.byTicket, e.TicketID)
	}
	gone := *e
	gone.State, gone.ExpiresAt = PresenceLeft, now
	p.publishLocked(gone, now)
}

// list returns the current presences on a ticket, by user id.
func (p *presence) list(ticketID uint64) []PresenceEntry {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []PresenceEntry{}
	for _, e := range p.byTicket[ticketID] {
		if e.ExpiresAt.After(now) {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b PresenceEntry) int { return cmp.Compare(a.UserID, b.UserID) })
	return out
}

// sweep expires presences, checking a few times per ttl, until the server
// closes.
func (p *presence) sweep() {
	every := min(max(p.ttl/10, 10*time.Millisecond), time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		now := p.now()
		p.mu.Lock()
		for _, users := range p.byTicket {
			for _, e := range users {
				if !e.ExpiresAt.After(now) {
					p.removeLocked(e, now)
				}
			}
		}
		p.mu.Unlock()
	}
}

// presenceInput is the body of POST /api/v1/tickets/{id}/presence.
type presenceInput struct {
	State *string `json:"state"`
}

// presenceList is the answer of the presence routes.
type presenceList struct {
	TicketID uint64          `json:"ticket_id"`
	Presence []PresenceEntry `json:"presence"`
	// TTLSeconds is how long a presence lasts unless renewed.
	TTLSeconds int `json:"ttl_seconds"`
}

// presenceUser resolves the acting user and their name, and checks that
// the ticket exists. The admin token's user is created on first use (a
// write), agent tokens only read.
func (s *Server) presenceUser(r *http.Request, ticketID uint64) (uint64, string, error) {
	principal := principalFrom(r.Context())
	var userID uint64
	var name string
	find := func(tx *store.ReadTx) error {
		if _, err := tx.Ticket(ticketID); errors.Is(err, store.ErrNotFound) {
			return notFound("ticket %d not found", ticketID)
		} else if err != nil {
			return err
		}
		u, err := tx.User(userID)
		if err != nil {
			return err
		}
		name = u.Name
		return nil
	}
	if principal.UserID != 0 {
		userID = principal.UserID
		return userID, name, s.view(find)
	}
	err := s.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if userID, err = s.actorID(tx, principal); err != nil {
			return err
		}
		return find(&tx.ReadTx)
	})
	if err != nil {
		return 0, "", storeError(err)
	}
	return userID, name, nil
}

func (s *Server) answerPresence(w http.ResponseWriter, id uint64) {
	writeJSON(w, http.StatusOK, presenceList{TicketID: id, Presence: s.presence.list(id), TTLSeconds: int(s.presence.ttl / time.Second)})
}

func (s *Server) postPresence(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in presenceInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if in.State == nil || (*in.State != PresenceViewing && *in.State != PresenceReplying) {
		return invalidField("state", "must be viewing or replying")
	}
	userID, name, err := s.presenceUser(r, id)
	if err != nil {
		return err
	}
	s.presence.set(id, userID, name, *in.State)
	s.answerPresence(w, id)
	return nil
}

func (s *Server) getPresence(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	if err := s.view(func(tx *store.ReadTx) error {
		if _, err := tx.Ticket(id); errors.Is(err, store.ErrNotFound) {
			return notFound("ticket %d not found", id)
		} else if err != nil {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	s.answerPresence(w, id)
	return nil
}

func (s *Server) deletePresence(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	userID, _, err := s.presenceUser(r, id)
	if err != nil {
		return err
	}
	s.presence.leave(id, userID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// presenceWanted reports whether a stream filtered by want takes presence
// events.
func presenceWanted(want map[string]bool) bool { return want == nil || want[EventPresenceUpdated] }
