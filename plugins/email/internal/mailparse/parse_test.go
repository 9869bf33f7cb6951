package mailparse

import (
	"bytes"
	"encoding/base64"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func mustEncode(t *testing.T, enc interface{ Bytes([]byte) ([]byte, error) }, s string) []byte {
	t.Helper()
	b, err := enc.Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePlain(t *testing.T) {
	m := Parse(crlf(`From: "Ann Example" <Ann@Example.COM>
To: Support <support@acme.test>, other@acme.test
Cc: boss@example.com
Subject: =?utf-8?q?VPN_is_down_=E2=9C=88?=
Date: Mon, 02 Jan 2006 15:04:05 -0700
Message-ID: <abc.123@example.com>
Content-Type: text/plain; charset=utf-8

Hello,
the VPN is down.

-- 
Ann
`))
	if m.MessageID != "abc.123@example.com" || m.ID != m.MessageID || m.ThreadRoot != m.ID {
		t.Errorf("ids: %q %q %q", m.MessageID, m.ID, m.ThreadRoot)
	}
	if m.FromName != "Ann Example" || m.FromAddress != "ann@example.com" {
		t.Errorf("from: %q %q", m.FromName, m.FromAddress)
	}
	if m.Subject != "VPN is down ✈" {
		t.Errorf("subject: %q", m.Subject)
	}
	if want := []string{"support@acme.test", "other@acme.test", "boss@example.com"}; !reflect.DeepEqual(m.Recipients, want) {
		t.Errorf("recipients: %q", m.Recipients)
	}
	if m.Text != "Hello,\nthe VPN is down." {
		t.Errorf("text: %q", m.Text)
	}
	if !strings.Contains(m.FullText, "-- \nAnn") {
		t.Errorf("full text lost the signature: %q", m.FullText)
	}
	if m.Date.IsZero() || m.Date.UTC().Hour() != 22 {
		t.Errorf("date: %v", m.Date)
	}
	if len(m.Errors) != 0 {
		t.Errorf("errors: %q", m.Errors)
	}
}

func TestParseThreading(t *testing.T) {
	m := Parse(crlf(`From: ann@example.com
Subject: Re: VPN
Message-ID: <r2@example.com>
In-Reply-To: <pb.1@acme.test>
References: <root@example.com>
 <pb.1@acme.test>

thanks
`))
	if m.ThreadRoot != "root@example.com" {
		t.Errorf("root = %q", m.ThreadRoot)
	}
	if want := []string{"pb.1@acme.test", "root@example.com"}; !reflect.DeepEqual(m.ReplyTo(), want) {
		t.Errorf("ReplyTo = %q, want %q", m.ReplyTo(), want)
	}
	m = Parse(crlf("From: a@b.test\nIn-Reply-To: <p@b.test>\n\nx\n"))
	if m.ThreadRoot != "p@b.test" {
		t.Errorf("root from In-Reply-To = %q", m.ThreadRoot)
	}
}

func TestHashIDStable(t *testing.T) {
	base := "From: ann@example.com\nTo: support@acme.test\nSubject: no id\n\nbody line\n"
	a := Parse(crlf(base))
	if !strings.HasPrefix(a.ID, HashIDPrefix) || a.MessageID != "" {
		t.Fatalf("ID = %q", a.ID)
	}
	variants := map[string]string{
		"LF line endings":        base,
		"relayed again":          "Received: from mx.example.com by mx2\n\tid 1\nReturn-Path: <ann@example.com>\n" + base,
		"delivered-to added":     "Delivered-To: support@acme.test\n" + base,
		"trailing blank lines":   base + "\n\n",
		"refolded subject field": strings.Replace(base, "Subject: no id", "Subject: no\n id", 1),
	}
	for name, v := range variants {
		raw := crlf(v)
		if name == "LF line endings" {
			raw = []byte(v)
		}
		if got := Parse(raw).ID; got != a.ID {
			t.Errorf("%s: ID %q != %q", name, got, a.ID)
		}
	}
	if other := Parse(crlf(strings.Replace(base, "body line", "another body", 1))).ID; other == a.ID {
		t.Error("different bodies share a hash id")
	}
}

func TestParseHTMLOnly(t *testing.T) {
	m := Parse(crlf(`From: ann@example.com
Subject: html
Content-Type: text/html; charset=utf-8

<html><body><p>Hello <b>team</b>,</p><p>the printer is <i>on fire</i>.</p></body></html>
`))
	if !strings.Contains(m.HTML, "<b>team</b>") {
		t.Errorf("HTML not kept: %q", m.HTML)
	}
	if !strings.Contains(m.Text, "Hello *team*") || !strings.Contains(m.Text, "the printer is on fire.") || strings.Contains(m.Text, "<") {
		t.Errorf("text from HTML: %q", m.Text)
	}
}

func TestParseCharsets(t *testing.T) {
	latin1Body := mustEncode(t, charmap.ISO8859_1.NewEncoder(), "Grüße aus Köln, ça va?")
	sjisBody := mustEncode(t, japanese.ShiftJIS.NewEncoder(), "プリンターが動きません。")
	jisSubject := mustEncode(t, japanese.ISO2022JP.NewEncoder(), "印刷できない")
	cases := []struct {
		name        string
		raw         []byte
		wantSubject string
		wantText    string
	}{
		{
			name: "ISO-8859-1 quoted-printable",
			raw: append(crlf("From: =?iso-8859-1?q?J=FCrgen?= <j@example.de>\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"),
				latin1Body...),
			wantSubject: "Grüße",
			wantText:    "Grüße aus Köln, ça va?",
		},
		{
			name: "Shift_JIS body, ISO-2022-JP subject",
			raw: append(crlf("From: taro@example.jp\nSubject: =?ISO-2022-JP?B?"+base64.StdEncoding.EncodeToString(jisSubject)+"?=\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: base64\n\n"),
				crlf(base64.StdEncoding.EncodeToString(sjisBody)+"\n")...),
			wantSubject: "印刷できない",
			wantText:    "プリンターが動きません。",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Parse(c.raw)
			if m.Subject != c.wantSubject {
				t.Errorf("subject = %q, want %q", m.Subject, c.wantSubject)
			}
			if m.Text != c.wantText {
				t.Errorf("text = %q, want %q", m.Text, c.wantText)
			}
		})
	}
	if m := Parse(cases[0].raw); m.FromName != "Jürgen" {
		t.Errorf("encoded display name = %q", m.FromName)
	}
}

func TestParseAttachments(t *testing.T) {
	pdf := []byte("%PDF-1.4 fake")
	raw := crlf(`From: ann@example.com
Subject: files
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

see attached
--b1
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="../../etc/report.pdf"
Content-Transfer-Encoding: base64

` + base64.StdEncoding.EncodeToString(pdf) + `
--b1
Content-Type: image/png
Content-Disposition: inline
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b1--
`)
	m := Parse(raw)
	if m.Text != "see attached" {
		t.Errorf("text = %q", m.Text)
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	if a := m.Attachments[0]; a.Filename != "report.pdf" || a.ContentType != "application/pdf" || !bytes.Equal(a.Data, pdf) || a.Inline {
		t.Errorf("pdf = %+v", a)
	}
	if a := m.Attachments[1]; a.Filename != "attachment-2.png" || !a.Inline {
		t.Errorf("inline image = %+v", a)
	}
}

func TestParseMalformedKeepsContent(t *testing.T) {
	cases := []struct {
		name     string
		raw      []byte
		wantText string
		wantFrom string
	}{
		{"no header", []byte("just some text\nwithout any header\n"), "just some text\nwithout any header", ""},
		{"broken boundary", crlf("From: ann@example.com\nContent-Type: multipart/mixed\n\nbody without boundary\n"), "body without boundary", "ann@example.com"},
		{"invalid utf-8", crlf("From: ann@example.com\nSubject: \xff\xfe\n\nbad \xff bytes\n"), "bad ÿ bytes", "ann@example.com"}, // undeclared 8-bit text is read as Latin-1
		{"broken from", crlf("From: Ann <ann@example.com\nSubject: x\n\nhello\n"), "hello", "ann@example.com"},
		{"empty", nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Parse(c.raw)
			if m.Text != c.wantText || m.FromAddress != c.wantFrom {
				t.Errorf("text %q from %q; want %q %q (errors %q)", m.Text, m.FromAddress, c.wantText, c.wantFrom, m.Errors)
			}
			if m.ID == "" || m.ThreadRoot == "" {
				t.Errorf("no id: %+v", m)
			}
		})
	}
}

func TestDetectAuto(t *testing.T) {
	cases := []struct {
		name   string
		header map[string]string
		null   bool
		want   bool
	}{
		{"plain", map[string]string{"From": "a@b.test"}, false, false},
		{"auto-submitted no", map[string]string{"Auto-Submitted": "no"}, false, false},
		{"auto-replied", map[string]string{"Auto-Submitted": "auto-replied"}, false, true},
		{"auto-generated with params", map[string]string{"Auto-Submitted": "Auto-Generated; owner-email=x@y"}, false, true},
		{"null sender", nil, true, true},
		{"return-path null", map[string]string{"Return-Path": "<>"}, false, true},
		{"precedence bulk", map[string]string{"Precedence": "bulk"}, false, true},
		{"precedence junk", map[string]string{"Precedence": "Junk"}, false, true},
		{"precedence list", map[string]string{"Precedence": "list"}, false, true},
		{"precedence normal", map[string]string{"Precedence": "first-class"}, false, false},
		{"list-id", map[string]string{"List-Id": "<news.example.com>"}, false, true},
		{"x-autoreply", map[string]string{"X-Autoreply": "yes"}, false, true},
		{"bounce report", map[string]string{"Content-Type": "multipart/report; report-type=delivery-status"}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := textproto.MIMEHeader{}
			for k, v := range c.header {
				h.Set(k, v)
			}
			got, reason := DetectAuto(h, c.null)
			if got != c.want || (got && reason == "") {
				t.Errorf("DetectAuto = %v %q, want %v", got, reason, c.want)
			}
		})
	}
}

