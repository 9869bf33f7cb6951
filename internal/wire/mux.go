package wire

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// The two calls of the inbound hot path (Channel.HandleWebhook, core →
// plugin, and Host.Deliver, plugin → core) travel as messages on one
// long-lived bidirectional stream per direction instead of one unary RPC
// each: a unary call costs a new HTTP/2 stream (header frames, HPACK, a
// server goroutine, window updates) on both sides, a message on an open
// stream costs one DATA frame. Each call carries an id chosen by the caller
// and its remaining budget (timeout_nanos); results come back in any order
// with the same id; a caller that gives up sends a cancel frame. When the
// stream breaks, every call still waiting fails with codes.Unavailable and
// the next call opens a new stream.

// muxSendQueue is how many call frames may wait for the stream's sender.
// A caller that finds it full waits (bounded by its context), so a stalled
// peer turns into deadline errors, not unbounded memory.
const muxSendQueue = 256

// bidiClient is the client end of a generated bidirectional stream.
type bidiClient[C, R any] interface {
	Send(C) error
	Recv() (R, error)
}

// bidiServer is the server end of a generated bidirectional stream.
type bidiServer[C, R any] interface {
	Send(R) error
	Recv() (C, error)
	Context() context.Context
}

// muxResult is what the caller side needs of a result frame.
type muxResult interface {
	GetId() uint64
	GetError() *pb.CallStatus
}

// muxCall is what the serving side needs of a call frame.
type muxCall interface {
	GetId() uint64
	GetTimeoutNanos() int64
	GetCancel() bool
}

// muxClient multiplexes calls of one kind over a bidirectional stream it
// opens on first use and reopens after the stream broke. Req is the request
// payload, C the call frame, R the result frame. It is safe for concurrent
// use.
type muxClient[Req any, C any, R muxResult] struct {
	op string
	// open opens a new stream; ctx bounds the stream's whole life.
	open func(ctx context.Context) (bidiClient[C, R], error)
	// frame builds the call frame of a request (cancel false) or the cancel
	// frame of id (req is the zero value).
	frame func(id uint64, timeoutNanos int64, cancel bool, req Req) C

	nextID atomic.Uint64

	mu     sync.Mutex
	cur    *muxStream[Req, C, R]
	closed bool
}

// outFrame is a frame waiting for the sender: the call frame of req, or
// (cancel) the cancel frame of id. The frame itself is built when it is
// sent, so that its budget is what is left then.
type outFrame[Req any] struct {
	id       uint64
	deadline time.Time // zero: none
	cancel   bool
	req      Req
}

// muxStream is one opened (or opening) stream of a muxClient.
type muxStream[Req any, C any, R muxResult] struct {
	ready  chan struct{} // closed once open returned
	done   chan struct{} // closed when the stream failed
	cancel context.CancelFunc
	stream bidiClient[C, R] // set before ready is closed
	sendq  chan outFrame[Req]
	frame  func(id uint64, timeoutNanos int64, cancel bool, req Req) C

	mu      sync.Mutex
	pending map[uint64]chan R
	err     error // why the stream ended; set before done is closed
}

func newMuxClient[Req any, C any, R muxResult](op string, open func(context.Context) (bidiClient[C, R], error), frame func(uint64, int64, bool, Req) C) *muxClient[Req, C, R] {
	return &muxClient[Req, C, R]{op: op, open: open, frame: frame}
}

// errMuxClosed ends the calls of a closed muxClient.
var errMuxClosed = errors.New("the connection was closed")

// call sends req and waits for its result, ctx's end, or the stream's
// failure. Errors are *RemoteError values like those of a unary call:
// the remote side's status, DeadlineExceeded or Canceled when ctx ended,
// Unavailable when the stream broke (nothing is known of the call).
func (m *muxClient[Req, C, R]) call(ctx context.Context, req Req) (R, error) {
	var zero R
	if err := ctx.Err(); err != nil {
		return zero, m.ctxError(err)
	}
	s, err := m.stream(ctx)
	if err != nil {
		return zero, err
	}
	deadline, _ := ctx.Deadline()
	id := m.nextID.Add(1)
	ch := make(chan R, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return zero, m.streamError(s.err)
	}
	s.pending[id] = ch
	s.mu.Unlock()

	select {
	case s.sendq <- outFrame[Req]{id: id, deadline: deadline, req: req}:
	case <-ctx.Done():
		s.forget(id) // never sent: nothing to cancel
		return zero, m.ctxError(ctx.Err())
	case <-s.done:
		return zero, m.streamError(s.failure())
	}
	select {
	case r := <-ch:
		return m.result(r)
	case <-ctx.Done():
		// A call past its deadline ends on the other side by itself (the
		// frame carried the deadline); one cancelled before it is
		// withdrawn with a cancel frame, best effort.
		if s.forget(id) && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			select {
			case s.sendq <- outFrame[Req]{id: id, cancel: true}:
			default:
			}
		}
		return zero, m.ctxError(ctx.Err())
	case <-s.done:
		// The result may have arrived just before the stream broke.
		select {
		case r := <-ch:
			return m.result(r)
		default:
		}
		return zero, m.streamError(s.failure())
	}
}

