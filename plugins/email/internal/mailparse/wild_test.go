package mailparse

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
)

// TestWildMail reads the fixtures in testdata/wild, one per way real mail
// breaks a naive reader, and checks what an agent would see.
func TestWildMail(t *testing.T) {
	cases := []struct {
		file       string
		subject    string   // "" = not checked
		fromName   string   // "" = not checked
		text       []string // in the display text
		notText    []string // never in the display text
		full       []string // in the full text
		files      []string // attachment names, in order
		wantErrors bool     // parse errors recorded
	}{
		// Text after an inline image is the author's; the signature of
		// the last part is cut, and no "--" marker is invented.
		{file: "1-apple-text-image-text.eml", text: []string{"here is the screenshot:", "The error appears when I click Save"},
			notText: []string{"Ann Example", "--"}, full: []string{"-- \nAnn Example"}, files: []string{"shot.png"}},
		// "text", "text/plain @ charset=", "multipart/mixed, boundary=",
		// a part with no header: all text; a file without Content-Type
		// keeps its name.
		{file: "2-broken-content-types.eml", text: []string{"Bare text type: the VPN drops", "Second part says Grüße.", "please call me back"},
			files: []string{"report.pdf"}, wantErrors: true},
		{file: "3a-no-blank-line.eml", subject: "No separator", text: []string{"has no blank line after it.\nThe invoice 1234 is wrong."}, wantErrors: true},
		{file: "3b-boundary-never-appears.eml", text: []string{"The laptop does not boot since the update."},
			notText: []string{"real-boundary", "<html>", "Content-Type"}, wantErrors: true},
		{file: "3c-bad-part-header.eml", text: []string{"my order 9876 never arrived."}, files: []string{"data.bin"}, wantErrors: true},
		// Charset only in <meta http-equiv>: decoded once.
		{file: "4a-html-meta-charset.eml", text: []string{"プリンターが動きません。"}},
		// Undeclared windows-1252 text.
		{file: "4b-plain-undeclared-cp1252.eml", text: []string{"Bonjour, le café coûte 3 € – c’est « cher »."}, notText: []string{"\uFFFD"}, wantErrors: true},
		// RFC 2231 names in ISO-8859-1 and in an alias of US-ASCII.
		{file: "4c-rfc2231-filenames.eml", text: []string{"My CV is attached."}, files: []string{"résumé.pdf", "notes.txt"}},
		{file: "4d-raw-8bit-header.eml", subject: "Réservation annulée", fromName: "Jürgen Müller", text: []string{"Body text."}},
		{file: "4e-unknown-8bit-word.eml", subject: "Réunion de lundi", fromName: "François", text: []string{"ok"}},
		// A forwarded message is shown inline with its headers; its file
		// and the message itself are kept.
		{file: "5-forwarded.eml", text: []string{"FYI, see the message below.", "---------- Forwarded message ----------",
			"From: Bob Billing <bob@vendor.test>", "Subject: Invoice 2024-17", "Date: Fri, 01 Mar 2024 09:00:00 +0100",
			"The invoice total is 420 EUR, due in 30 days."}, files: []string{"invoice.pdf", "Invoice 2024-17.eml"}},
		// A digest's parts are messages even without Content-Type.
		{file: "5b-digest.eml", text: []string{"Today's topics", "From: Carl <carl@example.com>", "Subject: Printer",
			"The printer on floor 2 prints blank pages.", "From: Dora <dora@example.com>", "VPN drops every 10 minutes here too."},
			files: []string{"Printer.eml", "VPN.eml"}},
		{file: "7a-extra-base64.eml", text: []string{"The scanner on floor 3 is jammed."}, wantErrors: true},
		{file: "7b-not-base64.eml", text: []string{"This text was never base64 encoded, sorry!"}, wantErrors: true},
		{file: "7c-calendar.eml", text: []string{"You are invited to the quarterly review.", "Calendar invitation: Quarterly review",
			"When: Tue, 10 Mar 2026 14:00 UTC – Tue, 10 Mar 2026 15:00 UTC", "Where: Room 4, 2nd floor"}, files: []string{"invite.ics"}},
		{file: "7d-tnef.eml", text: []string{"See the attached file."}, files: []string{"winmail.dat"}, wantErrors: true},
		{file: "7e-empty-text-parts.eml", text: []string{"Only this part has text."}, notText: []string{"--"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "wild", c.file))
			if err != nil {
				t.Fatal(err)
			}
			m := Parse(raw)
			if c.subject != "" && m.Subject != c.subject {
				t.Errorf("subject = %q, want %q", m.Subject, c.subject)
			}
			if c.fromName != "" && m.FromName != c.fromName {
				t.Errorf("from name = %q, want %q", m.FromName, c.fromName)
			}
			for _, s := range c.text {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, m.Text)
				}
			}
			for _, s := range c.notText {
				if strings.Contains(m.Text, s) {
					t.Errorf("text has %q:\n%s", s, m.Text)
				}
			}
			for _, s := range c.full {
				if !strings.Contains(m.FullText, s) {
					t.Errorf("full text lacks %q:\n%s", s, m.FullText)
				}
			}
			var names []string
			for _, a := range m.Attachments {
				names = append(names, a.Filename)
			}
			if fmt.Sprint(names) != fmt.Sprint(c.files) {
				t.Errorf("files = %q, want %q", names, c.files)
			}
			if c.wantErrors != (len(m.Errors) > 0) {
				t.Errorf("errors = %q, want errors: %v", m.Errors, c.wantErrors)
			}
		})
	}
}

