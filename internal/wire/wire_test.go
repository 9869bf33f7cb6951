package wire_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/patchbayhq/patchbay/internal/wire"
	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// deliverHook is a webhook handler that delivers one message and answers
// 200, or 503 with the error when Deliver fails.
func deliverHook(msg func(r *sdk.WebhookRequest) *sdk.InboundMessage, receipts chan<- *sdk.Receipt) func(ctx context.Context, h sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	return func(ctx context.Context, h sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		rc, err := h.Deliver(ctx, msg(r))
		if err != nil {
			return &sdk.WebhookResponse{Status: http.StatusServiceUnavailable, Body: []byte(err.Error())}, nil
		}
		if receipts != nil {
			receipts <- rc
		}
		return &sdk.WebhookResponse{Status: http.StatusOK}, nil
	}
}

func TestDescribeAndLifecycle(t *testing.T) {
	ch := &probeChannel{}
	cc := configured(t, ch, newMemBackend())
	ctx := testCtx(t)
	m, err := cc.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "probe" || m.ProtocolVersion != sdk.ProtocolVersion || len(m.ConfigFields) != 1 || !m.ConfigFields[0].Secret {
		t.Errorf("manifest %+v", m)
	}
	if ch.req.Instance != "probe-1" || string(ch.req.Config) != `{"token":"x"}` || ch.req.PublicURL != "https://hooks.test/probe-1" ||
		ch.req.Attachments.MaxBytes != 1<<20 || ch.req.Attachments.Allow[0] != ".pdf" || ch.req.Logger == nil {
		t.Errorf("configure request %+v", ch.req)
	}
	if err := cc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !ch.started || !ch.stopped {
		t.Error("Start/Stop did not reach the channel")
	}
}

func TestConfigureOutcomes(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		wantFields sdk.FieldErrors
		wantErr    string
	}{
		{name: "ok"},
		{name: "field errors", err: sdk.FieldErrors{{Field: "token", Message: "is required"}}, wantFields: sdk.FieldErrors{{Field: "token", Message: "is required"}}},
		{name: "wrapped field errors", err: errors.Join(errors.New("context"), sdk.FieldErrors{{Field: "a", Message: "b"}}), wantFields: sdk.FieldErrors{{Field: "a", Message: "b"}}},
		{name: "empty field errors still reject", err: sdk.FieldErrors{}, wantFields: sdk.FieldErrors{{Message: "invalid configuration"}}},
		{name: "internal error", err: errors.New("cannot open spool dir"), wantErr: "configure: cannot open spool dir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := &probeChannel{configure: func(sdk.ConfigureRequest) error { return c.err }}
			cc := connect(t, ch)
			fe, err := cc.Configure(testCtx(t), "i", []byte(`{}`), sdk.AttachmentPolicy{}, "", newMemBackend())
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(fe) != len(c.wantFields) {
				t.Fatalf("field errors %v, want %v", fe, c.wantFields)
			}
			for i := range fe {
				if fe[i] != c.wantFields[i] {
					t.Errorf("field error %d = %+v, want %+v", i, fe[i], c.wantFields[i])
				}
			}
		})
	}
}

func TestConfigureWithoutBackendGivesFailingHost(t *testing.T) {
	ch := &probeChannel{}
	cc := connect(t, ch)
	fe, err := cc.Configure(testCtx(t), "i", []byte(`{}`), sdk.AttachmentPolicy{}, "", nil)
	if err != nil || len(fe) > 0 {
		t.Fatal(fe, err)
	}
	_, err = ch.Host().Deliver(testCtx(t), &sdk.InboundMessage{ExternalID: "1"})
	if !errors.Is(err, wire.ErrNoHost) {
		t.Errorf("Deliver without a host: %v, want ErrNoHost", err)
	}
}

