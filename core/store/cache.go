package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// writerCache is the group-commit writer's view of its hot keys: for each
// cached key, the value every Update function would read if it did not
// write the key itself (the newest successful write of the writer, pending
// or committed, else what Badger holds), with the decoded object for
// tickets and users. It takes the Badger point reads and the JSON decoding
// of the records every inbound message touches (identity → user, user,
// conversation → ticket, ticket, sequences, the rules engine's records)
// out of the serial writer.
//
// It is owned by the writer goroutine (no locking) and kept exact:
//   - a read that misses fills the entry from the layers below the calling
//     function's own writes, which is the writer's view of that key;
//   - a function that succeeds writes its keys into the cache (runOne), a
//     failed function's writes never reach it;
//   - a failed commit fails every unit built on it (Store.epoch): the cache
//     is emptied when the writer starts a unit of a newer epoch, and when a
//     batch has to be rebuilt and fails;
//   - only keys without a TTL and of the prefixes below are kept; every
//     other write goes to Badger only through the writer too, so nothing
//     else can make an entry stale.
//
// When it holds more than its byte budget it starts again empty.
type writerCache struct {
	epoch  uint64
	m      map[string]*cacheEntry
	bytes  int
	budget int
}

// cacheEntry is one cached key: its value (present false: absent) and, for
// tickets and users, the decoded object (immutable: readers get clones).
type cacheEntry struct {
	val     []byte
	present bool
	obj     any
}

// cachedPrefixes are the keys worth caching: read by nearly every inbound
// message or rules engine update, and small.
var cachedPrefixes = []string{pTicket, pUser, pIdentity, pConv, pConvIn, pSeq, pRules}

