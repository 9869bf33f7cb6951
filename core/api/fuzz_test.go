package api

import (
	"strings"
	"testing"
)

// FuzzDecodePatch feeds arbitrary bodies to the strict decoder used for
// PATCH /api/v1/tickets/{id}: it must never panic, must answer 400 or 422
// (naming a field for unknown fields) on rejection, and an accepted body
// must convert to a domain patch or a 422.
func FuzzDecodePatch(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"status":"solved","tags":["vpn"]}`, `{"assignee_id":null}`, `{"priority":null,"group":"it"}`,
		`{"tags":[1]}`, `{"x":1}`, `[]`, `null`, `{"status":"open"`, `{"subject":"\u0000"}`, `{"a":{"b":[{}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p ticketPatchBody
		err := decodeJSON(body, &p)
		if err != nil {
			ae := asAPIError(err)
			if ae.Status != 400 && ae.Status != 422 {
				t.Fatalf("status %d for %q", ae.Status, body)
			}
			if ae.Code == CodeUnknownField && ae.Field == "" {
				t.Fatalf("unknown field without a name for %q", body)
			}
			return
		}
		if _, err := p.patch(); err != nil && asAPIError(err).Status != 422 {
			t.Fatalf("patch conversion: %v", err)
		}
	})
}

// FuzzDecodeTicketCreate does the same for POST /api/v1/tickets bodies,
// including validation.
func FuzzDecodeTicketCreate(f *testing.F) {
	for _, s := range []string{
		`{"subject":"s","comment":{"body":"b"},"requester":{"name":"n","email":"a@b.test"}}`,
		`{"comment":{"body":"b"},"requester":{"email":"A@B.test"},"tags":["x","X"],"priority":"low"}`,
		`{"comment":null}`, `{"requester":{"email":"<a@b>"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in ticketCreate
		if err := decodeJSON(body, &in); err != nil {
			if s := asAPIError(err).Status; s != 400 && s != 422 {
				t.Fatalf("status %d", s)
			}
			return
		}
		if err := in.validate(); err != nil {
			if ae := asAPIError(err); ae.Status != 422 || ae.Field == "" {
				t.Fatalf("validation error %+v", ae)
			}
			return
		}
		if in.Comment == nil || in.Requester == nil || in.Requester.Email == "" {
			t.Fatalf("validated request lacks required parts: %+v", in)
		}
	})
}

// FuzzCursor checks that any cursor string is either rejected with a 422
// naming "cursor" or decodes to a position that re-encodes identically.
func FuzzCursor(f *testing.F) {
	f.Add("", uint64(0))
	f.Add(encodeCursor("tickets", 7), uint64(7))
	f.Add("AAAA", uint64(1))
	f.Add("!!!", uint64(1<<63))
	f.Fuzz(func(t *testing.T, s string, n uint64) {
		c, ok, err := decodeCursor("tickets", s)
		if err != nil {
			if ae := asAPIError(err); ae.Status != 422 || ae.Field != "cursor" {
				t.Fatalf("error %+v", ae)
			}
		} else if ok && encodeCursor("tickets", c.After) != s {
			t.Fatalf("cursor %q decodes to %d which encodes differently", s, c.After)
		}
		got, ok, err := decodeCursor("tickets", encodeCursor("tickets", n))
		if err != nil || !ok || got.After != n {
			t.Fatalf("round trip of %d: %+v %v", n, got, err)
		}
	})
}

// FuzzParseIdentity checks the identity=type:value query parser: accepted
// identities are normalised (lower-case type, non-empty parts) and parsing
// is stable.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"email:a@b.test", "slack:T1:U2", "whatsapp:+1555", ":x", "email:", "x", "EMAIL: A@B "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		idn, err := parseIdentity(s)
		if err != nil {
			if ae := asAPIError(err); ae.Status != 422 || ae.Field != "identity" {
				t.Fatalf("error %+v", ae)
			}
			return
		}
		if idn.Type == "" || idn.Value == "" || idn.Type != strings.ToLower(idn.Type) {
			t.Fatalf("accepted %q as %+v", s, idn)
		}
		again, err := parseIdentity(idn.Type + ":" + idn.Value)
		if err != nil || again != idn {
			t.Fatalf("not stable: %q -> %+v -> %+v (%v)", s, idn, again, err)
		}
	})
}
