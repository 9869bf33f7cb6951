package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes returned in the "code" member of an error answer. They are
// stable: clients may switch on them.
const (
	CodeMalformedJSON      = "malformed_json"
	CodeBadRequest         = "bad_request"
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeTicketClosed       = "ticket_closed"
	CodeConflict           = "conflict"
	CodeBodyTooLarge       = "body_too_large"
	CodeUnsupportedMedia   = "unsupported_media_type"
	CodeInvalidField       = "invalid_field"
	CodeUnknownField       = "unknown_field"
	CodeIdempotencyKeyUsed = "idempotency_key_reused"
	CodeEventsExpired      = "events_expired"
	CodeInternal           = "internal_error"
	CodeUnavailable        = "unavailable"
)

// Error is an API error: an HTTP status and the JSON error object
// {"error": {"code", "message", "field"}} written to the client. Messages
// are written for the client and never carry secrets or internal details.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the offending request field (JSON path such as
	// "comment.body", a query parameter such as "limit", or a header such
	// as "Idempotency-Key") when the error is about one.
	Field string `json:"field,omitempty"`
	// err is the internal cause, logged but never sent.
	err error
	// etag, when set, is sent as the answer's ETag header (a 412 names the
	// current version of the ticket).
	etag string
}

// Error describes the API error for logs; clients see the JSON shape.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.err }

// errorBody is the wire shape of an error answer.
type errorBody struct {
	Error *Error `json:"error"`
}

func invalidField(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidField, Field: field, Message: fmt.Sprintf(format, args...)}
}

func unknownField(field string) *Error {
	if field == "" || strings.HasSuffix(field, ".") {
		field += `""` // an empty member name
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnknownField, Field: field, Message: "unknown field " + field}
}

func malformed(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeMalformedJSON, Message: fmt.Sprintf(format, args...)}
}

func badRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

func unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg}
}

func forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg}
}

func ticketClosed(id uint64) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeTicketClosed, Message: fmt.Sprintf("ticket %d is closed and cannot be changed; a new message opens a follow-up ticket", id)}
}

func conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
}

func internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", err: err}
}

func unavailable(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the store is not available", err: err}
}

// asAPIError turns any handler error into an *Error; unknown errors become
// 500s whose cause is logged, not sent.
func asAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit)
	}
	return internal(err)
}

// writeJSON writes v as the JSON answer with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		buf, _ = json.Marshal(errorBody{Error: internal(err)})
	}
	buf = append(buf, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf)
}

// writeError writes the JSON error shape for err.
func writeError(w http.ResponseWriter, err error) *Error {
	ae := asAPIError(err)
	switch ae.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="patchbay"`)
	case http.StatusServiceUnavailable:
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	if ae.etag != "" {
		w.Header().Set("ETag", ae.etag)
	}
	writeJSON(w, ae.Status, errorBody{Error: ae})
	return ae
}
