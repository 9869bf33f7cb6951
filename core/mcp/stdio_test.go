package mcp_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbayhq/patchbay/core/mcp"
)

// stdio serves one session of the bridge (mcp.Options.URL: API calls over
// HTTP to the core) over in-memory pipes and connects the SDK's client.
func (c *core) stdio(token string, opts *gomcp.ClientOptions) (*gomcp.ClientSession, <-chan error) {
	c.t.Helper()
	srv, err := mcp.New(mcp.Options{URL: c.url + "/mcp", Token: token, RetryDelay: 10 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	cr, sw := io.Pipe() // server → client
	sr, cw := io.Pipe() // client → server
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeStdio(ctx, sr, sw); sw.Close() }()
	c.t.Cleanup(func() { cancel(); srv.Close() })
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	cs, err := gomcp.NewClient(&gomcp.Implementation{Name: "test", Version: "1"}, opts).Connect(cctx, &gomcp.IOTransport{Reader: cr, Writer: cw}, nil)
	if err != nil {
		return nil, done
	}
	c.t.Cleanup(func() { cs.Close() })
	return cs, done
}

// TestStdioBridge: the bridge's tools reach a core over HTTP with the
// configured token (a trailing /mcp in its URL is ignored), its
// subscriptions are fed by the core's event stream over HTTP, and a token
// the core refuses stops it before serving, with the API's error.
func TestStdioBridge(t *testing.T) {
	c := newCore(t)
	agent, agentID := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	updated := make(chan string, 16)
	cs, _ := c.stdio(agent, &gomcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *gomcp.ResourceUpdatedNotificationRequest) {
		updated <- r.Params.URI
	}})
	if cs == nil {
		t.Fatal("the bridge did not start")
	}
	var note struct {
		Comment map[string]any `json:"comment"`
	}
	ok(t, tool(t, cs, "add_internal_note", map[string]any{"id": id, "body": "via the bridge"}), &note)
	if note.Comment["author_id"] != float64(agentID) {
		t.Fatalf("note %+v", note.Comment)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	uri := mcp.TicketURI(id)
	if err := cs.Subscribe(ctx, &gomcp.SubscribeParams{URI: uri}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, c, id, updated)
	_, done := c.stdio("pbt_not-a-token", nil)
	select {
	case err := <-done:
		var ae *mcp.APIError
		if !errors.As(err, &ae) || ae.Code != "unauthorized" {
			t.Fatalf("ServeStdio with a refused token: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge served with a refused token")
	}
}
