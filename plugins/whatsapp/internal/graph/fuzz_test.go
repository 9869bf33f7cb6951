package graph

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// answerTransport answers every request with one canned response, without
// any network: the fuzzer plays the Graph API.
type answerTransport struct {
	status     int
	retryAfter string
	body       []byte
}

func (a answerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if a.retryAfter != "" {
		h.Set("Retry-After", a.retryAfter)
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), Request: req}, nil
}

// FuzzAnswers feeds arbitrary Graph API answers (status, Retry-After, body)
// to every call that parses one: no panic; a non-2xx answer is always an
// *APIError with that status, retryable for 429 and 5xx; a call that
// succeeds returns the id it needs; no error ever carries the token.
func FuzzAnswers(f *testing.F) {
	f.Add(200, "", []byte(`{"messaging_product":"whatsapp","contacts":[{"input":"15551234567","wa_id":"15551234567"}],"messages":[{"id":"wamid.HBgL"}]}`))
	f.Add(200, "", []byte(`{"id":"1037543291543636","url":"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1","mime_type":"image/jpeg","sha256":"ab","file_size":"303833"}`))
	f.Add(400, "", []byte(`{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"more than 24 hours"},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}`))
	f.Add(429, "30", []byte(`{"error":{"message":"(#130429) Rate limit hit","code":130429}}`))
	f.Add(503, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`<html>down</html>`))
	f.Add(401, "", []byte(`{"error":{"code":"190"}}`))
	f.Add(200, "", []byte(`{"file_size":1e99}`))
	f.Add(200, "", []byte(``))
	const token = "EAAG-fuzz-secret-token"
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if status < 100 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		c := New("https://graph.example.test/v24.0", "106540352242922", token,
			&http.Client{Transport: answerTransport{status: status, retryAfter: retryAfter, body: body}})
		ctx := context.Background()
		check := func(call string, err error) {
			t.Helper()
			if err == nil {
				if status/100 != 2 {
					t.Fatalf("%s: HTTP %d answered without an error", call, status)
				}
				return
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("%s: error carries the token: %v", call, err)
			}
			var ae *APIError
			if status/100 != 2 {
				if !errors.As(err, &ae) || ae.HTTPStatus != status {
					t.Fatalf("%s: HTTP %d gave %T %v", call, status, err, err)
				}
				if (status == http.StatusTooManyRequests || status >= 500) && !ae.Retryable() {
					t.Fatalf("%s: HTTP %d not retryable", call, status)
				}
				if ae.RetryAfter < 0 {
					t.Fatalf("%s: negative Retry-After %v", call, ae.RetryAfter)
				}
			}
		}
		id, err := c.SendMessage(ctx, NewMessage("15551234567", "", "text"))
		check("send", err)
		if err == nil && id == "" {
			t.Fatal("send succeeded without a message id")
		}
		mi, err := c.GetMedia(ctx, "1037543291543636")
		check("media", err)
		if err == nil && mi.URL == "" {
			t.Fatal("media lookup succeeded without a url")
		}
		mid, err := c.UploadMedia(ctx, "a.pdf", "application/pdf", strings.NewReader("%PDF"))
		check("upload", err)
		if err == nil && mid == "" {
			t.Fatal("upload succeeded without a media id")
		}
		_, err = c.GetPhoneNumber(ctx)
		check("phone number", err)
		var buf bytes.Buffer
		n, err := c.Download(ctx, "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1", &buf, 64)
		check("download", err)
		if err == nil && (n != int64(len(body)) || n > 64) {
			t.Fatalf("download wrote %d bytes of %d (limit 64)", n, len(body))
		}
		if errors.Is(err, ErrTooLarge) != (status/100 == 2 && len(body) > 64) {
			t.Fatalf("download of %d bytes: %v", len(body), err)
		}
	})
}
