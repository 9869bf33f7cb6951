package api

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"
)

// Pagination limits.
const (
	DefaultLimit = 25
	MaxLimit     = 100
)

const cursorVersion = 1

// cursor is the decoded form of an opaque pagination cursor: the id of the
// last item returned, bound to the list (path and filters) it came from so
// that it cannot be replayed against another list.
type cursor struct {
	After uint64
	scope uint32
}

// encodeCursor returns the opaque cursor for the page after the item with
// id after, in the list named by scope.
func encodeCursor(scope string, after uint64) string {
	var buf [13]byte
	buf[0] = cursorVersion
	binary.BigEndian.PutUint64(buf[1:9], after)
	binary.BigEndian.PutUint32(buf[9:13], crc32.ChecksumIEEE([]byte(scope)))
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

// decodeCursor parses a cursor for the list named by scope. An empty string
// means the first page (ok false).
func decodeCursor(scope, s string) (c cursor, ok bool, err error) {
	if s == "" {
		return cursor{}, false, nil
	}
	buf, derr := base64.RawURLEncoding.Strict().DecodeString(s)
	// The decoder skips \r and \n: accept only the canonical encoding.
	if derr != nil || len(buf) != 13 || buf[0] != cursorVersion || base64.RawURLEncoding.EncodeToString(buf) != s {
		return cursor{}, false, invalidField("cursor", "is not a valid cursor; pass the next_cursor of a previous page unchanged")
	}
	c.After = binary.BigEndian.Uint64(buf[1:9])
	c.scope = binary.BigEndian.Uint32(buf[9:13])
	if c.scope != crc32.ChecksumIEEE([]byte(scope)) {
		return cursor{}, false, invalidField("cursor", "belongs to another list or other filters; repeat the filters of the request that returned it")
	}
	return c, true, nil
}

// parseLimit reads the limit query parameter: DefaultLimit when absent,
// 1..MaxLimit otherwise.
func parseLimit(q url.Values, def int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, invalidField("limit", "must be an integer from 1 to %d", MaxLimit)
	}
	if n > MaxLimit {
		return 0, invalidField("limit", "must be at most %d", MaxLimit)
	}
	return n, nil
}

// parseID reads a positive decimal id from a path value.
func parseID(r *http.Request, name, what string) (uint64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, notFound("%s %q not found", what, s)
	}
	return id, nil
}

// parseQueryID reads an optional positive id from a query parameter.
func parseQueryID(q url.Values, name string) (uint64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, invalidField(name, "must be a positive integer id")
	}
	return id, nil
}
