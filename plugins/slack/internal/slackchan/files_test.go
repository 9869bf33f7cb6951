package slackchan

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
)

func TestFileShareDownloadedWithBotToken(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	pdf := bytes.Repeat([]byte("%PDF-1.7 report "), 4096) // 64 KiB
	png := []byte("\x89PNG\r\n\x1a\nfake image")
	ev := fakeslack.DMEvent("1700000000.000800", map[string]any{
		"subtype": "file_share", "text": "screenshots attached", "upload": false, "display_as_bot": false,
		"files": []any{
			fakeslack.File("F0PDF", "report.pdf", "application/pdf", len(pdf), h.slack.AddFile("F0PDF/report.pdf", pdf)),
			fakeslack.File("F0PNG", "screen.png", "image/png", len(png), h.slack.AddFile("F0PNG/screen.png", png)),
			// A file deleted before the event was handled: nothing to download.
			map[string]any{"id": "F0GONE", "mode": "tombstone"},
		},
	})
	resp := hook(t, h.ch, signedRequest(fakeslack.Callback(ev), nil))
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d %s", resp.Status, resp.Body)
	}
	got := h.host.delivered()
	if len(got) != 1 {
		t.Fatalf("delivered %d, want 1", len(got))
	}
	m := got[0]
	if m.Text != "screenshots attached" {
		t.Errorf("text %q", m.Text)
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("attachments %d, want 2 (tombstone skipped)", len(m.Attachments))
	}
	if a := m.Attachments[0]; a.Filename != "report.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(pdf)) {
		t.Errorf("attachment 0 = %s %s %d", a.Filename, a.ContentType, a.Size)
	}
	files := h.host.files[m.ExternalID]
	if !bytes.Equal(files["report.pdf"], pdf) || !bytes.Equal(files["screen.png"], png) {
		t.Errorf("downloaded contents differ from the files Slack served")
	}
	for _, a := range h.slack.FileAuth() {
		if a != "Bearer "+fakeslack.BotToken {
			t.Errorf("file downloaded with Authorization %q, want the bot token", a)
		}
	}
}

func TestFileShareAttachmentsLeftToTheCore(t *testing.T) {
	// A file outside the allowlist is still passed on (lazily): the core
	// decides and names the rejection in an internal note.
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	exe := []byte("MZ not really")
	ev := fakeslack.DMEvent("1700000000.000801", map[string]any{
		"subtype": "file_share", "text": "",
		"files": []any{fakeslack.File("F0EXE", "setup.exe", "application/octet-stream", len(exe), h.slack.AddFile("F0EXE/setup.exe", exe))},
	})
	if resp := hook(t, h.ch, signedRequest(fakeslack.Callback(ev), nil)); resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	got := h.host.delivered()
	if len(got) != 1 || len(got[0].Attachments) != 1 || got[0].Attachments[0].Filename != "setup.exe" {
		t.Fatalf("want the message with setup.exe passed to the core, got %+v", got)
	}
}

func TestFileShareDownloadFailureIsRetried(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	ev := fakeslack.DMEvent("1700000000.000802", map[string]any{
		"subtype": "file_share",
		"files":   []any{fakeslack.File("F0MISS", "missing.pdf", "application/pdf", 10, h.slack.URL()+"/files/F0MISS/missing.pdf")},
	})
	resp := hook(t, h.ch, signedRequest(fakeslack.Callback(ev), nil))
	if resp.Status < 500 {
		t.Fatalf("status %d when the file could not be downloaded, want 5xx so Slack retries", resp.Status)
	}
	if n := len(h.host.delivered()); n != 0 {
		t.Errorf("delivered %d, want 0", n)
	}
}

func TestFileDownloadNeverSendsTokenElsewhere(t *testing.T) {
	// A url_private_download pointing outside Slack and the api_url host
	// must not receive the bot token.
	other := fakeslack.New(t)
	content := []byte("secret-free")
	url := other.AddFile("F0X/x.txt", content)
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	ev := fakeslack.DMEvent("1700000000.000803", map[string]any{
		"subtype": "file_share",
		"files":   []any{fakeslack.File("F0X", "x.txt", "text/plain", len(content), url)},
	})
	resp := hook(t, h.ch, signedRequest(fakeslack.Callback(ev), nil))
	if resp.Status < 500 {
		t.Errorf("status %d, want 5xx (download refused)", resp.Status)
	}
	for _, a := range other.FileAuth() {
		if strings.Contains(a, fakeslack.BotToken) {
			t.Fatalf("bot token sent to a foreign host")
		}
	}
}
