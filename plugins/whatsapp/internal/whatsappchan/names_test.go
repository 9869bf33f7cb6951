package whatsappchan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

func TestMediaFilename(t *testing.T) {
	tests := []struct {
		kind, id, filename, contentType, want string
	}{
		{"document", "1", "Invoice 42.pdf", "application/pdf", "Invoice 42.pdf"},
		{"document", "1", "../../etc/passwd", "text/plain", "_.._etc_passwd"},
		{"document", "1", "report", "application/pdf", "report.pdf"},
		{"document", "1", "a\x00b\nc.pdf", "application/pdf", "a_b_c.pdf"},
		{"document", "1", strings.Repeat("x", 300) + ".pdf", "application/pdf", strings.Repeat("x", 196) + ".pdf"},
		{"image", "77", "", "image/jpeg", "image-77.jpg"},
		{"audio", "78", "", "audio/ogg; codecs=opus", "audio-78.ogg"},
		{"video", "79", "", "video/mp4", "video-79.mp4"},
		{"sticker", "80", "", "image/webp", "sticker-80.webp"},
		{"document", "81", "", "application/x-unknown-thing", "document-81.bin"},
		{"document", "82", "", "not a mime type", "document-82.bin"},
	}
	for _, tt := range tests {
		got := mediaFilename(tt.kind, &webhook.Media{ID: tt.id, Filename: tt.filename}, tt.contentType)
		if got != tt.want {
			t.Errorf("mediaFilename(%q, %q, %q) = %q, want %q", tt.kind, tt.filename, tt.contentType, got, tt.want)
		}
	}
}

func TestOutboundKind(t *testing.T) {
	tests := []struct {
		contentType string
		size        int64
		want        string
	}{
		{"image/jpeg", 1000, "image"},
		{"image/png", maxImageBytes, "image"},
		{"image/png", maxImageBytes + 1, "document"},
		{"image/gif", 10, "document"},
		{"video/mp4", 10 << 20, "video"},
		{"video/mp4", 20 << 20, "document"},
		{"audio/ogg", 100, "audio"},
		{"audio/mpeg", -1, "document"},
		{"application/pdf", 100, "document"},
	}
	for _, tt := range tests {
		if got := outboundKind(tt.contentType, tt.size); got != tt.want {
			t.Errorf("outboundKind(%q, %d) = %q, want %q", tt.contentType, tt.size, got, tt.want)
		}
	}
}

// When the plugin's copy of the policy refuses a file the core accepts
// after all, the core reads it through the attachment's Open, which
// streams it from Meta.
func TestRefusedMediaStreamedWhenTheCoreReadsIt(t *testing.T) {
	h := newHarness(t, withPolicy(sdk.AttachmentPolicy{Allow: []string{".png"}}))
	h.host.SetPolicy(channeltest.DefaultPolicy())
	data := []byte("%PDF streamed on demand")
	sha := h.graph.AddMedia("4001", "application/pdf", data)
	wantStatus(t, h.post(h.notification(customer(), fakegraph.MediaMessage(customerWaID, "wamid.L1", "document",
		map[string]any{"id": "4001", "mime_type": "application/pdf", "sha256": sha, "filename": "late.pdf"}, testNow))), 200)
	d, ok := h.host.Delivery("wamid.L1")
	if !ok || len(d.Files) != 1 || !bytes.Equal(d.Files[0].Data, data) {
		t.Fatalf("delivery = %+v", d)
	}
	if h.graph.Hits("lookup") != 2 || h.graph.Hits("download") != 1 {
		t.Errorf("lookup/download = %d/%d, want 2/1 (header first, then the streamed read)", h.graph.Hits("lookup"), h.graph.Hits("download"))
	}
}
