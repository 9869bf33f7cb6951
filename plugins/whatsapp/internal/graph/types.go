package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Message is the body of POST /{phone-number-id}/messages. Set exactly one
// of the content fields matching Type.
type Message struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type,omitempty"`
	// To is the recipient's phone number (wa_id).
	To string `json:"to,omitempty"`
	// Recipient is the recipient's business-scoped user id, used when no
	// phone number is known.
	Recipient string    `json:"recipient,omitempty"`
	Type      string    `json:"type"`
	Context   *Context  `json:"context,omitempty"`
	Text      *Text     `json:"text,omitempty"`
	Image     *MediaRef `json:"image,omitempty"`
	Video     *MediaRef `json:"video,omitempty"`
	Audio     *MediaRef `json:"audio,omitempty"`
	Document  *MediaRef `json:"document,omitempty"`
	Template  *Template `json:"template,omitempty"`
}

// Context quotes an earlier message.
type Context struct {
	MessageID string `json:"message_id"`
}

// Text is a text message body.
type Text struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url,omitempty"`
}

// MediaRef sends previously uploaded media by id.
type MediaRef struct {
	ID       string `json:"id"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// Template is an approved message template.
type Template struct {
	Name       string              `json:"name"`
	Language   TemplateLanguage    `json:"language"`
	Components []TemplateComponent `json:"components,omitempty"`
}

// TemplateLanguage names the template's language (en_US).
type TemplateLanguage struct {
	Code string `json:"code"`
}

// TemplateComponent fills a template's variables.
type TemplateComponent struct {
	Type       string              `json:"type"`
	Parameters []TemplateParameter `json:"parameters"`
}

// TemplateParameter is one variable's value.
type TemplateParameter struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// SendResponse is the answer to a send.
type SendResponse struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input  string `json:"input"`
		WaID   string `json:"wa_id"`
		UserID string `json:"user_id"`
	} `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status"`
	} `json:"messages"`
}

// NewMessage returns a message addressed to a phone number (to) or, when
// to is empty, to a business-scoped user id.
func NewMessage(to, recipient, typ string) *Message {
	m := &Message{MessagingProduct: "whatsapp", RecipientType: "individual", Type: typ}
	if to != "" {
		m.To = to
	} else {
		m.Recipient = recipient
	}
	return m
}

// FlexInt is an integer that Meta sends either as a JSON number or as a
// string of digits.
type FlexInt int64

// UnmarshalJSON accepts 123, "123", null and "".
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*f = 0
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		*f = FlexInt(n)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = FlexInt(n)
	return nil
}
