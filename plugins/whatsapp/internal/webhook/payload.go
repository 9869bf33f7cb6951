// Package webhook parses and verifies the WhatsApp Business Account webhook
// (Meta's "messages" field): signature, subscription handshake, payload
// types, and the readable text of each message type. It does no I/O.
package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// ObjectWhatsApp is the "object" of every WhatsApp Business Account webhook.
const ObjectWhatsApp = "whatsapp_business_account"

// Payload is one webhook POST body.
type Payload struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one WhatsApp Business Account's changes.
type Entry struct {
	ID      string   `json:"id"`
	Changes []Change `json:"changes"`
}

// Change is one change notification; only Field "messages" carries messages
// and statuses.
type Change struct {
	Field string `json:"field"`
	Value Value  `json:"value"`
}

// Value is the content of a "messages" change.
type Value struct {
	MessagingProduct string    `json:"messaging_product"`
	Metadata         Metadata  `json:"metadata"`
	Contacts         []Contact `json:"contacts"`
	// Messages are kept raw so that each can be stored verbatim for audit
	// and one malformed message does not hide the others; see Value.Message.
	Messages []json.RawMessage `json:"messages"`
	Statuses []Status          `json:"statuses"`
	Errors   []Error           `json:"errors"`
}

// Metadata names the business phone number the change is for.
type Metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

// Contact is the sender's profile.
type Contact struct {
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
	// WaID is the user's WhatsApp id (phone number without +); absent for
	// users who hide their number behind a username.
	WaID string `json:"wa_id"`
	// UserID is the business-scoped user id (BSUID), e.g. "US.1349…".
	UserID       string `json:"user_id"`
	ParentUserID string `json:"parent_user_id"`
}

// Message is one incoming message.
type Message struct {
	// From is the sender's phone number (wa_id); may be absent for
	// username users.
	From string `json:"from"`
	// FromUserID is the sender's business-scoped user id.
	FromUserID string `json:"from_user_id"`
	// GroupID is set on messages sent in a WhatsApp group.
	GroupID   string   `json:"group_id"`
	ID        string   `json:"id"`
	Timestamp FlexTime `json:"timestamp"`
	Type      string   `json:"type"`
	Context   *Context `json:"context"`

	Text        *Text            `json:"text"`
	Image       *Media           `json:"image"`
	Video       *Media           `json:"video"`
	Audio       *Media           `json:"audio"`
	Document    *Media           `json:"document"`
	Sticker     *Media           `json:"sticker"`
	Location    *Location        `json:"location"`
	Contacts    []SharedContact  `json:"contacts"`
	Reaction    *Reaction        `json:"reaction"`
	Interactive *Interactive     `json:"interactive"`
	Button      *Button          `json:"button"`
	System      *System          `json:"system"`
	Order       *Order           `json:"order"`
	Referral    *Referral        `json:"referral"`
	Unsupported *UnsupportedType `json:"unsupported"`
	Errors      []Error          `json:"errors"`
}

// Context marks a reply to (or a forward of) an earlier message.
type Context struct {
	From                string `json:"from"`
	ID                  string `json:"id"`
	Forwarded           bool   `json:"forwarded"`
	FrequentlyForwarded bool   `json:"frequently_forwarded"`
}

// Text is a text message.
type Text struct {
	Body string `json:"body"`
}

// Media is an image, video, audio, document or sticker; the file itself is
// fetched by ID from the Graph API.
type Media struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	// SHA256 is the file's hash; Meta sends it base64 in webhooks and hex
	// from the media endpoint.
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    bool   `json:"voice"`
	Animated bool   `json:"animated"`
}

// Location is a shared location.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name"`
	Address   string  `json:"address"`
	URL       string  `json:"url"`
}

// SharedContact is one contact card.
type SharedContact struct {
	Name struct {
		FormattedName string `json:"formatted_name"`
		FirstName     string `json:"first_name"`
		LastName      string `json:"last_name"`
	} `json:"name"`
	Phones []struct {
		Phone string `json:"phone"`
		WaID  string `json:"wa_id"`
		Type  string `json:"type"`
	} `json:"phones"`
	Emails []struct {
		Email string `json:"email"`
		Type  string `json:"type"`
	} `json:"emails"`
	Org struct {
		Company string `json:"company"`
		Title   string `json:"title"`
	} `json:"org"`
}

// Reaction is an emoji reaction to an earlier message; an empty Emoji
// removes a reaction.
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// Interactive is the customer's answer to an interactive message.
type Interactive struct {
	Type        string `json:"type"`
	ButtonReply *Reply `json:"button_reply"`
	ListReply   *Reply `json:"list_reply"`
	NfmReply    *struct {
		Name         string `json:"name"`
		Body         string `json:"body"`
		ResponseJSON string `json:"response_json"`
	} `json:"nfm_reply"`
}