// The file without Content-Type keeps its name and gets its type from it;
// the forwarded invoice's bytes are decoded.
func TestWildAttachmentContent(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "wild", "2-broken-content-types.eml"))
	if err != nil {
		t.Fatal(err)
	}
	m := Parse(raw)
	if len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/pdf" || string(m.Attachments[0].Data) != "%PDF-1.4 fake" {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
}

// nested builds a message with depth nested multiparts, the innermost
// holding a text part.
func nested(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	b.WriteString("--b0\r\nContent-Type: text/plain\r\n\r\nTop text survives.\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\ndeepest\r\n", depth-1)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// treeDepth returns the deepest nesting of p's tree, iteratively.
func treeDepth(root *enmime.Part) (depth, parts int) {
	type item struct {
		p *enmime.Part
		d int
	}
	stack := []item{{root, 1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		parts++
		depth = max(depth, it.d)
		for c := it.p.FirstChild; c != nil; c = c.NextSibling {
			stack = append(stack, item{c, it.d + 1})
		}
	}
	return depth, parts
}

// TestMIMEBombDepth: a 6,000-level nested multipart is cut at MaxDepth
// before the MIME parser sees it (whose cost grows with depth × size), and
// the mail still becomes a ticket with its text and a note.
func TestMIMEBombDepth(t *testing.T) {
	raw := nested(6000)
	n := normalize(raw, budget{depth: MaxDepth, parts: MaxParts})
	root, err := newParser().ReadParts(bytes.NewReader(n.raw))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := treeDepth(root); d > MaxDepth+1 {
		t.Fatalf("the parser nests %d levels (limit %d)", d, MaxDepth)
	}
	if !n.truncated {
		t.Error("not marked truncated")
	}
	m := Parse(raw)
	if !m.Truncated || !strings.Contains(m.Text, "Top text survives.") || !strings.Contains(m.Text, "nests more than 32 levels") {
		t.Errorf("truncated %v text %q", m.Truncated, m.Text)
	}
	if len(m.Errors) == 0 {
		t.Error("no parse error recorded")
	}
	// Below the limit nothing is dropped.
	m = Parse(nested(MaxDepth))
	if m.Truncated || !strings.Contains(m.Text, "deepest") {
		t.Errorf("depth %d: truncated %v text %q errors %q", MaxDepth, m.Truncated, m.Text, m.Errors)
	}
}

// TestMIMEBombParts: a message with thousands of parts keeps MaxParts.
func TestMIMEBombParts(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n")
	b.WriteString("--p\r\nContent-Type: text/plain\r\n\r\nFirst part text.\r\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "--p\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f%d.bin\"\r\n\r\nx\r\n", i)
	}
	b.WriteString("--p--\r\n")
	n := normalize(b.Bytes(), budget{depth: MaxDepth, parts: MaxParts})
	root, err := newParser().ReadParts(bytes.NewReader(n.raw))
	if err != nil {
		t.Fatal(err)
	}
	// The root, MaxParts parts and the empty part that stands for the rest.
	if _, parts := treeDepth(root); parts > MaxParts+2 {
		t.Fatalf("the parser read %d parts (limit %d)", parts, MaxParts)
	}
	m := Parse(b.Bytes())
	if !m.Truncated || len(m.Attachments) > MaxParts || !strings.Contains(m.Text, "First part text.") || !strings.Contains(m.Text, "more than 500 parts") {
		t.Errorf("truncated %v, %d files, text %q", m.Truncated, len(m.Attachments), m.Text)
	}
}

// Forwarded messages nested in each other are shown down to
// maxForwardLevel and share the part budget.
func TestForwardNesting(t *testing.T) {
	msg := "From: z@example.com\r\nSubject: level 0\r\nContent-Type: text/plain\r\n\r\ninnermost words\r\n"
	for i := 1; i <= 50; i++ {
		msg = fmt.Sprintf("From: a%d@example.com\r\nSubject: level %d\r\nContent-Type: multipart/mixed; boundary=\"f%d\"\r\n\r\n--f%d\r\nContent-Type: text/plain\r\n\r\nlevel %d text\r\n--f%d\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--f%d--\r\n", i, i, i, i, i, i, msg, i)
	}
	m := Parse([]byte(msg))
	if !strings.Contains(m.Text, "level 50 text") || !strings.Contains(m.Text, "level 47 text") || strings.Contains(m.Text, "level 46 text") {
		t.Errorf("text %q", m.Text)
	}
}

// The structure pass and the MIME parser read the same Content-Type (the
// first): a second, harmless one cannot hide a nesting bomb.
func TestMIMEBombDuplicateContentType(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\nContent-Type: text/plain\r\n\r\n")
	for i := 1; i < 3000; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\nContent-Type: text/plain\r\n\r\n", i-1, i)
	}
	n := normalize(b.Bytes(), budget{depth: MaxDepth, parts: MaxParts})
	root, err := newParser().ReadParts(bytes.NewReader(n.raw))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := treeDepth(root); d > MaxDepth+1 {
		t.Fatalf("the parser nests %d levels (limit %d)", d, MaxDepth)
	}
}

