package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// HooksPrefix is where the hooks handler expects to be mounted.
const HooksPrefix = "/hooks/"

// hopHeader reports headers not forwarded from a plugin's answer: the
// core's HTTP server owns the connection.
func hopHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Content-Length", "Trailer":
		return true
	}
	return false
}

// HooksHandler serves /hooks/{channel}/…: the request is forwarded to that
// channel's plugin (path relative to /hooks/{channel}, "/" at least) and
// the plugin's answer is written back. Unknown channel: 404; plugin down:
// 503 with Retry-After; body over http.max_webhook_bytes: 413. Errors use
// the API's shape {"error": {"code": "…", "message": "…"}}. Mount it at
// HooksPrefix without stripping the prefix.
func (m *Manager) HooksHandler() http.Handler {
	return http.HandlerFunc(m.serveHook)
}

func (m *Manager) serveHook(w http.ResponseWriter, r *http.Request) {
	name, sub, ok := splitHookPath(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such path")
		return
	}
	in, ok := m.instances[name]
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_channel", "no channel named "+strconv.Quote(name))
		return
	}
	limit := m.opts.MaxWebhookBytes
	if limit <= 0 {
		limit = defaultMaxWebhookBytes
	}
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the request body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
		return
	}
	// At most http.max_webhook_in_flight requests of this channel are read
	// or handled at once: slow or flooding senders hold at most that many
	// bodies in memory, and the provider retries the rest.
	select {
	case in.inflight <- struct{}{}:
		in.inflightGauge.Inc()
		defer func() {
			in.inflightGauge.Dec()
			<-in.inflight
		}()
	default:
		m.metrics.webhookBusy.WithLabelValues(name).Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too_many_webhooks", "channel "+strconv.Quote(name)+" has too many webhook requests in progress; retry later")
		return
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the request body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The body read deadline (http.body_read_timeout) passed.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestTimeout, "body_timeout", "the request body did not arrive within the server's body read deadline")
		default:
			writeError(w, http.StatusBadRequest, "bad_request", "could not read the request body")
		}
		return
	}
	s, next, err := in.current()
	if err != nil {
		writeUnavailable(w, name, next)
		return
	}
	req := &sdk.WebhookRequest{
		Method:     r.Method,
		Path:       sub,
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header, // read only: the wire encodes it and keeps nothing
		Body:       body,
		RemoteAddr: r.RemoteAddr,
	}
	ctx := r.Context()
	if s.webhookTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.webhookTimeout)
		defer cancel()
	}
	resp, err := s.conn.HandleWebhook(ctx, req)
	if err != nil {
		// The budget may end on either side: the plugin's server sees the
		// propagated deadline (DeadlineExceeded status) as early as ours.
		timedOut := r.Context().Err() == nil &&
			(errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded))
		if unavailable(err) || timedOut {
			// Down, or no answer within the provider's patience: check the
			// plugin's health now and let the provider retry.
			if timedOut {
				in.logger.Warn("webhook not answered in time; answering 503", "path", req.Path, "timeout", s.webhookTimeout)
			}
			in.nudge()
			writeUnavailable(w, name, time.Time{})
			return
		}
		if r.Context().Err() != nil {
			return // the provider went away
		}
		in.logger.Error("webhook failed in plugin", "error", in.redact(err.Error()), "path", req.Path)
		writeError(w, http.StatusBadGateway, "plugin_error", "the channel plugin failed to handle the request")
		return
	}
	if resp == nil {
		writeError(w, http.StatusBadGateway, "plugin_error", "the channel plugin gave no answer")
		return
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 599 {
		in.logger.Error("plugin answered an invalid HTTP status", "status", status)
		writeError(w, http.StatusBadGateway, "plugin_error", "the channel plugin gave an invalid answer")
		return
	}
	for k, vs := range resp.Header {
		if hopHeader(k) {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

// readChunk is the most readBody allocates ahead of the bytes that
// arrived.
const readChunk = 32 << 10

// readBody reads the request body, at most limit bytes, in chunks: the
// buffer grows with the bytes that actually arrived, never to the
// announced Content-Length up front (a sender announcing 1 MiB and
// trickling it would otherwise hold 1 MiB from its first byte).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	src := http.MaxBytesReader(w, r.Body, limit)
	buf := make([]byte, 0, min(max(r.ContentLength, 512), readChunk))
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(len(buf), 512), readChunk))
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// splitHookPath splits /hooks/<channel>/<rest> into the channel name and
// the path the plugin sees ("/<rest>", "/" at least).
func splitHookPath(p string) (channel, sub string, ok bool) {
	rest, ok := strings.CutPrefix(p, HooksPrefix)
	if !ok {
		return "", "", false
	}
	channel, sub, _ = strings.Cut(rest, "/")
	return channel, "/" + sub, true
}

func writeUnavailable(w http.ResponseWriter, name string, next time.Time) {
	retry := 1
	if !next.IsZero() {
		if d := time.Until(next); d > 0 {
			retry = int(math.Ceil(d.Seconds()))
		}
	}
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	writeError(w, http.StatusServiceUnavailable, "channel_unavailable", "channel "+strconv.Quote(name)+" is not running right now; retry later")
}

// writeError writes the API's error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": code, "message": msg}})
}
