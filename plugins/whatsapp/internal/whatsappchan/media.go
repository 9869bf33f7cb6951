package whatsappchan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"strings"
	"unicode"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/graph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"
)

// fetched is the outcome of fetching one inbound media file: an attachment,
// or a note explaining to agents why there is none.
type fetched struct {
	att     *sdk.Attachment
	note    string
	cleanup func()
}

// errIntegrity marks a download whose size or hash disagrees with Meta's.
var errIntegrity = errors.New("integrity check failed")

// fetchMedia downloads an inbound media file right away (Meta's media URLs
// expire within minutes): GET /{media-id} for the URL, then GET the URL with
// the bearer token, checking size and SHA-256. Files the attachment policy
// will refuse are not downloaded: the core records them as rejected from
// their name and size. The returned error is set only when retrying the
// webhook can help.
func (c *Channel) fetchMedia(ctx context.Context, rt *runtime, wamid, kind string, m *webhook.Media) (*fetched, error) {
	out := &fetched{cleanup: func() {}}
	info, err := rt.client.GetMedia(ctx, m.ID)
	if err != nil {
		if transient(err) {
			return nil, fmt.Errorf("look up media %s: %w", m.ID, err)
		}
		rt.log.Warn("media lookup failed", "wamid", wamid, "media_id", m.ID, "error", err)
		out.note = fmt.Sprintf("[The %s could not be retrieved from WhatsApp: %s]", kind, apiReason(err))
		return out, nil
	}
	contentType := firstNonEmpty(m.MimeType, info.MimeType, "application/octet-stream")
	filename := mediaFilename(kind, m, contentType)
	size := int64(info.FileSize)
	limit := int64(MaxMediaBytes)
	if rt.policy.MaxBytes > 0 && rt.policy.MaxBytes < limit {
		limit = rt.policy.MaxBytes
	}
	if size > limit || !rt.policy.Allows(filename, 0) {
		// Hand the core the file's header only; it records the refusal.
		// Open fetches it afresh should anything read it after all.
		out.att = &sdk.Attachment{
			Filename: filename, ContentType: contentType, Size: size,
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				return c.openMedia(ctx, rt, m.ID, limit)
			},
		}
		if size <= 0 {
			out.att.Size = -1
		}
		return out, nil
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		f, n, sum, err := c.downloadToTemp(ctx, rt, info.URL, limit)
		if err == nil {
			err = checkIntegrity(n, sum, size, info.SHA256, m.SHA256)
			if err != nil {
				os.Remove(f)
			}
		}
		if err == nil {
			name := f
			out.cleanup = func() { os.Remove(name) }
			out.att = &sdk.Attachment{
				Filename: filename, ContentType: contentType, Size: n, SHA256: hex.EncodeToString(sum),
				Open: func(context.Context) (io.ReadCloser, error) { return os.Open(name) },
			}
			return out, nil
		}
		lastErr = err
		switch {
		case errors.Is(err, graph.ErrTooLarge):
			out.att = &sdk.Attachment{
				Filename: filename, ContentType: contentType, Size: limit + 1,
				Open: func(ctx context.Context) (io.ReadCloser, error) { return c.openMedia(ctx, rt, m.ID, limit) },
			}
			return out, nil
		case errors.Is(err, errIntegrity):
			rt.log.Warn("media integrity check failed", "wamid", wamid, "media_id", m.ID, "attempt", attempt+1, "error", err)
			if attempt == 0 {
				// The URL may have expired meanwhile: look it up again.
				if info2, err2 := rt.client.GetMedia(ctx, m.ID); err2 == nil {
					info = info2
				}
			}
			continue
		case transient(err):
			return nil, fmt.Errorf("download media %s: %w", m.ID, err)
		default:
			rt.log.Warn("media download failed", "wamid", wamid, "media_id", m.ID, "error", err)
			out.note = fmt.Sprintf("[The %s %q could not be downloaded from WhatsApp: %s]", kind, filename, apiReason(err))
			return out, nil
		}
	}
	out.note = fmt.Sprintf("[The %s %q was not stored: %s]", kind, filename, lastErr)
	return out, nil
}

