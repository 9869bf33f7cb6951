package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
)

//go:embed assets templates
var files embed.FS

// ContentSecurityPolicy is sent with every workspace response: everything
// from this origin only, no inline script or style, no plugins, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Options configure the workspace handler.
type Options struct {
	// Version is shown in the page footer and busts asset caches.
	Version string
}

// Handler serves the workspace pages and assets.
type Handler struct {
	pages  *regexp.Regexp
	shell  []byte
	etag   string
	assets map[string]asset
	notFnd []byte
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// pageRoutes matches the paths the browser application handles itself;
// each answers the shell.
const pageRoutes = `^/(|signin|admin(/[a-z_]+)?|tickets/[0-9]+)$`

// New returns the workspace handler.
func New(opts Options) (*Handler, error) {
	h := &Handler{assets: map[string]asset{}, pages: regexp.MustCompile(pageRoutes)}
	err := fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.assets["/"+p] = asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tpl, err := template.ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	var buf bytes.Buffer
	if err := tpl.ExecuteTemplate(&buf, "shell.html", map[string]any{"Version": version}); err != nil {
		return nil, err
	}
	h.shell = buf.Bytes()
	sum := sha256.Sum256(h.shell)
	h.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
	buf = bytes.Buffer{}
	if err := tpl.ExecuteTemplate(&buf, "notfound.html", nil); err != nil {
		return nil, err
	}
	h.notFnd = buf.Bytes()
	return h, nil
}

// setSecurityHeaders sets the headers every workspace answer carries.
func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// ServeHTTP answers GET and HEAD: the shell for the application's pages,
// the embedded assets, and an HTML 404 for anything else.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if a, ok := h.assets[p]; ok && strings.HasPrefix(p, "/assets/") {
		h.write(w, r, a.body, a.ctype, a.etag, "no-cache")
		return
	}
	if h.pages.MatchString(p) {
		h.write(w, r, h.shell, "text/html; charset=utf-8", h.etag, "no-cache")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	if r.Method == http.MethodGet {
		_, _ = w.Write(h.notFnd)
	}
}

// write answers body with its validator; a matching If-None-Match is 304.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, body []byte, ctype, etag, cache string) {
	hd := w.Header()
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", cache)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
