package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	sse "github.com/tmaxmax/go-sse"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
)

// ticketURITemplate names ticket resources.
const ticketURITemplate = "patchbay://tickets/{id}"

const ticketURIPrefix = "patchbay://tickets/"

// TicketURI is the resource URI of a ticket.
func TicketURI(id uint64) string { return ticketURIPrefix + strconv.FormatUint(id, 10) }

// parseTicketURI returns the ticket id of patchbay://tickets/{id}.
func parseTicketURI(uri string) (uint64, bool) {
	rest, ok := strings.CutPrefix(uri, ticketURIPrefix)
	if !ok || rest == "" || rest[0] == '0' || len(rest) > 19 {
		return 0, false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	return id, err == nil
}

// readTicket serves resources/read of patchbay://tickets/{id}: the ticket
// as get_ticket returns it, as JSON.
func (sess *session) readTicket(ctx context.Context, req *gomcp.ReadResourceRequest) (*gomcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, ok := parseTicketURI(uri)
	if !ok {
		return nil, gomcp.ResourceNotFoundError(uri)
	}
	out, err := sess.getTicketWith(ctx, sess.apiFor(req.Extra), getTicketIn{ID: id})
	if err != nil {
		if ae, ok := asAPIError(err); ok && ae.Status == http.StatusNotFound {
			return nil, gomcp.ResourceNotFoundError(uri)
		}
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &gomcp.ReadResourceResult{Contents: []*gomcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(b)}}}, nil
}

// macrosURI is the resource listing the macros.
const macrosURI = "patchbay://macros"

// readMacros serves resources/read of patchbay://macros: GET
// /api/v1/macros as JSON.
func (sess *session) readMacros(ctx context.Context, req *gomcp.ReadResourceRequest) (*gomcp.ReadResourceResult, error) {
	var out json.RawMessage
	if err := sess.apiFor(req.Extra).do(ctx, call{method: http.MethodGet, path: "/api/v1/macros"}, &out); err != nil {
		return nil, err
	}
	return &gomcp.ReadResourceResult{Contents: []*gomcp.ResourceContents{{URI: macrosURI, MIMEType: "application/json", Text: string(out)}}}, nil
}

// ticketEventTypes are the events that change what a ticket resource
// shows.
const ticketEventTypes = "ticket.updated,comment.created,comment.updated,delivery.updated"

// maxEventBytes bounds one event read from the event stream (an event
// carries the changed comment, whose body the API limits to its body
// limit, 1 MiB by default).
const maxEventBytes = 64 << 20

// subscriptions are a session's subscribed tickets and the event stream
// that feeds their notifications: opened with the first subscription (with
// the subscribing request's token), closed when the session ends.
type subscriptions struct {
	sess *session

	mu      sync.Mutex
	tickets map[uint64]bool
	started bool
	auth    *apiClient
}

func newSubscriptions(sess *session) *subscriptions {
	return &subscriptions{sess: sess, tickets: map[uint64]bool{}}
}

func (u *subscriptions) subscribe(ctx context.Context, req *gomcp.SubscribeRequest) error {
	id, ok := parseTicketURI(req.Params.URI)
	if !ok {
		return gomcp.ResourceNotFoundError(req.Params.URI)
	}
	a := u.sess.apiFor(req.Extra)
	// The caller must be able to read the ticket.
	if err := a.do(ctx, call{method: http.MethodGet, path: ticketPath(id)}, nil); err != nil {
		if ae, ok := asAPIError(err); ok && ae.Status == http.StatusNotFound {
			return gomcp.ResourceNotFoundError(req.Params.URI)
		}
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.tickets[id] = true
	if !u.started {
		u.started = true
		u.auth = a
		ctx, cancel := context.WithCancel(u.sess.s.ctx)
		go func() {
			_ = req.Session.Wait()
			cancel()
		}()
		go u.follow(ctx)
		if u.sess.idles {
			go u.keepAlive(ctx, req.Session)
		}
	}
	return nil
}

// keepAliveFailures is how many pings in a row a subscribed session's
// client may miss before the session is closed.
const keepAliveFailures = 3

// keepAlive pings the client of a subscribed HTTP session a few times per
// session timeout. The SDK counts only client requests as activity, so a
// client that just listens for notifications would otherwise lose its
// session (and its subscriptions) after the idle timeout; its answer to a
// ping is a request. A client that stops answering is gone: its session is
// closed.
func (u *subscriptions) keepAlive(ctx context.Context, ss *gomcp.ServerSession) {
	every := u.sess.s.timeout / 3
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, every)
		err := ss.Ping(pctx, nil)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			missed = 0
			continue
		}
		if missed++; missed >= keepAliveFailures {
			u.sess.s.log.Debug("closing a subscribed MCP session whose client stopped answering pings", "error", err)
			_ = ss.Close()
			return
		}
	}
}

