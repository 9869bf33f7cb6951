package slackchan

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slack-go/slack/slackevents"
)

// errMalformed marks a payload that is not a Slack event envelope. It is
// answered 400 (Events API) or acknowledged and dropped (Socket Mode), since
// a redelivery would be just as malformed.
var errMalformed = errors.New("malformed Slack event payload")

// eventKind is what the channel does with one envelope.
type eventKind int

const (
	// kindIgnore: acknowledge and do nothing (see parsedEvent.Reason).
	kindIgnore eventKind = iota
	// kindChallenge: answer a url_verification with its challenge.
	kindChallenge
	// kindMessage: a direct message from a person; deliver it.
	kindMessage
)

// Reasons an envelope is acknowledged without a delivery. They appear in
// debug logs; tests assert on them.
const (
	reasonNotCallback  = "not an event_callback"
	reasonEventType    = "event type not handled"
	reasonNotIM        = "not a direct message"
	reasonSubtype      = "message subtype not handled"
	reasonBot          = "sent by a bot"
	reasonOwn          = "sent by the handle itself"
	reasonThreadReply  = "reply in a thread"
	reasonNoUser       = "message without a user"
	reasonIncomplete   = "message without channel or ts"
	reasonEmptyMessage = "message without text or files"
)

// deliveredSubtype reports whether a message subtype carries a person's
// message: none, file_share and me_message. Everything else
// (message_changed, message_deleted, channel_join, bot_message,
// thread_broadcast…) is acknowledged and ignored.
func deliveredSubtype(subtype string) bool {
	switch subtype {
	case "", "file_share", "me_message":
		return true
	}
	return false
}

// envelope is the outer Events API payload, decoded only as far as needed to
// route it.
type envelope struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	TeamID    string          `json:"team_id"`
	EventID   string          `json:"event_id"`
	Event     json.RawMessage `json:"event"`
}

// innerHead is the inner event's type, read before full parsing so that an
// unknown event type is acknowledged rather than rejected.
type innerHead struct {
	Type string `json:"type"`
}

// parsedEvent is one classified envelope.
type parsedEvent struct {
	Kind      eventKind
	Reason    string // for kindIgnore
	Challenge string // for kindChallenge
	TeamID    string // the workspace that received the event
	EventID   string
	Msg       *slackevents.MessageEvent // for kindMessage (before the self check)
}

// parseEnvelope decodes an Events API (or Socket Mode events_api) payload
// and classifies it. Only structurally invalid JSON is an error; every well
// formed event Patchbay does not handle is kindIgnore with a reason.
func parseEnvelope(body []byte) (parsedEvent, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return parsedEvent{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	switch env.Type {
	case slackevents.URLVerification:
		if env.Challenge == "" {
			return parsedEvent{}, fmt.Errorf("%w: url_verification without challenge", errMalformed)
		}
		return parsedEvent{Kind: kindChallenge, Challenge: env.Challenge}, nil
	case slackevents.CallbackEvent:
	case "":
		return parsedEvent{}, fmt.Errorf("%w: no type", errMalformed)
	default:
		return parsedEvent{Kind: kindIgnore, Reason: reasonNotCallback}, nil
	}
	pe := parsedEvent{Kind: kindIgnore, TeamID: env.TeamID, EventID: env.EventID}
	var head innerHead
	if len(env.Event) == 0 || json.Unmarshal(env.Event, &head) != nil {
		return parsedEvent{}, fmt.Errorf("%w: event_callback without an event object", errMalformed)
	}
	if head.Type != string(slackevents.Message) {
		pe.Reason = reasonEventType
		return pe, nil
	}
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		return parsedEvent{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	msg, ok := ev.InnerEvent.Data.(*slackevents.MessageEvent)
	if !ok || msg.Message == nil {
		return parsedEvent{}, fmt.Errorf("%w: message event of unexpected shape", errMalformed)
	}
	pe.Msg = msg
	switch {
	case !msg.IsIM():
		pe.Reason = reasonNotIM
	case !deliveredSubtype(msg.SubType):
		pe.Reason = reasonSubtype
	case msg.BotID != "" || msg.Message.BotID != "":
		pe.Reason = reasonBot
	case msg.User == "":
		pe.Reason = reasonNoUser
	case msg.Channel == "" || msg.TimeStamp == "":
		pe.Reason = reasonIncomplete
	case msg.ThreadTimeStamp != "" && msg.ThreadTimeStamp != msg.TimeStamp:
		pe.Reason = reasonThreadReply
	case msg.Text == "" && len(msg.Message.Files) == 0:
		pe.Reason = reasonEmptyMessage
	default:
		pe.Kind = kindMessage
	}
	return pe, nil
}

// authorTeam is the team of the message's author: the user's own team for
// Slack Connect users, else the receiving workspace.
func authorTeam(pe parsedEvent) string {
	m := pe.Msg
	switch {
	case m.UserTeam != "":
		return m.UserTeam
	case m.Message != nil && m.Message.Team != "":
		return m.Message.Team
	default:
		return pe.TeamID
	}
}
