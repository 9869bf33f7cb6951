// Package mailparse turns a raw RFC 5322 message into the parts Patchbay
// needs: ids for dedupe and threading, the author, the subject, display and
// full text, HTML, attachments and the RFC 3834 automatic-mail verdict. It
// never fails: a message it cannot make sense of is still returned, with
// its body as text and the reason in Errors, so that no mail is lost.
package mailparse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/textproto"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/inbucket/html2text"
	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
)

// Message is one parsed mail.
type Message struct {
	// MessageID is the Message-ID without angle brackets; empty when the
	// message had none (or an unusable one).
	MessageID string
	// ID is MessageID, or HashID(raw) when there is none: the dedupe key.
	ID string
	// InReplyTo and References are the threading ids, without brackets.
	InReplyTo  []string
	References []string
	// ThreadRoot is the id of the first message of the thread: the first
	// References id, else the first In-Reply-To id, else ID.
	ThreadRoot string
	// FromName and FromAddress (lower-cased) come from the From header;
	// both are empty when it is missing or unparsable.
	FromName    string
	FromAddress string
	// Recipients are the lower-cased addresses of To, Cc, Delivered-To and
	// X-Original-To, in that order, without duplicates.
	Recipients []string
	Subject    string
	// Text is for display: quoted history and signature stripped.
	Text string
	// FullText is the whole plain-text body (HTML converted when the mail
	// had no text part).
	FullText string
	HTML     string
	// Date is the Date header; zero when missing or invalid.
	Date        time.Time
	Attachments []Attachment
	// Header is the top-level header as received (values not decoded).
	Header textproto.MIMEHeader
	// Errors lists what was wrong with the message and how it was read
	// (malformed MIME, a guessed charset, dropped parts…); the message is
	// still usable.
	Errors []string
	// Truncated reports that parts were dropped because the message
	// nests deeper than MaxDepth or has more than MaxParts parts.
	Truncated bool
}

// Attachment is one file of a message, decoded.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
	Inline      bool
}

// maxInlineTextFile is the largest named text file shown in the body
// when it is sent inline (a short note.txt, as mail programs show it); a
// larger one (a log) is only kept as a file.
const maxInlineTextFile = 16 << 10

// maxForwardLevel is how many levels of forwarded messages
// (message/rfc822 inside message/rfc822…) are shown inline; deeper ones
// are kept only as .eml files.
const maxForwardLevel = 3

// Parse parses a raw message. It never fails.
func Parse(raw []byte) *Message {
	left := MaxParts
	return parse(raw, MaxDepth, &left, 0)
}

// parse reads one message; depth is the multipart nesting it may use,
// parts the number of parts left for it and the messages forwarded in it.
func parse(raw []byte, depth int, parts *int, level int) *Message {
	m := &Message{}
	norm := normalize(raw, budget{depth: depth, parts: *parts})
	*parts -= norm.parts
	m.Errors = append(m.Errors, norm.notes...)
	m.Truncated = norm.truncated
	root, err := newParser().ReadParts(bytes.NewReader(norm.raw))
	if err != nil || root == nil {
		m.Errors = append(m.Errors, fmt.Sprintf("malformed MIME: %v", err))
		m.fallback(norm.raw)
	} else {
		m.fromParts(root, depth, parts, level)
	}
	m.finish(raw)
	return m
}

// newParser returns the MIME parser: it only splits the message into
// parts (transfer encodings and charsets are decoded here, leniently),
// skips a part it cannot read instead of failing the message, and reads
// a multipart without boundary as one part.
func newParser() *enmime.Parser {
	return enmime.NewParser(
		enmime.SkipMalformedParts(true),
		enmime.RawContent(true),
		enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.MaxStoredPartErrors(50),
		enmime.SetCustomParseMediaType(parseMediaType),
	)
}