func (u *subscriptions) unsubscribe(_ context.Context, req *gomcp.UnsubscribeRequest) error {
	if id, ok := parseTicketURI(req.Params.URI); ok {
		u.mu.Lock()
		delete(u.tickets, id)
		u.mu.Unlock()
	}
	return nil
}

func (u *subscriptions) has(id uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tickets[id]
}

func (u *subscriptions) all() []uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := make([]uint64, 0, len(u.tickets))
	for id := range u.tickets {
		ids = append(ids, id)
	}
	return ids
}

// notify tells the session that ticket id changed.
func (u *subscriptions) notify(ctx context.Context, id uint64) {
	if err := u.sess.srv.ResourceUpdated(ctx, &gomcp.ResourceUpdatedNotificationParams{URI: TicketURI(id)}); err != nil {
		u.sess.s.log.Debug("resource-updated notification failed", "ticket_id", id, "error", err)
	}
}

// follow reads the API's event stream from its end until ctx ends,
// resuming after a break from the last event read (Last-Event-ID), so no
// change in between is missed. A token the core no longer accepts ends
// it.
func (u *subscriptions) follow(ctx context.Context) {
	log := u.sess.s.log
	var last string
	wait := u.sess.s.retry
	for ctx.Err() == nil {
		got, err := u.stream(ctx, &last)
		if ctx.Err() != nil {
			return
		}
		var ae *APIError
		switch {
		case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
			log.Warn("the core refused the token of an MCP session's event stream: its resource notifications stop", "code", ae.Code)
			return
		case errors.As(err, &ae) && (ae.Status == http.StatusGone || ae.Status == http.StatusUnprocessableEntity):
			// The resume point is gone (or from another store): start at
			// the end, and tell the client every subscribed ticket may
			// have changed meanwhile.
			last = ""
			for _, id := range u.all() {
				u.notify(ctx, id)
			}
		case err != nil:
			log.Debug("MCP event stream broke; reopening", "error", err, "wait", wait)
		}
		if got {
			wait = u.sess.s.retry
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if !got {
			wait = min(wait*2, 30*time.Second)
		}
	}
}

// stream reads one connection of the event stream, updating *last with
// each event's id. It reports whether it read any event.
func (u *subscriptions) stream(ctx context.Context, last *string) (bool, error) {
	a := u.auth
	req, err := http.NewRequestWithContext(withRemoteAddr(ctx, a.ctxRemote), http.MethodGet, a.base+"/api/v1/events?types="+ticketEventTypes, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if a.auth != "" {
		req.Header.Set("Authorization", a.auth)
	}
	if *last != "" {
		req.Header.Set("Last-Event-ID", *last)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		raw := make([]byte, 4096)
		n, _ := res.Body.Read(raw)
		return false, decodeAPIError(res.StatusCode, raw[:n])
	}
	got := false
	for ev, err := range sse.Read(res.Body, &sse.ReadConfig{MaxEventSize: maxEventBytes}) {
		if err != nil {
			return got, fmt.Errorf("reading the event stream: %w", err)
		}
		got = true
		if ev.LastEventID != "" {
			*last = ev.LastEventID
		}
		if id, ok := eventTicket(ev.Data); ok && u.has(id) {
			u.notify(ctx, id)
		}
	}
	return got, errors.New("the event stream ended")
}

// eventTicket returns the ticket_id of an event's JSON data.
func eventTicket(data string) (uint64, bool) {
	var ev struct {
		TicketID uint64 `json:"ticket_id"`
	}
	if err := json.Unmarshal([]byte(data), &ev); err != nil || ev.TicketID == 0 {
		return 0, false
	}
	return ev.TicketID, true
}
