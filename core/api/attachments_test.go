package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"mime"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
)

func TestGetAttachment(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	tk := e.channelTicket("support")
	ctx := context.Background()
	// 600 KiB: several store chunks.
	data := make([]byte, 600<<10)
	_, _ = rand.Read(data)
	cases := []struct {
		name, filename, ctype, wantType string
		data                            []byte
	}{
		{"pdf", "Rapport d'été.pdf", "application/pdf", "application/pdf", data},
		{"html is downloaded, not rendered", "x.html", "text/html; charset=utf-8", "text/html; charset=utf-8", []byte("<script>alert(1)</script>")},
		{"bad content type", "y.bin", "not a type", "application/octet-stream", []byte("zz")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &store.AttachmentMeta{Filename: c.filename, ContentType: c.ctype, Instance: "support"}
			if err := e.st.WriteAttachment(ctx, m, bytes.NewReader(c.data), 0); err != nil {
				t.Fatal(err)
			}
			// Staged (not yet on a comment): not served.
			e.must(404, "GET", "/api/v1/attachments/"+m.ID, agent, nil)
			if err := e.st.Update(ctx, func(tx *store.Tx) error {
				_, err := tx.ClaimStaged(m.ID, tk.ID, 1)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			r := e.must(200, "GET", "/api/v1/attachments/"+m.ID, agent, nil)
			if !bytes.Equal(r.body, c.data) {
				t.Fatalf("body differs (%d bytes, want %d)", len(r.body), len(c.data))
			}
			if got := r.header.Get("Content-Type"); got != c.wantType {
				t.Errorf("Content-Type %q, want %q", got, c.wantType)
			}
			disp, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
			if err != nil || disp != "attachment" || params["filename"] != c.filename {
				t.Errorf("Content-Disposition %q (%v)", r.header.Get("Content-Disposition"), err)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Content-Security-Policy") == "" {
				t.Errorf("missing hardening headers: %v", r.header)
			}
		})
	}
}
