package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/sdk"
)

// maxFilename bounds a stored file name.
const maxFilename = 255

// cleanFilename keeps the base name of a provider file name, without
// control characters or path separators.
func cleanFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base("/" + name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == "/" {
		name = "attachment"
	}
	if len(name) > maxFilename {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		cut := maxFilename - len(ext)
		for cut > 0 && name[cut]&0xC0 == 0x80 {
			cut--
		}
		name = name[:cut] + ext
	}
	return name
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// StageAttachment stores one inbound file for a following Deliver, after
// checking it against the instance's policy: a file whose extension is not
// allowed, or whose size (announced or streamed) is over the limit, is
// recorded as rejected with the reason and its bytes are not kept. Staged
// files not referenced by a Deliver within StagedTTL are collected.
func (s *Service) StageAttachment(ctx context.Context, instance string, h StagedHeader, r io.Reader) (Staged, error) {
	inst, err := s.instance(instance)
	if err != nil {
		return Staged{}, err
	}
	if h.Raw {
		return s.stageRaw(ctx, instance, h.ContentType, h.SHA256, r)
	}
	pol := inst.policy()
	name := cleanFilename(h.Filename)
	ctype := strings.TrimSpace(h.ContentType)
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	meta := &store.AttachmentMeta{Filename: name, ContentType: ctype, SHA256: strings.ToLower(h.SHA256), Instance: instance}
	reject := func(reason string, size int64) (Staged, error) {
		meta.Reason = reason
		meta.Size = size
		if err := s.st.StageRejected(ctx, meta); err != nil {
			return Staged{}, err
		}
		s.log.Info("attachment rejected", "instance", instance, "filename", name, "reason", reason)
		return Staged{ID: meta.ID, Rejected: true, Reason: reason, Size: size}, nil
	}
	ext := strings.ToLower(path.Ext(name))
	allowed := false
	for _, a := range pol.Allow {
		if ext == a {
			allowed = true
			break
		}
	}
	if !allowed {
		return reject(fmt.Sprintf("file type %q is not allowed on this channel (allowed: %s)", ext, strings.Join(pol.Allow, " ")), h.Size)
	}
	if h.Size > pol.MaxBytes {
		return reject(fmt.Sprintf("file is %s, over the %s limit", formatSize(h.Size), formatSize(pol.MaxBytes)), h.Size)
	}
	err = s.st.WriteAttachment(ctx, meta, r, pol.MaxBytes)
	if errors.Is(err, store.ErrAttachmentTooLarge) {
		return reject(fmt.Sprintf("file is over the %s limit", formatSize(pol.MaxBytes)), -1)
	}
	if err != nil {
		return Staged{}, fmt.Errorf("inbound: stage %q: %w", name, err)
	}
	return Staged{ID: meta.ID, Size: meta.Size}, nil
}

// OpenAttachment streams a stored attachment to a plugin: only files of
// its own instance (received on it, or on a ticket of that channel).
func (s *Service) OpenAttachment(ctx context.Context, instance, id string) (io.ReadCloser, error) {
	if _, err := s.instance(instance); err != nil {
		return nil, err
	}
	meta, rc, err := s.st.OpenAttachment(id)
	if errors.Is(err, store.ErrNotFound) {
		// The plugin sees "not found" (sdk.ErrNotFound crosses the wire).
		return nil, fmt.Errorf("%w: %w", sdk.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	if meta.Instance == instance {
		return rc, nil
	}
	var channel string
	if meta.TicketID != 0 {
		_ = s.st.View(func(r *store.ReadTx) error {
			t, err := r.Ticket(meta.TicketID)
			if err == nil {
				channel = t.Channel
			}
			return err
		})
	}
	if channel != instance {
		rc.Close()
		return nil, fmt.Errorf("attachment %s: %w: %w", id, sdk.ErrNotFound, store.ErrNotFound)
	}
	return rc, nil
}

// MaxRawBytes bounds a raw payload the core keeps (Options.MaxRawBytes may
// lower it). It is above every
// channel's own limit (the email channel's max_message_mb allows 1024 MiB),
// so the raw payload of a message a channel accepted is never what makes
// the core refuse it; a larger one is recorded as not kept and the message
// is stored without it.
const MaxRawBytes int64 = 2 << 30

// stageRaw stores a message's raw payload in chunks, outside the
// attachment policy (a raw payload is not a file the customer sent): up to
// MaxRawBytes, beyond which it is recorded as rejected with the reason (the
// message is then stored without it, see Deliver).
func (s *Service) stageRaw(ctx context.Context, instance, contentType, sum string, r io.Reader) (Staged, error) {
	ctype := strings.TrimSpace(contentType)
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	meta := &store.AttachmentMeta{Filename: "raw", ContentType: ctype, SHA256: strings.ToLower(sum), Instance: instance, Raw: true}
	err := s.st.WriteAttachment(ctx, meta, r, s.opts.MaxRawBytes)
	if errors.Is(err, store.ErrAttachmentTooLarge) {
		meta.ID = ""
		meta.Reason = fmt.Sprintf("the raw message is over the %s the core keeps", formatSize(s.opts.MaxRawBytes))
		meta.Size = -1
		if err := s.st.StageRejected(ctx, meta); err != nil {
			return Staged{}, err
		}
		s.log.Info("raw payload not kept", "instance", instance, "reason", meta.Reason)
		return Staged{ID: meta.ID, Rejected: true, Reason: meta.Reason, Size: -1}, nil
	}
	if err != nil {
		return Staged{}, fmt.Errorf("inbound: stage the raw payload: %w", err)
	}
	return Staged{ID: meta.ID, Size: meta.Size}, nil
}
