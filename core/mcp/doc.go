// Package mcp is Patchbay's Model Context Protocol server: the tools,
// resources and notifications through which AI agents work tickets, built
// on the official Go SDK (github.com/modelcontextprotocol/go-sdk).
//
// The MCP server is a third door onto the same operations as the HTTP API
// and the rules engine, not a second implementation of them: every tool is
// one or more calls of the agent HTTP API (core/api), made with the
// caller's own bearer token, so authentication, token scopes, validation,
// lifecycle rules, idempotency keys, If-Match, events and error codes are
// those of the API. An API error comes back as an MCP tool error (IsError)
// whose structured content is the API's error object
// ({"error": {"code", "field", "message", "status"}}), never as a
// transport failure.
//
// Two deployments share this code and differ only in how an API call
// travels:
//
//   - Handler serves streamable HTTP at /mcp on the core's own listener
//     (core/api mounts it behind the same bearer-token check as /api/v1).
//     API calls are served in-process by the API handler: no socket, no
//     second authentication path. The token of each MCP request is the
//     token of the API calls it makes.
//   - ServeStdio is `patchbay mcp -url URL -token-env NAME`: an MCP server
//     on standard input and output for desktop clients that only launch
//     local commands. Its API calls go over HTTP to a running core, with
//     the token from the environment.
//
// Every MCP session gets its own SDK server, so that resource-updated
// notifications reach exactly the session that subscribed: a session's
// first subscription opens the API's event stream (GET /api/v1/events) with
// the session's token, and each event about a subscribed ticket becomes a
// notifications/resources/updated for patchbay://tickets/{id}.
package mcp
