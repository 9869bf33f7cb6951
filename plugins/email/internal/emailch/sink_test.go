package emailch

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sinkMail is one message received by the sink.
type sinkMail struct {
	From  string
	Rcpts []string
	Data  []byte
	User  string // authenticated user, if any
}

// smtpSink is a local SMTP server receiving our outbound mail. It can
// answer an error at RCPT or at the end of DATA, and require AUTH PLAIN.
type smtpSink struct {
	mu       sync.Mutex
	mails    []sinkMail
	rcptErr  *smtp.SMTPError
	dataErr  *smtp.SMTPError
	user     string
	password string
	addr     string
}

func startSink(t *testing.T) *smtpSink {
	t.Helper()
	k := &smtpSink{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: k}, nil
	}))
	s.Domain = "sink.test"
	s.AllowInsecureAuth = true
	s.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return k
}

func (k *smtpSink) received() []sinkMail {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sinkMail(nil), k.mails...)
}

func (k *smtpSink) set(f func(k *smtpSink)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f(k)
}

type sinkSession struct {
	sink *smtpSink
	cur  sinkMail
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

func (s *sinkSession) Reset()        { s.cur = sinkMail{} }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.sink.mu.Lock()
	needAuth := s.sink.user != ""
	s.sink.mu.Unlock()
	if needAuth && s.auth == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = sinkMail{From: from, User: s.auth}
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
