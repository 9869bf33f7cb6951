package rules

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// decodeFieldSnap reads the fields "changed" conditions compare from a
// ticket event's data; false when it holds no ticket with a status.
func decodeFieldSnap(raw []byte) (fieldSnap, bool) {
	snap, ok := fastFieldSnap(raw)
	if !ok {
		snap = fieldSnap{}
		if json.Unmarshal(raw, &snap) != nil {
			return fieldSnap{}, false
		}
	}
	if snap.Status == "" {
		return fieldSnap{}, false
	}
	return snap, true
}

// fastFieldSnap reads the four fields from a ticket.Ticket as json.Marshal
// writes it (the store's ticket events): lower-case keys, each at most
// once, at the top level (a ticket has no nested object, and `,"` or `{"`
// cannot occur inside a string, its quotes being escaped), with plain
// values. Anything else reports false and goes through encoding/json.
func fastFieldSnap(raw []byte) (fieldSnap, bool) {
	var snap fieldSnap
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return snap, false
	}
	var status, priority, group string
	for _, f := range []struct {
		key string
		dst *string
	}{{"status", &status}, {"priority", &priority}, {"group", &group}} {
		v, found, ok := topLevelValue(raw, f.key)
		if !ok {
			return snap, false
		}
		if !found {
			continue
		}
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || bytes.IndexByte(v[1:len(v)-1], '\\') >= 0 {
			return snap, false
		}
		*f.dst = string(v[1 : len(v)-1])
	}
	v, found, ok := topLevelValue(raw, "assignee_id")
	if !ok {
		return snap, false
	}
	if found {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return snap, false
		}
		snap.AssigneeID = n
	}
	snap.Status, snap.Priority, snap.Group = ticket.Status(status), ticket.Priority(priority), group
	return snap, true
}

// topLevelValue returns the raw value of key in the object raw: found is
// false when the key is absent, ok false when the layout is not the plain
// one (the key twice, or a value that does not end at a comma or the
// object's end).
func topLevelValue(raw []byte, key string) (v []byte, found, ok bool) {
	pat := []byte(`"` + key + `":`)
	at := -1
	for i := 0; ; {
		j := bytes.Index(raw[i:], pat)
		if j < 0 {
			break
		}
		j += i
		if raw[j-1] == ',' || raw[j-1] == '{' {
			if at >= 0 {
				return nil, false, false // twice
			}
			at = j
		}
		i = j + len(pat)
	}
	if at < 0 {
		return nil, false, true
	}
	rest := raw[at+len(pat):]
	end := 0
	if len(rest) > 0 && rest[0] == '"' {
		k := bytes.IndexByte(rest[1:], '"')
		if k < 0 {
			return nil, false, false
		}
		end = k + 2
	} else {
		for end < len(rest) && rest[end] != ',' && rest[end] != '}' {
			end++
		}
	}
	if end >= len(rest) || (rest[end] != ',' && rest[end] != '}') {
		return nil, false, false
	}
	return rest[:end], true, true
}
