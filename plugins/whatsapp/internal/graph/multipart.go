package graph

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// uploadWriter writes the multipart form of a media upload: the
// messaging_product and type fields, then the file itself.
type uploadWriter struct {
	mw *multipart.Writer
}

func newMultipart(w io.Writer) *uploadWriter {
	return &uploadWriter{mw: multipart.NewWriter(w)}
}

func (u *uploadWriter) contentType() string { return u.mw.FormDataContentType() }

func (u *uploadWriter) writeUpload(filename, contentType string, r io.Reader) error {
	if err := u.mw.WriteField("messaging_product", "whatsapp"); err != nil {
		return err
	}
	if err := u.mw.WriteField("type", contentType); err != nil {
		return err
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, quoteEscaper.Replace(filename)))
	h.Set("Content-Type", contentType)
	part, err := u.mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, r); err != nil {
		return fmt.Errorf("read attachment: %w", err)
	}
	return u.mw.Close()
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")
