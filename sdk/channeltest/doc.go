// Package channeltest is the conformance kit for Patchbay channel plugins.
// Run it from your plugin's own `go test`; it needs no core, no network
// beyond loopback, and no provider account.
//
// # The pieces
//
// FakeHost is an in-memory core. It implements sdk.Host, so a unit test can
// hand it to Configure directly, and it behaves like the real core where it
// matters to a plugin: it stores one message per ExternalID however often it
// is delivered (the receipt says Duplicate), checks attachments against an
// attachment policy, keeps state, delivery updates and status reports, and
// FailDeliver makes it refuse to store (a core that cannot commit).
//
// Plugin is your channel running behind the real plugin boundary: go-plugin,
// gRPC, and the broker serving the FakeHost back as the Host service, so
// the test exercises the same code path as production. Start one with
//
//	p := channeltest.New(t, mychannel.New())      // in this process
//	p := channeltest.Launch(t, "./patchbay-plugin-mine", "TZ=UTC") // a built binary
//
// then drive it: p.MustConfigure(t, cfg), p.Start(t), p.Webhook(t, method,
// path, header, body), p.Send(t, msg), and look at p.Host.Deliveries().
// Launch starts the binary as the core does (handshake, AutoMTLS, an
// environment of exactly the variables given).
//
// # The suite
//
// Run(t, Target) checks the plugin contract, one subtest per case, each on a
// freshly started plugin:
//
//   - describe: Kind is a lower-case name, Version is set, the protocol
//     version is the SDK's, config fields are named, unique and typed.
//   - configure: the valid Config is accepted; an empty configuration (when
//     fields are required), an unknown key, a number for a string field and
//     each of your InvalidConfigs are rejected with sdk.FieldErrors naming
//     the field (a plain error fails the case), and no field error repeats a
//     secret's value.
//   - inbound/deliver: your Inbound is acknowledged and stored once, with
//     an author id and the provider's timestamp (plus your CheckDelivery).
//   - inbound/redelivery_stored_once: handing the same message over twice
//     is acknowledged twice and stored once.
//   - inbound/core_failure_makes_provider_retry: while the core fails, the
//     provider gets an answer that makes it retry (HTTP 5xx or 429, SMTP 4xx)
//     and nothing is stored; once it recovers, the retry is stored.
//   - inbound/attachments: files arrive at the core with exactly the bytes
//     the provider had (they stream through the real Host service).
//   - inbound/bad_signature: a badly signed webhook gets 401 and never
//     reaches Host.Deliver.
//   - inbound/malformed_webhook: garbage gets a 4xx, delivers nothing, and
//     the plugin keeps serving.
//   - send/ok, send/attachment: Reply is sent, the result carries the
//     provider's id (plus your CheckSent and CheckSentAttachment).
//   - send/failure/<name>: each SendFailure gives a *sdk.SendError with the
//     expected Retryable flag (and Code).
//   - stop: Stop returns.
//
// # Writing the Target
//
// You provide what only you can: a valid configuration pointing at a fake
// of your provider on 127.0.0.1 (httptest.Server), a Receiver that hands
// over one message as the provider would, a badly signed request, a reply,
// and functions that make your fake provider fail a send. Cases whose
// fields you leave empty are skipped, so a channel without webhooks (email
// over SMTP) gives a Receiver that speaks SMTP instead of BadSignature:
//
//	func TestConformance(t *testing.T) {
//		prov := newFakeProvider(t) // your loopback fake
//		channeltest.Run(t, channeltest.Target{
//			New:     func() sdk.Channel { return mychannel.New() },
//			Config:  json.RawMessage(`{"signing_secret":"s3cret","api_url":"` + prov.URL + `"}`),
//			Inbound: channeltest.WebhookReceiver(func(t testing.TB) *sdk.WebhookRequest {
//				body := []byte(`{"id":"evt-1","from":"u-7","text":"hi","ts":1767225600}`)
//				return &sdk.WebhookRequest{Method: "POST", Path: "/", Body: body,
//					Header: prov.Sign(time.Now(), body)} // signed as the provider signs
//			}),
//			BadSignature: func(t testing.TB) *sdk.WebhookRequest { /* same, wrong key */ },
//			Reply: func(t testing.TB) *sdk.OutboundMessage {
//				return &sdk.OutboundMessage{IdempotencyKey: "k1", Recipient: sdk.Party{ExternalID: "u-7"}, Text: "hello"}
//			},
//			SendFailures: []channeltest.SendFailure{
//				{Name: "rate_limited", Arrange: func(t testing.TB) { prov.Fail(t, 429) }, Retryable: true},
//				{Name: "bad_recipient", Arrange: func(t testing.TB) { prov.Fail(t, 400) }, Retryable: false},
//			},
//		})
//	}
//
// Run the same Target against your built binary too (set Binary instead of
// New): that proves your main, your stdout hygiene and your environment
// handling. This package's own tests do both with a reference channel.
package channeltest
