package webhook

import (
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bodies through everything the channel does with
// a verified webhook: parse, decode each message, find its sender, render
// it. Nothing may panic, and every decodable message renders to text.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"2"},"contacts":[{"profile":{"name":"A"},"wa_id":"3"}],"messages":[{"from":"3","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.1","status":"failed","timestamp":"2","recipient_id":"3","errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w","type":"location","location":{"latitude":"x"}}]}}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w","type":"contacts","contacts":[{"name":{},"phones":[{}]}]},{"id":"v","type":"reaction","reaction":{}},{"id":"u","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"1"}}},{"id":"t","type":"unsupported","errors":[{}]}]}}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w","type":"document","document":{"id":"1","filename":"../../etc/passwd"}}]}}]}]}`,
		`{"entry":null}`, `[]`, `{`, ``, `null`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body)
		if err != nil {
			return
		}
		for _, e := range p.Entry {
			for _, ch := range e.Changes {
				v := &ch.Value
				for i := range v.Messages {
					m, err := v.Message(i)
					if err != nil {
						continue
					}
					_ = v.Sender(m)
					r := m.Render()
					if r.Text == "" {
						t.Fatalf("message %q rendered to empty text", m.ID)
					}
					if utf8.ValidString(string(body)) && !utf8.ValidString(r.Text) {
						t.Fatalf("valid UTF-8 input rendered to invalid UTF-8: %q", r.Text)
					}
					if r.Media != nil && r.Media.ID == "" {
						t.Fatalf("media without id")
					}
				}
				for _, s := range v.Statuses {
					for _, e := range s.Errors {
						_ = e.Describe()
					}
				}
			}
		}
	})
}

// FuzzHandshake checks the subscription handshake never accepts a wrong
// token and never panics on arbitrary queries.
func FuzzHandshake(f *testing.F) {
	f.Add("hub.mode=subscribe&hub.verify_token=secret&hub.challenge=1")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, query string) {
		challenge, ok := Handshake(query, "secret")
		if ok && challenge == "" {
			t.Fatal("accepted without a challenge")
		}
	})
}
