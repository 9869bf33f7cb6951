package mailparse

import (
	"encoding/base64"
	"strings"
	"testing"
)

func benchMessage() []byte {
	quoted := strings.Repeat("> earlier text of the thread, quoted by the mail program\n", 40)
	pdf := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("%PDF-1.4 data ", 7000)))
	var lines []string
	for len(pdf) > 76 {
		lines = append(lines, pdf[:76])
		pdf = pdf[76:]
	}
	lines = append(lines, pdf)
	return crlf(`From: "Ann Example" <ann@example.com>
To: support@acme.test
Subject: Re: VPN is down [#42]
Date: Mon, 02 Jan 2006 15:04:05 +0000
Message-ID: <bench@example.com>
In-Reply-To: <pb.42.1@acme.test>
References: <root@example.com> <pb.42.1@acme.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8

Thanks, it works again.

On Mon, 2 Jan 2006 at 15:04, Support <support@acme.test> wrote:
` + quoted + `
--b2
Content-Type: text/html; charset=utf-8

<p>Thanks, it works again.</p><blockquote>` + strings.Repeat("<p>earlier text</p>", 40) + `</blockquote>
--b2--
--b1
Content-Type: application/pdf
Content-Disposition: attachment; filename="log.pdf"
Content-Transfer-Encoding: base64

` + strings.Join(lines, "\n") + `
--b1--
`)
}

// BenchmarkParse parses a typical reply: text and HTML alternatives with
// quoted history and a ~100 KB PDF.
func BenchmarkParse(b *testing.B) {
	raw := benchMessage()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if m := Parse(raw); m.Text != "Thanks, it works again." {
			b.Fatalf("text %q", m.Text)
		}
	}
}

// BenchmarkStripQuoted strips a long quoted history.
func BenchmarkStripQuoted(b *testing.B) {
	text := "Thanks!\n\nOn Mon, 2 Jan 2006, Support <s@acme.test> wrote:\n" + strings.Repeat("> quoted line of earlier text\n", 500)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		StripQuoted(text)
	}
}
