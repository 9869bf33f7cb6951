// Package fakemail holds the email channel's test fixtures: a local SMTP
// sink receiving outbound mail, an SMTP sender, and the channeltest Target
// describing the plugin to the conformance suite. Only tests import it.
package fakemail

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SinkMail is one message received by the sink.
type SinkMail struct {
	From  string
	Rcpts []string
	Data  []byte
	User  string // authenticated user, if any
	TLS   bool   // the mail came over TLS (STARTTLS or implicit)
	UTF8  bool   // MAIL FROM carried the SMTPUTF8 parameter (RFC 6531)
}

// Sink is a local SMTP server (go-smtp on 127.0.0.1) standing in for the
// operator's relay. It can answer an error at RCPT or at the end of DATA,
// and require AUTH PLAIN.
type Sink struct {
	// Addr is host:port of the sink.
	Addr string

	mu       sync.Mutex
	mails    []SinkMail
	rcptErr  *smtp.SMTPError
	dataErr  *smtp.SMTPError
	user     string
	password string
}

// StartSink starts a plain-text sink, closed when the test ends.
func StartSink(t testing.TB) *Sink {
	t.Helper()
	return StartTLSSink(t, nil, false)
}

// StartSMTPUTF8Sink starts a plain-text sink that advertises SMTPUTF8
// (RFC 6531), as a relay accepting internationalized addresses does.
func StartSMTPUTF8Sink(t testing.TB) *Sink {
	t.Helper()
	return startSink(t, nil, false, true)
}

// StartTLSSink starts a sink offering STARTTLS with cfg, or, when implicit
// is true, speaking TLS from the first byte (smtps). A nil cfg is a
// plain-text sink.
func StartTLSSink(t testing.TB, cfg *tls.Config, implicit bool) *Sink {
	t.Helper()
	return startSink(t, cfg, implicit, false)
}

func startSink(t testing.TB, cfg *tls.Config, implicit, utf8 bool) *Sink {
	t.Helper()
	k := &Sink{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: k, conn: c}, nil
	}))
	s.Domain = "sink.test"
	s.AllowInsecureAuth = true
	s.EnableSMTPUTF8 = utf8
	s.ErrorLog = nopLogger{}
	var ln net.Listener
	var err error
	if implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		s.TLSConfig = cfg
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	k.Addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return k
}

// Received returns the mails accepted so far.
func (k *Sink) Received() []SinkMail {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]SinkMail(nil), k.mails...)
}

// FailRcpt makes RCPT answer err (nil: accept again).
func (k *Sink) FailRcpt(err *smtp.SMTPError) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rcptErr = err
}

// FailData makes the end of DATA answer err (nil: accept again).
func (k *Sink) FailData(err *smtp.SMTPError) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dataErr = err
}

// RequireAuth makes MAIL need AUTH PLAIN with user and password.
func (k *Sink) RequireAuth(user, password string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.user, k.password = user, password
}

type sinkSession struct {
	sink *Sink
	conn *smtp.Conn
	cur  SinkMail
	auth string
}

func (s *sinkSession) AuthMechanisms() []string {
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	if s.sink.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.sink.mu.Lock()
		defer s.sink.mu.Unlock()
		if user != s.sink.user || pass != s.sink.password {
			return smtp.ErrAuthFailed
		}
		s.auth = user
		return nil
	}), nil
}

func (s *sinkSession) Reset()        { s.cur = SinkMail{} }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	s.sink.mu.Lock()
	needAuth := s.sink.user != ""
	s.sink.mu.Unlock()
	if needAuth && s.auth == "" {
		return smtp.ErrAuthRequired
	}
	_, overTLS := s.conn.TLSConnectionState()
	s.cur = SinkMail{From: from, User: s.auth, TLS: overTLS, UTF8: opts != nil && opts.UTF8}
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	if s.sink.rcptErr != nil {
		return s.sink.rcptErr
	}
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	if s.sink.dataErr != nil {
		return s.sink.dataErr
	}
	s.cur.Data = data
	s.sink.mails = append(s.sink.mails, s.cur)
	return nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}
