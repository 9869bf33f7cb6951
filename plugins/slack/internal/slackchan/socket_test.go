package slackchan

import (
	"slices"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
)

func startSocket(t *testing.T) (*harness, *fakeslack.Conn, *fakeslack.EventLog) {
	t.Helper()
	h := newHarness(t, ModeSocket, nil)
	log := &fakeslack.EventLog{}
	h.host.log = log
	h.slack.SetLog(log)
	h.start(t)
	conn := h.slack.NextConn(t)
	waitFor(t, "connected status", func() bool { return h.host.lastStatus().State == sdk.StateConnected })
	return h, conn, log
}

func TestSocketModeDeliversThenAcks(t *testing.T) {
	h, conn, log := startSocket(t)
	if opens := h.slack.CallsTo("apps.connections.open"); len(opens) == 0 || opens[0].Token != fakeslack.AppToken {
		t.Fatalf("apps.connections.open not called with the app token")
	}
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000900", nil))
	if err := conn.Send(fakeslack.SocketEnvelope("env-1", body, 0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ack of env-1", func() bool { return slices.Contains(h.slack.Acks(), "env-1") })
	want := []string{"deliver:" + MessageID(fakeslack.Team, fakeslack.IM, "1700000000.000900"), "ack:env-1"}
	if got := log.Snapshot(); !slices.Equal(got, want) {
		t.Errorf("order %v, want %v (ack only after Deliver)", got, want)
	}
	m := h.host.delivered()[0]
	if m.Author.ExternalID != fakeslack.Team+":U0ALICE" || m.Author.Email != "alice@example.test" || string(m.Raw) != string(body) {
		t.Errorf("delivered %+v", m)
	}
}

func TestSocketModeNoAckOnDeliverFailure(t *testing.T) {
	h, conn, _ := startSocket(t)
	h.host.mu.Lock()
	h.host.failNext = 1
	h.host.mu.Unlock()
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000901", nil))
	if err := conn.Send(fakeslack.SocketEnvelope("env-fail", body, 0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed Deliver", func() bool { return h.host.deliverCalls() == 1 })
	// Slack redelivers the unacknowledged envelope. Acks leave in order on
	// the one connection, so a wrong ack of the failed attempt would arrive
	// no later than the redelivery's.
	if err := conn.Send(fakeslack.SocketEnvelope("env-fail", body, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ack of the redelivery", func() bool { return slices.Contains(h.slack.Acks(), "env-fail") })
	if acks := h.slack.Acks(); len(acks) != 1 {
		t.Errorf("acks %v, want exactly one (the successful redelivery)", acks)
	}
	if n := len(h.host.delivered()); n != 1 {
		t.Errorf("delivered %d, want 1", n)
	}
}

func TestSocketModeAcksIgnoredAndUnknown(t *testing.T) {
	h, conn, _ := startSocket(t)
	ts := "1700000000.000902"
	envs := []map[string]any{
		fakeslack.SocketEnvelope("env-mpim", fakeslack.Callback(fakeslack.DMEvent(ts, map[string]any{"channel": "G0MPIM", "channel_type": "mpim"})), 0),
		fakeslack.SocketEnvelope("env-mention", fakeslack.Callback(map[string]any{"type": "app_mention", "user": "U0ALICE", "text": "<@U0HANDLE> hi", "ts": ts, "channel": "C0GENERAL", "event_ts": ts}), 0),
		fakeslack.SocketEnvelope("env-thread", fakeslack.Callback(fakeslack.DMEvent("1700000000.000903", map[string]any{"thread_ts": ts})), 0),
		fakeslack.SocketEnvelope("env-echo", fakeslack.Callback(fakeslack.DMEvent(ts, map[string]any{"user": fakeslack.BotUser, "bot_id": fakeslack.BotID})), 0),
		fakeslack.SocketEnvelope("env-unknown", fakeslack.Callback(map[string]any{"type": "hologram_projected", "event_ts": ts}), 0),
		{"envelope_id": "env-slash", "type": "slash_commands", "payload": map[string]any{"command": "/help", "text": "", "user_id": "U0ALICE"}, "accepts_response_payload": true},
	}
	for _, e := range envs {
		if err := conn.Send(e); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"env-mpim", "env-mention", "env-thread", "env-echo", "env-unknown", "env-slash"}
	waitFor(t, "all acks", func() bool {
		acks := h.slack.Acks()
		for _, id := range want {
			if !slices.Contains(acks, id) {
				return false
			}
		}
		return true
	})
	if n := h.host.deliverCalls(); n != 0 {
		t.Errorf("Deliver called %d times, want 0", n)
	}
}

func TestSocketModeBadAppToken(t *testing.T) {
	h := newHarness(t, ModeSocket, nil)
	h.slack.Fail("apps.connections.open", fakeslack.Failure{Code: "invalid_auth"})
	h.start(t)
	waitFor(t, "auth_failed status", func() bool { return h.host.lastStatus().State == sdk.StateAuthFailed })
}

func TestSocketModeConnectedOnceBotTokenChecks(t *testing.T) {
	// auth.test fails at Start and again when the websocket comes up; the
	// background retry then succeeds and the channel reports connected.
	h := newHarness(t, ModeSocket, nil)
	h.slack.Fail("auth.test", fakeslack.Failure{Status: 503})
	h.slack.Fail("auth.test", fakeslack.Failure{Status: 503})
	h.start(t)
	if got := h.host.lastStatus().State; got != sdk.StateDegraded {
		t.Errorf("status after a failed auth.test %q, want degraded", got)
	}
	h.slack.NextConn(t)
	waitFor(t, "connected", func() bool { return h.host.lastStatus().State == sdk.StateConnected })
}

func TestSocketModeReconnectsOnDisconnectRequest(t *testing.T) {
	h, conn, _ := startSocket(t)
	// Slack asks clients to reconnect (e.g. before a server restart).
	if err := conn.Send(map[string]any{"type": "disconnect", "reason": "refresh_requested",
		"debug_info": map[string]any{"host": "fake"}}); err != nil {
		t.Fatal(err)
	}
	next := h.slack.NextConn(t)
	if n := len(h.slack.CallsTo("apps.connections.open")); n < 2 {
		t.Errorf("apps.connections.open called %d times, want a new URL for the reconnect", n)
	}
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000950", nil))
	if err := next.Send(fakeslack.SocketEnvelope("env-after", body, 0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ack on the new connection", func() bool { return slices.Contains(h.slack.Acks(), "env-after") })
	if n := len(h.host.delivered()); n != 1 {
		t.Errorf("delivered %d, want 1", n)
	}
}
