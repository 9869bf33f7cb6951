package mailparse

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// decodeTransfer undoes a Content-Transfer-Encoding leniently: base64 with
// stray characters or a broken last quantum keeps every complete byte,
// quoted-printable with a bad escape keeps the rest of the text. text says
// the part is text: text labelled base64 that is not base64 (a mail
// program's mistake) is returned as it is rather than as binary garbage.
// The note says what was repaired.
func decodeTransfer(b []byte, cte string, text bool) ([]byte, string) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		if text && !looksBase64(b) {
			return b, "text labelled base64 is not base64; shown as it is"
		}
		out, bad := decodeBase64(b)
		if text && bad && isBinary(out) && !isBinary(b) {
			// "Thanks" is made of base64 letters too, but not of whole
			// base64 quanta: text that is not well-formed base64 and
			// decodes to binary was never encoded.
			return b, "text labelled base64 is not base64; shown as it is"
		}
		if bad {
			return out, "malformed base64 (decoded what was readable)"
		}
		return out, ""
	case "quoted-printable":
		out, bad := decodeQP(b)
		if bad {
			return out, "malformed quoted-printable (bad escapes kept as they are)"
		}
		return out, ""
	case "", "7bit", "8bit", "binary":
		return b, ""
	default:
		return b, fmt.Sprintf("unknown Content-Transfer-Encoding %q; content kept as it is", truncate(cte, 40))
	}
}

// decodeQP decodes quoted-printable leniently: "=XY" is a byte, "="
// before the end of a line (after optional blanks) a soft line break, and
// anything else after "=" is kept literally (RFC 2045 6.7 note 1). bad
// reports such a literal.
func decodeQP(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b))
	bad := false
	for k := 0; k < len(b); k++ {
		c := b[k]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if k+2 < len(b) && isHex(b[k+1]) && isHex(b[k+2]) {
			out = append(out, unhex(b[k+1])<<4|unhex(b[k+2]))
			k += 2
			continue
		}
		j := k + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		switch {
		case j == len(b):
			k = j - 1
		case b[j] == '\n':
			k = j
		case b[j] == '\r':
			k = j
			if j+1 < len(b) && b[j+1] == '\n' {
				k = j + 1
			}
		default:
			out = append(out, '=')
			bad = true
		}
	}
	return out, bad
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// looksBase64 reports whether b is mostly base64 alphabet: a text body
// wrongly labelled base64 has spaces and punctuation between its words.
func looksBase64(b []byte) bool {
	var good, bad int
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			good++
		case c == '\r' || c == '\n':
		default:
			bad++
		}
	}
	return good > 0 && bad*20 <= good
}

// decodeBase64 decodes b ignoring every character outside the alphabet,
// and decodes a final incomplete quantum as far as it goes (one extra
// character, or padding missing, loses nothing before it). bad reports
// that something was skipped.
func decodeBase64(b []byte) ([]byte, bool) {
	clean := make([]byte, 0, len(b))
	bad := false
	pad := 0
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '-':
			clean = append(clean, '+') // base64url
			bad = true
		case c == '_':
			clean = append(clean, '/')
			bad = true
		case c == '=':
			pad++
		case c == '\r' || c == '\n' || c == ' ' || c == '\t':
		default:
			bad = true
		}
	}
	switch r := len(clean) % 4; {
	case r == 1:
		clean = clean[:len(clean)-1] // a lone sixth of a byte
		bad = true
	case r != 0 && pad == 0:
		bad = true // the last quantum lacks its padding
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		// Cannot happen with the alphabet filtered above; keep what was
		// decoded.
		bad = true
	}
	return out[:n], bad
}
