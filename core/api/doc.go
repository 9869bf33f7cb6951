// Package api is Patchbay's agent HTTP API (docs/api.md is its reference): tickets,
// comments, users, channels, attachments, API tokens and the server-sent
// event stream, plus /healthz, /metrics and the provider webhooks mounted
// at /hooks/.
//
// # Wiring
//
//	srv, err := api.New(api.Options{
//		Store:      st,                         // *store.Store, required
//		Channels:   api.ChannelsFunc(list),     // adapts pluginhost.Manager.Channels
//		Hooks:      manager.HooksHandler(),     // serves /hooks/{channel}/…
//		AdminToken: os.Getenv("PATCHBAY_ADMIN_TOKEN"),
//		Registerer: reg, Gatherer: reg,         // one prometheus.Registry
//		Logger:     logger.Named("api"),
//		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,    // default 1 MiB
//		MaxUploadBytes: 20 << 20,               // POST /api/v1/attachments
//	})
//	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
//	httpSrv.RegisterOnShutdown(srv.Close)   // ends event streams on shutdown
//
// The API does not import core/pluginhost: Options.Channels takes the small
// ChannelLister interface, and ChannelInfo has exactly the fields of
// pluginhost.ChannelInfo, in the same order, so a Go conversion does it:
//
//	api.ChannelsFunc(func() []api.ChannelInfo {
//		cs := manager.Channels()
//		out := make([]api.ChannelInfo, len(cs))
//		for i, c := range cs {
//			out[i] = api.ChannelInfo(c)
//		}
//		return out
//	})
//
// # Conventions
//
// Routing uses net/http's method patterns. Every error answer is
// {"error": {"code", "message", "field"}} (see the Code constants): 400
// malformed JSON or query string, 401 missing/wrong/revoked token, 403 an
// agent token on an admin route, 404 unknown resource or route, 405 wrong
// method, 409 a change to a closed ticket, 413 a body over MaxBodyBytes,
// 415 a non-JSON body, 422 an invalid or unknown field (named). Bodies are
// decoded strictly: exact field names, no unknown members at any depth,
// every value of its type. A rejected request changes nothing.
//
// Authentication is a bearer token: the admin token (compared in constant
// time) or an agent token from POST /api/v1/tokens, stored as its SHA-256
// (tokens carry 256 random bits) and shown once. Changes are authored by
// the token's user; the admin token acts as an "Administrator" user created
// on first use.
//
// POSTs honour Idempotency-Key: the answer is stored in the same store
// transaction as the change, scoped to the token, for 24 hours. Lists use
// opaque cursors bound to their filters. GET /api/v1/events streams the
// store's durable event log; the SSE id is the event's sequence number, so
// Last-Event-ID resumes without loss or repeats. One follower goroutine
// (the hub, started with the first stream, ended by Close) reads the log
// after each commit and keeps the latest 1,024 events in memory for every
// stream; a stream resuming from further back reads the log directly until
// it catches up.
//
// The access log (hclog) records method, route pattern, path, status,
// duration and token id, never the Authorization header or the query
// string. The patchbay_http_request_duration_seconds histogram is labelled
// by route pattern and status code (event streams are left out and counted
// by the patchbay_http_event_streams gauge instead).
package api
