package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// ticketIndexFormat is the version of the ticket index set indexKeys
// writes. Version 1 added the tag, priority, group, via and update-time
// indexes; a store written before them gets them at Open.
const ticketIndexFormat = 1

// ticketIndexMeta names the metadata key holding the ticket index format.
const ticketIndexMeta = "ticket_index"

// upgradeIndexes brings a store written by an older version up to
// ticketIndexFormat: it writes every index entry each stored ticket calls
// for (entries already present are rewritten unchanged), a batch of
// tickets per commit, then records the format. It is idempotent: a crash
// half-way redoes it at the next Open.
func (s *Store) upgradeIndexes(ctx context.Context) error {
	var have uint64
	if err := s.View(func(r *ReadTx) error {
		v, ok, err := r.r.get(metaKey(ticketIndexMeta))
		if ok {
			have = getU64(v)
		}
		return err
	}); err != nil {
		return err
	}
	if have >= ticketIndexFormat {
		return nil
	}
	// A store without tickets has nothing to upgrade (its first ticket
	// records the format).
	empty := true
	if err := s.View(func(r *ReadTx) error {
		pairs, err := r.r.scan([]byte(pTicket), nil, 1, true)
		empty = len(pairs) == 0
		return err
	}); err != nil || empty {
		return err
	}
	const batch = 512
	var from []byte
	for done := false; !done; {
		err := s.Update(ctx, func(tx *Tx) error {
			pairs, err := tx.r.scan([]byte(pTicket), from, batch, false)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				var t ticket.Ticket
				if err := json.Unmarshal(p.Value, &t); err != nil {
					return fmt.Errorf("store: ticket key %x: %w", p.Key, err)
				}
				for _, k := range indexKeys(&t) {
					tx.set(k, nil)
				}
			}
			if len(pairs) < batch {
				done = true
				tx.set(metaKey(ticketIndexMeta), u64(ticketIndexFormat))
				return nil
			}
			from = append(append([]byte(nil), pairs[len(pairs)-1].Key...), 0)
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: upgrading ticket indexes: %w", err)
		}
	}
	if have != 0 || from != nil {
		s.log.Info("ticket indexes upgraded", "format", ticketIndexFormat)
	}
	return nil
}
