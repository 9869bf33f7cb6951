package emailchan

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/patchbayhq/patchbay/sdk"
)

// imapState is the poller's cursor, kept in the Host's state under
// "imap:<mailbox>": messages with a UID above LastUID are new, as long as
// the mailbox's UIDVALIDITY is unchanged.
type imapState struct {
	UIDValidity uint32 `json:"uid_validity"`
	LastUID     uint32 `json:"last_uid"`
}

func imapStateKey(mailbox string) string { return "imap:" + mailbox }

// imapPoller polls one mailbox until its context ends.
type imapPoller struct {
	c      *Channel
	inst   *instance
	cfg    *imapConfig
	max    int64
	client *imapclient.Client
	done   chan struct{}
	// tlsConfig is used for imaps:// and STARTTLS.
	tlsConfig *tls.Config
}

func startIMAP(ctx context.Context, c *Channel, inst *instance) *imapPoller {
	cfg := inst.cfg
	p := &imapPoller{c: c, inst: inst, cfg: cfg.IMAP, max: cfg.MaxBytes, done: make(chan struct{}),
		tlsConfig: &tls.Config{ServerName: cfg.IMAP.ServerName, MinVersion: tls.VersionTLS12}}
	if inst.imapTLS != nil {
		p.tlsConfig = inst.imapTLS.Clone()
	}
	go p.run(ctx)
	return p
}

func (p *imapPoller) wait(ctx context.Context) {
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}

func (p *imapPoller) run(ctx context.Context) {
	defer close(p.done)
	defer p.disconnect()
	host, log := p.inst.host, p.inst.log
	failing := false
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := p.poll(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("imap poll failed; retrying at the next poll", "mailbox", p.cfg.Mailbox, "error", err)
			p.disconnect()
			state := sdk.StateDegraded
			if errors.Is(err, errIMAPAuth) {
				state = sdk.StateAuthFailed
			}
			_ = host.ReportStatus(ctx, sdk.Status{State: state, Message: "imap: " + err.Error()})
			failing = true
		case err == nil && failing:
			_ = host.ReportStatus(ctx, sdk.Status{State: sdk.StateConnected, Message: "imap: polling " + p.cfg.Mailbox})
			failing = false
		}
		t.Reset(p.cfg.PollInterval)
	}
}

var errIMAPAuth = errors.New("imap login failed")

func (p *imapPoller) disconnect() {
	if p.client != nil {
		_ = p.client.Close()
		p.client = nil
	}
}

func (p *imapPoller) connect() error {
	opts := &imapclient.Options{TLSConfig: p.tlsConfig, Dialer: &net.Dialer{Timeout: 30 * time.Second}}
	var (
		cl  *imapclient.Client
		err error
	)
	switch p.cfg.TLS {
	case "implicit":
		cl, err = imapclient.DialTLS(p.cfg.Host, opts)
	case "none":
		cl, err = imapclient.DialInsecure(p.cfg.Host, opts)
	default:
		cl, err = imapclient.DialStartTLS(p.cfg.Host, opts)
	}
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", p.cfg.Host, err)
	}
	if err := cl.Login(p.cfg.Username, p.cfg.Password).Wait(); err != nil {
		cl.Close()
		return fmt.Errorf("%w for %s: %v", errIMAPAuth, p.cfg.Username, err)
	}
	p.client = cl
	return nil
}

// poll delivers the mailbox's new messages in UID order. Each message is
// marked \Seen and the cursor advanced only after Deliver returned; the
// first failure ends the poll, and the next one starts again from there.
//
// On the first poll (or after UIDVALIDITY changed) only unseen messages are
// taken, so that connecting an existing mailbox does not import its history.
func (p *imapPoller) poll(ctx context.Context) error {
	host, log := p.inst.host, p.inst.log
	if p.client == nil {
		if err := p.connect(); err != nil {
			return err
		}
	}
	cl := p.client
	// Stop interrupts a poll blocked on the network by closing the
	// connection (the next poll reconnects).
	defer context.AfterFunc(ctx, func() { _ = cl.Close() })()
	sel, err := cl.Select(p.cfg.Mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("selecting %q: %w", p.cfg.Mailbox, err)
	}
	key := imapStateKey(p.cfg.Mailbox)
	var st imapState
	raw, found, err := host.GetState(ctx, key)
	if err != nil {
		return fmt.Errorf("reading the imap cursor: %w", err)
	}
	if found {
		if err := json.Unmarshal(raw, &st); err != nil {
			log.Warn("imap cursor unreadable; starting over with unseen mail", "error", err)
			found = false
		}
	}
	fresh := !found || st.UIDValidity != sel.UIDValidity
	criteria := &imap.SearchCriteria{}
	if fresh {
		if found {
			log.Warn("imap UIDVALIDITY changed; taking unseen mail only", "old", st.UIDValidity, "new", sel.UIDValidity)
		}
		st = imapState{UIDValidity: sel.UIDValidity}
		criteria.NotFlag = []imap.Flag{imap.FlagSeen}
	} else {
		criteria.UID = []imap.UIDSet{{imap.UIDRange{Start: imap.UID(st.LastUID + 1), Stop: 0}}}
	}
	data, err := cl.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return fmt.Errorf("searching: %w", err)
	}
	uids := data.AllUIDs()
	slices.Sort(uids)

	// After a fresh start the cursor moves to the end of the mailbox, past
	// the seen history we skipped.
	baseline := st.LastUID
	if fresh {
		if sel.UIDNext > 0 {
			baseline = uint32(sel.UIDNext) - 1
		}
		if n := len(uids); n > 0 && uint32(uids[n-1]) > baseline {
			baseline = uint32(uids[n-1])
		}
	}

	for _, uid := range uids {
		if !fresh && uint32(uid) <= st.LastUID {
			continue // "N:*" always matches the highest UID
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.take(ctx, cl, uid); err != nil {
			return err
		}
		if !fresh {
			st.LastUID = uint32(uid)
			if err := p.saveState(ctx, key, st); err != nil {
				return err
			}
		}
	}
	if fresh || baseline > st.LastUID {
		st.LastUID = max(baseline, st.LastUID)
		return p.saveState(ctx, key, st)
	}
	return nil
}

// take fetches, delivers and marks one message.
func (p *imapPoller) take(ctx context.Context, cl *imapclient.Client, uid imap.UID) error {
	log := p.inst.log
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := cl.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
		UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		return fmt.Errorf("fetching UID %d: %w", uid, err)
	}
	if len(msgs) == 0 {
		return nil // expunged meanwhile
	}
	if msgs[0].RFC822Size > p.max {
		log.Warn("imap message larger than max_message_mb left in the mailbox", "uid", uid, "size", msgs[0].RFC822Size)
		return nil
	}
	raw := msgs[0].FindBodySection(section)
	res, _, err := p.c.receive(ctx, p.inst, raw, envelope{Via: "imap"})
	if err != nil {
		return err
	}
	if res != delivered {
		return nil
	}
	if err := cl.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return fmt.Errorf("marking UID %d \\Seen: %w", uid, err)
	}
	return nil
}

func (p *imapPoller) saveState(ctx context.Context, key string, st imapState) error {
	host := p.inst.host
	b, _ := json.Marshal(st)
	if err := host.SetState(ctx, key, b); err != nil {
		return fmt.Errorf("saving the imap cursor: %w", err)
	}
	return nil
}