// downloadToTemp saves the media URL to a temporary file, hashing it on the
// way. The caller removes the file.
func (c *Channel) downloadToTemp(ctx context.Context, rt *runtime, url string, limit int64) (string, int64, []byte, error) {
	f, err := os.CreateTemp("", "patchbay-whatsapp-*")
	if err != nil {
		return "", 0, nil, fmt.Errorf("temporary file: %w", err)
	}
	h := sha256.New()
	n, err := rt.client.Download(ctx, url, io.MultiWriter(f, h), limit)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("temporary file: %w", cerr)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", n, nil, err
	}
	return f.Name(), n, h.Sum(nil), nil
}

// openMedia streams a media file straight from Meta, for attachments not
// downloaded up front.
func (c *Channel) openMedia(ctx context.Context, rt *runtime, mediaID string, limit int64) (io.ReadCloser, error) {
	info, err := rt.client.GetMedia(ctx, mediaID)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := rt.client.Download(ctx, info.URL, pw, limit)
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// checkIntegrity compares a download with the size and hashes Meta gave.
// Hashes come hex-encoded from the media endpoint and base64-encoded in
// webhooks; either form is accepted, an undecodable one is skipped.
func checkIntegrity(n int64, sum []byte, wantSize int64, hashes ...string) error {
	if wantSize > 0 && n != wantSize {
		return fmt.Errorf("%w: got %d bytes, WhatsApp announced %d", errIntegrity, n, wantSize)
	}
	for _, want := range hashes {
		b, ok := decodeDigest(want)
		if ok && !bytes.Equal(b, sum) {
			return fmt.Errorf("%w: SHA-256 differs from the one WhatsApp announced", errIntegrity)
		}
	}
	return nil
}

func decodeDigest(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	if len(s) == 2*sha256.Size {
		if b, err := hex.DecodeString(s); err == nil {
			return b, true
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == sha256.Size {
			return b, true
		}
	}
	return nil, false
}

// mediaFilename is the document's own name, or "<kind>-<media id><ext>".
func mediaFilename(kind string, m *webhook.Media, contentType string) string {
	if name := sanitizeFilename(m.Filename); name != "" {
		if path.Ext(name) == "" {
			name += extensionFor(contentType)
		}
		return name
	}
	return sanitizeFilename(kind+"-"+m.ID) + extensionFor(contentType)
}

// sanitizeFilename keeps the base name and drops control and path
// characters.
func sanitizeFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	name = strings.TrimLeft(name, ".")
	if len(name) > 200 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = name[:200-len(ext)] + ext
	}
	return name
}

// extensionFor maps the media types WhatsApp carries to their usual
// extension (mime.ExtensionsByType is system-dependent and often odd).
func extensionFor(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	if ext, ok := knownExtensions[mt]; ok {
		return ext
	}
	if exts, err := mime.ExtensionsByType(mt); err == nil && len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

var knownExtensions = map[string]string{
	"image/jpeg":         ".jpg",
	"image/png":          ".png",
	"image/webp":         ".webp",
	"image/gif":          ".gif",
	"audio/ogg":          ".ogg",
	"audio/mpeg":         ".mp3",
	"audio/aac":          ".aac",
	"audio/amr":          ".amr",
	"audio/mp4":          ".m4a",
	"video/mp4":          ".mp4",
	"video/3gpp":         ".3gp",
	"application/pdf":    ".pdf",
	"text/plain":         ".txt",
	"application/msword": ".doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
	"application/vnd.ms-excel": ".xls",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         ".xlsx",
	"application/vnd.ms-powerpoint":                                             ".ppt",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}

// transient reports whether a Graph call may succeed if tried again.
func transient(err error) bool {
	var ae *graph.APIError
	if errors.As(err, &ae) {
		return ae.Retryable()
	}
	return !errors.Is(err, graph.ErrTooLarge) && !errors.Is(err, errIntegrity)
}

// apiReason is a short reason for agents.
func apiReason(err error) string {
	var ae *graph.APIError
	if errors.As(err, &ae) {
		if ae.Message != "" {
			return ae.Message
		}
		return fmt.Sprintf("HTTP %d", ae.HTTPStatus)
	}
	return err.Error()
}