// BenchmarkParseMIMEBomb measures a 6,000-level nested message (about
// 400 KB), which took the unbounded parser minutes.
func BenchmarkParseMIMEBomb(b *testing.B) {
	raw := nested(6000)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		Parse(raw)
	}
}

// Multiparts left open, by the end of the message or by an outer
// boundary, are closed before the MIME parser reads them (its time grows
// exponentially with open nested multiparts).
func TestMIMEBombUnclosed(t *testing.T) {
	for _, closeOuter := range []bool{false, true} {
		var b bytes.Buffer
		b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
		for i := 1; i < MaxDepth; i++ {
			fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
		}
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\ninner text\r\n", MaxDepth-1)
		if closeOuter {
			b.WriteString("--b0--\r\n")
		}
		n := normalize(b.Bytes(), budget{depth: MaxDepth, parts: MaxParts})
		if got := bytes.Count(n.raw, []byte("--\r\n")); got != MaxDepth {
			t.Fatalf("closeOuter=%v: %d terminators, want %d:\n%s", closeOuter, got, MaxDepth, n.raw)
		}
		m := Parse(b.Bytes())
		if !strings.Contains(m.Text, "inner text") || len(m.Errors) == 0 {
			t.Errorf("closeOuter=%v: text %q errors %q", closeOuter, m.Text, m.Errors)
		}
	}
}

// A nested multipart that reuses its parent's boundary is read as text
// (its lines are the parent's), and a message broken in hundreds of ways
// keeps a readable list of errors.
func TestBoundaryReuseAndErrorCap(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "--X\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\nno blank line %d\r\n", i)
	}
	b.WriteString("--X\r\nContent-Type: text/plain\r\n\r\nthe actual question\r\n--X--\r\n")
	m := Parse(b.Bytes())
	if !strings.Contains(m.Text, "the actual question") || !strings.Contains(m.Text, "no blank line 299") {
		t.Errorf("text %q", m.Text)
	}
	if len(m.Errors) != maxErrors+1 || !strings.HasPrefix(m.Errors[maxErrors], "… and ") {
		t.Errorf("%d errors: %q", len(m.Errors), m.Errors)
	}
}

