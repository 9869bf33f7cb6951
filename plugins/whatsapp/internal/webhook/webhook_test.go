package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSignature(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	// Reference value computed independently:
	// printf '%s' "$body" | openssl dgst -sha256 -hmac secret
	const want = "sha256=56a21e195072d3c07ec2bbf608e0dfeaf322e1917ec30f0cb399c2a43588216e"
	sig := Sign("secret", body)
	if sig != want {
		t.Fatalf("Sign = %q, want %q", sig, want)
	}
	tests := []struct {
		name   string
		secret string
		header string
		ok     bool
	}{
		{"valid", "secret", sig, true},
		{"valid uppercase hex", "secret", "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256=")), true},
		{"surrounding space", "secret", " " + sig + " ", true},
		{"wrong secret", "other", sig, false},
		{"missing prefix", "secret", strings.TrimPrefix(sig, "sha256="), false},
		{"truncated", "secret", sig[:len(sig)-2], false},
		{"empty", "secret", "", false},
	}
	for _, tt := range tests {
		if got := VerifySignature(tt.secret, body, tt.header); got != tt.ok {
			t.Errorf("%s: VerifySignature = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestHandshakeFunc(t *testing.T) {
	tests := []struct {
		query, token, want string
		ok                 bool
	}{
		{"hub.mode=subscribe&hub.verify_token=t0k&hub.challenge=42", "t0k", "42", true},
		{"hub.mode=subscribe&hub.verify_token=t0k&hub.challenge=42", "", "", false},
		{"hub.mode=subscribe&hub.verify_token=t0&hub.challenge=42", "t0k", "", false},
		{"hub.mode=subscribe&hub.verify_token=t0kk&hub.challenge=42", "t0k", "", false},
		{"hub.verify_token=t0k&hub.challenge=42", "t0k", "", false},
	}
	for _, tt := range tests {
		got, ok := Handshake(tt.query, tt.token)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Handshake(%q) = %q, %v", tt.query, got, ok)
		}
	}
}

func TestMessageDecoding(t *testing.T) {
	// From Meta's messages webhook reference (image message).
	body := []byte(`{
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "102290129340398",
    "changes": [{
      "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "user_id": "US.13491208655302741918"}],
        "messages": [{
          "from": "16505551234",
          "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
          "timestamp": "1750090702",
          "type": "image",
          "image": {
            "caption": "New Tasty Tacos!",
            "mime_type": "image/jpeg",
            "sha256": "SfInY0gGlgSbv3+4dZtEn8YgT4DjDKE9yvQvXaMAIeg=",
            "id": "1003383421387256",
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256"
          }
        }]
      },
      "field": "messages"
    }]
  }]
}`)
	p, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	v := &p.Entry[0].Changes[0].Value
	m, err := v.Message(0)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Timestamp.Equal(time.Unix(1750090702, 0)) || m.Image == nil || m.Image.ID != "1003383421387256" {
		t.Fatalf("decoded %+v", m)
	}
	r := m.Render()
	if r.Text != "New Tasty Tacos!" || r.MediaKind != "image" || r.Media.SHA256 == "" {
		t.Errorf("render = %+v", r)
	}
	if c := v.Sender(m); c.UserID != "US.13491208655302741918" || c.Profile.Name != "Sheena Nelson" {
		t.Errorf("sender = %+v", c)
	}
}

func TestSender(t *testing.T) {
	v := &Value{Contacts: []Contact{{WaID: "1", UserID: "US.1"}, {WaID: "2", UserID: "US.2"}}}
	tests := []struct {
		m    Message
		want string
	}{
		{Message{FromUserID: "US.2"}, "US.2"},
		{Message{From: "1"}, "US.1"},
		{Message{From: "3"}, ""},
	}
	for _, tt := range tests {
		if got := v.Sender(&tt.m).UserID; got != tt.want {
			t.Errorf("Sender(%+v) = %q, want %q", tt.m, got, tt.want)
		}
	}
	one := &Value{Contacts: []Contact{{WaID: "9"}}}
	if got := one.Sender(&Message{From: "8"}).WaID; got != "" {
		t.Errorf("a single contact of another sender was used: %q", got)
	}
	if got := one.Sender(&Message{FromUserID: "US.9"}).WaID; got != "9" {
		t.Errorf("the only contact was not used: %q", got)
	}
}

func TestRenderMediaPlaceholders(t *testing.T) {
	tests := []struct {
		msg  string
		want string
	}{
		{`{"id":"w","type":"sticker","sticker":{"id":"1","mime_type":"image/webp","animated":true}}`, "[Animated sticker]"},
		{`{"id":"w","type":"video","video":{"id":"1","mime_type":"video/mp4"}}`, "[Video]"},
		{`{"id":"w","type":"document","document":{"id":"1","filename":"a.pdf"}}`, "[Document: a.pdf]"},
		{`{"id":"w","type":"image","image":{}}`, "[Unsupported WhatsApp message (image): the image carries no media id]"},
		{`{"id":"w","type":"text","text":{"body":""}}`, "[Unsupported WhatsApp message (text): the message has no content]"},
		{`{"id":"w","type":"order","order":{"catalog_id":"c","text":"asap","product_items":[{"product_retailer_id":"SKU-1","quantity":"2","item_price":9.5,"currency":"EUR"}]}}`, "Sent an order (1 item(s))\n- SKU-1 × 2 at 9.5 EUR\nasap"},
		{`{"id":"w","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{\"a\":1}"}}}`, "Submitted a form: Sent\n{\"a\":1}"},
		{`{"id":"w","type":"text","text":{"body":"hi"},"referral":{"source_url":"https://fb.me/ad","headline":"Sale"}}`, "hi\n\n(Sent from an ad: Sale https://fb.me/ad)"},
	}
	for _, tt := range tests {
		var m Message
		if err := json.Unmarshal([]byte(tt.msg), &m); err != nil {
			t.Fatal(err)
		}
		if got := m.Render().Text; got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.msg, got, tt.want)
		}
	}
}

func TestFlexTime(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{`"1750090702"`, 1750090702, false}, {`1750090702`, 1750090702, false}, {`""`, 0, false}, {`null`, 0, false},
		{`"x"`, 0, true}, {`-5`, 0, true}, {`"99999999999999999"`, 0, true},
	}
	for _, tt := range tests {
		var ft FlexTime
		err := json.Unmarshal([]byte(tt.in), &ft)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.in, err)
			continue
		}
		if err == nil && tt.want != 0 && ft.Unix() != tt.want {
			t.Errorf("%s: %v", tt.in, ft.Time)
		}
		if err == nil && tt.want == 0 && !ft.IsZero() {
			t.Errorf("%s: %v, want zero", tt.in, ft.Time)
		}
	}
}
