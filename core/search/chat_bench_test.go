package search

import (
	"fmt"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// BenchmarkFollowChat measures the follower on a chat-like load: 200
// conversations of 30 short messages each get one more message each per
// operation, indexed in one batch (the inbound path's indexing cost per
// message is ns/op ÷ 200).
func BenchmarkFollowChat(b *testing.B) {
	e := newEnv(b)
	u := e.user("Ann", "ann@example.test", ticket.RoleEndUser)
	var tickets []uint64
	for i := range 200 {
		id := e.tkt(fmt.Sprintf("conversation %d", i), "Hello, my order has not arrived yet.", u)
		e.update(func(tx *store.Tx) error {
			for range 29 {
				if err := tx.CreateComment(&ticket.Comment{TicketID: id, AuthorID: u, Body: "Hello, my order has not arrived yet.", Public: true, Via: "whatsapp"}, store.CommentOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		tickets = append(tickets, id)
	}
	e.catchUp()
	for b.Loop() {
		b.StopTimer()
		e.update(func(tx *store.Tx) error {
			for _, id := range tickets {
				if err := tx.CreateComment(&ticket.Comment{TicketID: id, AuthorID: u, Body: "Any news about my order?", Public: true, Via: "whatsapp"}, store.CommentOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		b.StartTimer()
		e.catchUp()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(tickets)), "µs/message")
}