func (m *muxClient[Req, C, R]) result(r R) (R, error) {
	if st := r.GetError(); st != nil {
		var zero R
		return zero, &RemoteError{Op: m.op, Status: status.New(codes.Code(st.GetCode()), st.GetMessage())}
	}
	return r, nil
}

// ctxError is the error of a call whose context ended, shaped like the one
// a unary call returns (status.Code and errors.Is work on it).
func (m *muxClient[Req, C, R]) ctxError(err error) error {
	return &RemoteError{Op: m.op, Status: status.FromContextError(err)}
}

// streamError is the error of a call whose stream broke or never opened.
func (m *muxClient[Req, C, R]) streamError(err error) error {
	if errors.Is(err, errMuxClosed) {
		return &RemoteError{Op: m.op, Status: status.New(codes.Unavailable, err.Error())}
	}
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}
	return &RemoteError{Op: m.op, Status: status.New(codes.Unavailable, "the call stream ended: "+msg)}
}

// stream returns the current stream, opening a new one when there is none
// or the last one broke. It waits for the opening at most until ctx ends.
func (m *muxClient[Req, C, R]) stream(ctx context.Context) (*muxStream[Req, C, R], error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, m.streamError(errMuxClosed)
	}
	s := m.cur
	if s == nil || s.failed() {
		sctx, cancel := context.WithCancel(context.Background())
		s = &muxStream[Req, C, R]{
			ready:   make(chan struct{}),
			done:    make(chan struct{}),
			cancel:  cancel,
			sendq:   make(chan outFrame[Req], muxSendQueue),
			frame:   m.frame,
			pending: make(map[uint64]chan R),
		}
		m.cur = s
		// Opening does not wait for the peer while the connection is up; it
		// does while gRPC reconnects. That wait is bounded by the context of
		// the call that asked for the stream.
		stop := context.AfterFunc(ctx, cancel)
		go m.run(sctx, s, stop)
	}
	m.mu.Unlock()
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, m.ctxError(ctx.Err())
	}
	if s.stream == nil {
		return nil, m.streamError(s.failure())
	}
	return s, nil
}

// run opens s and then moves frames until the stream breaks.
func (m *muxClient[Req, C, R]) run(ctx context.Context, s *muxStream[Req, C, R], stop func() bool) {
	st, err := m.open(ctx)
	if !stop() && err == nil {
		err = errors.New("opening was abandoned")
	}
	if err != nil {
		s.fail(err)
		close(s.ready)
		return
	}
	s.stream = st
	close(s.ready)
	go s.sendLoop(ctx)
	s.recvLoop()
}

// Close ends the current stream (its waiting calls fail with Unavailable)
// and every later call.
func (m *muxClient[Req, C, R]) Close() {
	m.mu.Lock()
	m.closed = true
	s := m.cur
	m.mu.Unlock()
	if s != nil {
		s.fail(errMuxClosed)
	}
}

