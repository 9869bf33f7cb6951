package fakegraph

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Notification builds a webhook body in Meta's documented shape: one entry
// for a WhatsApp Business Account, one "messages" change for a phone number.
type Notification struct {
	WABAID        string
	PhoneNumberID string
	DisplayPhone  string
	Contacts      []map[string]any
	Messages      []map[string]any
	Statuses      []map[string]any
}

// Body marshals the notification.
func (n Notification) Body() []byte {
	value := map[string]any{
		"messaging_product": "whatsapp",
		"metadata": map[string]any{
			"display_phone_number": firstNonEmpty(n.DisplayPhone, "15550100"),
			"phone_number_id":      n.PhoneNumberID,
		},
	}
	if len(n.Contacts) > 0 {
		value["contacts"] = n.Contacts
	}
	if len(n.Messages) > 0 {
		value["messages"] = n.Messages
	}
	if len(n.Statuses) > 0 {
		value["statuses"] = n.Statuses
	}
	b, err := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id":      firstNonEmpty(n.WABAID, "102290129340398"),
			"changes": []any{map[string]any{"field": "messages", "value": value}},
		}},
	})
	if err != nil {
		panic(fmt.Sprintf("fakegraph: marshal notification: %v", err))
	}
	return b
}

// Contact is a contacts[] entry: profile name, wa_id and, when userID is
// set, the business-scoped user id.
func Contact(name, waID, userID string) map[string]any {
	c := map[string]any{"profile": map[string]any{"name": name}}
	if waID != "" {
		c["wa_id"] = waID
	}
	if userID != "" {
		c["user_id"] = userID
	}
	return c
}

// TextMessage is a messages[] entry of type text.
func TextMessage(from, wamid, body string, at time.Time) map[string]any {
	return map[string]any{
		"from":      from,
		"id":        wamid,
		"timestamp": Timestamp(at),
		"type":      "text",
		"text":      map[string]any{"body": body},
	}
}

// MediaMessage is a messages[] entry of a media type (image, document…)
// with the given media object fields.
func MediaMessage(from, wamid, kind string, media map[string]any, at time.Time) map[string]any {
	return map[string]any{
		"from":      from,
		"id":        wamid,
		"timestamp": Timestamp(at),
		"type":      kind,
		kind:        media,
	}
}

// StatusUpdate is a statuses[] entry; errs are its errors (for failed).
func StatusUpdate(wamid, status, recipient string, at time.Time, errs ...map[string]any) map[string]any {
	s := map[string]any{
		"id":           wamid,
		"status":       status,
		"timestamp":    Timestamp(at),
		"recipient_id": recipient,
	}
	if status != "failed" {
		s["conversation"] = map[string]any{"id": "CONVERSATION_ID", "origin": map[string]any{"type": "service"}}
		s["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service"}
	}
	if len(errs) > 0 {
		s["errors"] = errs
	}
	return s
}

// StatusError is an errors[] entry of a failed status.
func StatusError(code int, title, details string) map[string]any {
	return map[string]any{
		"code":       code,
		"title":      title,
		"message":    title,
		"error_data": map[string]any{"details": details},
	}
}

// Timestamp is a Unix time as Meta sends it: a string of seconds.
func Timestamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
