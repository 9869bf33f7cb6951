// Package store is Patchbay's persistence: one embedded Badger v4 database
// with synced writes, secondary indexes, sequences, a durable event log,
// attachments, the outbox and channel state.
//
// # Writes: one group-commit writer
//
// Every write goes through Store.Update(ctx, fn). Update queues fn for the
// single writer goroutine, which runs the functions one after the other, in
// arrival order, into the current commit unit (one Badger transaction), each
// through its own overlay: its writes are kept apart until it returns nil;
// an error or panic discards that function's writes alone. When the
// committer goroutine is idle the writer hands it the unit, and the
// committer makes ONE synced commit (SyncWrites=true) for all of it and only
// then answers every caller of the unit. A nil error from Update therefore
// means "durable". If the commit fails, every function of the unit, and of
// any unit built on top of it, gets the error.
//
// Pipelining: while the committer syncs unit N, the writer already runs the
// functions of unit N+1, reading unit N's writes as an overlay over the last
// durable snapshot (Badger runs in managed mode so that the store chooses
// read and commit timestamps; View reads at the last durable timestamp). A
// later function sees the writes of every earlier function, committed or
// not, so two deliveries to the same conversation resolve (the second
// appends to the ticket the first created) without conflicts or retries.
// A unit is sealed early when it outgrows MaxBatch, MaxBatchBytes or
// Badger's transaction limit (ErrTxnTooBig: the transaction is rebuilt from
// the functions before the one that overflowed, and that function moves to
// the next unit; a single function larger than a transaction gets
// ErrTooLarge). Store.Stats reports commits, updates and commit time.
//
// Update functions run on the writer goroutine: they must be quick, do no
// I/O besides reading through tx, and never call Update or View themselves.
//
// Writer cache (cache.go): inside Update, reads of the hot keys (tickets,
// users, identities, conversations, sequences, rules records) are answered
// from the writer's own record of them, with tickets and users already
// decoded (RuleObject does the same for rules records). It only ever holds
// the writes of functions that succeeded, is emptied when a commit fails,
// and is bounded by Options.WriterCacheBytes.
//
// Store.EventsAfter answers followers of the log (the rules engine, the
// API's event stream) from the newest committed events kept in memory
// (eventring.go), and reads Badger for older positions.
//
// Reads: Store.View(fn(*ReadTx)) runs on a consistent snapshot, concurrently
// with the writer. Tx embeds ReadTx, so every read method also works inside
// Update.
//
// # Tx methods (all also appending their event, see below)
//
//	ReadTx: Ticket, TicketByConversation, TicketByMessageID, ListTickets, CountTickets,
//	        SolvedBefore, Comment, Comments, CommentIDs, CommentIDsBefore,
//	        CommentByExternalID, FirstEventSeq,
//	        CommentByOutboundID, RawPayload, User, UserByIdentity,
//	        TokenByHash, TokenByID, Tokens, Idempotency, EventsAfter, State,
//	        Attachment, OutboxEntry, DueOutbox, OutboxLen, LastID,
//	        ConversationLastInbound, RuleValue, RuleValues, RuleObject
//	Tx:     CreateTicket, UpdateTicket, CreateComment, UpdateComment,
//	        IndexOutboundID, CreateUser, UpdateUser, AddIdentity, MergeUsers,
//	        PutToken, RevokeToken, PutIdempotency, AppendEvent, SetState,
//	        DeleteState, ClaimStaged, PutOutbox, DeleteOutbox, NextID, Now,
//	        NoteConversationInbound
//	Store:  Open, Close, Update, View, Notify, EventsAfter, WriteAttachment,
//	        StageRejected, OpenAttachment, CollectStaged, TrimEvents, Backup,
//	        Restore (package function), Check, Stats
//
// CreateTicket, UpdateTicket, CreateComment, UpdateComment, CreateUser,
// UpdateUser and MergeUsers append their own events (ticket.created,
// ticket.updated, comment.created, comment.updated, user.*) in the same
// commit; call AppendEvent only for other events. UpdateTicket and
// CreateComment refuse a ticket stored as closed with ticket.ErrClosed.
// Every write of a ticket record moves its Version on: CreateTicket sets 1,
// UpdateTicket stores the stored version plus one (whatever the caller's
// copy says), CreateComment and a requester merge add one. A caller that
// checks a version (the API's If-Match) reads and compares it in the same
// Update function that writes: on the single writer nothing can come
// between. Lookups of unknown objects return an error wrapping ErrNotFound; values
// the store refuses wrap ErrInvalid; listing with a foreign cursor returns
// ErrBadCursor.
//
// # Keys
//
// Numbers are 8-byte big-endian; inv(id) = ^id so ascending order is newest
// first; string parts are separated by 0x00.
//
//	seq/<name>                     last number issued (ticket, comment, user, event, token)
//	t/<id>                         ticket JSON
//	c/<id>                         comment JSON
//	tc/<ticket><comment>           comments of a ticket, oldest first
//	raw/<comment>                  raw provider payload of an inbound comment
//	u/<id>                         user JSON
//	idn/<type>0<value>             identity -> user id
//	xa/<inv id>                    every ticket, newest first
//	xs/<status>0<inv id>           tickets by status
//	xc/<channel>0<inv id>          tickets by channel instance ("" for API tickets)
//	xr/<requester><inv id>         tickets by requester
//	xg/<assignee><inv id>          tickets by assignee (assigned only)
//	xv/<solved_at ns><id>          solved tickets by solved time (auto-close)
//	xt/<tag>0<inv id>              tickets by tag (one entry per distinct tag)
//	xp/<priority>0<inv id>         tickets by priority (only when set)
//	xq/<group>0<inv id>            tickets by group (only when set)
//	xw/<via>0<inv id>              tickets by how they arrived
//	xu/<updated_at ns><id>         tickets by update time, oldest change first (sync listing)
//	mt/<name>                      store metadata: the ticket index format (upgrade.go)
//	cv/<instance>0<conversation>   latest ticket of a channel conversation
//	cl/<instance>0<conversation>   the conversation's latest inbound time (ns; only moves forward)
//	ei/<instance>0<provider id>    dedupe: inbound message -> <ticket><comment> (permanent)
//	eo/<instance>0<provider id>    sent reply -> comment (receipts, threading)
//	ob/<comment>                   outbox entry JSON
//	od/<due ns><comment>           outbox entries by due time
//	ev/<seq>                       event JSON (the durable event log)
//	tk/<sha>  ti/<id>              API tokens by hash, token id -> hash
//	im/<scope>0<key>               idempotency records (Badger TTL)
//	st/<instance>0<key>            per-instance channel state
//	am/<id>  ac/<id>0<n>           attachment metadata, 256 KiB chunks
//	sa/<staged ns><id>             staged attachments not yet claimed (24 h GC)
//	ru/<space>0<key>               core/rules: rules, cursors, firing markers, webhook jobs
//
// # Badger options (low memory, see badgerOptions)
//
// Managed mode (the store picks timestamps; it tracks open snapshots and
// advances Badger's discard timestamp past them, so compaction still keeps
// one version per key); SyncWrites=true; NumVersionsToKeep=1; 16 MiB memtables × 3; 32 MiB block
// cache; 16 MiB index cache (table indexes are not all kept on the heap);
// 4 KiB value threshold (attachments and raw payloads live in the value log);
// 64 MiB value-log files; 2 compactors, 8 MiB base tables; conflict
// detection off (a single writer). Value-log GC runs every GCInterval (5 m),
// and so does event-log trimming: events older than EventRetention (14 days)
// are deleted from the head of the log (seqs are never reused; FirstEventSeq
// tells an SSE client resuming from an older id that it missed events).
// Badger's logs go to hclog (its Info chatter at Debug).
//
// # Disk space
//
// Badger writes through mmap and faults (SIGBUS) on a full disk, so writes
// fail with ErrInsufficientSpace while the data directory's free space is
// below MinFreeBytes plus the pending compaction's size (space.go); they
// resume by themselves when space returns.
//
// # Backup and restore
//
// Store.Backup streams Badger's backup format while the store is online.
// Restore needs a stopped server and an empty data directory.
package store