// Encoded words whose bytes are not valid in their charset still give
// valid UTF-8 (the file name and subject are stored and shown as text).
func TestHeaderInvalidBytes(t *testing.T) {
	for _, v := range []string{"=?utf-8?q?caf=E9?=", "=?us-ascii?q?=FF=FE?=", "attachment; filename=\"=?utf-8?b?/w==?=\""} {
		if s := decodeHeader(v); !utf8.ValidString(s) {
			t.Errorf("decodeHeader(%q) = %q", v, s)
		}
		if s := headerParam(v, "filename"); !utf8.ValidString(s) {
			t.Errorf("headerParam(%q) = %q", v, s)
		}
	}
}

// A short named text file sent inline is shown in the body (as mail
// programs show it) and kept as a file; a long one (a log) is only a file.
func TestInlineTextFile(t *testing.T) {
	for _, c := range []struct {
		size   int
		inBody bool
	}{{100, true}, {maxInlineTextFile + 1, false}} {
		content := strings.Repeat("log line\n", c.size/9+1)[:c.size]
		raw := crlf("From: a@example.com\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nSee the log.\n--b\n" +
			"Content-Type: text/plain; name=\"server.log\"\nContent-Disposition: inline; filename=\"server.log\"\n\n" + content + "\n--b--\n")
		m := Parse(raw)
		if strings.Contains(m.Text, "log line") != c.inBody || !strings.Contains(m.Text, "See the log.") {
			t.Errorf("%d bytes: in body %v, want %v", c.size, strings.Contains(m.Text, "log line"), c.inBody)
		}
		if len(m.Attachments) != 1 || m.Attachments[0].Filename != "server.log" {
			t.Errorf("%d bytes: files %+v", c.size, m.Attachments)
		}
	}
}

// A plain and an HTML version of one text sent side by side in
// multipart/mixed (instead of alternative) are shown once.
func TestMixedPlainAndHTMLShownOnce(t *testing.T) {
	m := Parse(crlf("From: a@example.com\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nThe scanner is offline.\n" +
		"--b\nContent-Type: text/html\n\n<p>The <b>scanner</b> is offline.</p>\n--b--\n"))
	if m.Text != "The scanner is offline." || !strings.Contains(m.HTML, "<b>scanner</b>") {
		t.Errorf("text %q html %q", m.Text, m.HTML)
	}
}

// An encrypted message has no readable text: parse_errors says why the
// body is empty, and the encrypted content is kept.
func TestEncryptedMessageSaysWhy(t *testing.T) {
	for _, raw := range [][]byte{
		crlf("From: a@example.com\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\n\n" +
			"--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--e\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\n\n-----BEGIN PGP MESSAGE-----\nhQEMA\n-----END PGP MESSAGE-----\n--e--\n"),
		crlf("From: a@example.com\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\nContent-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\n"),
	} {
		m := Parse(raw)
		if len(m.Attachments) == 0 || len(m.Errors) == 0 || !strings.Contains(strings.Join(m.Errors, ";"), "encrypted") {
			t.Errorf("files %d errors %q", len(m.Attachments), m.Errors)
		}
	}
}

// Text labelled base64 that happens to use only base64 letters is still
// recognised as text when its decoding is binary.
func TestTextLabelledBase64WithoutSpaces(t *testing.T) {
	m := Parse(crlf("From: a@example.com\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nThanks\n"))
	if m.Text != "Thanks" || len(m.Errors) == 0 {
		t.Errorf("text %q errors %q", m.Text, m.Errors)
	}
	// Real base64 text is decoded.
	m = Parse(crlf("From: a@example.com\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nVGhhbmtz\n"))
	if m.Text != "Thanks" || len(m.Errors) != 0 {
		t.Errorf("text %q errors %q", m.Text, m.Errors)
	}
}
