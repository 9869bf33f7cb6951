package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
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
		return nil, badRequest("", "reading the request body failed")
	}
	return body, nil
}