// sendLoop is the stream's one sender (a gRPC stream takes one Send at a
// time). Only it blocks on the peer's flow control; callers wait on the
// queue with their context.
func (s *muxStream[Req, C, R]) sendLoop(ctx context.Context) {
	for {
		select {
		case f := <-s.sendq:
			var timeout int64
			if !f.cancel {
				// A call withdrawn, or out of time, while it waited here
				// is not sent at all (its caller returns on its own).
				if !s.waiting(f.id) {
					continue
				}
				if !f.deadline.IsZero() {
					if timeout = int64(time.Until(f.deadline)); timeout <= 0 {
						continue
					}
				}
			}
			if err := s.stream.Send(s.frame(f.id, timeout, f.cancel, f.req)); err != nil {
				// The reason comes from Recv; cancelling makes it return.
				s.cancel()
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// recvLoop hands each result to its waiting caller until the stream ends.
func (s *muxStream[Req, C, R]) recvLoop() {
	for {
		r, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the peer closed the stream")
			}
			s.fail(err)
			return
		}
		id := r.GetId()
		s.mu.Lock()
		ch, ok := s.pending[id]
		delete(s.pending, id)
		s.mu.Unlock()
		if ok {
			ch <- r // buffered, one result per id
		}
	}
}

// waiting reports whether call id still waits for its result.
func (s *muxStream[Req, C, R]) waiting(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[id]
	return ok
}

// forget removes a waiting call; it reports whether it was still waiting.
func (s *muxStream[Req, C, R]) forget(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[id]
	delete(s.pending, id)
	return ok
}

// fail records why the stream ended (the first reason wins), wakes every
// waiting call and ends the stream.
func (s *muxStream[Req, C, R]) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		s.pending = nil
		close(s.done)
	}
	s.mu.Unlock()
	s.cancel()
}

func (s *muxStream[Req, C, R]) failed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *muxStream[Req, C, R]) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// serveMux serves one multiplexed stream: each call frame runs handle in
// its own context (the stream's, bounded by the frame's timeout, cancelled
// by a cancel frame) on a worker, and its result is sent back with the same
// id. handle must set the result's id. It returns when the stream ends;
// calls still running then see their context cancelled and their results
// are dropped.
func serveMux[C muxCall, R any](stream bidiServer[C, R], handle func(ctx context.Context, c C) R) error {
	ctx := stream.Context()
	var (
		sendMu sync.Mutex
		closed bool

		mu       sync.Mutex
		inflight = make(map[uint64]context.CancelFunc)
		running  sync.WaitGroup
	)
	pool := newWorkerPool(StreamWorkers)
	defer pool.close()
	defer func() {
		sendMu.Lock()
		closed = true
		sendMu.Unlock()
	}()
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// The caller half-closed: finish and answer what it sent.
			running.Wait()
			return nil
		}
		if err != nil {
			return err
		}
		id := c.GetId()
		if c.GetCancel() {
			mu.Lock()
			if cancel := inflight[id]; cancel != nil {
				cancel()
			}
			mu.Unlock()
			continue
		}
		var cctx context.Context
		var cancel context.CancelFunc
		if t := c.GetTimeoutNanos(); t > 0 {
			cctx, cancel = context.WithTimeout(ctx, time.Duration(t))
		} else {
			cctx, cancel = context.WithCancel(ctx)
		}
		mu.Lock()
		if _, dup := inflight[id]; dup {
			mu.Unlock()
			cancel()
			return status.Errorf(codes.InvalidArgument, "call id %d is already in flight", id)
		}
		inflight[id] = cancel
		mu.Unlock()
		running.Add(1)
		pool.run(func() {
			defer running.Done()
			r := handle(cctx, c)
			mu.Lock()
			delete(inflight, id)
			mu.Unlock()
			cancel()
			sendMu.Lock()
			if !closed {
				// A failed Send means the stream is gone; Recv reports it.
				_ = stream.Send(r)
			}
			sendMu.Unlock()
		})
	}
}

// callStatus is the CallStatus of an error returned by a call handler.
func callStatus(err error) *pb.CallStatus {
	st := status.Convert(toStatus(err))
	return &pb.CallStatus{Code: int32(st.Code()), Message: st.Message()}
}

// workerPool runs functions on goroutines that outlive one call, so a
// grown stack is kept (the reason for StreamWorkers); when every worker is
// busy a function gets a goroutine of its own, so nothing waits for a
// worker. run is called from one goroutine only.
type workerPool struct {
	work chan func()
	quit chan struct{}
	n    int
	max  int
}

func newWorkerPool(max int) *workerPool {
	return &workerPool{work: make(chan func()), quit: make(chan struct{}), max: max}
}

func (p *workerPool) run(f func()) {
	select {
	case p.work <- f:
		return
	default:
	}
	if p.n < p.max {
		p.n++
		go p.worker(f)
		return
	}
	go f()
}

func (p *workerPool) worker(f func()) {
	for {
		f()
		select {
		case f = <-p.work:
		case <-p.quit:
			return
		}
	}
}

// close ends idle workers; busy ones end after their function.
func (p *workerPool) close() { close(p.quit) }