func TestReconfigureSwitchesHost(t *testing.T) {
	first, second := newMemBackend(), newMemBackend()
	ch := &probeChannel{webhook: deliverHook(func(r *sdk.WebhookRequest) *sdk.InboundMessage {
		return &sdk.InboundMessage{ExternalID: string(r.Body), ConversationKey: "c"}
	}, nil)}
	cc := configured(t, ch, first)
	ctx := testCtx(t)
	if _, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Body: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	// A rejected reconfiguration leaves the running one (and its Host) alone.
	ch.configure = func(r sdk.ConfigureRequest) error {
		if string(r.Config) == "bad" {
			return sdk.FieldErrors{{Field: "x", Message: "bad"}}
		}
		return nil
	}
	if fe, err := cc.Configure(ctx, "probe-1", []byte("bad"), sdk.AttachmentPolicy{}, "", second); err != nil || len(fe) != 1 {
		t.Fatal(fe, err)
	}
	if _, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Body: []byte("a2")}); err != nil {
		t.Fatal(err)
	}
	if fe, err := cc.Configure(ctx, "probe-1", nil, sdk.AttachmentPolicy{}, "", second); err != nil || fe != nil {
		t.Fatal(fe, err)
	}
	if _, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Body: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if len(first.delivered) != 2 || len(second.delivered) != 1 || second.delivered[0].ExternalID != "b" {
		t.Errorf("first %d, second %d deliveries", len(first.delivered), len(second.delivered))
	}
}

func TestWebhookRoundTrip(t *testing.T) {
	var seen *sdk.WebhookRequest
	ch := &probeChannel{webhook: func(ctx context.Context, h sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		seen = r
		if r.RawQuery == "status=0" {
			return &sdk.WebhookResponse{Body: []byte("default status")}, nil
		}
		return &sdk.WebhookResponse{Status: 202, Header: http.Header{"X-Reply": {"1", "2"}}, Body: []byte("challenge-123")}, nil
	}}
	cc := configured(t, ch, newMemBackend())
	ctx := testCtx(t)
	big := bytes.Repeat([]byte("x"), 5<<20) // above gRPC's default 4 MiB limit
	resp, err := cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "POST", Path: "/events", RawQuery: "a=1", Header: http.Header{"X-Sig": {"v0=1"}}, Body: big, RemoteAddr: "1.2.3.4:5"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 202 || resp.Header.Get("X-Reply") != "1" || len(resp.Header["X-Reply"]) != 2 || string(resp.Body) != "challenge-123" {
		t.Errorf("response %+v", resp)
	}
	if seen.Method != "POST" || seen.Path != "/events" || seen.RawQuery != "a=1" || seen.Header.Get("X-Sig") != "v0=1" || !bytes.Equal(seen.Body, big) || seen.RemoteAddr != "1.2.3.4:5" {
		t.Errorf("request seen by the plugin: %s %s %s", seen.Method, seen.Path, seen.RawQuery)
	}
	resp, err = cc.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "GET", Path: "/", RawQuery: "status=0"})
	if err != nil || resp.Status != http.StatusOK {
		t.Errorf("a response without a status: %+v %v, want 200", resp, err)
	}
}

func TestPluginErrorsAndPanics(t *testing.T) {
	cases := []struct {
		name    string
		hook    func(ctx context.Context, h sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error)
		wantErr string
	}{
		{"error", func(context.Context, sdk.Host, *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
			return nil, errors.New("boom")
		}, "handle webhook: boom"},
		{"nil response", func(context.Context, sdk.Host, *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
			return nil, nil
		}, "handle webhook: the plugin returned no response"},
		{"panic", func(context.Context, sdk.Host, *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
			panic("index out of range")
		}, "handle webhook: plugin panic: index out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := &probeChannel{webhook: c.hook}
			cc := configured(t, ch, newMemBackend())
			_, err := cc.HandleWebhook(testCtx(t), &sdk.WebhookRequest{Method: "POST", Path: "/"})
			if err == nil || err.Error() != c.wantErr {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			// The plugin process (here: server) keeps serving.
			if _, err := cc.Describe(testCtx(t)); err != nil {
				t.Fatalf("describe after the failure: %v", err)
			}
		})
	}
}

