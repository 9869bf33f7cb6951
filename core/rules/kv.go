package rules

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/patchbayhq/patchbay/core/store"
)

// Store spaces (store.Tx.PutRuleValue) used by the engine.
const (
	spaceAutoReply = "autoreply" // <channel> -> AutoReply
	spaceWebhook   = "webhook"   // <id20> -> Webhook
	spaceCursor    = "cursor"    // "triggers" -> last processed event seq
	spaceSource    = "src"       // <seq20> -> source of an event written by the engine
	spaceSince     = "since"     // <ticket20> -> status -> when the ticket entered it
	spaceFired     = "fired"     // <automation20>/<ticket20> -> when it fired
	spaceReplied   = "replied"   // <ticket20> -> auto-reply sent
	spaceDelivery  = "whd"       // <webhook20>/<seq20> -> Delivery
	spaceDue       = "whq"       // <due ns20>/<webhook20>/<seq20> -> ""
	spaceMeta      = "meta"      // engine bookkeeping
	seqRule        = "rule"      // store sequence of rule and webhook ids
	seqDelivery    = "webhook_delivery"
	cursorTriggers = "triggers"
)

func ruleSpace(k Kind) string { return "def:" + string(k) }

func id20(id uint64) string { return fmt.Sprintf("%020d", id) }

func parseID20(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func putJSON(tx *store.Tx, space, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("rules: encode %s: %w", space, err)
	}
	return tx.PutRuleValue(space, key, b)
}

func getJSON(r *store.ReadTx, space, key string, v any) (bool, error) {
	b, ok, err := r.RuleValue(space, key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("rules: decode %s/%s: %w", space, key, err)
	}
	return true, nil
}

// scanAll returns every pair of space under prefix.
func scanAll(r *store.ReadTx, space, prefix string) ([]store.RuleKV, error) {
	var out []store.RuleKV
	from := ""
	for {
		page, err := r.RuleValues(space, prefix, from, 512)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 512 {
			return out, nil
		}
		from = page[len(page)-1].Key + "\x00"
	}
}

func getU64(r *store.ReadTx, space, key string) (uint64, error) {
	b, ok, err := r.RuleValue(space, key)
	if err != nil || !ok {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

func putU64(tx *store.Tx, space, key string, v uint64) error {
	return tx.PutRuleValue(space, key, []byte(strconv.FormatUint(v, 10)))
}

// statusSince reads when a ticket entered each status.
func statusSince(r *store.ReadTx, ticketID uint64) (*sinceRecord, error) {
	rec := &sinceRecord{}
	_, err := getJSON(r, spaceSince, id20(ticketID), rec)
	return rec, err
}
