package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// storeError maps an error out of a store call to an API error. API errors
// returned by transaction functions pass through; the domain's closed and
// validation errors become 409 and 422; a closed store is 503; anything
// else is a 500 whose cause is logged, not sent.
func storeError(err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var ve *ticket.ValidationError
	if errors.As(err, &ve) && len(ve.Fields) > 0 {
		return invalidField(ve.Fields[0].Field, "%s", ve.Fields[0].Message)
	}
	switch {
	case errors.Is(err, ticket.ErrClosed):
		return &Error{Status: http.StatusConflict, Code: CodeTicketClosed, Message: "the ticket is closed and cannot be changed; a new message opens a follow-up ticket"}
	case errors.Is(err, store.ErrStoreClosed), errors.Is(err, badger.ErrDBClosed):
		// Update reports ErrStoreClosed; View passes Badger's own error.
		return unavailable(err)
	case errors.Is(err, store.ErrUnreadable):
		// A damaged data file: /healthz says so; a request that needs the
		// record gets the same answer, not an anonymous 500.
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeStoreDamaged, Message: "a stored record this request needs cannot be read: the server's data directory is damaged (see /healthz)", err: err}
	case errors.Is(err, store.ErrInsufficientSpace):
		// Nothing was written; the disk has room again once the operator
		// frees some (docs/operations.md, "Disk space").
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the server is short of disk space and refuses writes for now; retry later with the same Idempotency-Key", err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the request was cancelled before the store answered; retry with the same Idempotency-Key", err: err}
	}
	return internal(err)
}

// view runs fn on a read snapshot, mapping errors with storeError.
func (s *Server) view(fn func(tx *store.ReadTx) error) error {
	if err := s.store.View(fn); err != nil {
		return storeError(err)
	}
	return nil
}
