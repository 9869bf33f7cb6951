package webhook

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Rendered is a message turned into what an agent reads: text, and the media
// file to fetch if any.
type Rendered struct {
	// Text is the message as readable text; never empty for a valid message.
	Text string
	// Media is the file to download, nil when none.
	Media *Media
	// MediaKind is "image", "video", "audio", "document" or "sticker".
	MediaKind string
	// ReplyTo is the id of the message this one answers or reacts to.
	ReplyTo string
}

// Render turns a message of any type into readable text. Types it cannot
// represent are noted, never dropped.
func (m *Message) Render() Rendered {
	var r Rendered
	if m.Context != nil && m.Context.ID != "" && !m.Context.Forwarded && !m.Context.FrequentlyForwarded {
		r.ReplyTo = m.Context.ID
	}
	var body string
	switch m.Type {
	case "text":
		if m.Text != nil {
			body = m.Text.Body
		}
	case "image", "video", "audio", "document", "sticker":
		media := m.media()
		if media == nil || media.ID == "" {
			body = unsupported(m, "the "+m.Type+" carries no media id")
			break
		}
		r.Media, r.MediaKind = media, m.Type
		body = media.Caption
		if body == "" {
			body = mediaPlaceholder(m.Type, media)
		}
	case "location":
		body = renderLocation(m.Location)
	case "contacts":
		body = renderContacts(m.Contacts)
	case "reaction":
		if m.Reaction == nil {
			body = unsupported(m, "empty reaction")
			break
		}
		r.ReplyTo = m.Reaction.MessageID
		if m.Reaction.Emoji == "" {
			body = "Removed a reaction"
		} else {
			body = "Reacted " + m.Reaction.Emoji + " to a message"
		}
	case "interactive":
		body = renderInteractive(m)
	case "button":
		if m.Button == nil {
			body = unsupported(m, "empty button reply")
			break
		}
		label := firstNonEmpty(m.Button.Text, m.Button.Payload)
		body = "Tapped the button: " + label
	case "system":
		if m.System != nil && m.System.Body != "" {
			body = m.System.Body
		} else {
			body = "[WhatsApp system notice]"
		}
	case "order":
		body = renderOrder(m.Order)
	default:
		body = unsupported(m, "")
	}
	if body == "" {
		body = unsupported(m, "the message has no content")
	}
	if m.Context != nil && (m.Context.Forwarded || m.Context.FrequentlyForwarded) {
		body = "[Forwarded] " + body
	}
	if ref := m.Referral; ref != nil && (ref.Headline != "" || ref.SourceURL != "") {
		body += "\n\n(Sent from an ad: " + strings.TrimSpace(ref.Headline+" "+ref.SourceURL) + ")"
	}
	r.Text = body
	return r
}

func (m *Message) media() *Media {
	switch m.Type {
	case "image":
		return m.Image
	case "video":
		return m.Video
	case "audio":
		return m.Audio
	case "document":
		return m.Document
	case "sticker":
		return m.Sticker
	}
	return nil
}

func mediaPlaceholder(kind string, m *Media) string {
	switch {
	case kind == "audio" && m.Voice:
		return "[Voice message]"
	case kind == "document" && m.Filename != "":
		return "[Document: " + m.Filename + "]"
	case kind == "sticker" && m.Animated:
		return "[Animated sticker]"
	}
	return "[" + strings.ToUpper(kind[:1]) + kind[1:] + "]"
}

func renderLocation(l *Location) string {
	if l == nil {
		return "[Shared a location without coordinates]"
	}
	lat := strconv.FormatFloat(l.Latitude, 'f', -1, 64)
	lon := strconv.FormatFloat(l.Longitude, 'f', -1, 64)
	var b strings.Builder
	b.WriteString("Shared a location")
	if place := strings.Trim(strings.Join([]string{l.Name, l.Address}, ", "), ", "); place != "" {
		b.WriteString(": " + place)
	}
	fmt.Fprintf(&b, " (%s, %s)\nhttps://www.google.com/maps/search/?api=1&query=%s", lat, lon, url.QueryEscape(lat+","+lon))
	if l.URL != "" {
		b.WriteString("\n" + l.URL)
	}
	return b.String()
}

func renderContacts(cs []SharedContact) string {
	if len(cs) == 0 {
		return "[Shared an empty contact card]"
	}
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString("\n\n")
		}
		name := firstNonEmpty(c.Name.FormattedName, strings.TrimSpace(c.Name.FirstName+" "+c.Name.LastName), "(no name)")
		b.WriteString("Shared a contact: " + name)
		for _, p := range c.Phones {
			if p.Phone == "" && p.WaID == "" {
				continue
			}
			b.WriteString("\nPhone: " + firstNonEmpty(p.Phone, "+"+p.WaID))
			if p.Type != "" {
				b.WriteString(" (" + p.Type + ")")
			}
		}
		for _, e := range c.Emails {
			if e.Email != "" {
				b.WriteString("\nEmail: " + e.Email)
			}
		}
		if org := strings.Trim(c.Org.Company+", "+c.Org.Title, ", "); org != "" {
			b.WriteString("\nOrganisation: " + org)
		}
	}
	return b.String()
}

func renderInteractive(m *Message) string {
	in := m.Interactive
	if in == nil {
		return unsupported(m, "empty interactive reply")
	}
	switch {
	case in.ButtonReply != nil:
		return "Chose: " + firstNonEmpty(in.ButtonReply.Title, in.ButtonReply.ID)
	case in.ListReply != nil:
		s := "Chose: " + firstNonEmpty(in.ListReply.Title, in.ListReply.ID)
		if in.ListReply.Description != "" {
			s += " — " + in.ListReply.Description
		}
		return s
	case in.NfmReply != nil:
		s := "Submitted a form"
		if in.NfmReply.Body != "" {
			s += ": " + in.NfmReply.Body
		}
		if in.NfmReply.ResponseJSON != "" {
			s += "\n" + in.NfmReply.ResponseJSON
		}
		return s
	}
	return unsupported(m, "interactive reply of type "+strconv.Quote(in.Type))
}

func renderOrder(o *Order) string {
	if o == nil {
		return "[Sent an empty order]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Sent an order (%d item(s))", len(o.ProductItems))
	for _, it := range o.ProductItems {
		fmt.Fprintf(&b, "\n- %s × %s", it.ProductRetailerID, strconv.FormatFloat(float64(it.Quantity), 'f', -1, 64))
		if it.ItemPrice != 0 {
			fmt.Fprintf(&b, " at %s %s", strconv.FormatFloat(float64(it.ItemPrice), 'f', -1, 64), it.Currency)
		}
	}
	if o.Text != "" {
		b.WriteString("\n" + o.Text)
	}
	return b.String()
}

// unsupported notes a message the channel cannot show, with Meta's reason.
func unsupported(m *Message, why string) string {
	kind := m.Type
	if m.Unsupported != nil && m.Unsupported.Type != "" {
		kind = m.Unsupported.Type
	}
	if kind == "" {
		kind = "unknown"
	}
	s := "[Unsupported WhatsApp message (" + kind + ")"
	if why != "" {
		s += ": " + why
	}
	for _, e := range m.Errors {
		s += "; " + e.Describe()
	}
	return s + "]"
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
