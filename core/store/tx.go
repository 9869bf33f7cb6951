package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// kvPair is one key/value read by a scan.
type kvPair struct {
	Key, Value []byte
}

// reader is the read side shared by ReadTx (a Badger read transaction) and
// Tx (the batch transaction seen through the caller's overlay).
type reader interface {
	get(k []byte) ([]byte, bool, error)
	// scan returns up to limit pairs whose key has prefix, from the first
	// key >= from (from nil: the prefix), in ascending key order.
	scan(prefix, from []byte, limit int, keysOnly bool) ([]kvPair, error)
	// scanKeysBefore returns up to limit keys with prefix that sort before
	// `before`, in descending order.
	scanKeysBefore(prefix, before []byte, limit int) ([][]byte, error)
}

type badgerReader struct{ txn *badger.Txn }

func (b badgerReader) get(k []byte) ([]byte, bool, error) {
	item, err := b.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: get: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("store: read value: %w", err)
	}
	return v, true, nil
}

func (b badgerReader) scan(prefix, from []byte, limit int, keysOnly bool) ([]kvPair, error) {
	if limit <= 0 {
		return nil, nil
	}
	opts := badger.IteratorOptions{Prefix: prefix, PrefetchValues: !keysOnly, PrefetchSize: min(limit, 64)}
	it := b.txn.NewIterator(opts)
	defer it.Close()
	if from == nil || bytes.Compare(from, prefix) < 0 {
		from = prefix
	}
	var out []kvPair
	for it.Seek(from); it.ValidForPrefix(prefix) && len(out) < limit; it.Next() {
		item := it.Item()
		p := kvPair{Key: item.KeyCopy(nil)}
		if !keysOnly {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return nil, fmt.Errorf("store: read value: %w", err)
			}
			p.Value = v
		}
		out = append(out, p)
	}
	return out, nil
}

