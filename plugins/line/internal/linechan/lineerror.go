package linechan

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// lineError is LINE's error response body.
type lineError struct {
	Message string `json:"message"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
	SentMessages []struct {
		ID string `json:"id"`
	} `json:"sentMessages"`
}

// readLineError reads LINE's error body from a failed response (the
// library leaves it readable). Unparseable bodies yield an empty lineError.
func readLineError(res *http.Response) lineError {
	var le lineError
	if res == nil || res.Body == nil {
		return le
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return le
	}
	_ = json.Unmarshal(body, &le)
	return le
}

// String renders the error for agents: the message and each detail.
func (le lineError) String() string {
	parts := []string{}
	if le.Message != "" {
		parts = append(parts, le.Message)
	}
	for _, d := range le.Details {
		switch {
		case d.Property != "" && d.Message != "":
			parts = append(parts, d.Property+": "+d.Message)
		case d.Message != "":
			parts = append(parts, d.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// describeHTTPFailure says why a LINE call failed, for logs and statuses:
// the status and LINE's message, or the transport error. It never includes
// request headers (the access token).
func describeHTTPFailure(res *http.Response, err error) string {
	if res == nil {
		if err == nil {
			return "no response"
		}
		return err.Error()
	}
	msg := readLineError(res).String()
	if msg == "" {
		return fmt.Sprintf("HTTP %d", res.StatusCode)
	}
	return fmt.Sprintf("HTTP %d: %s", res.StatusCode, msg)
}
