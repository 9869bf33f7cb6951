package fakemail

import (
	"crypto/tls"
	"net"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAP login of the in-memory server's one user.
const (
	IMAPUser     = "support"
	IMAPPassword = "imap-pass"
)

// IMAPServer is go-imap's in-memory IMAP server (imapmemserver) on
// loopback, with one user and an INBOX, and a client of its own to append
// and inspect messages over the real protocol.
type IMAPServer struct {
	// Addr is host:port of the server.
	Addr string

	t  testing.TB
	cl *imapclient.Client
}

// StartIMAP starts a plain-text IMAP server, closed when the test ends.
func StartIMAP(t testing.TB) *IMAPServer {
	t.Helper()
	return StartIMAPTLS(t, nil, false)
}

// StartIMAPTLS serves IMAP offering STARTTLS with cfg, or with
// implicit TLS when implicit is true; a nil cfg serves plain text.
func StartIMAPTLS(t testing.TB, cfg *tls.Config, implicit bool) *IMAPServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(IMAPUser, IMAPPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		InsecureAuth: cfg == nil,
		TLSConfig:    cfg,
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
	})
	var ln net.Listener
	var err error
	if implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f := &IMAPServer{t: t, Addr: ln.Addr().String()}
	switch {
	case implicit:
		f.cl, err = imapclient.New(tlsDial(t, f.Addr), nil), nil
	case cfg != nil:
		f.cl, err = imapclient.DialStartTLS(f.Addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}}) // the fixture's own client
	default:
		f.cl, err = imapclient.DialInsecure(f.Addr, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cl.Close() })
	if err := f.cl.Login(IMAPUser, IMAPPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	return f
}

// Append adds a message to INBOX with flags and returns its UID.
func (f *IMAPServer) Append(raw []byte, flags ...imap.Flag) imap.UID {
	f.t.Helper()
	cmd := f.cl.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(raw); err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		f.t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		f.t.Fatal(err)
	}
	return data.UID
}

// Seen reports which UIDs of INBOX carry \Seen.
func (f *IMAPServer) Seen() map[imap.UID]bool {
	f.t.Helper()
	if _, err := f.cl.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		f.t.Fatal(err)
	}
	msgs, err := f.cl.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[imap.UID]bool{}
	for _, m := range msgs {
		out[m.UID] = slices.Contains(m.Flags, imap.FlagSeen)
	}
	return out
}

func tlsDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the fixture's own client
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
