package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/patchbayhq/patchbay/core/rules"
)

// webhookInput is the body of POST and PUT /api/v1/webhooks: on PUT an
// absent secret keeps the current one.
type webhookInput struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Active *bool  `json:"active"`
	Secret string `json:"secret"`
}

// maskedWebhook is a webhook as the API shows it: the secret masked (only
// the answer to its creation shows it in clear).
func maskedWebhook(w *rules.Webhook) *rules.Webhook {
	c := *w
	c.Secret = rules.MaskSecret(w.Secret)
	return &c
}

func (in *webhookInput) webhook(id uint64) *rules.Webhook {
	w := &rules.Webhook{ID: id, Name: in.Name, URL: in.URL, Active: true, Secret: in.Secret}
	if in.Active != nil {
		w.Active = *in.Active
	}
	return w
}

func readWebhookInput(r *http.Request) (*webhookInput, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var in webhookInput
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

func (a *rulesAPI) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ws, err := a.eng.Webhooks()
	if err != nil {
		return rulesError(err)
	}
	out := make([]*rules.Webhook, 0, len(ws))
	for _, wh := range ws {
		out = append(out, maskedWebhook(wh))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

func (a *rulesAPI) getWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "webhook")
	if err != nil {
		return err
	}
	wh, err := a.eng.Webhook(id)
	if err != nil {
		return rulesError(err)
	}
	writeJSON(w, http.StatusOK, maskedWebhook(wh))
	return nil
}

// createWebhook answers the new webhook with its signing secret in clear:
// the only time the API shows it.
func (a *rulesAPI) createWebhook(w http.ResponseWriter, r *http.Request) error {
	in, err := readWebhookInput(r)
	if err != nil {
		return err
	}
	wh, err := a.eng.CreateWebhook(r.Context(), in.webhook(0))
	if err != nil {
		return rulesError(err)
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+strconv.FormatUint(wh.ID, 10))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, wh)
	return nil
}

func (a *rulesAPI) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "webhook")
	if err != nil {
		return err
	}
	in, err := readWebhookInput(r)
	if err != nil {
		return err
	}
	wh, err := a.eng.UpdateWebhook(r.Context(), in.webhook(id))
	if err != nil {
		return rulesError(err)
	}
	writeJSON(w, http.StatusOK, maskedWebhook(wh))
	return nil
}

func (a *rulesAPI) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "webhook")
	if err != nil {
		return err
	}
	if err := a.eng.DeleteWebhook(r.Context(), id); err != nil {
		return rulesError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deliveryList is the answer of GET /api/v1/webhooks/{id}/deliveries.
type deliveryList struct {
	Deliveries []*rules.Delivery `json:"deliveries"`
	NextCursor *string           `json:"next_cursor"`
}

func (a *rulesAPI) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "webhook")
	if err != nil {
		return err
	}
	q, err := query(r, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q, DefaultLimit)
	if err != nil {
		return err
	}
	scope := "deliveries\x00" + strconv.FormatUint(id, 10)
	c, _, err := decodeCursor(scope, q.Get("cursor"))
	if err != nil {
		return err
	}
	ds, err := a.eng.Deliveries(id, limit, c.After)
	if err != nil {
		return rulesError(err)
	}
	out := deliveryList{Deliveries: ds}
	if len(ds) == limit {
		next := encodeCursor(scope, ds[len(ds)-1].Seq)
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// autoReplyInput is the body of PUT /api/v1/auto_replies/{channel}.
type autoReplyInput struct {
	Active *bool  `json:"active"`
	Body   string `json:"body"`
}

func (a *rulesAPI) listAutoReplies(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ars, err := a.eng.AutoReplies()
	if err != nil {
		return rulesError(err)
	}
	if ars == nil {
		ars = []*rules.AutoReply{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"auto_replies": ars})
	return nil
}

func (a *rulesAPI) getAutoReply(w http.ResponseWriter, r *http.Request) error {
	ar, err := a.eng.AutoReply(r.PathValue("channel"))
	if err != nil {
		return rulesError(err)
	}
	writeJSON(w, http.StatusOK, ar)
	return nil
}

func (a *rulesAPI) putAutoReply(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in autoReplyInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	channel := r.PathValue("channel")
	if !a.knownChannel(channel) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no channel %q is configured", channel)}
	}
	ar := &rules.AutoReply{Channel: channel, Active: true, Body: in.Body}
	if in.Active != nil {
		ar.Active = *in.Active
	}
	out, created, err := a.eng.PutAutoReply(r.Context(), ar)
	if err != nil {
		return rulesError(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
	return nil
}

// knownChannel reports whether a channel instance is configured (true
// when the server has no channel list, as in tests of the API alone). An
// auto-reply of a channel since removed from the configuration can still
// be read and deleted.
func (a *rulesAPI) knownChannel(name string) bool {
	if a.s.channels == nil {
		return true
	}
	for _, c := range a.s.channels.Channels() {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (a *rulesAPI) deleteAutoReply(w http.ResponseWriter, r *http.Request) error {
	if err := a.eng.DeleteAutoReply(r.Context(), r.PathValue("channel")); err != nil {
		return rulesError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
