// Package bench holds what the load generator (patchbay-bench) and the
// end-to-end suites share: correctly signed provider payloads, a loopback
// fake of the WhatsApp Cloud API with fault injection, a launcher for the
// real patchbay binary, and per-process CPU and memory readings from /proc.
package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// WhatsAppSignatureHeader carries Meta's signature of a webhook body.
const WhatsAppSignatureHeader = "X-Hub-Signature-256"

// SignWhatsApp returns the X-Hub-Signature-256 value Meta sends: "sha256="
// and the hex HMAC-SHA256 of the raw body keyed with the app secret.
func SignWhatsApp(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWhatsApp checks a signature in constant time (the baseline
// handler's verification, the same computation the plugin does).
func VerifyWhatsApp(appSecret string, body []byte, header string) bool {
	want := SignWhatsApp(appSecret, body)
	return hmac.Equal([]byte(want), []byte(header))
}

// WhatsAppText is a webhook notification in Meta's documented shape
// carrying one text message from waID with the message id wamid.
func WhatsAppText(phoneNumberID, waID, name, wamid, text string, at time.Time) []byte {
	value := map[string]any{
		"messaging_product": "whatsapp",
		"metadata": map[string]any{
			"display_phone_number": "15550100",
			"phone_number_id":      phoneNumberID,
		},
		"contacts": []any{map[string]any{"profile": map[string]any{"name": name}, "wa_id": waID}},
		"messages": []any{map[string]any{
			"from":      waID,
			"id":        wamid,
			"timestamp": strconv.FormatInt(at.Unix(), 10),
			"type":      "text",
			"text":      map[string]any{"body": text},
		}},
	}
	b, err := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id":      "102290129340398",
			"changes": []any{map[string]any{"field": "messages", "value": value}},
		}},
	})
	if err != nil {
		panic(fmt.Sprintf("bench: marshal notification: %v", err))
	}
	return b
}

// WhatsAppMessageID extracts entry[0].changes[0].value.messages[0].id and
// the text from a notification (what the baseline handler parses).
func WhatsAppMessageID(body []byte) (id, text string, err error) {
	var n struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Messages []struct {
						ID   string `json:"id"`
						Text struct {
							Body string `json:"body"`
						} `json:"text"`
					} `json:"messages"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return "", "", fmt.Errorf("decode notification: %w", err)
	}
	if len(n.Entry) == 0 || len(n.Entry[0].Changes) == 0 || len(n.Entry[0].Changes[0].Value.Messages) == 0 {
		return "", "", fmt.Errorf("notification carries no message")
	}
	m := n.Entry[0].Changes[0].Value.Messages[0]
	if m.ID == "" {
		return "", "", fmt.Errorf("message has no id")
	}
	return m.ID, m.Text.Body, nil
}
