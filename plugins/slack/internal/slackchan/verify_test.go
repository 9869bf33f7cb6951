package slackchan

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	// Slack's documented example: signing secret, timestamp and body from
	// docs.slack.dev/authentication/verifying-requests-from-slack.
	secret := []byte("8f742231b10e8888abcd99yyyzzz85a5")
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	ts := "1531420618"
	at := time.Unix(1531420618, 0)
	good := "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	header := func(sig, ts string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set("X-Slack-Signature", sig)
		}
		if ts != "" {
			h.Set("X-Slack-Request-Timestamp", ts)
		}
		return h
	}
	tests := []struct {
		name string
		h    http.Header
		now  time.Time
		want error
	}{
		{"documented example", header(good, ts), at, nil},
		{"4 minutes later", header(good, ts), at.Add(4 * time.Minute), nil},
		{"6 minutes later", header(good, ts), at.Add(6 * time.Minute), errStaleTimestamp},
		{"6 minutes earlier", header(good, ts), at.Add(-6 * time.Minute), errStaleTimestamp},
		{"no signature", header("", ts), at, errMissingSignature},
		{"no timestamp", header(good, ""), at, errMissingSignature},
		{"timestamp not a number", header(good, "15314x0618"), at, errBadTimestamp},
		{"other version", header("v1="+good[3:], ts), at, errBadSignature},
		{"not hex", header("v0=zz14d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", ts), at, errBadSignature},
		{"short", header("v0=a2114d57", ts), at, errBadSignature},
		{"one bit off", header("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b502", ts), at, errBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verifySignature(secret, tt.h, body, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
