package api

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// DefaultMaxUploadBytes is the upload limit when Options.MaxUploadBytes is
// zero (the default channel attachment limit).
const DefaultMaxUploadBytes = 20 << 20

// maxAttachmentsPerComment bounds attachment_ids.
const maxAttachmentsPerComment = 20

// validFilename checks an uploaded file's name: a base name of printable
// characters, no path separators.
func validFilename(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return invalidField("filename", "is required: POST /api/v1/attachments?filename=report.pdf")
	case len(name) > 255:
		return invalidField("filename", "must be at most 255 bytes")
	case name == "." || name == ".." || strings.ContainsAny(name, `/\`):
		return invalidField("filename", "must be a file name without a directory")
	}
	if err := checkText("filename", name, 255); err != nil {
		return err
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return invalidField("filename", "must not contain control characters")
		}
	}
	return nil
}

// uploadAttachment serves POST /api/v1/attachments?filename=…: the body is
// the file itself (its Content-Type is kept), streamed into the store in
// chunks. The answer names a staged upload; attach it to a comment with
// attachment_ids within 24 hours, after which an unused upload is deleted.
//
// With an Idempotency-Key the request is identified by the file's SHA-256:
// a retry gets the first upload's answer (its own copy stays unreferenced
// and is collected).
func (s *Server) uploadAttachment(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "filename")
	if err != nil {
		return err
	}
	name := q.Get("filename")
	if err := validFilename(name); err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	if r.ContentLength == 0 {
		return invalidField("", "the file is empty")
	}
	if r.ContentLength > s.maxUpload {
		return tooLarge(s.maxUpload)
	}
	ct := "application/octet-stream"
	if v := r.Header.Get("Content-Type"); v != "" {
		mt, params, err := mime.ParseMediaType(v)
		if err != nil {
			return invalidField("Content-Type", "is not a valid media type")
		}
		ct = mime.FormatMediaType(mt, params)
	}
	m := &store.AttachmentMeta{Filename: name, ContentType: ct}
	if err := s.store.WriteAttachment(r.Context(), m, r.Body, s.maxUpload); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, store.ErrAttachmentTooLarge), errors.As(err, &mbe):
			return tooLarge(s.maxUpload)
		case errors.Is(err, ErrBodyTimeout):
			return bodyTimeout()
		}
		return storeError(err)
	}
	if m.Size == 0 {
		return invalidField("", "the file is empty")
	}
	body := ticket.Attachment{ID: m.ID, Filename: m.Filename, ContentType: m.ContentType, Size: m.Size}
	res := &result{status: http.StatusCreated, body: body,
		header: http.Header{"Location": {"/api/v1/attachments/" + m.ID}}}
	// The request's fingerprint: the file name, type and content hash.
	fingerprint := []byte(fmt.Sprintf(`{"filename":%q,"content_type":%q,"sha256":%q}`, name, ct, m.SHA256))
	if key == "" {
		fingerprint = nil
	}
	return s.commitResult(w, r, key, fingerprint, func(*store.Tx) (*result, error) { return res, nil })
}

// attachmentsForComment validates attachment_ids for a new comment on t
// and returns their metadata: each must be a complete upload not yet used,
// and a public reply's files must pass the channel's outbound policy.
func (s *Server) attachmentsForComment(tx *store.Tx, t *ticket.Ticket, ids []string, public bool) ([]ticket.Attachment, error) {
	if len(ids) > maxAttachmentsPerComment {
		return nil, invalidField("attachment_ids", "at most %d files per comment", maxAttachmentsPerComment)
	}
	var ch *ChannelInfo
	if public && t.Channel != "" && s.channels != nil {
		for _, c := range s.channels.Channels() {
			if c.Name == t.Channel {
				ch = &c
				break
			}
		}
	}
	out := make([]ticket.Attachment, 0, len(ids))
	seen := map[string]bool{}
	for i, id := range ids {
		field := fmt.Sprintf("attachment_ids[%d]", i)
		if seen[id] {
			return nil, invalidField(field, "is listed twice")
		}
		seen[id] = true
		m, err := tx.Attachment(id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (!m.Staged || !m.Complete || m.Rejected)) {
			return nil, invalidField(field, "is not an unused upload; upload the file with POST /api/v1/attachments")
		}
		if err != nil {
			return nil, err
		}
		if ch != nil {
			if ch.Manifest.Kind != "" && !ch.Manifest.Capabilities.AttachmentsOut {
				return nil, invalidField(field, "channel %s cannot send files", t.Channel)
			}
			if !ch.Attachments.Allows(m.Filename, m.Size) {
				return nil, invalidField(field, "%s is not allowed on channel %s (type or size)", m.Filename, t.Channel)
			}
		}
		out = append(out, ticket.Attachment{ID: m.ID, Filename: m.Filename, ContentType: m.ContentType, Size: m.Size})
	}
	return out, nil
}
