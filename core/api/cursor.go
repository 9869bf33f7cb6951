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
	// Only the canonical spelling names a resource: 0001 is not ticket 1.
	if err != nil || id == 0 || strconv.FormatUint(id, 10) != s {
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

const cursorVersion2 = 2

// cursor2 is a cursor holding two numbers (a listing ordered by a value,
// then by id: A is the value, B the id).
type cursor2 struct{ A, B uint64 }

// encodeCursor2 returns the opaque two-number cursor for the list named
// by scope.
func encodeCursor2(scope string, a, b uint64) string {
	var buf [21]byte
	buf[0] = cursorVersion2
	binary.BigEndian.PutUint64(buf[1:9], a)
	binary.BigEndian.PutUint64(buf[9:17], b)
	binary.BigEndian.PutUint32(buf[17:21], crc32.ChecksumIEEE([]byte(scope)))
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

// decodeCursor2 parses a two-number cursor for the list named by scope;
// an empty string means the first page (ok false).
func decodeCursor2(scope, s string) (c cursor2, ok bool, err error) {
	if s == "" {
		return cursor2{}, false, nil
	}
	buf, derr := base64.RawURLEncoding.Strict().DecodeString(s)
	if derr != nil || len(buf) != 21 || buf[0] != cursorVersion2 || base64.RawURLEncoding.EncodeToString(buf) != s || binary.BigEndian.Uint64(buf[9:17]) == 0 {
		return cursor2{}, false, invalidField("cursor", "is not a valid cursor; pass the next_cursor of a previous page unchanged")
	}
	if binary.BigEndian.Uint32(buf[17:21]) != crc32.ChecksumIEEE([]byte(scope)) {
		return cursor2{}, false, invalidField("cursor", "belongs to another list or other filters; repeat the filters of the request that returned it")
	}
	return cursor2{A: binary.BigEndian.Uint64(buf[1:9]), B: binary.BigEndian.Uint64(buf[9:17])}, true, nil
}
