package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// handlerTransport is an http.RoundTripper that serves each request with
// an http.Handler in the same process: the MCP tools reach the API exactly
// as an HTTP client would (same routing, middleware, access log, metrics),
// without a socket. The answer streams: its body is a pipe the handler
// writes into, so the event stream works too.
type handlerTransport struct {
	h http.Handler
}

type remoteAddrKey struct{}

// withRemoteAddr records the address of the MCP client whose request
// causes the API calls made with ctx; the in-process requests carry it as
// their RemoteAddr (the API's per-address limits then see the real
// client).
func withRemoteAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, addr)
}

// RoundTrip serves req with the handler and returns the answer as soon as
// the handler has written its header (or returned).
func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	sr := req.Clone(ctx)
	sr.RequestURI = req.URL.RequestURI()
	sr.Host = req.URL.Host
	sr.Proto, sr.ProtoMajor, sr.ProtoMinor = "HTTP/1.1", 1, 1
	if addr, ok := ctx.Value(remoteAddrKey{}).(string); ok && addr != "" {
		sr.RemoteAddr = addr
	} else {
		sr.RemoteAddr = "127.0.0.1:0"
	}
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				// http.ErrAbortHandler: the handler cut the answer on
				// purpose (a failed backup stream); anything else is a bug
				// the API's own recovery did not catch.
				err, ok := v.(error)
				if !ok || !errors.Is(err, http.ErrAbortHandler) {
					err = fmt.Errorf("mcp: in-process API handler panicked: %v", v)
				}
				w.sendHeader()
				pw.CloseWithError(err)
				return
			}
			w.sendHeader()
			pw.Close()
		}()
		t.h.ServeHTTP(w, sr)
	}()
	select {
	case <-w.ready:
	case <-ctx.Done():
		pr.CloseWithError(ctx.Err())
		return nil, ctx.Err()
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       req,
	}, nil
}

// pipeWriter is the http.ResponseWriter of an in-process request: the
// header is handed to RoundTrip once, the body flows through the pipe.
type pipeWriter struct {
	header http.Header
	pw     *io.PipeWriter

	once   sync.Once
	ready  chan struct{}
	status int
	sent   http.Header
}

// Header returns the header map to fill before WriteHeader.
func (w *pipeWriter) Header() http.Header { return w.header }

// WriteHeader sends the status and header (the first call wins).
func (w *pipeWriter) WriteHeader(code int) {
	w.once.Do(func() {
		w.status = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) sendHeader() { w.WriteHeader(http.StatusOK) }

// Write sends body bytes; it blocks until the reader takes them and fails
// once the reader closed the body.
func (w *pipeWriter) Write(b []byte) (int, error) {
	w.sendHeader()
	return w.pw.Write(b)
}

// FlushError sends the header; bytes written are already with the reader.
func (w *pipeWriter) FlushError() error {
	w.sendHeader()
	return nil
}
