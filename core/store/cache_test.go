package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

var errInjected = errors.New("injected")

// TestWriterCacheNoLostUpdates runs concurrent read-modify-write updates of
// a few tickets and users (each update reads the record, increments a
// counter in it and writes it back), with functions that fail after writing
// and, in some cases, commits that fail. A stale writer cache would hand an
// update an old record: an increment would be lost or a failed one counted.
// Every ticket's counter must equal its successful increments.
func TestWriterCacheNoLostUpdates(t *testing.T) {
	cases := []struct {
		name        string
		cacheBytes  int
		failCommits bool
	}{
		{"cache", 0, false},
		{"cache, failing commits", 0, true},
		{"tiny cache (cleared all the time), failing commits", 2 << 10, true},
		{"no cache", -1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Options{Dir: t.TempDir(), WriterCacheBytes: tc.cacheBytes})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			const records = 3
			var tickets, users [records]uint64
			mustUpdate(t, s, func(tx *Tx) error {
				for i := range records {
					u := &ticket.User{Name: "0", Identities: []ticket.Identity{{Type: "whatsapp", Value: fmt.Sprint(1000 + i)}}}
					if err := tx.CreateUser(u); err != nil {
						return err
					}
					tk := &ticket.Ticket{Subject: "0", Status: ticket.StatusOpen, Channel: "wa", ConversationKey: fmt.Sprint(i), RequesterID: u.ID}
					if err := tx.CreateTicket(tk); err != nil {
						return err
					}
					tickets[i], users[i] = tk.ID, u.ID
				}
				return nil
			})
			if tc.failCommits {
				var commits atomic.Int32
				s.commitHook = func(int) error {
					if commits.Add(1)%5 == 0 {
						return errInjected
					}
					return nil
				}
			}
			var ok [records]atomic.Int64
			var wg sync.WaitGroup
			for g := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range 60 {
						i := (g + n) % records
						failFn := n%7 == 3
						err := s.Update(ctx, func(tx *Tx) error {
							// Through the conversation and identity
							// indexes, as inbound does.
							tk, err := tx.TicketByConversation("wa", fmt.Sprint(i))
							if err != nil {
								return err
							}
							c, err := strconv.Atoi(tk.Subject)
							if err != nil {
								return err
							}
							tk.Subject = strconv.Itoa(c + 1)
							tk.Tags = append(tk.Tags, "t"+strconv.Itoa(c%3))
							if err := tx.UpdateTicket(tk); err != nil {
								return err
							}
							u, err := tx.UserByIdentity("whatsapp", fmt.Sprint(1000+i))
							if err != nil {
								return err
							}
							if u.Name != strconv.Itoa(c) {
								return fmt.Errorf("user counter %s, ticket counter %d: out of step", u.Name, c)
							}
							u.Name = tk.Subject
							if err := tx.UpdateUser(u); err != nil {
								return err
							}
							if failFn {
								return errInjected
							}
							return nil
						})
						switch {
						case err == nil:
							ok[i].Add(1)
						case errors.Is(err, errInjected):
						default:
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			s.commitHook = nil
			mustUpdate(t, s, func(tx *Tx) error {
				for i := range records {
					tk, err := tx.Ticket(tickets[i])
					if err != nil {
						return err
					}
					u, err := tx.User(users[i])
					if err != nil {
						return err
					}
					if want := strconv.FormatInt(ok[i].Load(), 10); tk.Subject != want || u.Name != want {
						t.Errorf("record %d: ticket counter %s, user counter %s, %s successful increments", i, tk.Subject, u.Name, want)
					}
				}
				return nil
			})
			// The same through a snapshot read (no cache).
			if err := s.View(func(r *ReadTx) error {
				for i := range records {
					tk, err := r.Ticket(tickets[i])
					if err != nil {
						return err
					}
					if want := strconv.FormatInt(ok[i].Load(), 10); tk.Subject != want {
						t.Errorf("record %d: committed counter %s, want %s", i, tk.Subject, want)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriterCacheForgetsDiscardedWrites pins the two ways a write can be
// run and then never committed: its function fails, or its commit fails.
// The next update must read the committed record, not the cached write.
func TestWriterCacheForgetsDiscardedWrites(t *testing.T) {
	cases := []struct {
		name    string
		discard func(s *Store, id uint64) error
	}{
		{"function fails after writing", func(s *Store, id uint64) error {
			return s.Update(context.Background(), func(tx *Tx) error {
				tk, err := tx.Ticket(id)
				if err != nil {
					return err
				}
				tk.Subject = "discarded"
				if err := tx.UpdateTicket(tk); err != nil {
					return err
				}
				if _, err := tx.Ticket(id); err != nil { // reads its own write
					return err
				}
				return errInjected
			})
		}},
		{"commit fails", func(s *Store, id uint64) error {
			s.commitHook = func(int) error { return errInjected }
			defer func() { s.commitHook = nil }()
			return s.Update(context.Background(), func(tx *Tx) error {
				tk, err := tx.Ticket(id)
				if err != nil {
					return err
				}
				tk.Subject = "discarded"
				return tx.UpdateTicket(tk)
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			var id uint64
			mustUpdate(t, s, func(tx *Tx) error {
				tk := &ticket.Ticket{Subject: "kept", Status: ticket.StatusNew, Channel: "wa", ConversationKey: "c"}
				err := tx.CreateTicket(tk)
				id = tk.ID
				return err
			})
			// Read once so the ticket is cached before the discarded write.
			mustUpdate(t, s, func(tx *Tx) error { _, err := tx.Ticket(id); return err })
			if err := tc.discard(s, id); !errors.Is(err, errInjected) {
				t.Fatalf("discarded write: %v, want the injected error", err)
			}
			mustUpdate(t, s, func(tx *Tx) error {
				tk, err := tx.TicketByConversation("wa", "c")
				if err != nil {
					return err
				}
				if tk.Subject != "kept" {
					t.Errorf("update read subject %q after a discarded write, want kept", tk.Subject)
				}
				return nil
			})
		})
	}
}

// TestWriterCacheHandsOutCopies checks that a caller changing the record it
// read (without writing it) changes nothing for the next update.
func TestWriterCacheHandsOutCopies(t *testing.T) {
	s := openTest(t)
	var tid, uid uint64
	mustUpdate(t, s, func(tx *Tx) error {
		u := &ticket.User{Name: "Ann", Identities: []ticket.Identity{{Type: "email", Value: "ann@example.com"}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		tk := &ticket.Ticket{Subject: "s", Status: ticket.StatusNew, Tags: []string{"a"}, RequesterID: u.ID}
		err := tx.CreateTicket(tk)
		tid, uid = tk.ID, u.ID
		return err
	})
	for range 2 { // the first round reads the records written, the second the ones decoded
		mustUpdate(t, s, func(tx *Tx) error {
			tk, err := tx.Ticket(tid)
			if err != nil {
				return err
			}
			tk.Subject, tk.Tags[0] = "changed", "changed"
			u, err := tx.User(uid)
			if err != nil {
				return err
			}
			u.Name, u.Identities[0].Value = "changed", "changed"
			return nil
		})
		mustUpdate(t, s, func(tx *Tx) error {
			tk, err := tx.Ticket(tid)
			if err != nil {
				return err
			}
			u, err := tx.User(uid)
			if err != nil {
				return err
			}
			if tk.Subject != "s" || tk.Tags[0] != "a" || u.Name != "Ann" || u.Identities[0].Value != "ann@example.com" {
				t.Errorf("a caller's change reached the cache: ticket %q %v, user %q %v", tk.Subject, tk.Tags, u.Name, u.Identities)
			}
			return nil
		})
	}
}

// TestFaithfulCopiesMatchJSON checks that the decoded objects the writer
// cache keeps for written records are what decoding their JSON gives, so a
// cached read and a read from Badger return the same thing.
func TestFaithfulCopiesMatchJSON(t *testing.T) {
	east := time.FixedZone("east", 5*3600+1800)
	now := time.Now() // with a monotonic reading, in time.Local
	tickets := []struct {
		name     string
		t        ticket.Ticket
		copiable bool
	}{
		{"zero times, nil tags", ticket.Ticket{ID: 1, Subject: "s", Status: ticket.StatusNew}, true},
		{"local time with monotonic reading", ticket.Ticket{ID: 2, Status: ticket.StatusOpen, CreatedAt: now, UpdatedAt: now, LastInboundAt: now.Add(-time.Hour)}, true},
		{"other zone, nanoseconds", ticket.Ticket{ID: 3, Status: ticket.StatusSolved, Tags: []string{"a", "<b>&"}, CreatedAt: time.Date(2026, 3, 1, 9, 0, 0, 123456789, east), SolvedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}, true},
		{"every field", ticket.Ticket{ID: 4, Subject: "Ünïcode ✓", Status: ticket.StatusPending, Priority: ticket.Priority("high"), Channel: "wa", Via: "whatsapp", Brand: "b", RequesterID: 5, AssigneeID: 6, Group: "g", Tags: []string{}, FollowUpOf: 2, ConversationKey: "k", CreatedAt: now.UTC()}, true},
		{"invalid UTF-8 subject", ticket.Ticket{ID: 5, Subject: "bad \xff", Status: ticket.StatusNew}, false},
		{"invalid UTF-8 tag", ticket.Ticket{ID: 6, Status: ticket.StatusNew, Tags: []string{"\xfe"}}, false},
	}
	for _, tc := range tickets {
		t.Run("ticket "+tc.name, func(t *testing.T) {
			got := faithfulTicket(&tc.t)
			if !tc.copiable {
				if got != nil {
					t.Fatal("copied a ticket JSON would rewrite")
				}
				return
			}
			b, err := json.Marshal(&tc.t)
			if err != nil {
				t.Fatal(err)
			}
			var want ticket.Ticket
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if want.Tags == nil {
				want.Tags = []string{} // as ReadTx.Ticket normalises
			}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("faithful copy\n%#v\nJSON round trip\n%#v", got, &want)
			}
		})
	}
	users := []struct {
		name     string
		u        ticket.User
		copiable bool
	}{
		{"identities", ticket.User{ID: 1, Name: "Ann", Email: "a@example.com", Role: ticket.RoleEndUser, Identities: []ticket.Identity{{Type: "email", Value: "a@example.com"}}, CreatedAt: now, UpdatedAt: now.In(east)}, true},
		{"no identities", ticket.User{ID: 2, Name: "Bob", Role: ticket.RoleAgent, MergedInto: 1}, true},
		{"invalid UTF-8 name", ticket.User{ID: 3, Name: "\xff"}, false},
		{"invalid UTF-8 identity", ticket.User{ID: 4, Identities: []ticket.Identity{{Type: "x", Value: "\xff"}}}, false},
	}
	for _, tc := range users {
		t.Run("user "+tc.name, func(t *testing.T) {
			got := faithfulUser(&tc.u)
			if !tc.copiable {
				if got != nil {
					t.Fatal("copied a user JSON would rewrite")
				}
				return
			}
			b, err := json.Marshal(&tc.u)
			if err != nil {
				t.Fatal(err)
			}
			var want ticket.User
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if want.Identities == nil {
				want.Identities = []ticket.Identity{} // as ReadTx.User normalises
			}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("faithful copy\n%#v\nJSON round trip\n%#v", got, &want)
			}
		})
	}
}

// TestCachedReadsMatchSnapshotReads writes records with awkward values
// through Update, then compares what an update reads (from the writer
// cache) with what a snapshot read decodes from Badger.
func TestCachedReadsMatchSnapshotReads(t *testing.T) {
	s := openTest(t)
	var tids, uids []uint64
	mustUpdate(t, s, func(tx *Tx) error {
		for i, subj := range []string{"plain", "bad \xff utf-8", strings.Repeat("long ", 200)} {
			u := &ticket.User{Name: subj, Identities: []ticket.Identity{{Type: "slack", Value: fmt.Sprintf("T1:U%d", i)}}}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			tk := &ticket.Ticket{Subject: subj, Status: ticket.StatusSolved, Channel: "wa", ConversationKey: fmt.Sprint(i), RequesterID: u.ID, LastInboundAt: time.Now()}
			if err := tx.CreateTicket(tk); err != nil {
				return err
			}
			tids, uids = append(tids, tk.ID), append(uids, u.ID)
		}
		return nil
	})
	var cached []any
	mustUpdate(t, s, func(tx *Tx) error {
		for i := range tids {
			tk, err := tx.Ticket(tids[i])
			if err != nil {
				return err
			}
			u, err := tx.User(uids[i])
			if err != nil {
				return err
			}
			cached = append(cached, tk, u)
		}
		return nil
	})
	var stored []any
	if err := s.View(func(r *ReadTx) error {
		for i := range tids {
			tk, err := r.Ticket(tids[i])
			if err != nil {
				return err
			}
			u, err := r.User(uids[i])
			if err != nil {
				return err
			}
			stored = append(stored, tk, u)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cached, stored) {
		t.Fatalf("update read\n%#v\nsnapshot read\n%#v", cached, stored)
	}
}

// TestRuleObjectDecodedOncePerChange checks RuleObject inside updates: the
// decoded object is reused while the value is unchanged, and a changed,
// deleted or discarded value is never answered with a stale object.
func TestRuleObjectDecodedOncePerChange(t *testing.T) {
	s := openTest(t)
	decodes := 0
	decode := func(b []byte) (any, error) {
		decodes++
		return string(b), nil
	}
	put := func(v string, fail bool) {
		t.Helper()
		err := s.Update(context.Background(), func(tx *Tx) error {
			var err error
			if v == "" {
				err = tx.DeleteRuleValue("sp", "k")
			} else {
				err = tx.PutRuleValue("sp", "k", []byte(v))
			}
			if err == nil && fail {
				err = errInjected
			}
			return err
		})
		if fail != errors.Is(err, errInjected) || !fail && err != nil {
			t.Fatalf("put %q: %v", v, err)
		}
	}
	steps := []struct {
		name        string
		write       func()
		want        string // "" : absent
		wantDecodes int
	}{
		{"first read decodes", func() { put("v1", false) }, "v1", 1},
		{"unchanged value: no decode", func() {}, "v1", 1},
		{"changed value", func() { put("v2", false) }, "v2", 2},
		{"discarded change", func() { put("v3", true) }, "v2", 2},
		{"deleted", func() { put("", false) }, "", 2},
		{"written again", func() { put("v4", false) }, "v4", 3},
	}
	for _, st := range steps {
		st.write()
		mustUpdate(t, s, func(tx *Tx) error {
			obj, ok, err := tx.RuleObject("sp", "k", decode)
			if err != nil {
				return err
			}
			got := ""
			if ok {
				got = obj.(string)
			}
			if got != st.want || decodes != st.wantDecodes {
				t.Errorf("%s: read %q after %d decodes, want %q after %d", st.name, got, decodes, st.want, st.wantDecodes)
			}
			return nil
		})
	}
}

// TestMessageLookupErrors checks the not-found answers of the message
// lookups: ErrNotFound, naming what was looked up.
func TestMessageLookupErrors(t *testing.T) {
	s := openTest(t)
	cases := []struct {
		name   string
		lookup func(r *ReadTx) error
		want   string
	}{
		{"inbound", func(r *ReadTx) error { _, err := r.CommentByExternalID("wa", "wamid.1"); return err }, "message wa/wamid.1: not found"},
		{"outbound", func(r *ReadTx) error { _, err := r.CommentByOutboundID("wa", "wamid.2"); return err }, "sent message wa/wamid.2: not found"},
		{"either", func(r *ReadTx) error { _, err := r.TicketByMessageID("wa", "wamid.3"); return err }, "sent message wa/wamid.3: not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.View(tc.lookup)
			if !errors.Is(err, ErrNotFound) || err.Error() != tc.want {
				t.Fatalf("error %v, want %q wrapping ErrNotFound", err, tc.want)
			}
		})
	}
}