func cacheable(k string) bool {
	for _, p := range cachedPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func newWriterCache(budget int) *writerCache {
	return &writerCache{m: make(map[string]*cacheEntry), budget: budget}
}

func (c *writerCache) enabled() bool { return c != nil && c.budget > 0 }

// clear empties the cache.
func (c *writerCache) clear() {
	if len(c.m) > 0 {
		c.m = make(map[string]*cacheEntry)
	}
	c.bytes = 0
}

// sync empties the cache when the writer works in a newer epoch (a commit
// failed since the cache was filled).
func (c *writerCache) sync(epoch uint64) {
	if c.epoch != epoch {
		c.clear()
		c.epoch = epoch
	}
}

func entrySize(k string, val []byte, obj any) int {
	n := len(k) + len(val) + 64
	if obj != nil {
		n += 2 * len(val) // roughly, the decoded object
	}
	return n
}

// put records the writer's current value of k.
func (c *writerCache) put(k string, val []byte, present bool, obj any) {
	if old, ok := c.m[k]; ok {
		c.bytes += entrySize(k, val, obj) - entrySize(k, old.val, old.obj)
		old.val, old.present, old.obj = val, present, obj
	} else {
		c.bytes += entrySize(k, val, obj)
		c.m[k] = &cacheEntry{val: val, present: present, obj: obj}
	}
	if c.bytes > c.budget {
		c.clear()
	}
}

// attach records obj as the decoded form of k's cached value val (when the
// entry still holds exactly that value).
func (c *writerCache) attach(k string, val []byte, obj any) {
	e, ok := c.m[k]
	if !ok || e.obj != nil || !e.present || len(e.val) != len(val) || len(val) == 0 || &e.val[0] != &val[0] {
		return
	}
	c.bytes += entrySize(k, val, obj) - entrySize(k, val, nil)
	e.obj = obj
	if c.bytes > c.budget {
		c.clear()
	}
}

// absorb writes a succeeded function's writes into the cache.
func (c *writerCache) absorb(ov *overlay) {
	for _, k := range ov.order {
		e := ov.m[k]
		if !cacheable(k) || e.expiresAt != 0 {
			if old, ok := c.m[k]; ok {
				c.bytes -= entrySize(k, old.val, old.obj)
				delete(c.m, k)
			}
			continue
		}
		c.put(k, e.val, !e.del, e.obj)
	}
}

// txReader is what an Update function reads through: its own writes, then
// the writer cache, then the layers below (the functions before it in its
// commit unit, the pending units, the durable snapshot), filling the cache.
type txReader struct {
	own   *overlay
	cache *writerCache
	lower layeredReader // without own
	// absent remembers keys of other prefixes found missing below, for
	// this function only (the dedupe check reads its key twice).
	absent map[string]struct{}
}

// getObj returns k's value and, when known, its decoded object.
func (r *txReader) getObj(k []byte) ([]byte, any, bool, error) {
	ks := string(k)
	if e, ok := r.own.m[ks]; ok {
		if e.del || e.expiresAt != 0 && e.expiresAt <= nowUnix() {
			return nil, nil, false, nil
		}
		return e.val, e.obj, true, nil
	}
	if !r.cache.enabled() || !cacheable(ks) {
		if _, ok := r.absent[ks]; ok {
			return nil, nil, false, nil
		}
		v, ok, err := r.lower.get(k)
		if err == nil && !ok {
			if r.absent == nil {
				r.absent = make(map[string]struct{})
			}
			r.absent[ks] = struct{}{}
		}
		return v, nil, ok, err
	}
	if e, ok := r.cache.m[ks]; ok {
		return e.val, e.obj, e.present, nil
	}
	v, ok, err := r.lower.get(k)
	if err != nil {
		return nil, nil, false, err
	}
	r.cache.put(ks, v, ok, nil)
	return v, nil, ok, nil
}

// attach offers the decoded object of a value read from the cache or
// below (not from the function's own writes).
func (r *txReader) attach(k []byte, val []byte, obj any) {
	ks := string(k)
	if _, own := r.own.m[ks]; own || !r.cache.enabled() {
		return
	}
	r.cache.attach(ks, val, obj)
}

func (r *txReader) get(k []byte) ([]byte, bool, error) {
	v, _, ok, err := r.getObj(k)
	return v, ok, err
}

func (r *txReader) scan(prefix, from []byte, limit int, keysOnly bool) ([]kvPair, error) {
	return r.layered().scan(prefix, from, limit, keysOnly)
}

func (r *txReader) scanKeysBefore(prefix, before []byte, limit int) ([][]byte, error) {
	return r.layered().scanKeysBefore(prefix, before, limit)
}

// layered is the full layered reader (own writes first): the cache holds
// nothing the layers do not, so scans need not consult it.
func (r *txReader) layered() layeredReader {
	layers := make([]*overlay, 0, len(r.lower.layers)+1)
	layers = append(layers, r.own)
	layers = append(layers, r.lower.layers...)
	return layeredReader{base: r.lower.base, layers: layers}
}

// getRecord reads the JSON record under k into a new *T, normalised by fix.
// Inside Update (an objReader) the writer cache may already hold the decoded
// record: it is returned with shared set, and the caller must clone it
// before handing it out; a record decoded here is attached to the cache (as
// a clone). ok is false when there is no record.
func getRecord[T any](r *ReadTx, k []byte, fix func(*T), clone func(*T) *T) (rec *T, shared, ok bool, err error) {
	or, isObj := r.r.(objReader)
	if !isObj {
		var v T
		if ok, err := r.getJSON(k, &v); err != nil || !ok {
			return nil, false, ok, err
		}
		fix(&v)
		return &v, false, true, nil
	}
	raw, obj, ok, err := or.getObj(k)
	if err != nil || !ok {
		return nil, false, ok, err
	}
	if c, isT := obj.(*T); isT {
		return c, true, true, nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, false, fmt.Errorf("store: decode %q: %w", k[:bytes.IndexByte(k, '/')+1], err)
	}
	fix(&v)
	or.attach(k, raw, clone(&v))
	return &v, false, true, nil
}

// objReader is a reader that can hand out cached decoded objects.
type objReader interface {
	getObj(k []byte) ([]byte, any, bool, error)
	attach(k []byte, val []byte, obj any)
}

// faithfulTicket returns a copy of t equal to what decoding its JSON would
// give (times as JSON round-trips them), or nil when no such copy can be
// made cheaply (a string that is not valid UTF-8: JSON would rewrite it).
func faithfulTicket(t *ticket.Ticket) *ticket.Ticket {
	if !validUTF8(t.Subject, string(t.Status), string(t.Priority), t.Channel, t.Via, t.Brand, t.Group, t.ConversationKey) {
		return nil
	}
	for _, tag := range t.Tags {
		if !utf8.ValidString(tag) {
			return nil
		}
	}
	c := cloneTicket(t)
	c.CreatedAt, c.UpdatedAt = jsonTime(c.CreatedAt), jsonTime(c.UpdatedAt)
	c.SolvedAt, c.LastInboundAt = jsonTime(c.SolvedAt), jsonTime(c.LastInboundAt)
	return c
}

// faithfulUser is faithfulTicket for users.
func faithfulUser(u *ticket.User) *ticket.User {
	if !validUTF8(u.Name, u.Email, u.Phone, string(u.Role)) {
		return nil
	}
	for _, i := range u.Identities {
		if !validUTF8(i.Type, i.Value) {
			return nil
		}
	}
	c := cloneUser(u)
	c.CreatedAt, c.UpdatedAt = jsonTime(c.CreatedAt), jsonTime(c.UpdatedAt)
	return c
}

func cloneUser(u *ticket.User) *ticket.User {
	c := *u
	c.Identities = append(make([]ticket.Identity, 0, len(u.Identities)), u.Identities...)
	return &c
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
