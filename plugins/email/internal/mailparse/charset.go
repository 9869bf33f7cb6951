package mailparse

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/gogs/chardet"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// minDetectConfidence is the confidence (0–100) from which the statistical
// detector's verdict is used for undeclared 8-bit text; below it the text
// is read as windows-1252, the most common undeclared charset in mail.
const minDetectConfidence = 40

// asciiNames are the names of US-ASCII. Text labelled so that holds 8-bit
// bytes was mislabelled: its charset is detected.
var asciiNames = map[string]bool{
	"us-ascii": true, "ascii": true, "ansi_x3.4-1968": true, "ansi-x3.4-1968": true,
	"iso646-us": true, "iso-ir-6": true, "us": true, "646": true, "cp367": true, "ibm367": true,
}

// lookupCharset returns the encoding of a MIME charset name, nil when the
// name is unknown ("unknown-8bit", "x-user-defined"…) or means US-ASCII.
func lookupCharset(name string) encoding.Encoding {
	n := strings.ToLower(strings.Trim(strings.TrimSpace(name), `"'`))
	if n == "" || asciiNames[n] || n == "unknown-8bit" || n == "unknown" || n == "x-unknown" {
		return nil
	}
	if n == "utf-8" || n == "utf8" {
		return unicode.UTF8
	}
	if e, err := htmlindex.Get(n); err == nil && e != nil {
		return e
	}
	for _, idx := range []*ianaindex.Index{ianaindex.MIME, ianaindex.IANA} {
		if e, err := idx.Encoding(n); err == nil && e != nil {
			return e
		}
	}
	// Spellings seen in the wild: "x-sjis", "cp-1252", "gb-18030".
	alt := strings.TrimPrefix(n, "x-")
	alt = strings.ReplaceAll(alt, "cp-", "cp")
	alt = strings.ReplaceAll(alt, "gb-", "gb")
	if alt != n {
		if e, err := htmlindex.Get(alt); err == nil && e != nil {
			return e
		}
	}
	return nil
}

// isASCII reports whether b has no 8-bit byte and no ISO-2022 escape.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || c == 0x1b {
			return false
		}
	}
	return true
}

// detect guesses the charset of 8-bit text: UTF-8 when it is valid UTF-8,
// else the statistical detector's verdict when it is confident enough,
// else windows-1252 (a superset of ISO-8859-1 that decodes every byte).
func detect(b []byte, html bool) (encoding.Encoding, string) {
	if utf8.Valid(b) && !bytes.Contains(b, []byte{0x1b}) {
		return unicode.UTF8, "utf-8"
	}
	d := chardet.NewTextDetector()
	if html {
		d = chardet.NewHtmlDetector()
	}
	if r, err := d.DetectBest(b); err == nil && r != nil && r.Confidence >= minDetectConfidence {
		if e := lookupCharset(r.Charset); e != nil && r.Charset != "UTF-8" {
			return e, strings.ToLower(r.Charset)
		}
	}
	return charmap.Windows1252, "windows-1252"
}

// decodeBytes converts b from e to valid UTF-8.
func decodeBytes(e encoding.Encoding, b []byte) string {
	if e == unicode.UTF8 {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := e.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// decodeText converts the body of a text part to UTF-8. declared is the
// charset parameter of its Content-Type. It returns a note when the
// declaration was missing, unknown or wrong and the charset was detected.
//
// HTML follows the HTML standard's order (golang.org/x/net/html/charset):
// byte-order mark, declared charset, then <meta charset> or <meta
// http-equiv>; without any of them it is detected like plain text. Plain
// text uses the declared charset; text declared US-ASCII (or not at all)
// that holds 8-bit bytes, text declared UTF-8 that is not, and text in an
// unknown charset are detected.
func decodeText(b []byte, declared string, html bool) (string, string) {
	enc := lookupCharset(declared)
	d := strings.ToLower(strings.TrimSpace(declared))
	if html {
		ct := "text/html"
		if enc != nil {
			ct = mime.FormatMediaType("text/html", map[string]string{"charset": d})
		}
		if e, name, certain := charset.DetermineEncoding(b, ct); certain || name != "windows-1252" {
			if e == encoding.Nop {
				e = unicode.UTF8
			}
			if e == unicode.UTF8 && !utf8.Valid(b) {
				e2, name2 := detect(b, true)
				return decodeBytes(e2, b), fmt.Sprintf("HTML declared %s is not; read as %s", name, name2)
			}
			return decodeBytes(e, b), ""
		}
	}
	if isASCII(b) {
		return string(b), ""
	}
	switch {
	case enc == unicode.UTF8 && !utf8.Valid(b):
		e, name := detect(b, html)
		return decodeBytes(e, b), fmt.Sprintf("text declared utf-8 is not; read as %s", name)
	case enc != nil:
		return decodeBytes(enc, b), ""
	}
	e, name := detect(b, html)
	switch {
	case d == "" || asciiNames[d]:
		if name == "utf-8" {
			return decodeBytes(e, b), "" // undeclared UTF-8 is the norm
		}
		return decodeBytes(e, b), fmt.Sprintf("undeclared 8-bit text read as %s", name)
	default:
		return decodeBytes(e, b), fmt.Sprintf("unknown charset %q; read as %s", declared, name)
	}
}

// headerDecoder decodes RFC 2047 encoded words in any charset: a known
// one, or (unknown-8bit, x-unknown, a misspelling) the detected one.
func headerDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return nil, err
		}
		s, _ := decodeText(b, cs, false)
		return strings.NewReader(s), nil
	}}
}

// decodeHeader returns a header value as UTF-8 text: raw 8-bit bytes (not
// allowed in a header, but common) are detected as in a text part, then
// encoded words are decoded.
func decodeHeader(v string) string {
	v = raw8bit(v)
	if !strings.Contains(v, "=?") {
		return v
	}
	if d, err := headerDecoder().DecodeHeader(v); err == nil {
		// Words the standard library decodes itself (utf-8, us-ascii)
		// are not checked: an invalid byte becomes U+FFFD.
		return strings.ToValidUTF8(d, "\uFFFD")
	}
	return v
}

// raw8bit converts a header value holding raw 8-bit bytes to UTF-8.
func raw8bit(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	s, _ := decodeText([]byte(v), "", false)
	return s
}
