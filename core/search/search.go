package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// Sort orders of search results (all descending).
const (
	SortRelevance = "relevance"
	SortUpdatedAt = "updated_at"
	SortCreatedAt = "created_at"
)

// Request is one search.
type Request struct {
	// Query is the q parameter (Parse's syntax).
	Query string
	// Actor is the user "me" stands for (0: nobody, "me" matches nothing).
	Actor uint64
	// Sort is SortRelevance (default), SortUpdatedAt or SortCreatedAt.
	Sort string
	// Limit is the page size (required, positive).
	Limit int
	// After holds the sort values of the last hit of the previous page
	// (Hit.After), nil for the first page.
	After []string
}

// Hit is one matching ticket.
type Hit struct {
	TicketID uint64
	// CommentID and Snippet show where the words matched: a comment (its
	// id), or the subject (CommentID 0). Both are empty for a query of
	// field terms only.
	CommentID uint64
	Snippet   string
	// After is the position to resume after this hit (Request.After).
	After []string
}

// Result is one page of hits.
type Result struct {
	Hits []Hit
	// More reports a further page.
	More bool
}

// ErrBadCursor reports Request.After values that no hit of this sort order
// could have produced.
var ErrBadCursor = errors.New("search: bad cursor")

// Search runs req against the index. Errors: *QueryError for a query it
// refuses, ErrBadCursor, ErrRebuilding while the index is being built.
func (x *Index) Search(ctx context.Context, req Request) (*Result, error) {
	if !x.ready.Load() {
		return nil, ErrRebuilding
	}
	start := time.Now()
	defer func() { x.m.querySeconds.Observe(time.Since(start).Seconds()) }()
	q, err := Parse(req.Query, x.opts.Clock())
	if err != nil {
		return nil, err
	}
	bq, hasText, err := x.compile(q, req.Actor)
	if err != nil {
		return nil, err
	}
	order, err := sortOrder(req.Sort, hasText)
	if err != nil {
		return nil, err
	}
	if req.Limit <= 0 {
		return nil, errors.New("search: Request.Limit must be positive")
	}
	if req.After != nil {
		if err := checkAfter(order, req.After); err != nil {
			return nil, err
		}
	}
	if f, ok, err := x.storeFilter(q, req); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return x.listFromStore(f, req)
	}
	sr := bleve.NewSearchRequestOptions(bq, req.Limit+1, 0, false)
	sr.Sort = order
	sr.IncludeLocations = hasText
	if !hasText || req.Sort != "" && req.Sort != SortRelevance {
		sr.Score = bleve.ScoreNone
	}
	if hasText {
		sr.Fields = []string{fieldCommentID}
	}
	if req.After != nil {
		sr.SearchAfter = req.After
	}
	var res *bleve.SearchResult
	if !hasText && (req.Sort == "" || req.Sort == SortRelevance) {
		res, err = x.newestFirst(ctx, bq, sr, req.After)
	} else {
		res, err = x.idx.SearchInContext(ctx, sr)
	}
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	out := &Result{}
	hits := res.Hits
	if len(hits) > req.Limit {
		out.More = true
		hits = hits[:req.Limit]
	}
	var snippets []*snippetWant
	for _, h := range hits {
		id, err := parseDocID(h.ID)
		if err != nil {
			return nil, fmt.Errorf("search: document id %q: %w", h.ID, err)
		}
		hit := Hit{TicketID: id, After: afterValues(order, h)}
		out.Hits = append(out.Hits, hit)
		if hasText {
			snippets = append(snippets, where(h, len(out.Hits)-1))
		}
	}
	if len(snippets) > 0 {
		if err := x.snippets(out.Hits, snippets); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// compile turns a parsed query into a bleve query, resolving "me" and
// email addresses. hasText reports words or phrases to rank and highlight.
func (x *Index) compile(q *Query, actor uint64) (query.Query, bool, error) {
	var must, mustNot []query.Query
	hasText := false
	for _, t := range q.Texts {
		var alts []query.Query
		for _, f := range textFields {
			switch {
			case t.Phrase:
				mq := query.NewMatchPhraseQuery(t.Value)
				mq.SetField(f)
				alts = append(alts, mq)
			case t.Prefix:
				pq := query.NewPrefixQuery(foldText(strings.ToLower(t.Value)))
				pq.SetField(f)
				alts = append(alts, pq)
			default:
				mq := query.NewMatchQuery(t.Value)
				mq.SetField(f)
				mq.SetOperator(query.MatchQueryOperatorAnd)
				alts = append(alts, mq)
			}
		}
		dq := query.NewDisjunctionQuery(alts)
		if t.Negate {
			mustNot = append(mustNot, dq)
		} else {
			must = append(must, dq)
			hasText = true
		}
	}
	for _, f := range q.Filters {
		fq, err := x.filterQuery(f, actor)
		if err != nil {
			return nil, false, err
		}
		if f.Negate {
			mustNot = append(mustNot, fq)
		} else {
			must = append(must, fq)
		}
	}
	bq := query.NewBooleanQuery(nil, nil, nil)
	if len(must) == 0 {
		must = append(must, query.NewMatchAllQuery())
	}
	bq.AddMust(must...)
	if len(mustNot) > 0 {
		bq.AddMustNot(mustNot...)
	}
	return bq, hasText, nil
}

// nobody is a keyword no document holds (a user that does not exist).
const nobody = "\x00nobody"

// filterQuery is the query of one field term.
func (x *Index) filterQuery(f Filter, actor uint64) (query.Query, error) {
	terms := func(field string, values ...string) query.Query {
		if len(values) == 1 {
			tq := query.NewTermQuery(values[0])
			tq.SetField(field)
			return tq
		}
		alts := make([]query.Query, len(values))
		for i, v := range values {
			tq := query.NewTermQuery(v)
			tq.SetField(field)
			alts[i] = tq
		}
		return query.NewDisjunctionQuery(alts)
	}
	switch f.Field {
	case "status":
		return terms(fieldStatus, f.Values...), nil
	case "priority":
		return terms(fieldPriority, f.Values...), nil
	case "tag":
		return terms(fieldTags, f.Values...), nil
	case "channel":
		return terms(fieldChannel, f.Values...), nil
	case "via":
		return terms(fieldVia, f.Values...), nil
	case "group":
		return terms(fieldGroup, f.Values...), nil
	case "assignee", "requester":
		field := fieldAssignee
		if f.Field == "requester" {
			field = fieldRequester
		}
		switch {
		case f.Who == "none":
			return terms(field, absent), nil
		case f.Who == "me":
			if actor == 0 { // the admin token before it ever acted: nobody
				return terms(field, nobody), nil
			}
			return terms(field, strconv.FormatUint(actor, 10)), nil
		case strings.Contains(f.Who, "@"):
			id, err := x.userByEmail(f.Who)
			if err != nil {
				return nil, err
			}
			if id == 0 {
				return terms(field, nobody), nil
			}
			return terms(field, strconv.FormatUint(id, 10)), nil
		default:
			return terms(field, f.Who), nil
		}
	case "created", "updated":
		field := fieldCreated
		if f.Field == "updated" {
			field = fieldUpdated
		}
		incl, excl := true, false
		dq := query.NewDateRangeInclusiveQuery(f.From, f.To, &incl, &excl)
		dq.SetField(field)
		return dq, nil
	}
	return nil, queryErr(f.Raw, "unknown field %q", f.Field)
}

// userByEmail returns the id of the user owning an email identity (a
// merged user leads to the user it was merged into), 0 when none does.
func (x *Index) userByEmail(email string) (uint64, error) {
	var id uint64
	err := x.st.View(func(r *store.ReadTx) error {
		u, err := r.UserByIdentity("email", email)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for i := 0; u.MergedInto != 0 && i < 16; i++ {
			if u, err = r.User(u.MergedInto); err != nil {
				return err
			}
		}
		id = u.ID
		return nil
	})
	return id, err
}

// sortOrder is the bleve sort of a request; every order ends with the
// ticket id (newest first) so that pages are stable.
func sortOrder(name string, hasText bool) (bsearch.SortOrder, error) {
	byID := &bsearch.SortDocID{Desc: true}
	switch name {
	case "", SortRelevance:
		if !hasText {
			return bsearch.SortOrder{byID}, nil
		}
		return bsearch.SortOrder{&bsearch.SortScore{Desc: true}, byID}, nil
	case SortUpdatedAt:
		return bsearch.SortOrder{&bsearch.SortField{Field: fieldUpdated, Type: bsearch.SortFieldAsDate, Desc: true}, byID}, nil
	case SortCreatedAt:
		return bsearch.SortOrder{&bsearch.SortField{Field: fieldCreated, Type: bsearch.SortFieldAsDate, Desc: true}, byID}, nil
	}
	return nil, &QueryError{Message: "sort must be relevance, updated_at or created_at"}
}

// afterValues are the sort values that resume after h.
func afterValues(order bsearch.SortOrder, h *bsearch.DocumentMatch) []string {
	out := make([]string, len(order))
	for i, s := range order {
		switch s.(type) {
		case *bsearch.SortScore:
			out[i] = strconv.FormatFloat(h.Score, 'g', -1, 64)
		case *bsearch.SortDocID:
			out[i] = h.ID
		default:
			if i < len(h.DecodedSort) {
				out[i] = h.DecodedSort[i]
			} else if i < len(h.Sort) {
				out[i] = s.DecodeValue(h.Sort[i])
			}
		}
	}
	return out
}

// checkAfter validates resume values (they come back from clients).
func checkAfter(order bsearch.SortOrder, after []string) error {
	if len(after) != len(order) {
		return ErrBadCursor
	}
	for i, s := range order {
		v := after[i]
		switch s.(type) {
		case *bsearch.SortScore:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return ErrBadCursor
			}
		case *bsearch.SortDocID:
			if id, err := parseDocID(v); err != nil || docID(id) != v {
				return ErrBadCursor
			}
		default:
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return ErrBadCursor
			}
		}
	}
	return nil
}

