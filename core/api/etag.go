package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// CodePreconditionFailed answers a write whose If-Match names a version of
// the ticket that is no longer current (412).
const CodePreconditionFailed = "precondition_failed"

// ticketETag is the strong entity tag of a ticket: its version, quoted.
func ticketETag(t *ticket.Ticket) string {
	return `"` + strconv.FormatUint(t.Version, 10) + `"`
}

// ifMatch is a parsed If-Match header: absent (no precondition: last
// writer wins), "*" (the ticket must exist), or a list of strong tags.
type ifMatch struct {
	set  bool
	any  bool
	tags []string
}

// parseETagList splits an If-Match or If-None-Match value into its entity
// tags (RFC 9110 §8.8.3): "*" or a comma-separated list of quoted tags,
// each optionally weak (W/"…"). A malformed value is a 422 naming the
// header.
func parseETagList(header, v string) (tags []string, any bool, err error) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return nil, true, nil
	}
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		tag := strings.TrimPrefix(part, "W/")
		if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.Contains(tag[1:len(tag)-1], `"`) {
			return nil, false, invalidField(header, `must be "*" or entity tags in double quotes, such as "7" (the ticket's ETag header, or its version member in quotes)`)
		}
		tags = append(tags, part)
	}
	if len(tags) == 0 {
		return nil, false, invalidField(header, "must not be empty")
	}
	return tags, false, nil
}

// parseIfMatch reads the request's If-Match header.
func parseIfMatch(r *http.Request) (ifMatch, error) {
	v, ok := r.Header["If-Match"]
	if !ok {
		return ifMatch{}, nil
	}
	tags, any, err := parseETagList("If-Match", strings.Join(v, ","))
	if err != nil {
		return ifMatch{}, err
	}
	return ifMatch{set: true, any: any, tags: tags}, nil
}

// check answers 412 unless the precondition holds for t. If-Match uses
// the strong comparison: a weak tag never matches.
func (m ifMatch) check(t *ticket.Ticket) error {
	if !m.set || m.any {
		return nil
	}
	cur := ticketETag(t)
	for _, tag := range m.tags {
		if tag == cur {
			return nil
		}
	}
	return &Error{Status: http.StatusPreconditionFailed, Code: CodePreconditionFailed, Field: "If-Match",
		Message: fmt.Sprintf("ticket %d changed since you read it: its version is now %s; read it again (GET /api/v1/tickets/%d), reapply your change and send its new ETag", t.ID, cur, t.ID),
		etag:    cur}
}

// noneMatch reports whether an If-None-Match header matches the current
// tag (weak comparison, as RFC 9110 asks for GET).
func noneMatch(r *http.Request, cur string) bool {
	v := r.Header.Values("If-None-Match")
	if len(v) == 0 {
		return false
	}
	tags, any, err := parseETagList("If-None-Match", strings.Join(v, ","))
	if err != nil {
		return false // a malformed header is ignored, as RFC 9110 allows
	}
	if any {
		return true
	}
	for _, tag := range tags {
		if strings.TrimPrefix(tag, "W/") == cur {
			return true
		}
	}
	return false
}