// parseMediaType never fails: a Content-Type the tolerant parser still
// rejects is read by lenientMediaType (an invalid type becomes "", which
// means text/plain).
func parseMediaType(ctype string) (string, map[string]string, []string, error) {
	ctype = typeCommaRE.ReplaceAllString(ctype, "$1;")
	mtype, params, invalid, err := mediatype.Parse(ctype)
	// mediatype.Parse turns a type it cannot read into
	// application/octet-stream: that would make text a file.
	if err == nil && (mtype != "application/octet-stream" || strings.HasPrefix(strings.ToLower(strings.TrimSpace(ctype)), "application/octet-stream")) {
		return mtype, params, invalid, nil
	}
	mtype, params = lenientMediaType(ctype)
	return mtype, params, []string{"content-type"}, nil
}

// typeCommaRE matches a media type followed by a comma where the
// parameters' semicolon belongs ("multipart/mixed, boundary=x").
var typeCommaRE = regexp.MustCompile(`^(\s*[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+)\s*,`)

// body is the readable content collected from a part and its children.
type body struct {
	segs []segment // text in reading order
	html []string  // HTML bodies
}

// segment is one piece of body text.
type segment struct {
	text      string
	forwarded bool // a forwarded message or a summary, shown whole (never stripped)
	extra     bool // a summary of a file (an invitation), kept from every alternative
}

// walker collects the body and files of one message.
type walker struct {
	m     *Message
	depth int
	parts *int
	level int
}

func (m *Message) fromParts(root *enmime.Part, depth int, parts *int, level int) {
	m.Header = root.Header
	m.Subject = decodeHeader(m.Header.Get("Subject"))
	dec := headerDecoder()
	if from := raw8bit(m.Header.Get("From")); from != "" {
		if a, err := (&mail.AddressParser{WordDecoder: dec}).Parse(from); err == nil {
			m.FromName, m.FromAddress = a.Name, strings.ToLower(a.Address)
		} else if list, err := (&mail.AddressParser{WordDecoder: dec}).ParseList(from); err == nil && len(list) > 0 {
			m.FromName, m.FromAddress = list[0].Name, strings.ToLower(list[0].Address)
		} else {
			m.FromName, m.FromAddress = salvageAddress(decodeHeader(from))
		}
	}
	for _, key := range []string{"To", "Cc"} {
		for _, v := range m.Header.Values(key) {
			if addrs, err := (&mail.AddressParser{WordDecoder: dec}).ParseList(raw8bit(v)); err == nil {
				for _, a := range addrs {
					m.addRecipient(a.Address)
				}
			}
		}
	}
	w := &walker{m: m, depth: depth, parts: parts, level: level}
	var b body
	w.walk(root, &b)
	_ = root.DepthMatchAll(func(p *enmime.Part) bool {
		for _, e := range p.Errors {
			if e == nil {
				continue
			}
			switch e.Name {
			case enmime.ErrorMissingContentType, enmime.ErrorPlainTextFromHTML, enmime.ErrorCharsetDeclaration, enmime.ErrorCharsetConversion:
				continue
			}
			if e.Severe || e.Name == enmime.ErrorMalformedHeader || e.Name == enmime.ErrorMissingBoundary {
				m.Errors = appendNew(m.Errors, e.Error())
			}
		}
		return false
	})

	b.segs = dedupeSegments(b.segs)
	var own, display, full []string
	for _, s := range b.segs {
		if !s.forwarded {
			own = append(own, s.text)
		}
	}
	lastOwn := len(own) - 1
	k := 0
	for _, s := range b.segs {
		full = append(full, s.text)
		if s.forwarded {
			display = append(display, s.text)
			continue
		}
		// Quoted history and the signature are cut from the last text
		// part only: text after an inline image is still the author's.
		if k == lastOwn {
			display = append(display, StripQuoted(s.text))
		} else {
			display = append(display, s.text)
		}
		k++
	}
	if m.Truncated {
		note := "[Parts of this message were not read: " + truncationReason(m.Errors) + " The original message is kept.]"
		display = append(display, note)
		full = append(full, note)
	}
	m.FullText = strings.Join(full, "\n\n")
	m.Text = strings.Join(display, "\n\n")
	m.HTML = strings.Join(b.html, "\n")
}

// maxErrors is how many distinct errors a message keeps; a broken
// message repeats the same few, and parse_errors must stay readable.
const maxErrors = 20