// snippetWant is where a hit matched: a comment (by its index among the
// ticket's comments) or the subject, and the byte range of one match.
type snippetWant struct {
	hit        int
	comment    int // -1: the subject
	commentIDs string
	start, end int
}

// where picks the comment that matched the most query terms (the first
// such comment), else the subject.
func where(h *bsearch.DocumentMatch, hit int) *snippetWant {
	w := &snippetWant{hit: hit, comment: -1, start: -1}
	if ids, ok := h.Fields[fieldCommentID].(string); ok {
		w.commentIDs = ids
	}
	type span struct{ start, end int }
	best, bestTerms := -1, 0
	perComment := map[int]map[string]span{}
	for term, locs := range h.Locations[fieldComments] {
		for _, l := range locs {
			if len(l.ArrayPositions) == 0 {
				continue
			}
			i := int(l.ArrayPositions[0])
			m := perComment[i]
			if m == nil {
				m = map[string]span{}
				perComment[i] = m
			}
			if s, ok := m[term]; !ok || int(l.Start) < s.start {
				m[term] = span{int(l.Start), int(l.End)}
			}
		}
	}
	for i, terms := range perComment {
		if len(terms) > bestTerms || len(terms) == bestTerms && i < best {
			best, bestTerms = i, len(terms)
		}
	}
	if best >= 0 {
		w.comment = best
		first := span{start: math.MaxInt}
		for _, s := range perComment[best] {
			if s.start < first.start {
				first = s
			}
		}
		w.start, w.end = first.start, first.end
		return w
	}
	first := -1
	for _, locs := range h.Locations[fieldSubject] {
		for _, l := range locs {
			if first < 0 || int(l.Start) < first {
				first, w.start, w.end = int(l.Start), int(l.Start), int(l.End)
			}
		}
	}
	return w
}

