package mailparse

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
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
	wild, _ := filepath.Glob(filepath.Join("testdata", "wild", "*.eml"))
	for _, w := range wild {
		if b, err := os.ReadFile(w); err == nil {
			f.Add(b)
		}
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

// FuzzNormalize checks the structure pass on any input: the MIME parser
// never sees more than MaxDepth levels or MaxParts parts of its output.
func FuzzNormalize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add(nested(40))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--b\r\nx\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		n := normalize(raw, budget{depth: 3, parts: 5})
		root, err := newParser().ReadParts(bytes.NewReader(n.raw))
		if err != nil || root == nil {
			return
		}
		if d, p := treeDepth(root); d > 3+1 || p > 5+2+d {
			t.Fatalf("depth %d parts %d from %q", d, p, n.raw)
		}
	})
}

// FuzzHeaderParam checks parameter decoding: no panic, valid UTF-8.
func FuzzHeaderParam(f *testing.F) {
	f.Add(`attachment; filename*=iso-8859-1''r%E9sum%E9.pdf`, "filename")
	f.Add(`attachment; filename*0*=utf-8''a%C3; filename*1*=%A9.txt; filename="x"`, "filename")
	f.Add(`text/plain; name="=?utf-8?q?caf=C3=A9?="`, "name")
	f.Fuzz(func(t *testing.T, v, name string) {
		if s := headerParam(v, name); !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
	})
}

// FuzzDecodeTransfer checks the lenient decoders: no panic, and valid
// base64 and quoted-printable decode to what was encoded.
func FuzzDecodeTransfer(f *testing.F) {
	f.Add([]byte("aGVsbG8=\r\n"), "base64")
	f.Add([]byte("caf=C3=A9 =\r\nsoft =ZZ"), "quoted-printable")
	f.Fuzz(func(t *testing.T, b []byte, cte string) {
		_, _ = decodeTransfer(b, cte, true)
		enc := base64.StdEncoding.EncodeToString(b)
		if out, bad := decodeBase64([]byte(enc)); bad || !bytes.Equal(out, b) {
			t.Fatalf("base64 round trip of %q: %q bad=%v", b, out, bad)
		}
	})
}

// FuzzCalendarSummary checks the invitation summary: no panic, valid
// UTF-8 for valid input.
func FuzzCalendarSummary(f *testing.F) {
	f.Add("BEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART;TZID=Europe/Paris:20260101T100000\r\nEND:VEVENT\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		if out := calendarSummary(s); utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 %q", out)
		}
	})
}

// FuzzDecodeText checks charset decoding: always valid UTF-8.
func FuzzDecodeText(f *testing.F) {
	f.Add([]byte("caf\xe9"), "", false)
	f.Add([]byte("<meta charset=shift_jis>\x83v"), "", true)
	f.Fuzz(func(t *testing.T, b []byte, cs string, html bool) {
		if s, _ := decodeText(b, cs, html); !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
	})
}