// capErrors removes duplicates and keeps the first maxErrors errors, with
// a count of the rest.
func capErrors(errs []string) []string {
	out := appendNew(nil, errs...)
	if len(out) > maxErrors {
		more := len(out) - maxErrors
		out = append(out[:maxErrors:maxErrors], fmt.Sprintf("… and %d more", more))
	}
	return out
}

// dedupeSegments drops a segment that repeats the one before it (a plain
// and an HTML version of one text sent side by side in multipart/mixed
// instead of multipart/alternative).
func dedupeSegments(segs []segment) []segment {
	out := segs[:0]
	prev := ""
	for _, s := range segs {
		key := strings.Join(strings.Fields(strings.ReplaceAll(s.text, "*", "")), " ")
		if len(out) > 0 && key == prev {
			continue
		}
		out = append(out, s)
		prev = key
	}
	return out
}

// truncationReason names the limit a truncated message hit.
func truncationReason(errs []string) string {
	var out []string
	for _, e := range errs {
		switch {
		case strings.Contains(e, "multipart levels"):
			out = appendNew(out, fmt.Sprintf("it nests more than %d levels deep.", MaxDepth))
		case strings.Contains(e, "parts; the rest"):
			out = appendNew(out, fmt.Sprintf("it has more than %d parts.", MaxParts))
		}
	}
	return strings.Join(out, " ")
}

func (w *walker) walk(p *enmime.Part, out *body) {
	ct := strings.ToLower(p.ContentType)
	if strings.HasPrefix(ct, "multipart/") && p.FirstChild != nil {
		if ct == "multipart/alternative" {
			w.alternative(p, out)
			return
		}
		if ct == "multipart/encrypted" {
			w.m.Errors = append(w.m.Errors, "the message is encrypted (PGP/MIME): its content is kept as files and cannot be shown")
		}
		for c := p.FirstChild; c != nil; c = c.NextSibling {
			w.walk(c, out)
		}
		return
	}
	w.leaf(p, out)
}

// alternative keeps the richest text version the message offers as plain
// text (text/plain, else the HTML converted) and the HTML version; files
// in any version (an invitation's text/calendar, the images of the HTML)
// are kept.
func (w *walker) alternative(p *enmime.Part, out *body) {
	var subs []*body
	for c := p.FirstChild; c != nil; c = c.NextSibling {
		sb := &body{}
		w.walk(c, sb)
		subs = append(subs, sb)
	}
	var text, html *body
	for _, sb := range subs {
		if text == nil && len(sb.segs) > 0 && len(sb.html) == 0 {
			text = sb
		}
		if html == nil && len(sb.html) > 0 {
			html = sb
		}
	}
	if text == nil {
		text = html
	}
	if text != nil {
		out.segs = append(out.segs, text.segs...)
	}
	for _, sb := range subs {
		if sb == text {
			continue
		}
		for _, s := range sb.segs {
			if s.extra {
				out.segs = append(out.segs, s)
			}
		}
	}
	if html != nil {
		out.html = append(out.html, html.html...)
	}
}