// snippets fills the hits' CommentID and Snippet from the store's text.
func (x *Index) snippets(hits []Hit, wants []*snippetWant) error {
	return x.st.View(func(r *store.ReadTx) error {
		for _, w := range wants {
			h := &hits[w.hit]
			if w.comment < 0 {
				if w.start < 0 {
					continue
				}
				t, err := r.Ticket(h.TicketID)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				h.Snippet = Snippet(t.Subject, w.start, w.end)
				continue
			}
			ids := strings.Fields(w.commentIDs)
			if w.comment >= len(ids) {
				continue
			}
			cid, err := strconv.ParseUint(ids[w.comment], 10, 64)
			if err != nil {
				continue
			}
			c, err := r.Comment(cid)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			h.CommentID = cid
			h.Snippet = Snippet(c.Body, w.start, w.end)
		}
		return nil
	})
}

// snippetContext is how many bytes of text a snippet shows on each side of
// the match (about ten words).
const snippetContext = 70

// Snippet cuts the text around the match text[start:end] at word
// boundaries, with "…" where text was left out, and whitespace collapsed.
// Out-of-range offsets (the text changed since it was indexed) give the
// text's beginning.
func Snippet(text string, start, end int) string {
	if start < 0 || end < start || end > len(text) || !utf8.RuneStart(byteAt(text, start)) {
		start, end = 0, 0
	}
	from := max(0, start-snippetContext)
	to := min(len(text), end+snippetContext)
	for from > 0 && !utf8.RuneStart(text[from]) {
		from--
	}
	for to < len(text) && !utf8.RuneStart(text[to]) {
		to++
	}
	// Move inward to a word boundary (unless the cut is at the text's end).
	if from > 0 {
		if i := strings.IndexFunc(text[from:start], unicode.IsSpace); i >= 0 {
			from += i
		}
	}
	if to < len(text) {
		if i := strings.LastIndexFunc(text[end:to], unicode.IsSpace); i >= 0 {
			to = end + i
		}
	}
	s := strings.Join(strings.Fields(text[from:to]), " ")
	if from > 0 {
		s = "…" + s
	}
	if to < len(text) {
		s += "…"
	}
	return s
}

