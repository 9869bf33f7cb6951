package api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// query parses the request's query string strictly (net/http's
// URL.Query drops malformed pairs silently) and rejects parameters the
// route does not take; see checkQuery.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("", "malformed query string: %s", strings.TrimPrefix(err.Error(), "invalid URL escape "))
	}
	return q, checkQuery(q, allowed...)
}

// checkQuery rejects query parameters the route does not take (422
// naming the parameter), so that a misspelt filter is not silently
// ignored, and parameters given more than once.
func checkQuery(q url.Values, allowed ...string) error {
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			takes := "this call takes no query parameters"
			if len(allowed) > 0 {
				takes = "this call takes: " + strings.Join(allowed, ", ")
			}
			return &Error{Status: 422, Code: CodeUnknownField, Field: k,
				Message: "unknown query parameter " + k + "; " + takes}
		}
		if len(q[k]) > 1 {
			return invalidField(k, "must be given once")
		}
	}
	return nil
}

// noNUL reports a query value containing a NUL byte, which no name can hold.
func noNUL(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return invalidField(field, "must not contain NUL bytes")
	}
	return nil
}