func TestParseMsgIDs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"<a@b>", []string{"a@b"}},
		{" <a@b> <c@d>\r\n <a@b>", []string{"a@b", "c@d"}},
		{"a@b, c@d", []string{"a@b", "c@d"}},
		{"<a@b> (comment) <c d@e>", []string{"a@b"}},
		{"", nil},
		{"<unterminated", nil},
	}
	for _, c := range cases {
		if got := ParseMsgIDs(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseMsgIDs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	var long strings.Builder
	for i := 0; i < 200; i++ {
		long.WriteString("<id" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + "." + string(rune('0'+i%10)) + "@" + string(rune('a'+i/26)) + ">")
	}
	ids := ParseMsgIDs(long.String())
	if len(ids) > maxIDsPerHeader || ids[0] != "ida.0@a" {
		t.Errorf("long References: %d ids, first %q", len(ids), ids[0])
	}
}

func TestIsMsgID(t *testing.T) {
	for id, want := range map[string]bool{
		"a@b": true, "pb.1.2@acme.test": true, "": false, "nodomain": false, "a@": false,
		"@b": false, "a b@c": false, HashIDPrefix + "abc": false, "a\"@b": false,
	} {
		if IsMsgID(id) != want {
			t.Errorf("IsMsgID(%q) != %v", id, want)
		}
	}
}

func TestSubject(t *testing.T) {
	for _, c := range []struct {
		in     string
		ticket uint64
		clean  string
	}{
		{"Re: VPN down [#42]", 42, "VPN down"},
		{"RE: AW: Fwd: VPN [#7] down [#42]", 42, "VPN down"},
		{"Re[2]: Printer", 0, "Printer"},
		{"[#0]", 0, ""},
		{"Renewal of contract", 0, "Renewal of contract"},
		{"[#99999999999999999999999]", 0, "[#99999999999999999999999]"},
		{"Ｒｅ：", 0, "Ｒｅ："},
	} {
		if got := SubjectTicket(c.in); got != c.ticket {
			t.Errorf("SubjectTicket(%q) = %d, want %d", c.in, got, c.ticket)
		}
		if got := CleanSubject(c.in); got != c.clean {
			t.Errorf("CleanSubject(%q) = %q, want %q", c.in, got, c.clean)
		}
	}
}

// An HTML-only reply (Gmail's markup) is converted to text, then its quoted
// history stripped; the HTML itself stays whole.
func TestParseHTMLReplyStripsQuote(t *testing.T) {
	m := Parse(crlf("From: a@b.test\nContent-Type: text/html; charset=utf-8\n\n" +
		`<div dir="ltr">Thanks, works now.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">` +
		`On Mon, Jan 2, 2006 at 3:04 PM Support &lt;support@acme.test&gt; wrote:<br></div>` +
		`<blockquote class="gmail_quote"><div>Please restart.</div></blockquote></div>` + "\n"))
	if m.Text != "Thanks, works now." {
		t.Errorf("text %q", m.Text)
	}
	if !strings.Contains(m.FullText, "Please restart.") || !strings.Contains(m.HTML, "<blockquote") {
		t.Errorf("full text %q / html %q lost the history", m.FullText, m.HTML)
	}
}