func (w *walker) leaf(p *enmime.Part, out *body) {
	m := w.m
	hdr := p.Header
	ctHeader := hdr.Get("Content-Type")
	cdHeader := hdr.Get("Content-Disposition")
	ct := strings.ToLower(p.ContentType)
	if ct == "" && strings.TrimSpace(ctHeader) == "" && p.Parent != nil && strings.EqualFold(p.Parent.ContentType, "multipart/digest") {
		// RFC 2046 5.1.5: in a digest, a part without Content-Type is a
		// message.
		ct = "message/rfc822"
	}
	disp := strings.ToLower(p.Disposition)
	if disp == "" && cdHeader != "" {
		head, _, _ := strings.Cut(cdHeader, ";")
		disp = strings.ToLower(strings.TrimSpace(head))
	}
	fname := headerParam(cdHeader, "filename")
	if fname == "" {
		fname = headerParam(ctHeader, "name")
	}
	if fname == "" {
		fname = p.FileName
	}
	if ct == "text" {
		ct = "text/plain"
	}
	if strings.HasPrefix(ct, "multipart/") {
		// A multipart without (usable) boundary: its body is text.
		m.Errors = append(m.Errors, "multipart without boundary read as text")
		ct = ""
		ctHeader = ""
	}
	if t, sub, ok := strings.Cut(ct, "/"); ct != "" && (!ok || !isToken(t) || !isToken(sub)) {
		ct = ""
	}
	if ct == "" {
		// RFC 2045 §5.2: no (or an invalid) Content-Type is
		// text/plain; a named file keeps its name and gets the type its
		// extension says.
		if strings.TrimSpace(ctHeader) != "" {
			m.Errors = append(m.Errors, fmt.Sprintf("invalid Content-Type %q read as text/plain", truncate(ctHeader, 80)))
		}
		ct = "text/plain"
		if fname != "" && disp == "attachment" {
			ct = typeByName(fname)
		}
	}
	sniffed := false
	if ct == "text/plain" && (strings.TrimSpace(ctHeader) == "" || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ctHeader)), "text/plain")) {
		sniffed = true
	}
	charsetName := headerParam(ctHeader, "charset")
	if charsetName == "" {
		charsetName = p.Charset
	}
	cte := hdr.Get("Content-Transfer-Encoding")
	isText := strings.HasPrefix(ct, "text/")
	data, note := decodeTransfer(p.Content, cte, isText)
	if note != "" {
		m.Errors = append(m.Errors, note)
	}
	if sniffed && (strings.HasPrefix(http.DetectContentType(data), "text/html") || len(htmlTagRE.FindAllIndex(data, 3)) >= 3) {
		ct = "text/html" // an untyped part that is HTML
	}
	if isText && fname != "" && isBinary(data) {
		// A file labelled text that is not (an image named .txt): a file,
		// never body text.
		disp = "attachment"
	}

	switch {
	case (ct == "text/plain" || ct == "text/html" || ct == "text/enriched" || ct == "text/richtext") && disp != "attachment" &&
		(fname == "" || len(data) <= maxInlineTextFile):
		s, note := decodeText(data, charsetName, ct == "text/html")
		if note != "" {
			m.Errors = append(m.Errors, note)
		}
		s = strings.ReplaceAll(s, "\r\n", "\n")
		if sniffed {
			s = dropMIMELines(s)
		}
		if ct == "text/html" {
			out.html = append(out.html, s)
			s = htmlToText(s)
		}
		if strings.TrimSpace(s) != "" {
			out.segs = append(out.segs, segment{text: strings.TrimSpace(s)})
		}
		if fname == "" {
			return
		}
	case ct == "message/rfc822" || ct == "message/global":
		if seg, ok := w.forward(data); ok {
			out.segs = append(out.segs, seg)
		}
		if fname == "" {
			fname = forwardName(data)
		}
	case ct == "text/calendar" || ct == "application/ics":
		s, _ := decodeText(data, charsetName, false)
		if sum := calendarSummary(s); sum != "" {
			out.segs = append(out.segs, segment{text: sum, forwarded: true, extra: true})
		}
		if fname == "" {
			fname = "invite.ics"
		}
	case ct == "application/pkcs7-mime" || ct == "application/x-pkcs7-mime":
		if sm := strings.ToLower(headerParam(ctHeader, "smime-type")); sm == "" || sm == "enveloped-data" || sm == "authenveloped-data" {
			m.Errors = append(m.Errors, "the message is encrypted (S/MIME): its content is kept as a file and cannot be shown")
		}
	case ct == "application/ms-tnef" || strings.EqualFold(fname, "winmail.dat"):
		m.Errors = append(m.Errors, "winmail.dat (Outlook TNEF) is kept as a file; its content is not decoded (no TNEF decoder is available)")
	}
	m.Attachments = append(m.Attachments, Attachment{
		Filename:    fname,
		ContentType: ct,
		Data:        data,
		Inline:      disp != "attachment",
	})
}

