// Package search is Patchbay's full-text search over tickets: a Bleve index
// (scorch) kept in its own directory beside the store, fed from the
// store's durable event log, and the query language of GET /api/v1/search.
//
// # The index is derived data
//
// One document per ticket holds its subject, every comment body (public
// and internal, as an array so that a hit tells which comment matched),
// the requester's name, email, phone and identity values, the tags as
// words, and keyword/date fields for the field terms (status, priority,
// channel, via, group, tags, assignee, requester, created, updated).
// Index.Run follows the event log after the index's cursor, re-reads each
// touched ticket from the store and writes the documents together with
// the new cursor in one batch. Open rebuilds the index from the store when
// it is missing, unreadable, of another FormatVersion or out of step with
// the store; Rebuild does it offline (`patchbay reindex`).
//
// # Queries
//
// Parse reads the query language (words, "phrases", prefix*, field terms
// with :, <, >, <=, >=, and '-' to exclude); Index.Search runs it, ranks by
// relevance (or updated_at/created_at), pages with search_after values,
// and reports where each ticket matched (comment id and a snippet cut from
// the store's text with the match's byte offsets). Equality filters on
// status, channel, requester and assignee are answered from the store's
// own ticket indexes, and other field-only queries look at windows of the
// newest ticket ids, so that their cost does not grow with the number of
// matching tickets.
package search
