package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patchbayhq/patchbay/sdk"
)

func TestPluginFailureClassification(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name     string
		ctx      context.Context
		err      error
		replaced bool
		want     bool
	}{
		{"connection gone", live, status.Error(codes.Unavailable, "connection refused"), false, true},
		{"connection closing, caller live", live, status.Error(codes.Canceled, "grpc: the client connection is closing"), false, true},
		{"transport deadline, caller live", live, status.Error(codes.DeadlineExceeded, "deadline"), false, true},
		{"caller's own deadline, plugin still running", done, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false, false},
		{"caller's own deadline, plugin being restarted", done, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true, true},
		{"plugin answered an error", live, status.Error(codes.Unknown, "provider said no"), false, false},
		{"any error of a replaced session", live, errors.New("stream ended"), true, true},
	}
	for _, c := range cases {
		if got := pluginFailure(c.ctx, c.err, c.replaced); got != c.want {
			t.Errorf("%s: pluginFailure = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSendsInFlightWhenPluginReplaced: sends waiting on a hung (SIGSTOPped)
// plugin when the supervisor replaces it end as ErrUnavailable (the plugin
// never reached the provider: the outbox spends no attempt), not as a
// plain cancellation; the replacement serves the next send.
func TestSendsInFlightWhenPluginReplaced(t *testing.T) {
	sup := fastSupervision()
	sup.PingInterval = 100 * time.Millisecond
	sup.PingTimeout = 300 * time.Millisecond
	sup.PingFailures = 3
	h := startHarness(t, sup, nil, testChannel("alpha", nil))
	pid := h.pid(t, "alpha")
	stopProcess(t, pid)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, errs[i] = h.m.Send(ctx, "alpha", &sdk.OutboundMessage{IdempotencyKey: fmt.Sprint("k", i), Text: "hello"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("send %d in flight during the replacement: %v, want ErrUnavailable", i, err)
		}
	}
	eventually(t, "alpha running again", func() bool { return h.info(t, "alpha").State == StateRunning })
	if _, err := h.m.Send(context.Background(), "alpha", &sdk.OutboundMessage{IdempotencyKey: "after", Text: "hello"}); err != nil {
		t.Fatalf("send to the replacement: %v", err)
	}
}

// TestSendTimeoutOfALivePlugin: the caller's deadline running out on a
// plugin that is still the running one is an attempt with an unknown
// outcome, not "plugin unavailable".
func TestSendTimeoutOfALivePlugin(t *testing.T) {
	sup := fastSupervision()
	sup.PingInterval = 10 * time.Minute
	h := startHarness(t, sup, nil, testChannel("alpha", nil))
	pid := h.pid(t, "alpha")
	stopProcess(t, pid)
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := h.m.Send(ctx, "alpha", &sdk.OutboundMessage{IdempotencyKey: "k", Text: "hello"})
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("send past the caller's deadline to a running plugin: %v, want a timeout that is not ErrUnavailable", err)
	}
}

// TestSendCanceledByClosingConnection: the host closes its connection to a
// plugin (as go-plugin does when it shuts a client down) while a send waits
// on it: gRPC ends the call with Canceled ("the client connection is
// closing") although the caller's context is live. That failure is the
// plugin's process going away, not the provider's answer: ErrUnavailable.
func TestSendCanceledByClosingConnection(t *testing.T) {
	sup := fastSupervision()
	sup.PingInterval = 10 * time.Minute // no replacement: only the close ends the call
	h := startHarness(t, sup, nil, testChannel("alpha", nil))
	pid := h.pid(t, "alpha")
	stopProcess(t, pid)
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	s, _, err := h.m.instances["alpha"].current()
	if err != nil {
		t.Fatal(err)
	}
	wc, ok := s.conn.(*wireConn)
	if !ok {
		t.Fatalf("session conn is %T", s.conn)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := h.m.Send(ctx, "alpha", &sdk.OutboundMessage{IdempotencyKey: "k", Text: "hello"})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the send is waiting on the stopped plugin
	_ = wc.grpc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("send cut by the closing connection: %#v (code %s), want ErrUnavailable", err, status.Code(err))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the send did not end when the connection closed")
	}
}