// forward renders a forwarded message (message/rfc822) for the comment:
// its From, Date, Subject and To, then its text; its files are added to
// the message's.
func (w *walker) forward(data []byte) (segment, bool) {
	if w.level >= maxForwardLevel || *w.parts <= 0 || isBinary(data) {
		return segment{}, false
	}
	inner := parse(data, w.depth, w.parts, w.level+1)
	var b strings.Builder
	b.WriteString("---------- Forwarded message ----------\n")
	if inner.FromAddress != "" || inner.FromName != "" {
		from := inner.FromAddress
		if inner.FromName != "" {
			from = inner.FromName + " <" + inner.FromAddress + ">"
		}
		b.WriteString("From: " + from + "\n")
	}
	if d := inner.Header.Get("Date"); d != "" {
		b.WriteString("Date: " + raw8bit(strings.TrimSpace(d)) + "\n")
	}
	if inner.Subject != "" {
		b.WriteString("Subject: " + inner.Subject + "\n")
	}
	if to := inner.Header.Get("To"); to != "" {
		b.WriteString("To: " + decodeHeader(strings.TrimSpace(to)) + "\n")
	}
	if inner.FullText != "" {
		b.WriteString("\n" + inner.FullText)
	}
	w.m.Errors = append(w.m.Errors, prefixAll("forwarded message: ", inner.Errors)...)
	w.m.Truncated = w.m.Truncated || inner.Truncated
	w.m.Attachments = append(w.m.Attachments, inner.Attachments...)
	return segment{text: strings.TrimSpace(b.String()), forwarded: true}, true
}

// forwardName names a forwarded message's file after its subject.
func forwardName(data []byte) string {
	head, _ := splitHeaderBody(data)
	for _, l := range strings.Split(string(head), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Subject") {
			if s := strings.TrimSpace(decodeHeader(strings.TrimSpace(v))); s != "" {
				return truncate(s, 100) + ".eml"
			}
		}
	}
	return "forwarded-message.eml"
}

func prefixAll(p string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = p + s
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// isBinary reports whether data is not text: it has a NUL byte, or more
// than one control character in twenty.
func isBinary(data []byte) bool {
	ctl := 0
	for _, c := range data {
		switch {
		case c == 0:
			return true
		case c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != 0x1b:
			ctl++
		}
	}
	return ctl*20 > len(data)
}

// htmlTagRE matches the tags that give away HTML in an untyped part.
var htmlTagRE = regexp.MustCompile(`(?i)<(br|p|div|html|body|font|table|tr|td|span|/p|/div|/html|/body|/font|/span)(\s[^>]*)?/?>`)

// mimeLineRE matches a MIME header field or a boundary line.
var mimeLineRE = regexp.MustCompile(`(?i)^(content-(type|transfer-encoding|disposition|id|description)\s*:|mime-version\s*:)`)

// dropMIMELines removes MIME header fields from the text of a part whose
// own header was broken (they are what is left of that header).
func dropMIMELines(s string) string {
	lines := strings.Split(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !mimeLineRE.MatchString(strings.TrimSpace(l)) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}

// typeByName returns the media type of a file name's extension,
// application/octet-stream when unknown.
func typeByName(name string) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		if mt, _, err := mime.ParseMediaType(t); err == nil {
			return mt
		}
	}
	return "application/octet-stream"
}

// htmlToText converts an HTML body to plain text.
func htmlToText(h string) string {
	t, err := html2text.FromString(h)
	if err != nil {
		return ""
	}
	return t
}

// fallback reads what it can of a message the MIME parser could not
// split: the header when there is one, and the body as text.
func (m *Message) fallback(raw []byte) {
	head, body := splitHeaderBody(raw)
	m.Header = textproto.MIMEHeader{}
	if len(head) > 0 {
		r := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(head), strings.NewReader("\r\n"))))
		if h, err := r.ReadMIMEHeader(); err == nil || len(h) > 0 {
			m.Header = h
		} else {
			body = raw
		}
	}
	m.Subject = decodeHeader(m.Header.Get("Subject"))
	dec := headerDecoder()
	if from := raw8bit(m.Header.Get("From")); from != "" {
		if a, err := (&mail.AddressParser{WordDecoder: dec}).Parse(from); err == nil {
			m.FromName, m.FromAddress = a.Name, strings.ToLower(a.Address)
		} else {
			m.FromName, m.FromAddress = salvageAddress(decodeHeader(from))
		}
	}
	for _, key := range []string{"To", "Cc"} {
		if addrs, err := (&mail.AddressParser{WordDecoder: dec}).ParseList(raw8bit(m.Header.Get(key))); err == nil {
			for _, a := range addrs {
				m.addRecipient(a.Address)
			}
		}
	}
	text, _ := decodeText(body, "", false)
	m.FullText = text
	m.Text = StripQuoted(text)
}

