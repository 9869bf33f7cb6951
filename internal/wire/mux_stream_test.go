package wire_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patchbayhq/patchbay/internal/wire"
	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

// These tests cover the multiplexed streams that carry HandleWebhook
// (Channel.Webhooks) and Deliver (Host.Deliveries) over real gRPC.

// echoBackend answers each Deliver with the number in the message's
// ExternalID as the ticket id, after a delay that varies per message, so
// that results come back out of order.
type echoBackend struct{ *memBackend }

func (echoBackend) Deliver(ctx context.Context, msg *sdk.InboundMessage, _ []string) (*sdk.Receipt, error) {
	n, err := strconv.ParseUint(msg.ExternalID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad id %q", msg.ExternalID)
	}
	select {
	case <-time.After(time.Duration(n%4) * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &sdk.Receipt{TicketID: n, CommentID: n * 10}, nil
}

// Many concurrent webhooks, each delivering its own message, all on the
// two shared streams: every answer (and every receipt inside the plugin)
// belongs to its own request.
func TestStreamsMatchConcurrentCalls(t *testing.T) {
	ch := &probeChannel{webhook: func(ctx context.Context, h sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		n, err := strconv.ParseUint(string(r.Body), 10, 64)
		if err != nil {
			return nil, err
		}
		// Vary the plugin's own time too.
		time.Sleep(time.Duration(n%3) * time.Millisecond)
		rc, err := h.Deliver(ctx, &sdk.InboundMessage{ExternalID: string(r.Body), ConversationKey: "c"})
		if err != nil {
			return nil, err
		}
		if rc.TicketID != n || rc.CommentID != n*10 {
			return &sdk.WebhookResponse{Status: http.StatusConflict, Body: fmt.Appendf(nil, "receipt %+v for %d", rc, n)}, nil
		}
		return &sdk.WebhookResponse{Status: http.StatusOK, Header: http.Header{"X-N": {r.Header.Get("X-N")}}, Body: r.Body}, nil
	}}
	cc := configured(t, ch, echoBackend{newMemBackend()})
	ctx := testCtx(t)

	const workers, perWorker = 32, 20
	errs := make(chan error, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := strconv.Itoa(w*perWorker + i + 1)
				resp, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/", Header: http.Header{"X-N": {n}}, Body: []byte(n)})
				switch {
				case err != nil:
					errs <- fmt.Errorf("call %s: %w", n, err)
				case resp.Status != http.StatusOK || string(resp.Body) != n || resp.Header.Get("X-N") != n:
					errs <- fmt.Errorf("call %s got the answer %d %q (X-N %q)", n, resp.Status, resp.Body, resp.Header.Get("X-N"))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The caller's deadline travels with the call: the plugin's handler sees
// it expire, and the caller gets DeadlineExceeded.
func TestWebhookDeadlineReachesPlugin(t *testing.T) {
	seen := make(chan error, 1)
	ch := &probeChannel{webhook: func(ctx context.Context, _ sdk.Host, _ *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		if _, ok := ctx.Deadline(); !ok {
			seen <- errors.New("no deadline on the plugin's context")
			return nil, errors.New("no deadline")
		}
		<-ctx.Done()
		seen <- ctx.Err()
		return nil, ctx.Err()
	}}
	cc := configured(t, ch, newMemBackend())
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	_, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/"})
	if !errors.Is(err, context.DeadlineExceeded) || status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("err = %v (code %v), want DeadlineExceeded", err, status.Code(err))
	}
	select {
	case got := <-seen:
		if !errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("the plugin's context ended with %v, want DeadlineExceeded", got)
		}
	case <-testCtx(t).Done():
		t.Fatal("the plugin's handler never saw its context end")
	}
}

// A plugin that ignores its context does not hold the caller: the call
// returns when the caller's deadline passes, while the handler is still
// running; the late result is dropped and the stream keeps serving.
func TestWebhookAnsweredAtDeadlineWhilePluginHangs(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	ch := &probeChannel{webhook: func(_ context.Context, _ sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		if r.Path == "/hang" {
			entered <- struct{}{}
			<-release // ignores ctx, like a stuck plugin
			return &sdk.WebhookResponse{Status: http.StatusTeapot}, nil
		}
		return &sdk.WebhookResponse{Status: http.StatusOK, Body: []byte(r.Path)}, nil
	}}
	cc := configured(t, ch, newMemBackend())
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	_, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/hang"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	select {
	case <-entered:
	default:
		t.Fatal("the call returned before the plugin received it")
	}
	// The handler is still blocked: the caller did not wait for it.
	close(release)
	for i := range 3 {
		path := "/after-" + strconv.Itoa(i)
		resp, err := cc.HandleWebhook(testCtx(t), &sdk.WebhookRequest{Method: "POST", Path: path})
		if err != nil || resp.Status != http.StatusOK || string(resp.Body) != path {
			t.Fatalf("call after the withdrawn one: %v %+v", err, resp)
		}
	}
}

// A caller that cancels (no deadline) withdraws its call: the plugin's
// handler sees its context cancelled.
func TestWebhookCancelReachesPlugin(t *testing.T) {
	entered := make(chan struct{})
	seen := make(chan error, 1)
	ch := &probeChannel{webhook: func(ctx context.Context, _ sdk.Host, _ *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		close(entered)
		<-ctx.Done()
		seen <- ctx.Err()
		return nil, ctx.Err()
	}}
	cc := configured(t, ch, newMemBackend())
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		<-entered
		cancel()
	}()
	_, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	select {
	case got := <-seen:
		if !errors.Is(got, context.Canceled) {
			t.Errorf("the plugin's context ended with %v, want Canceled", got)
		}
	case <-testCtx(t).Done():
		t.Fatal("the cancel never reached the plugin")
	}
}

// blockingBackend holds each Deliver until its context ends and reports
// how it ended.
type blockingBackend struct {
	*memBackend
	seen chan error
}

func (b blockingBackend) Deliver(ctx context.Context, _ *sdk.InboundMessage, _ []string) (*sdk.Receipt, error) {
	<-ctx.Done()
	b.seen <- ctx.Err()
	return nil, ctx.Err()
}

// Deliver carries the plugin's deadline to the core the same way.
func TestDeliverDeadlineReachesCore(t *testing.T) {
	ch := &probeChannel{}
	b := blockingBackend{newMemBackend(), make(chan error, 1)}
	configured(t, ch, b)
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	_, err := ch.Host().Deliver(ctx, &sdk.InboundMessage{ExternalID: "m1", ConversationKey: "c"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	select {
	case got := <-b.seen:
		if !errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("the core's context ended with %v, want DeadlineExceeded", got)
		}
	case <-testCtx(t).Done():
		t.Fatal("the core's Deliver never saw its context end")
	}
}

// When the plugin dies, every call waiting on it fails at once with
// Unavailable (the core answers 503 and the provider retries), and so do
// later calls.
func TestPluginDeathFailsCallsInFlight(t *testing.T) {
	const inflight = 5
	entered := make(chan struct{}, inflight)
	ch := &probeChannel{webhook: func(ctx context.Context, _ sdk.Host, _ *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	cc, stop := connectStoppable(t, ch)
	ctx := testCtx(t) // no short deadline: only the plugin's death ends the calls
	errs := make(chan error, inflight)
	for range inflight {
		go func() {
			_, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/"})
			errs <- err
		}()
	}
	for range inflight {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("the calls never reached the plugin")
		}
	}
	stop()
	for range inflight {
		select {
		case err := <-errs:
			if status.Code(err) != codes.Unavailable {
				t.Errorf("in-flight call ended with %v (code %v), want Unavailable", err, status.Code(err))
			}
		case <-ctx.Done():
			t.Fatal("an in-flight call was not failed when the plugin died")
		}
	}
	if _, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/"}); status.Code(err) != codes.Unavailable {
		t.Errorf("call after the plugin died: %v, want Unavailable", err)
	}
}

// Close fails the calls in flight and every later call.
func TestChannelClientCloseFailsCalls(t *testing.T) {
	entered := make(chan struct{})
	ch := &probeChannel{webhook: func(ctx context.Context, _ sdk.Host, _ *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	cc := connect(t, ch)
	ctx := testCtx(t)
	errc := make(chan error, 1)
	go func() {
		_, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/"})
		errc <- err
	}()
	<-entered
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; status.Code(err) != codes.Unavailable {
		t.Errorf("call in flight at Close: %v, want Unavailable", err)
	}
	if _, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/"}); status.Code(err) != codes.Unavailable {
		t.Errorf("call after Close: %v, want Unavailable", err)
	}
}

// A plugin error and a plugin panic inside a streamed call come back as
// that call's error, with the status code a unary call would have had,
// and the stream goes on.
func TestStreamedCallErrorsKeepTheirCode(t *testing.T) {
	ch := &probeChannel{webhook: func(_ context.Context, _ sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		switch r.Path {
		case "/notfound":
			return nil, fmt.Errorf("no such thing: %w", sdk.ErrNotFound)
		case "/panic":
			panic("boom")
		}
		return &sdk.WebhookResponse{}, nil
	}}
	cc := configured(t, ch, newMemBackend())
	ctx := testCtx(t)
	for _, tc := range []struct {
		path string
		code codes.Code
	}{
		{"/notfound", codes.NotFound},
		{"/panic", codes.Internal},
		{"/ok", codes.OK},
	} {
		resp, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: tc.path})
		if status.Code(err) != tc.code {
			t.Errorf("%s: err %v (code %v), want %v", tc.path, err, status.Code(err), tc.code)
		}
		var re *wire.RemoteError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("%s: %T is not a *wire.RemoteError", tc.path, err)
		}
		if tc.code == codes.OK && (resp == nil || resp.Status != http.StatusOK) {
			t.Errorf("%s: %+v, want status 200 (zero filled in)", tc.path, resp)
		}
	}
	if _, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/notfound"}); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("errors.Is(err, sdk.ErrNotFound) = false for %v", err)
	}
}
