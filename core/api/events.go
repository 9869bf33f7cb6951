package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// eventBatch is how many events one read of the durable log returns.
const eventBatch = 256

// streamedEvent reports whether an event type is shown on the public
// stream. Only ticket, comment, delivery and user changes are: other
// internal events (should the store add any) never reach clients.
func streamedEvent(typ string) bool {
	for _, p := range []string{"ticket.", "comment.", "delivery.", "user."} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// eventTypes returns the event types a client may ask for with ?types=.
func eventTypes() []string {
	return []string{
		store.EventTicketCreated, store.EventTicketUpdated,
		store.EventCommentCreated, store.EventCommentUpdated, store.EventDeliveryUpdated,
		store.EventUserCreated, store.EventUserUpdated, store.EventUserMerged,
		EventPresenceUpdated,
	}
}

// parseTypes reads the optional types filter, a comma-separated list of
// event types; nil means every type.
func parseTypes(v string) (map[string]bool, error) {
	if v == "" {
		return nil, nil
	}
	known := eventTypes()
	want := map[string]bool{}
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(known, t) {
			return nil, invalidField("types", "unknown event type %q; known: %s", t, strings.Join(known, ", "))
		}
		want[t] = true
	}
	return want, nil
}

// resumePoint returns the sequence number after which the stream starts:
// Last-Event-ID, else the after query parameter, else the end of the log.
// A resume point whose following events were already trimmed from the log
// (older than the store's event retention) is 410 Gone: the client missed
// changes and must reload what it needs through the API, then reconnect
// without Last-Event-ID. 0 replays what the log still holds.
func (s *Server) resumePoint(r *http.Request) (uint64, error) {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, invalidField("Last-Event-ID", "must be the id of an event received earlier (a non-negative integer)")
		}
		return n, s.checkRetained("Last-Event-ID", n)
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, invalidField("after", "must be a non-negative integer event id")
		}
		return n, s.checkRetained("after", n)
	}
	var last uint64
	err := s.store.View(func(tx *store.ReadTx) error {
		var err error
		last, err = tx.LastID(store.SeqEvent)
		return err
	})
	if err != nil {
		return 0, unavailable(err)
	}
	return last, nil
}

// events serves GET /api/v1/events: the durable event log as server-sent
// events. Each event's id is its sequence number, so a client that
// reconnects with Last-Event-ID misses nothing and sees nothing twice. The
// handler reads the log, then waits for the store's next commit (or sends
// a heartbeat comment) and reads again.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "after", "types")
	if err != nil {
		return err
	}
	want, err := parseTypes(q.Get("types"))
	if err != nil {
		return err
	}
	after, err := s.resumePoint(r)
	if err != nil {
		return err
	}
	// Presence changes are not in the durable log: they come from memory,
	// without an id (a reconnecting client's Last-Event-ID is unaffected).
	// Subscribed before the stream says it is connected.
	var presenceCh <-chan []byte
	if presenceWanted(want) {
		ch, cancel := s.presence.subscribe()
		defer cancel()
		presenceCh = ch
	}
	rc := http.NewResponseController(w)
	// The server's WriteTimeout would cut the stream: lift it.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()
	if _, err := fmt.Fprint(w, "retry: 2000\n: connected\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	ctx := r.Context()
	var buf []byte
	for {
		evs, wake, err := s.hub.next(after, eventBatch)
		if err != nil {
			// The header is sent: end the stream; the client resumes.
			s.log.Warn("event stream ended: reading the event log failed", "error", err)
			return nil
		}
		if len(evs) > 0 {
			buf = buf[:0]
			for _, ev := range evs {
				after = ev.Seq
				if !streamedEvent(ev.Type) || (want != nil && !want[ev.Type]) {
					continue
				}
				data, err := json.Marshal(ev)
				if err != nil {
					s.log.Error("encoding an event failed", "seq", ev.Seq, "error", err)
					continue
				}
				buf = fmt.Appendf(buf, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data)
			}
			if len(buf) > 0 {
				if _, err := w.Write(buf); err != nil {
					return nil
				}
				if err := rc.Flush(); err != nil {
					return nil
				}
			}
			continue // read on until there is nothing new
		}
		select {
		case <-wake:
		case data := <-presenceCh:
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", EventPresenceUpdated, data); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		}
	}
}

// checkRetained answers 410 when events after seq after were trimmed from
// the log, and 422 for an id the log never issued. Event sequence numbers have no gaps, so the log still holds
// every event after after exactly when after >= (first kept seq) - 1; an
// empty log holds none of the events up to the last issued one.
func (s *Server) checkRetained(field string, after uint64) error {
	if after == 0 {
		return nil
	}
	var first, last uint64
	err := s.store.View(func(tx *store.ReadTx) error {
		var err error
		if first, err = tx.FirstEventSeq(); err != nil {
			return err
		}
		last, err = tx.LastID(store.SeqEvent)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	if after > last {
		// Not an id of this log (a client of another server, or of this
		// one before a restore): it would silently skip new events.
		return invalidField(field, "is after the end of the event log (%d); reconnect without it", last)
	}
	trimmed := last
	if first > 0 {
		trimmed = first - 1
	}
	if after < trimmed {
		return &Error{Status: http.StatusGone, Code: CodeEventsExpired, Field: field,
			Message: fmt.Sprintf("events up to %d are past the log's retention; reload what you need through the API and reconnect without Last-Event-ID", trimmed)}
	}
	return nil
}
