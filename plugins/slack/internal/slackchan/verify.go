package slackchan

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSkew is how far a request timestamp may be from the local clock
// (Slack's documented replay window).
const maxSkew = 5 * time.Minute

// Signature verification failures. None carries request data.
var (
	errMissingSignature = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	errBadTimestamp     = errors.New("malformed request timestamp")
	errStaleTimestamp   = errors.New("request timestamp outside the 5-minute window")
	errBadSignature     = errors.New("signature mismatch")
)

// verifySignature checks Slack's v0 request signature: hex HMAC-SHA256 with
// the signing secret over "v0:<timestamp>:<body>", sent as
// "X-Slack-Signature: v0=<hex>", and a timestamp within five minutes of now.
// The comparison is constant-time.
func verifySignature(secret []byte, h http.Header, body []byte, now time.Time) error {
	sig := h.Get("X-Slack-Signature")
	ts := h.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return errMissingSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return errBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return errStaleTimestamp
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return errBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errBadSignature
	}
	if !hmac.Equal(got, sign(secret, ts, body)) {
		return errBadSignature
	}
	return nil
}

// sign computes the raw v0 HMAC for a timestamp and body.
func sign(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:"))
	m.Write([]byte(ts))
	m.Write([]byte(":"))
	m.Write(body)
	return m.Sum(nil)
}
