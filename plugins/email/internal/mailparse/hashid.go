package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// HashIDPrefix starts the synthetic id of a message that has no Message-ID.
const HashIDPrefix = "sha256:"

// traceFields are header fields added or changed by relays on the way; they
// are left out of the hash so that the same message relayed again (or
// fetched over IMAP after arriving over SMTP) gets the same id.
var traceFields = map[string]bool{
	"received":                   true,
	"return-path":                true,
	"delivered-to":               true,
	"x-original-to":              true,
	"x-received":                 true,
	"received-spf":               true,
	"authentication-results":     true,
	"arc-seal":                   true,
	"arc-message-signature":      true,
	"arc-authentication-results": true,
	"x-spam-status":              true,
	"x-spam-score":               true,
	"x-spam-flag":                true,
}

// HashID returns a stable id for a raw message without a Message-ID: the
// SHA-256 of its header fields (without trace fields, names lower-cased,
// values with folding white space collapsed) and of its body with line
// endings normalised and trailing white space removed.
func HashID(raw []byte) string {
	head, body := splitHeaderBody(raw)
	h := sha256.New()
	for _, f := range headerFields(head) {
		name, value, ok := strings.Cut(f, ":")
		if !ok {
			h.Write([]byte(strings.Join(strings.Fields(f), " ")))
			h.Write([]byte{'\n'})
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if traceFields[name] {
			continue
		}
		h.Write([]byte(name))
		h.Write([]byte{':'})
		h.Write([]byte(strings.Join(strings.Fields(value), " ")))
		h.Write([]byte{'\n'})
	}
	h.Write([]byte{'\n'})
	b := bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	h.Write(bytes.TrimRight(b, " \t\r\n"))
	return HashIDPrefix + hex.EncodeToString(h.Sum(nil))
}

// splitHeaderBody splits a raw message at the first empty line. A message
// without an empty line is all header when its first line looks like a
// header field, else all body.
func splitHeaderBody(raw []byte) (head, body []byte) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			break
		}
		line := raw[i : i+j]
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return raw[:i], raw[i+j+1:]
		}
		i += j + 1
	}
	if first, _, _ := bytes.Cut(raw, []byte("\n")); bytes.IndexByte(first, ':') > 0 {
		return raw, nil
	}
	return nil, raw
}

// headerFields returns the unfolded header fields of a raw header block.
func headerFields(head []byte) []string {
	var fields []string
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += " " + strings.TrimSpace(line)
			continue
		}
		fields = append(fields, line)
	}
	return fields
}