// Reply is a chosen button or list row.
type Reply struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Button is a tap on a template's quick-reply button.
type Button struct {
	Payload string `json:"payload"`
	Text    string `json:"text"`
}

// System is a system notice, such as a customer changing number.
type System struct {
	Body    string `json:"body"`
	Type    string `json:"type"`
	WaID    string `json:"wa_id"`
	NewWaID string `json:"new_wa_id"`
}

// Order is a cart sent from a catalog.
type Order struct {
	CatalogID    string `json:"catalog_id"`
	Text         string `json:"text"`
	ProductItems []struct {
		ProductRetailerID string  `json:"product_retailer_id"`
		Quantity          FlexNum `json:"quantity"`
		ItemPrice         FlexNum `json:"item_price"`
		Currency          string  `json:"currency"`
	} `json:"product_items"`
}

// Referral describes the ad a customer came from (click to WhatsApp).
type Referral struct {
	SourceURL  string `json:"source_url"`
	SourceType string `json:"source_type"`
	Headline   string `json:"headline"`
	Body       string `json:"body"`
}

// UnsupportedType names the kind of an unsupported message.
type UnsupportedType struct {
	Type string `json:"type"`
}

// Status is a delivery receipt for a message the business sent.
type Status struct {
	ID              string   `json:"id"`
	Status          string   `json:"status"`
	Timestamp       FlexTime `json:"timestamp"`
	RecipientID     string   `json:"recipient_id"`
	RecipientUserID string   `json:"recipient_user_id"`
	Errors          []Error  `json:"errors"`
}

// Error is an error object in a webhook (on a status, a message or the
// change itself).
type Error struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
	// Details appears at the top level on some unsupported messages.
	Details string `json:"details"`
}

// Describe is the error as one line: "title (code 131047): details".
func (e Error) Describe() string {
	title := e.Title
	if title == "" {
		title = e.Message
	}
	if title == "" {
		title = "error"
	}
	s := title
	if e.Code != 0 {
		s = fmt.Sprintf("%s (code %d)", title, e.Code)
	}
	details := e.ErrorData.Details
	if details == "" {
		details = e.Details
	}
	if details != "" && details != title {
		s += ": " + details
	}
	return s
}

// Parse decodes a webhook body. It fails only when the body is not a JSON
// object of the webhook's shape; individual messages are decoded with
// Value.Message.
func Parse(body []byte) (*Payload, error) {
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decode webhook: %w", err)
	}
	return &p, nil
}

// Message decodes the i-th message of the change.
func (v *Value) Message(i int) (*Message, error) {
	var m Message
	if err := json.Unmarshal(v.Messages[i], &m); err != nil {
		return nil, fmt.Errorf("decode message %d: %w", i, err)
	}
	if m.ID == "" {
		return nil, fmt.Errorf("message %d has no id", i)
	}
	return &m, nil
}

// Sender finds the contact who sent m: by business-scoped user id, then by
// wa_id, then the only contact of the change. The zero Contact when none.
func (v *Value) Sender(m *Message) Contact {
	for _, c := range v.Contacts {
		if m.FromUserID != "" && c.UserID == m.FromUserID {
			return c
		}
	}
	for _, c := range v.Contacts {
		if m.From != "" && c.WaID == m.From {
			return c
		}
	}
	if len(v.Contacts) == 1 {
		c := v.Contacts[0]
		if (m.From == "" || c.WaID == "" || c.WaID == m.From) && (m.FromUserID == "" || c.UserID == "" || c.UserID == m.FromUserID) {
			return c
		}
	}
	return Contact{}
}

// FlexTime is a Unix timestamp in seconds that Meta sends as a string (and
// some tools as a number).
type FlexTime struct{ time.Time }

// UnmarshalJSON accepts "1749416383", 1749416383, null and "".
func (t *FlexTime) UnmarshalJSON(b []byte) error {
	var n FlexNum
	if err := n.UnmarshalJSON(b); err != nil {
		return err
	}
	if n == 0 {
		t.Time = time.Time{}
		return nil
	}
	if n < 0 || n > 1<<40 {
		return fmt.Errorf("timestamp out of range: %v", float64(n))
	}
	t.Time = time.Unix(int64(n), 0).UTC()
	return nil
}

// FlexNum is a number that may arrive as a JSON number or a string.
type FlexNum float64

// UnmarshalJSON accepts 1.5, "1.5", null and "".
func (f *FlexNum) UnmarshalJSON(b []byte) error {
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
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		*f = FlexNum(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = FlexNum(v)
	return nil
}
