package api

import (
	"errors"
	"net/http"

	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// rulesAPI serves the business-rules endpoints over the rules engine.
type rulesAPI struct {
	s   *Server
	eng *rules.Engine
}

// rulesRoutes registers the business-rules endpoints: CRUD of triggers,
// automations, macros, views, webhooks and channel auto-replies (admin;
// agents may read macros and views), applying and previewing a macro, a
// view's tickets and a webhook's delivery log. With a nil engine every one
// of them answers 503.
func (s *Server) rulesRoutes(eng *rules.Engine) {
	a := &rulesAPI{s: s, eng: eng}
	for _, k := range []struct {
		kind       rules.Kind
		path       string
		readAccess access
	}{
		{rules.KindTrigger, "triggers", adminOnly},
		{rules.KindAutomation, "automations", adminOnly},
		{rules.KindMacro, "macros", agentOnly},
		{rules.KindView, "views", agentOnly},
	} {
		base := "/api/v1/" + k.path
		s.route("GET "+base, k.readAccess, a.guard(a.listRules(k.kind)))
		s.route("POST "+base, adminOnly, a.guard(a.createRule(k.kind)))
		s.route("GET "+base+"/{id}", k.readAccess, a.guard(a.getRule(k.kind)))
		s.route("PUT "+base+"/{id}", adminOnly, a.guard(a.updateRule(k.kind)))
		s.route("DELETE "+base+"/{id}", adminOnly, a.guard(a.deleteRule(k.kind)))
	}
	s.route("GET /api/v1/views/{id}/tickets", agentOnly, a.guard(a.viewTickets))
	s.route("POST /api/v1/tickets/{id}/macros/{macro_id}", agentOnly, a.guard(a.applyMacro))
	s.route("GET /api/v1/tickets/{id}/macros/{macro_id}/preview", agentOnly, a.guard(a.previewMacro))

	s.route("GET /api/v1/webhooks", adminOnly, a.guard(a.listWebhooks))
	s.route("POST /api/v1/webhooks", adminOnly, a.guard(a.createWebhook))
	s.route("GET /api/v1/webhooks/{id}", adminOnly, a.guard(a.getWebhook))
	s.route("PUT /api/v1/webhooks/{id}", adminOnly, a.guard(a.updateWebhook))
	s.route("DELETE /api/v1/webhooks/{id}", adminOnly, a.guard(a.deleteWebhook))
	s.route("GET /api/v1/webhooks/{id}/deliveries", adminOnly, a.guard(a.listDeliveries))

	s.route("GET /api/v1/auto_replies", adminOnly, a.guard(a.listAutoReplies))
	s.route("GET /api/v1/auto_replies/{channel}", adminOnly, a.guard(a.getAutoReply))
	s.route("PUT /api/v1/auto_replies/{channel}", adminOnly, a.guard(a.putAutoReply))
	s.route("DELETE /api/v1/auto_replies/{channel}", adminOnly, a.guard(a.deleteAutoReply))
}

// guard answers 503 when the server runs without a rules engine.
func (a *rulesAPI) guard(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if a.eng == nil {
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "business rules are not enabled on this server"}
		}
		return h(w, r)
	}
}

// rulesError maps an error of the rules engine to an API error: a
// definition's invalid field is 422 naming it, an unknown object 404, a
// webhook still in use 409, a closed ticket 409.
func rulesError(err error) error {
	var ve *rules.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve):
		return invalidField(ve.Field, "%s", ve.Message)
	case errors.Is(err, rules.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "not found", err: err}
	case errors.Is(err, rules.ErrInUse):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the webhook is called by a trigger or automation; remove it from them first", err: err}
	case errors.Is(err, ticket.ErrClosed):
		return &Error{Status: http.StatusConflict, Code: CodeTicketClosed, Message: "the ticket is closed and cannot be changed; a new message opens a follow-up ticket"}
	}
	return storeError(err)
}
