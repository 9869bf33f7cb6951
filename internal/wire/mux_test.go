package wire

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// pipe is an in-memory bidirectional stream: the client end and the
// server end of one Deliveries stream.
type pipe struct {
	ctx     context.Context
	cancel  context.CancelFunc
	calls   chan *pb.DeliverCall
	results chan *pb.DeliverResult
}

func newPipe(ctx context.Context) *pipe {
	ctx, cancel := context.WithCancel(ctx)
	return &pipe{ctx: ctx, cancel: cancel, calls: make(chan *pb.DeliverCall, 16), results: make(chan *pb.DeliverResult, 16)}
}

// pipeClient is the caller's end.
type pipeClient struct{ *pipe }

func (p pipeClient) Send(c *pb.DeliverCall) error {
	select {
	case p.calls <- c:
		return nil
	case <-p.ctx.Done():
		return io.EOF
	}
}

func (p pipeClient) Recv() (*pb.DeliverResult, error) {
	select {
	case r := <-p.results:
		return r, nil
	case <-p.ctx.Done():
		return nil, status.Error(codes.Unavailable, "pipe closed")
	}
}

// pipeServer is the serving end.
type pipeServer struct{ *pipe }

func (p pipeServer) Send(r *pb.DeliverResult) error {
	select {
	case p.results <- r:
		return nil
	case <-p.ctx.Done():
		return io.EOF
	}
}

func (p pipeServer) Recv() (*pb.DeliverCall, error) {
	select {
	case c := <-p.calls:
		return c, nil
	case <-p.ctx.Done():
		return nil, status.Error(codes.Canceled, "pipe closed")
	}
}

func (p pipeServer) Context() context.Context { return p.ctx }

// pipeMux is a muxClient whose every open makes a new pipe served by
// serveMux with handle; it records the pipes it opened.
type pipeMux struct {
	*muxClient[*pb.DeliverRequest, *pb.DeliverCall, *pb.DeliverResult]
	mu     sync.Mutex
	pipes  []*pipe
	served chan error
}

func newPipeMux(t *testing.T, handle func(context.Context, *pb.DeliverCall) *pb.DeliverResult) *pipeMux {
	pm := &pipeMux{served: make(chan error, 16)}
	pm.muxClient = newMuxClient("deliver",
		func(ctx context.Context) (bidiClient[*pb.DeliverCall, *pb.DeliverResult], error) {
			p := newPipe(ctx)
			pm.mu.Lock()
			pm.pipes = append(pm.pipes, p)
			pm.mu.Unlock()
			go func() { pm.served <- serveMux(pipeServer{p}, handle) }()
			return pipeClient{p}, nil
		},
		func(id uint64, timeout int64, cancel bool, req *pb.DeliverRequest) *pb.DeliverCall {
			return &pb.DeliverCall{Id: id, TimeoutNanos: timeout, Cancel: cancel, Request: req}
		})
	t.Cleanup(pm.Close)
	return pm
}

func (pm *pipeMux) opened() int {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return len(pm.pipes)
}

