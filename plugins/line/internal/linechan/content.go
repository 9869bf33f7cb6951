package linechan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"unicode"

	"github.com/line/line-bot-sdk-go/v8/linebot/webhook"

	"github.com/patchbayhq/patchbay/sdk"
)

// defaultMaxDownload caps a content download when the channel's policy has
// no size limit.
const defaultMaxDownload = 100 << 20

// media is one image, video, audio or file message to fetch.
type media struct {
	kind     string // "image", "video", "audio", "file"
	id       string
	provider *webhook.ContentProvider // nil for files (always on LINE)
	fileName string                   // files only
	size     int64                    // -1 when LINE does not say
}

var (
	// errContentGone: LINE no longer has the content (expired or deleted).
	errContentGone = errors.New("content is no longer available on LINE")
	// errTooLarge: the content exceeds the channel's size limit.
	errTooLarge = errors.New("content exceeds the channel's size limit")
)

// attachMedia adds the media content to msg as an attachment, or a readable
// note when it cannot or must not be stored. It fails only on transient
// errors, for which LINE should redeliver.
func (rt *runtime) attachMedia(ctx context.Context, msg *sdk.InboundMessage, m media) (func(), error) {
	noop := func() {}
	label := kindLabel(m.kind)
	if m.provider != nil && m.provider.Type == webhook.ContentProviderTYPE_EXTERNAL {
		// The content lives on a server named by the sending app. The URL
		// is recorded, not fetched: fetching arbitrary URLs from inside the
		// gateway's network would let anyone make it issue requests.
		msg.Text = fmt.Sprintf("[%s hosted outside LINE: %s]", label, m.provider.OriginalContentUrl)
		msg.Metadata["line_original_content_url"] = m.provider.OriginalContentUrl
		if m.provider.PreviewImageUrl != "" {
			msg.Metadata["line_preview_image_url"] = m.provider.PreviewImageUrl
		}
		return noop, nil
	}
	name := sanitizeFilename(m.fileName)
	if name != "" && !rt.policy.Allows(name, max(m.size, 0)) {
		msg.Text = fmt.Sprintf("[%s %q (%s) not stored: not allowed by this channel's attachment policy]", label, name, humanSize(m.size))
		return noop, nil
	}
	limit := int64(defaultMaxDownload)
	if rt.policy.MaxBytes > 0 {
		limit = rt.policy.MaxBytes
	}
	dl, err := rt.download(ctx, m.id, limit)
	switch {
	case errors.Is(err, errContentGone):
		msg.Text = fmt.Sprintf("[%s not stored: %v]", label, err)
		return noop, nil
	case errors.Is(err, errTooLarge):
		msg.Text = fmt.Sprintf("[%s not stored: larger than the channel's limit of %s]", label, humanSize(limit))
		return noop, nil
	case err != nil:
		return nil, fmt.Errorf("download %s %s: %w", m.kind, m.id, err)
	}
	contentType := dl.contentType
	if name == "" {
		name = m.id + extensionFor(contentType, m.kind)
	} else if contentType == "" || contentType == "application/octet-stream" {
		if t := mime.TypeByExtension(path.Ext(name)); t != "" {
			contentType = t
		}
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	file := dl.path
	msg.Attachments = append(msg.Attachments, sdk.Attachment{
		Filename:    name,
		ContentType: contentType,
		Size:        dl.size,
		SHA256:      dl.sha256,
		Open: func(context.Context) (io.ReadCloser, error) {
			return os.Open(file)
		},
	})
	return func() { _ = os.Remove(file) }, nil
}

// downloaded is content saved to a temporary file.
type downloaded struct {
	path        string
	size        int64
	sha256      string
	contentType string
}

// download streams a message's content from the data API into a temporary
// file, so large files never sit in memory.
func (rt *runtime) download(ctx context.Context, messageID string, limit int64) (downloaded, error) {
	ctx, cancel := context.WithTimeout(ctx, contentTimeout)
	defer cancel()
	blob, err := rt.blob(ctx)
	if err != nil {
		return downloaded{}, err
	}
	res, _, err := blob.GetMessageContentWithHttpInfo(messageID)
	if err != nil {
		return downloaded{}, contentFailure(res, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		// 202: LINE is still preparing the content (large videos).
		return downloaded{}, fmt.Errorf("content not ready (HTTP %d)", res.StatusCode)
	}
	if res.ContentLength > limit {
		return downloaded{}, errTooLarge
	}
	f, err := os.CreateTemp("", "patchbay-line-*")
	if err != nil {
		return downloaded{}, fmt.Errorf("temporary file: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(res.Body, limit+1))
	if err != nil {
		return downloaded{}, fmt.Errorf("read content: %w", err)
	}
	if n > limit {
		return downloaded{}, errTooLarge
	}
	if err := f.Close(); err != nil {
		return downloaded{}, fmt.Errorf("write temporary file: %w", err)
	}
	keep = true
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	return downloaded{path: f.Name(), size: n, sha256: hex.EncodeToString(h.Sum(nil)), contentType: ct}, nil
}

// contentFailure classifies a failed content call: gone, or transient.
func contentFailure(res *http.Response, err error) error {
	if res == nil {
		return err // transport failure: transient
	}
	if res.Body != nil {
		defer res.Body.Close()
	}
	switch status := res.StatusCode; {
	case status == http.StatusNotFound || status == http.StatusGone:
		return errContentGone
	case status == http.StatusTooManyRequests || status >= 500:
		return fmt.Errorf("LINE data API answered HTTP %d", status)
	default:
		// 401/403 and other refusals: storing the message without its file
		// would lose the file silently, so fail (LINE redelivers) and let
		// the operator see the error in the logs and the channel status.
		return fmt.Errorf("LINE data API refused the download: %s", describeHTTPFailure(res, nil))
	}
}

// extensionFor picks a file extension for LINE media without a name.
func extensionFor(contentType, kind string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "video/mp4":
		return ".mp4"
	case "audio/x-m4a", "audio/m4a", "audio/mp4", "audio/aac":
		return ".m4a"
	case "audio/mpeg":
		return ".mp3"
	}
	if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
		return exts[0]
	}
	switch kind {
	case "image":
		return ".jpg" // LINE serves images as JPEG
	case "video":
		return ".mp4"
	case "audio":
		return ".m4a"
	}
	return ".bin"
}

// sanitizeFilename keeps the base name of a user-supplied file name,
// without control characters or path separators.
func sanitizeFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) > 200 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:200-len(ext)], "") + ext
	}
	return name
}

func kindLabel(kind string) string {
	switch kind {
	case "image":
		return "Image"
	case "video":
		return "Video"
	case "audio":
		return "Audio"
	default:
		return "File"
	}
}

// humanSize renders a byte count for notes.
func humanSize(n int64) string {
	switch {
	case n < 0:
		return "unknown size"
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
