package webhook

import (
	"fmt"
	"testing"
)

// BenchmarkParseRender measures parsing a 20-message batch and rendering
// every message.
func BenchmarkParseRender(b *testing.B) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"from":"16505551234","id":"wamid.%d","timestamp":"1749416383","type":"location","location":{"latitude":37.48,"longitude":122.14,"name":"Philz Coffee","address":"101 Forest Ave"}}`, i)
	}
	body = append(body, "]}}]}]}"...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(body)
		if err != nil {
			b.Fatal(err)
		}
		v := &p.Entry[0].Changes[0].Value
		for i := range v.Messages {
			m, err := v.Message(i)
			if err != nil {
				b.Fatal(err)
			}
			_ = v.Sender(m)
			_ = m.Render()
		}
	}
}
