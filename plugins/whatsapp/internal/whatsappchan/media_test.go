package whatsappchan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/sdk"
)

func TestInboundMediaDownloaded(t *testing.T) {
	pdf := []byte("%PDF-1.7\n" + strings.Repeat("invoice line\n", 500))
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{7}, 4096)...)
	voice := []byte("OggS-fake-voice-note")
	tests := []struct {
		name         string
		kind         string
		mediaID      string
		mime         string
		data         []byte
		media        map[string]any
		wantFilename string
		wantText     string
	}{
		{"document keeps its name", "document", "1001", "application/pdf", pdf,
			map[string]any{"filename": "invoice-42.pdf", "caption": "my invoice"}, "invoice-42.pdf", "my invoice"},
		{"image with caption", "image", "1002", "image/jpeg", jpeg,
			map[string]any{"caption": "the broken part"}, "image-1002.jpg", "the broken part"},
		{"voice note", "audio", "1003", "audio/ogg; codecs=opus", voice,
			map[string]any{"voice": true}, "audio-1003.ogg", "[Voice message]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			sha := h.graph.AddMedia(tt.mediaID, tt.mime, tt.data)
			media := map[string]any{"id": tt.mediaID, "mime_type": tt.mime, "sha256": sha}
			for k, v := range tt.media {
				media[k] = v
			}
			wamid := "wamid.MEDIA" + tt.mediaID
			wantStatus(t, h.post(h.notification(customer(), fakegraph.MediaMessage(customerWaID, wamid, tt.kind, media, testNow))), 200)
			got := h.host.messages()
			if len(got) != 1 {
				t.Fatalf("delivered %d messages", len(got))
			}
			m := got[0]
			if m.Text != tt.wantText {
				t.Errorf("text = %q, want %q", m.Text, tt.wantText)
			}
			d, _ := h.host.Delivery(wamid)
			if len(d.Files) != 1 || len(d.Rejected) != 0 {
				t.Fatalf("files = %d, rejected = %v; want 1 file", len(d.Files), d.Rejected)
			}
			f := d.Files[0]
			if f.Filename != tt.wantFilename || f.ContentType != tt.mime || !bytes.Equal(f.Data, tt.data) {
				t.Errorf("stored file = %q %q, %d bytes (want %d)", f.Filename, f.ContentType, len(f.Data), len(tt.data))
			}
			if h.graph.Hits("lookup") != 1 || h.graph.Hits("download") != 1 {
				t.Errorf("lookup/download hits = %d/%d, want 1/1", h.graph.Hits("lookup"), h.graph.Hits("download"))
			}
		})
	}
}

func TestInboundMediaProblems(t *testing.T) {
	data := []byte("%PDF-1.7 some document")
	tests := []struct {
		name       string
		setup      func(h *harness)
		policy     *sdk.AttachmentPolicy
		status     int
		wantAtt    bool
		wantNote   string
		wantGetURL int
		wantDown   int
	}{
		{"media gone at Meta", func(h *harness) {
			h.graph.FailNext("lookup", fakegraph.Failure{HTTPStatus: 404, Code: 100, Subcode: 33, Message: "Object does not exist"})
		}, nil, 200, false, "could not be retrieved from WhatsApp: Object does not exist", 1, 0},
		{"lookup outage is retried by Meta", func(h *harness) {
			h.graph.FailNext("lookup", fakegraph.Failure{HTTPStatus: 503, Code: 2, Message: "Service temporarily unavailable"})
		}, nil, 500, false, "", 1, 0},
		{"download outage is retried by Meta", func(h *harness) {
			h.graph.FailNext("download", fakegraph.Failure{HTTPStatus: 502, Message: "Bad gateway"})
		}, nil, 500, false, "", 1, 1},
		{"hash mismatch: refetched, then noted", func(h *harness) {
			h.graph.SetMediaAnnounced("2001", strings.Repeat("ab", 32), int64(len(data)))
		}, nil, 200, false, "was not stored: integrity check failed: SHA-256", 2, 2},
		{"size mismatch", func(h *harness) {
			h.graph.SetMediaAnnounced("2001", "", int64(len(data))+10)
		}, nil, 200, false, "integrity check failed: got 22 bytes, WhatsApp announced 32", 2, 2},
		{"refused by policy: not downloaded", nil, &sdk.AttachmentPolicy{Allow: []string{".png"}, MaxBytes: 1 << 20}, 200, true, "", 1, 0},
		{"over the size limit: not downloaded", nil, &sdk.AttachmentPolicy{MaxBytes: 10}, 200, true, "", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []harnessOpt
			if tt.policy != nil {
				opts = append(opts, withPolicy(*tt.policy))
			}
			h := newHarness(t, opts...)
			sha := h.graph.AddMedia("2001", "application/pdf", data)
			if tt.setup != nil {
				tt.setup(h)
			}
			media := map[string]any{"id": "2001", "mime_type": "application/pdf", "sha256": sha, "filename": "report.pdf"}
			if tt.name == "hash mismatch: refetched, then noted" {
				media["sha256"] = "" // only the lookup's (wrong) hash applies
			}
			wantStatus(t, h.post(h.notification(customer(), fakegraph.MediaMessage(customerWaID, "wamid.M1", "document", media, testNow))), tt.status)
			if g, d := h.graph.Hits("lookup"), h.graph.Hits("download"); g != tt.wantGetURL || d != tt.wantDown {
				t.Errorf("lookup/download hits = %d/%d, want %d/%d", g, d, tt.wantGetURL, tt.wantDown)
			}
			got := h.host.messages()
			if tt.status != 200 {
				if len(got) != 0 {
					t.Fatalf("a message was stored although the media fetch must be retried")
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("delivered %d messages", len(got))
			}
			d, _ := h.host.Delivery("wamid.M1")
			if len(d.Files) != 0 {
				t.Errorf("%d files stored, want none", len(d.Files))
			}
			if (len(d.Rejected) == 1) != tt.wantAtt {
				t.Errorf("rejected = %v, want the file recorded as rejected: %v", d.Rejected, tt.wantAtt)
			}
			if tt.wantNote != "" && !strings.Contains(got[0].Text, tt.wantNote) {
				t.Errorf("text %q lacks note %q", got[0].Text, tt.wantNote)
			}
			if tt.wantAtt && d.Rejected[0].Filename != "report.pdf" {
				t.Errorf("rejected file = %+v", d.Rejected[0])
			}
		})
	}
}