func (m *Message) finish(raw []byte) {
	if m.Header == nil {
		m.Header = textproto.MIMEHeader{}
	}
	m.Errors = capErrors(m.Errors)
	for _, key := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range m.Header.Values(key) {
			if a, err := mail.ParseAddress(v); err == nil {
				m.addRecipient(a.Address)
			} else {
				m.addRecipient(strings.Trim(strings.TrimSpace(v), "<>"))
			}
		}
	}
	if ids := ParseMsgIDs(m.Header.Get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	m.ID = m.MessageID
	if m.ID == "" {
		m.ID = HashID(raw)
	}
	for _, v := range m.Header.Values("In-Reply-To") {
		m.InReplyTo = appendNew(m.InReplyTo, ParseMsgIDs(v)...)
	}
	for _, v := range m.Header.Values("References") {
		m.References = appendNew(m.References, ParseMsgIDs(v)...)
	}
	switch {
	case len(m.References) > 0:
		m.ThreadRoot = m.References[0]
	case len(m.InReplyTo) > 0:
		m.ThreadRoot = m.InReplyTo[0]
	default:
		m.ThreadRoot = m.ID
	}
	if d := m.Header.Get("Date"); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			m.Date = t
		}
	}
	m.Subject = cleanText(strings.TrimSpace(strings.Join(strings.Fields(m.Subject), " ")))
	m.FromName = cleanText(strings.TrimSpace(m.FromName))
	m.FullText = cleanText(strings.TrimSpace(strings.ReplaceAll(m.FullText, "\r\n", "\n")))
	m.Text = cleanText(strings.TrimSpace(strings.ReplaceAll(m.Text, "\r\n", "\n")))
	if m.Text == "" {
		m.Text = m.FullText
	}
	m.HTML = cleanText(m.HTML)
	for i := range m.Attachments {
		m.Attachments[i].Filename = safeFilename(m.Attachments[i].Filename, m.Attachments[i].ContentType, i+1)
	}
}

func (m *Message) addRecipient(addr string) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return
	}
	m.Recipients = appendNew(m.Recipients, addr)
}

// ReplyTo returns the threading ids, In-Reply-To first, then References
// newest first, without duplicates.
func (m *Message) ReplyTo() []string {
	out := appendNew(nil, m.InReplyTo...)
	for i := len(m.References) - 1; i >= 0; i-- {
		out = appendNew(out, m.References[i])
	}
	return out
}

func appendNew(list []string, vs ...string) []string {
	for _, v := range vs {
		dup := false
		for _, x := range list {
			if x == v {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, v)
		}
	}
	return list
}

// salvageAddress pulls an address out of a From header that net/mail
// rejects ("Ann <ann@example.com" or a bare address with odd characters).
func salvageAddress(v string) (name, addr string) {
	if lt := strings.LastIndexByte(v, '<'); lt >= 0 {
		rest := v[lt+1:]
		if gt := strings.IndexByte(rest, '>'); gt >= 0 {
			rest = rest[:gt]
		}
		name = strings.Trim(strings.TrimSpace(v[:lt]), `"`)
		v = rest
	}
	for _, f := range strings.Fields(v) {
		if strings.Contains(f, "@") {
			return name, strings.ToLower(strings.Trim(f, `"<>,;`))
		}
	}
	return name, ""
}

// cleanText makes s valid UTF-8 and removes NUL bytes.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// safeFilename returns a file name without directories or control
// characters; a part without a name gets "attachment-N" with an extension
// guessed from its content type.
func safeFilename(name, contentType string, n int) string {
	name = cleanText(name)
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == "/" || name == ".." {
		ext := ""
		switch contentType {
		case "message/rfc822":
			ext = ".eml"
		case "text/plain":
			ext = ".txt"
		default:
			if exts, err := mime.ExtensionsByType(contentType); err == nil && len(exts) > 0 {
				ext = exts[0]
			}
		}
		name = fmt.Sprintf("attachment-%d%s", n, ext)
	}
	if len(name) > 255 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:255-len(ext)], "") + ext
	}
	return name
}