// TestDeliverErrorReachesPlugin: a core that cannot commit makes the
// plugin's Deliver fail, so its webhook answers 5xx.
func TestDeliverErrorReachesPlugin(t *testing.T) {
	b := newMemBackend()
	b.failDeliver = errors.New("store: sync failed")
	ch := &probeChannel{webhook: deliverHook(func(*sdk.WebhookRequest) *sdk.InboundMessage {
		return &sdk.InboundMessage{ExternalID: "m1", ConversationKey: "c", Attachments: []sdk.Attachment{sdk.BytesAttachment("a.pdf", "application/pdf", []byte("%PDF"))}}
	}, nil)}
	cc := configured(t, ch, b)
	resp, err := cc.HandleWebhook(testCtx(t), &sdk.WebhookRequest{Method: "POST", Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusServiceUnavailable || !strings.Contains(string(resp.Body), "store: sync failed") {
		t.Errorf("answer %d %q", resp.Status, resp.Body)
	}
	if len(b.delivered) != 0 {
		t.Error("a failed delivery was recorded")
	}
}

func TestDeliverAttachmentsAndRejections(t *testing.T) {
	b := newMemBackend()
	b.rejectExt = ".exe"
	receipts := make(chan *sdk.Receipt, 1)
	unknown := sdk.BytesAttachment("notes.txt", "text/plain", []byte("hello"))
	unknown.Size = -1
	withSum := sdk.BytesAttachment("sum.pdf", "application/pdf", []byte("%PDF-sum"))
	withSum.SHA256 = hexSHA([]byte("%PDF-sum"))
	empty := sdk.BytesAttachment("empty.txt", "text/plain", nil)
	ch := &probeChannel{webhook: deliverHook(func(*sdk.WebhookRequest) *sdk.InboundMessage {
		return &sdk.InboundMessage{ExternalID: "m1", ConversationKey: "c", Attachments: []sdk.Attachment{
			sdk.BytesAttachment("a.pdf", "application/pdf", []byte("%PDF-1")),
			sdk.BytesAttachment("virus.exe", "application/octet-stream", bytes.Repeat([]byte("M"), 3*wire.ChunkSize)),
			unknown, withSum, empty,
		}}
	}, receipts)}
	cc := configured(t, ch, b)
	resp, err := cc.HandleWebhook(testCtx(t), &sdk.WebhookRequest{Method: "POST", Path: "/"})
	if err != nil || resp.Status != 200 {
		t.Fatalf("%+v %v", resp, err)
	}
	r := <-receipts
	if r.TicketID != 7 || len(r.Rejected) != 1 || r.Rejected[0].Filename != "virus.exe" || r.Rejected[0].Reason != "type not allowed" {
		t.Errorf("receipt %+v", r)
	}
	ids := b.ids[0]
	if len(ids) != 5 {
		t.Fatalf("staged ids %v: the rejected file's id must be passed to Deliver too", ids)
	}
	want := map[string]string{"a.pdf": "%PDF-1", "notes.txt": "hello", "sum.pdf": "%PDF-sum", "empty.txt": ""}
	for _, id := range ids {
		h, ok := b.headers[id]
		if !ok {
			continue // the rejected one
		}
		if string(b.staged[id]) != want[h.Filename] {
			t.Errorf("%s staged %q", h.Filename, b.staged[id])
		}
		delete(want, h.Filename)
	}
	if len(want) != 0 {
		t.Errorf("not staged: %v", want)
	}
	if h := b.headers[ids[2]]; h.Size != -1 {
		t.Errorf("unknown size sent as %d", h.Size)
	}
}

func TestUploadChecksDeclaredSizeAndDigest(t *testing.T) {
	cases := []struct {
		name string
		att  func() sdk.Attachment
		want string
	}{
		{"shorter than declared", func() sdk.Attachment {
			a := sdk.BytesAttachment("a.pdf", "", []byte("abc"))
			a.Size = 10
			return a
		}, "has 3 bytes, declared 10"},
		{"longer than declared", func() sdk.Attachment {
			a := sdk.BytesAttachment("a.pdf", "", bytes.Repeat([]byte("a"), wire.ChunkSize+10))
			a.Size = 5
			return a
		}, "longer than its declared size 5"},
		{"digest mismatch", func() sdk.Attachment {
			a := sdk.BytesAttachment("a.pdf", "", []byte("abc"))
			a.SHA256 = hexSHA([]byte("abd"))
			return a
		}, "does not match its declared sha256"},
		{"open fails", func() sdk.Attachment {
			return sdk.Attachment{Filename: "a.pdf", Size: -1, Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("provider 404") }}
		}, "open: provider 404"},
		{"read fails midway", func() sdk.Attachment {
			return sdk.Attachment{Filename: "a.pdf", Size: -1, Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(io.MultiReader(bytes.NewReader(make([]byte, 2*wire.ChunkSize)), iotestErrReader{})), nil
			}}
		}, "connection reset"},
		{"no open", func() sdk.Attachment { return sdk.Attachment{Filename: "a.pdf"} }, "has no Open"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newMemBackend()
			ch := &probeChannel{}
			configured(t, ch, b)
			_, err := ch.Host().Deliver(testCtx(t), &sdk.InboundMessage{ExternalID: "m", ConversationKey: "c", Attachments: []sdk.Attachment{c.att()}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
			if len(b.delivered) != 0 || len(b.staged) != 0 {
				t.Errorf("stored after a broken upload: %d delivered, %d staged", len(b.delivered), len(b.staged))
			}
		})
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestOpenAttachment(t *testing.T) {
	b := newMemBackend()
	data := make([]byte, 3*wire.ChunkSize+17)
	_, _ = rand.Read(data)
	b.stored["att-9"] = data
	b.stored["empty"] = nil
	ch := &probeChannel{}
	configured(t, ch, b)
	ctx := testCtx(t)
	h := ch.Host()

	rc, err := h.OpenAttachment(ctx, "att-9")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}

	rc, err = h.OpenAttachment(ctx, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rc); err != nil || len(got) != 0 {
		t.Errorf("empty file: %q %v", got, err)
	}

	_, err = h.OpenAttachment(ctx, "nope")
	if !errors.Is(err, sdk.ErrNotFound) || status.Code(err) != codes.NotFound {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}

	// Closing early ends the stream; further reads fail.
	rc, err = h.OpenAttachment(ctx, "att-9")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("read after Close succeeded")
	}
}

func TestOutboundAttachmentOpensThroughHost(t *testing.T) {
	b := newMemBackend()
	b.stored["out-1"] = []byte("%PDF-outbound")
	ch := &probeChannel{send: func(ctx context.Context, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
		rc, err := m.Attachments[0].Open(ctx)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			return nil, err
		}
		return &sdk.SendResult{ExternalID: m.Attachments[0].ID + ":" + string(data)}, nil
	}}
	cc := configured(t, ch, b)
	res, err := cc.Send(testCtx(t), &sdk.OutboundMessage{IdempotencyKey: "k", Attachments: []sdk.Attachment{{ID: "out-1", Filename: "r.pdf", Size: 13}}})
	if err != nil || res.ExternalID != "out-1:%PDF-outbound" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestSendOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		ret     error
		wantErr *sdk.SendError
	}{
		{"ok", nil, nil},
		{"retryable", sdk.Retryable("rate_limited", errors.New("429"), 30*time.Second), &sdk.SendError{Code: "rate_limited", Message: "429", Retryable: true, RetryAfter: 30 * time.Second}},
		{"permanent", sdk.Permanent("window_closed", errors.New("outside the 24h window")), &sdk.SendError{Code: "window_closed", Message: "outside the 24h window"}},
		{"wrapped send error", errors.Join(errors.New("x"), sdk.Permanent("bad", errors.New("b"))), &sdk.SendError{Code: "bad", Message: "b"}},
		{"plain error is retryable", errors.New("dial tcp: i/o timeout"), &sdk.SendError{Code: "plugin_error", Message: "dial tcp: i/o timeout", Retryable: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seen *sdk.OutboundMessage
			ch := &probeChannel{send: func(ctx context.Context, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
				seen = m
				if c.ret != nil {
					return nil, c.ret
				}
				return &sdk.SendResult{ExternalID: "p-1"}, nil
			}}
			cc := configured(t, ch, newMemBackend())
			res, err := cc.Send(testCtx(t), &sdk.OutboundMessage{IdempotencyKey: "idem-1", TicketID: 3, Text: "hi", Recipient: sdk.Party{ExternalID: "u"}})
			if seen == nil || seen.IdempotencyKey != "idem-1" || seen.TicketID != 3 || seen.Recipient.ExternalID != "u" {
				t.Errorf("plugin saw %+v", seen)
			}
			if c.wantErr == nil {
				if err != nil || res.ExternalID != "p-1" {
					t.Fatalf("%+v %v", res, err)
				}
				return
			}
			var se *sdk.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err %T %v, want *sdk.SendError", err, err)
			}
			se.Err = nil
			if *se != *c.wantErr {
				t.Errorf("send error %+v, want %+v", se, c.wantErr)
			}
		})
	}
}

