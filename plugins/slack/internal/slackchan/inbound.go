package slackchan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/patchbayhq/patchbay/sdk"
)

// IdentityType is the identity kind of Slack users in Patchbay.
const IdentityType = "slack"

// errDeliver marks a failed Host.Deliver: the provider must retry.
var errDeliver = errors.New("deliver failed")

// outcome is what one processed envelope asks of the transport.
type outcome struct {
	Kind      eventKind
	Challenge string
	Reason    string
	Receipt   *sdk.Receipt
}

// process verifies nothing (the caller did), classifies body and, for a
// direct message from a person, delivers it to the core within the deliver
// timeout. Errors: errMalformed (bad payload) or errDeliver (retry later).
func (c *Channel) process(ctx context.Context, body []byte) (outcome, error) {
	pe, err := parseEnvelope(body)
	if err != nil {
		return outcome{}, err
	}
	if pe.Kind != kindMessage {
		return outcome{Kind: pe.Kind, Challenge: pe.Challenge, Reason: pe.Reason}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.deliverTimeout)
	defer cancel()
	self := c.identity(ctx)
	if self.Known && pe.Msg.User == self.UserID {
		return outcome{Kind: kindIgnore, Reason: reasonOwn}, nil
	}
	_, host, _, log := c.state()
	msg := c.inbound(ctx, pe, body)
	rcpt, err := host.Deliver(ctx, msg)
	if err != nil {
		log.Warn("deliver failed; Slack will redeliver", "external_id", msg.ExternalID, "error", err)
		return outcome{}, fmt.Errorf("%w: %w", errDeliver, err)
	}
	log.Debug("delivered", "external_id", msg.ExternalID, "ticket_id", rcpt.TicketID, "duplicate", rcpt.Duplicate)
	return outcome{Kind: kindMessage, Receipt: rcpt}, nil
}

// inbound builds the sdk message for a classified direct message.
func (c *Channel) inbound(ctx context.Context, pe parsedEvent, raw []byte) *sdk.InboundMessage {
	m := pe.Msg
	team := pe.TeamID
	userTeam := authorTeam(pe)
	msg := &sdk.InboundMessage{
		ExternalID:      MessageID(team, m.Channel, m.TimeStamp),
		ConversationKey: ConversationKey(team, m.Channel),
		Author: sdk.Party{
			ExternalID:   userTeam + ":" + m.User,
			IdentityType: IdentityType,
		},
		Text:           unescapeText(m.Text),
		SentAt:         parseTS(m.TimeStamp),
		Raw:            raw,
		RawContentType: "application/json",
		// The provider signed the event that names the author.
		AuthorVerified: true,
		Metadata: map[string]string{
			"slack_team":    team,
			"slack_channel": m.Channel,
			"slack_ts":      m.TimeStamp,
			"slack_user":    m.User,
		},
	}
	if pe.EventID != "" {
		msg.Metadata["slack_event_id"] = pe.EventID
	}
	_, _, api, log := c.state()
	pctx, cancel := context.WithTimeout(ctx, c.profileTimeout)
	p, err := c.users.lookup(pctx, api, m.User, c.now())
	cancel()
	if err != nil {
		// The identity (team:user) is stable without the profile; the
		// message is not held back for a name.
		log.Warn("users.info failed; delivering without name and email", "user", m.User, "error", slackCode(err))
	}
	msg.Author.Name, msg.Author.Email = p.Name, strings.ToLower(p.Email)
	c.mu.Lock()
	policy := c.policy
	c.mu.Unlock()
	var skipped []string
	for _, f := range m.Message.Files {
		a, ok := fileAttachment(api, policy, f)
		if !ok {
			name := f.Name
			if name == "" {
				name = f.ID
			}
			skipped = append(skipped, name)
			continue
		}
		msg.Attachments = append(msg.Attachments, a)
	}
	if len(skipped) > 0 {
		msg.Metadata["slack_files_not_downloaded"] = strings.Join(skipped, ", ")
	}
	return msg
}

// fileAttachment turns a shared file into a lazily downloaded attachment.
// Files with nothing to download (deleted "tombstone" files, files hidden by
// the workspace's plan limit, external files) are skipped. A file the
// channel's attachment policy clearly refuses (type, or declared size) is
// still passed on, so that the core records the rejection by name, but
// with empty content: it is never downloaded.
func fileAttachment(api *slack.Client, policy sdk.AttachmentPolicy, f slack.File) (sdk.Attachment, bool) {
	if f.URLPrivateDownload == "" || f.IsExternal || f.Mode == "tombstone" || f.Mode == "hidden_by_limit" {
		return sdk.Attachment{}, false
	}
	name := f.Name
	if name == "" {
		name = f.ID
	}
	size := int64(f.Size)
	if size <= 0 {
		size = -1
	}
	url := f.URLPrivateDownload
	if !policy.Allows(name, max(size, 0)) {
		return sdk.Attachment{
			Filename:    name,
			ContentType: f.Mimetype,
			Size:        size,
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("")), nil
			},
		}, true
	}
	return sdk.Attachment{
		Filename:    name,
		ContentType: f.Mimetype,
		Size:        size,
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			return download(ctx, api, url), nil
		},
	}, true
}

// download streams a private file with the bot token (slack-go sends the
// token only to https Slack hosts or the configured api_url host).
func download(ctx context.Context, api *slack.Client, url string) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		err := api.GetFileContext(ctx, url, pw)
		if err != nil {
			err = fmt.Errorf("download Slack file: %s", slackCode(err))
		}
		pw.CloseWithError(err)
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}
}

// cancelReader stops the download when the reader is closed early.
type cancelReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *cancelReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// MessageID is the stable id of a Slack message: "<team>:<channel>:<ts>".
// Every delivery of one message (Events API retries, Socket Mode
// redeliveries) has the same id.
func MessageID(team, channel, ts string) string {
	return team + ":" + channel + ":" + ts
}

// ConversationKey is the conversation of a DM: "<team>:<im channel id>".
func ConversationKey(team, channel string) string {
	return team + ":" + channel
}

// parseTS turns a Slack ts ("1700000000.000100") into a time.
func parseTS(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	var us int64
	if frac != "" {
		frac = (frac + "000000")[:6]
		us, _ = strconv.ParseInt(frac, 10, 64)
	}
	return time.Unix(s, us*1000).UTC()
}

// unescapeText undoes the three HTML entities Slack escapes in message text.
func unescapeText(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}
