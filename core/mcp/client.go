package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// callTimeout bounds one API call of a tool when the MCP request has no
// deadline of its own (a hung core must not hang the agent forever).
const callTimeout = 2 * time.Minute

// maxAnswerBytes bounds one API answer read by a tool (a page of 100
// comments with long bodies fits many times over).
const maxAnswerBytes = 64 << 20

// APIError is an error answer of the Patchbay API, as a tool returns it:
// the API's code (invalid_field, ticket_closed, precondition_failed, …), the
// field it is about, its message, and the HTTP status.
type APIError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Error reads "code (field): message", the text a model sees.
func (e *APIError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (field %s): %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// apiClient makes the API calls of one MCP request with one token.
type apiClient struct {
	http *http.Client
	base string // scheme://host, no trailing slash
	auth string // the Authorization header value
	// ctxRemote is the MCP client's address, passed to in-process API
	// requests as their RemoteAddr.
	ctxRemote string
}

// call is one API request.
type call struct {
	method string
	path   string     // /api/v1/…, already escaped
	query  url.Values // may be nil
	body   any        // JSON-encoded when not nil
	header http.Header
}

// do sends c and decodes a 2xx JSON answer into out (when not nil). An API
// error answer is returned as *APIError; anything else (the core cannot be
// reached, an answer that is not JSON) as a plain error.
func (a *apiClient) do(ctx context.Context, c call, out any) error {
	return a.doHeader(ctx, c, out, nil)
}

// doHeader is do that also reports whether the API answered an
// idempotent replay (Idempotent-Replayed: true).
func (a *apiClient) doHeader(ctx context.Context, c call, out any, replayed *bool) error {
	u := a.base + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	if a.ctxRemote != "" {
		ctx = withRemoteAddr(ctx, a.ctxRemote)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, body)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if a.auth != "" {
		req.Header.Set("Authorization", a.auth)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the Patchbay API (%s %s): %w", c.method, c.path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("reading the answer of %s %s: %w", c.method, c.path, err)
	}
	if res.StatusCode/100 != 2 {
		return decodeAPIError(res.StatusCode, raw)
	}
	if replayed != nil {
		*replayed = res.Header.Get("Idempotent-Replayed") == "true"
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the answer of %s %s: %w", c.method, c.path, err)
	}
	return nil
}

// decodeAPIError turns an error answer into *APIError; an answer that is
// not the API's error shape (a proxy's error page) keeps its status.
func decodeAPIError(status int, raw []byte) *APIError {
	var b struct {
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal(raw, &b); err == nil && b.Error != nil && b.Error.Code != "" {
		b.Error.Status = status
		return b.Error
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{Status: status, Code: "http_" + fmt.Sprint(status), Message: msg}
}

// asAPIError reports whether err is an API error answer.
func asAPIError(err error) (*APIError, bool) {
	var ae *APIError
	ok := errors.As(err, &ae)
	return ae, ok
}

// etag quotes a ticket version for If-Match (the API's ETag is the version
// in double quotes); an already quoted value is kept.
func etag(version string) string {
	v := strings.TrimSpace(version)
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `W/"`) {
		return v
	}
	return `"` + v + `"`
}
