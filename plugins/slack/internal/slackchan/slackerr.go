package slackchan

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/slack-go/slack"

	"github.com/patchbayhq/patchbay/sdk"
)

// authErrorCode reports whether a Slack error code means the token is
// unusable.
func authErrorCode(code string) bool {
	switch code {
	case "invalid_auth", "account_inactive", "token_revoked", "token_expired", "not_authed":
		return true
	}
	return false
}

// retryableCode reports whether a Slack error code can be fixed by a later
// retry. Every other code (channel_not_found, not_in_channel,
// account_inactive, invalid_auth, msg_too_long…) is permanent: Slack
// answered, and repeating the same call gets the same answer.
func retryableCode(code string) bool {
	switch code {
	case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
		return true
	}
	return false
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
	return errors.As(err, &se) && authErrorCode(se.Err)
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
		return sdk.Retryable("rate_limited", errors.New("rate limited by Slack (429)"), rl.RetryAfter)
	case errors.As(err, &se):
		if retryableCode(se.Err) {
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
