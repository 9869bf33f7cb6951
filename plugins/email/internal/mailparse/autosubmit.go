package mailparse

import (
	"net/textproto"
	"strings"
)

// DetectAuto applies the RFC 3834 rules (and the common vendor headers) to a
// message's header: it reports whether the message was sent automatically
// and why. nullSender is true when the envelope sender (MAIL FROM) was
// empty; a "Return-Path: <>" header counts the same (IMAP has no envelope).
func DetectAuto(h textproto.MIMEHeader, nullSender bool) (auto bool, reason string) {
	if nullSender {
		return true, "null sender"
	}
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp == "<>" {
		return true, "null sender (Return-Path: <>)"
	}
	if v := h.Get("Auto-Submitted"); v != "" {
		kw, _, _ := strings.Cut(v, ";")
		kw = strings.ToLower(strings.TrimSpace(kw))
		if kw != "no" {
			return true, "Auto-Submitted: " + kw
		}
	}
	if v := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); v == "bulk" || v == "junk" || v == "list" || v == "auto_reply" {
		return true, "Precedence: " + v
	}
	if h.Get("List-Id") != "" {
		return true, "List-Id"
	}
	if _, ok := h[textproto.CanonicalMIMEHeaderKey("X-Autoreply")]; ok {
		return true, "X-Autoreply"
	}
	if _, ok := h[textproto.CanonicalMIMEHeaderKey("X-Autorespond")]; ok {
		return true, "X-Autorespond"
	}
	if ct := strings.ToLower(h.Get("Content-Type")); strings.HasPrefix(ct, "multipart/report") {
		return true, "delivery or disposition report"
	}
	return false, ""
}
