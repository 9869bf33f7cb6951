package inbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

func (e *env) stage(instance, name string, data []byte, announced int64) Staged {
	e.t.Helper()
	s, err := e.svc.StageAttachment(context.Background(), instance, StagedHeader{Filename: name, ContentType: "application/pdf", Size: announced}, bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func TestAttachments(t *testing.T) {
	e := newEnv(t)
	pdf := bytes.Repeat([]byte("%PDF-1.7 "), 100) // 900 bytes, under wa's 1000
	big := bytes.Repeat([]byte("x"), 1001)
	cases := []struct {
		name     string
		file     string
		data     []byte
		size     int64
		rejected string // substring of the reason; "" = stored
	}{
		{"allowed", "../../etc/Report.PDF", pdf, int64(len(pdf)), ""},
		{"extension not allowed", "setup.exe", pdf, int64(len(pdf)), `file type ".exe" is not allowed`},
		{"announced too big", "big.pdf", big, 1001, "over the 1000 bytes limit"},
		{"streamed too big, size unknown", "big2.txt", big, -1, "over the 1000 bytes limit"},
	}
	var ids []string
	for _, c := range cases {
		s := e.stage("wa", c.file, c.data, c.size)
		if (c.rejected != "") != s.Rejected || !strings.Contains(s.Reason, c.rejected) {
			t.Fatalf("%s: staged %+v", c.name, s)
		}
		ids = append(ids, s.ID)
	}
	r := e.deliver("wa", msg("w1", "1555", "1555", "see attached"), ids...)
	if len(r.Rejected) != 3 || r.Rejected[0].Filename != "setup.exe" {
		t.Fatalf("receipt rejected %+v", r.Rejected)
	}
	cs := e.comments(r.TicketID)
	if len(cs) != 2 {
		t.Fatalf("%d comments, want message + note", len(cs))
	}
	got := cs[0].Attachments
	if len(got) != 1 || got[0].Filename != "Report.PDF" || got[0].Size != int64(len(pdf)) || got[0].ContentType != "application/pdf" {
		t.Fatalf("attachments %+v", got)
	}
	note := cs[1]
	if note.Public || note.Via != ticket.ViaSystem || !strings.Contains(note.Body, `"setup.exe" was not stored`) || !strings.Contains(note.Body, "big2.txt") {
		t.Fatalf("note %+v", note)
	}
	// The stored file streams back, to this instance only.
	rc, err := e.svc.OpenAttachment(context.Background(), "wa", got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(back, pdf) {
		t.Fatal("attachment content differs")
	}
	if _, err := e.svc.OpenAttachment(context.Background(), "it-help", got[0].ID); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("other instance opened the file: %v", err)
	}
	if _, err := e.svc.OpenAttachment(context.Background(), "wa", "no-such-id"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	// A rejected file's bytes were never kept.
	if _, _, err := e.st.OpenAttachment(ids[1]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rejected file readable: %v", err)
	}
	e.check()
}

func TestLargeAttachmentStreamsInChunks(t *testing.T) {
	e := newEnv(t)
	data := make([]byte, 5<<20+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := sha256.Sum256(data)
	s, err := e.svc.StageAttachment(context.Background(), "support", StagedHeader{Filename: "scan.pdf", SHA256: hex.EncodeToString(sum[:]), Size: -1}, bytes.NewReader(data))
	if err != nil || s.Rejected || s.Size != int64(len(data)) {
		t.Fatalf("%+v %v", s, err)
	}
	_, rc, err := e.st.OpenAttachment(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, rc)
	if !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("content differs")
	}
	// A wrong checksum is an error and keeps nothing.
	_, err = e.svc.StageAttachment(context.Background(), "support", StagedHeader{Filename: "x.pdf", SHA256: strings.Repeat("0", 64)}, bytes.NewReader(data[:1000]))
	if !errors.Is(err, store.ErrChecksum) {
		t.Fatalf("checksum mismatch: %v", err)
	}
}

func TestStagedCollectedAfterTTL(t *testing.T) {
	e := newEnv(t)
	used := e.stage("support", "a.txt", []byte("kept"), 4)
	unused := e.stage("support", "b.txt", []byte("dropped"), 7)
	rejected := e.stage("support", "c.exe", []byte("x"), 1)
	e.deliver("support", msg("<1@x>", "<1@x>", "ann@x.test", "hi"), used.ID)
	e.clock.Add(23 * time.Hour)
	if n, err := e.svc.CollectStaged(context.Background()); err != nil || n != 0 {
		t.Fatalf("collected %d early (%v)", n, err)
	}
	e.clock.Add(2 * time.Hour)
	n, err := e.svc.CollectStaged(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("collected %d (%v), want 2", n, err)
	}
	if _, _, err := e.st.OpenAttachment(unused.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unused staged file still there: %v", err)
	}
	if _, _, err := e.st.OpenAttachment(used.ID); err != nil {
		t.Fatalf("claimed file collected: %v", err)
	}
	// Delivering with a collected id fails, so the plugin stages again.
	if _, err := e.svc.Deliver(context.Background(), "support", msg("<2@x>", "<2@x>", "ann@x.test", "hi"), []string{rejected.ID}); !errors.Is(err, ErrUnknownAttachment) {
		t.Fatalf("collected id: %v", err)
	}
}
