package emailchan

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Message-ID formats of our replies:
//
//	pb.<ticket>.<r>.<mac>@<domain>   signed: r is 16 hex digits (derived from the
//	                                 reply's idempotency key with the secret, or
//	                                 random), mac is 20 base32 characters of
//	                                 HMAC-SHA256(secret, domain, ticket, r)
//	pb.<ticket>.<24 hex>@<domain>    legacy (before the secret existed): sha256 of
//	                                 public values, so anyone can compute it
//
// Only the holder of the instance's message-id secret can make a signed id,
// so a References list of guessed ids names no ticket. A legacy id is taken
// only as an unsigned ticket hint, which threads the message for the
// ticket's requester alone.
const (
	msgIDPrefix = "pb."
	msgIDRand   = 8  // bytes of r
	msgIDMAC    = 12 // bytes of the truncated HMAC (96 bits)
	legacyHex   = 24 // hex digits of a legacy id's hash
)

var msgIDB32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// msgIDKind classifies a message id found in In-Reply-To or References.
type msgIDKind int

const (
	idForeign msgIDKind = iota // not one of ours: someone else's message
	idSigned                   // ours, correctly signed
	idForged                   // our shape, wrong signature
	idLegacy                   // ours, minted before ids were signed
)

// msgIDSigner mints and checks the Message-IDs of one instance's replies.
type msgIDSigner struct {
	secret []byte
	domain string // lower-cased
}

func newMsgIDSigner(domain string, secret []byte) *msgIDSigner {
	return &msgIDSigner{secret: append([]byte(nil), secret...), domain: strings.ToLower(domain)}
}

// mint returns the Message-ID (without brackets) of a reply on ticket. The
// same idempotency key gives the same id on every attempt; without one the
// id is random.
func (s *msgIDSigner) mint(ticket uint64, idempotencyKey string) string {
	r := make([]byte, msgIDRand)
	if idempotencyKey != "" {
		h := hmac.New(sha256.New, s.secret)
		h.Write([]byte("patchbay-email-reply\x00" + idempotencyKey))
		copy(r, h.Sum(nil))
	} else {
		_, _ = rand.Read(r)
	}
	t := strconv.FormatUint(ticket, 10)
	rs := hex.EncodeToString(r)
	return msgIDPrefix + t + "." + rs + "." + s.mac(t, rs) + "@" + s.domain
}

func (s *msgIDSigner) mac(ticket, r string) string {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte("patchbay-email-msgid\x00" + s.domain + "\x00" + ticket + "\x00" + r))
	return msgIDB32.EncodeToString(h.Sum(nil)[:msgIDMAC])
}

// classify says whether id is one of our Message-IDs, and which ticket it
// names (for idSigned and idLegacy).
func (s *msgIDSigner) classify(id string) (msgIDKind, uint64) {
	local, domain, ok := strings.Cut(strings.ToLower(id), "@")
	if !ok || domain != s.domain || !strings.HasPrefix(local, msgIDPrefix) {
		return idForeign, 0
	}
	parts := strings.Split(local[len(msgIDPrefix):], ".")
	if len(parts) < 2 || len(parts) > 3 {
		return idForeign, 0
	}
	t, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil || t == 0 || parts[0] != strconv.FormatUint(t, 10) {
		return idForeign, 0
	}
	if len(parts) == 2 {
		if len(parts[1]) == legacyHex && isHex(parts[1]) {
			return idLegacy, t
		}
		return idForeign, 0
	}
	r, mac := parts[1], parts[2]
	if len(r) != 2*msgIDRand || !isHex(r) {
		return idForged, 0
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(parts[0], r))) {
		return idForged, 0
	}
	return idSigned, t
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// authResultsHeader is the canonical key of RFC 8601's header.
const authResultsHeader = "Authentication-Results"

// verifiedAuthor reports whether a trusted relay authenticated the author
// address from: the topmost Authentication-Results header (the one the
// last hop, our relay, prepended) must carry one of the relays' authserv-ids
// and a DMARC pass for the From domain, or a DKIM pass signed by the From
// domain, or an SPF pass for an envelope sender of the From domain. Lower
// headers are ignored: anyone can write them into a message. It returns the
// method that verified, for the comment's metadata.
func verifiedAuthor(h textproto.MIMEHeader, from string, relays []string) (bool, string) {
	if len(relays) == 0 || from == "" {
		return false, ""
	}
	_, fromDomain, ok := strings.Cut(strings.ToLower(from), "@")
	if !ok || fromDomain == "" {
		return false, ""
	}
	values := h.Values(authResultsHeader)
	if len(values) == 0 {
		return false, ""
	}
	id, results, err := authres.Parse(values[0])
	if err != nil || !containsFold(relays, id) {
		return false, ""
	}
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DMARCResult:
			if r.Value == authres.ResultPass && strings.EqualFold(r.From, fromDomain) {
				return true, "dmarc"
			}
		case *authres.DKIMResult:
			d := r.Domain
			if d == "" {
				_, d, _ = strings.Cut(r.Identifier, "@")
			}
			if r.Value == authres.ResultPass && strings.EqualFold(d, fromDomain) {
				return true, "dkim"
			}
		case *authres.SPFResult:
			_, d, _ := strings.Cut(r.From, "@")
			if d == "" {
				d = r.From
			}
			if r.Value == authres.ResultPass && strings.EqualFold(d, fromDomain) {
				return true, "spf"
			}
		}
	}
	return false, ""
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(v)) {
			return true
		}
	}
	return false
}
