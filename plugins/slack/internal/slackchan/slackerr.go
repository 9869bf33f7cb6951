package slackchan

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/slack-go/slack"

	"github.com/patchbayhq/patchbay/sdk"
)

// authErrorCodes are Slack error codes that mean the token is unusable.
var authErrorCodes = map[string]bool{
	"invalid_auth":     true,
	"account_inactive": true,
	"token_revoked":    true,
	"token_expired":    true,
	"not_authed":       true,
}

// retryableCodes are Slack error codes that a later retry can fix. Every
// other code (channel_not_found, not_in_channel, account_inactive,
// invalid_auth, msg_too_long…) is permanent: Slack answered, and repeating
// the same call gets the same answer.
var retryableCodes = map[string]bool{
	"ratelimited":         true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// slackCode names an error without any request data: the Slack error code
// for API errors, else a coarse class.
func slackCode(err error) string {
	var se slack.SlackErrorResponse
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.Err
	case errors.As(err, &rl):
		return "rate_limited"
	case errors.As(err, &sc):
		return "http_" + strconv.Itoa(sc.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ne):
		return "network_error"
	default:
		return "error"
	}
}

// isAuthError reports whether err means the bot token is rejected.
func isAuthError(err error) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se) && authErrorCodes[se.Err]
}

// toSendError classifies a Web API failure for the core: 429 and transport
// or 5xx failures are retryable (429 with Slack's Retry-After), Slack error
// codes are permanent with the code.
func toSendError(err error) *sdk.SendError {
	var se slack.SlackErrorResponse
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var already *sdk.SendError
	switch {
	case errors.As(err, &already):
		return already
	case errors.As(err, &rl):
		return sdk.Retryable("rate_limited", errors.New("Slack rate limit (429)"), rl.RetryAfter)
	case errors.As(err, &se):
		if retryableCodes[se.Err] {
			return sdk.Retryable(se.Err, errors.New("Slack error: "+se.Err), 0)
		}
		return sdk.Permanent(se.Err, errors.New("Slack error: "+se.Err))
	case errors.As(err, &sc):
		if sc.Retryable() {
			return sdk.Retryable("http_"+strconv.Itoa(sc.Code), errors.New("Slack answered HTTP "+strconv.Itoa(sc.Code)), 0)
		}
		return sdk.Permanent("http_"+strconv.Itoa(sc.Code), errors.New("Slack answered HTTP "+strconv.Itoa(sc.Code)))
	default:
		return sdk.Retryable(slackCode(err), err, 0)
	}
}
