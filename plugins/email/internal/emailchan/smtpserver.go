package emailchan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"
)

// SMTP replies of the receiver.
var (
	errUnknownRecipient = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errTempFailure      = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message, try again later"}
	errShuttingDown     = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
)

const (
	maxRecipients   = 100
	smtpReadTimeout = 5 * time.Minute
	smtpWriteTimout = time.Minute
)

// smtpReceiver is the running SMTP or LMTP listener.
type smtpReceiver struct {
	server   *smtp.Server
	listener net.Listener
	inflight sync.WaitGroup
	ctx      context.Context // cancelled when the listener stops for good
	cancel   context.CancelFunc
	served   chan struct{}
}

func startSMTP(c *Channel, inst *instance) (*smtpReceiver, error) {
	cfg := inst.cfg
	if cfg.Listen.Network == "unix" {
		// A stale socket from an earlier run would make Listen fail.
		if fi, err := os.Lstat(cfg.Listen.Addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(cfg.Listen.Addr)
		}
	}
	ln, err := net.Listen(cfg.Listen.Network, cfg.Listen.Addr)
	if err != nil {
		return nil, fmt.Errorf("email: listening on %s: %w", cfg.Listen.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &smtpReceiver{listener: ln, ctx: ctx, cancel: cancel, served: make(chan struct{})}
	s := smtp.NewServer(smtp.BackendFunc(func(conn *smtp.Conn) (smtp.Session, error) {
		return &session{c: c, inst: inst, r: r, conn: conn}, nil
	}))
	s.Domain = cfg.Domain
	s.LMTP = cfg.LMTP
	s.MaxMessageBytes = cfg.MaxBytes
	s.MaxRecipients = maxRecipients
	s.ReadTimeout = smtpReadTimeout
	s.WriteTimeout = smtpWriteTimout
	s.EnableSMTPUTF8 = true
	s.ErrorLog = stdLogger{inst.log}
	r.server = s
	go func() {
		defer close(r.served)
		if err := s.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			inst.log.Error("smtp listener stopped", "error", err)
		}
	}()
	proto := "smtp"
	if cfg.LMTP {
		proto = "lmtp"
	}
	inst.log.Info("listening", "protocol", proto, "addr", ln.Addr().String())
	return r, nil
}

func (r *smtpReceiver) addr() net.Addr { return r.listener.Addr() }

// stop closes the listener, waits for messages being delivered, then closes
// the remaining (idle) connections.
func (r *smtpReceiver) stop(ctx context.Context) error {
	_ = r.listener.Close()
	done := make(chan struct{})
	go func() { r.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("email: stopping with deliveries in flight: %w", ctx.Err())
	}
	r.cancel()
	_ = r.server.Close()
	<-r.served
	return err
}

// session is one SMTP/LMTP transaction stream on a connection.
type session struct {
	c    *Channel
	inst *instance
	r    *smtpReceiver
	conn *smtp.Conn
	env  envelope
	// pending is true from the start of DATA until go-smtp resets the
	// session, which it does after writing the reply: Stop waits for it, so
	// a message being delivered gets its 250 before the connection closes.
	pending atomic.Bool
}

// Reset ends a transaction (RSET, or after the reply to DATA).
func (s *session) Reset() {
	s.env = envelope{}
	s.release()
}

// Logout is called when the connection closes.
func (s *session) Logout() error {
	s.release()
	return nil
}

func (s *session) release() {
	if s.pending.CompareAndSwap(true, false) {
		s.r.inflight.Done()
	}
}

// Mail starts a transaction; an empty from is the null sender (bounces,
// auto-replies), noted for loop prevention.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.env = envelope{Via: "smtp", MailFrom: from, NullSender: from == ""}
	if s.r.server.LMTP {
		s.env.Via = "lmtp"
	}
	if a := s.conn.Conn().RemoteAddr(); a != nil {
		s.env.Remote = a.String()
	}
	return nil
}

// Rcpt accepts the support address and its plus-addresses, and answers
// 550 5.1.1 to anything else.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ours, _ := s.inst.signer.Match(to); !ours {
		return errUnknownRecipient
	}
	s.env.Rcpts = append(s.env.Rcpts, to)
	return nil
}

// Data reads the message and answers only after the core stored it: nil
// (250) once Deliver returned, 451 4.3.0 when it failed, 552 when the
// message is larger than max_message_mb.
func (s *session) Data(r io.Reader) error {
	s.r.inflight.Add(1)
	s.pending.Store(true)
	if s.r.ctx.Err() != nil {
		return errShuttingDown
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // 552 from the size limit
		}
		return err
	}
	if _, _, err := s.c.receive(s.r.ctx, s.inst, raw, s.env); err != nil {
		return errTempFailure
	}
	return nil
}

// stdLogger adapts hclog to go-smtp's Logger.
type stdLogger struct{ l hclog.Logger }

func (l stdLogger) Printf(format string, v ...any) { l.l.Warn("smtp: " + fmt.Sprintf(format, v...)) }
func (l stdLogger) Println(v ...any)               { l.l.Warn("smtp: " + fmt.Sprint(v...)) }
