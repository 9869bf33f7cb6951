package linechan

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/webhook"

	"github.com/patchbayhq/patchbay/sdk"
)

// identityType is the identity kind of LINE users in the core.
const identityType = "line"

// inbound turns one 1:1 message event into the core's InboundMessage.
// Media content is downloaded into temporary files that cleanup removes
// (call it once Deliver returned). An error means a transient failure:
// the webhook must be answered 5xx so that LINE redelivers.
func (rt *runtime) inbound(ctx context.Context, m userMessage) (*sdk.InboundMessage, func(), error) {
	ev := m.event
	id := messageID(ev.Message)
	extID := ev.WebhookEventId
	if extID == "" {
		// Every current webhook carries webhookEventId; the message id is
		// stable across redeliveries too, so it is a safe fallback.
		extID = "message:" + id
	}
	msg := &sdk.InboundMessage{
		ExternalID:      extID,
		ConversationKey: m.userID,
		Author: sdk.Party{
			ExternalID:   m.userID,
			IdentityType: identityType,
			Name:         rt.displayName(ctx, m.userID),
		},
		Raw:            []byte(m.raw),
		RawContentType: "application/json",
		// The provider signed the event that names the author.
		AuthorVerified: true,
		Metadata: map[string]string{
			"line_message_id":   id,
			"line_message_type": ev.Message.GetType(),
		},
	}
	if ev.Timestamp > 0 {
		msg.SentAt = time.UnixMilli(ev.Timestamp).UTC()
	}
	if ev.WebhookEventId != "" {
		msg.Metadata["line_webhook_event_id"] = ev.WebhookEventId
	}
	if ev.DeliveryContext != nil && ev.DeliveryContext.IsRedelivery {
		msg.Metadata["line_redelivery"] = "true"
	}
	cleanup := func() {}
	var err error
	switch mc := ev.Message.(type) {
	case webhook.TextMessageContent:
		msg.Text = mc.Text
		if mc.QuotedMessageId != "" {
			msg.Metadata["line_quoted_message_id"] = mc.QuotedMessageId
		}
	case webhook.StickerMessageContent:
		msg.Text = stickerText(mc)
		msg.Metadata["line_sticker_package_id"] = mc.PackageId
		msg.Metadata["line_sticker_id"] = mc.StickerId
	case webhook.LocationMessageContent:
		msg.Text = locationText(mc)
		msg.Metadata["line_latitude"] = strconv.FormatFloat(mc.Latitude, 'f', -1, 64)
		msg.Metadata["line_longitude"] = strconv.FormatFloat(mc.Longitude, 'f', -1, 64)
	case webhook.ImageMessageContent:
		if mc.ImageSet != nil && mc.ImageSet.Id != "" {
			msg.Metadata["line_image_set"] = fmt.Sprintf("%s (%d of %d)", mc.ImageSet.Id, mc.ImageSet.Index, mc.ImageSet.Total)
		}
		cleanup, err = rt.attachMedia(ctx, msg, media{kind: "image", id: id, provider: mc.ContentProvider, size: -1})
	case webhook.VideoMessageContent:
		cleanup, err = rt.attachMedia(ctx, msg, media{kind: "video", id: id, provider: mc.ContentProvider, size: -1})
	case webhook.AudioMessageContent:
		cleanup, err = rt.attachMedia(ctx, msg, media{kind: "audio", id: id, provider: mc.ContentProvider, size: -1})
	case webhook.FileMessageContent:
		cleanup, err = rt.attachMedia(ctx, msg, media{kind: "file", id: id, fileName: mc.FileName, size: int64(mc.FileSize)})
	default:
		msg.Text = fmt.Sprintf("[LINE %s message: not supported by this channel]", ev.Message.GetType())
	}
	if err != nil {
		return nil, nil, err
	}
	return msg, cleanup, nil
}

// messageID returns the id of any message content.
func messageID(mc webhook.MessageContentInterface) string {
	switch v := mc.(type) {
	case webhook.TextMessageContent:
		return v.Id
	case webhook.ImageMessageContent:
		return v.Id
	case webhook.VideoMessageContent:
		return v.Id
	case webhook.AudioMessageContent:
		return v.Id
	case webhook.FileMessageContent:
		return v.Id
	case webhook.LocationMessageContent:
		return v.Id
	case webhook.StickerMessageContent:
		return v.Id
	case webhook.UnknownMessageContent:
		var id string
		if raw, ok := v.Raw["id"]; ok {
			id = strings.Trim(string(raw), `"`)
		}
		return id
	}
	return ""
}

// stickerText renders a sticker readably: its text (message stickers) or
// its keywords, else its package and sticker ids.
func stickerText(s webhook.StickerMessageContent) string {
	switch {
	case strings.TrimSpace(s.Text) != "":
		return fmt.Sprintf("[Sticker] %s", s.Text)
	case len(s.Keywords) > 0:
		kw := s.Keywords
		if len(kw) > 5 {
			kw = kw[:5]
		}
		return fmt.Sprintf("[Sticker: %s]", strings.Join(kw, ", "))
	default:
		return fmt.Sprintf("[Sticker %s/%s]", s.PackageId, s.StickerId)
	}
}

// locationText renders a shared location with a map link.
func locationText(l webhook.LocationMessageContent) string {
	var b strings.Builder
	b.WriteString("[Location")
	if l.Title != "" {
		b.WriteString(": " + l.Title)
	}
	b.WriteString("]")
	if l.Address != "" {
		b.WriteString("\n" + l.Address)
	}
	lat := strconv.FormatFloat(l.Latitude, 'f', 6, 64)
	lon := strconv.FormatFloat(l.Longitude, 'f', 6, 64)
	fmt.Fprintf(&b, "\n%s, %s\nhttps://www.openstreetmap.org/?mlat=%s&mlon=%s#map=17/%s/%s", lat, lon, lat, lon, lat, lon)
	return b.String()
}
