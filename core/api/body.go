package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
)

// readBody checks the Content-Type and reads the whole request body, which
// the server bounds with http.MaxBytesReader: 415 for a non-JSON type, 413
// over the limit.
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia, Field: "Content-Type", Message: "request body must be application/json"}
		}
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		if errors.Is(err, ErrBodyTimeout) {
			return nil, bodyTimeout()
		}
		return nil, badRequest("", "reading the request body failed")
	}
	return body, nil
}

// CodeBodyTimeout answers a request whose body did not arrive within the
// body read deadline (Options.BodyReadTimeout).
const CodeBodyTimeout = "body_timeout"

// ErrBodyTimeout is the error a request body's Read returns once the body
// read deadline passed; it matches os.ErrDeadlineExceeded too.
var ErrBodyTimeout = fmt.Errorf("the request body did not arrive in time: %w", os.ErrDeadlineExceeded)

// bodyTimeout is the 408 answer to a body that arrived too slowly. The
// connection is closed after it: its remaining bytes are not waited for.
func bodyTimeout() *Error {
	return &Error{Status: http.StatusRequestTimeout, Code: CodeBodyTimeout,
		Message: "the request body did not arrive within the server's body read deadline; send it at once"}
}

// deadlineBody is a request body read under a deadline set on the
// connection when the request started: a client trickling its body (a
// slow-body attack holding a connection and a buffer) gets ErrBodyTimeout
// once it passes. At the end of the body the deadline is lifted again, so
// a handler that works on after reading is not cut off, and the server's
// own idle deadline governs the connection.
type deadlineBody struct {
	io.ReadCloser
	rc *http.ResponseController
	w  http.ResponseWriter
}

// Read reads the body, mapping the connection's deadline to
// ErrBodyTimeout.
func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		// The answer (408) closes the connection: whatever is still
		// trickling in is not waited for.
		b.w.Header().Set("Connection", "close")
		err = ErrBodyTimeout
	}
	return n, err
}

// withBodyDeadline puts the request's body under a read deadline of
// timeout from now. Requests without a body are left alone (an event
// stream must not be cut by a read deadline).
func withBodyDeadline(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || timeout <= 0 {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return // not a connection with deadlines (a test recorder)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, w: w}
}