func TestSendTransportErrorIsNotSendError(t *testing.T) {
	cc := configured(t, &probeChannel{}, newMemBackend())
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	_, err := cc.Send(ctx, &sdk.OutboundMessage{})
	var se *sdk.SendError
	if err == nil || errors.As(err, &se) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want a non-SendError that is context.Canceled", err)
	}
}

func TestHostStateStatusAndUpdates(t *testing.T) {
	b := newMemBackend()
	ch := &probeChannel{}
	configured(t, ch, b)
	ctx := testCtx(t)
	h := ch.Host()
	if err := h.SetState(ctx, "imap.uid", []byte("1234")); err != nil {
		t.Fatal(err)
	}
	v, ok, err := h.GetState(ctx, "imap.uid")
	if err != nil || !ok || string(v) != "1234" {
		t.Errorf("get %q %v %v", v, ok, err)
	}
	if err := h.DeleteState(ctx, "imap.uid"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := h.GetState(ctx, "imap.uid"); ok {
		t.Error("deleted state still found")
	}
	if err := h.ReportStatus(ctx, sdk.Status{State: sdk.StateConnected, Message: "socket open"}); err != nil {
		t.Fatal(err)
	}
	if len(b.statuses) != 1 || b.statuses[0].Message != "socket open" {
		t.Errorf("statuses %+v", b.statuses)
	}
	found, err := h.UpdateDelivery(ctx, sdk.DeliveryUpdate{ExternalID: "known", Status: "read", At: at})
	if err != nil || !found {
		t.Errorf("update: %v %v", found, err)
	}
	if len(b.updates) != 1 || !b.updates[0].At.Equal(at) {
		t.Errorf("updates %+v", b.updates)
	}
}

// TestLargeAttachmentThroughBroker streams 20 MiB each way through the
// broker-served Host service and checks the bytes.
func TestLargeAttachmentThroughBroker(t *testing.T) {
	data := make([]byte, 20<<20)
	_, _ = rand.Read(data)
	b := newMemBackend()
	b.stored["big"] = data
	ch := &probeChannel{}
	configured(t, ch, b)
	ctx := testCtx(t)
	a := sdk.BytesAttachment("big.pdf", "application/pdf", data)
	a.SHA256 = hexSHA(data)
	if _, err := ch.Host().Deliver(ctx, &sdk.InboundMessage{ExternalID: "big", ConversationKey: "c", Attachments: []sdk.Attachment{a}}); err != nil {
		t.Fatal(err)
	}
	if got := b.staged[b.ids[0][0]]; !bytes.Equal(got, data) {
		t.Fatalf("staged %d bytes, differ from the %d sent", len(got), len(data))
	}
	if b.maxChunk > wire.ChunkSize {
		t.Errorf("the backend read %d bytes at once; the reader must hold one chunk", b.maxChunk)
	}
	rc, err := ch.Host().OpenAttachment(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, err %v", len(got), err)
	}
}

// payloadStats records the size of every gRPC message a server receives and
// sends.
type payloadStats struct {
	mu      sync.Mutex
	in, out int
	maxIn   int
	maxOut  int
}

func (s *payloadStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (s *payloadStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (s *payloadStats) HandleConn(context.Context, stats.ConnStats)                       {}
func (s *payloadStats) HandleRPC(_ context.Context, st stats.RPCStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p := st.(type) {
	case *stats.InPayload:
		s.in++
		s.maxIn = max(s.maxIn, p.Length)
	case *stats.OutPayload:
		s.out++
		s.maxOut = max(s.maxOut, p.Length)
	}
}

// TestLargeAttachmentIsChunked proves a 20 MiB file crosses the wire as
// ChunkSize messages, never as one message, in both directions.
func TestLargeAttachmentIsChunked(t *testing.T) {
	data := make([]byte, 20<<20)
	_, _ = rand.Read(data)
	b := newMemBackend()
	b.stored["big"] = data
	st := &payloadStats{}
	srv := wire.NewHostServer(b, []grpc.ServerOption{grpc.StatsHandler(st)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), append(wire.GRPCDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	host := wire.NewHostClient(pb.NewHostClient(conn))
	ctx := testCtx(t)

	if _, err := host.Deliver(ctx, &sdk.InboundMessage{ExternalID: "big", ConversationKey: "c", Attachments: []sdk.Attachment{sdk.BytesAttachment("big.pdf", "application/pdf", data)}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.staged[b.ids[0][0]], data) {
		t.Fatal("uploaded bytes differ")
	}
	rc, err := host.OpenAttachment(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, err %v", len(got), err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	limit := wire.ChunkSize + 1024 // one chunk plus its header
	if st.maxIn > limit || st.maxOut > limit {
		t.Errorf("largest message in %d, out %d bytes; want at most %d", st.maxIn, st.maxOut, limit)
	}
	chunks := len(data) / wire.ChunkSize
	if st.in < chunks || st.out < chunks {
		t.Errorf("%d messages in, %d out; want at least %d each way", st.in, st.out, chunks)
	}
}

// TestLargeRawStreamsOutsideDeliver closes the class "a raw payload is
// bounded by one RPC message": a Raw over InlineRawBytes (here 80 MiB, over
// the 64 MiB gRPC message limit) streams to the core as a raw upload
// (StagedHeader.Raw, the message's content type) whose id joins the staged
// ids, and the Deliver call carries no raw bytes; a small Raw stays inline.
func TestLargeRawStreamsOutsideDeliver(t *testing.T) {
	big := make([]byte, wire.MaxMessageBytes+16<<20)
	_, _ = rand.Read(big[:1<<20])
	b := newMemBackend()
	ch := &probeChannel{}
	configured(t, ch, b)
	ctx := testCtx(t)
	if _, err := ch.Host().Deliver(ctx, &sdk.InboundMessage{ExternalID: "big", ConversationKey: "c", Raw: big, RawContentType: "message/rfc822",
		Attachments: []sdk.Attachment{sdk.BytesAttachment("a.pdf", "application/pdf", []byte("%PDF"))}}); err != nil {
		t.Fatal(err)
	}
	if len(b.delivered) != 1 || len(b.delivered[0].Raw) != 0 || len(b.ids[0]) != 2 {
		t.Fatalf("delivered %d messages, raw inline %d bytes, ids %q", len(b.delivered), len(b.delivered[0].Raw), b.ids[0])
	}
	rawID := b.ids[0][1]
	if h := b.headers[rawID]; !h.Raw || h.ContentType != "message/rfc822" || b.headers[b.ids[0][0]].Raw {
		t.Fatalf("headers %+v", b.headers)
	}
	if !bytes.Equal(b.staged[rawID], big) {
		t.Fatalf("raw upload %d bytes, want %d", len(b.staged[rawID]), len(big))
	}
	small := []byte(`{"small":true}`)
	if _, err := ch.Host().Deliver(ctx, &sdk.InboundMessage{ExternalID: "small", ConversationKey: "c", Raw: small}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.delivered[1].Raw, small) || len(b.ids[1]) != 0 {
		t.Fatalf("small raw: %q, ids %q", b.delivered[1].Raw, b.ids[1])
	}
}
