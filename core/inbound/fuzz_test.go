package inbound

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/sdk"
)

// FuzzCleanFilename checks provider file names never keep a path or
// control characters.
func FuzzCleanFilename(f *testing.F) {
	f.Add("../../etc/passwd")
	f.Add("C:\\Users\\a\\report.pdf")
	f.Add("a\x00b.txt")
	f.Add(strings.Repeat("x", 300) + ".pdf")
	f.Fuzz(func(t *testing.T, name string) {
		c := cleanFilename(name)
		if c == "" || strings.ContainsAny(c, "/\\") && strings.Contains(c, "/") || len(c) > maxFilename {
			t.Fatalf("%q -> %q", name, c)
		}
		for _, r := range c {
			if unicode.IsControl(r) {
				t.Fatalf("%q -> %q keeps a control character", name, c)
			}
		}
	})
}

// FuzzDeliver delivers arbitrary messages (plugins pass provider data
// through): each is either refused with an error, storing nothing, or
// stored with the store still consistent.
func FuzzDeliver(f *testing.F) {
	f.Add("m1", "conv", "user", "subject", "text", "user@x.test", uint64(0), false)
	f.Add("", "c", "", "", "", "", uint64(1), true)
	f.Add("m\x00", "c\x00", "u", "s", "t", "bad email", uint64(99), false)
	e := newEnv(f)
	count := func() uint64 {
		var n uint64
		e.st.View(func(r *store.ReadTx) error { n, _ = r.LastID(store.SeqTicket); return nil })
		return n
	}
	f.Fuzz(func(t *testing.T, id, conv, author, subject, text, email string, hint uint64, verified bool) {
		m := &sdk.InboundMessage{ExternalID: id, ConversationKey: conv, Author: sdk.Party{ExternalID: author, Email: email}, Subject: subject, Text: text, TicketHint: hint, TicketHintVerified: verified}
		before := count()
		r, err := e.svc.Deliver(context.Background(), "support", m, nil)
		if err != nil {
			if count() != before {
				t.Fatalf("failed delivery created a ticket: %v", err)
			}
			return
		}
		if r.TicketID == 0 || r.CommentID == 0 {
			t.Fatalf("receipt %+v", r)
		}
		if err := e.st.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
