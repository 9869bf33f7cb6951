package mcp

import (
	"strings"
	"testing"
)

// FuzzDecodeAPIError: any answer body a core (or a proxy in front of it)
// sends with an error status decodes to an error with a code and a bounded
// message, never a panic.
func FuzzDecodeAPIError(f *testing.F) {
	f.Add(412, []byte(`{"error":{"code":"precondition_failed","message":"stale","field":"If-Match"}}`))
	f.Add(502, []byte("<html>Bad Gateway</html>"))
	f.Add(401, []byte(`{"error":null}`))
	f.Add(500, []byte(""))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ae := decodeAPIError(status, body)
		if ae == nil || ae.Code == "" || ae.Status != status {
			t.Fatalf("decoded %+v", ae)
		}
		if !strings.HasPrefix(string(body), "{") && len(ae.Message) > 200+len("…") {
			t.Fatalf("unbounded message of %d bytes", len(ae.Message))
		}
	})
}

// FuzzTicketURI: only patchbay://tickets/<positive decimal id> names a
// ticket, and a parsed id prints back to the same URI.
func FuzzTicketURI(f *testing.F) {
	for _, s := range []string{"patchbay://tickets/1", "patchbay://tickets/0", "patchbay://tickets/01", "patchbay://tickets/18446744073709551616", "patchbay://tickets/1/x", "file:///x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		id, ok := parseTicketURI(uri)
		if !ok {
			return
		}
		if id == 0 || TicketURI(id) != uri {
			t.Fatalf("%q parsed as %d", uri, id)
		}
	})
}

// FuzzEventTicket: the data of any event-stream event yields a ticket id
// or nothing, never a panic.
func FuzzEventTicket(f *testing.F) {
	f.Add(`{"seq":3,"type":"comment.created","ticket_id":42}`)
	f.Add(`{"ticket_id":-1}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, data string) {
		if id, ok := eventTicket(data); ok && id == 0 {
			t.Fatal("ticket 0 reported")
		}
	})
}