func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// sortNames lists the accepted sort values (docs, errors).
var sortNames = []string{SortRelevance, SortUpdatedAt, SortCreatedAt}

// ValidSort reports whether s is an accepted sort ("" is relevance).
func ValidSort(s string) bool { return s == "" || slices.Contains(sortNames, s) }

// storeFilter recognises a query the store's own ticket indexes answer
// exactly, in the same order (newest first): field terms only, each an
// equality on status, channel, requester or assignee (at most one of each),
// in the default order. The store reads one index and checks the others by
// point lookups, so such a query costs the same at a million tickets as at
// a thousand, where the full-text index would visit every match to sort
// them.
func (x *Index) storeFilter(q *Query, req Request) (store.TicketFilter, bool, error) {
	var f store.TicketFilter
	if len(q.Texts) > 0 || (req.Sort != "" && req.Sort != SortRelevance) {
		return f, false, nil
	}
	for _, t := range q.Filters {
		if t.Negate || t.Op != OpEq {
			return f, false, nil
		}
		switch t.Field {
		case "status":
			if f.Status != "" || len(t.Values) != 1 {
				return f, false, nil
			}
			f.Status = ticket.Status(t.Values[0])
		case "channel":
			if f.Channel != "" || len(t.Values) != 1 || t.Values[0] == absent {
				return f, false, nil
			}
			f.Channel = t.Values[0]
		case "assignee", "requester":
			var id uint64
			switch {
			case t.Who == "none":
				return f, false, nil
			case t.Who == "me":
				id = req.Actor
			case strings.Contains(t.Who, "@"):
				var err error
				if id, err = x.userByEmail(t.Who); err != nil {
					return f, false, err
				}
			default:
				var err error
				if id, err = strconv.ParseUint(t.Who, 10, 64); err != nil {
					return f, false, nil
				}
			}
			if id == 0 {
				return f, false, nil // nobody: the index answers "no match"
			}
			dst := &f.AssigneeID
			if t.Field == "requester" {
				dst = &f.RequesterID
			}
			if *dst != 0 {
				return f, false, nil
			}
			*dst = id
		default:
			return f, false, nil
		}
	}
	return f, true, nil
}

// listFromStore answers a storeFilter query from the store.
func (x *Index) listFromStore(f store.TicketFilter, req Request) (*Result, error) {
	f.Limit = req.Limit
	if req.After != nil {
		id, err := parseDocID(req.After[0])
		if err != nil || id == 0 {
			return nil, ErrBadCursor
		}
		f.Cursor = store.EncodeCursor(id)
	}
	var (
		list []*ticket.Ticket
		more string
	)
	err := x.st.View(func(r *store.ReadTx) error {
		var err error
		list, more, err = r.ListTickets(f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	out := &Result{More: more != "" && len(list) > 0}
	for _, t := range list {
		out.Hits = append(out.Hits, Hit{TicketID: t.ID, After: []string{docID(t.ID)}})
	}
	return out, nil
}

// firstWindow is the span of ticket ids newestFirst looks at first.
const firstWindow = 4096

// newestFirst runs a query of field terms in its newest-first order
// without visiting every match: sorting all matches of a broad term such
// as status<solved costs time in proportion to their number, so it looks
// at a window of the newest ticket ids first (below the cursor's), and
// widens it eightfold until it holds a page and one more, or reaches the
// oldest ticket. The hits are exactly those of the unwindowed query, since
// every ticket outside a window is older than every ticket in it.
func (x *Index) newestFirst(ctx context.Context, bq query.Query, sr *bleve.SearchRequest, after []string) (*bleve.SearchResult, error) {
	var hi uint64
	if after != nil {
		id, err := parseDocID(after[len(after)-1])
		if err != nil {
			return nil, ErrBadCursor
		}
		hi = id
	} else {
		err := x.st.View(func(r *store.ReadTx) error {
			last, err := r.LastID(store.SeqTicket)
			hi = last + 1
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	for window := x.window; ; window *= 8 {
		lo := uint64(0)
		if hi > window {
			lo = hi - window
		}
		minV, maxV := float64(lo), float64(hi)
		incl, excl := true, false
		rq := query.NewNumericRangeInclusiveQuery(&minV, &maxV, &incl, &excl)
		rq.SetField(fieldTicketID)
		sr.Query = query.NewConjunctionQuery([]query.Query{bq, rq})
		res, err := x.idx.SearchInContext(ctx, sr)
		if err != nil || len(res.Hits) >= sr.Size || lo == 0 {
			return res, err
		}
	}
}
