package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
	"strings"
)

// SignatureHeader is the header carrying Meta's body signature.
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the X-Hub-Signature-256 value Meta sends for body:
// "sha256=" and the hex HMAC-SHA256 of the raw body keyed with the app
// secret.
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether header is a valid signature of body. The
// comparison is in constant time.
func VerifySignature(appSecret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Handshake checks a subscription request's query (hub.mode=subscribe and
// the verify token) and returns the challenge to echo. ok is false when the
// request must be refused.
func Handshake(rawQuery, verifyToken string) (challenge string, ok bool) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil || verifyToken == "" {
		return "", false
	}
	if q.Get("hub.mode") != "subscribe" {
		return "", false
	}
	// Hash both sides so that the comparison takes the same time whatever
	// the lengths.
	got := sha256.Sum256([]byte(q.Get("hub.verify_token")))
	want := sha256.Sum256([]byte(verifyToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return "", false
	}
	challenge = q.Get("hub.challenge")
	if challenge == "" {
		return "", false
	}
	return challenge, true
}
