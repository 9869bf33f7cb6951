package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAPIErrorClassification(t *testing.T) {
	tests := []struct {
		err                      APIError
		retry, rateLimited, auth bool
	}{
		{APIError{HTTPStatus: 429}, true, true, false},
		{APIError{HTTPStatus: 500}, true, false, false},
		{APIError{HTTPStatus: 400, Code: 130429}, true, true, false},
		{APIError{HTTPStatus: 400, Code: 131056}, true, true, false},
		{APIError{HTTPStatus: 400, Code: 131000}, true, false, false},
		{APIError{HTTPStatus: 400, Code: 131026}, false, false, false},
		{APIError{HTTPStatus: 400, Code: 131047}, false, false, false},
		{APIError{HTTPStatus: 401, Code: 190}, false, false, true},
		{APIError{HTTPStatus: 400, Code: 190}, false, false, true},
	}
	for _, tt := range tests {
		if tt.err.Retryable() != tt.retry || tt.err.RateLimited() != tt.rateLimited || tt.err.AuthFailed() != tt.auth {
			t.Errorf("%+v: retry=%v rate=%v auth=%v", tt.err, tt.err.Retryable(), tt.err.RateLimited(), tt.err.AuthFailed())
		}
	}
	wrapped := errors.Join(errors.New("x"), &APIError{Code: CodeReEngagement})
	if !IsCode(wrapped, CodeReEngagement) || IsCode(wrapped, 1) {
		t.Error("IsCode")
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in      string
		want    FlexInt
		wantErr bool
	}{
		{`123`, 123, false}, {`"303833"`, 303833, false}, {`null`, 0, false}, {`""`, 0, false},
		{`"12a"`, 0, true}, {`1.5`, 0, true}, {`{}`, 0, true},
	}
	for _, tt := range tests {
		var f FlexInt
		err := json.Unmarshal([]byte(tt.in), &f)
		if (err != nil) != tt.wantErr || (err == nil && f != tt.want) {
			t.Errorf("%s: %v, %v", tt.in, f, err)
		}
	}
}

func TestClientRequests(t *testing.T) {
	var gotAuth, gotCT, gotPath string
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotCT, gotPath = r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.URL.Path
		switch {
		case r.URL.Path == "/v24.0/123/messages":
			gotBody, _ = io.ReadAll(r.Body)
			io.WriteString(w, `{"messaging_product":"whatsapp","contacts":[{"input":"1555","wa_id":"1555"}],"messages":[{"id":"wamid.X"}]}`)
		case r.URL.Path == "/v24.0/123/media":
			f, h, err := r.FormFile("file")
			if err != nil || r.FormValue("type") != "text/plain" || r.FormValue("messaging_product") != "whatsapp" {
				w.WriteHeader(400)
				io.WriteString(w, `{"error":{"message":"(#100) bad upload","code":100}}`)
				return
			}
			gotBody, _ = io.ReadAll(f)
			gotPath += "|" + h.Filename
			io.WriteString(w, `{"id":"555"}`)
		case r.URL.Path == "/v24.0/555":
			io.WriteString(w, `{"url":"`+"http://"+r.Host+`/dl/555","mime_type":"text/plain","sha256":"00","file_size":12,"id":"555"}`)
		case strings.HasPrefix(r.URL.Path, "/dl/"):
			io.WriteString(w, "hello, world")
		case r.URL.Path == "/v24.0/bad":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
			io.WriteString(w, `<html>oops</html>`)
		}
	}))
	defer srv.Close()
	c := New(srv.URL+"/v24.0/", "123", "tok", nil)
	ctx := context.Background()

	m := NewMessage("1555", "", "text")
	m.Text = &Text{Body: "hi"}
	id, err := c.SendMessage(ctx, m)
	if err != nil || id != "wamid.X" {
		t.Fatalf("SendMessage = %q, %v", id, err)
	}
	if gotAuth != "Bearer tok" || gotCT != "application/json" || !bytes.Contains(gotBody, []byte(`"to":"1555"`)) || bytes.Contains(gotBody, []byte(`"recipient"`)) {
		t.Errorf("send request: %s %s %s", gotAuth, gotCT, gotBody)
	}

	mid, err := c.UploadMedia(ctx, `we"ird.txt`, "text/plain", strings.NewReader("file body"))
	if err != nil || mid != "555" || string(gotBody) != "file body" || gotPath != `/v24.0/123/media|we"ird.txt` {
		t.Fatalf("UploadMedia = %q, %v (%s, %q)", mid, err, gotBody, gotPath)
	}

	info, err := c.GetMedia(ctx, "555")
	if err != nil || info.FileSize != 12 {
		t.Fatalf("GetMedia = %+v, %v", info, err)
	}
	var buf bytes.Buffer
	if n, err := c.Download(ctx, info.URL, &buf, 100); err != nil || n != 12 || buf.String() != "hello, world" {
		t.Fatalf("Download = %d, %v, %q", n, err, buf.String())
	}
	if _, err := c.Download(ctx, info.URL, io.Discard, 5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Download over limit: %v", err)
	}
	if _, err := c.Download(ctx, "file:///etc/passwd", io.Discard, 5); err == nil {
		t.Fatal("Download of a non-http url succeeded")
	}

	_, err = c.GetMedia(ctx, "bad")
	var ae *APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 503 || ae.RetryAfter != 7*time.Second || !ae.Retryable() {
		t.Fatalf("non-JSON error = %#v", err)
	}
	if strings.Contains(err.Error(), "tok") {
		t.Error("error mentions the token")
	}
}

// An upload the server refuses before reading the body returns the error
// and leaves no writer behind reading the attachment.
func TestUploadRefusedEarly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(413)
		io.WriteString(w, `{"error":{"message":"(#131053) Media upload error","code":131053}}`)
	}))
	defer srv.Close()
	c := New(srv.URL, "123", "tok", nil)
	src := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 8<<20))}
	_, err := c.UploadMedia(context.Background(), "big.bin", "application/octet-stream", src)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 131053 {
		t.Fatalf("err = %v", err)
	}
	n := src.n.Load()
	runtime.Gosched()
	if src.n.Load() != n {
		t.Fatal("the attachment was still being read after UploadMedia returned")
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
