package mailparse

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"From: a@b.test\r\nSubject: hi [#4]\r\nMessage-ID: <x@y>\r\nReferences: <r@y> <s@y>\r\nIn-Reply-To: <s@y>\r\n\r\nbody\r\n",
	"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--z\r\nContent-Disposition: attachment; filename=\"../a.pdf\"\r\n\r\nPDF\r\n--z--\r\n",
	"Subject: =?Shift_JIS?B?g3aDio3A?=\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B0u\x1b(B\r\n",
	"no header at all",
	"From: <>\r\nReferences: a@b, c@d\r\n\r\n> quoted\r\nOn Mon, x wrote:\r\n",
	"",
}

// FuzzParse checks the invariants the channel relies on for any input: no
// panic, a non-empty id and thread root, valid UTF-8 text, ids that can be
// written back into headers, and file names without directories.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw)
		if m.ID == "" || m.ThreadRoot == "" {
			t.Fatalf("empty id or root: %q %q", m.ID, m.ThreadRoot)
		}
		for _, s := range []string{m.Subject, m.Text, m.FullText, m.HTML, m.FromName} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
		}
		for _, id := range append(m.ReplyTo(), m.MessageID) {
			if strings.ContainsAny(id, "<> \r\n\t") {
				t.Fatalf("bad id %q", id)
			}
		}
		for _, a := range m.Attachments {
			if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\x00") || a.Filename == ".." {
				t.Fatalf("unsafe file name %q", a.Filename)
			}
		}
		if strings.TrimSpace(m.FullText) != "" && strings.TrimSpace(m.Text) == "" {
			t.Fatalf("display text empty while full text is %q", m.FullText)
		}
	})
}

// FuzzStripQuoted checks that stripping never empties a non-empty message
// and never invents text.
func FuzzStripQuoted(f *testing.F) {
	f.Add("Hi\n\nOn Mon, A wrote:\n> x")
	f.Add("> a\nb\n> c\n-- \nsig")
	f.Add("From: x\nSent: y")
	f.Fuzz(func(t *testing.T, s string) {
		out := StripQuoted(s)
		if strings.TrimSpace(s) != "" && out == "" {
			t.Fatalf("StripQuoted(%q) is empty", s)
		}
		if len(out) > len(s)+1 && !strings.Contains(s, "\r") {
			t.Fatalf("StripQuoted grew the text: %q -> %q", s, out)
		}
	})
}

// FuzzSubject checks the subject helpers on any input.
func FuzzSubject(f *testing.F) {
	f.Add("Re: Fwd: x [#42]")
	f.Add("[#18446744073709551615]")
	f.Fuzz(func(t *testing.T, s string) {
		_ = SubjectTicket(s)
		c := CleanSubject(s)
		if SubjectTicket(c) != 0 && utf8.ValidString(s) {
			t.Fatalf("CleanSubject(%q) = %q still has a ticket token", s, c)
		}
	})
}
