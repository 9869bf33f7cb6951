package slackchan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slack-go/slack"

	"github.com/patchbayhq/patchbay/sdk"
)

// sendState records the progress of one reply under its idempotency key, so
// that a retried Send (the core did not see the first answer, or a file
// upload failed after the text went out) never posts the text twice.
type sendState struct {
	Channel   string `json:"channel"`
	TS        string `json:"ts,omitempty"`
	FilesDone int    `json:"files_done"`
	FileID    string `json:"file_id,omitempty"`
}

// Send posts one public reply into the requester's DM: chat.postMessage for
// the text (its ts is the result's ExternalID), then each file through the
// v2 upload flow (files.getUploadURLExternal, upload, then
// files.completeUploadExternal into the DM). The DM is opened with
// conversations.open when the reply has no conversation key.
func (c *Channel) Send(ctx context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	_, host, api, log := c.state()
	if api == nil {
		return nil, sdk.Retryable("not_configured", errors.New("slack channel not configured"), 0)
	}
	stateKey := ""
	var st sendState
	if msg.IdempotencyKey != "" {
		stateKey = "send/" + msg.IdempotencyKey
		if b, found, err := host.GetState(ctx, stateKey); err == nil && found {
			if json.Unmarshal(b, &st) != nil {
				st = sendState{}
			}
		} else if err != nil {
			log.Warn("reading send progress failed", "error", err)
		}
	}
	save := func() {
		if stateKey == "" {
			return
		}
		b, _ := json.Marshal(st)
		if err := host.SetState(ctx, stateKey, b); err != nil {
			log.Warn("recording send progress failed", "error", err)
		}
	}
	if st.Channel == "" {
		ch, err := c.dmChannel(ctx, api, msg)
		if err != nil {
			return nil, c.sendFailed(ctx, err)
		}
		st.Channel = ch
	}
	if st.TS == "" && strings.TrimSpace(msg.Text) != "" {
		_, ts, err := api.PostMessageContext(ctx, st.Channel, slack.MsgOptionText(msg.Text, true))
		if err != nil {
			return nil, c.sendFailed(ctx, err)
		}
		st.TS = ts
		save()
	}
	for i := st.FilesDone; i < len(msg.Attachments); i++ {
		id, err := c.uploadFile(ctx, api, st.Channel, msg.Attachments[i])
		if err != nil {
			return nil, c.sendFailed(ctx, err)
		}
		if st.FileID == "" {
			st.FileID = id
		}
		st.FilesDone = i + 1
		save()
	}
	ext := st.TS
	if ext == "" {
		ext = st.FileID
	}
	if ext == "" {
		return nil, sdk.Permanent("no_content", errors.New("reply has neither text nor files"))
	}
	return &sdk.SendResult{ExternalID: ext}, nil
}

// sendFailed classifies err and reports a rejected token in the status.
func (c *Channel) sendFailed(ctx context.Context, err error) error {
	se := toSendError(err)
	if isAuthError(err) {
		c.report(ctx, sdk.StateAuthFailed, "Slack rejected the bot token: "+se.Code)
	}
	return se
}

// dmChannel finds the DM to post into: the IM channel of the conversation
// key ("<team>:<channel>"), else conversations.open with the recipient's
// user id ("<team>:<user>").
func (c *Channel) dmChannel(ctx context.Context, api *slack.Client, msg *sdk.OutboundMessage) (string, error) {
	if msg.ConversationKey != "" {
		_, ch, ok := strings.Cut(msg.ConversationKey, ":")
		if !ok || ch == "" {
			ch = msg.ConversationKey
		}
		return ch, nil
	}
	user := msg.Recipient.ExternalID
	if i := strings.LastIndex(user, ":"); i >= 0 {
		user = user[i+1:]
	}
	if user == "" {
		return "", sdk.Permanent("no_recipient", errors.New("reply has no Slack conversation or recipient"))
	}
	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}

// uploadFile shares one file into the DM with Slack's v2 upload flow and
// returns its file id.
func (c *Channel) uploadFile(ctx context.Context, api *slack.Client, channel string, a sdk.Attachment) (string, error) {
	if a.Open == nil {
		return "", sdk.Permanent("attachment_unreadable", fmt.Errorf("attachment %q has no content", a.Filename))
	}
	r, err := a.Open(ctx)
	if err != nil {
		return "", sdk.Retryable("attachment_unreadable", fmt.Errorf("open attachment %q: %w", a.Filename, err), 0)
	}
	defer r.Close()
	size := a.Size
	if size < 0 {
		// Slack needs the length first: spool files of unknown size.
		f, n, err := spool(r)
		if err != nil {
			return "", sdk.Retryable("attachment_unreadable", fmt.Errorf("read attachment %q: %w", a.Filename, err), 0)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		r, size = f, n
	}
	if size == 0 {
		return "", sdk.Permanent("empty_file", fmt.Errorf("attachment %q is empty", a.Filename))
	}
	name := a.Filename
	if name == "" {
		name = "file"
	}
	up, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: name, FileSize: int(size)})
	if err != nil {
		return "", err
	}
	if err := api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: up.UploadURL, Reader: r, Filename: name}); err != nil {
		return "", err
	}
	if _, err := api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
		Files:   []slack.FileSummary{{ID: up.FileID, Title: name}},
		Channel: channel,
	}); err != nil {
		return "", err
	}
	return up.FileID, nil
}

// spool copies r into a temporary file and rewinds it.
func spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "patchbay-slack-upload-*")
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, n, nil
}
