package emailchan

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/email/internal/mailparse"
)

// enmimeTestdata returns the testdata directory of the enmime module this
// build uses, found in the module cache with `go list -m -json`.
func enmimeTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", "github.com/jhillyerd/enmime/v2").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/jhillyerd/enmime/v2: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("no module directory for enmime in %s (%v); run go mod download", out, err)
	}
	return filepath.Join(mod.Dir, "testdata")
}

var (
	boundaryParamRE = regexp.MustCompile(`(?i)boundary\s*=\s*"?([^";\r\n]+)`)
	mimeHeaderRE    = regexp.MustCompile(`(?im)^(content-type|content-transfer-encoding|content-disposition|mime-version)\s*:`)
	htmlTagRE       = regexp.MustCompile(`(?i)<(html|head|body|div|p|br|font|span|table|meta)(\s[^>]*)?/?>`)
	base64RunRE     = regexp.MustCompile(`(?m)^[A-Za-z0-9+/]{60,}={0,2}$`)
)

// TestCorpusEnmimeTestdata delivers every message of the MIME parser's
// own test suite (Apple Mail, Gmail, Outlook, broken MIME, charsets…, and
// what its builder writes) through the channel's inbound path and checks
// what an agent sees: the text the sender wrote is in the comment body, no
// MIME syntax (boundaries, part headers, base64, HTML tags) nor binary
// is, and a message that needed repair says so in parse_errors.
func TestCorpusEnmimeTestdata(t *testing.T) {
	dir := enmimeTestdata(t)
	// The visible text of each message (a phrase of it), "" for a message
	// without text (only files, or only a header).
	want := map[string]string{
		"encode/parser-raw-content-html-option.raw":         "My first paragraph éà.",
		"encode/parser-raw-content-text-option.raw":         "添付ファイル名テスト",
		"low-quality/bad-final-boundary.raw":                "A text section",
		"low-quality/bad-header-start.raw":                  "A text section",
		"low-quality/bad-header-wrap.raw":                   "A text section",
		"low-quality/empty-header.raw":                      "A text section",
		"low-quality/html-only-inline.raw":                  "Test of HTML section",
		"low-quality/incorrect-charset.raw":                 "Mathematics and sciences:",
		"low-quality/malformed-base64-attach.raw":           "A text section",
		"low-quality/missing-content-type.raw":              "A plain text email",
		"low-quality/missing-content-type2.raw":             "A text section",
		"low-quality/unk-charset-html-only.raw":             "Hello World!",
		"low-quality/unk-charset-part.raw":                  "A text section",
		"low-quality/unk-encoding-part.raw":                 "A text section",
		"mail/attachment-application.raw":                   "A text section",
		"mail/attachment-octet.raw":                         "A text section",
		"mail/attachment-only-inline-quoted-printable.raw":  "Just some html content",
		"mail/attachment-only-inline.raw":                   "",
		"mail/attachment-only-no-disposition.raw":           "",
		"mail/attachment-only-text-attachment.raw":          "",
		"mail/attachment-only.raw":                          "",
		"mail/attachment.raw":                               "A text section",
		"mail/ctype-bug.raw":                                "Head over to the Quick Start",
		"mail/epilogue-sample.raw":                          "A text section",
		"mail/erroneous.raw":                                "Not an RFC-822 Document",
		"mail/header-only.raw":                              "",
		"mail/html-mime-bad-charset-inline.raw":             "Test of text section",
		"mail/html-mime-bad-unknown-charset-inline.raw":     "Test of text section",
		"mail/html-mime-inline.raw":                         "Test of text section",
		"mail/html-only-inline.raw":                         "Test of HTML section",
		"mail/inlinemultipart.raw":                          "Simple text.\n\nText attachment.",
		"mail/malformed-multiple-address-header-values.raw": "Simple text.",
		"mail/mime-alternative.raw":                         "Section one",
		"mail/mime-bad-8bit-filename.raw":                   "Text part",
		"mail/mime-bad-content-transfer-encoding.raw":       "ploozdect  nispplul",
		"mail/mime-bad-content-type.raw":                    "Thank you for booking with easyHotel.",
		"mail/mime-blank-media-name.raw":                    "Thank you for booking with easyHotel.",
		"mail/mime-duplicate-param.raw":                     "Thank you for booking with easyHotel.",
		"mail/mime-mixed-related.raw":                       "html1\n\nhtml2",
		"mail/mime-mixed.raw":                               "Section one\n\nSection two",
		"mail/mime-signed.raw":                              "Section one\n\nSection two",
		"mail/mime-unquoted-tspecials-param.raw":            "Thank you for booking with easyHotel.",
		"mail/multipart-wo-boundary.raw":                    "multipart message without boundary",
		"mail/non-mime-html-charset-header-only.raw":        "Test Müller",
		"mail/non-mime-html.raw":                            "This is *a* *test* mailing",
		"mail/non-mime-missing-charset.raw":                 "Unencoded Euro Sign: Â€", // windows-1250 per its <meta>
		"mail/non-mime.raw":                                 "This is a test mailing",
		"mail/other-multi-related.raw":                      "Plain text.",
		"mail/other-parts.raw":                              "A text section",
		"mail/qp-ascii-header.raw":                          "This is a test mailing",
		"mail/qp-utf8-header-no-break.raw":                  "Lorem ipsum dolor sit amet",
		"mail/qp-utf8-header-recursed.raw":                  "Lorem ipsum dolor sit amet",
		"mail/qp-utf8-header.raw":                           "Lorem ipsum dolor sit amet",
		"mail/quoted-printable-mime.raw":                    "Lorem ipsum dolor sit amet",
		"mail/quoted-printable.raw":                         "Lorem ipsum dolor sit amet",
		"mail/unknown-part-type.raw":                        "A text section",
		"parts/badboundary.raw":                             "A text section",
		"parts/barren-content-type.raw":                     "",
		"parts/bin-attach.raw":                              "A text section",
		"parts/chardet-detection.raw":                       "Nachricht:\nöoöo",
		"parts/chardet-fail-non-txt.raw":                    "",
		"parts/chardet-fail-not-long-enough.raw":            "和弟弟",
		"parts/chardet-fail.raw":                            "",
		"parts/chardet-success-big-5.raw":                   "顏是家訓",
		"parts/chardet-success-iso-8859-1.raw":              "DIE Drachenköpfe unserer Boote",
		"parts/ctype-invalid-characters.raw":                "Test of text/plain section with invalid content type",
		"parts/empty-ctype-bad-content.raw":                 "Please do not reply to this e-mail message.",
		"parts/empty-header.raw":                            "A text section",
		"parts/extra-base64-character.raw":                  "Hello World!",
		"parts/header-only.raw":                             "",
		"parts/html-with-boundary.raw":                      "An HTML section",
		"parts/malformed-content-type-params.raw":           "",
		"parts/missing-closing-param-quote.raw":             "",
		"parts/missing-ctype-root.raw":                      "content type defaults to text/plain at the root",
		"parts/missing-ctype.raw":                           "A text section",
		"parts/multi-malformed.raw":                         "Section one\n\nI'm section without headers\n\nSection two",
		"parts/multialtern.raw":                             "A text section",
		"parts/multibase64.raw":                             "A text section",
		"parts/multimixed-no-closing-boundary.raw":          "Hello,",
		"parts/multimixed.raw":                              "Section one\n\nSection two",
		"parts/multiother.raw":                              "Section one\n\nSection two",
		"parts/nestedmulti.raw":                             "A text section",
		"parts/quoted-printable-invalid.raw":                "Hope you had a good weekend!",
		"parts/quoted-printable.raw":                        "Start=ABC=Finish",
		"parts/similar-boundary.raw":                        "Section one\n\nA text section",
		"parts/textplain.raw":                               "Test of text/plain section",
		"parts/unquoted-ctype-param-special.raw":            "",
		// What enmime's own builder writes.
		"encode/build-qp-addr-headers.golden":                    "",
		"encode/nocontent-with-children.golden":                  "Plain text part",
		"encode/parser-raw-content-html-option-false.raw.golden": "My first paragraph éà.",
		"encode/parser-raw-content-html-option-true.raw.golden":  "My first paragraph éà.",
		"encode/parser-raw-content-text-option-false.raw.golden": "添付ファイル名テスト",
		"encode/parser-raw-content-text-option-true.raw.golden":  "添付ファイル名テスト",
		"encode/part-bin-content.golden":                         "",
		"encode/part-bin-header.golden":                          "This is a test of a plain text part.\n\nAnother line.",
		"encode/part-content-only-qp.golden":                     "☆ No header, only content.",
		"encode/part-content-only.golden":                        "No header, only content.",
		"encode/part-default-headers.golden":                     "",
		"encode/part-empty.golden":                               "",
		"encode/part-file-mod-date.golden":                       "¡Hola, señor! Welcome to MIME",
		"encode/part-header-only-default-encoding.golden":        "",
		"encode/part-header-only.golden":                         "",
		"encode/part-message-rfc822.golden":                      "",
		"encode/part-plain.golden":                               "This is a test of a plain text part.",
		"encode/part-quotable-content.golden":                    "Hello=",
		"encode/part-quoted-content.golden":                      "¡Hola, señor! Welcome to MIME",
		"encode/part-quoted-headers.golden":                      "",
		"encode/part-quoted-printable-headers.golden":            "",
		"encode/part-with-children.golden":                       "Plain text part",
		"encode/utf8-to.raw.golden":                              "This is a test mailing",
	}
	// Messages that needed repair: parse_errors must say so.
	repaired := map[string]bool{
		"low-quality/bad-final-boundary.raw": true, "low-quality/bad-header-start.raw": true,
		"low-quality/bad-header-wrap.raw": true, "low-quality/malformed-base64-attach.raw": true,
		"low-quality/unk-encoding-part.raw": true, "mail/erroneous.raw": true,
		"mail/mime-bad-content-transfer-encoding.raw": true, "mail/multipart-wo-boundary.raw": true,
		"mail/header-only.raw": true, "mail/qp-utf8-header-no-break.raw": true,
		"parts/badboundary.raw": true, "parts/extra-base64-character.raw": true, "parts/multi-malformed.raw": true,
		"parts/multimixed-no-closing-boundary.raw": true, "parts/quoted-printable-invalid.raw": true,
		"parts/ctype-invalid-characters.raw": true, "parts/empty-ctype-bad-content.raw": true,
		"parts/chardet-success-big-5.raw": true, "parts/chardet-success-iso-8859-1.raw": true,
		"parts/html-with-boundary.raw": true,
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.raw"))
	goldens, _ := filepath.Glob(filepath.Join(dir, "encode", "*.golden"))
	files = append(files, goldens...)
	if err != nil || len(files) < 100 {
		t.Fatalf("enmime testdata: %d messages in %s (%v)", len(files), dir, err)
	}
	inst := &instance{cfg: &config{Address: "support@acme.test", Domain: "acme.test"}, signer: testSigner(t), ids: newMsgIDSigner("acme.test", []byte(testSecret))}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			phrase, ok := want[name]
			if !ok {
				t.Fatalf("%s is new in the parser's test data: add its visible text to this table", name)
			}
			msg := buildInbound(inst, mailparse.Parse(raw), raw, envelope{Via: "smtp", MailFrom: "ann@example.com"})
			if !strings.Contains(msg.Text, phrase) {
				t.Errorf("comment body lacks %q:\n%s", phrase, msg.Text)
			}
			if phrase == "" && strings.TrimSpace(msg.Text) != "" && !strings.Contains(name, "erroneous") {
				t.Errorf("comment body of a message without text: %q", msg.Text)
			}
			for _, b := range boundaryParamRE.FindAllStringSubmatch(string(raw), -1) {
				if strings.Contains(msg.Text, "--"+strings.TrimSpace(b[1])) {
					t.Errorf("boundary %q shows in the body:\n%s", b[1], msg.Text)
				}
			}
			if l := mimeHeaderRE.FindString(msg.Text); l != "" {
				t.Errorf("MIME header %q shows in the body:\n%s", l, msg.Text)
			}
			if tag := htmlTagRE.FindString(msg.Text); tag != "" {
				t.Errorf("HTML tag %q shows in the body:\n%s", tag, msg.Text)
			}
			if i := strings.IndexFunc(msg.Text, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }); i >= 0 {
				t.Errorf("control character %q in the body (binary shown as text)", msg.Text[i])
			}
			if b := base64RunRE.FindString(msg.Text); b != "" {
				t.Errorf("base64 shows in the body: %q", b)
			}
			if repaired[name] && msg.Metadata["parse_errors"] == "" {
				t.Errorf("repaired message without parse_errors")
			}
			if msg.Subject != "" && strings.HasPrefix(msg.Subject, "--") {
				t.Errorf("subject %q", msg.Subject)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s is no longer in the parser's test data", name)
		}
	}
}
