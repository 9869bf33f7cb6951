package api

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbayhq/patchbay/core/search"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// searchAnswer is the answer of GET /api/v1/search: the list's shape, each
// ticket rendered exactly as GET /api/v1/tickets renders it, plus "match".
type searchAnswer struct {
	Tickets    []json.RawMessage `json:"tickets"`
	NextCursor *string           `json:"next_cursor"`
}

// searchMatch says where a ticket matched the query's words: a comment
// (comment_id) or the subject (no comment_id), with a plain-text snippet.
type searchMatch struct {
	CommentID uint64 `json:"comment_id,omitempty"`
	Snippet   string `json:"snippet"`
}

func (s *Server) searchTickets(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "q", "sort", "limit", "cursor")
	if err != nil {
		return err
	}
	if s.search == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "search is not enabled on this server"}
	}
	text := q.Get("q")
	if strings.TrimSpace(text) == "" {
		return invalidField("q", "is required: words, \"phrases\" and field terms such as status:open (see the API documentation)")
	}
	sort := q.Get("sort")
	if !search.ValidSort(sort) {
		return invalidField("sort", "must be relevance, updated_at or created_at")
	}
	limit, err := parseLimit(q, DefaultLimit)
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	req := search.Request{Query: text, Sort: sort, Limit: limit}
	if p != nil {
		req.Actor = p.UserID
		if req.Actor == 0 {
			// The admin token acts as the administrator user once it has
			// written something; before that "me" is nobody.
			err := s.view(func(tx *store.ReadTx) error {
				u, err := tx.UserByIdentity(adminIdentityType, adminIdentityValue)
				if err == nil {
					req.Actor = u.ID
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	scope := "search\x00" + text + "\x00" + sort
	if c := q.Get("cursor"); c != "" {
		if req.After, err = decodeSearchCursor(scope, c); err != nil {
			return err
		}
	}
	res, err := s.search.Search(r.Context(), req)
	var qe *search.QueryError
	switch {
	case errors.As(err, &qe):
		return invalidField("q", "%s", qe.Error())
	case errors.Is(err, search.ErrBadCursor):
		return invalidField("cursor", "is not a valid cursor; pass the next_cursor of a previous page unchanged")
	case errors.Is(err, search.ErrRebuilding):
		done, total := s.search.Progress()
		w.Header().Set("Retry-After", "5")
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the search index is being rebuilt (" + strconv.FormatUint(done, 10) + " of " + strconv.FormatUint(total, 10) + " tickets); try again shortly", err: err}
	case err != nil:
		return storeError(err)
	}
	out := searchAnswer{Tickets: make([]json.RawMessage, 0, len(res.Hits))}
	err = s.view(func(tx *store.ReadTx) error {
		for _, h := range res.Hits {
			t, err := tx.Ticket(h.TicketID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var m *searchMatch
			if h.Snippet != "" {
				m = &searchMatch{CommentID: h.CommentID, Snippet: h.Snippet}
			}
			raw, err := searchTicketJSON(t, m)
			if err != nil {
				return err
			}
			out.Tickets = append(out.Tickets, raw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if res.More && len(res.Hits) > 0 {
		next := encodeSearchCursor(scope, res.Hits[len(res.Hits)-1].After)
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// searchTicketJSON renders a ticket as the ticket list does (the same
// value through encoding/json, so every member the list shows is here
// too), with "match" added when the words matched somewhere.
func searchTicketJSON(t *ticket.Ticket, m *searchMatch) (json.RawMessage, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	if m == nil || len(raw) < 2 || raw[len(raw)-1] != '}' {
		return raw, nil
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(raw)+len(mb)+10)
	out = append(out, raw[:len(raw)-1]...)
	if len(raw) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"match":`...)
	out = append(out, mb...)
	return append(out, '}'), nil
}

// searchCursorVersion marks search cursors (the list cursors use 1).
const searchCursorVersion = 2

// encodeSearchCursor returns the opaque cursor after a hit: the sort
// values it resumes from, bound to the query and sort that produced them.
func encodeSearchCursor(scope string, after []string) string {
	b := make([]byte, 5, 64)
	b[0] = searchCursorVersion
	binary.BigEndian.PutUint32(b[1:5], crc32.ChecksumIEEE([]byte(scope)))
	b = append(b, strings.Join(after, "\x00")...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeSearchCursor reads a cursor of encodeSearchCursor for scope. The
// values are checked by the search (search.ErrBadCursor).
func decodeSearchCursor(scope, s string) ([]string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 6 || b[0] != searchCursorVersion || base64.RawURLEncoding.EncodeToString(b) != s || len(s) > 512 {
		return nil, invalidField("cursor", "is not a valid cursor; pass the next_cursor of a previous page unchanged")
	}
	if binary.BigEndian.Uint32(b[1:5]) != crc32.ChecksumIEEE([]byte(scope)) {
		return nil, invalidField("cursor", "belongs to another query or sort; repeat the q and sort of the request that returned it")
	}
	return strings.Split(string(b[5:]), "\x00"), nil
}
