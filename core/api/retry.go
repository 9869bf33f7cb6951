package api

import (
	"errors"
	"net/http"

	"github.com/patchbayhq/patchbay/core/outbox"
	"github.com/patchbayhq/patchbay/core/store"
)

// retryBatch is how many failed replies one transaction of a bulk retry
// queues again.
const retryBatch = 1000

// maxBulkRetry bounds the replies one bulk retry request queues (call it
// again for more).
const maxBulkRetry = 100_000

// retryComment is POST /api/v1/tickets/{id}/comments/{comment_id}/retry:
// a failed public reply is queued again with a fresh attempt budget.
func (s *Server) retryComment(w http.ResponseWriter, r *http.Request) error {
	tid, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	cid, err := parseID(r, "comment_id", "comment")
	if err != nil {
		return err
	}
	principal := principalFrom(r.Context())
	return s.commit(w, r, nil, func(tx *store.Tx) (*result, error) {
		if _, err := tx.Ticket(tid); errors.Is(err, store.ErrNotFound) {
			return nil, notFound("ticket %d not found", tid)
		} else if err != nil {
			return nil, err
		}
		actor, err := s.actorID(tx, principal)
		if err != nil {
			return nil, err
		}
		tx.SetActor(actor)
		c, err := outbox.Retry(tx, tid, cid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, notFound("comment %d of ticket %d not found", cid, tid)
		case errors.Is(err, outbox.ErrNotFailed):
			return nil, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "only a reply whose delivery failed can be retried: " + retryState(err)}
		case err != nil:
			return nil, err
		}
		return &result{status: http.StatusOK, body: c}, nil
	})
}

// retryState is the reason of an ErrNotFailed, without the package prefix.
func retryState(err error) string {
	msg := err.Error()
	if i := len(outbox.ErrNotFailed.Error()) + 2; len(msg) > i {
		return msg[i:]
	}
	return "it has not failed"
}

// retryFailed is POST /api/v1/channels/{name}/retry-failed: every reply of
// the channel the outbox gave up on is queued again.
func (s *Server) retryFailed(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !s.knownChannel(name) {
		return notFound("channel %q not found", name)
	}
	principal := principalFrom(r.Context())
	total := 0
	for looked := 0; looked < maxBulkRetry; {
		var n, examined int
		err := s.store.Update(r.Context(), func(tx *store.Tx) error {
			actor, err := s.actorID(tx, principal)
			if err != nil {
				return err
			}
			tx.SetActor(actor)
			n, examined, err = outbox.RetryFailed(tx, name, retryBatch)
			return err
		})
		if err != nil {
			if total > 0 {
				s.log.Warn("bulk retry stopped early", "channel", name, "retried", total, "error", err)
			}
			return storeError(err)
		}
		total += n
		looked += examined
		if examined < retryBatch {
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": name, "retried": total})
	return nil
}

// knownChannel reports whether name is a configured channel instance.
func (s *Server) knownChannel(name string) bool {
	if s.channels == nil {
		return false
	}
	for _, c := range s.channels.Channels() {
		if c.Name == name {
			return true
		}
	}
	return false
}
