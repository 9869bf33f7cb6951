package mailparse

import (
	"strings"
)

// maxIDsPerHeader bounds how many message ids are taken from one
// In-Reply-To or References header, so a hostile header cannot make the
// threading lookup arbitrarily expensive. RFC 5322 clients trim long
// References chains to the first and the last few ids, so the oldest (the
// thread root) and the newest are what matter.
const maxIDsPerHeader = 64

// maxIDLen bounds one message id (RFC 5322 line length).
const maxIDLen = 998

// ParseMsgIDs extracts message ids from an In-Reply-To, References or
// Message-ID header value. Ids are returned without angle brackets, in
// header order, without duplicates. Values without angle brackets (sent by
// some broken clients) are split on white space and commas, keeping tokens
// that contain an "@".
func ParseMsgIDs(v string) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > maxIDLen || strings.ContainsAny(id, " \t\r\n<>") || seen[id] {
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if strings.Contains(v, "<") {
		rest := v
		for {
			start := strings.IndexByte(rest, '<')
			if start < 0 {
				break
			}
			end := strings.IndexByte(rest[start+1:], '>')
			if end < 0 {
				break
			}
			add(rest[start+1 : start+1+end])
			rest = rest[start+1+end+1:]
		}
	} else {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool {
			return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n'
		}) {
			if strings.Contains(f, "@") {
				add(f)
			}
		}
	}
	if len(ids) > maxIDsPerHeader {
		// Keep the root and the most recent ids.
		ids = append(ids[:1:1], ids[len(ids)-(maxIDsPerHeader-1):]...)
	}
	return ids
}

// IsMsgID reports whether id (without angle brackets) has the shape of an
// RFC 5322 msg-id, "left@right", so that it may be written into a
// References or In-Reply-To header. Synthetic ids (hash ids of messages
// that had no Message-ID) are not.
func IsMsgID(id string) bool {
	if id == "" || len(id) > maxIDLen || strings.HasPrefix(id, HashIDPrefix) {
		return false
	}
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r >= 0x7f || r == '<' || r == '>' || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}
