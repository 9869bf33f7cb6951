// Package plusaddr builds and checks the signed plus-addresses Patchbay sets
// as Reply-To on outbound mail: support+t42.k3j5l6m7n8p9q2r4@example.com
// names ticket 42, and only someone who knows the instance's secret can
// make one. Mail to such an address threads into the ticket whoever sends
// it (the sender was given the address by us).
package plusaddr

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// macBytes is the truncated HMAC length: 80 bits, 16 base32 characters.
const macBytes = 10

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Signer makes and checks ticket plus-addresses for one support address.
type Signer struct {
	secret []byte
	local  string // lower-cased local part of the support address
	domain string // lower-cased domain
}

// New returns a Signer for address ("support@example.com") with secret.
// The address must contain exactly one "@" and no "+".
func New(address string, secret []byte) (*Signer, error) {
	local, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(address)), "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return nil, errInvalidAddress
	}
	if len(secret) < 16 {
		return nil, errShortSecret
	}
	return &Signer{secret: append([]byte(nil), secret...), local: local, domain: domain}, nil
}

type tokenError string

func (e tokenError) Error() string { return string(e) }

const (
	errInvalidAddress = tokenError("plusaddr: address must be local@domain")
	errShortSecret    = tokenError("plusaddr: secret must be at least 16 bytes")
)

// Address returns the signed plus-address for ticket id.
func (s *Signer) Address(ticket uint64) string {
	return s.local + "+" + s.Token(ticket) + "@" + s.domain
}

// Token returns the plus-part for ticket id: "t<id>.<mac>".
func (s *Signer) Token(ticket uint64) string {
	id := strconv.FormatUint(ticket, 10)
	return "t" + id + "." + s.mac(id)
}

func (s *Signer) mac(id string) string {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte("patchbay-email-ticket\x00" + s.local + "@" + s.domain + "\x00" + id))
	return b32.EncodeToString(h.Sum(nil)[:macBytes])
}

// Match classifies a recipient address. ours is true when the address is
// the support address or a plus-address of it (local parts and domains
// compare case-insensitively). ticket is non-zero when the plus-part is a
// correctly signed ticket token.
func (s *Signer) Match(addr string) (ours bool, ticket uint64) {
	local, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	if !ok || domain != s.domain {
		return false, 0
	}
	base, plus, hasPlus := strings.Cut(local, "+")
	if base != s.local {
		return false, 0
	}
	if !hasPlus {
		return true, 0
	}
	return true, s.Verify(plus)
}

// Verify returns the ticket id of a valid "t<id>.<mac>" token, or 0.
func (s *Signer) Verify(token string) uint64 {
	token = strings.ToLower(token)
	if !strings.HasPrefix(token, "t") {
		return 0
	}
	id, mac, ok := strings.Cut(token[1:], ".")
	if !ok || id == "" || len(id) > 20 || (len(id) > 1 && id[0] == '0') {
		return 0
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 {
		return 0
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(id))) {
		return 0
	}
	return n
}
