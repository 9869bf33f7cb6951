package api

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// upload sends a raw file to POST /api/v1/attachments.
func (e *env) upload(token, query, ctype string, data []byte, hdr ...string) *resp {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.ts.URL+"/api/v1/attachments"+query, bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	e.checkAnswer(req, res, b)
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

func TestUploadAndAttachToReply(t *testing.T) {
	channels := ChannelsFunc(func() []ChannelInfo {
		return []ChannelInfo{{Name: "support", Plugin: "email", State: "running",
			Manifest:    sdk.Manifest{Kind: "email", Capabilities: sdk.Capabilities{AttachmentsOut: true}},
			Attachments: sdk.AttachmentPolicy{Allow: []string{".pdf", ".txt"}, MaxBytes: 1 << 20}}}
	})
	e := newEnv(t, func(o *Options) { o.Channels = channels; o.MaxUploadBytes = 256 << 10 })
	agent, _ := e.agentToken("Ada", "ada@example.test")
	tk := e.channelTicket("support")
	cp := "/api/v1/tickets/" + itoa(tk.ID) + "/comments"

	pdf := bytes.Repeat([]byte("%PDF-1.7 "), 10000) // 90 KB
	r := e.upload(agent, "?filename=invoice.pdf", "application/pdf", pdf)
	if r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var up ticket.Attachment
	r.decode(t, &up)
	if up.ID == "" || up.Size != int64(len(pdf)) || up.ContentType != "application/pdf" || up.Filename != "invoice.pdf" {
		t.Fatalf("upload answer %+v", up)
	}
	// Staged uploads are not served until a comment uses them.
	e.must(404, "GET", "/api/v1/attachments/"+up.ID, agent, nil)

	var reply ticket.Comment
	e.must(201, "POST", cp, agent, map[string]any{"body": "Invoice attached", "public": true, "attachment_ids": []string{up.ID}}).decode(t, &reply)
	if len(reply.Attachments) != 1 || reply.Attachments[0] != up || reply.Delivery == nil {
		t.Fatalf("reply %+v", reply)
	}
	got := e.must(200, "GET", "/api/v1/attachments/"+up.ID, agent, nil)
	if !bytes.Equal(got.body, pdf) || got.header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("download: %d bytes, %s", len(got.body), got.header.Get("Content-Type"))
	}

	exe := e.upload(agent, "?filename=setup.exe", "", []byte("MZ"))
	var exeUp ticket.Attachment
	exe.decode(t, &exeUp)
	if exeUp.ContentType != "application/octet-stream" {
		t.Fatalf("default content type %q", exeUp.ContentType)
	}
	before := e.snap()
	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"used twice", map[string]any{"body": "x", "public": true, "attachment_ids": []string{up.ID}}, "attachment_ids[0]"},
		{"unknown upload", map[string]any{"body": "x", "public": true, "attachment_ids": []string{"nope"}}, "attachment_ids[0]"},
		{"listed twice", map[string]any{"body": "x", "public": false, "attachment_ids": []string{exeUp.ID, exeUp.ID}}, "attachment_ids[1]"},
		{"channel policy", map[string]any{"body": "x", "public": true, "attachment_ids": []string{exeUp.ID}}, "attachment_ids[0]"},
	} {
		r := e.must(422, "POST", cp, agent, c.body)
		if got := r.apiErr(t); got.Field != c.field {
			t.Errorf("%s: error %+v", c.name, got)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("rejected comments changed the store: %+v -> %+v", before, after)
	}
	// An internal note is not bound by the channel's outbound policy.
	var note ticket.Comment
	e.must(201, "POST", cp, agent, map[string]any{"body": "installer", "public": false, "attachment_ids": []string{exeUp.ID}}).decode(t, &note)
	if len(note.Attachments) != 1 {
		t.Fatalf("note %+v", note)
	}

	// Bad uploads.
	for _, c := range []struct {
		name, query string
		data        []byte
		status      int
		field       string
	}{
		{"no filename", "", []byte("x"), 422, "filename"},
		{"path in filename", "?filename=../etc/passwd", []byte("x"), 422, "filename"},
		{"control character", "?filename=a%0Ab.txt", []byte("x"), 422, "filename"},
		{"empty file", "?filename=a.txt", nil, 422, ""},
		{"too large", "?filename=big.pdf", make([]byte, 300<<10), 413, ""},
		{"unknown parameter", "?filename=a.txt&ticket=1", []byte("x"), 422, "ticket"},
	} {
		r := e.upload(agent, c.query, "text/plain", c.data)
		if r.status != c.status {
			t.Errorf("%s: status %d: %s", c.name, r.status, r.body)
			continue
		}
		if got := r.apiErr(t); got.Field != c.field {
			t.Errorf("%s: error %+v", c.name, got)
		}
	}
	// Too large without a Content-Length (chunked): the stream is cut at the
	// limit and nothing is kept.
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/attachments?filename=big.pdf", io.MultiReader(bytes.NewReader(make([]byte, 300<<10))))
	req.Header.Set("Authorization", "Bearer "+agent)
	req.ContentLength = -1
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tooBig, _ := io.ReadAll(res.Body)
	res.Body.Close()
	e.checkAnswer(req, res, tooBig)
	if res.StatusCode != 413 {
		t.Errorf("chunked oversized upload: %d", res.StatusCode)
	}
	if r := e.upload("", "?filename=a.txt", "text/plain", []byte("x")); r.status != 401 {
		t.Errorf("upload without token: %d", r.status)
	}

	// An idempotent retry answers the first upload.
	a := e.upload(agent, "?filename=n.txt", "text/plain", []byte("notes"), "Idempotency-Key: up-1")
	b := e.upload(agent, "?filename=n.txt", "text/plain", []byte("notes"), "Idempotency-Key: up-1")
	if a.status != 201 || b.status != 201 || !bytes.Equal(a.body, b.body) || b.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("idempotent upload: %d %s / %d %s", a.status, a.body, b.status, b.body)
	}
	if c := e.upload(agent, "?filename=n.txt", "text/plain", []byte("other"), "Idempotency-Key: up-1"); c.status != 422 {
		t.Fatalf("same key, other file: %d", c.status)
	}
}
