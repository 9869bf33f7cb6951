package graph

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error codes of the WhatsApp Cloud API that change how a failure is handled.
const (
	// CodeReEngagement (131047) means more than 24 hours passed since the
	// customer's last message: only a template may be sent.
	CodeReEngagement = 131047
	// CodeAuth (190) is an expired or invalid access token.
	CodeAuth = 190
)

// retryableCodes are Graph error codes that a later attempt can cure: rate
// limits and temporary service failures.
var retryableCodes = map[int]bool{
	1:      true, // API unknown (temporary)
	2:      true, // API service temporarily unavailable
	4:      true, // application request limit reached
	80007:  true, // WhatsApp Business Account rate limit
	130429: true, // throughput rate limit hit
	131000: true, // something went wrong
	131016: true, // service unavailable
	131048: true, // spam rate limit hit
	131056: true, // business/consumer pair rate limit hit
	133004: true, // server temporarily unavailable
}

// APIError is an error answered by the Graph API (its standard error
// envelope) or an unexpected HTTP status.
type APIError struct {
	// HTTPStatus is the response status code.
	HTTPStatus int
	// Code, Subcode, Type and Message come from the Graph error envelope.
	Code    int
	Subcode int
	Type    string
	Message string
	// Details is error_data.details, Meta's longer explanation.
	Details string
	// TraceID is fbtrace_id, useful when contacting Meta support.
	TraceID string
	// RetryAfter is the parsed Retry-After header, zero when absent.
	RetryAfter time.Duration
}

// Error describes the failure: HTTP status, Graph code and subcode, message
// and details (never the request or its token).
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph api: http %d", e.HTTPStatus)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Subcode != 0 {
		fmt.Fprintf(&b, "/%d", e.Subcode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(" (" + e.Details + ")")
	}
	return b.String()
}

// Retryable reports whether a later attempt may succeed: HTTP 429 and 5xx,
// and the Graph codes for rate limits and temporary outages.
func (e *APIError) Retryable() bool {
	if e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus >= 500 {
		return true
	}
	return retryableCodes[e.Code]
}

// RateLimited reports whether the error is a rate limit rather than an outage.
func (e *APIError) RateLimited() bool {
	switch e.Code {
	case 4, 80007, 130429, 131048, 131056:
		return true
	}
	return e.HTTPStatus == http.StatusTooManyRequests
}

// AuthFailed reports whether the access token was refused.
func (e *APIError) AuthFailed() bool {
	return e.HTTPStatus == http.StatusUnauthorized || e.Code == CodeAuth
}

// IsCode reports whether err is (or wraps) an *APIError with that code.
func IsCode(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}
