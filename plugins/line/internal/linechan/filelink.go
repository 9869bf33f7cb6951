package linechan

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// Signed file links let LINE users download files attached to agents'
// replies: LINE cannot carry arbitrary files, and its media messages need
// public HTTPS URLs. Links point at /hooks/<instance>/files/<id> under the
// core's public URL and are signed with a key derived from the channel
// secret, so only links this channel issued are served.
const (
	filesPrefix   = "/files/"
	fileLinkTTL   = 30 * 24 * time.Hour
	maxServedFile = 48 << 20 // webhook responses travel in one gRPC message
)

var validAttachmentID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// fileLink returns a signed download link for a stored attachment, or ""
// when the core has no public URL or the attachment no id.
func (rt *runtime) fileLink(id, name string) string {
	if rt.publicURL == "" || !validAttachmentID.MatchString(id) {
		return ""
	}
	exp := rt.now().Add(fileLinkTTL).Unix()
	q := url.Values{}
	q.Set("name", name)
	q.Set("exp", strconv.FormatInt(exp, 10))
	q.Set("sig", rt.signLink(id, name, exp))
	return strings.TrimRight(rt.publicURL, "/") + filesPrefix + id + "?" + q.Encode()
}

func (rt *runtime) signLink(id, name string, exp int64) string {
	m := hmac.New(sha256.New, rt.linkKey)
	m.Write([]byte(id + "\x00" + name + "\x00" + strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// serveFile answers GET/HEAD on a signed file link.
func (rt *runtime) serveFile(ctx context.Context, req *sdk.WebhookRequest, p string) *sdk.WebhookResponse {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		r := textResponse(http.StatusMethodNotAllowed, "method not allowed")
		r.Header.Set("Allow", "GET, HEAD")
		return r
	}
	id := strings.TrimPrefix(p, filesPrefix)
	q, err := url.ParseQuery(req.RawQuery)
	if err != nil || !validAttachmentID.MatchString(id) {
		return textResponse(http.StatusNotFound, "not found")
	}
	name := q.Get("name")
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil || name == "" || sanitizeFilename(name) != name {
		return textResponse(http.StatusNotFound, "not found")
	}
	want := rt.signLink(id, name, exp)
	if !hmac.Equal([]byte(want), []byte(q.Get("sig"))) {
		return textResponse(http.StatusForbidden, "invalid link")
	}
	if rt.now().Unix() > exp {
		return textResponse(http.StatusGone, "this link has expired; ask us to send the file again")
	}
	rc, err := rt.host.OpenAttachment(ctx, id)
	if err != nil {
		rt.log.Warn("line file link: attachment unavailable", "attachment_id", id, "error", err)
		return textResponse(http.StatusNotFound, "not found")
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxServedFile+1))
	if err != nil {
		rt.log.Warn("line file link: read failed", "attachment_id", id, "error", err)
		return textResponse(http.StatusBadGateway, "file temporarily unavailable")
	}
	if len(body) > maxServedFile {
		return textResponse(http.StatusInternalServerError, "file too large to serve by link")
	}
	h := http.Header{}
	ct := mime.TypeByExtension(strings.ToLower(path.Ext(name)))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	if req.Method == http.MethodHead {
		body = nil
	}
	return &sdk.WebhookResponse{Status: http.StatusOK, Header: h, Body: body}
}