func (pm *pipeMux) pipe(i int) *pipe {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return pm.pipes[i]
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func receiptFor(c *pb.DeliverCall) *pb.DeliverResult {
	return &pb.DeliverResult{Id: c.GetId(), Response: &pb.DeliverResponse{TicketId: c.GetId()}}
}

// The stream is opened once and shared; after it breaks, the waiting call
// fails with Unavailable and the next call opens a new stream and works.
func TestMuxReopensAfterStreamBreaks(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	pm := newPipeMux(t, func(ctx context.Context, c *pb.DeliverCall) *pb.DeliverResult {
		if c.GetRequest().GetMessage().GetExternalId() == "block" {
			entered <- struct{}{}
			select {
			case <-block:
			case <-ctx.Done():
			}
		}
		return receiptFor(c)
	})
	ctx := testContext(t)
	for range 3 {
		if _, err := pm.call(ctx, &pb.DeliverRequest{Message: &pb.InboundMessage{ExternalId: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := pm.opened(); n != 1 {
		t.Fatalf("opened %d streams for three calls, want 1", n)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := pm.call(ctx, &pb.DeliverRequest{Message: &pb.InboundMessage{ExternalId: "block"}})
		errc <- err
	}()
	<-entered
	pm.pipe(0).cancel() // the stream breaks under the waiting call
	if err := <-errc; status.Code(err) != codes.Unavailable {
		t.Fatalf("call on the broken stream: %v, want Unavailable", err)
	}
	if err := <-pm.served; err == nil {
		t.Error("serveMux returned nil for a broken stream")
	}
	r, err := pm.call(ctx, &pb.DeliverRequest{Message: &pb.InboundMessage{ExternalId: "after"}})
	if err != nil {
		t.Fatalf("call after the break: %v", err)
	}
	if r.GetResponse().GetTicketId() != r.GetId() {
		t.Errorf("result %+v", r)
	}
	if n := pm.opened(); n != 2 {
		t.Errorf("opened %d streams, want 2 (one reopen)", n)
	}
	close(block)
}

// A stream that cannot be opened fails the call with Unavailable; the
// next call tries again.
func TestMuxOpenFailure(t *testing.T) {
	var mu sync.Mutex
	fail := true
	m := newMuxClient("deliver",
		func(ctx context.Context) (bidiClient[*pb.DeliverCall, *pb.DeliverResult], error) {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return nil, status.Error(codes.Unavailable, "connection refused")
			}
			p := newPipe(ctx)
			go func() {
				_ = serveMux(pipeServer{p}, func(_ context.Context, c *pb.DeliverCall) *pb.DeliverResult { return receiptFor(c) })
			}()
			return pipeClient{p}, nil
		},
		func(id uint64, timeout int64, cancel bool, req *pb.DeliverRequest) *pb.DeliverCall {
			return &pb.DeliverCall{Id: id, TimeoutNanos: timeout, Cancel: cancel, Request: req}
		})
	defer m.Close()
	ctx := testContext(t)
	_, err := m.call(ctx, &pb.DeliverRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if _, err := m.call(ctx, &pb.DeliverRequest{}); err != nil {
		t.Fatalf("call after the peer came back: %v", err)
	}
}

// A call whose context is already over is not sent.
func TestMuxExpiredContextNotSent(t *testing.T) {
	pm := newPipeMux(t, func(_ context.Context, c *pb.DeliverCall) *pb.DeliverResult { return receiptFor(c) })
	ctx, cancel := context.WithTimeout(testContext(t), -time.Second)
	defer cancel()
	if _, err := pm.call(ctx, &pb.DeliverRequest{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if n := pm.opened(); n != 0 {
		t.Errorf("opened %d streams for an expired call", n)
	}
}

// The serving side refuses a call id that is already in flight (a broken
// caller) by ending the stream.
func TestServeMuxRejectsDuplicateID(t *testing.T) {
	p := newPipe(testContext(t))
	release := make(chan struct{})
	defer close(release)
	done := make(chan error, 1)
	go func() {
		done <- serveMux(pipeServer{p}, func(_ context.Context, c *pb.DeliverCall) *pb.DeliverResult {
			<-release
			return receiptFor(c)
		})
	}()
	p.calls <- &pb.DeliverCall{Id: 7, Request: &pb.DeliverRequest{}}
	p.calls <- &pb.DeliverCall{Id: 7, Request: &pb.DeliverRequest{}}
	if err := <-done; status.Code(err) != codes.InvalidArgument {
		t.Fatalf("serveMux = %v, want InvalidArgument", err)
	}
}

// Frames: the timeout becomes the handler's deadline, a cancel frame
// cancels the handler's context, and a result for an unknown id (a call
// already withdrawn) is ignored by the caller.
func TestServeMuxFrames(t *testing.T) {
	p := newPipe(context.Background()) // no deadline of its own
	t.Cleanup(p.cancel)
	type seen struct {
		id          uint64
		hasDeadline bool
		err         error
	}
	out := make(chan seen, 4)
	go func() {
		_ = serveMux(pipeServer{p}, func(ctx context.Context, c *pb.DeliverCall) *pb.DeliverResult {
			_, ok := ctx.Deadline()
			if c.GetId() == 2 {
				<-ctx.Done()
			}
			out <- seen{c.GetId(), ok, ctx.Err()}
			return receiptFor(c)
		})
	}()
	p.calls <- &pb.DeliverCall{Id: 1, TimeoutNanos: int64(time.Minute), Request: &pb.DeliverRequest{}}
	if s := <-out; s.id != 1 || !s.hasDeadline || s.err != nil {
		t.Errorf("call 1: %+v, want a deadline and a live context", s)
	}
	if r := <-p.results; r.GetId() != 1 {
		t.Errorf("result id %d, want 1", r.GetId())
	}
	p.calls <- &pb.DeliverCall{Id: 2, Request: &pb.DeliverRequest{}}
	p.calls <- &pb.DeliverCall{Id: 2, Cancel: true}
	if s := <-out; s.id != 2 || s.hasDeadline || !errors.Is(s.err, context.Canceled) {
		t.Errorf("call 2: %+v, want no deadline and Canceled", s)
	}
	// A cancel for an id not in flight is harmless.
	p.calls <- &pb.DeliverCall{Id: 99, Cancel: true}
	p.calls <- &pb.DeliverCall{Id: 3, Request: &pb.DeliverRequest{}}
	for {
		r := <-p.results
		if r.GetId() == 3 {
			break
		}
		if r.GetId() != 2 {
			t.Fatalf("unexpected result id %d", r.GetId())
		}
	}
}

// stallClient is a pipeClient that reports each Send it enters.
type stallClient struct {
	pipeClient
	entered chan struct{}
}

func (c stallClient) Send(x *pb.DeliverCall) error {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	return c.pipeClient.Send(x)
}

// Calls that time out or are cancelled while they wait behind a stalled
// stream (the sender blocked in Send on a peer that does not read, as with
// a SIGSTOPped plugin) are never sent: the peer does not get stale work
// when it resumes.
func TestMuxQueuedCallsWithdrawnAreNotSent(t *testing.T) {
	ctx := testContext(t)
	p := &pipe{calls: make(chan *pb.DeliverCall), results: make(chan *pb.DeliverResult)} // nothing reads yet
	p.ctx, p.cancel = context.WithCancel(ctx)
	defer p.cancel()
	entered := make(chan struct{}, 1)
	m := newMuxClient("deliver",
		func(context.Context) (bidiClient[*pb.DeliverCall, *pb.DeliverResult], error) {
			return stallClient{pipeClient{p}, entered}, nil
		},
		func(id uint64, timeout int64, cancel bool, req *pb.DeliverRequest) *pb.DeliverCall {
			return &pb.DeliverCall{Id: id, TimeoutNanos: timeout, Cancel: cancel, Request: req}
		})
	defer m.Close()
	req := func(name string) *pb.DeliverRequest {
		return &pb.DeliverRequest{Message: &pb.InboundMessage{ExternalId: name}}
	}
	// A (id 1) goes first; the sender then blocks sending it.
	go func() { _, _ = m.call(ctx, req("A")) }()
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the first call never reached Send")
	}
	// B (id 2) times out in the queue.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := m.call(short, req("B")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("B: %v, want DeadlineExceeded", err)
	}
	// C (id 3) is cancelled once it is queued behind B.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cerr := make(chan error, 1)
	go func() {
		_, err := m.call(cctx, req("C"))
		cerr <- err
	}()
	for {
		m.mu.Lock()
		s := m.cur
		m.mu.Unlock()
		if s.waiting(3) && len(s.sendq) == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("C was never queued")
		case <-time.After(2 * time.Millisecond):
		}
	}
	cancel()
	if err := <-cerr; !errors.Is(err, context.Canceled) {
		t.Fatalf("C: %v, want Canceled", err)
	}
	go func() { _, _ = m.call(ctx, req("D")) }()

	var sent []string
	for {
		var c *pb.DeliverCall
		select {
		case c = <-p.calls:
		case <-ctx.Done():
			t.Fatalf("D never sent; sent so far: %v", sent)
		}
		if c.GetCancel() {
			continue
		}
		name := c.GetRequest().GetMessage().GetExternalId()
		sent = append(sent, name)
		if name == "D" {
			break
		}
	}
	if want := []string{"A", "D"}; !slices.Equal(sent, want) {
		t.Errorf("call frames sent: %v, want %v (B timed out and C was cancelled while queued)", sent, want)
	}
}