func (b badgerReader) scanKeysBefore(prefix, before []byte, limit int) ([][]byte, error) {
	if limit <= 0 {
		return nil, nil
	}
	it := b.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
	defer it.Close()
	var out [][]byte
	// In reverse, Seek finds the largest key <= the seek key; skip before
	// itself.
	for it.Seek(before); it.ValidForPrefix(prefix) && len(out) < limit; it.Next() {
		k := it.Item().KeyCopy(nil)
		if bytes.Compare(k, before) >= 0 {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

// overlay holds one Update function's writes until the function returns
// nil; a failing function's overlay is simply dropped.
type overlay struct {
	m     map[string]*ovEntry
	order []string
	bytes int
	slab  []ovEntry // entries are allocated from here, a few at a time
}

// newEntry returns a zero entry owned by the overlay.
func (o *overlay) newEntry() *ovEntry {
	if len(o.slab) == cap(o.slab) {
		o.slab = make([]ovEntry, 0, 16)
	}
	o.slab = o.slab[:len(o.slab)+1]
	return &o.slab[len(o.slab)-1]
}

type ovEntry struct {
	val       []byte
	del       bool
	expiresAt uint64
	// obj is the decoded form of val when the writer knows it (a ticket or
	// user stored by setJSON, see writerCache): immutable.
	obj any
}

func (o *overlay) put(k, v []byte, expiresAt uint64, del bool) {
	ks := string(k)
	if e, ok := o.m[ks]; ok {
		e.val, e.del, e.expiresAt, e.obj = v, del, expiresAt, nil
	} else {
		e := o.newEntry()
		e.val, e.del, e.expiresAt = v, del, expiresAt
		o.m[ks] = e
		o.order = append(o.order, ks)
	}
	o.bytes += len(k) + len(v) + 16
}

// apply writes the overlay into the Badger transaction.
func (o *overlay) apply(txn *badger.Txn) error {
	for _, k := range o.order {
		e := o.m[k]
		var err error
		if e.del {
			err = txn.Delete([]byte(k))
		} else {
			ent := badger.NewEntry([]byte(k), e.val)
			ent.ExpiresAt = e.expiresAt
			err = txn.SetEntry(ent)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// layeredReader reads through overlays (newest first) and then a Badger
// snapshot: the calling function's own writes, the writes of the functions
// before it in its commit unit, then the units sealed or being committed
// but not yet durable.
type layeredReader struct {
	base   badgerReader
	layers []*overlay
}

func (r layeredReader) get(k []byte) ([]byte, bool, error) {
	for _, ov := range r.layers {
		if e, ok := ov.m[string(k)]; ok {
			if e.del || (e.expiresAt != 0 && e.expiresAt <= nowUnix()) {
				return nil, false, nil
			}
			return e.val, true, nil
		}
	}
	return r.base.get(k)
}

func (r layeredReader) lookup(k string) (*ovEntry, bool) {
	for _, ov := range r.layers {
		if e, ok := ov.m[k]; ok {
			return e, true
		}
	}
	return nil, false
}

func (r layeredReader) scan(prefix, from []byte, limit int, keysOnly bool) ([]kvPair, error) {
	if limit <= 0 {
		return nil, nil
	}
	if from == nil || bytes.Compare(from, prefix) < 0 {
		from = prefix
	}
	mine := map[string]bool{}
	for _, ov := range r.layers {
		for k := range ov.m {
			if len(k) >= len(prefix) && k[:len(prefix)] == string(prefix) && k >= string(from) {
				mine[k] = true
			}
		}
	}
	if len(mine) == 0 {
		return r.base.scan(prefix, from, limit, keysOnly)
	}
	// Every overlay key may hide or replace one base key: read enough.
	base, err := r.base.scan(prefix, from, limit+len(mine), keysOnly)
	if err != nil {
		return nil, err
	}
	merged := make([]kvPair, 0, len(base)+len(mine))
	for _, p := range base {
		if !mine[string(p.Key)] {
			merged = append(merged, p)
		}
	}
	for k := range mine {
		if e, _ := r.lookup(k); !e.del {
			merged = append(merged, kvPair{Key: []byte(k), Value: e.val})
		}
	}
	sort.Slice(merged, func(i, j int) bool { return bytes.Compare(merged[i].Key, merged[j].Key) < 0 })
	if len(merged) > limit {
		merged = merged[:limit]
	}
	return merged, nil
}

// scanKeysBefore merges the overlays in the simple way: read every key of
// the prefix forward (inside Update this is only used on small ranges).
func (r layeredReader) scanKeysBefore(prefix, before []byte, limit int) ([][]byte, error) {
	pairs, err := r.scan(prefix, nil, 1<<31-1, true)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i := len(pairs) - 1; i >= 0 && len(out) < limit; i-- {
		if bytes.Compare(pairs[i].Key, before) < 0 {
			out = append(out, pairs[i].Key)
		}
	}
	return out, nil
}

// ReadTx is a consistent read-only view of the store (Store.View). Tx embeds
// it, so every read method is also available inside Update, where it sees
// the writes of the batch so far and of the calling function.
type ReadTx struct {
	r reader
	// tickets caches decoded tickets for this transaction (Ticket returns
	// clones; the ticket writers refresh it).
	tickets map[uint64]*ticket.Ticket
}

// Tx is one Update function's view of the store: reads see everything
// committed, the writes of the functions before it in the same batch, and its
// own writes; its writes become durable together when the batch commits, or
// are discarded alone when the function returns an error.
type Tx struct {
	ReadTx
	s   *Store
	ov  *overlay
	now time.Time
	// lastObj/lastRaw remember the last object encoded by setJSON, so the
	// event that follows embeds the same bytes without encoding twice.
	lastObj any
	lastRaw []byte
	// actor is the user recorded on this function's events (SetActor).
	actor uint64
	// versioned lists the tickets whose Version this function already
	// moved on (a comment added after that needs no second write).
	versioned []uint64
}

// SetActor names the user on whose behalf this function writes (the agent
// of an API token, the author of an inbound message): every event it
// appends from now on carries that actor_id, so the log shows who changed
// what. Without it events have no actor (the system: automations, delivery
// receipts).
func (tx *Tx) SetActor(userID uint64) { tx.actor = userID }

func newOverlay() *overlay { return &overlay{m: make(map[string]*ovEntry)} }

// newFnOverlay is the overlay of one Update function, sized for the dozen
// keys an inbound message writes.
func newFnOverlay() *overlay {
	return &overlay{m: make(map[string]*ovEntry, 16), order: make([]string, 0, 16)}
}

// newTx returns the Tx of one Update function running in unit u.
func newTx(s *Store, u *unit) *Tx {
	ov := newFnOverlay()
	layers := make([]*overlay, 0, len(u.layers)+1)
	layers = append(layers, u.merged)
	layers = append(layers, u.layers...)
	if s.cache != nil {
		s.cache.sync(u.epoch)
	}
	r := &txReader{own: ov, cache: s.cache, lower: layeredReader{base: badgerReader{u.base}, layers: layers}}
	return &Tx{ReadTx: ReadTx{r: r, tickets: map[uint64]*ticket.Ticket{}}, s: s, ov: ov, now: s.now()}
}

// mergeInto copies o's writes into dst (o is newer).
func (o *overlay) mergeInto(dst *overlay) {
	for _, k := range o.order {
		e := o.m[k]
		if d, ok := dst.m[k]; ok {
			*d = *e
		} else {
			c := dst.newEntry()
			*c = *e
			dst.m[k] = c
			dst.order = append(dst.order, k)
		}
		dst.bytes += len(k) + len(e.val) + 16
	}
}

func nowUnix() uint64 { return uint64(time.Now().Unix()) }

func (tx *Tx) set(k, v []byte) { tx.ov.put(k, v, 0, false) }
func (tx *Tx) del(k []byte)    { tx.ov.put(k, nil, 0, true) }
func (tx *Tx) setTTL(k, v []byte, expires time.Time) {
	tx.ov.put(k, v, uint64(expires.Unix()), false)
}

func (tx *Tx) setJSON(k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", k[:bytes.IndexByte(k, '/')+1], err)
	}
	tx.set(k, b)
	if tx.s != nil && tx.s.cache.enabled() {
		// The writer cache keeps the decoded record: the next function
		// reading it skips the JSON decode.
		switch o := v.(type) {
		case *ticket.Ticket:
			if c := faithfulTicket(o); c != nil {
				tx.ov.m[string(k)].obj = c
			}
		case *ticket.User:
			if c := faithfulUser(o); c != nil {
				tx.ov.m[string(k)].obj = c
			}
		}
	}
	tx.lastObj, tx.lastRaw = v, b
	return nil
}

// jsonTime is t as a JSON round trip returns it (no monotonic reading, the
// location JSON decoding picks).
func jsonTime(t time.Time) time.Time {
	b, err := t.MarshalJSON()
	if err != nil {
		return t
	}
	var out time.Time
	if out.UnmarshalJSON(b) != nil {
		return t
	}
	return out
}

// Now is the time of the transaction, from the store's clock.
func (tx *Tx) Now() time.Time { return tx.now }

// NextID issues the next number of the named sequence (1, 2, 3…). Numbers
// are never reused: the sequence is committed with the writes that use it.
func (tx *Tx) NextID(name string) (uint64, error) {
	k := key(pSeq, []byte(name))
	v, _, err := tx.r.get(k)
	if err != nil {
		return 0, err
	}
	n := getU64(v) + 1
	tx.set(k, u64(n))
	return n, nil
}

// LastID returns the last number issued by the named sequence (0: none).
func (r *ReadTx) LastID(name string) (uint64, error) {
	v, _, err := r.r.get(key(pSeq, []byte(name)))
	return getU64(v), err
}

func (r *ReadTx) getJSON(k []byte, v any) (bool, error) {
	b, ok, err := r.r.get(k)
	if err != nil || !ok {
		return ok, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("store: decode %q: %w", k[:bytes.IndexByte(k, '/')+1], err)
	}
	return true, nil
}
