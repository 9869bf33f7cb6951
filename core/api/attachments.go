package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/patchbayhq/patchbay/core/store"
)

// getAttachment streams a stored file with its content type. It is always
// served as a download (Content-Disposition: attachment) with nosniff and a
// sandboxing CSP, so that an uploaded HTML or SVG file cannot run script in
// the API's origin.
func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		return notFound("attachment %q not found", id)
	}
	m, rc, err := s.store.OpenAttachment(id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("attachment %q not found", id)
	}
	if err != nil {
		return storeError(err)
	}
	defer rc.Close()
	if m.Staged {
		return notFound("attachment %q not found", id)
	}
	ct := "application/octet-stream"
	if mt, params, err := mime.ParseMediaType(m.ContentType); err == nil {
		ct = mime.FormatMediaType(mt, params)
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": m.Filename})
	if disp == "" {
		disp = "attachment"
	}
	h.Set("Content-Disposition", disp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=3600")
	if m.SHA256 != "" {
		h.Set("ETag", `"`+m.SHA256+`"`)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, rc); err != nil {
		// The status is sent; the client sees a short body.
		s.log.Warn("streaming an attachment failed", "attachment_id", id, "error", err)
	}
	return nil
}

// getCommentRaw streams the raw provider payload kept for an inbound
// comment (an email's source, a webhook event): inline or in chunks, never
// whole in memory.
func (s *Server) getCommentRaw(w http.ResponseWriter, r *http.Request) error {
	ticketID, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	commentID, err := parseID(r, "comment_id", "comment")
	if err != nil {
		return err
	}
	err = s.view(func(tx *store.ReadTx) error {
		c, err := tx.Comment(commentID)
		if errors.Is(err, store.ErrNotFound) || err == nil && c.TicketID != ticketID {
			return notFound("comment %d not found on ticket %d", commentID, ticketID)
		}
		return err
	})
	if err != nil {
		return err
	}
	info, rc, err := s.store.OpenRaw(commentID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("comment %d has no raw payload", commentID)
	}
	if err != nil {
		return storeError(err)
	}
	defer rc.Close()
	ct := "application/octet-stream"
	if mt, params, err := mime.ParseMediaType(info.ContentType); err == nil {
		ct = mime.FormatMediaType(mt, params)
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("comment-%d-raw", commentID)}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=3600")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("streaming a raw payload failed", "comment_id", commentID, "error", err)
	}
	return nil
}
