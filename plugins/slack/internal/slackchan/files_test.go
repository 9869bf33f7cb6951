package slackchan

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
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
	d, _ := h.host.Delivery(m.ExternalID)
	if len(d.Files) != 2 {
		t.Fatalf("attachments %d, want 2 (tombstone skipped)", len(d.Files))
	}
	if got := m.Metadata["slack_files_not_downloaded"]; got != "F0GONE" {
		t.Errorf("skipped files noted as %q, want F0GONE", got)
	}
	if a := d.Files[0]; a.Filename != "report.pdf" || a.ContentType != "application/pdf" || !bytes.Equal(a.Data, pdf) {
		t.Errorf("attachment 0 = %s %s %d bytes, want report.pdf application/pdf with the bytes Slack served", a.Filename, a.ContentType, len(a.Data))
	}
	if a := d.Files[1]; a.Filename != "screen.png" || !bytes.Equal(a.Data, png) {
		t.Errorf("attachment 1 = %s %d bytes, want screen.png with the bytes Slack served", a.Filename, len(a.Data))
	}
	for _, a := range h.slack.FileAuth() {
		if a != "Bearer "+fakeslack.BotToken {
			t.Errorf("file downloaded with Authorization %q, want the bot token", a)
		}
	}
}

func TestFileShareRefusedFilesNamedNotDownloaded(t *testing.T) {
	// Files the channel's policy clearly refuses are passed on without their
	// bytes, so the core names the rejection; they are never downloaded.
	fs := fakeslack.New(t)
	host := channeltest.NewFakeHost()
	policy := sdk.AttachmentPolicy{Allow: []string{".pdf", ".txt"}, MaxBytes: 1000}
	host.SetPolicy(policy)
	ch := New()
	cfg := []byte(`{"signing_secret":"` + fakeslack.Secret + `","bot_token":"` + fakeslack.BotToken + `","api_url":"` + fs.APIURL() + `"}`)
	if err := ch.Configure(context.Background(), sdk.ConfigureRequest{Instance: "it-help", Config: cfg, Host: host, Attachments: policy}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background()) })
	if err := ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	exe := []byte("MZ not really")
	big := bytes.Repeat([]byte("x"), 5000)
	txt := []byte("fine")
	ev := fakeslack.DMEvent("1700000000.000801", map[string]any{
		"subtype": "file_share", "text": "",
		"files": []any{
			fakeslack.File("F0EXE", "setup.exe", "application/octet-stream", len(exe), fs.AddFile("F0EXE/setup.exe", exe)),
			fakeslack.File("F0BIG", "big.pdf", "application/pdf", len(big), fs.AddFile("F0BIG/big.pdf", big)),
			fakeslack.File("F0TXT", "ok.txt", "text/plain", len(txt), fs.AddFile("F0TXT/ok.txt", txt)),
		},
	})
	resp, err := ch.HandleWebhook(context.Background(), signedRequest(fakeslack.Callback(ev), nil))
	if err != nil || resp.Status != 200 {
		t.Fatalf("answered %v %v", resp, err)
	}
	ds := host.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("delivered %d, want 1", len(ds))
	}
	var rejected []string
	for _, r := range ds[0].Rejected {
		rejected = append(rejected, r.Filename)
	}
	if strings.Join(rejected, ",") != "setup.exe,big.pdf" {
		t.Errorf("rejected %v, want setup.exe and big.pdf named", rejected)
	}
	if len(ds[0].Files) != 1 || string(ds[0].Files[0].Data) != "fine" {
		t.Errorf("stored files %+v, want ok.txt", ds[0].Files)
	}
	if n := len(fs.FileAuth()); n != 1 {
		t.Errorf("%d downloads, want 1 (refused files are not downloaded)", n)
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
