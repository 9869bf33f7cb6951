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
	"net/mail"
	"net/textproto"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/text/encoding/htmlindex"
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
	// Errors lists what was wrong with the message (malformed MIME,
	// undecodable charset…); the message is still usable.
	Errors []string
}

// Attachment is one file of a message, decoded.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
	Inline      bool
}

// Parse parses a raw message. It never fails.
func Parse(raw []byte) *Message {
	m := &Message{}
	env, err := enmime.NewParser().ReadEnvelope(bytes.NewReader(raw))
	if err != nil || env == nil || env.Root == nil {
		m.Errors = append(m.Errors, fmt.Sprintf("malformed MIME: %v", err))
		m.fallback(raw)
	} else {
		m.fromEnvelope(env)
	}
	m.finish(raw)
	return m
}

func (m *Message) fromEnvelope(env *enmime.Envelope) {
	m.Header = env.Root.Header
	m.Subject = env.GetHeader("Subject")
	m.FullText = env.Text
	m.HTML = env.HTML
	for _, e := range env.Errors {
		if e != nil && e.Severe {
			m.Errors = append(m.Errors, e.Error())
		}
	}
	if addrs, err := env.AddressList("From"); err == nil && len(addrs) > 0 {
		m.FromName, m.FromAddress = addrs[0].Name, strings.ToLower(addrs[0].Address)
	} else if from := env.GetHeader("From"); from != "" {
		m.FromName, m.FromAddress = salvageAddress(from)
	}
	for _, key := range []string{"To", "Cc"} {
		if addrs, err := env.AddressList(key); err == nil {
			for _, a := range addrs {
				m.addRecipient(a.Address)
			}
		}
	}
	seen := map[*enmime.Part]bool{}
	add := func(p *enmime.Part, inline bool) {
		if p == nil || seen[p] || strings.HasPrefix(p.ContentType, "multipart/") {
			return
		}
		seen[p] = true
		if inline && p.FileName == "" && strings.HasPrefix(p.ContentType, "text/") {
			return // an inline text part of the body, not a file
		}
		m.Attachments = append(m.Attachments, Attachment{
			Filename:    p.FileName,
			ContentType: p.ContentType,
			Data:        p.Content,
			Inline:      inline,
		})
	}
	for _, p := range env.Attachments {
		add(p, false)
	}
	for _, p := range env.Inlines {
		add(p, true)
	}
	for _, p := range env.OtherParts {
		add(p, true)
	}
}

// fallback reads what it can of a message enmime could not parse: the
// header when there is one, and the body as text.
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
	dec := &mime.WordDecoder{CharsetReader: charsetReader}
	decode := func(s string) string {
		if d, err := dec.DecodeHeader(s); err == nil {
			return d
		}
		return s
	}
	m.Subject = decode(m.Header.Get("Subject"))
	if from := m.Header.Get("From"); from != "" {
		if a, err := (&mail.AddressParser{WordDecoder: dec}).Parse(from); err == nil {
			m.FromName, m.FromAddress = a.Name, strings.ToLower(a.Address)
		} else {
			m.FromName, m.FromAddress = salvageAddress(decode(from))
		}
	}
	for _, key := range []string{"To", "Cc"} {
		if addrs, err := (&mail.AddressParser{WordDecoder: dec}).ParseList(m.Header.Get(key)); err == nil {
			for _, a := range addrs {
				m.addRecipient(a.Address)
			}
		}
	}
	m.FullText = string(body)
}

func (m *Message) finish(raw []byte) {
	if m.Header == nil {
		m.Header = textproto.MIMEHeader{}
	}
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
	m.HTML = cleanText(m.HTML)
	m.Text = StripQuoted(m.FullText)
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

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(input), nil
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
